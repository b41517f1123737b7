//! What can go wrong while building a Kustomization locally and comparing it with the cluster.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "kubectl was not found on PATH: build and diff run the kustomize inside kubectl; install kubectl (https://kubernetes.io/docs/tasks/tools/) or add it to PATH"
    )]
    KubectlMissing,

    #[error("cannot run {kubectl}: {source}; check that it is an executable kubectl")]
    KubectlUnusable {
        kubectl: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "{kubectl} ships kustomize {found}, and build needs kustomize v5 or newer (kubectl 1.27 or newer, as Flux's kustomize-controller): upgrade kubectl"
    )]
    KustomizeTooOld { kubectl: PathBuf, found: String },

    #[error("kustomize build of {folder} failed: {message}")]
    KustomizeFailed { folder: PathBuf, message: String },

    #[error("invalid resource path \"{path}\": {reason}")]
    InvalidPath { path: PathBuf, reason: String },

    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "failed to decode Kubernetes YAML from {path}: {reason}; fix the file or exclude it with --ignore-paths"
    )]
    ManifestUnreadable { path: PathBuf, reason: String },

    #[error("cannot write the generated kustomization.yaml in {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("invalid kustomization file \"{path}\": {reason}")]
    KustomizationFile { path: PathBuf, reason: String },

    #[error(
        "Kustomization {namespace}/{name} has a malformed spec.{field}: {reason}; fix the Kustomization"
    )]
    Spec {
        namespace: String,
        name: String,
        field: &'static str,
        reason: String,
    },

    #[error(
        "{kind} {namespace}/{name} named in postBuild.substituteFrom of Kustomization {namespace}/{kustomization} not found; create it, or mark it optional: true"
    )]
    SubstituteSourceMissing {
        kind: String,
        namespace: String,
        name: String,
        kustomization: String,
    },

    /// The reason names the object (`var substitution failed for 'Kind/ns/name': ...`).
    #[error("{reason}")]
    Substitution { reason: String },

    #[error("{reason}")]
    Mask { reason: String },

    #[error(
        "{kustomization}'s source is {source_kind} {source_name}, and --ref fetches Git sources only: diff a local folder with --path"
    )]
    NotGitSource {
        kustomization: String,
        source_kind: String,
        source_name: String,
    },

    #[error(
        "{reference} of {url} has no folder {path} (the spec.path of {kustomization}); check the ref, or diff a local folder with --path"
    )]
    PathNotInRef {
        reference: String,
        url: String,
        path: String,
        kustomization: String,
    },

    #[error("the build output of kustomize could not be read: {reason}")]
    BuildOutput { reason: String },
}

impl Error {
    /// Errors found from the command line alone, before any build (exit status 2).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Error::InvalidPath { .. } | Error::KustomizationFile { .. }
        )
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
