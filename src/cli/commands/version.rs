//! `kubectl gitops version`; in fleet mode one row per cluster.

use serde::Serialize;

use crate::cli::args::json_or_yaml;
use crate::cluster::connection::{Connection, ConnectionFlags};
use crate::error::Result;
use crate::fleet::{self, Fleet, FleetFlags, Member};
use crate::lifecycle::version::{
    ClientVersion, FluxVersion, ServerVersion, VersionReport, client_only, with_cluster,
};
use crate::ui::Ui;
use crate::ui::output::{self, OutputFormat};

#[derive(clap::Args)]
pub struct VersionArgs {
    /// Print the plugin's version only, without contacting a cluster
    #[arg(long)]
    client: bool,
    /// Output format (default: text)
    #[arg(short = 'o', long, value_name = "FORMAT", value_parser = json_or_yaml())]
    output: Option<OutputFormat>,
    #[command(flatten)]
    connection: ConnectionFlags,
    #[command(flatten)]
    fleet: FleetFlags,
}

pub async fn run(args: VersionArgs, ui: &Ui) -> Result<()> {
    if !args.client
        && let Some(fleet) = Fleet::from_flags(&args.fleet, &args.connection)?
    {
        return run_fleet(fleet, &args, ui).await;
    }
    let report = if args.client {
        client_only()
    } else {
        with_cluster(&args.connection.connect().await?).await?
    };
    ui.report(args.output, &report, VersionReport::to_text)
}

/// The fleet in `-o json|yaml`: the plugin once, then each cluster's versions or error.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FleetVersions {
    client_version: ClientVersion,
    clusters: Vec<ClusterVersions>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ClusterVersions {
    cluster: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_version: Option<ServerVersion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flux: Option<FluxVersion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

async fn run_fleet(fleet: Fleet, args: &VersionArgs, ui: &Ui) -> Result<()> {
    let results = fleet
        .run(|_: Member, connection: Connection| async move { with_cluster(&connection).await })
        .await;
    let headline = fleet::headline(
        results
            .iter()
            .map(|r| (r.member.name.as_str(), r.result.as_ref().err())),
    );
    let mut clusters = Vec::new();
    let mut rows = Vec::new();
    let (mut kubernetes, mut flux) = (Vec::new(), Vec::new());
    for reached in &results {
        let name = reached.member.name.clone();
        match &reached.result {
            Ok(report) => {
                let server = report
                    .server_version
                    .as_ref()
                    .map(|s| s.git_version.clone());
                let install = report.flux.as_ref().and_then(|f| f.install.as_ref());
                let version = install.and_then(|i| i.version.clone());
                kubernetes.push(server.clone());
                flux.push(version.clone());
                rows.push(vec![
                    name.clone(),
                    server.unwrap_or_else(|| "-".into()),
                    match install {
                        Some(_) => version.unwrap_or_else(|| "unknown".into()),
                        None => "not installed".into(),
                    },
                    install
                        .and_then(|i| i.namespace.clone())
                        .unwrap_or_else(|| "-".into()),
                    install
                        .and_then(|i| i.managed_by.clone())
                        .unwrap_or_else(|| "-".into()),
                ]);
                clusters.push(ClusterVersions {
                    cluster: name,
                    server_version: report.server_version.clone(),
                    flux: report.flux.clone(),
                    error: None,
                });
            }
            Err(err) => {
                ui.line(&format!("cluster {name}: {err}"));
                let mut row = vec![name.clone()];
                row.extend(std::iter::repeat_n("-".to_string(), 4));
                rows.push(row);
                clusters.push(ClusterVersions {
                    cluster: name,
                    server_version: None,
                    flux: None,
                    error: Some(err.to_string()),
                });
            }
        }
    }
    let all = FleetVersions {
        client_version: ClientVersion::current(),
        clusters,
    };
    ui.report(args.output, &all, |all| {
        let c = &all.client_version;
        format!(
            "kubectl-gitops: {} (commit {}, rustc {}, {})\n{headline}\n{}{}",
            c.version,
            c.git_commit,
            c.rustc_version,
            c.platform,
            output::table(
                &["cluster", "kubernetes", "flux", "namespace", "managed by"],
                &rows
            ),
            fleet::skew(&[("kubernetes", kubernetes.clone()), ("flux", flux.clone())])
        )
    })?;
    match fleet::clusters_failed(&results) {
        Some(err) => Err(err),
        None => Ok(()),
    }
}
