//! `kubectl gitops reconcile`, `suspend` and `resume`.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use futures::future::join_all;

use crate::cluster::connection::{Connection, ConnectionFlags};
use crate::error::{Error, Result};
use crate::flux::discovery::FluxApis;
use crate::flux::objects::{FluxObject, Selection, SelectionArgs, select};
use crate::flux::reconcile::{Options, Outcome, Report, reconcile};
use crate::flux::status::{is_suspended, short_revision};
use crate::ui::output;

/// Which objects: names, or a bulk selection.
#[derive(clap::Args)]
pub struct SelectionFlags {
    /// `<kind> <name>...` or `<kind>/<name>...` (with --all or -l: optionally a kind)
    #[arg(value_name = "OBJECT")]
    targets: Vec<String>,
    /// Every object (of the given kind, or of every kind) in the namespace
    #[arg(long)]
    all: bool,
    /// Select objects by label (e.g. app=web)
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    selector: Option<String>,
    /// With --all or -l: in all namespaces
    #[arg(short = 'A', long)]
    all_namespaces: bool,
}

impl SelectionFlags {
    fn to_args(&self) -> SelectionArgs {
        SelectionArgs {
            targets: self.targets.clone(),
            label_selector: self.selector.clone(),
            all: self.all,
            all_namespaces: self.all_namespaces,
        }
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportOutput {
    Json,
    Yaml,
}

/// How to wait, shared by reconcile and resume.
#[derive(clap::Args)]
pub struct WaitFlags {
    /// How long to wait for each object (e.g. 30s, 5m)
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    timeout: String,
    /// Only request; do not wait for the controllers
    #[arg(long)]
    no_wait: bool,
    /// Print the results as JSON or YAML (default: one line per object)
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT")]
    output: Option<ReportOutput>,
}

impl WaitFlags {
    fn timeout(&self) -> Result<Duration> {
        crate::cli::parse_duration("--timeout", &self.timeout)
    }
}

/// Ask the Flux controllers to reconcile objects now (through reconcile.fluxcd.io/requestedAt)
/// and wait, watching, until they have. Fails as soon as an object fails.
///
/// Exit status: 0 when every object reconciled, 1 otherwise.
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
    #[command(flatten)]
    wait: WaitFlags,
    #[command(flatten)]
    connection: ConnectionFlags,
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

async fn resolve(
    connection: &ConnectionFlags,
    selection: &SelectionFlags,
    reconcilable_only: bool,
) -> Result<(Connection, FluxApis, Selection)> {
    let connection = connection.connect().await?;
    let apis = FluxApis::discover(&connection).await?;
    let selected = select(&connection, &apis, &selection.to_args(), |k| {
        !reconcilable_only || k.reconcilable
    })
    .await?;
    for warning in &selected.warnings {
        eprintln!("warning: {warning}");
    }
    if selected.objects.is_empty() {
        eprintln!("No Flux objects matched.");
    }
    Ok((connection, apis, selected))
}

/// Progress lines on stderr, only when it is a terminal (so pipelines and logs stay clean).
fn progress_printer() -> impl Fn(&str) + Send + Sync {
    let show = std::io::stderr().is_terminal();
    move |line: &str| {
        if show {
            eprintln!("{line}");
        }
    }
}

pub async fn run_reconcile(args: ReconcileArgs, out: &mut dyn Write) -> Result<()> {
    let (connection, apis, selected) = resolve(&args.connection, &args.selection, true).await?;
    if (args.force || args.reset)
        && let Some(other) = selected
            .objects
            .iter()
            .find(|o| o.kind.kind != "HelmRelease")
    {
        return Err(Error::Usage(format!(
            "--force and --reset apply to HelmReleases only, and {} is a {}",
            other.name(),
            other.kind.kind
        )));
    }
    let options = Options {
        with_source: args.with_source,
        force: args.force,
        reset: args.reset,
        wait: !args.wait.no_wait,
        timeout: args.wait.timeout()?,
    };
    let progress = progress_printer();
    let results = join_all(selected.objects.iter().map(|object| async {
        if !selected.named && is_suspended(&object.object) {
            return Ok(skipped(object));
        }
        reconcile(&connection, &apis, object, &options, &progress).await
    }))
    .await;
    finish(results, args.wait.output, out)
}

pub async fn run_suspend(args: SuspendArgs, out: &mut dyn Write) -> Result<()> {
    let (connection, apis, selected) = resolve(&args.connection, &args.selection, false).await?;
    let results = join_all(
        selected
            .objects
            .iter()
            .map(|object| crate::flux::suspend::suspend(&connection, &apis, object)),
    )
    .await;
    let total = results.len();
    let mut failed = 0;
    for (object, result) in selected.objects.iter().zip(results) {
        match result {
            Ok(()) => crate::cli::write_out(
                out,
                &format!(
                    "✔ {} in namespace {} suspended\n",
                    object.display_name(),
                    object.namespace()
                ),
            )?,
            // One object: its error is the command's error, printed once by the caller.
            Err(err) if total == 1 => return Err(err),
            Err(err) => {
                failed += 1;
                eprintln!("✗ {}: {err}", object.display_name());
            }
        }
    }
    if failed > 0 {
        return Err(Error::SomeFailed { failed, total });
    }
    Ok(())
}

pub async fn run_resume(args: ResumeArgs, out: &mut dyn Write) -> Result<()> {
    let (connection, apis, selected) = resolve(&args.connection, &args.selection, false).await?;
    let options = Options {
        with_source: false,
        force: false,
        reset: false,
        wait: !args.wait.no_wait,
        timeout: args.wait.timeout()?,
    };
    let progress = progress_printer();
    let results = join_all(selected.objects.iter().map(|object| {
        crate::flux::suspend::resume(&connection, &apis, object, &options, &progress)
    }))
    .await;
    finish(results, args.wait.output, out)
}

fn skipped(object: &FluxObject) -> Report {
    Report {
        kind: object.kind.kind,
        name: object.name().to_string(),
        namespace: object.namespace().to_string(),
        outcome: Outcome::Skipped {
            reason: "suspended".to_string(),
        },
        elapsed_seconds: 0.0,
        source: None,
    }
}

/// Prints every report (a line each, or one JSON/YAML list) and a summary, and turns failures
/// into the exit status. A single object's error is returned as it is.
fn finish(
    results: Vec<Result<Report>>,
    format: Option<ReportOutput>,
    out: &mut dyn Write,
) -> Result<()> {
    let total = results.len();
    if total == 1 && results[0].is_err() {
        return results.into_iter().next().map_or(Ok(()), |r| r.map(|_| ()));
    }
    let mut reports = Vec::new();
    let mut failed = 0;
    for result in results {
        match result {
            Ok(report) => {
                if !report.outcome.is_success() {
                    failed += 1;
                }
                reports.push(report);
            }
            Err(err) => {
                failed += 1;
                eprintln!("✗ {err}");
            }
        }
    }
    match format {
        Some(ReportOutput::Json) => crate::cli::write_out(out, &output::to_json(&reports)?)?,
        Some(ReportOutput::Yaml) => crate::cli::write_out(out, &output::to_yaml(&reports)?)?,
        None => {
            for report in &reports {
                if let Some(source) = &report.source {
                    write_report(source, out)?;
                }
                write_report(report, out)?;
            }
            if total > 1 {
                eprintln!("{} of {total} reconciled, {failed} failed", total - failed);
            }
        }
    }
    if failed > 0 {
        return Err(Error::SomeFailed { failed, total });
    }
    Ok(())
}

fn write_report(report: &Report, out: &mut dyn Write) -> Result<()> {
    let who = format!(
        "{}/{} in namespace {}",
        report.kind, report.name, report.namespace
    );
    let line = match &report.outcome {
        Outcome::Succeeded { revision, .. } => {
            let what = match (report.kind, revision) {
                ("Kustomization", Some(r)) => format!("applied revision {r}"),
                ("HelmRelease", Some(r)) => format!("reconciled chart version {r}"),
                (_, Some(r)) => format!("fetched revision {r}"),
                (_, None) => "reconciled".to_string(),
            };
            format!("✔ {who}: {what} ({:.1}s)\n", report.elapsed_seconds)
        }
        Outcome::Requested => format!("✔ {who}: reconcile requested\n"),
        Outcome::Skipped { reason } => format!("- {who}: skipped ({reason})\n"),
        Outcome::Failed {
            condition,
            reason,
            message,
        } => {
            eprintln!("✗ {who}: {condition} {reason}: {message}");
            return Ok(());
        }
        Outcome::TimedOut {
            timeout_seconds,
            last_ready_status,
            last_reason,
            last_message,
        } => {
            let last = match (last_ready_status, last_reason, last_message) {
                (Some(status), reason, message) => format!(
                    "last Ready condition: {status} {}: {}",
                    reason.as_deref().unwrap_or_default(),
                    message.as_deref().map(short_revision).unwrap_or_default()
                ),
                _ => "the controller wrote no Ready condition (is it running?)".to_string(),
            };
            eprintln!("✗ {who}: not reconciled within {timeout_seconds}s; {last}");
            return Ok(());
        }
    };
    crate::cli::write_out(out, &line)
}
