//! Flux's install manifests: the release bundle (downloaded, verified and cached, or local),
//! and the objects the flux CLI would generate from it for a set of install options.
//!
//! The split follows flux2's `pkg/manifestgen/install`: [`load_bundle`] gets the per-component
//! files of a release, [`generate`] applies the options to them the way flux's kustomization
//! templates do, and [`Manifests`] writes the result as `gotk-components.yaml`. Install and
//! bootstrap build on these; nothing here talks to a cluster or to Git.

mod archive;
mod bundle;
mod error;
mod flags;
#[doc(hidden)]
pub mod fuzzing;
mod generate;
mod registry_secret;
mod release;

use std::path::PathBuf;

use secrecy::SecretString;

pub use bundle::Bundle;
pub use error::{Error, FetchFailure, Result};
pub use flags::InstallFlags;
pub use generate::generate;
pub use registry_secret::registry_credentials_secret;
pub use release::{LATEST, is_release_version, resolve_version};

/// The Flux release this version of kubectl-gitops is tested with.
pub const DEFAULT_FLUX_VERSION: &str = "v2.9.4";

/// Components installed unless `--components` says otherwise (Flux's defaults, in its order).
pub const DEFAULT_COMPONENTS: [&str; 4] = [
    "source-controller",
    "kustomize-controller",
    "helm-controller",
    "notification-controller",
];

/// Components only installed on request (`--components-extra`).
pub const EXTRA_COMPONENTS: [&str; 3] = [
    "image-reflector-controller",
    "image-automation-controller",
    "source-watcher",
];

/// Components without which a cluster cannot sync from Git; bootstrap relies on them.
pub const REQUIRED_COMPONENTS: [&str; 2] = ["source-controller", "kustomize-controller"];

/// Where Flux publishes its releases.
pub const DEFAULT_BASE_URL: &str = "https://github.com/fluxcd/flux2/releases";

/// The GitHub API that says which release is the latest.
pub const DEFAULT_GITHUB_API_URL: &str = "https://api.github.com";

/// The namespace Flux installs into by default; the release's RBAC names its ServiceAccounts
/// there, so other namespaces are substituted into it.
pub const DEFAULT_NAMESPACE: &str = "flux-system";

/// Every install option, validated. Built by [`InstallFlags::options`], or by hand.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// `vX.Y.Z`, or `latest` (resolved when the bundle is loaded).
    pub version: String,
    pub namespace: String,
    /// Selected components, defaults then extras, each once.
    pub components: Vec<String>,
    /// Registry the controller images come from; empty keeps the bundle's images.
    pub registry: String,
    pub image_pull_secret: Option<String>,
    /// `--registry-creds`: user and password for the image pull Secret.
    pub registry_credentials: Option<(String, SecretString)>,
    pub network_policy: bool,
    pub watch_all_namespaces: bool,
    pub log_level: String,
    pub cluster_domain: String,
    pub toleration_keys: Vec<String>,
    pub source: ManifestSource,
    /// Base of the GitHub API used to resolve `latest` (overridable for tests and mirrors).
    pub github_api_url: String,
}

#[cfg(test)]
impl InstallOptions {
    /// flux's defaults for the four default components, from local manifests: the base the
    /// manifests' unit tests change one option of.
    pub(crate) fn for_tests() -> InstallOptions {
        InstallOptions {
            version: "v2.9.4".into(),
            namespace: DEFAULT_NAMESPACE.into(),
            components: [
                "source-controller",
                "kustomize-controller",
                "helm-controller",
                "notification-controller",
            ]
            .map(String::from)
            .to_vec(),
            registry: "ghcr.io/fluxcd".into(),
            image_pull_secret: None,
            registry_credentials: None,
            network_policy: true,
            watch_all_namespaces: true,
            log_level: "info".into(),
            cluster_domain: "cluster.local".into(),
            toleration_keys: vec![],
            source: ManifestSource::Local("/x".into()),
            github_api_url: String::new(),
        }
    }
}

/// Where the release manifests come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestSource {
    /// A Flux release: `<base_url>/download/<version>/manifests.tar.gz`, verified against the
    /// release's checksums file and kept under `<cache_dir>/<version>/`.
    Release {
        base_url: String,
        cache_dir: PathBuf,
    },
    /// Local manifests (`--manifests`): a folder of per-component files, or one
    /// multi-document file such as a release's install.yaml.
    Local(PathBuf),
}

/// Generated install manifests.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifests {
    /// The Flux version the objects are labelled with.
    pub version: String,
    pub components: Vec<String>,
    /// The objects in the order flux writes (and applies) them.
    pub objects: Vec<serde_json::Value>,
}

impl Manifests {
    /// Multi-document YAML, deterministic (same objects, same bytes), that Kubernetes' Go
    /// reader reads back to the same objects.
    pub fn to_yaml(&self) -> Result<String> {
        crate::ui::output::yaml_documents(&self.objects).map_err(|source| Error::Yaml { source })
    }

    /// The content of `gotk-components.yaml` (and of `install --export`): flux's header
    /// comment, then [`Manifests::to_yaml`].
    pub fn components_file(&self) -> Result<String> {
        Ok(format!(
            "---\n# This manifest was generated by flux. DO NOT EDIT.\n# Flux Version: {}\n# Components: {}\n{}",
            self.version,
            self.components.join(","),
            self.to_yaml()?
        ))
    }
}

/// Loads the release bundle the options point at: from the cache when a verified copy is
/// there (no network), else downloaded and verified; or read from `--manifests`.
pub async fn load_bundle(options: &InstallOptions) -> Result<Bundle> {
    let version = resolve_version(&options.version, &options.github_api_url).await?;
    match &options.source {
        ManifestSource::Release {
            base_url,
            cache_dir,
        } => release::load(base_url, cache_dir, &version).await,
        ManifestSource::Local(path) => bundle::read_local(path, &version),
    }
}

/// The Kubernetes objects of a multi-document YAML text (e.g. an existing
/// gotk-components.yaml), to compare manifests by content rather than by formatting.
pub fn parse_documents(text: &str) -> std::result::Result<Vec<serde_json::Value>, String> {
    bundle::parse(text)
}
