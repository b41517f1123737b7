//! kubectl-gitops: Flux CD GitOps from kubectl.
//!
//! The library owns all behaviour; the executables in `plugins/` only hand their arguments to
//! [`cli`], so the umbrella `kubectl-gitops <command>` and each standalone
//! `kubectl-gitops-<command>` behave identically.

pub mod apply;
pub mod bootstrap;
pub mod check;
pub mod cli;
pub mod completion;
pub mod confirm;
pub mod connection;
pub mod controllers;
pub mod discovery;
pub mod duration;
pub mod error;
pub mod flux;
pub mod git;
pub mod install;
pub mod manifests;
pub mod objects;
pub mod output;
pub mod progress;
pub mod reconcile;
pub mod status;
pub mod suspend;
pub mod uninstall;
pub mod version;

pub use error::{Error, Result};

/// Field manager recorded by server-side apply, so `kubectl get --show-managed-fields` tells
/// which fields this plugin owns.
pub const FIELD_MANAGER: &str = "kubectl-gitops";
