//! Cluster plumbing without Flux knowledge: the connection built from kubectl's flags and
//! kubeconfig, ordered server-side apply, the one watch-until-verdict wait, and when a
//! Deployment counts as available.

pub mod apply;
pub mod connection;
pub mod deployment;
pub mod wait;
