//! One file per command: its flags, and the call into the library that does the work.

pub mod bootstrap;
mod bootstrap_forge;
pub mod build;
pub mod check;
pub mod completion;
pub mod diff;
pub mod events;
pub mod history;
pub mod install;
pub mod reconcile;
pub mod rollback;
pub mod status;
pub mod trace;
pub mod tree;
pub mod uninstall;
pub mod version;
