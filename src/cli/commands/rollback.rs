//! `kubectl gitops rollback`: an earlier state of a Kustomization's folder, restored as one new
//! commit on its branch, pushed, reconciled and waited for.

use crate::cli::args::{json_or_yaml, parse_duration};
use crate::cli::commands::diff::{GitAccessFlags, print_report as print_changes};
use crate::cli::commands::history::kustomization_name;
use crate::cli::commands::reconcile::print_report;
use crate::cluster::connection::ConnectionFlags;
use crate::cluster::discovery::Resources;
use crate::error::{Error, Result};
use crate::flux::KUSTOMIZATION;
use crate::flux::discovery::FluxApis;
use crate::flux::objects::get;
use crate::git::Signature;
use crate::preview::build::{BuildOptions, Kustomization};
use crate::preview::kustomize::Kubectl;
use crate::preview::plan::{Checkout, DiffReport, diff_kustomization};
use crate::preview::source::{fetch_ref, repository_path};
use crate::recovery::rollback::{
    Done, Plan, RollbackOptions, commit_and_push, prepare, reconcile_after,
};
use crate::ui::Ui;
use crate::ui::output::OutputFormat;

/// Roll a Kustomization's folder back to an earlier commit, through Git: one new commit on its
/// branch restores the folder (files outside it untouched), pushed with your own Git setup;
/// then the Kustomization is reconciled with its source and waited for, as reconcile does.
///
/// --to defaults to the last commit applied successfully before the current one (see
/// kubectl gitops history). --dry-run prints the commit and the changes it would cause in the
/// cluster, and changes nothing. Asks before pushing unless --yes.
#[derive(clap::Args)]
pub struct RollbackArgs {
    /// `ks <name>` or `ks/<name>`
    #[arg(value_name = "OBJECT", num_args = 1..=2, required = true)]
    pub(crate) target: Vec<String>,
    /// The commit to restore the folder to (a full or abbreviated SHA from the history)
    #[arg(long, value_name = "COMMIT")]
    to: Option<String>,
    /// Why: added to the commit message
    #[arg(short = 'm', long, value_name = "TEXT")]
    message: Option<String>,
    /// Print the commit and the changes it would cause; push nothing
    #[arg(long)]
    dry_run: bool,
    /// Do not ask before pushing
    #[arg(short = 'y', long)]
    yes: bool,
    /// How long to wait for the Kustomization to be Ready at the new commit
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    timeout: String,
    /// Author of the rollback commit
    #[arg(long, value_name = "NAME", default_value = "Flux")]
    author_name: String,
    /// Email of the rollback commit's author
    #[arg(long, value_name = "EMAIL", default_value = "")]
    author_email: String,
    #[command(flatten)]
    pub(crate) git: GitAccessFlags,
    /// Print the result as JSON or YAML
    #[arg(short = 'o', long, value_name = "FORMAT", value_parser = json_or_yaml())]
    output: Option<OutputFormat>,
    #[command(flatten)]
    pub(crate) connection: ConnectionFlags,
}

pub async fn run(args: RollbackArgs, ui: &Ui) -> Result<()> {
    let name = kustomization_name(&args.target, "rollback")?;
    let timeout = parse_duration("--timeout", &args.timeout)?;
    let kubectl = Kubectl::find()?;
    let connection = args.connection.connect().await?;
    let apis = FluxApis::discover(&connection).await?;
    let object = get(
        &connection,
        apis.require(&KUSTOMIZATION)?,
        &connection.namespace,
        &name,
    )
    .await?;
    let kustomization = Kustomization {
        name: name.clone(),
        namespace: connection.namespace.clone(),
        object: serde_json::to_value(&object.object).unwrap_or_default(),
    };
    let author = Signature {
        name: args.author_name.clone(),
        email: args.author_email.clone(),
    };
    let options = RollbackOptions {
        to: args.to.clone(),
        message: args.message.clone(),
        author: author.clone(),
        access: args.git.access(),
        timeout,
    };
    ui.progress().busy(format!(
        "reading the branch of {}",
        kustomization.display_name()
    ));
    let prepared = prepare(&connection, &object, &kustomization, &options).await;
    ui.progress().pause();
    let prepared = prepared?;
    let plan = prepared.plan.clone();
    if plan.files.is_empty() {
        ui.line(&format!(
            "nothing to roll back: {} at {} is what {} has now",
            plan.path,
            short(&plan.target),
            short(&plan.head)
        ));
        return report(
            ui,
            args.output,
            Done {
                plan,
                commit: None,
                reconcile: None,
                changes: None,
            },
        );
    }
    ui.progress()
        .busy(format!("diffing {} at {}", plan.path, short(&plan.target)));
    let changes = cluster_changes(
        &connection,
        &kubectl,
        &prepared.source,
        &kustomization,
        &plan,
    )
    .await;
    ui.progress().pause();
    let changes = changes?;
    if args.dry_run || args.output.is_none() {
        print_plan(ui, &plan, args.dry_run)?;
        print_changes(ui, &changes, false)?;
    }
    if args.dry_run {
        if args.output.is_some() {
            return report(
                ui,
                args.output,
                Done {
                    plan,
                    commit: None,
                    reconcile: None,
                    changes: Some(changes),
                },
            );
        }
        return Ok(());
    }
    ui.confirm(
        &format!(
            "Push this commit to branch {} of {} and reconcile {}?",
            plan.branch, plan.url, plan.object
        ),
        args.yes,
    )?;
    let progress = |line: &str| ui.transient(line);
    let path = repository_path(&kustomization);
    let pushed = commit_and_push(prepared, &path, &author).await?;
    if pushed.retries > 0 {
        ui.warning(&format!(
            "branch {} moved while rolling back; the commit was made again on a fresh clone",
            plan.branch
        ));
    }
    let commit = pushed.commit;
    if let Some(commit) = &commit {
        ui.progress()
            .success(format!("pushed {commit} to {}", plan.branch));
    }
    let reconciled = reconcile_after(&connection, &object, timeout, &progress).await?;
    if args.output.is_none() {
        print_report(ui, &reconciled)?;
    }
    let succeeded = reconciled.outcome.is_success();
    report(
        ui,
        args.output,
        Done {
            plan,
            commit,
            reconcile: Some(reconciled),
            changes: Some(changes),
        },
    )?;
    if succeeded {
        Ok(())
    } else {
        Err(Error::SomeFailed {
            failed: 1,
            total: 1,
        })
    }
}

/// What restoring the folder would change in the cluster: the folder at the target, diffed.
async fn cluster_changes(
    connection: &crate::cluster::connection::Connection,
    kubectl: &Kubectl,
    source: &crate::preview::source::GitSource,
    kustomization: &Kustomization,
    plan: &Plan,
) -> Result<DiffReport> {
    let fetched = fetch_ref(source, kustomization, &plan.target).await?;
    let resources = Resources::discover(connection).await?;
    diff_kustomization(
        connection,
        &resources,
        kubectl,
        kustomization,
        &Checkout {
            folder: fetched.folder.clone(),
            root: Some(fetched.checkout.root()),
        },
        &BuildOptions::default(),
        false,
    )
    .await
}

fn print_plan(ui: &Ui, plan: &Plan, dry_run: bool) -> Result<()> {
    let mut out = format!(
        "{} commit on {} of {} (on top of {}):\n",
        if dry_run {
            "Would push this"
        } else {
            "Pushing this"
        },
        plan.branch,
        plan.url,
        short(&plan.head)
    );
    for line in plan.message.lines() {
        out.push_str(&format!("    {line}\n"));
    }
    for (status, file) in &plan.files {
        out.push_str(&format!("  {status} {file}\n"));
    }
    out.push_str("Changes in the cluster:\n");
    ui.out(&out)
}

fn report(ui: &Ui, format: Option<OutputFormat>, done: Done) -> Result<()> {
    match format {
        Some(_) => ui.report(format, &done, |_| String::new()),
        None => Ok(()),
    }
}

fn short(commit: &str) -> String {
    commit.chars().take(7).collect()
}
