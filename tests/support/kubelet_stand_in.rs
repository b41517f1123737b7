//! The kubelet stand-in. The test control plane has no kubelet, scheduler or deployment
//! controller, so no Pod ever runs and no Deployment ever becomes Available. This task stands in
//! for the kubelet plus the deployment controller: it watches the Deployments of one namespace
//! and writes, through the `/status` subresource, what they would write: all replicas updated,
//! ready and available (Available=True, Progressing=True with reason NewReplicaSetAvailable)
//! for the current generation, but ONLY while a readiness predicate says the process that
//! plays the Deployment's Pods is up (e.g. a Flux controller's host process answers `/readyz`).
//! Otherwise it writes what they write for Pods that are not ready: no replica available.
//! It re-checks on every change of a Deployment and every half second, so a new generation or
//! a process that comes up or goes down is reflected promptly.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};

/// Answers whether the process behind the Deployment of this name is ready.
pub type Readiness = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// How often the predicate is asked again when no Deployment changed.
const RECHECK_EVERY: Duration = Duration::from_millis(500);

pub struct KubeletStandIn {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for KubeletStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl KubeletStandIn {
    /// Starts standing in for the kubelet for the Deployments of `namespace`. Runs on the
    /// current tokio runtime until dropped.
    pub fn start(client: kube::Client, namespace: &str, ready: Readiness) -> KubeletStandIn {
        let api: Api<Deployment> = Api::namespaced(client, namespace);
        let task = tokio::spawn(async move {
            let (store, writer) = reflector::store();
            // With backoff, a failing watch waits between attempts instead of spinning.
            let mut changes = reflector(writer, watcher(api.clone(), watcher::Config::default()))
                .default_backoff()
                .boxed();
            let mut tick = tokio::time::interval(RECHECK_EVERY);
            loop {
                tokio::select! {
                    change = changes.next() => if change.is_none() { return },
                    _ = tick.tick() => {}
                }
                for deployment in store.state() {
                    sync(&api, &deployment, &ready).await;
                }
            }
        });
        KubeletStandIn { task }
    }
}

/// Writes the status `deployment` would have now, unless it has it already.
async fn sync(api: &Api<Deployment>, deployment: &Deployment, ready: &Readiness) {
    let Some(name) = deployment.metadata.name.clone() else {
        return;
    };
    let predicate = ready.clone();
    let asked = name.clone();
    // The predicate may block (an HTTP probe): keep it off the runtime's worker threads.
    let is_ready = tokio::task::spawn_blocking(move || predicate(&asked))
        .await
        .unwrap_or(false);
    let generation = deployment.metadata.generation.unwrap_or(1);
    let replicas = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    if has_status(deployment, generation, replicas, is_ready) {
        return;
    }
    let patch = status_patch(&name, generation, replicas, is_ready);
    if let Err(err) = api
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        eprintln!("kubelet stand-in: status patch of Deployment {name} failed: {err}");
    }
}

/// Whether the Deployment already shows `generation` rolled out with all `replicas`
/// available (`ready`) or none available (not `ready`).
fn has_status(deployment: &Deployment, generation: i64, replicas: i32, ready: bool) -> bool {
    let Some(status) = &deployment.status else {
        return false;
    };
    let available = if ready { replicas } else { 0 };
    let condition = |type_: &str| {
        status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == type_)
            .map(|c| c.status.as_str())
    };
    status.observed_generation == Some(generation)
        && status.available_replicas.unwrap_or(0) == available
        && status.ready_replicas.unwrap_or(0) == available
        && status.updated_replicas == Some(replicas)
        && condition("Available") == Some(if ready { "True" } else { "False" })
}

/// The status the deployment controller writes once the kubelet reports the Pods of the new
/// ReplicaSet ready (`ready`) or not yet ready.
pub fn status_patch(name: &str, generation: i64, replicas: i32, ready: bool) -> serde_json::Value {
    let now = jiff::Timestamp::now().to_string();
    let condition = |type_: &str, status: &str, reason: &str, message: &str| {
        serde_json::json!({"type": type_, "status": status, "reason": reason, "message": message,
            "lastUpdateTime": now, "lastTransitionTime": now})
    };
    let replica_set = format!("{name}-{generation}");
    let (available, conditions) = if ready {
        (
            replicas,
            serde_json::json!([
                condition(
                    "Available",
                    "True",
                    "MinimumReplicasAvailable",
                    "Deployment has minimum availability."
                ),
                condition(
                    "Progressing",
                    "True",
                    "NewReplicaSetAvailable",
                    &format!("ReplicaSet \"{replica_set}\" has successfully progressed.")
                ),
            ]),
        )
    } else {
        (
            0,
            serde_json::json!([
                condition(
                    "Available",
                    "False",
                    "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability."
                ),
                condition(
                    "Progressing",
                    "True",
                    "ReplicaSetUpdated",
                    &format!("ReplicaSet \"{replica_set}\" is progressing.")
                ),
            ]),
        )
    };
    let mut status = serde_json::json!({
        "observedGeneration": generation,
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": available,
        "availableReplicas": available,
        "conditions": conditions,
    });
    if available < replicas {
        status["unavailableReplicas"] = (replicas - available).into();
    } else {
        // A merge patch keeps fields it does not mention: drop the count from before.
        status["unavailableReplicas"] = serde_json::Value::Null;
    }
    serde_json::json!({ "status": status })
}
