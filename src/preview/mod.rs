//! What a change in Git will do to the cluster, before it is merged: `build` (a
//! Kustomization's folder built as kustomize-controller builds it) and `diff` (what applying
//! that build would change, asked of the API server by dry run).
//!
//! See docs/build-and-diff.md.

pub mod build;
pub mod diff;
pub mod error;
pub mod generate;
pub mod kustomize;
pub mod mask;
pub mod plan;
pub mod render;
pub mod source;
pub mod substitute;

pub use error::{Error, Result};
