//! `rollback`: restore a Kustomization's folder (or a HelmRelease's manifest file) to an
//! earlier commit as one new commit on its branch (Git stays the source of truth: nothing is changed behind its back), push it with
//! the user's Git setup, then reconcile and wait as `reconcile --with-source` does.
//!
//! The default target is the last commit that was applied successfully before the current
//! one: the applied revision when the branch head is not it (the head failed or is not
//! applied yet), else the newest older commit that Events say was applied, else the commit
//! before the head in the folder's history.

use std::time::Duration;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde::Serialize;

use std::path::Path;

use crate::cluster::action::{Action, qualified_plural};
use crate::cluster::connection::Connection;
use crate::cluster::discovery::Resources;
use crate::flux::discovery::FluxApis;
use crate::flux::reconcile::{self, Options as ReconcileOptions, Progress, Report};
use crate::flux::status::is_suspended;
use crate::git::{PushOutcome, Signature, Workspace};
use crate::preview::build::BuildOptions;
use crate::preview::kustomize::Kubectl;
use crate::preview::plan::{Checkout as DiffCheckout, DiffReport, diff_kustomization};
use crate::preview::source::{GitAccess, GitSource, repository_path};
use crate::recovery::error::Error;
use crate::recovery::history::ClusterRecord;
use crate::recovery::subject::Subject;

/// Fresh clones tried when someone else pushes to the branch meanwhile (as bootstrap).
const PUSH_ATTEMPTS: usize = 3;

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct RollbackOptions {
    /// The commit to restore (any unambiguous abbreviation); None picks the default target.
    pub to: Option<String>,
    /// Why, appended to the commit message.
    pub message: Option<String>,
    pub author: Signature,
    pub access: GitAccess,
    pub timeout: Duration,
}

/// The commit a rollback would make.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub object: String,
    pub url: String,
    pub branch: String,
    pub path: String,
    /// The branch head the commit goes on top of.
    pub head: String,
    /// The commit whose folder is restored.
    pub target: String,
    pub message: String,
    /// Files under the path that change: (A|M|D, path).
    pub files: Vec<(char, String)>,
}

/// What a rollback did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Done {
    #[serde(flatten)]
    pub plan: Plan,
    /// The pushed commit (None when the folder already was the target's).
    pub commit: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reconciled: Vec<Report>,
    /// What the restored folder changes in the cluster (the diff before the push).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<crate::preview::plan::DiffReport>,
}

/// Everything needed to act: the source, a fresh clone, the path, and the plan for it.
pub struct Prepared {
    pub source: GitSource,
    pub workspace: Workspace,
    /// The repository path restored (folder or file), as Git names it.
    pub path: String,
    pub plan: Plan,
}

impl Done {
    /// A plan that was not carried out (--dry-run, or nothing to do).
    pub fn planned(plan: Plan, changes: Option<DiffReport>) -> Done {
        Done {
            plan,
            commit: None,
            reconciled: Vec::new(),
            changes,
        }
    }
}

/// Checks the objects, clones the branch and works out the commit to make. Changes nothing.
pub async fn prepare(subject: &Subject, options: &RollbackOptions) -> crate::Result<Prepared> {
    for object in [&subject.object, &subject.manager] {
        if is_suspended(&object.object) {
            return Err(Error::Suspended {
                object: format!(
                    "{}/{}/{}",
                    object.kind.kind,
                    object.namespace(),
                    object.name()
                ),
                short: object.kind.short_names[0],
                name: object.name().to_string(),
                namespace: object.namespace().to_string(),
            }
            .into());
        }
    }
    let owned = subject.clone();
    let options = options.clone();
    let (workspace, path, plan) =
        tokio::task::spawn_blocking(move || -> crate::Result<(Workspace, String, Plan)> {
            let workspace = crate::git::clone(&owned.source.remote, &owned.branch)?;
            let path = owned.path_in(&workspace)?;
            let plan = plan_on(
                &workspace,
                &owned.display_name(),
                &path,
                &owned.record,
                &options,
            )?;
            Ok((workspace, path, plan))
        })
        .await
        .map_err(|err| crate::Error::Runtime(std::io::Error::other(err.to_string())))??;
    Ok(Prepared {
        source: subject.source.clone(),
        workspace,
        path,
        plan,
    })
}

/// What the restore commit would change in the cluster: the branch head with the path
/// restored from the target (both checked out in private temporary folders), built and
/// diffed as the Kustomization that applies it.
pub async fn cluster_changes(
    connection: &Connection,
    kubectl: &Kubectl,
    subject: &Subject,
    prepared: &Prepared,
) -> crate::Result<DiffReport> {
    let (remote, plan, path) = (
        prepared.source.remote.clone(),
        prepared.plan.clone(),
        prepared.path.clone(),
    );
    let head = tokio::task::spawn_blocking(move || -> crate::Result<crate::git::Checkout> {
        let head = crate::git::checkout(&remote, &plan.head)?;
        let target = crate::git::checkout(&remote, &plan.target)?;
        replace_path(head.root(), target.root(), &path)?;
        Ok(head)
    })
    .await
    .map_err(|err| crate::Error::Runtime(std::io::Error::other(err.to_string())))??;
    let resources = Resources::discover(connection).await?;
    diff_kustomization(
        connection,
        &resources,
        kubectl,
        &subject.kustomization,
        &DiffCheckout {
            folder: head.root().join(repository_path(&subject.kustomization)),
            root: Some(head.root()),
        },
        &BuildOptions::default(),
        false,
    )
    .await
}

/// Puts `from_root/path` (a file or folder) in place of `into_root/path`.
fn replace_path(into_root: &Path, from_root: &Path, path: &str) -> crate::Result<()> {
    let io = |err: std::io::Error| crate::Error::Runtime(err);
    let (into, from) = (into_root.join(path), from_root.join(path));
    if path.is_empty() {
        return Err(crate::Error::InvalidUsage(
            "restoring the whole repository cannot be previewed".to_string(),
        ));
    }
    if into.is_dir() {
        std::fs::remove_dir_all(&into).map_err(io)?;
    } else if into.exists() {
        std::fs::remove_file(&into).map_err(io)?;
    }
    copy_recursively(&from, &into).map_err(io)
}

fn copy_recursively(from: &Path, into: &Path) -> std::io::Result<()> {
    if from.is_dir() {
        std::fs::create_dir_all(into)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_recursively(&entry.path(), &into.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        if let Some(parent) = into.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(from, into).map(drop)
    }
}

fn plan_on(
    workspace: &Workspace,
    object: &str,
    path: &str,
    record: &ClusterRecord,
    options: &RollbackOptions,
) -> crate::Result<Plan> {
    let head = workspace.head().ok_or_else(|| Error::EmptyBranch {
        branch: workspace.branch().to_string(),
        url: workspace.url().to_string(),
    })?;
    let target = match &options.to {
        Some(wanted) => {
            let resolved = workspace
                .resolve(wanted)?
                .ok_or_else(|| Error::UnknownCommit {
                    commit: wanted.clone(),
                    branch: workspace.branch().to_string(),
                })?;
            if !workspace.is_ancestor(&resolved, &head)? {
                return Err(Error::NotAnAncestor {
                    commit: wanted.clone(),
                    branch: workspace.branch().to_string(),
                }
                .into());
            }
            resolved
        }
        None => default_target(workspace, path, &head, record)?,
    };
    if !workspace.contains_path(&target, path)? {
        return Err(Error::PathMissing {
            path: display_path(path),
            commit: short(&target),
        }
        .into());
    }
    let files = workspace.changed_files(&head, &target, path)?;
    let mut message = format!("Roll back {} to {}", display_path(path), short(&target));
    if let Some(reason) = options.message.as_deref().filter(|m| !m.trim().is_empty()) {
        message.push_str("\n\n");
        message.push_str(reason.trim());
    }
    Ok(Plan {
        object: object.to_string(),
        url: workspace.url().to_string(),
        branch: workspace.branch().to_string(),
        path: display_path(path),
        head,
        target,
        message,
        files,
    })
}

/// The last commit applied successfully before the current one (see the module doc).
fn default_target(
    workspace: &Workspace,
    path: &str,
    head: &str,
    record: &ClusterRecord,
) -> crate::Result<String> {
    // Revisions from the cluster may be missing from the branch (force-pushed): not ancestors.
    let ancestor = |a: &str, b: &str| workspace.is_ancestor(a, b).unwrap_or(false);
    if let Some(applied) = &record.applied
        && applied != head
        && ancestor(applied, head)
    {
        return Ok(applied.clone());
    }
    let history = workspace.log(path, 100)?;
    let current = record.applied.as_deref().unwrap_or(head);
    for commit in &history {
        if commit.id == current {
            continue;
        }
        let applied_before = record.events.get(&commit.id).is_some_and(|(ok, _)| *ok);
        if applied_before && ancestor(&commit.id, current) {
            return Ok(commit.id.clone());
        }
    }
    history
        .iter()
        .find(|commit| {
            commit.id != current && workspace.is_ancestor(&commit.id, current).unwrap_or(false)
        })
        .map(|commit| commit.id.clone())
        .ok_or_else(|| {
            Error::NothingEarlier {
                path: display_path(path),
            }
            .into()
        })
}

/// The pushed commit (None when the folder already was the target's), and how many times the
/// branch moved meanwhile (each time the commit was made again on a fresh clone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    pub commit: Option<String>,
    pub retries: usize,
}

/// Makes the commit and pushes it; on a branch that moved meanwhile, starts again from a
/// fresh clone (the target must still be an ancestor of the new head).
pub async fn commit_and_push(prepared: Prepared, author: &Signature) -> crate::Result<Pushed> {
    let Prepared {
        source,
        workspace,
        path,
        plan,
    } = prepared;
    // The first attempt commits on the clone the plan was made on; after a moved branch,
    // each attempt starts from a fresh clone.
    let mut workspace = Some(workspace);
    for attempt in 1..=PUSH_ATTEMPTS {
        let current = workspace.take();
        let target = plan.target.clone();
        let message = plan.message.clone();
        let author = author.clone();
        let wanted_path = path.clone();
        let remote = source.remote.clone();
        let branch = plan.branch.clone();
        let (outcome, commit) = tokio::task::spawn_blocking(move || -> crate::Result<_> {
            let mut workspace = match current {
                Some(workspace) => workspace,
                None => {
                    let workspace = crate::git::clone(&remote, &branch)?;
                    let head = workspace.head().unwrap_or_default();
                    if !workspace.is_ancestor(&target, &head)? {
                        return Err(Error::NotAnAncestor {
                            commit: short(&target),
                            branch,
                        }
                        .into());
                    }
                    workspace
                }
            };
            let commit = workspace.restore_path(&wanted_path, &target, &message, &author)?;
            let outcome = match commit {
                Some(_) => workspace.push()?,
                None => PushOutcome::UpToDate,
            };
            Ok((outcome, commit))
        })
        .await
        .map_err(|err| crate::Error::Runtime(std::io::Error::other(err.to_string())))??;
        let retries = attempt - 1;
        match outcome {
            PushOutcome::Pushed { commit } => {
                return Ok(Pushed {
                    commit: Some(commit),
                    retries,
                });
            }
            PushOutcome::UpToDate => return Ok(Pushed { commit, retries }),
            PushOutcome::BranchMoved => {}
        }
    }
    Err(Error::BranchKeptMoving {
        branch: plan.branch.clone(),
        url: plan.url.clone(),
    }
    .into())
}

/// Reconciles the Kustomization with its source and waits, as `reconcile --with-source`;
/// for a HelmRelease then the release with its chart. Stops at the first failure.
pub async fn reconcile_after(
    connection: &Connection,
    subject: &Subject,
    timeout: Duration,
    progress: Progress<'_>,
) -> crate::Result<Vec<Report>> {
    let apis = FluxApis::discover(connection).await?;
    let options = ReconcileOptions {
        with_source: true,
        force: false,
        reset: false,
        with_dependencies: false,
        wait: true,
        timeout,
    };
    let mut reports =
        vec![reconcile::reconcile(connection, &apis, &subject.manager, &options, progress).await?];
    if subject.is_helm_release() && reports[0].outcome.is_success() {
        reports.push(
            reconcile::reconcile(connection, &apis, &subject.object, &options, progress).await?,
        );
    }
    Ok(reports)
}

/// Refuses before anything is pushed when the user may not request the reconciles that
/// [`reconcile_after`] makes: a server-side dry-run of an empty merge patch on each object it
/// patches (the source, the Kustomization, the HelmRelease) is authorized exactly as the
/// real request, so a missing right gives the usual forbidden message, naming the role that
/// grants it, while the branch is still untouched.
pub async fn check_may_reconcile(connection: &Connection, subject: &Subject) -> crate::Result<()> {
    let apis = FluxApis::discover(connection).await?;
    let mut objects = Vec::new();
    let mut patched = vec![&subject.manager];
    if subject.is_helm_release() {
        patched.push(&subject.object);
    }
    for object in patched {
        if let Some(source) = reconcile::source_of(connection, &apis, object).await? {
            objects.push(source);
        }
        objects.push(object.clone());
    }
    let params = PatchParams {
        dry_run: true,
        ..PatchParams::default()
    };
    for object in &objects {
        let served = apis.require(object.kind)?;
        let api: Api<DynamicObject> = Api::namespaced_with(
            connection.client.clone(),
            object.namespace(),
            &served.resource,
        );
        let action = Action::new("patch", &qualified_plural(&served.resource))
            .named(object.name())
            .in_namespace(object.namespace());
        connection
            .call(
                action,
                api.patch(object.name(), &params, &Patch::Merge(serde_json::json!({}))),
            )
            .await?;
    }
    Ok(())
}

fn short(commit: &str) -> String {
    commit.chars().take(7).collect()
}

fn display_path(path: &str) -> String {
    if path.is_empty() {
        ".".to_string()
    } else {
        path.to_string()
    }
}
