//! kubectl-gitops: Flux CD GitOps from kubectl.
//!
//! The library owns all behaviour; the executables in `plugins/` only hand their arguments to
//! [`cli`], so the umbrella `kubectl-gitops <command>` and each standalone
//! `kubectl-gitops-<command>` behave identically.
//!
//! # Map
//!
//! Dependencies point one way: [`cli`] → [`bootstrap`], [`lifecycle`] and [`recovery`] →
//! [`preview`] → [`flux`] → [`cluster`], and [`cli`] → [`fleet`] → [`cluster`]; [`git`],
//! [`manifests`] and [`ui`] are leaves that know nothing of the others but [`interrupt`], the
//! lowest ([`error`] gathers every area's error at the top).
//!
//! | To change…                                                   | start in |
//! |--------------------------------------------------------------|----------|
//! | a command's flags, help text or printed lines                | `cli/commands/<command>.rs` (shared flags: `cli/args.rs`) |
//! | shell completion (`kubectl gitops <TAB>`)                    | `cli/complete/` |
//! | how output, warnings, progress and prompts reach the user    | [`ui`] (`Ui`, tables/JSON/YAML in `ui/output.rs`) |
//! | exit statuses, or which errors are usage errors              | [`error`] |
//! | kubeconfig, `--context`/`--server`/... flags, request errors | [`cluster::connection`], [`cluster::error`] |
//! | HTTP/2 to the API server (one connection per cluster) | [`cluster::transport`] |
//! | waiting on anything (the one watch-until primitive, its retry policy) | [`cluster::wait`] |
//! | what a wait says about the controllers it depends on (`0/1 available`, Pod reasons) | [`cluster::explain`] |
//! | the least privilege each command needs (docs/rbac/)          | [`cluster::roles`] |
//! | server-side apply, discovery of served resources             | [`cluster::apply`], [`cluster::discovery`] |
//! | a Flux kind (short names, where its revision and source live) | [`flux::kinds`] (the table) |
//! | how an object's state (Ready, Failed, Stalled, ...) is computed | [`flux::status`] (docs/flux-status.md) |
//! | finding objects: `<kind>/<name>`, `--all`, `-l`, close names; `-A` with partial rights | [`flux::objects`], `flux/per_namespace.rs` (docs/flux-status.md) |
//! | what Flux applied (inventories, Helm records) and `tree`'s walk | [`flux::inventory`], [`flux::helm_storage`], [`flux::tree`] (docs/inventory.md) |
//! | health of any Kubernetes object (kstatus rules)               | [`cluster::health`] |
//! | reconcile, suspend, resume and when a request counts as done | [`flux::reconcile`], [`flux::suspend`] (docs/reconcile.md) |
//! | `status -w` change tracking                                  | [`flux::watch`] |
//! | `dependsOn`: the Blocked state, `reconcile --with-dependencies` order | [`flux::dependencies`] |
//! | `events`: which Events, merging repeats; `trace`: the chain of managers | [`flux::events`], [`flux::trace`] |
//! | `build`/`diff`: building a Kustomization's folder, dry-run diffs, `--ref` | [`preview`] (docs/build-and-diff.md) |
//! | `history`/`rollback`: what the cluster did with each commit, restore commits | [`recovery`] (docs/history-and-rollback.md) |
//! | install, uninstall, check, version, controller rollouts      | [`lifecycle`] |
//! | fleet mode: `--contexts`/`--all-contexts`/`--fleet`, many clusters at once | [`fleet`] (docs/fleet.md) |
//! | bootstrap's steps, files, Secret and waits                   | [`bootstrap`] (docs/bootstrap.md) |
//! | `bootstrap github\|gitlab\|gitea`: repository and deploy key through the forge API, token | [`bootstrap::host::forge`] (docs/forge-bootstrap.md) |
//! | Git: clone, commit, push, URLs, SSH keys, host keys          | [`git`] (docs/yaml-and-git.md) |
//! | signed commits (gpg, ssh-keygen), every private key form     | `git/sign.rs`, `git/key_file.rs` |
//! | Flux's install manifests: download, cache, install options   | [`manifests`] |
//! | refusing hostile release archives before anything is written | `manifests/archive.rs` (docs/hostile-input.md) |
//! | Ctrl-C/SIGTERM: stopping children, removing temporary folders, the interruption line | [`interrupt`] (every module registers what it starts or makes) |

pub mod bootstrap;
pub mod cli;
pub mod cluster;
pub mod error;
pub mod fleet;
pub mod flux;
pub mod git;
pub mod interrupt;
pub mod lifecycle;
pub mod manifests;
pub mod preview;
pub mod recovery;
pub mod ui;

pub use error::{Error, Result};

/// Field manager recorded by server-side apply, so `kubectl get --show-managed-fields` tells
/// which fields this plugin owns.
pub const FIELD_MANAGER: &str = "kubectl-gitops";
