//! Waiting for the Flux controller Deployments to become available, by watching them: done as
//! soon as the last one is available, failed as soon as one reports that its rollout cannot
//! finish (Progressing=False, e.g. ProgressDeadlineExceeded, or ReplicaFailure=True).

use std::collections::BTreeMap;
use std::time::Instant;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};

use crate::cluster::connection::Connection;
use crate::error::{Error, Result};
use crate::flux::labels;

/// A Deployment's rollout, as the deployment controller reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    Available,
    InProgress(String),
    Failed(String),
}

/// Reads the rollout state the way `kubectl rollout status` does.
pub fn rollout(deployment: &Deployment) -> Rollout {
    let want = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    let Some(status) = deployment.status.as_ref() else {
        return Rollout::InProgress("no status yet".to_string());
    };
    let conditions = status.conditions.as_deref().unwrap_or_default();
    for c in conditions {
        let failed = (c.type_ == "Progressing" && c.status == "False")
            || (c.type_ == "ReplicaFailure" && c.status == "True");
        if failed {
            return Rollout::Failed(
                c.message
                    .clone()
                    .or_else(|| c.reason.clone())
                    .unwrap_or_else(|| c.type_.clone()),
            );
        }
    }
    let current = status.observed_generation >= deployment.metadata.generation;
    let updated = status.updated_replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    if current && updated >= want && available >= want {
        Rollout::Available
    } else {
        Rollout::InProgress(format!("{available} of {want} replicas available"))
    }
}

/// Watches the Deployments named `components` in `namespace` until all are available.
pub async fn wait_available(
    connection: &Connection,
    namespace: &str,
    components: &[String],
    deadline: Instant,
) -> Result<()> {
    let api: Api<Deployment> = Api::namespaced(connection.client.clone(), namespace);
    let config = watcher::Config::default().labels(&format!("{}=flux", labels::PART_OF));
    let mut stream = watcher(api, config)
        .default_backoff()
        .applied_objects()
        .boxed();
    let mut states: BTreeMap<String, Rollout> = components
        .iter()
        .map(|c| {
            (
                c.clone(),
                Rollout::InProgress("not created yet".to_string()),
            )
        })
        .collect();
    let watching = async {
        while let Some(event) = stream.next().await {
            let deployment = match event {
                Ok(d) => d,
                Err(err) => {
                    tracing::debug!("watch on deployments failed, retrying: {err}");
                    continue;
                }
            };
            let name = deployment.metadata.name.clone().unwrap_or_default();
            let Some(state) = states.get_mut(&name) else {
                continue;
            };
            *state = rollout(&deployment);
            if let Rollout::Failed(message) = state {
                return Err(Error::Output(format!(
                    "Deployment {namespace}/{name} cannot roll out: {message}; see kubectl -n {namespace} describe deployment {name}"
                )));
            }
            if states.values().all(|s| *s == Rollout::Available) {
                return Ok(());
            }
        }
        Err(Error::Output(format!(
            "the watch on Deployments in namespace {namespace} ended; run kubectl gitops check to see the controllers"
        )))
    };
    let remaining = deadline.saturating_duration_since(Instant::now());
    match tokio::time::timeout(remaining, watching).await {
        Ok(result) => result,
        Err(_) => {
            let pending: Vec<String> = states
                .iter()
                .filter_map(|(name, state)| match state {
                    Rollout::InProgress(why) => Some(format!("{name} ({why})")),
                    _ => None,
                })
                .collect();
            Err(Error::Output(format!(
                "Flux controllers not available in time: {}; see kubectl -n {namespace} get pods",
                pending.join(", ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(status: serde_json::Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "source-controller", "generation": 2},
            "spec": {"replicas": 1, "selector": {}, "template": {}},
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn available_needs_the_current_generation_and_all_replicas() {
        let ok = json!({"observedGeneration": 2, "updatedReplicas": 1, "availableReplicas": 1});
        assert_eq!(rollout(&deployment(ok)), Rollout::Available);
        let old = json!({"observedGeneration": 1, "updatedReplicas": 1, "availableReplicas": 1});
        assert!(matches!(rollout(&deployment(old)), Rollout::InProgress(_)));
        let none = json!({"observedGeneration": 2, "updatedReplicas": 1, "availableReplicas": 0});
        assert!(matches!(rollout(&deployment(none)), Rollout::InProgress(_)));
    }

    #[test]
    fn a_stuck_rollout_fails_with_its_message() {
        let stuck = json!({"observedGeneration": 2, "conditions": [{"type": "Progressing",
            "status": "False", "reason": "ProgressDeadlineExceeded",
            "message": "ReplicaSet \"x\" has timed out progressing."}]});
        assert_eq!(
            rollout(&deployment(stuck)),
            Rollout::Failed("ReplicaSet \"x\" has timed out progressing.".into())
        );
    }
}
