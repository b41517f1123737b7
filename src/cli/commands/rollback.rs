//! `kubectl gitops rollback`: an earlier state of a Kustomization's folder, restored as one new
//! commit on its branch, pushed, reconciled and waited for.

use crate::cli::args::{json_or_yaml, parse_duration};
use crate::cli::commands::diff::{GitAccessFlags, print_report as print_changes};
use crate::cli::commands::history::{recovery_target, resolve_subject};
use crate::cli::commands::reconcile::print_report;
use crate::cluster::connection::ConnectionFlags;
use crate::error::{Error, Result};
use crate::git::Signature;
use crate::preview::kustomize::Kubectl;
use crate::recovery::rollback::{
    Done, Plan, RollbackOptions, check_may_reconcile, cluster_changes, commit_and_push, prepare,
    reconcile_after,
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
    /// `ks <name>`, `hr <name>`, `ks/<name>` or `hr/<name>`
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
    let (kind, name) = recovery_target(&args.target, "rollback")?;
    let timeout = parse_duration("--timeout", &args.timeout)?;
    let kubectl = Kubectl::find()?;
    let connection = args.connection.connect().await?;
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
    ui.progress()
        .busy(format!("reading the branch behind {}/{name}", kind.kind));
    let prepared = async {
        let subject = resolve_subject(&connection, kind, &name, &options.access).await?;
        let prepared = prepare(&subject, &options).await?;
        Ok::<_, Error>((subject, prepared))
    }
    .await;
    ui.progress().pause();
    let (subject, prepared) = prepared?;
    let plan = prepared.plan.clone();
    if plan.files.is_empty() {
        ui.line(&format!(
            "nothing to roll back: {} at {} is what {} has now",
            plan.path,
            short(&plan.target),
            short(&plan.head)
        ));
        return report(ui, args.output, Done::planned(plan, None));
    }
    ui.progress()
        .busy(format!("diffing {} at {}", plan.path, short(&plan.target)));
    let changes = cluster_changes(&connection, &kubectl, &subject, &prepared).await;
    ui.progress().pause();
    let changes = changes?;
    if args.output.is_none() {
        print_plan(ui, &plan, args.dry_run)?;
        print_changes(ui, &changes, false)?;
    }
    if args.dry_run {
        return report(ui, args.output, Done::planned(plan, Some(changes)));
    }
    check_may_reconcile(&connection, &subject).await?;
    ui.confirm(
        &format!(
            "Push this commit to branch {} of {} and reconcile {}?",
            plan.branch, plan.url, plan.object
        ),
        args.yes,
    )?;
    let pushed = commit_and_push(prepared, &author).await?;
    if pushed.retries > 0 {
        ui.warning(&format!(
            "branch {} moved while rolling back; the commit was made again on a fresh clone",
            plan.branch
        ));
    }
    if let Some(commit) = &pushed.commit {
        ui.progress()
            .success(format!("pushed {commit} to {}", plan.branch));
    }
    let progress = |line: &str| ui.transient(line);
    let reconciled = reconcile_after(&connection, &subject, timeout, &progress).await?;
    if args.output.is_none() {
        for one in &reconciled {
            print_report(ui, one)?;
        }
    }
    let succeeded = reconciled.iter().all(|r| r.outcome.is_success());
    report(
        ui,
        args.output,
        Done {
            plan,
            commit: pushed.commit,
            reconciled,
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
