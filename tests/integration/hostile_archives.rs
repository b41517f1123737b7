//! A release archive that no Flux release would publish, served with a matching checksums file
//! (as a hostile or broken `--base-url` would) or planted in the cache, is refused as a whole
//! with the archive, the entry and the rule named, and nothing of it lands in the cache. The
//! archives are built here from the real release's files plus one hostile entry.

use std::io::{Read, Write};
use std::path::Path;

use kubectl_gitops::manifests::{self, Error, ManifestSource};
use sha2::{Digest, Sha256};

use crate::install_manifests::{FileServer, options, release_root, release_source};
use crate::support::control_plane::Assets;
use crate::support::processes::temp_dir;

/// The real release's entries, then `extra` (raw header fields, so `..` and absolute paths
/// can be written: the tar crate's own setters refuse them).
fn release_with(extra: &[(tar::EntryType, &str, &str, Vec<u8>)]) -> Vec<u8> {
    let assets = Assets::locate();
    let real = std::fs::read(assets.flux_release.join("manifests.tar.gz")).unwrap();
    let mut builder = tar::Builder::new(Vec::new());
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&real[..]));
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let header = entry.header().clone();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        builder.append(&header, &data[..]).unwrap();
    }
    for (kind, name, link, data) in extra {
        let mut header = tar::Header::new_old();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_entry_type(*kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append(&header, &data[..]).unwrap();
    }
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gzip.write_all(&builder.into_inner().unwrap()).unwrap();
    gzip.finish().unwrap()
}

/// Puts `archive` and a checksums file that vouches for it into `folder`.
fn publish(folder: &Path, archive: &[u8]) {
    let version = &Assets::locate().flux_version;
    let digest: String = Sha256::digest(archive)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    std::fs::create_dir_all(folder).unwrap();
    std::fs::write(folder.join("manifests.tar.gz"), archive).unwrap();
    std::fs::write(
        folder.join(format!(
            "flux_{}_checksums.txt",
            version.trim_start_matches('v')
        )),
        format!("{digest}  manifests.tar.gz\n"),
    )
    .unwrap();
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Stands for the gzip bomb among the cases: 48 MiB of zeros in three entries, which pack
/// about 1000:1.
const BOMB: (tar::EntryType, &str, &str, Vec<u8>) =
    (tar::EntryType::Regular, "zeros.bin", "", Vec::new());

type Entry = (tar::EntryType, &'static str, &'static str, Vec<u8>);

/// The entries to add for one case.
fn entries(extra: Entry) -> Vec<Entry> {
    if extra.1 != BOMB.1 {
        return vec![extra];
    }
    ["zeros.bin", "zeros2.bin", "zeros3.bin"]
        .map(|name| (tar::EntryType::Regular, name, "", vec![0; 16 * 1024 * 1024]))
        .to_vec()
}

/// (case, hostile entry, what the refusal must say)
fn cases() -> Vec<(&'static str, Entry, &'static str)> {
    use tar::EntryType::*;
    let yaml = b"kind: ConfigMap\nmetadata:\n  name: evil\n".to_vec();
    vec![
        (
            "dot-dot path",
            (Regular, "../../escape.yaml", "", yaml.clone()),
            "climbs out of the archive's folder with \"..\"",
        ),
        (
            "absolute path",
            (Regular, "/tmp/escape.yaml", "", yaml.clone()),
            "has an absolute path",
        ),
        (
            "symlink out",
            (Symlink, "helm-controller.yaml", "/etc/passwd", vec![]),
            "is a symbolic link to \"/etc/passwd\"",
        ),
        (
            "hard link out",
            (Link, "rbac.yaml", "../../etc/shadow", vec![]),
            "is a hard link to \"../../etc/shadow\"",
        ),
        (
            "device",
            (Char, "null.yaml", "", vec![]),
            "is a character device entry",
        ),
        (
            "entry over 20 MiB",
            (Regular, "huge.yaml", "", vec![b'#'; 21 * 1024 * 1024]),
            "is 22020096 bytes, over the limit of 20971520 bytes (20 MiB)",
        ),
        ("gzip bomb", BOMB, "a gzip bomb"),
    ]
}

#[tokio::test]
async fn hostile_archives_from_the_server_are_refused_and_nothing_is_cached() {
    let version = Assets::locate().flux_version.clone();
    for (case, extra, rule) in cases() {
        // The bomb is caught in whichever of its entries crosses the ratio.
        let entry = if extra.1 == BOMB.1 {
            "zeros".to_string()
        } else {
            format!("{} ", extra.1)
        };
        let (root, folder) = release_root();
        publish(&folder, &release_with(&entries(extra)));
        let server = FileServer::start(&root);
        let cache = temp_dir("manifest-cache-");
        let err = manifests::load_bundle(&options(&[], release_source(&server, &cache)))
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, Error::ManifestArchiveRefused { .. }),
            "{case}: {text}"
        );
        let url = format!(
            "{}/fluxcd/flux2/releases/download/{version}/manifests.tar.gz",
            server.url()
        );
        for part in [
            url.as_str(),
            &format!("entry {entry}"),
            rule,
            "Check --base-url",
        ] {
            assert!(
                text.contains(part),
                "{case}: message lacks {part:?}: {text}"
            );
        }
        assert_eq!(
            listing(&cache),
            Vec::<String>::new(),
            "{case}: cache written"
        );
        assert!(!root.join("escape.yaml").exists() && !Path::new("/tmp/escape.yaml").exists());
        server.stop();
    }
}

#[tokio::test]
async fn a_hostile_archive_planted_in_the_cache_is_refused_without_network() {
    let version = Assets::locate().flux_version.clone();
    let (_, extra, rule) = cases().swap_remove(2);
    let cache = temp_dir("manifest-cache-");
    let planted = cache.join(&version);
    publish(&planted, &release_with(&[extra]));
    let source = ManifestSource::Release {
        base_url: "http://127.0.0.1:1/nowhere".into(),
        cache_dir: cache.clone(),
    };
    let err = manifests::load_bundle(&options(&[], source))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, Error::ManifestArchiveRefused { .. }),
        "{text}"
    );
    let path = planted.join("manifests.tar.gz").display().to_string();
    for part in [
        path.as_str(),
        "entry helm-controller.yaml ",
        rule,
        "delete the archive",
    ] {
        assert!(text.contains(part), "message lacks {part:?}: {text}");
    }
}

#[tokio::test]
async fn a_download_lands_in_the_cache_whole_through_a_private_folder() {
    let version = Assets::locate().flux_version.clone();
    let (root, _) = release_root();
    let server = FileServer::start(&root);
    let cache = temp_dir("manifest-cache-");
    // An older, corrupt copy is replaced whole.
    std::fs::create_dir_all(cache.join(&version)).unwrap();
    std::fs::write(cache.join(&version).join("manifests.tar.gz"), b"corrupt").unwrap();
    manifests::load_bundle(&options(&[], release_source(&server, &cache)))
        .await
        .expect("download");
    server.stop();
    assert_eq!(
        listing(&cache),
        vec![version.clone()],
        "no staging folder left"
    );
    assert_eq!(
        listing(&cache.join(&version)),
        vec![
            format!("flux_{}_checksums.txt", version.trim_start_matches('v')),
            "manifests.tar.gz".to_string()
        ]
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(cache.join(&version))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "the cached release is private");
    }
}
