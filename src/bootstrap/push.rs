//! Bootstrap's Git step: clone the branch, commit the components and then the sync files
//! (each only when its content changed, as two commits like flux), push, and start again
//! from a fresh clone when someone else pushed meanwhile.

use std::sync::Arc;

use super::error::Error as BootstrapError;
use super::plan::Plan;
use super::sync::{COMPONENTS_FILE, KUSTOMIZATION_FILE, SYNC_FILE};
use super::{BootstrapOptions, Report, blocking};
use crate::error::Result;
use crate::git::{self, PushOutcome, Remote, Signer, Workspace};
use crate::ui::Ui;

/// Fresh clones tried when someone else pushes to the branch meanwhile.
const PUSH_ATTEMPTS: usize = 3;

/// The two commit messages, each with the user's `--commit-message-appendix`.
struct Messages {
    components: String,
    sync: String,
}

impl Messages {
    fn new(options: &BootstrapOptions, plan: &Plan) -> Messages {
        let appendix = options
            .commit_message_appendix
            .as_deref()
            .filter(|a| !a.is_empty())
            .map(|a| format!("\n\n{a}"))
            .unwrap_or_default();
        Messages {
            components: format!(
                "Add Flux {} component manifests{appendix}",
                plan.manifests.version
            ),
            sync: format!("Add Flux sync manifests{appendix}"),
        }
    }
}

/// Clones, commits the components and the sync files (each commit only if its content
/// changed), pushes, and on a moved branch starts again from a fresh clone. Returns the
/// commit the branch points at.
pub(super) async fn commit_and_push(
    remote: &Remote,
    options: &BootstrapOptions,
    plan: &Plan,
    signer: Option<Arc<Signer>>,
    ui: &Ui,
    report: &mut Report,
) -> Result<String> {
    let messages = Messages::new(options, plan);
    for attempt in 1..=PUSH_ATTEMPTS {
        let mut workspace = clone(remote, options, ui).await?;
        if let Some(signer) = &signer {
            workspace.sign_commits(signer.clone());
        }
        let components_commit = commit_components(&mut workspace, options, plan, &messages)?;
        report_commit(ui, options, "component", components_commit.as_deref());
        let sync_commit = commit_sync(&mut workspace, options, plan, &messages)?;
        report_commit(ui, options, "sync", sync_commit.as_deref());
        if components_commit.is_none() && sync_commit.is_none() {
            return head(&workspace);
        }
        ui.progress()
            .action(format!("pushing to \"{}\"", remote.url));
        let pushed = blocking(move || workspace.push().map(|outcome| (outcome, workspace)))
            .await
            .map_err(|err| match err {
                crate::Error::Git(git::Error::GitUnreachable { url, cause }) => {
                    BootstrapError::PushUnreachable { url, cause }.into()
                }
                other => other,
            })?;
        match pushed {
            (PushOutcome::Pushed { commit }, _) => {
                report.commits.extend(components_commit);
                report.commits.extend(sync_commit);
                ui.progress().success(format!("pushed {commit}"));
                return Ok(commit);
            }
            (PushOutcome::UpToDate, workspace) => return head(&workspace),
            (PushOutcome::BranchMoved, _) if attempt < PUSH_ATTEMPTS => {
                ui.progress()
                    .warning("the branch moved while bootstrapping; retrying on a fresh clone");
            }
            (PushOutcome::BranchMoved, _) => {}
        }
    }
    Err(BootstrapError::BranchKeptMoving {
        branch: options.branch.clone(),
        url: options.url.clone(),
        attempts: PUSH_ATTEMPTS,
    }
    .into())
}

async fn clone(remote: &Remote, options: &BootstrapOptions, ui: &Ui) -> Result<Workspace> {
    ui.progress().action(format!(
        "cloning branch \"{}\" from Git repository \"{}\"",
        options.branch, remote.url
    ));
    let (cloned, branch) = (remote.clone(), options.branch.clone());
    let workspace = blocking(move || git::clone(&cloned, &branch)).await?;
    ui.progress().success("cloned repository");
    Ok(workspace)
}

/// Commits the components file unless the branch has the same objects already.
fn commit_components(
    workspace: &mut Workspace,
    options: &BootstrapOptions,
    plan: &Plan,
    messages: &Messages,
) -> Result<Option<String>> {
    crate::interrupt::step(format!(
        "committing component manifests to \"{}\"",
        options.branch
    ));
    let components_path = plan.file(COMPONENTS_FILE);
    let existing = workspace.read_file(&components_path)?;
    let components = same_objects_or(existing, &plan.files[0].1);
    Ok(workspace.commit(
        &[(components_path, components)],
        &messages.components,
        &options.author,
    )?)
}

/// Commits the sync file, and the kustomization.yaml unless the user has one already (it
/// may list more files, or patches).
fn commit_sync(
    workspace: &mut Workspace,
    options: &BootstrapOptions,
    plan: &Plan,
    messages: &Messages,
) -> Result<Option<String>> {
    crate::interrupt::step(format!(
        "committing sync manifests to \"{}\"",
        options.branch
    ));
    let mut sync_files = vec![(plan.file(SYNC_FILE), plan.files[1].1.clone().into_bytes())];
    let kustomization_path = plan.file(KUSTOMIZATION_FILE);
    if workspace.read_file(&kustomization_path)?.is_none() {
        sync_files.push((kustomization_path, plan.files[2].1.clone().into_bytes()));
    }
    Ok(workspace.commit(&sync_files, &messages.sync, &options.author)?)
}

/// "committed <what> manifests to ..." or "<what> manifests are up to date".
fn report_commit(ui: &Ui, options: &BootstrapOptions, what: &str, commit: Option<&str>) {
    ui.progress().success(match commit {
        Some(id) => format!(
            "committed {what} manifests to \"{}\" ({id})",
            options.branch
        ),
        None => format!("{what} manifests are up to date"),
    });
}

/// The branch's commit once bootstrap's files are in it.
fn head(workspace: &Workspace) -> Result<String> {
    Ok(workspace.head().ok_or(BootstrapError::NoCommit)?)
}

/// Keeps a file's existing bytes when they hold the same objects (e.g. written by the flux
/// CLI, whose YAML differs only in formatting), so re-bootstrapping makes no commit.
fn same_objects_or(existing: Option<Vec<u8>>, generated: &str) -> Vec<u8> {
    if let Some(existing) = existing
        && let Ok(text) = std::str::from_utf8(&existing)
        && let (Ok(old), Ok(new)) = (
            crate::manifests::parse_documents(text),
            crate::manifests::parse_documents(generated),
        )
        && old == new
    {
        return existing;
    }
    generated.as_bytes().to_vec()
}
