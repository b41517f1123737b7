//! What a change in Git will do to the cluster, before it is merged: `build` (a
//! Kustomization's folder built as kustomize-controller builds it) and `diff` (what applying
//! that build would change, asked of the API server by dry run).
//!
//! - [`build`]: the whole build: [`generate`] (the kustomization.yaml kustomize-controller
//!   would write), [`kustomize`] (the kustomize inside kubectl), [`substitute`] (Flux's
//!   `postBuild` variable substitution), owner labels and `commonMetadata`.
//! - [`diff`]: server-side apply dry runs compared with the live objects, and the prune preview;
//!   [`plan`] adds the child Kustomizations (`-r`); [`source`] fetches a Git ref (`--ref`).
//! - [`mask`]: Secret values hidden from `build` output and `diff` changes, SOPS data masked
//!   as Flux masks it; [`render`]: how a configured object's change is shown.
//!
//! See docs/build-and-diff.md and docs/postbuild-and-masking.md.

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
