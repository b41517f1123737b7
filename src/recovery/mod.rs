//! Recovering through Git: `history` (what Git changed in a Kustomization's folder and what
//! the cluster did with each commit) and `rollback` (an earlier state of the folder restored
//! as a new commit, pushed, reconciled). Git stays the single source of truth.

pub mod error;
pub mod history;
pub mod rollback;
pub mod subject;

pub use error::Error;
