//! Cluster plumbing without Flux knowledge: the connection built from kubectl's flags and
//! kubeconfig, and ordered server-side apply.

pub mod apply;
pub mod connection;
