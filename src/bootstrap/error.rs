//! What can stop bootstrap beyond the failures of Git, the cluster and the manifests (which
//! keep their own errors): a cluster synced from another folder, a branch that never holds
//! still, and sync objects that fail or never get Ready.

use crate::flux::FluxKind;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The cluster's root Kustomization syncs another folder than `--path`.
    #[error(
        "the root Kustomization {namespace}/{namespace} syncs path \"{existing}\", not \"{requested}\": bootstrap will not move this cluster to another folder of the repository; run it again with --path={}, or uninstall Flux first",
        existing.trim_start_matches("./")
    )]
    OtherPath {
        namespace: String,
        existing: String,
        requested: String,
    },

    /// Git reported no commit on the branch although bootstrap's files are committed.
    #[error("the branch has no commit after bootstrap's commits")]
    NoCommit,

    #[error(
        "branch \"{branch}\" of {url} kept moving while bootstrap pushed ({attempts} attempts); run bootstrap again when nobody else pushes"
    )]
    BranchKeptMoving {
        branch: String,
        url: String,
        attempts: usize,
    },

    /// The server could not be reached for the push, after the clone: nothing reached the
    /// cluster yet, and a re-run starts from a fresh clone.
    #[error(
        "cannot reach the Git server at {url} to push ({cause}); nothing was applied to the cluster: check that the server is running and reachable, then run bootstrap again (it starts from a fresh clone, so nothing is committed twice)"
    )]
    PushUnreachable { url: String, cause: String },

    /// A blocking Git task panicked or was cancelled.
    #[error("a Git task failed: {source}")]
    GitTask {
        #[source]
        source: tokio::task::JoinError,
    },

    #[error("cannot encode the source Secret: {source}")]
    SecretEncoding {
        #[source]
        source: serde_json::Error,
    },

    /// The GitRepository or Kustomization said why it cannot get Ready.
    #[error(
        "{} {namespace}/{name} failed ({reason}): {message}; fix the cause (the Git URL, credentials or manifests) and run bootstrap again, or look closer with: kubectl gitops status {} {name} -n {namespace}",
        kind.kind,
        // How `kubectl gitops status` names the kind.
        kind.short_names.first().copied().unwrap_or(kind.kind)
    )]
    SyncFailed {
        kind: &'static FluxKind,
        namespace: String,
        name: String,
        reason: String,
        message: String,
    },

    #[error(
        "{kind} {namespace}/{name} did not become Ready at {revision} in time{}; {}",
        last_message.as_ref().map(|message| format!(" (last message: {message})")).unwrap_or_default(),
        likely_cause.as_ref().map_or_else(
            || "are the Flux controllers running? (kubectl gitops check)".to_string(),
            |cause| format!("likely cause: {cause} (see kubectl -n {namespace} get pods)")
        )
    )]
    SyncTimedOut {
        kind: &'static str,
        namespace: String,
        name: String,
        revision: String,
        /// The Ready condition's message when the time was up, if it had one.
        last_message: Option<String>,
        /// The controllers that could not answer when the time was up, each with why (boxed:
        /// keeps the error small).
        likely_cause: Option<Box<String>>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_objects_and_the_next_step() {
        let other_path = Error::OtherPath {
            namespace: "flux-system".into(),
            existing: "./clusters/a".into(),
            requested: "./clusters/b".into(),
        };
        assert_eq!(
            other_path.to_string(),
            "the root Kustomization flux-system/flux-system syncs path \"./clusters/a\", not \"./clusters/b\": bootstrap will not move this cluster to another folder of the repository; run it again with --path=clusters/a, or uninstall Flux first"
        );
        let moving = Error::BranchKeptMoving {
            branch: "main".into(),
            url: "https://git.example/r.git".into(),
            attempts: 3,
        };
        assert_eq!(
            moving.to_string(),
            "branch \"main\" of https://git.example/r.git kept moving while bootstrap pushed (3 attempts); run bootstrap again when nobody else pushes"
        );
        let timed_out = |last_message: Option<&str>| Error::SyncTimedOut {
            kind: "GitRepository",
            namespace: "flux-system".into(),
            name: "flux-system".into(),
            revision: "main@sha1:abc".into(),
            last_message: last_message.map(str::to_string),
            likely_cause: None,
        };
        assert_eq!(
            timed_out(None).to_string(),
            "GitRepository flux-system/flux-system did not become Ready at main@sha1:abc in time; are the Flux controllers running? (kubectl gitops check)"
        );
        assert_eq!(
            timed_out(Some("cloning")).to_string(),
            "GitRepository flux-system/flux-system did not become Ready at main@sha1:abc in time (last message: cloning); are the Flux controllers running? (kubectl gitops check)"
        );
        let blocked = Error::SyncTimedOut {
            kind: "GitRepository",
            namespace: "flux-system".into(),
            name: "flux-system".into(),
            revision: "main@sha1:abc".into(),
            last_message: None,
            likely_cause: Some(Box::new("source-controller: 0/1 available".into())),
        };
        assert_eq!(
            blocked.to_string(),
            "GitRepository flux-system/flux-system did not become Ready at main@sha1:abc in time; likely cause: source-controller: 0/1 available (see kubectl -n flux-system get pods)"
        );
        let failed = Error::SyncFailed {
            kind: FluxKind::lookup("Kustomization").unwrap(),
            namespace: "flux-system".into(),
            name: "flux-system".into(),
            reason: "BuildFailed".into(),
            message: "no kustomization.yaml".into(),
        };
        assert_eq!(
            failed.to_string(),
            "Kustomization flux-system/flux-system failed (BuildFailed): no kustomization.yaml; fix the cause (the Git URL, credentials or manifests) and run bootstrap again, or look closer with: kubectl gitops status ks flux-system -n flux-system"
        );
    }
}
