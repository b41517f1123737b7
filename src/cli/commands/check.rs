//! `kubectl gitops check`; in fleet mode one row per cluster.

use serde::Serialize;

use crate::cli::args::{flux_namespace, json_or_yaml};
use crate::cluster::connection::{Connection, ConnectionFlags};
use crate::error::{Error, Result};
use crate::fleet::{self, Fleet, FleetFlags, Member};
use crate::lifecycle::check::{Overview, Section, all_passed, check_cluster, overview};
use crate::ui::Ui;
use crate::ui::output::{self, OutputFormat};

/// Check that the cluster can run Flux (--pre) or that the installed Flux is healthy:
/// controllers available, CRDs established with every stored version still served.
///
/// Exit status: 0 when every check passed (in fleet mode: in every cluster), 1 otherwise.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// Check the prerequisites only: Kubernetes >= 1.33 and the permissions to install
    #[arg(long)]
    pre: bool,
    /// Print the checks as JSON or YAML (default: one line per check)
    #[arg(short = 'o', long, value_name = "FORMAT", value_parser = json_or_yaml())]
    output: Option<OutputFormat>,
    #[command(flatten)]
    connection: ConnectionFlags,
    #[command(flatten)]
    fleet: FleetFlags,
}

pub async fn run(args: CheckArgs, ui: &Ui) -> Result<()> {
    if let Some(fleet) = Fleet::from_flags(&args.fleet, &args.connection)? {
        return run_fleet(fleet, &args, ui).await;
    }
    let namespace = flux_namespace(&args.connection);
    let connection = args.connection.connect().await?;
    let sections = check_cluster(&connection, &namespace, args.pre).await?;
    ui.report(args.output, &sections, |sections| to_text(sections))?;
    if all_passed(&sections) {
        Ok(())
    } else {
        let failed = sections
            .iter()
            .flat_map(|s| &s.checks)
            .filter(|c| !c.ok)
            .count();
        Err(Error::ChecksFailed { failed })
    }
}

fn to_text(sections: &[Section]) -> String {
    let mut text = String::new();
    for section in sections {
        text += &format!("► checking {}\n", section.title);
        for check in &section.checks {
            let mark = if check.ok { '✔' } else { '✗' };
            text += &format!("{mark} {}: {}\n", check.name, check.detail);
        }
    }
    if all_passed(sections) {
        text += "✔ all checks passed\n";
    }
    text
}

/// One cluster in `-o json|yaml`: its overview and every check, or why it was not checked.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ClusterChecks {
    cluster: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    overview: Option<Overview>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sections: Option<Vec<Section>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

async fn run_fleet(fleet: Fleet, args: &CheckArgs, ui: &Ui) -> Result<()> {
    let default_namespace = flux_namespace(&args.connection);
    let pre = args.pre;
    let results = fleet
        .run(move |member: Member, connection: Connection| {
            let namespace = member
                .namespace
                .unwrap_or_else(|| default_namespace.clone());
            async move { check_cluster(&connection, &namespace, pre).await }
        })
        .await;
    let headline = fleet::headline(
        results
            .iter()
            .map(|r| (r.member.name.as_str(), r.result.as_ref().err())),
    );
    let mut clusters = Vec::new();
    let mut rows = Vec::new();
    let mut failing = Vec::new();
    for reached in &results {
        let name = reached.member.name.clone();
        match &reached.result {
            Ok(sections) => {
                let overview = overview(sections);
                if !overview.failed.is_empty() {
                    failing.push(name.clone());
                }
                rows.push(vec![
                    name.clone(),
                    overview.kubernetes.clone().unwrap_or_else(|| "-".into()),
                    overview.flux.clone().unwrap_or_else(|| "-".into()),
                    overview
                        .controllers
                        .map_or_else(|| "-".into(), |(ready, total)| format!("{ready}/{total}")),
                    format!("{}/{}", overview.passed, overview.total),
                    overview.failed.join(", "),
                ]);
                clusters.push(ClusterChecks {
                    cluster: name,
                    overview: Some(overview),
                    sections: Some(sections.clone()),
                    error: None,
                });
            }
            Err(err) => {
                ui.line(&format!("cluster {name}: {err}"));
                let mut row = vec![name.clone()];
                row.extend(std::iter::repeat_n("-".to_string(), 4));
                row.push(format!("not checked: {}", fleet::brief(err)));
                rows.push(row);
                clusters.push(ClusterChecks {
                    cluster: name,
                    overview: None,
                    sections: None,
                    error: Some(err.to_string()),
                });
            }
        }
    }
    ui.report(args.output, &clusters, |_| {
        let headers = [
            "cluster",
            "kubernetes",
            "flux",
            "controllers",
            "passed",
            "failing checks",
        ];
        let versions = |pick: fn(&Overview) -> Option<String>| {
            clusters
                .iter()
                .filter_map(|c| c.overview.as_ref())
                .map(pick)
                .collect::<Vec<_>>()
        };
        format!(
            "{headline}\n{}{}",
            output::table(&headers, &rows),
            fleet::skew(&[
                ("kubernetes", versions(|o| o.kubernetes.clone())),
                ("flux", versions(|o| o.flux.clone())),
            ])
        )
    })?;
    if let Some(err) = fleet::clusters_failed(&results) {
        return Err(err);
    }
    if !failing.is_empty() {
        return Err(fleet::Error::ChecksFailedIn {
            failed: failing.len(),
            total: results.len(),
            names: failing.join(", "),
        }
        .into());
    }
    Ok(())
}
