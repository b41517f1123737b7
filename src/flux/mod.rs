//! What Flux objects mean: the kinds table, the labels of an install, finding objects, their
//! computed status, and asking the controllers to reconcile, suspend and resume them.

pub mod discovery;
pub mod install;
pub mod kinds;
pub mod labels;
pub mod objects;
pub mod reconcile;
pub mod status;
pub mod suspend;

pub use install::{ControllersReady, FluxInstall, VERSION_CRD, controllers_ready, installed};
pub use kinds::{FluxKind, KINDS, Revision, SourceRef};
