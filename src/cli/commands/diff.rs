//! `kubectl gitops diff ks`: what applying a Kustomization's folder (local, or a branch, tag
//! or commit of its Git source) would change in the cluster.

use std::path::PathBuf;

use secrecy::SecretString;

use crate::cli::args::json_or_yaml;
use crate::cli::commands::build::KustomizationBuildFlags;
use crate::cluster::connection::ConnectionFlags;
use crate::cluster::discovery::Resources;
use crate::error::{Error, Result};
use crate::preview::diff::{ObjectChange, Outcome};
use crate::preview::kustomize::Kubectl;
use crate::preview::plan::{Checkout, DiffReport, diff_kustomization, repository_root};
use crate::preview::source::{GitAccess, fetch_ref, git_source};
use crate::ui::output::OutputFormat;
use crate::ui::{Ui, printable};

/// Show what applying a Kustomization's folder would change in the cluster: objects created,
/// configured (with a diff), pruned, skipped, and dry-run failures, asked of the API server by
/// server-side apply dry runs as kustomize-controller applies.
///
/// --path diffs a local folder; --ref fetches the Kustomization's GitRepository at a branch,
/// tag or commit with your own Git setup and diffs its spec.path: what merging that branch
/// would do. Secret values are masked.
///
/// Exit status (as kubectl diff): 0 no change, 1 changes, 2 or more an error.
#[derive(clap::Args)]
pub struct DiffArgs {
    #[command(flatten)]
    source: KustomizationBuildFlags,
    /// A branch, tag or commit of the Kustomization's GitRepository to diff instead of --path
    #[arg(long = "ref", value_name = "REF", conflicts_with = "path")]
    reference: Option<String>,
    /// Diff the Kustomizations found in the build too (their spec.path in the same checkout)
    #[arg(short = 'r', long)]
    recursive: bool,
    #[command(flatten)]
    git: GitAccessFlags,
    /// Print the list of changes as JSON or YAML (for CI bots)
    #[arg(short = 'o', long, value_name = "FORMAT", value_parser = json_or_yaml())]
    output: Option<OutputFormat>,
    #[command(flatten)]
    connection: ConnectionFlags,
}

/// How the user's Git is reached (diff --ref, history, rollback): their own setup, or
/// HTTPS basic auth with the password from GIT_PASSWORD.
#[derive(clap::Args)]
#[command(next_help_heading = "Git access (your own setup by default)")]
pub struct GitAccessFlags {
    /// User name for an HTTPS Git source (with GIT_PASSWORD)
    #[arg(long, value_name = "NAME", default_value = "git")]
    git_username: String,
    /// Password or token for an HTTPS Git source; from GIT_PASSWORD (a flag would show in the process list)
    #[arg(long, env = "GIT_PASSWORD", hide_env_values = true, hide = true, value_parser = parse_secret)]
    git_password: Option<SecretString>,
    /// PEM file of the certificate authorities of a Git server with a private CA
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    ca_file: Option<PathBuf>,
}

impl GitAccessFlags {
    pub fn access(&self) -> GitAccess {
        GitAccess {
            username: self.git_username.clone(),
            password: self.git_password.clone(),
            ca_file: self.ca_file.clone(),
        }
    }
}

fn parse_secret(value: &str) -> std::result::Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(value))
}

/// Runs the diff; `verbose` (global -v) also lists unchanged objects.
pub async fn run(args: DiffArgs, ui: &Ui, verbose: bool) -> Result<()> {
    diff(args, ui, verbose).await.map_err(|err| match err {
        Error::ChangesFound { .. } | Error::StdoutClosed => err,
        other => Error::DiffFailed(Box::new(other)),
    })
}

async fn diff(args: DiffArgs, ui: &Ui, verbose: bool) -> Result<()> {
    let name = args.source.name()?;
    if args.source.path.is_none() == args.reference.is_none() {
        return Err(Error::InvalidUsage(
            "give the folder to diff: --path <dir> (a local checkout) or --ref <branch|tag|commit> (the Kustomization's Git source at that ref)".to_string(),
        ));
    }
    let kubectl = Kubectl::find()?;
    let connection = args.connection.connect().await?;
    let kustomization = args.source.load(&connection, &name).await?;
    let fetched = match &args.reference {
        Some(reference) => {
            ui.progress().busy(format!("fetching {reference}"));
            let access = args.git.access();
            let fetched = match git_source(&connection, &kustomization, &access).await {
                Ok(source) => fetch_ref(&source, &kustomization, reference).await,
                Err(err) => Err(err),
            };
            ui.progress().pause();
            Some(fetched?)
        }
        None => None,
    };
    let (folder, root) = match &fetched {
        Some(fetched) => (
            fetched.folder.clone(),
            Some(fetched.checkout.root().to_path_buf()),
        ),
        None => {
            let path = args.source.path.clone().unwrap_or_default();
            let root = repository_root(&path);
            (path, root)
        }
    };
    let resources = Resources::discover(&connection).await?;
    ui.progress().busy(format!(
        "building and dry-running {}",
        kustomization.display_name()
    ));
    let report = diff_kustomization(
        &connection,
        &resources,
        &kubectl,
        &kustomization,
        &Checkout {
            folder,
            root: root.as_deref(),
        },
        &args.source.options(),
        args.recursive,
    )
    .await;
    ui.progress().pause();
    let report = report?;
    match args.output {
        Some(format) => ui.report(Some(format), &report, |_| String::new())?,
        None => print_report(ui, &report, verbose)?,
    }
    ui.line(&summary(&report));
    let failed = report.count(Outcome::Failed);
    if failed > 0 {
        return Err(Error::DryRunFailed { failed });
    }
    if report.has_changes() {
        return Err(Error::ChangesFound {
            changed: report
                .changes
                .iter()
                .filter(|c| c.action.is_change())
                .count(),
        });
    }
    Ok(())
}

/// One line per object that matters (and unchanged ones when verbose), a unified diff under
/// each configured object, coloured on a terminal.
pub(crate) fn print_report(ui: &Ui, report: &DiffReport, verbose: bool) -> Result<()> {
    let colour = ui.stdout_is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let several = report
        .changes
        .iter()
        .any(|c| c.kustomization != report.changes[0].kustomization);
    let mut out = String::new();
    let mut current = "";
    for change in &report.changes {
        if change.action == Outcome::Unchanged && !verbose {
            continue;
        }
        if several && change.kustomization != current {
            current = &change.kustomization;
            out.push_str(&format!("Kustomization {}:\n", printable(current)));
        }
        out.push_str(&printable(&line(change)));
        out.push('\n');
        if change.action == Outcome::Configured {
            out.push_str(&change.unified_diff(colour));
        }
    }
    for note in &report.notes {
        out.push_str(&format!("! {}\n", printable(note)));
    }
    ui.out_raw(out.as_bytes())
}

fn line(change: &ObjectChange) -> String {
    let symbol = if change.action == Outcome::Failed {
        '✗'
    } else {
        '►'
    };
    match &change.reason {
        Some(reason) => format!(
            "{symbol} {} {}: {reason}",
            change.object,
            change.action.as_str()
        ),
        None => format!("{symbol} {} {}", change.object, change.action.as_str()),
    }
}

/// `2 created, 1 configured, ...`: the counts that are not zero.
fn summary(report: &DiffReport) -> String {
    let counts: Vec<String> = [
        Outcome::Created,
        Outcome::Configured,
        Outcome::Pruned,
        Outcome::Unchanged,
        Outcome::Skipped,
        Outcome::Failed,
    ]
    .iter()
    .map(|outcome| (outcome, report.count(*outcome)))
    .filter(|(_, count)| *count > 0)
    .map(|(outcome, count)| format!("{count} {}", outcome.as_str()))
    .collect();
    if counts.is_empty() {
        "no objects in the build".to_string()
    } else {
        counts.join(", ")
    }
}
