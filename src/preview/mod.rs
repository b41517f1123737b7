//! What a change in Git will do to the cluster, before it is merged: the pure building blocks
//! of `build` and `diff` (no cluster reads, no processes, no files).
//!
//! - [`substitute`]: Flux's `postBuild` variable substitution, as kustomize-controller does it.
//! - [`mask`]: Secret values hidden from `build` output and `diff` changes, SOPS data masked
//!   as Flux masks it.
//! - [`render`]: how a configured object's change is shown: a `kubectl diff`-like unified
//!   diff, the JSON paths that change, and what is dropped before comparing.

pub mod mask;
pub mod render;
pub mod substitute;
