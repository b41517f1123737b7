//! Cluster plumbing without Flux knowledge: the connection built from kubectl's flags and
//! kubeconfig, the action every request names in its errors, what the cluster serves
//! (discovery), ordered server-side apply, the one watch-until-verdict wait, when a Deployment counts as
//! available, the health of any object, the errors of all of these, and which of the plugin's
//! ClusterRoles (docs/rbac/) a forbidden answer should send the user to.

pub mod action;
pub mod apply;
pub mod connection;
pub mod deployment;
pub mod discovery;
pub mod error;
pub mod explain;
pub mod health;
pub mod list;
pub mod roles;
pub mod transport;
pub mod wait;

pub use action::{Action, qualified_plural};
pub use error::{Error, Result};
