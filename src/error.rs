//! The top-level error: each area's own error wrapped transparently (so its message is shown
//! unchanged and `?` converts it), the failures of whole commands, and the exit status.
//!
//! Every failure a user can cause or meet has its own variant in its area ([`cluster::Error`]
//! for kubeconfig, transport and API answers, [`git::Error`], [`manifests::Error`],
//! [`flux::Error`]), so callers can match on it and the executables print one clear line.

use crate::{cluster, fleet, flux, git, manifests, preview};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Bootstrap(#[from] crate::bootstrap::error::Error),

    #[error(transparent)]
    Cluster(#[from] cluster::Error),

    #[error(transparent)]
    Forge(#[from] crate::bootstrap::host::forge::Error),

    #[error(transparent)]
    Fleet(#[from] fleet::Error),

    #[error(transparent)]
    Flux(#[from] flux::Error),

    #[error(transparent)]
    Git(#[from] git::Error),

    #[error(transparent)]
    Manifests(#[from] manifests::Error),

    #[error(transparent)]
    Preview(#[from] preview::Error),

    #[error(transparent)]
    Recovery(#[from] crate::recovery::Error),

    #[error("invalid value \"{value}\" for {flag}: {reason}")]
    InvalidFlag {
        flag: &'static str,
        value: String,
        reason: String,
    },

    /// The command line cannot work as given (arguments, flag combinations); found before any
    /// network call, exit status 2.
    #[error("{0}")]
    InvalidUsage(String),

    /// The reader of stdout went away (`| head`): the command stops quietly, as kubectl does.
    #[error("stdout was closed")]
    StdoutClosed,

    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),

    #[error("cannot write to stdout: {0}")]
    Stdout(#[source] std::io::Error),

    #[error("cannot write {format}: {source}")]
    Encode {
        format: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    #[error("{question} Nobody can answer here (not a terminal): pass --yes to go ahead")]
    NobodyToAsk { question: String },

    #[error("{needed} (nobody can type it here: not a terminal)")]
    NobodyToType { needed: &'static str },

    #[error("cannot read the answer from the terminal: {0}")]
    Prompt(#[source] std::io::Error),

    #[error("stopped: nothing was changed")]
    Declined,

    /// `install` on a cluster whose Flux comes from Git: the next sync would undo it.
    #[error(
        "Flux in this cluster was bootstrapped from Git (Kustomization {namespace}/{namespace} exists), so its components come from the repository; change them there, or re-run kubectl gitops bootstrap git with the new options"
    )]
    BootstrappedFromGit { namespace: String },

    #[error(
        "Deployment {namespace}/{name} cannot roll out: {message}; see kubectl -n {namespace} describe deployment {name}"
    )]
    RolloutStuck {
        namespace: String,
        name: String,
        message: String,
    },

    #[error(
        "Flux controllers not available in time: {pending}; {}see kubectl -n {namespace} get pods",
        likely_cause.as_ref().map(|cause| format!("likely cause: {cause}; ")).unwrap_or_default()
    )]
    RolloutTimedOut {
        namespace: String,
        pending: String,
        /// What the unavailable Deployments and their Pods said when the time was up.
        likely_cause: Option<String>,
    },

    /// `status --fail-if-not-ready` found objects that are not Ready (exit status 3).
    #[error("{not_ready} of {total} selected Flux objects are not Ready")]
    NotAllReady { not_ready: usize, total: usize },

    /// `tree --fail-if-not-ready` found objects in the tree that are not healthy (exit status 3).
    #[error("{not_ready} of {total} objects in the tree are not ready")]
    TreeNotReady { not_ready: usize, total: usize },

    /// Some of several objects failed to reconcile; each was reported already.
    #[error("{}", if *total == 1 { "the object did not reconcile".to_string() } else { format!("{failed} of {total} objects did not reconcile") })]
    SomeFailed { failed: usize, total: usize },

    /// `diff` found changes (exit status 1, as `kubectl diff`); each was printed already.
    #[error("{changed} objects would change")]
    ChangesFound { changed: usize },

    /// `diff`: some objects could not be dry-run; each was printed with its reason.
    #[error("the dry run failed for {failed} objects; see the lines marked ✗ above")]
    DryRunFailed { failed: usize },

    /// Any error of `diff`, which exits with 2 or more on errors (1 means "changes").
    #[error(transparent)]
    DiffFailed(Box<Error>),

    /// `check` found problems; each was printed already.
    #[error("{failed} checks failed; see the lines marked ✗ above")]
    ChecksFailed { failed: usize },
}

impl Error {
    /// The process exit status for this error, as kubectl's: 2 when the command line is wrong,
    /// 3 when objects are merely not Ready (so CI pipelines can tell "unhealthy" from "could
    /// not check"), 0 when stdout was closed (nothing is wrong), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::StdoutClosed => 0,
            Error::NotAllReady { .. } | Error::TreeNotReady { .. } => 3,
            Error::ChangesFound { .. } => 1,
            Error::DryRunFailed { .. } => 2,
            Error::DiffFailed(inner) => inner.exit_code().max(2),
            _ if self.is_usage() => 2,
            _ => 1,
        }
    }

    /// Whether the command line itself is wrong: these are all found before the cluster, the
    /// Git server or the network is contacted.
    pub fn is_usage(&self) -> bool {
        match self {
            Error::InvalidFlag { .. } | Error::InvalidUsage(_) => true,
            Error::Cluster(err) => err.is_usage(),
            Error::Flux(err) => err.is_usage(),
            Error::Forge(err) => err.is_usage(),
            Error::Fleet(err) => err.is_usage(),
            Error::Git(err) => err.is_usage(),
            Error::Manifests(err) => err.is_usage(),
            Error::Preview(err) => err.is_usage(),
            _ => false,
        }
    }

    /// A JSON or YAML encoder's failure.
    pub fn encode(
        format: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        Error::Encode {
            format,
            source: Box::new(source),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_errors_keep_their_message_and_exit_with_one() {
        let err: Error = flux::Error::FluxNotInstalled.into();
        assert_eq!(
            err.to_string(),
            flux::Error::FluxNotInstalled.to_string(),
            "wrapped transparently"
        );
        assert_eq!(err.exit_code(), 1);
        let err = Error::NotAllReady {
            not_ready: 1,
            total: 2,
        };
        assert_eq!(err.exit_code(), 3);
    }

    #[test]
    fn usage_errors_of_every_area_exit_with_two() {
        let usage: Vec<Error> = vec![
            Error::InvalidUsage("x".into()),
            Error::InvalidFlag {
                flag: "--timeout",
                value: "x".into(),
                reason: "y".into(),
            },
            flux::Error::UnknownKind {
                name: "x".into(),
                known: "y".into(),
            }
            .into(),
            git::Error::GitUrl {
                url: "ftp://x".into(),
                reason: "y".into(),
            }
            .into(),
            manifests::Error::RegistryCredentialsFormat.into(),
            cluster::Error::InvalidFlag {
                flag: "--request-timeout",
                value: "x".into(),
                reason: "y".into(),
            }
            .into(),
        ];
        for err in usage {
            assert_eq!(err.exit_code(), 2, "{err}");
        }
        assert_eq!(Error::StdoutClosed.exit_code(), 0);
        assert_eq!(Error::from(flux::Error::FluxNotInstalled).exit_code(), 1);
    }
}
