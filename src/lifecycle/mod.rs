//! The life of a Flux installation: install, check, uninstall, the controllers' rollout, and
//! the versions of the plugin, the cluster and Flux.

pub mod check;
pub mod install;
pub mod rollout;
pub mod uninstall;
pub mod version;
