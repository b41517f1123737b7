//! The top-level error: each area's own error wrapped transparently (so its message is shown
//! unchanged and `?` converts it), the failures of whole commands, and the exit status.
//!
//! Every failure a user can cause or meet has its own variant in its area ([`cluster::Error`]
//! for kubeconfig, transport and API answers, [`git::Error`], [`manifests::Error`],
//! [`flux::Error`]), so callers can match on it and the executables print one clear line.

use crate::{cluster, flux, git, manifests};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Bootstrap(#[from] crate::bootstrap::error::Error),

    #[error(transparent)]
    Cluster(#[from] cluster::Error),

    #[error(transparent)]
    Flux(#[from] flux::Error),

    #[error(transparent)]
    Git(#[from] git::Error),

    #[error(transparent)]
    Manifests(#[from] manifests::Error),

    #[error("invalid value \"{value}\" for {flag}: {reason}")]
    InvalidFlag {
        flag: &'static str,
        value: String,
        reason: String,
    },

    #[error("{0}")]
    Output(String),

    #[error("{0}")]
    Usage(String),

    /// `status --fail-if-not-ready` found objects that are not Ready (exit status 3).
    #[error("{not_ready} of {total} selected Flux objects are not Ready")]
    NotAllReady { not_ready: usize, total: usize },

    /// Some of several objects failed to reconcile; each was reported already.
    #[error("{failed} of {total} objects did not reconcile")]
    SomeFailed { failed: usize, total: usize },

    /// `check` found problems; each was printed already.
    #[error("{failed} checks failed; see the lines marked ✗ above")]
    ChecksFailed { failed: usize },
}

impl Error {
    /// The process exit status for this error: 3 when objects are merely not Ready (so CI
    /// pipelines can tell "unhealthy" from "could not check"), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::NotAllReady { .. } => 3,
            _ => 1,
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
}
