//! `kubectl gitops history`: the commits that changed a Kustomization's folder, newest first,
//! and what the cluster did with each.

use crate::cli::args::json_or_yaml;
use crate::cli::commands::diff::GitAccessFlags;
use crate::cluster::connection::ConnectionFlags;
use crate::error::{Error, Result};
use crate::flux::KUSTOMIZATION;
use crate::flux::discovery::FluxApis;
use crate::flux::objects::{get, parse_targets};
use crate::preview::build::Kustomization;
use crate::recovery::history::kustomization_history;
use crate::ui::Ui;
use crate::ui::output::OutputFormat;

/// Show the commits that changed a Kustomization's folder on its branch, newest first, with
/// what the cluster did with each: applied (the running one marked *), failed (with the
/// controller's message), not fetched yet, pending, skipped (superseded before it was
/// reconciled), or unknown (older than what Events still tell).
///
/// The branch is read with your own Git setup (ssh-agent and keys, credential helpers, or
/// GIT_PASSWORD for HTTPS) into a private temporary folder removed afterwards.
#[derive(clap::Args)]
pub struct HistoryArgs {
    /// `ks <name>` or `ks/<name>`
    #[arg(value_name = "OBJECT", num_args = 1..=2, required = true)]
    pub(crate) target: Vec<String>,
    /// How many commits to show
    #[arg(long, value_name = "N", default_value_t = 20)]
    limit: usize,
    #[command(flatten)]
    pub(crate) git: GitAccessFlags,
    /// Print the history as JSON or YAML
    #[arg(short = 'o', long, value_name = "FORMAT", value_parser = json_or_yaml())]
    output: Option<OutputFormat>,
    #[command(flatten)]
    pub(crate) connection: ConnectionFlags,
}

/// The Kustomization named by `<kind> <name>` or `<kind>/<name>`, checked before any request.
pub fn kustomization_name(words: &[String], command: &str) -> Result<String> {
    let (_, targets) = parse_targets(words)?;
    match targets.as_slice() {
        [target] if target.kind.kind == KUSTOMIZATION.kind => Ok(target.name.clone()),
        [target] => Err(Error::InvalidUsage(format!(
            "{command} works on Kustomizations (their folder in Git); {} is a {}",
            target.name, target.kind.kind
        ))),
        _ => Err(Error::InvalidUsage(format!(
            "name one Kustomization: {command} ks <name>"
        ))),
    }
}

pub async fn run(args: HistoryArgs, ui: &Ui) -> Result<()> {
    let name = kustomization_name(&args.target, "history")?;
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
    ui.progress().busy(format!(
        "reading the history of {}",
        kustomization.display_name()
    ));
    let history = kustomization_history(
        &connection,
        &object,
        &kustomization,
        &args.git.access(),
        args.limit,
    )
    .await;
    ui.progress().pause();
    let history = history?;
    ui.report(args.output, &history, |h| h.text(jiff::Timestamp::now()))
}
