//! Integration tests against a real kube-apiserver and etcd (see tests/support), the real
//! kubectl, and this package's executables.

#[path = "../support/mod.rs"]
mod support;

mod build_diff;
mod completion;
mod connection_errors;
mod connection_flags;
mod control_plane;
mod events;
mod fleet;
mod flux_controllers;
mod flux_objects;
mod flux_release;
mod forge_stand_in;
mod git_remote;
mod git_servers;
mod hostile_archives;
mod hostile_text;
mod install_manifests;
mod interrupts;
mod krew;
mod least_privilege;
mod plugin_discovery;
mod reconcile;
mod rollback;
mod status;
mod trace;
mod tree;
mod usage_errors;
