//! Install manifests against the real flux CLI and a real release layout served over HTTP.
//!
//! The release layout (tests/env/prepare.sh) is served by a local HTTP server shaped like
//! GitHub's releases (`<base>/download/<version>/<asset>`), so download, checksum verification
//! and caching run for real. Every install option is compared, object by object and field by
//! field, with what `flux install --export` of the same Flux version writes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use clap::Parser;
use kubectl_gitops::manifests::Error;
use kubectl_gitops::manifests::{
    self, Bundle, InstallFlags, InstallOptions, ManifestSource, Manifests,
};
use serde_json::Value;

use crate::support::control_plane::Assets;
use crate::support::processes::{free_port, log_tail, spawn, stop, temp_dir};
use crate::support::{run, stderr, stdout};

fn assets() -> &'static Assets {
    static ASSETS: OnceLock<Assets> = OnceLock::new();
    ASSETS.get_or_init(Assets::locate)
}

/// A static file server on loopback (Python's http.server), serving `root`.
pub(crate) struct FileServer {
    port: u16,
    child: Child,
}

impl FileServer {
    pub(crate) fn start(root: &Path) -> FileServer {
        let mut last_log = String::new();
        for _ in 0..5 {
            let port = free_port();
            let log = temp_dir("file-server-").join("server.log");
            let mut command = Command::new("python3");
            command
                .args(["-m", "http.server", "--bind", "127.0.0.1", "--directory"])
                .arg(root)
                .arg(port.to_string());
            let mut child = spawn(command, &log);
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return FileServer { port, child };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            last_log = log_tail(&log, 20);
            stop(&mut child, Duration::from_secs(1));
        }
        panic!("python3 -m http.server did not start:\n{last_log}");
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub(crate) fn stop(mut self) {
        stop(&mut self.child, Duration::from_secs(2));
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const RELEASES: &str = "fluxcd/flux2/releases";

/// A folder shaped like GitHub's releases, holding the prepared release of the pinned version
/// (checksums file under the name Flux's releases use). Returns (root, version folder).
pub(crate) fn release_root() -> (PathBuf, PathBuf) {
    let assets = assets();
    let version = &assets.flux_version;
    let root = temp_dir("flux-releases-");
    let folder = root.join(RELEASES).join("download").join(version);
    std::fs::create_dir_all(&folder).unwrap();
    let checksums = format!("flux_{}_checksums.txt", version.trim_start_matches('v'));
    for file in ["install.yaml", "manifests.tar.gz", checksums.as_str()] {
        std::fs::copy(assets.flux_release.join(file), folder.join(file)).unwrap();
    }
    (root, folder)
}

#[derive(Parser)]
struct Cli {
    #[arg(short = 'n', long, default_value = "flux-system")]
    namespace: String,
    #[command(flatten)]
    install: InstallFlags,
}

/// Options from command-line flags (parsed by our clap flags), reading from `source`.
pub(crate) fn options(args: &[&str], source: ManifestSource) -> InstallOptions {
    let cli = Cli::try_parse_from(std::iter::once("install").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    let mut options = cli.install.options(&cli.namespace).expect("valid options");
    options.source = source;
    options
}

pub(crate) fn release_source(server: &FileServer, cache: &Path) -> ManifestSource {
    ManifestSource::Release {
        base_url: format!("{}/{RELEASES}", server.url()),
        cache_dir: cache.to_path_buf(),
    }
}

async fn generate(args: &[&str], source: ManifestSource) -> Manifests {
    let options = options(args, source);
    let bundle = manifests::load_bundle(&options).await.expect("load bundle");
    manifests::generate(&bundle, &options).expect("generate")
}

/// `flux install --export <args>` of the real flux CLI: (file content, objects).
fn flux_export(args: &[&str]) -> (String, Vec<Value>) {
    let output = run(Command::new(&assets().flux_cli)
        .args(["install", "--export"])
        .args(args)
        .env("KUBECONFIG", "/dev/null"));
    assert!(
        output.status.success(),
        "flux install --export {args:?} failed: {}",
        stderr(&output)
    );
    let text = stdout(&output);
    let documents: Vec<Value> = serde_saphyr::from_multiple(&text).expect("flux writes YAML");
    (
        text,
        documents.into_iter().filter(|d| !d.is_null()).collect(),
    )
}

fn key(object: &Value) -> String {
    format!(
        "{}/{}/{}",
        object["kind"].as_str().unwrap_or_default(),
        object["metadata"]["namespace"].as_str().unwrap_or_default(),
        object["metadata"]["name"].as_str().unwrap_or_default()
    )
}

/// Every leaf where two values differ, as JSON pointers with both values.
fn differences(path: &str, ours: &Value, theirs: &Value, out: &mut Vec<String>) {
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let child = format!("{path}/{k}");
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => differences(&child, x, y, out),
                    (x, y) => out.push(format!("{child}: ours {x:?}, flux {y:?}")),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                differences(&format!("{path}/{i}"), x, y, out);
            }
        }
        (a, b) if a != b => out.push(format!("{path}: ours {a}, flux {b}")),
        _ => {}
    }
}

/// Same objects (by kind, namespace, name), same fields, same order.
fn assert_same_objects(case: &str, ours: &[Value], theirs: &[Value]) {
    let ours_by_key: BTreeMap<String, &Value> = ours.iter().map(|o| (key(o), o)).collect();
    let theirs_by_key: BTreeMap<String, &Value> = theirs.iter().map(|o| (key(o), o)).collect();
    let only_ours: Vec<&String> = ours_by_key
        .keys()
        .filter(|k| !theirs_by_key.contains_key(*k))
        .collect();
    let only_theirs: Vec<&String> = theirs_by_key
        .keys()
        .filter(|k| !ours_by_key.contains_key(*k))
        .collect();
    assert!(
        only_ours.is_empty() && only_theirs.is_empty(),
        "{case}: objects only in ours: {only_ours:?}; only in flux's: {only_theirs:?}"
    );
    let mut diffs = Vec::new();
    for (k, object) in &ours_by_key {
        differences(k, object, theirs_by_key[k], &mut diffs);
    }
    assert!(
        diffs.is_empty(),
        "{case}: {} fields differ:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    let order = |objects: &[Value]| objects.iter().map(key).collect::<Vec<_>>();
    assert_eq!(order(ours), order(theirs), "{case}: object order");
}

/// Each install option, as our flags and as the flux CLI's.
const CASES: &[(&str, &[&str], &[&str])] = &[
    ("defaults", &[], &[]),
    ("namespace", &["-n", "other"], &["--namespace", "other"]),
    (
        "all extra components",
        &[
            "--components-extra=image-reflector-controller,image-automation-controller,source-watcher",
        ],
        &[
            "--components-extra=image-reflector-controller,image-automation-controller,source-watcher",
        ],
    ),
    (
        "components",
        &["--components", "source-controller,kustomize-controller"],
        &["--components", "source-controller,kustomize-controller"],
    ),
    (
        "registry",
        &["--registry", "my.registry.example/fluxcd"],
        &["--registry", "my.registry.example/fluxcd"],
    ),
    (
        "image pull secret",
        &["--image-pull-secret", "regcred"],
        &["--image-pull-secret", "regcred"],
    ),
    (
        "no network policy",
        &["--network-policy=false"],
        &["--network-policy=false"],
    ),
    (
        "watch own namespace",
        &["--watch-all-namespaces=false"],
        &["--watch-all-namespaces=false"],
    ),
    (
        "log level",
        &["--log-level", "debug"],
        &["--log-level", "debug"],
    ),
    (
        "cluster domain",
        &["--cluster-domain", "example.internal"],
        &["--cluster-domain", "example.internal"],
    ),
    (
        "tolerations",
        &["--toleration-keys", "a,b"],
        &["--toleration-keys", "a,b"],
    ),
    (
        "everything at once",
        &[
            "-n",
            "gitops",
            "--components-extra=source-watcher,image-automation-controller",
            "--registry=mirror.example:5000/flux",
            "--image-pull-secret=regcred",
            "--network-policy=false",
            "--watch-all-namespaces=false",
            "--log-level=error",
            "--cluster-domain=example.internal",
            "--toleration-keys=a,b",
        ],
        &[
            "--namespace=gitops",
            "--components-extra=source-watcher,image-automation-controller",
            "--registry=mirror.example:5000/flux",
            "--image-pull-secret=regcred",
            "--network-policy=false",
            "--watch-all-namespaces=false",
            "--log-level=error",
            "--cluster-domain=example.internal",
            "--toleration-keys=a,b",
        ],
    ),
];

#[tokio::test]
async fn every_option_gives_the_objects_flux_install_export_gives() {
    let (root, _) = release_root();
    let server = FileServer::start(&root);
    let cache = temp_dir("manifest-cache-");
    for (case, ours, theirs) in CASES {
        let manifests = generate(ours, release_source(&server, &cache)).await;
        let (flux_text, flux_objects) = flux_export(theirs);
        assert_same_objects(case, &manifests.objects, &flux_objects);
        // Same header as flux's (the YAML below it differs only in quoting and line folding).
        let file = manifests.components_file().unwrap();
        let header = |text: &str| text.lines().take(4).collect::<Vec<_>>().join("\n");
        assert_eq!(header(&file), header(&flux_text), "{case}: header");
    }
    server.stop();
}

#[tokio::test]
async fn local_manifests_folder_and_install_yaml_take_every_option() {
    let assets = assets();
    let folder = temp_dir("flux-manifests-");
    let untar = run(Command::new("tar")
        .arg("-xzf")
        .arg(assets.flux_release.join("manifests.tar.gz"))
        .arg("-C")
        .arg(&folder));
    assert!(untar.status.success(), "{}", stderr(&untar));
    let install_yaml = assets.flux_release.join("install.yaml");
    for (case, ours, theirs) in [CASES[0], CASES[2], CASES[CASES.len() - 1]] {
        let (_, flux_objects) = flux_export(theirs);
        let from_folder = generate(ours, ManifestSource::Local(folder.clone())).await;
        assert_same_objects(
            &format!("{case} (folder)"),
            &from_folder.objects,
            &flux_objects,
        );
        let from_file = generate(ours, ManifestSource::Local(install_yaml.clone())).await;
        assert_same_objects(
            &format!("{case} (install.yaml)"),
            &from_file.objects,
            &flux_objects,
        );
    }
    let missing = folder.join("nothing-here");
    let err = manifests::load_bundle(&options(&[], ManifestSource::Local(missing.clone())))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ManifestsUnreadable { .. }), "{err}");
    assert!(err.to_string().contains("nothing-here"), "{err}");
}

#[tokio::test]
async fn a_download_is_verified_cached_and_then_used_offline() {
    let (root, _) = release_root();
    let server = FileServer::start(&root);
    let cache = temp_dir("manifest-cache-");
    let source = release_source(&server, &cache);
    let version = assets().flux_version.clone();

    let opts = options(&[], source.clone());
    let downloaded = manifests::load_bundle(&opts).await.expect("download");
    assert!(
        downloaded.origin.starts_with(&server.url()),
        "{}",
        downloaded.origin
    );
    let cached = cache.join(&version);
    assert_eq!(
        std::fs::read(cached.join("manifests.tar.gz")).unwrap(),
        std::fs::read(assets().flux_release.join("manifests.tar.gz")).unwrap()
    );
    assert!(cached.join("flux_2.9.4_checksums.txt").is_file());
    server.stop();

    // No server any more: the verified copy in the cache is enough.
    let offline: Bundle = manifests::load_bundle(&opts)
        .await
        .expect("offline from cache");
    assert!(
        offline.origin.starts_with(&cache.display().to_string()),
        "{}",
        offline.origin
    );
    assert_eq!(offline.components, downloaded.components);
    assert_eq!(offline.rbac, downloaded.rbac);

    // Without a cache there is nothing to fall back on: a clear download error.
    let empty_cache = temp_dir("manifest-cache-");
    let mut no_cache = opts.clone();
    if let ManifestSource::Release { cache_dir, .. } = &mut no_cache.source {
        *cache_dir = empty_cache;
    }
    let err = manifests::load_bundle(&no_cache).await.unwrap_err();
    assert!(matches!(err, Error::ManifestDownload { .. }), "{err}");
    assert!(
        err.to_string().contains("flux_2.9.4_checksums.txt"),
        "{err}"
    );

    // A corrupted cache entry is not trusted: it is fetched again.
    let server = FileServer::start(&root);
    let mut refetch = opts.clone();
    refetch.source = release_source(&server, &cache);
    std::fs::write(cached.join("manifests.tar.gz"), b"corrupt").unwrap();
    let again = manifests::load_bundle(&refetch).await.expect("refetched");
    assert!(again.origin.starts_with(&server.url()), "{}", again.origin);
    server.stop();
}

#[tokio::test]
async fn a_tampered_archive_is_refused_and_nothing_is_cached() {
    let (root, folder) = release_root();
    let archive = folder.join("manifests.tar.gz");
    let mut bytes = std::fs::read(&archive).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&archive, &bytes).unwrap();
    let server = FileServer::start(&root);
    let cache = temp_dir("manifest-cache-");
    let err = manifests::load_bundle(&options(&[], release_source(&server, &cache)))
        .await
        .unwrap_err();
    let text = err.to_string();
    let Error::ManifestChecksumMismatch {
        expected, actual, ..
    } = &err
    else {
        panic!("expected a checksum mismatch, got: {text}");
    };
    let listed = std::fs::read_to_string(folder.join("flux_2.9.4_checksums.txt")).unwrap();
    assert!(
        listed.contains(&format!("{expected}  manifests.tar.gz")),
        "{listed}"
    );
    assert_ne!(expected, actual);
    for part in [
        expected.as_str(),
        actual.as_str(),
        "manifests.tar.gz",
        "tampered",
    ] {
        assert!(text.contains(part), "message lacks {part}: {text}");
    }
    assert!(
        !cache.join(&assets().flux_version).exists(),
        "nothing cached after a refused download"
    );
    server.stop();
}

#[tokio::test]
async fn an_archive_missing_from_the_checksums_is_refused() {
    let (root, folder) = release_root();
    let checksums = folder.join("flux_2.9.4_checksums.txt");
    let kept: String = std::fs::read_to_string(&checksums)
        .unwrap()
        .lines()
        .filter(|l| !l.ends_with("manifests.tar.gz"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&checksums, kept).unwrap();
    let server = FileServer::start(&root);
    let cache = temp_dir("manifest-cache-");
    let err = manifests::load_bundle(&options(&[], release_source(&server, &cache)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::ManifestChecksumMissing { .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("manifests.tar.gz") && text.contains("flux_2.9.4_checksums.txt"),
        "{text}"
    );
    assert!(!cache.join(&assets().flux_version).exists());
    server.stop();
}

#[tokio::test]
async fn latest_is_resolved_through_the_github_releases_api() {
    let (root, _) = release_root();
    let api = root.join("api/repos/fluxcd/flux2/releases");
    std::fs::create_dir_all(&api).unwrap();
    std::fs::write(
        api.join("latest"),
        format!(
            r#"{{"tag_name": "{}", "name": "x"}}"#,
            assets().flux_version
        ),
    )
    .unwrap();
    let server = FileServer::start(&root);
    let api_url = format!("{}/api", server.url());
    let cache = temp_dir("manifest-cache-");

    let resolved = manifests::resolve_version("latest", &api_url)
        .await
        .unwrap();
    assert_eq!(resolved, assets().flux_version);
    let mut opts = options(&["--version", "latest"], release_source(&server, &cache));
    opts.github_api_url = api_url.clone();
    let bundle = manifests::load_bundle(&opts).await.expect("latest bundle");
    assert_eq!(bundle.version, assets().flux_version);
    let generated = manifests::generate(&bundle, &opts).unwrap();
    assert_eq!(
        generated.objects[0]["metadata"]["labels"]["app.kubernetes.io/version"],
        assets().flux_version.as_str()
    );

    std::fs::write(api.join("latest"), "not json").unwrap();
    let err = manifests::resolve_version("latest", &api_url)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::LatestVersionUnavailable { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("--version vX.Y.Z"), "{err}");
    let err = manifests::resolve_version("latest", &format!("{}/nowhere", server.url()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
    server.stop();
}

#[tokio::test]
async fn output_is_deterministic_and_parses_back_to_the_objects() {
    let folder = temp_dir("flux-manifests-");
    let untar = run(Command::new("tar")
        .arg("-xzf")
        .arg(assets().flux_release.join("manifests.tar.gz"))
        .arg("-C")
        .arg(&folder));
    assert!(untar.status.success());
    let args = [
        "--components-extra=source-watcher,image-reflector-controller,image-automation-controller",
    ];
    let first = generate(&args, ManifestSource::Local(folder.clone())).await;
    let second = generate(&args, ManifestSource::Local(folder.clone())).await;
    let text = first.to_yaml().unwrap();
    assert_eq!(text, second.to_yaml().unwrap(), "same input, same bytes");
    let back: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
    assert_eq!(back, first.objects, "parses back to the same objects");
    let file = first.components_file().unwrap();
    assert!(file.starts_with("---\n# This manifest was generated by flux. DO NOT EDIT.\n# Flux Version: v2.9.4\n# Components: source-controller,kustomize-controller,helm-controller,notification-controller,source-watcher,image-reflector-controller,image-automation-controller\n"), "{}", &file[..300]);

    // Kubernetes' Go reader (kubectl's kustomize, as Flux's kustomize-controller reads a
    // bootstrap repository) reads it back to the same objects.
    std::fs::write(folder.join("gotk-components.yaml"), &file).unwrap();
    std::fs::write(
        folder.join("kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- gotk-components.yaml\n",
    )
    .unwrap();
    let built = run(Command::new(assets().kubectl())
        .arg("kustomize")
        .arg(&folder));
    assert!(built.status.success(), "{}", stderr(&built));
    let read: Vec<Value> = serde_saphyr::from_multiple(&stdout(&built)).unwrap();
    let by_key = |objects: &[Value]| -> BTreeMap<String, Value> {
        objects.iter().map(|o| (key(o), o.clone())).collect()
    };
    assert_eq!(
        by_key(&read),
        by_key(&first.objects),
        "Go reads the same objects"
    );
}
