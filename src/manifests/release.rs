//! Flux release assets: which version `latest` is, and `manifests.tar.gz` downloaded, checked
//! against the release's checksums file, and cached per version so that later runs (and
//! air-gapped ones) need no network.

use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::bundle::{self, Bundle};
use super::error::{Error, FetchFailure, Result};

/// The `--version` that asks for the newest release.
pub const LATEST: &str = "latest";

/// The release asset holding one YAML file per component, plus rbac.yaml and policies.yaml.
const MANIFESTS_ASSET: &str = "manifests.tar.gz";

/// How long one HTTP request may take; release assets are a few hundred KB.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether `version` names a release: `vX.Y.Z`, optionally with a pre-release suffix.
pub fn is_release_version(version: &str) -> bool {
    let Some(rest) = version.strip_prefix('v') else {
        return false;
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let numbers: Vec<&str> = core.split('.').collect();
    numbers.len() == 3
        && numbers
            .iter()
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        && pre.is_none_or(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        })
}

/// The release `version` stands for: itself when it is `vX.Y.Z`, or the latest release's tag
/// from the GitHub API at `github_api_url` (`/repos/fluxcd/flux2/releases/latest`).
pub async fn resolve_version(version: &str, github_api_url: &str) -> Result<String> {
    if version != LATEST {
        return if is_release_version(version) {
            Ok(version.to_string())
        } else {
            Err(Error::InvalidFlag {
                flag: "--version",
                value: version.to_string(),
                reason: "use a Flux release version vX.Y.Z (e.g. v2.9.4), or latest".into(),
            })
        };
    }
    let url = format!(
        "{}/repos/fluxcd/flux2/releases/latest",
        github_api_url.trim_end_matches('/')
    );
    let unavailable = |source: FetchFailure| Error::LatestVersionUnavailable {
        url: url.clone(),
        source,
    };
    let body = get(&url)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| unavailable(FetchFailure::NotFound))?;
    let release: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| unavailable(FetchFailure::NotJson(e)))?;
    let tag = release["tag_name"]
        .as_str()
        .ok_or_else(|| unavailable(FetchFailure::NoTagName))?;
    if is_release_version(tag) {
        Ok(tag.to_string())
    } else {
        Err(unavailable(FetchFailure::NotAVersion(tag.to_string())))
    }
}

/// The release's checksums file, named as goreleaser names it (`flux_<X.Y.Z>_checksums.txt`).
pub(super) fn checksums_asset(version: &str) -> String {
    format!("flux_{}_checksums.txt", version.trim_start_matches('v'))
}

/// The bundle of `version`: from `<cache_dir>/<version>/` when a verified copy is there,
/// otherwise downloaded from `<base_url>/download/<version>/`, verified, then cached.
pub(super) async fn load(base_url: &str, cache_dir: &Path, version: &str) -> Result<Bundle> {
    let folder = cache_dir.join(version);
    let checksums_name = checksums_asset(version);
    let cached_archive = folder.join(MANIFESTS_ASSET);
    let cached_checksums = folder.join(&checksums_name);
    if let (Ok(archive), Ok(checksums)) = (
        std::fs::read(&cached_archive),
        std::fs::read_to_string(&cached_checksums),
    ) {
        // A cached copy is checked again: a corrupted cache must not be installed.
        if let Ok(()) = verify(&archive, &checksums, MANIFESTS_ASSET, "", "") {
            return bundle::from_archive(&archive, &cached_archive.display().to_string(), version);
        }
    }

    let base = format!("{}/download/{version}", base_url.trim_end_matches('/'));
    let checksums_url = format!("{base}/{checksums_name}");
    let archive_url = format!("{base}/{MANIFESTS_ASSET}");
    let checksums = download(&checksums_url).await?;
    let checksums = String::from_utf8(checksums).map_err(|e| Error::ManifestDownload {
        url: checksums_url.clone(),
        source: FetchFailure::NotText(e),
    })?;
    let archive = download(&archive_url).await?;
    verify(
        &archive,
        &checksums,
        MANIFESTS_ASSET,
        &archive_url,
        &checksums_url,
    )?;
    let bundle = bundle::from_archive(&archive, &archive_url, version)?;
    store(
        cache_dir,
        version,
        &[
            (checksums_name.as_str(), checksums.as_bytes()),
            (MANIFESTS_ASSET, &archive),
        ],
    )?;
    Ok(bundle)
}

/// Refuses `content` unless `checksums` (sha256sum format) lists `file` with its digest.
pub(super) fn verify(
    content: &[u8],
    checksums: &str,
    file: &str,
    url: &str,
    checksums_url: &str,
) -> Result<()> {
    let expected = checksums
        .lines()
        .filter_map(|line| line.split_once(char::is_whitespace))
        .find(|(_, name)| name.trim().trim_start_matches('*') == file)
        .map(|(digest, _)| digest.trim().to_ascii_lowercase())
        .ok_or_else(|| Error::ManifestChecksumMissing {
            file: file.to_string(),
            checksums: checksums_url.to_string(),
        })?;
    let actual = hex(&Sha256::digest(content));
    if actual == expected {
        Ok(())
    } else {
        Err(Error::ManifestChecksumMismatch {
            file: file.to_string(),
            url: url.to_string(),
            checksums: checksums_url.to_string(),
            expected,
            actual,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Puts a verified release into `<cache_dir>/<version>/` all at once: its files are written
/// into a private folder beside it (same filesystem, so a rename can move it), which is then
/// renamed into place. Readers, and a run interrupted at any point, see the whole release or
/// none of it; what an interrupted run leaves is a `.partial-*` folder that a later run
/// ignores.
fn store(cache_dir: &Path, version: &str, files: &[(&str, &[u8])]) -> Result<()> {
    let cache_error = |path: &Path, source: std::io::Error| Error::ManifestCache {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(cache_dir).map_err(|e| cache_error(cache_dir, e))?;
    let unique = format!(
        "{version}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    );
    let staging = cache_dir.join(format!(".partial-{unique}"));
    private_dir(&staging).map_err(|e| cache_error(&staging, e))?;
    let target = cache_dir.join(version);
    let placed = files
        .iter()
        .try_for_each(|(name, content)| std::fs::write(staging.join(name), content))
        .and_then(|()| {
            // A folder cannot be renamed over a non-empty one: an older copy (one that failed
            // verification) is moved aside first, then removed.
            let aside = cache_dir.join(format!(".old-{unique}"));
            let moved_aside = std::fs::rename(&target, &aside).is_ok();
            let placed = std::fs::rename(&staging, &target);
            if moved_aside {
                let _ = std::fs::remove_dir_all(&aside);
            }
            placed
        });
    if placed.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    match placed {
        Ok(()) => Ok(()),
        // Another run put the same verified release in place meanwhile.
        Err(_) if target.is_dir() => Ok(()),
        Err(e) => Err(cache_error(&target, e)),
    }
}

/// Creates `path`, readable by its owner only where the platform has modes.
fn private_dir(path: &Path) -> std::io::Result<()> {
    #[cfg_attr(not(unix), allow(unused_mut))] // only Unix sets a mode
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

async fn download(url: &str) -> Result<Vec<u8>> {
    let failed = |source| Error::ManifestDownload {
        url: url.to_string(),
        source,
    };
    match get(url).await {
        Ok(Some(body)) => Ok(body),
        Ok(None) => Err(failed(FetchFailure::NotFound)),
        Err(e) => Err(failed(e)),
    }
}

/// GET `url`: the body on 200, `None` on 404, an error (with the status) otherwise.
async fn get(url: &str) -> std::result::Result<Option<Vec<u8>>, FetchFailure> {
    let response = http_client()?
        .get(url)
        .header(
            reqwest::header::USER_AGENT,
            concat!("kubectl-gitops/", env!("CARGO_PKG_VERSION")),
        )
        .send()
        .await
        .map_err(FetchFailure::Transport)?;
    let status = response.status();
    if status == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(FetchFailure::Status(status));
    }
    let body = response.bytes().await.map_err(FetchFailure::Transport)?;
    Ok(Some(body.to_vec()))
}

/// An HTTP client on rustls with the ring provider (the one kube uses), trusting the
/// platform's certificate authorities.
fn http_client() -> std::result::Result<reqwest::Client, FetchFailure> {
    // Installing fails only when a provider is installed already, which is just as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(15))
        .build()
        .map_err(FetchFailure::Setup)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_versions() {
        for good in ["v2.9.4", "v0.0.1", "v2.10.0-rc.1"] {
            assert!(is_release_version(good), "{good}");
        }
        for bad in [
            "2.9.4", "v2.9", "v2.9.4.1", "vx.y.z", "v2.9.4-", "latest", "v2.9.4/x",
        ] {
            assert!(!is_release_version(bad), "{bad}");
        }
    }

    #[test]
    fn checksums_file_is_named_as_goreleaser_names_it() {
        assert_eq!(checksums_asset("v2.9.4"), "flux_2.9.4_checksums.txt");
    }

    #[test]
    fn verify_accepts_the_listed_digest_only() {
        let content = b"hello\n";
        let digest = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
        let checksums = format!("0000  install.yaml\n{digest}  manifests.tar.gz\n");
        verify(content, &checksums, "manifests.tar.gz", "u", "c").unwrap();
        let err = verify(b"hello!\n", &checksums, "manifests.tar.gz", "u", "c").unwrap_err();
        let text = err.to_string();
        assert!(text.contains(digest), "expected digest named: {text}");
        assert!(text.contains("manifests.tar.gz"), "{text}");
        assert!(matches!(err, Error::ManifestChecksumMismatch { .. }));
        let err = verify(
            content,
            "0000  install.yaml\n",
            "manifests.tar.gz",
            "u",
            "c",
        );
        assert!(matches!(err, Err(Error::ManifestChecksumMissing { .. })));
    }

    #[tokio::test]
    async fn a_release_version_resolves_to_itself_without_network() {
        let v = resolve_version("v2.9.4", "http://127.0.0.1:1")
            .await
            .unwrap();
        assert_eq!(v, "v2.9.4");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    fn digest(content: &[u8]) -> String {
        hex(&Sha256::digest(content))
    }

    proptest! {
        #[test]
        fn never_panics(content in any::<Vec<u8>>(), checksums in any::<String>(), file in any::<String>()) {
            let _ = verify(&content, &checksums, &file, "u", "c");
        }

        /// The file's line is found among any others, in either sha256sum mode (` ` or `*`),
        /// with the digest in either case and CRLF line ends.
        #[test]
        fn the_listed_digest_is_accepted(
            content in any::<Vec<u8>>(),
            others in prop::collection::vec(("[0-9a-f]{64}", "[a-z0-9_.-]{1,30}"), 0..6),
            at in any::<prop::sample::Index>(),
            binary in any::<bool>(),
            upper in any::<bool>(),
            crlf in any::<bool>(),
        ) {
            let mut lines: Vec<(String, String)> = others.into_iter().filter(|(_, n)| n != MANIFESTS_ASSET).collect();
            let d = digest(&content);
            let d = if upper { d.to_ascii_uppercase() } else { d };
            let name = if binary { format!("*{MANIFESTS_ASSET}") } else { MANIFESTS_ASSET.to_string() };
            lines.insert(at.index(lines.len() + 1), (d, name));
            let end = if crlf { "\r\n" } else { "\n" };
            let text: String = lines.iter().map(|(d, n)| format!("{d}  {n}{end}")).collect();
            prop_assert!(verify(&content, &text, MANIFESTS_ASSET, "u", "c").is_ok(), "{text}");
        }

        /// Any other content is refused, naming both digests.
        #[test]
        fn other_content_is_refused(content in any::<Vec<u8>>(), other in any::<Vec<u8>>()) {
            prop_assume!(content != other);
            let text = format!("{}  {MANIFESTS_ASSET}\n", digest(&content));
            let err = verify(&other, &text, MANIFESTS_ASSET, "u", "c").err().ok_or_else(|| TestCaseError::fail("accepted"))?;
            let message = err.to_string();
            let mismatch = matches!(err, Error::ManifestChecksumMismatch { .. });
            prop_assert!(mismatch);
            prop_assert!(message.contains(&digest(&content)) && message.contains(&digest(&other)), "{message}");
        }

        /// A file listed under another name (a prefix, a suffix, a folder) does not count.
        #[test]
        fn only_the_exact_name_counts(content in any::<Vec<u8>>(), extra in "[a-z/]{1,5}", before in any::<bool>()) {
            let name = if before { format!("{extra}{MANIFESTS_ASSET}") } else { format!("{MANIFESTS_ASSET}{extra}") };
            let text = format!("{}  {name}\n", digest(&content));
            let missing = matches!(verify(&content, &text, MANIFESTS_ASSET, "u", "c"), Err(Error::ManifestChecksumMissing { .. }));
            prop_assert!(missing);
        }
    }
}
