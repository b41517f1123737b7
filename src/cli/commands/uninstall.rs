//! `kubectl gitops uninstall`.

use crate::cli::args::flux_namespace;
use crate::cluster::connection::ConnectionFlags;
use crate::error::Result;
use crate::lifecycle::uninstall::{UninstallOptions, uninstall};
use crate::ui::Ui;

/// Remove Flux from the cluster: its controllers, RBAC, the finalizers of every Flux object,
/// the CRDs (and with them every Flux object) and, unless --keep-namespace, its namespace.
/// What Flux applied from Git (your workloads) stays.
#[derive(clap::Args)]
pub struct UninstallArgs {
    /// Keep the namespace Flux runs in
    #[arg(long)]
    keep_namespace: bool,
    /// Show what would be removed; the API server validates each deletion but keeps everything
    #[arg(long)]
    dry_run: bool,
    /// Do not ask for confirmation
    #[arg(short = 'y', long, alias = "silent")]
    yes: bool,
    #[command(flatten)]
    connection: ConnectionFlags,
}

pub async fn run(args: UninstallArgs, ui: &Ui) -> Result<()> {
    let namespace = flux_namespace(&args.connection);
    let connection = args.connection.connect().await?;
    if !args.dry_run {
        let what = match crate::flux::installed(&connection).await? {
            Some(install) if install.managed_by.is_some() => format!(
                "Flux is managed by {}. Delete Flux and its CRDs (and with them every Flux object in the cluster) anyway?",
                install.managed_by.unwrap_or_default()
            ),
            _ => "Delete Flux and its CRDs (and with them every Flux object in the cluster)?"
                .to_string(),
        };
        ui.confirm(&what, args.yes)?;
    }
    let options = UninstallOptions {
        namespace,
        keep_namespace: args.keep_namespace,
        dry_run: args.dry_run,
    };
    let removed = uninstall(&connection, &options, ui.progress()).await?;
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    ui.out(&format!("{verb} {} objects\n", removed.len()))
}
