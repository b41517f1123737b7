//! `kubectl gitops history`: the commits that changed a Kustomization's folder, newest first,
//! and what the cluster did with each.

use crate::cli::args::json_or_yaml;
use crate::cli::commands::diff::GitAccessFlags;
use crate::cluster::connection::Connection;
use crate::cluster::connection::ConnectionFlags;
use crate::error::{Error, Result};
use crate::flux::discovery::FluxApis;
use crate::flux::objects::{get, parse_targets};
use crate::flux::{FluxKind, HELM_RELEASE, KUSTOMIZATION};
use crate::preview::source::GitAccess;
use crate::recovery::history::read_history;
use crate::recovery::subject::Subject;
use crate::ui::Ui;
use crate::ui::output::OutputFormat;

/// Show the commits that changed a Kustomization's folder (or the manifest file of a
/// HelmRelease) on its branch, newest first, with what the cluster did with each: applied (the running one marked *), failed (with the
/// controller's message), not fetched yet, pending, skipped (superseded before it was
/// reconciled), or unknown (older than what Events still tell). For a HelmRelease, also its
/// Helm releases (chart version, app version, status) as helm-controller records them.
///
/// The branch is read with your own Git setup (ssh-agent and keys, credential helpers, or
/// GIT_PASSWORD for HTTPS) into a private temporary folder removed afterwards.
#[derive(clap::Args)]
pub struct HistoryArgs {
    /// `ks <name>`, `hr <name>`, `ks/<name>` or `hr/<name>`
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

/// The Kustomization or HelmRelease named by `<kind> <name>` or `<kind>/<name>`, checked
/// before any request.
pub fn recovery_target(words: &[String], command: &str) -> Result<(&'static FluxKind, String)> {
    let (_, targets) = parse_targets(words)?;
    match targets.as_slice() {
        [target] if [KUSTOMIZATION.kind, HELM_RELEASE.kind].contains(&target.kind.kind) => {
            Ok((target.kind, target.name.clone()))
        }
        [target] => Err(Error::InvalidUsage(format!(
            "{command} works on Kustomizations (their folder in Git) and HelmReleases (their manifest file); {} is a {}",
            target.name, target.kind.kind
        ))),
        _ => Err(Error::InvalidUsage(format!(
            "name one object: {command} ks <name> or {command} hr <name>"
        ))),
    }
}

/// The object and what stands behind it in Git (see [`Subject`]).
pub async fn resolve_subject(
    connection: &Connection,
    kind: &'static FluxKind,
    name: &str,
    access: &GitAccess,
) -> Result<Subject> {
    let apis = FluxApis::discover(connection).await?;
    let object = get(connection, apis.require(kind)?, &connection.namespace, name).await?;
    Subject::resolve(connection, object, access).await
}

pub async fn run(args: HistoryArgs, ui: &Ui) -> Result<()> {
    let (kind, name) = recovery_target(&args.target, "history")?;
    let connection = args.connection.connect().await?;
    ui.progress()
        .busy(format!("reading the history of {}/{name}", kind.kind));
    let history = async {
        let subject = resolve_subject(&connection, kind, &name, &args.git.access()).await?;
        read_history(&subject, args.limit).await
    }
    .await;
    ui.progress().pause();
    let history = history?;
    ui.report(args.output, &history, |h| h.text(jiff::Timestamp::now()))
}
