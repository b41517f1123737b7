//! What can go wrong in choosing a fleet, and the failure of a command over one.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "fleet file {path} cannot be read: {cause}; pass an existing file to --fleet (see docs/fleet.md for its form)"
    )]
    FileUnreadable { path: PathBuf, cause: String },

    #[error(
        "fleet file {path} is not a valid fleet: {cause}; it lists clusters as `clusters: [{{context: <name>}}, ...]` (see docs/fleet.md)"
    )]
    FileInvalid { path: PathBuf, cause: String },

    #[error(
        "no context matches {pattern:?} in the kubeconfig ({available}); kubectl config get-contexts lists them"
    )]
    NoMatch { pattern: String, available: String },

    #[error("the fleet is empty: {why}; name clusters with --contexts, --all-contexts or --fleet")]
    Empty { why: String },

    #[error(
        "invalid value \"{value}\" for --max-concurrency: give a number of clusters of 1 or more"
    )]
    MaxConcurrency { value: usize },

    /// A cluster's task stopped without a result (a bug: it panicked).
    #[error("the work on cluster {cluster} stopped unexpectedly: {cause}; please report this")]
    TaskFailed { cluster: String, cause: String },

    /// Some clusters could not be checked or acted on; each was reported already (exit 1).
    #[error("{failed} of {total} clusters could not be reached or checked: {names}")]
    ClustersFailed {
        failed: usize,
        total: usize,
        names: String,
    },

    /// `reconcile` in fleet mode: some clusters failed, were not reached or not started.
    #[error("{failed} of {total} clusters did not reconcile: {names}; see the lines above")]
    ClustersNotReconciled {
        failed: usize,
        total: usize,
        names: String,
    },

    /// `check` in fleet mode: some clusters failed checks.
    #[error(
        "checks failed in {failed} of {total} clusters: {names}; see the FAILING CHECKS column, and run kubectl gitops check --context <cluster> for the details"
    )]
    ChecksFailedIn {
        failed: usize,
        total: usize,
        names: String,
    },
}

impl Error {
    /// Whether the command line itself is wrong (exit status 2).
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::MaxConcurrency { .. })
    }
}
