//! `kubectl gitops reconcile`, `suspend` and `resume`; `reconcile` also over a fleet.

use crate::cli::args::{SelectionFlags, WaitFlags};
use crate::cluster::connection::{Connection, ConnectionFlags};
use crate::cluster::explain::Explanation;
use crate::error::{Error, Result};
use crate::fleet::reconcile::{self as fleet_reconcile, ClusterOutcome, ClusterReport};
use crate::fleet::{self, Fleet, FleetFlags, Member, Reached};
use crate::flux::discovery::FluxApis;
use crate::flux::objects::{Selection, SelectionArgs, discover_and_select};
use crate::flux::reconcile::{
    ClusterRun, Options, Outcome, Report, Tally, reconcile_all, reconcile_cluster,
};
use crate::flux::status::short_revision;
use crate::flux::suspend::{resume_all, suspend_all};
use crate::ui::Ui;
use crate::ui::output::{self, OutputFormat};

/// Ask the Flux controllers to reconcile objects now (through reconcile.fluxcd.io/requestedAt)
/// and wait, watching, until they have. Fails as soon as an object fails.
///
/// Exit status: 0 when every object reconciled, 1 otherwise (in fleet mode: in every cluster).
#[derive(clap::Args)]
pub struct ReconcileArgs {
    #[command(flatten)]
    selection: SelectionFlags,
    /// Reconcile the source first (Kustomization: its sourceRef; HelmRelease: its chart)
    #[arg(long)]
    with_source: bool,
    /// HelmRelease: force a one-off upgrade (reconcile.fluxcd.io/forceAt)
    #[arg(long)]
    force: bool,
    /// HelmRelease: reset the failure counters (reconcile.fluxcd.io/resetAt)
    #[arg(long)]
    reset: bool,
    /// Reconcile the objects' dependsOn chain first, in order; a failing dependency stops
    /// what depends on it
    #[arg(long)]
    with_dependencies: bool,
    /// Fleet mode: at most N clusters at a time, started in the order given, and none started
    /// after one fails (a cautious wave across environments)
    #[arg(long, value_name = "N")]
    rollout: Option<usize>,
    #[command(flatten)]
    wait: WaitFlags,
    #[command(flatten)]
    connection: ConnectionFlags,
    #[command(flatten)]
    fleet: FleetFlags,
}

/// Suspend Flux objects (spec.suspend: true): the controllers stop reconciling them.
#[derive(clap::Args)]
pub struct SuspendArgs {
    #[command(flatten)]
    selection: SelectionFlags,
    #[command(flatten)]
    connection: ConnectionFlags,
}

/// Resume suspended Flux objects, request a reconcile and wait for it.
#[derive(clap::Args)]
pub struct ResumeArgs {
    #[command(flatten)]
    selection: SelectionFlags,
    #[command(flatten)]
    wait: WaitFlags,
    #[command(flatten)]
    connection: ConnectionFlags,
}

/// Connects and resolves the (already checked) selection to objects.
async fn resolve(
    ui: &Ui,
    connection: &ConnectionFlags,
    selection: &SelectionArgs,
    reconcilable_only: bool,
) -> Result<(Connection, FluxApis, Selection)> {
    let connection = connection.connect().await?;
    let (apis, selected) = discover_and_select(&connection, selection, reconcilable_only).await?;
    for warning in &selected.warnings {
        ui.warning(warning);
    }
    if selected.objects.is_empty() {
        ui.line("No Flux objects matched.");
    }
    Ok((connection, apis, selected))
}

/// The reconcile options, checked against the kinds the command line names before the cluster
/// is contacted (`reconcile ks apps --force` is wrong whatever the cluster holds).
fn reconcile_options(args: &ReconcileArgs, selection: &SelectionArgs) -> Result<Options> {
    if args.with_dependencies && args.wait.no_wait {
        return Err(Error::InvalidUsage(
            "--with-dependencies waits for each dependency before the objects that need it: drop --no-wait".to_string(),
        ));
    }
    let options = Options {
        with_source: args.with_source,
        force: args.force,
        reset: args.reset,
        with_dependencies: args.with_dependencies,
        wait: !args.wait.no_wait,
        timeout: args.wait.timeout()?,
    };
    let (kind, targets) = selection.check()?;
    for target in &targets {
        options.check_kind(target.kind, &target.name)?;
    }
    if let (Some(kind), true) = (kind, targets.is_empty()) {
        options.check_kind(kind, "every selected object")?;
    }
    Ok(options)
}

pub async fn run_reconcile(args: ReconcileArgs, ui: &Ui) -> Result<()> {
    let selection = args.selection.to_args()?;
    let options = reconcile_options(&args, &selection)?;
    if let Some(fleet) = Fleet::from_flags(&args.fleet, &args.connection)? {
        return run_fleet(fleet, selection, options, &args, ui).await;
    }
    if args.rollout.is_some() {
        return Err(Error::InvalidUsage(
            "--rollout orders clusters: use it with --contexts, --all-contexts or --fleet"
                .to_string(),
        ));
    }
    let (connection, apis, selected) = resolve(ui, &args.connection, &selection, true).await?;
    let progress = |line: &str| ui.transient(line);
    let tell = |explanation| show_explanation(ui, explanation);
    let results = reconcile_all(&connection, &apis, &selected, &options, &progress, &tell).await?;
    finish(ui, results, args.wait.output)
}

pub async fn run_suspend(args: SuspendArgs, ui: &Ui) -> Result<()> {
    let selection = args.selection.to_args()?;
    let (connection, apis, selected) = resolve(ui, &args.connection, &selection, false).await?;
    let results = suspend_all(&connection, &apis, &selected).await;
    let tally = Tally::count(results.iter().map(Result::is_ok));
    for (object, result) in selected.objects.iter().zip(results) {
        match result {
            Ok(()) => ui.out(&format!(
                "✔ {} in namespace {} suspended\n",
                object.display_name(),
                object.namespace()
            ))?,
            // One object: its error is the command's error, printed once by the caller.
            Err(err) if tally.total == 1 => return Err(err),
            Err(err) => ui.line(&format!("✗ {}: {err}", object.display_name())),
        }
    }
    tally.into_result()
}

pub async fn run_resume(args: ResumeArgs, ui: &Ui) -> Result<()> {
    let selection = args.selection.to_args()?;
    let options = Options {
        with_source: false,
        force: false,
        reset: false,
        with_dependencies: false,
        wait: !args.wait.no_wait,
        timeout: args.wait.timeout()?,
    };
    let (connection, apis, selected) = resolve(ui, &args.connection, &selection, false).await?;
    let progress = |line: &str| ui.transient(line);
    let tell = |explanation| show_explanation(ui, explanation);
    let results = resume_all(&connection, &apis, &selected, &options, &progress, &tell).await;
    finish(ui, results, args.wait.output)
}

/// What stands in the way of a wait: a controller that cannot answer as a `!` line, and the
/// heartbeat (reconcile has no spinner, so it is shown on terminals too).
fn show_explanation(ui: &Ui, explanation: Explanation) {
    match explanation {
        Explanation::Unavailable(text) => ui.line(&format!("! {text}")),
        Explanation::Available(text) => ui.line(&format!("✔ {text}")),
        Explanation::StillWaiting(text) => ui.line(&format!("◎ {text}")),
    }
}

/// Prints every report (a line each, or one JSON/YAML list) and a summary, and turns failures
/// into the exit status. A single object's error is returned as it is.
fn finish(ui: &Ui, results: Vec<Result<Report>>, format: Option<OutputFormat>) -> Result<()> {
    let tally = Tally::of_reports(&results);
    if tally.total == 1 && results[0].is_err() {
        return results.into_iter().next().map_or(Ok(()), |r| r.map(|_| ()));
    }
    let mut reports = Vec::new();
    for result in results {
        match result {
            Ok(report) => reports.push(report),
            Err(err) => ui.line(&format!("✗ {err}")),
        }
    }
    match format {
        Some(OutputFormat::Yaml) => ui.out_raw(output::to_yaml(&reports)?.as_bytes())?,
        Some(_) => ui.out_json(&reports)?,
        None => {
            for report in &reports {
                print_with_inputs(ui, report, "")?;
            }
            if tally.total > 1 {
                ui.line(&format!(
                    "{} of {} reconciled, {} failed",
                    tally.total - tally.failed,
                    tally.total,
                    tally.failed
                ));
            }
        }
    }
    tally.into_result()
}

/// A report after what it waited for: its dependencies (each with its own inputs), its source.
/// `prefix` starts each line (a cluster's name in fleet mode).
fn print_with_inputs(ui: &Ui, report: &Report, prefix: &str) -> Result<()> {
    for dependency in &report.dependencies {
        print_with_inputs(ui, dependency, prefix)?;
    }
    if let Some(source) = &report.source {
        print_prefixed(ui, source, prefix)?;
    }
    print_prefixed(ui, report, prefix)
}

/// One report: successes on stdout, failures on stderr (as kubectl prints errors).
pub(crate) fn print_report(ui: &Ui, report: &Report) -> Result<()> {
    print_prefixed(ui, report, "")
}

/// One report; `prefix` starts each line (a cluster's name in fleet mode).
fn print_prefixed(ui: &Ui, report: &Report, prefix: &str) -> Result<()> {
    let who = format!(
        "{}/{} in namespace {}",
        report.kind, report.name, report.namespace
    );
    match &report.outcome {
        Outcome::Succeeded { revision, .. } => {
            let what = match (revision, crate::flux::FluxKind::lookup(report.kind)) {
                (Some(r), Some(kind)) => format!("{} {r}", kind.revision.success_words()),
                _ => "reconciled".to_string(),
            };
            ui.out(&format!(
                "{prefix}✔ {who}: {what} ({:.1}s)\n",
                report.elapsed_seconds
            ))
        }
        Outcome::Requested => ui.out(&format!("{prefix}✔ {who}: reconcile requested\n")),
        Outcome::Skipped { reason } => ui.out(&format!("{prefix}- {who}: skipped ({reason})\n")),
        Outcome::Failed {
            condition,
            reason,
            message,
        } => {
            ui.line(&format!("{prefix}✗ {who}: {condition} {reason}: {message}"));
            Ok(())
        }
        Outcome::TimedOut {
            timeout_seconds,
            last_ready_status,
            last_reason,
            last_message,
            likely_cause,
        } => {
            let mut last = match (last_ready_status, last_reason, last_message) {
                (Some(status), reason, message) => format!(
                    "last Ready condition: {status} {}: {}",
                    reason.as_deref().unwrap_or_default(),
                    message.as_deref().map(short_revision).unwrap_or_default()
                ),
                _ if likely_cause.is_some() => {
                    "the controller wrote no Ready condition".to_string()
                }
                _ => "the controller wrote no Ready condition (is it running?)".to_string(),
            };
            if let Some(cause) = likely_cause {
                last.push_str(&format!("; likely cause: {cause}"));
            }
            ui.line(&format!(
                "{prefix}✗ {who}: not reconciled within {timeout_seconds}s; {last}"
            ));
            Ok(())
        }
    }
}

// Fleet mode: the same selection reconciled in every cluster.

async fn run_fleet(
    fleet: Fleet,
    selection: SelectionArgs,
    options: Options,
    args: &ReconcileArgs,
    ui: &Ui,
) -> Result<()> {
    let shared = std::sync::Arc::new((selection, options));
    let task = move |_: Member, connection: Connection| {
        let shared = shared.clone();
        async move { reconcile_cluster(connection, &shared.0, &shared.1).await }
    };
    let (results, not_started): (Vec<Reached<ClusterRun>>, Vec<Member>) = match args.rollout {
        Some(0) => {
            return Err(Error::InvalidUsage(
                "--rollout 0 would reconcile no cluster: give 1 or more".to_string(),
            ));
        }
        Some(at_once) => {
            fleet
                .run_in_waves(at_once, task, |run: &ClusterRun| run.tally().failed > 0)
                .await
        }
        None => (fleet.run(task).await, Vec::new()),
    };

    let mut summary = Vec::new();
    let mut clusters = Vec::new();
    for reached in results {
        let name = reached.member.name;
        match reached.result {
            Ok(run) => {
                for warning in &run.warnings {
                    ui.warning(&format!("{name}: {warning}"));
                }
                let tally = run.tally();
                let cluster = ClusterReport::ran(&name, run);
                for err in &cluster.errors {
                    ui.line(&format!("{name}: ✗ {err}"));
                }
                if args.wait.output.is_none() {
                    for report in &cluster.reports {
                        print_with_inputs(ui, report, &format!("{name}: "))?;
                    }
                }
                summary.push(match tally.total {
                    0 => format!("{name}: no Flux objects matched"),
                    total => format!(
                        "{name}: {} of {total} reconciled, {} failed",
                        total - tally.failed,
                        tally.failed
                    ),
                });
                clusters.push(cluster);
            }
            Err(err) => {
                ui.line(&format!("{name}: ✗ {err}"));
                let cluster = ClusterReport::not_reached(&name, &err);
                let what = match cluster.outcome {
                    ClusterOutcome::Unreachable => "unreachable",
                    _ => "not reconciled",
                };
                summary.push(format!("{name}: {what}: {}", fleet::brief(&err)));
                clusters.push(cluster);
            }
        }
    }
    let stopper = clusters
        .iter()
        .find(|c| c.outcome != ClusterOutcome::Reconciled)
        .map(|c| c.cluster.clone())
        .unwrap_or_default();
    for member in &not_started {
        summary.push(format!(
            "{}: not started (--rollout stopped after {stopper} failed)",
            member.name
        ));
        clusters.push(ClusterReport::not_started(member));
    }
    match args.wait.output {
        Some(OutputFormat::Yaml) => ui.out_raw(output::to_yaml(&clusters)?.as_bytes())?,
        Some(_) => ui.out_json(&clusters)?,
        None => {
            let count = |outcomes: &[ClusterOutcome]| {
                clusters
                    .iter()
                    .filter(|c| outcomes.contains(&c.outcome))
                    .count()
            };
            let total = clusters.len();
            let failed = count(&[ClusterOutcome::Failed, ClusterOutcome::Unreachable]);
            let waiting = count(&[ClusterOutcome::NotStarted]);
            let mut text = format!(
                "{total} {}: {} reconciled",
                if total == 1 { "cluster" } else { "clusters" },
                count(&[ClusterOutcome::Reconciled])
            );
            if failed > 0 {
                text += &format!(", {failed} failed");
            }
            if waiting > 0 {
                text += &format!(", {waiting} not started");
            }
            ui.out(&format!("{text}\n{}\n", summary.join("\n")))?;
        }
    }
    fleet_reconcile::exit_status(&clusters)
}
