//! What can go wrong with Flux's install manifests: the install options, finding, downloading,
//! verifying and caching a release, reading local manifests, and applying the options to them.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An install flag (`--version`, `--namespace`, `--log-level`, ...) whose value cannot work.
    #[error("invalid value \"{value}\" for {flag}: {reason}")]
    InvalidFlag {
        flag: &'static str,
        value: String,
        reason: String,
    },

    #[error(
        "unknown Flux component(s) {unknown} in --components/--components-extra; Flux components are {known}"
    )]
    UnknownComponent { unknown: String, known: String },

    #[error(
        "--components must include {missing}: Flux cannot sync from Git without source-controller and kustomize-controller"
    )]
    RequiredComponentMissing { missing: String },

    #[error(
        "--registry-creds is not in the form user:password (its value is not shown); pass it as --registry-creds=user:password or in KUBECTL_GITOPS_REGISTRY_CREDS"
    )]
    RegistryCredentialsFormat,

    #[error(
        "--registry-creds needs --image-pull-secret: the credentials are stored in the Secret that the controllers pull their images with"
    )]
    RegistryCredentialsWithoutSecret,

    #[error(
        "no cache folder for downloaded Flux manifests: {cause}; set XDG_CACHE_HOME or HOME, or use --manifests with a local copy"
    )]
    CacheUnavailable { cause: String },

    #[error(
        "cannot find the latest Flux release at {url}: {source}; pass --version vX.Y.Z (e.g. v2.9.4), or check access to the GitHub API"
    )]
    LatestVersionUnavailable {
        url: String,
        #[source]
        source: FetchFailure,
    },

    #[error(
        "cannot download {url}: {source}; check --base-url and --version and the network path to it, or use --manifests with a local copy"
    )]
    ManifestDownload {
        url: String,
        #[source]
        source: FetchFailure,
    },

    #[error(
        "{file} from {url} has sha256 {actual}, but {checksums} says {expected}: the download is corrupt or was tampered with, so it was not used or cached; retry, or check --base-url"
    )]
    ManifestChecksumMismatch {
        file: String,
        url: String,
        checksums: String,
        expected: String,
        actual: String,
    },

    #[error(
        "{checksums} lists no sha256 for {file}, so the download cannot be verified and was not used; check --base-url and --version"
    )]
    ManifestChecksumMissing { file: String, checksums: String },

    #[error(
        "cannot use the manifest cache {path}: {source}; check its permissions, or set XDG_CACHE_HOME to another folder"
    )]
    ManifestCache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The cause names the file and what is wrong in it, worded for the user.
    #[error(
        "cannot read Flux manifests from {origin}: {cause}; --manifests takes a folder of per-component files (as in a release's manifests.tar.gz) or one multi-document file (as install.yaml)"
    )]
    ManifestsUnreadable { origin: String, cause: String },

    /// A release archive that breaks a rule no Flux release breaks (src/manifests/archive.rs).
    #[error(
        "refused the release archive {archive}: entry {entry} {rule}. Flux's manifests.tar.gz holds only plain YAML files of a few hundred KB, so this is not a Flux release; nothing from it was used or cached. Check --base-url, or delete the archive if it is a cached copy"
    )]
    ManifestArchiveRefused {
        archive: String,
        entry: String,
        rule: String,
    },

    #[error(
        "the Flux manifests from {origin} have no {component}; pick components that they contain, or use a complete release"
    )]
    ManifestsMissingComponent { origin: String, component: String },

    #[error(
        "cannot apply {option} to {object} from {origin}: {cause}; these manifests do not have the shape of Flux's release manifests"
    )]
    ManifestShape {
        option: &'static str,
        object: String,
        origin: String,
        cause: String,
    },

    #[error("cannot write YAML: {source}")]
    Yaml {
        #[source]
        source: serde_saphyr::SerializeError,
    },
}

impl Error {
    /// Whether the command line itself is wrong (exit status 2): an install flag that cannot work.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Error::InvalidFlag { .. }
                | Error::UnknownComponent { .. }
                | Error::RequiredComponentMissing { .. }
                | Error::RegistryCredentialsFormat
                | Error::RegistryCredentialsWithoutSecret
        )
    }
}

/// Why a release file (or the answer about the latest release) could not be had.
#[derive(Debug, thiserror::Error)]
pub enum FetchFailure {
    /// The request failed on the way; the text is the whole chain, since reqwest's own message
    /// says little ("error sending request").
    #[error("{}", cause_chain(.0))]
    Transport(#[source] reqwest::Error),

    #[error("cannot set up HTTPS: {}", cause_chain(.0))]
    Setup(#[source] reqwest::Error),

    #[error("the server answered {0}")]
    Status(reqwest::StatusCode),

    #[error("not found (404)")]
    NotFound,

    #[error("the checksums file is not text")]
    NotText(#[source] std::string::FromUtf8Error),

    #[error("the answer is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),

    #[error("the answer has no tag_name")]
    NoTagName,

    #[error("its tag_name \"{0}\" is not a version vX.Y.Z")]
    NotAVersion(String),
}

/// The whole cause chain in one line, without repeats.
fn cause_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut current = err.source();
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}
