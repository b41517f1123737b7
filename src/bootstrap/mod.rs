//! `kubectl gitops bootstrap git`: Flux's components and sync configuration committed to Git,
//! applied to the cluster, and waited for.

pub mod secret;
pub mod sync;
pub mod wait;
