//! The entry points of the fuzz targets in `fuzz/` (run with `cargo +nightly fuzz`), kept here
//! so that the targets are one call each and the committed corpus is replayed by an ordinary
//! unit test on the stable toolchain (below). Each takes any bytes and must return without
//! panicking; the properties they check (a YAML text read, written and read again gives the
//! same objects) panic when broken, which is what the fuzzer reports.

use serde_json::Value;

use super::{Bundle, InstallOptions, ManifestSource, generate};

/// A `manifests.tar.gz` from a server or the cache: read, and if it is a bundle, installable.
pub fn release_archive(data: &[u8]) {
    if let Ok(bundle) = super::bundle::from_archive(data, "fuzz.tar.gz", "v2.9.4") {
        install_every_way(&bundle);
    }
}

/// A multi-document YAML text (`--manifests` file, an existing gotk-components.yaml): the
/// objects read back unchanged from what the writer makes of them.
pub fn yaml_documents(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(objects) = super::parse_documents(text) else {
        return;
    };
    round_trip(&objects);
}

/// One install.yaml-like text sorted into a bundle by kind and component label, then every
/// install option applied to it.
pub fn install_manifests(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(bundle) = super::bundle::from_text(text, "fuzz.yaml", "v2.9.4") {
        install_every_way(&bundle);
    }
}

fn install_every_way(bundle: &Bundle) {
    let components: Vec<String> = bundle.components.iter().map(|(n, _)| n.clone()).collect();
    let plain = options(components.clone());
    let everything = InstallOptions {
        namespace: "other".into(),
        registry: "mirror.example:5000/flux".into(),
        image_pull_secret: Some("regcred".into()),
        network_policy: false,
        watch_all_namespaces: false,
        log_level: "debug".into(),
        cluster_domain: "example.internal".into(),
        toleration_keys: vec!["a".into(), "b".into()],
        ..options(components)
    };
    for options in [plain, everything] {
        if let Ok(manifests) = generate(bundle, &options) {
            round_trip(&manifests.objects);
        }
    }
}

fn options(components: Vec<String>) -> InstallOptions {
    InstallOptions {
        version: "v2.9.4".into(),
        namespace: super::DEFAULT_NAMESPACE.into(),
        components,
        registry: String::new(),
        image_pull_secret: None,
        registry_credentials: None,
        network_policy: true,
        watch_all_namespaces: true,
        log_level: "info".into(),
        cluster_domain: "cluster.local".into(),
        toleration_keys: vec![],
        source: ManifestSource::Local("fuzz".into()),
        github_api_url: String::new(),
    }
}

/// Written as YAML and read back, `objects` are the same objects.
fn round_trip(objects: &[Value]) {
    let Ok(text) = crate::ui::output::yaml_documents(objects) else {
        return;
    };
    let back = super::parse_documents(&text)
        .unwrap_or_else(|e| panic!("our YAML does not read back: {e}\n{text}"));
    assert_eq!(back, objects, "objects changed through YAML:\n{text}");
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Every file of the committed corpus of `target`, through its entry point.
    fn replay(target: &str, entry: fn(&[u8])) {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus")
            .join(target);
        let mut count = 0;
        for file in std::fs::read_dir(&folder).unwrap_or_else(|e| panic!("{folder:?}: {e}")) {
            let path = file.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| entry(&data));
            assert!(outcome.is_ok(), "fuzz input {} panics", path.display());
            count += 1;
        }
        assert!(count >= 3, "{folder:?} has only {count} inputs");
    }

    #[test]
    fn the_release_archive_corpus_replays_without_panics() {
        replay("release_archive", super::release_archive);
    }

    #[test]
    fn the_yaml_corpus_replays_without_panics() {
        replay("yaml_documents", super::yaml_documents);
    }

    #[test]
    fn the_install_manifests_corpus_replays_without_panics() {
        replay("install_manifests", super::install_manifests);
    }
}
