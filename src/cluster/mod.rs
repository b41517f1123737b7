//! Cluster plumbing without Flux knowledge: the connection built from kubectl's flags and
//! kubeconfig, ordered server-side apply, and the one watch-until-verdict wait.

pub mod apply;
pub mod connection;
pub mod wait;
