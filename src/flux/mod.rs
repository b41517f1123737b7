//! What Flux objects mean: the kinds table, the labels of an install, finding objects, their
//! computed status, asking the controllers to reconcile, suspend and resume them, following
//! their changes, and walking what they applied (inventories, Helm records, the tree).

pub mod dependencies;
pub mod discovery;
pub mod error;
pub mod events;
pub mod helm_storage;
pub mod install;
pub mod inventory;
pub mod kinds;
pub mod labels;
pub mod objects;
pub mod overview;
mod per_namespace;
pub mod reconcile;
pub mod refs;
pub mod status;
pub mod suspend;
pub mod trace;
pub mod tree;
pub mod watch;

pub use error::Error;
pub use install::{ControllersReady, FluxInstall, VERSION_CRD, controllers_ready, installed};
pub use kinds::{
    FluxKind, GIT_REPOSITORY, HELM_CHART, HELM_RELEASE, KINDS, KUSTOMIZATION, Revision, SourceRef,
};
