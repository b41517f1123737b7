//! `reconcile` over a fleet: each cluster's run (crate::flux::reconcile::reconcile_cluster)
//! judged as one outcome, and the fleet's exit status.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::fleet::{self, Member};
use crate::flux::reconcile::{ClusterRun, Report};

/// What happened in one cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ClusterOutcome {
    /// Every selected object reconciled (or none matched).
    Reconciled,
    /// An object failed, or the cluster's selection did.
    Failed,
    /// The cluster could not be reached.
    Unreachable,
    /// `--rollout` stopped before this cluster.
    NotStarted,
}

/// One cluster's reconcile as `-o json|yaml` shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterReport {
    pub cluster: String,
    pub outcome: ClusterOutcome,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reports: Vec<Report>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

impl ClusterReport {
    /// A cluster that ran: its reports and the errors of objects that could not be reconciled.
    pub fn ran(cluster: &str, run: ClusterRun) -> ClusterReport {
        let outcome = if run.tally().failed == 0 {
            ClusterOutcome::Reconciled
        } else {
            ClusterOutcome::Failed
        };
        let mut report = ClusterReport {
            cluster: cluster.to_string(),
            outcome,
            reports: Vec::new(),
            errors: Vec::new(),
        };
        for result in run.results {
            match result {
                Ok(one) => report.reports.push(one),
                Err(err) => report.errors.push(err.to_string()),
            }
        }
        report
    }

    /// A cluster whose connection or selection failed.
    pub fn not_reached(cluster: &str, err: &Error) -> ClusterReport {
        ClusterReport {
            cluster: cluster.to_string(),
            outcome: if fleet::is_unreachable(err) {
                ClusterOutcome::Unreachable
            } else {
                ClusterOutcome::Failed
            },
            reports: Vec::new(),
            errors: vec![err.to_string()],
        }
    }

    /// A cluster `--rollout` did not start.
    pub fn not_started(member: &Member) -> ClusterReport {
        ClusterReport {
            cluster: member.name.clone(),
            outcome: ClusterOutcome::NotStarted,
            reports: Vec::new(),
            errors: Vec::new(),
        }
    }
}

/// Exit status 1 naming every cluster that did not reconcile (failed, unreachable or not
/// started).
pub fn exit_status(clusters: &[ClusterReport]) -> Result<()> {
    let names: Vec<&str> = clusters
        .iter()
        .filter(|c| c.outcome != ClusterOutcome::Reconciled)
        .map(|c| c.cluster.as_str())
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    Err(fleet::Error::ClustersNotReconciled {
        failed: names.len(),
        total: clusters.len(),
        names: names.join(", "),
    }
    .into())
}
