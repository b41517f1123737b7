//! The one rule for "this Deployment is available", read from its status the way
//! `kubectl rollout status` reads it. `install` and `bootstrap` wait for it, `check` reports
//! it, `status` counts it, so all four agree on what a healthy controller is.

use k8s_openapi::api::apps::v1::Deployment;

/// A Deployment's rollout, as the deployment controller reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    /// The current spec is rolled out and every wanted replica is available.
    Available,
    /// On its way; the text says what is missing.
    InProgress(String),
    /// The deployment controller says it cannot finish (Progressing=False, e.g.
    /// ProgressDeadlineExceeded, or ReplicaFailure=True); the text is its message.
    Failed(String),
}

/// The replicas `deployment` asks for (Kubernetes' default is 1).
pub fn wanted_replicas(deployment: &Deployment) -> i32 {
    deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1)
}

/// Reads where `deployment`'s rollout stands.
pub fn rollout(deployment: &Deployment) -> Rollout {
    let want = wanted_replicas(deployment);
    let status = deployment.status.as_ref();
    let conditions = status
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
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
    let observed = status.and_then(|s| s.observed_generation);
    let current = observed >= deployment.metadata.generation;
    let updated = status.and_then(|s| s.updated_replicas).unwrap_or(0);
    let available = status.and_then(|s| s.available_replicas).unwrap_or(0);
    if available < want {
        Rollout::InProgress(format!("{available} of {want} replicas available"))
    } else if updated < want {
        Rollout::InProgress(format!("{updated} of {want} replicas updated"))
    } else if !current {
        // Replicas of the previous spec: the controller has not picked up the change yet.
        Rollout::InProgress("the latest change is not rolled out yet".to_string())
    } else {
        Rollout::Available
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
    fn available_needs_the_current_generation_and_all_replicas_updated_and_available() {
        let ok = json!({"observedGeneration": 2, "updatedReplicas": 1, "availableReplicas": 1});
        assert_eq!(rollout(&deployment(ok)), Rollout::Available);
        let old = json!({"observedGeneration": 1, "updatedReplicas": 1, "availableReplicas": 1});
        assert_eq!(
            rollout(&deployment(old)),
            Rollout::InProgress("the latest change is not rolled out yet".into())
        );
        let none = json!({"observedGeneration": 2, "updatedReplicas": 1, "availableReplicas": 0});
        assert_eq!(
            rollout(&deployment(none)),
            Rollout::InProgress("0 of 1 replicas available".into())
        );
        let old_pods =
            json!({"observedGeneration": 2, "updatedReplicas": 0, "availableReplicas": 1});
        assert_eq!(
            rollout(&deployment(old_pods)),
            Rollout::InProgress("0 of 1 replicas updated".into())
        );
    }

    #[test]
    fn no_status_yet_means_no_replica_available() {
        let mut fresh = deployment(json!({}));
        fresh.status = None;
        assert_eq!(
            rollout(&fresh),
            Rollout::InProgress("0 of 1 replicas available".into())
        );
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
