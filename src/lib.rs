//! kubectl-gitops: Flux CD GitOps from kubectl.
//!
//! The library owns all behaviour; the executables in `plugins/` only hand their arguments to
//! [`cli`], so the umbrella `kubectl-gitops <command>` and each standalone
//! `kubectl-gitops-<command>` behave identically.

pub mod bootstrap;
pub mod cli;
pub mod cluster;
pub mod error;
pub mod flux;
pub mod git;
pub mod lifecycle;
pub mod manifests;
pub mod ui;

pub use error::{Error, Result};

/// Field manager recorded by server-side apply, so `kubectl get --show-managed-fields` tells
/// which fields this plugin owns.
pub const FIELD_MANAGER: &str = "kubectl-gitops";
