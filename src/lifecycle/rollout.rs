//! Waiting for the Flux controller Deployments to become available, by watching them: done as
//! soon as the last one is available, failed as soon as one reports that its rollout cannot
//! finish (Progressing=False, e.g. ProgressDeadlineExceeded, or ReplicaFailure=True).

use std::collections::BTreeMap;
use std::time::Instant;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;

use crate::cluster::connection::Connection;
use crate::cluster::deployment::{Rollout, rollout};
use crate::cluster::explain::{Responders, Tell, explained};
use crate::cluster::wait::{Observed, Selector, Waited, Watched, watch_until};
use crate::error::{Error, Result};
use crate::flux::labels;

/// Watches the Deployments named `components` in `namespace` until all are available, telling
/// `tell` what their Pods say while they are not ([`crate::cluster::explain`]).
pub async fn wait_available(
    connection: &Connection,
    namespace: &str,
    components: &[String],
    deadline: Instant,
    tell: Tell<'_>,
) -> Result<()> {
    let watched = Watched {
        api: Api::namespaced(connection.client.clone(), namespace),
        resource: "deployments.apps".to_string(),
        selector: Selector::Labels(format!("{}=flux", labels::PART_OF)),
    };
    let mut rollouts = Rollouts::new(components);
    let verdict = |observed: &Observed<Deployment>| rollouts.observe(observed);
    let responders = Responders {
        namespace: namespace.to_string(),
        deployments: components.to_vec(),
    };
    let awaited = format!(
        "the Flux controllers to be available ({})",
        components.join(", ")
    );
    let (waited, unavailable) = explained(
        connection,
        &responders,
        &|| awaited.clone(),
        tell,
        watch_until(connection, watched, verdict, deadline),
    )
    .await;
    match waited? {
        Waited::Decided(Ok(())) => Ok(()),
        Waited::Decided(Err(Stuck { name, message })) => Err(Error::RolloutStuck {
            namespace: namespace.to_string(),
            name,
            message,
        }),
        Waited::TimedOut { .. } => Err(Error::RolloutTimedOut {
            namespace: namespace.to_string(),
            pending: rollouts.pending().join(", "),
            likely_cause: (!unavailable.is_empty())
                .then(|| unavailable.into_values().collect::<Vec<_>>().join("; ")),
        }),
    }
}

/// A Deployment whose rollout cannot finish, with the deployment controller's message.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stuck {
    name: String,
    message: String,
}

/// The rollout of each awaited Deployment, as last observed.
struct Rollouts {
    states: BTreeMap<String, Rollout>,
}

impl Rollouts {
    fn new(components: &[String]) -> Rollouts {
        let not_created = || Rollout::InProgress("not created yet".to_string());
        Rollouts {
            states: components
                .iter()
                .map(|c| (c.clone(), not_created()))
                .collect(),
        }
    }

    /// Takes in one observation: `Ok` once every Deployment is available, `Err` as soon as
    /// one cannot roll out, `None` while waiting. Deployments not awaited, and deletions, are
    /// ignored.
    fn observe(&mut self, observed: &Observed<Deployment>) -> Option<Result<(), Stuck>> {
        let Observed::Applied(deployment) = observed else {
            return None;
        };
        let name = deployment.metadata.name.clone().unwrap_or_default();
        let state = self.states.get_mut(&name)?;
        *state = rollout(deployment);
        if let Rollout::Failed(message) = state {
            let message = message.clone();
            return Some(Err(Stuck { name, message }));
        }
        self.states
            .values()
            .all(|s| *s == Rollout::Available)
            .then_some(Ok(()))
    }

    /// `name (why)` for each Deployment not available yet.
    fn pending(&self) -> Vec<String> {
        self.states
            .iter()
            .filter_map(|(name, state)| match state {
                Rollout::InProgress(why) => Some(format!("{name} ({why})")),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(name: &str, available: i32) -> Observed<Deployment> {
        Observed::Applied(
            serde_json::from_value(json!({
                "metadata": {"name": name, "generation": 1},
                "spec": {"replicas": 1, "selector": {}, "template": {}},
                "status": {"observedGeneration": 1, "updatedReplicas": 1,
                           "availableReplicas": available},
            }))
            .unwrap(),
        )
    }

    #[test]
    fn done_when_every_awaited_deployment_is_available() {
        let mut rollouts = Rollouts::new(&["a".to_string(), "b".to_string()]);
        assert_eq!(rollouts.observe(&deployment("a", 1)), None);
        assert_eq!(rollouts.observe(&deployment("other", 0)), None);
        assert_eq!(rollouts.pending(), ["b (not created yet)"]);
        assert_eq!(rollouts.observe(&deployment("b", 0)), None);
        assert_eq!(rollouts.pending(), ["b (0 of 1 replicas available)"]);
        assert_eq!(rollouts.observe(&deployment("b", 1)), Some(Ok(())));
    }

    #[test]
    fn a_stuck_deployment_fails_at_once() {
        let mut rollouts = Rollouts::new(&["a".to_string()]);
        let stuck: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "a", "generation": 1},
            "status": {"conditions": [{"type": "ReplicaFailure", "status": "True",
                "reason": "FailedCreate", "message": "quota exceeded"}]},
        }))
        .unwrap();
        assert_eq!(
            rollouts.observe(&Observed::Applied(stuck)),
            Some(Err(Stuck {
                name: "a".into(),
                message: "quota exceeded".into()
            }))
        );
    }
}
