//! `status` over a fleet: every cluster's snapshot (crate::flux::overview) merged into one
//! list, failing first across the fleet, or summed up in one line per cluster.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::fleet::{self, Reached};
use crate::flux::ControllersReady;
use crate::flux::overview::{Controllers, Install, Item, Snapshot, all_ready};
use crate::flux::status::State;

/// An object of the fleet view: its cluster first.
#[derive(Debug, Clone, Serialize)]
pub struct FleetItem {
    pub cluster: String,
    #[serde(flatten)]
    pub item: Item,
}

/// A cluster that could not be checked, in JSON and YAML.
#[derive(Debug, Serialize)]
pub struct Unchecked {
    pub cluster: String,
    /// The cause in a few words ("connection refused").
    pub reason: String,
    pub error: String,
}

/// `--summary`: one cluster in one line.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSummary {
    pub cluster: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flux_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flux_namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub controllers: Option<ControllersReady>,
    pub objects: usize,
    pub ready: usize,
    /// Failed or Stalled.
    pub failing: usize,
    pub suspended: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_revision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_state: Option<State>,
    /// What keeps the line from saying everything (Flux not installed, controllers not listed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl ClusterSummary {
    pub fn new(cluster: &str, snapshot: &Snapshot) -> ClusterSummary {
        let count = |wanted: &[State]| {
            snapshot
                .items
                .iter()
                .filter(|i| wanted.contains(&i.status.state))
                .count()
        };
        let mut summary = ClusterSummary {
            cluster: cluster.to_string(),
            flux_version: None,
            flux_namespace: None,
            controllers: None,
            objects: snapshot.items.len(),
            ready: count(&[State::Ready]),
            failing: count(&[State::Failed, State::Stalled]),
            suspended: count(&[State::Suspended]),
            root_revision: snapshot.root.as_ref().and_then(|r| r.revision.clone()),
            root_state: snapshot.root.as_ref().map(|r| r.state),
            note: None,
        };
        match &snapshot.install {
            Some(Install::Found {
                version,
                namespace,
                controllers,
            }) => {
                summary.flux_version = version.clone();
                summary.flux_namespace = Some(namespace.clone());
                match controllers {
                    Controllers::Counted(c) => summary.controllers = Some(*c),
                    Controllers::Forbidden => {
                        summary.note = Some("not allowed to list Deployments".to_string())
                    }
                    Controllers::Failed(err) => summary.note = Some(err.clone()),
                }
            }
            Some(other) => summary.note = Some(other.header().trim_end().to_string()),
            None => {}
        }
        summary
    }
}

/// Exit status 1 when a cluster could not be checked, else 3 with `--fail-if-not-ready` when
/// an object anywhere is not Ready.
pub fn exit_status(failed: Option<Error>, fail_if_not_ready: bool, items: &[Item]) -> Result<()> {
    if let Some(err) = failed {
        return Err(err);
    }
    if fail_if_not_ready {
        return all_ready(items);
    }
    Ok(())
}

/// Every reached cluster's objects, failing first across the fleet; within a state, clusters in
/// the fleet's order, each cluster's objects in its own order.
pub fn merged_items(results: &mut [Reached<Snapshot>]) -> Vec<FleetItem> {
    let mut items: Vec<(usize, FleetItem)> = Vec::new();
    for (index, reached) in results.iter_mut().enumerate() {
        if let Ok(snapshot) = &mut reached.result {
            let cluster = &reached.member.name;
            items.extend(std::mem::take(&mut snapshot.items).into_iter().map(|item| {
                let fleet_item = FleetItem {
                    cluster: cluster.clone(),
                    item,
                };
                (index, fleet_item)
            }));
        }
    }
    // Stable: each cluster's objects keep their (namespace, kind, name) order.
    items.sort_by_key(|(index, i)| (i.item.status.state, *index));
    items.into_iter().map(|(_, item)| item).collect()
}

/// The clusters that could not be checked, with the cause in a few words and in full.
pub fn unchecked<T>(results: &[Reached<T>]) -> Vec<Unchecked> {
    results
        .iter()
        .filter_map(|r| {
            r.result.as_ref().err().map(|err| Unchecked {
                cluster: r.member.name.clone(),
                reason: fleet::brief(err),
                error: err.to_string(),
            })
        })
        .collect()
}
