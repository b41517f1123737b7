//! Whether any Kubernetes object is healthy, read from its status the way kstatus (the library
//! Flux's health checks use) reads it: generic rules for every kind (being deleted, spec not yet
//! observed, Reconciling/Stalled/Ready conditions) and a rule of its own for the built-in kinds
//! whose status has no conditions to say so. Deployments use the one rollout rule of
//! [`super::deployment`], so `tree` agrees with `install`, `check` and `status`.

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde_json::Value;

use super::deployment::{Rollout, rollout};

/// How long a Pod may stay unschedulable before that counts as a failure rather than the
/// scheduler still looking.
const SCHEDULING_GRACE: SignedDuration = SignedDuration::from_secs(15);

/// kstatus' verdicts, failing ones first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Health {
    /// It reports that it cannot get where its spec asks.
    Failed,
    /// It does not exist.
    NotFound,
    /// It is being deleted.
    Terminating,
    /// Its status could not be read.
    Unknown,
    /// On its way to what its spec asks.
    InProgress,
    /// It is what its spec asks.
    Current,
}

impl std::fmt::Display for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Health::Failed => "Failed",
            Health::NotFound => "NotFound",
            Health::Terminating => "Terminating",
            Health::Unknown => "Unknown",
            Health::InProgress => "InProgress",
            Health::Current => "Current",
        })
    }
}

/// A verdict and the words that explain it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    pub health: Health,
    pub message: String,
}

impl Assessment {
    pub fn new(health: Health, message: impl Into<String>) -> Assessment {
        Assessment {
            health,
            message: message.into(),
        }
    }
}

/// Assesses `object` (its `metadata`, `spec` and `status`, as the API server returns them) of
/// `group`/`kind`.
pub fn assess(group: &str, kind: &str, object: &Value) -> Assessment {
    assess_at(group, kind, object, Timestamp::now())
}

/// [`assess`] at a given time (a Pod's scheduling grace is measured from its creation).
pub fn assess_at(group: &str, kind: &str, object: &Value, now: Timestamp) -> Assessment {
    if let Some(generic) = generic(kind, object) {
        return generic;
    }
    let specific = match (group, kind) {
        ("apps" | "extensions", "Deployment") => Some(deployment(object)),
        ("apps", "StatefulSet") => Some(stateful_set(object)),
        ("apps" | "extensions", "DaemonSet") => Some(daemon_set(object)),
        ("apps" | "extensions", "ReplicaSet") => Some(replica_set(object)),
        ("", "Pod") => Some(pod(object, now)),
        ("batch", "Job") => Some(job(object)),
        ("batch", "CronJob") | ("", "ConfigMap" | "Secret") => {
            Some(Assessment::new(Health::Current, "Resource is always ready"))
        }
        ("", "PersistentVolumeClaim") => Some(persistent_volume_claim(object)),
        ("", "Service") => Some(service(object)),
        ("", "Namespace") => namespace(object),
        ("policy", "PodDisruptionBudget") => Some(Assessment::new(
            Health::Current,
            "AllowedDisruptions has been computed",
        )),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => Some(crd(object)),
        _ => None,
    };
    specific.unwrap_or_else(|| ready_fallback(object))
}

fn int(value: &Value) -> Option<i64> {
    value.as_i64()
}

fn conditions(object: &Value) -> &[Value] {
    object["status"]["conditions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn condition<'a>(object: &'a Value, type_: &str) -> Option<&'a Value> {
    conditions(object).iter().find(|c| c["type"] == type_)
}

fn condition_is(object: &Value, type_: &str, status: &str) -> bool {
    condition(object, type_).is_some_and(|c| c["status"] == status)
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

/// The rules for every kind, before its own: deletion, an unobserved spec, and the
/// Reconciling/Stalled conditions (the first that is True decides).
fn generic(kind: &str, object: &Value) -> Option<Assessment> {
    if object["metadata"]["deletionTimestamp"].is_string() {
        return Some(Assessment::new(
            Health::Terminating,
            "Resource scheduled for deletion",
        ));
    }
    let generation = int(&object["metadata"]["generation"]);
    let observed = int(&object["status"]["observedGeneration"]);
    if let (Some(generation), Some(observed)) = (generation, observed)
        && generation != observed
    {
        return Some(Assessment::new(
            Health::InProgress,
            format!(
                "{kind} generation is {generation}, but latest observed generation is {observed}"
            ),
        ));
    }
    conditions(object)
        .iter()
        .filter(|c| c["status"] == "True")
        .find_map(|c| match text(&c["type"]) {
            "Reconciling" => Some(Assessment::new(Health::InProgress, text(&c["message"]))),
            "Stalled" => Some(Assessment::new(Health::Failed, text(&c["message"]))),
            _ => None,
        })
}

/// For kinds without a rule of their own: the Ready condition if there is one.
fn ready_fallback(object: &Value) -> Assessment {
    match condition(object, "Ready") {
        Some(c) if c["status"] == "True" => Assessment::new(Health::Current, "Resource is Ready"),
        Some(c) => Assessment::new(Health::InProgress, text(&c["message"])),
        None => Assessment::new(Health::Current, "Resource is current"),
    }
}

fn deployment(object: &Value) -> Assessment {
    let want = int(&object["spec"]["replicas"]).unwrap_or(1);
    let typed = Deployment {
        metadata: ObjectMeta {
            generation: int(&object["metadata"]["generation"]),
            ..ObjectMeta::default()
        },
        spec: Some(DeploymentSpec {
            replicas: i32::try_from(want).ok(),
            ..DeploymentSpec::default()
        }),
        status: serde_json::from_value::<DeploymentStatus>(object["status"].clone()).ok(),
    };
    match rollout(&typed) {
        Rollout::Available => Assessment::new(
            Health::Current,
            format!("Deployment: {want} of {want} replicas available"),
        ),
        Rollout::InProgress(why) => {
            Assessment::new(Health::InProgress, format!("Deployment: {why}"))
        }
        Rollout::Failed(why) => Assessment::new(Health::Failed, format!("Deployment: {why}")),
    }
}

fn stateful_set(object: &Value) -> Assessment {
    let spec = &object["spec"];
    let status = &object["status"];
    if spec["updateStrategy"]["type"] == "OnDelete" {
        return Assessment::new(
            Health::Current,
            "StatefulSet is using the ondelete update strategy",
        );
    }
    let want = int(&spec["replicas"]).unwrap_or(1);
    let replicas = int(&status["replicas"]).unwrap_or(0);
    let ready = int(&status["readyReplicas"]).unwrap_or(0);
    let updated = int(&status["updatedReplicas"]).unwrap_or(0);
    let current = int(&status["currentReplicas"]).unwrap_or(0);
    let in_progress = |message: String| Assessment::new(Health::InProgress, message);
    if want > replicas {
        return in_progress(format!("StatefulSet: replicas {replicas}/{want}"));
    }
    if want > ready {
        return in_progress(format!("StatefulSet: ready {ready}/{want}"));
    }
    if replicas > want {
        return in_progress(format!(
            "StatefulSet: pending termination: {}",
            replicas - want
        ));
    }
    if let Some(partition) = int(&spec["updateStrategy"]["rollingUpdate"]["partition"]) {
        let wanted_updates = want - partition;
        if updated < wanted_updates {
            return in_progress(format!("StatefulSet: updated {updated}/{wanted_updates}"));
        }
        return Assessment::new(
            Health::Current,
            format!("StatefulSet: partition rollout complete, updated: {updated}"),
        );
    }
    if want > current {
        return in_progress(format!("StatefulSet: current {current}/{want}"));
    }
    if status["currentRevision"] != status["updateRevision"] {
        return in_progress("StatefulSet: waiting for the updated revision to be current".into());
    }
    Assessment::new(
        Health::Current,
        format!("StatefulSet: {replicas} of {want} replicas ready"),
    )
}

fn daemon_set(object: &Value) -> Assessment {
    let status = &object["status"];
    let in_progress = |message: String| Assessment::new(Health::InProgress, message);
    if int(&object["metadata"]["generation"]).is_none() {
        return in_progress("DaemonSet: metadata.generation not found".into());
    }
    if int(&status["observedGeneration"]).is_none() {
        return in_progress("DaemonSet: status.observedGeneration not found".into());
    }
    let Some(desired) = int(&status["desiredNumberScheduled"]) else {
        return in_progress("DaemonSet: missing status.desiredNumberScheduled".into());
    };
    for (field, words) in [
        ("currentNumberScheduled", "scheduled"),
        ("updatedNumberScheduled", "updated"),
        ("numberAvailable", "available"),
        ("numberReady", "ready"),
    ] {
        let have = int(&status[field]).unwrap_or(0);
        if desired > have {
            return in_progress(format!("DaemonSet: {have}/{desired} {words}"));
        }
    }
    Assessment::new(
        Health::Current,
        format!("DaemonSet: all {desired} scheduled as expected"),
    )
}

fn replica_set(object: &Value) -> Assessment {
    let status = &object["status"];
    let in_progress = |message: String| Assessment::new(Health::InProgress, message);
    if condition_is(object, "ReplicaFailure", "True") {
        return in_progress("ReplicaSet: replica failure, check its Pods".into());
    }
    let want = int(&object["spec"]["replicas"]).unwrap_or(1);
    for (field, words) in [
        ("fullyLabeledReplicas", "labelled"),
        ("availableReplicas", "available"),
        ("readyReplicas", "ready"),
    ] {
        let have = int(&status[field]).unwrap_or(0);
        if want > have {
            return in_progress(format!("ReplicaSet: {have}/{want} {words}"));
        }
    }
    let replicas = int(&status["replicas"]).unwrap_or(0);
    if replicas > want {
        return in_progress(format!(
            "ReplicaSet: pending termination: {}",
            replicas - want
        ));
    }
    Assessment::new(
        Health::Current,
        format!("ReplicaSet: {replicas} of {want} replicas available"),
    )
}

fn pod(object: &Value, now: Timestamp) -> Assessment {
    let status = &object["status"];
    let in_progress = |message: &str| Assessment::new(Health::InProgress, message);
    match text(&status["phase"]) {
        "Succeeded" => Assessment::new(Health::Current, "Pod has completed successfully"),
        "Failed" => Assessment::new(Health::Current, "Pod has completed, but not successfully"),
        "Running" => {
            if condition_is(object, "Ready", "True") {
                return Assessment::new(Health::Current, "Pod is Ready");
            }
            let crashing: Vec<&str> = status["containerStatuses"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter(|c| c["state"]["waiting"]["reason"] == "CrashLoopBackOff")
                .map(|c| text(&c["name"]))
                .collect();
            if crashing.is_empty() {
                in_progress("Pod is running but is not Ready")
            } else {
                Assessment::new(
                    Health::Failed,
                    format!("Containers in CrashLoop state: {}", crashing.join(",")),
                )
            }
        }
        "Pending" => {
            let unschedulable = condition(object, "PodScheduled")
                .is_some_and(|c| c["status"] == "False" && c["reason"] == "Unschedulable");
            if !unschedulable {
                return in_progress("Pod is in the Pending phase");
            }
            let created = object["metadata"]["creationTimestamp"]
                .as_str()
                .and_then(|t| t.parse::<Timestamp>().ok());
            match created {
                Some(created) if now.duration_since(created) > SCHEDULING_GRACE => {
                    Assessment::new(Health::Failed, "Pod could not be scheduled")
                }
                _ => in_progress("Pod has not been scheduled"),
            }
        }
        "" => in_progress("Pod phase not available"),
        other => Assessment::new(Health::Unknown, format!("Pod phase {other} is not known")),
    }
}

/// Flux's variant of the Job rule (the one its health checks use): a suspended Job is fine, a
/// running one is still in progress.
fn job(object: &Value) -> Assessment {
    let spec = &object["spec"];
    let status = &object["status"];
    if spec["suspend"].as_bool() == Some(true) {
        return Assessment::new(Health::Current, "Job is suspended");
    }
    let parallelism = int(&spec["parallelism"]).unwrap_or(1);
    let completions = int(&spec["completions"]).unwrap_or(parallelism);
    let succeeded = int(&status["succeeded"]).unwrap_or(0);
    let active = int(&status["active"]).unwrap_or(0);
    let failed = int(&status["failed"]).unwrap_or(0);
    if condition_is(object, "Complete", "True") {
        return Assessment::new(
            Health::Current,
            format!("Job completed: succeeded {succeeded}/{completions}"),
        );
    }
    if let Some(c) = condition(object, "Failed").filter(|c| c["status"] == "True") {
        let reason = [text(&c["reason"]), text(&c["message"])]
            .into_iter()
            .find(|s| !s.is_empty())
            .unwrap_or("failed");
        return Assessment::new(Health::Failed, format!("Job failed: {reason}"));
    }
    if status["startTime"].is_null() {
        return Assessment::new(
            Health::InProgress,
            format!("Job not started: active 0/{parallelism}"),
        );
    }
    Assessment::new(
        Health::InProgress,
        format!("Job in progress: succeeded {succeeded}, active {active}, failed {failed}"),
    )
}

fn persistent_volume_claim(object: &Value) -> Assessment {
    match text(&object["status"]["phase"]) {
        "Bound" => Assessment::new(Health::Current, "PVC is Bound"),
        "" => Assessment::new(Health::InProgress, "PVC is not Bound: phase unknown"),
        phase => Assessment::new(Health::InProgress, format!("PVC is not Bound: {phase}")),
    }
}

/// Only a LoadBalancer can be unready, and only while it has no cluster IP (kstatus does not
/// wait for an external address).
fn service(object: &Value) -> Assessment {
    let spec = &object["spec"];
    if spec["type"] == "LoadBalancer" && text(&spec["clusterIP"]).is_empty() {
        return Assessment::new(
            Health::InProgress,
            "ClusterIP not set. Service type: LoadBalancer",
        );
    }
    Assessment::new(Health::Current, "Service is ready")
}

/// A Namespace being emptied before deletion says so in its phase; otherwise the generic rules.
fn namespace(object: &Value) -> Option<Assessment> {
    (object["status"]["phase"] == "Terminating")
        .then(|| Assessment::new(Health::Terminating, "Namespace is terminating"))
}

fn crd(object: &Value) -> Assessment {
    let explain = |c: &Value| format!("{}: {}", text(&c["reason"]), text(&c["message"]));
    if let Some(c) = condition(object, "NamesAccepted").filter(|c| c["status"] == "False") {
        return Assessment::new(Health::Failed, explain(c));
    }
    match condition(object, "Established") {
        Some(c) if c["status"] == "True" => Assessment::new(Health::Current, "CRD is established"),
        Some(c) if c["status"] == "False" && c["reason"] != "Installing" => {
            Assessment::new(Health::Failed, explain(c))
        }
        _ => Assessment::new(Health::InProgress, "Install in progress"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(group: &str, kind: &str, object: Value) -> (Health, String) {
        let now: Timestamp = "2026-01-01T00:01:00Z".parse().unwrap();
        let a = assess_at(group, kind, &object, now);
        (a.health, a.message)
    }

    fn is(health: Health, message: &str) -> (Health, String) {
        (health, message.to_string())
    }

    #[test]
    fn deletion_comes_first() {
        let cm = json!({"metadata": {"name": "x", "deletionTimestamp": "2026-01-01T00:00:00Z"}});
        assert_eq!(
            at("", "ConfigMap", cm),
            is(Health::Terminating, "Resource scheduled for deletion")
        );
    }

    #[test]
    fn an_unobserved_generation_is_in_progress() {
        let ingress = json!({"metadata": {"generation": 3}, "status": {"observedGeneration": 2}});
        assert_eq!(
            at("networking.k8s.io", "Ingress", ingress),
            is(
                Health::InProgress,
                "Ingress generation is 3, but latest observed generation is 2"
            )
        );
    }

    #[test]
    fn reconciling_and_stalled_conditions_decide_for_any_kind() {
        let reconciling = json!({"status": {"conditions": [
            {"type": "Ready", "status": "True"},
            {"type": "Reconciling", "status": "True", "message": "issuing certificate"}]}});
        assert_eq!(
            at("cert-manager.io", "Certificate", reconciling),
            is(Health::InProgress, "issuing certificate")
        );
        let stalled = json!({"status": {"conditions": [
            {"type": "Stalled", "status": "True", "message": "invalid spec"}]}});
        assert_eq!(
            at("example.com", "Widget", stalled),
            is(Health::Failed, "invalid spec")
        );
    }

    #[test]
    fn other_kinds_fall_back_to_ready_then_current() {
        let ready = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        assert_eq!(
            at("example.com", "Widget", ready),
            is(Health::Current, "Resource is Ready")
        );
        let not_ready = json!({"status": {"conditions": [
            {"type": "Ready", "status": "False", "message": "waiting for DNS"}]}});
        assert_eq!(
            at("example.com", "Widget", not_ready),
            is(Health::InProgress, "waiting for DNS")
        );
        assert_eq!(
            at("", "ServiceAccount", json!({"metadata": {"name": "sa"}})),
            is(Health::Current, "Resource is current")
        );
    }

    fn deployment(replicas: i64, status: Value) -> Value {
        json!({"metadata": {"name": "web", "generation": 2},
               "spec": {"replicas": replicas}, "status": status})
    }

    #[test]
    fn deployments_use_the_rollout_rule() {
        let available = deployment(
            3,
            json!({"observedGeneration": 2, "replicas": 3,
            "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3}),
        );
        assert_eq!(
            at("apps", "Deployment", available),
            is(Health::Current, "Deployment: 3 of 3 replicas available")
        );
        let none = deployment(
            3,
            json!({"observedGeneration": 2, "replicas": 3,
            "updatedReplicas": 3, "unavailableReplicas": 3}),
        );
        assert_eq!(
            at("apps", "Deployment", none),
            is(Health::InProgress, "Deployment: 0 of 3 replicas available")
        );
        let stuck = deployment(
            1,
            json!({"observedGeneration": 2, "conditions": [
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
             "message": "ReplicaSet \"web-5d4\" has timed out progressing."}]}),
        );
        assert_eq!(
            at("apps", "Deployment", stuck),
            is(
                Health::Failed,
                "Deployment: ReplicaSet \"web-5d4\" has timed out progressing."
            )
        );
    }

    #[test]
    fn stateful_sets() {
        let sts = |status: Value| json!({"metadata": {"generation": 1}, "spec": {"replicas": 2}, "status": status});
        let ready = sts(
            json!({"observedGeneration": 1, "replicas": 2, "readyReplicas": 2,
            "currentReplicas": 2, "updatedReplicas": 2, "currentRevision": "db-7c9",
            "updateRevision": "db-7c9"}),
        );
        assert_eq!(
            at("apps", "StatefulSet", ready),
            is(Health::Current, "StatefulSet: 2 of 2 replicas ready")
        );
        let starting = sts(json!({"observedGeneration": 1, "replicas": 2, "readyReplicas": 1}));
        assert_eq!(
            at("apps", "StatefulSet", starting),
            is(Health::InProgress, "StatefulSet: ready 1/2")
        );
        let rolling = sts(
            json!({"observedGeneration": 1, "replicas": 2, "readyReplicas": 2,
            "currentReplicas": 2, "currentRevision": "db-7c9", "updateRevision": "db-8d1"}),
        );
        assert_eq!(
            at("apps", "StatefulSet", rolling),
            is(
                Health::InProgress,
                "StatefulSet: waiting for the updated revision to be current"
            )
        );
    }

    #[test]
    fn daemon_sets() {
        let ds = |status: Value| json!({"metadata": {"generation": 1}, "status": status});
        let all = ds(json!({"observedGeneration": 1, "desiredNumberScheduled": 3,
            "currentNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 3,
            "numberReady": 3}));
        assert_eq!(
            at("apps", "DaemonSet", all),
            is(Health::Current, "DaemonSet: all 3 scheduled as expected")
        );
        let unavailable = ds(json!({"observedGeneration": 1, "desiredNumberScheduled": 3,
            "currentNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 1}));
        assert_eq!(
            at("apps", "DaemonSet", unavailable),
            is(Health::InProgress, "DaemonSet: 1/3 available")
        );
        assert_eq!(
            at("apps", "DaemonSet", ds(json!({}))),
            is(
                Health::InProgress,
                "DaemonSet: status.observedGeneration not found"
            )
        );
    }

    #[test]
    fn replica_sets() {
        let rs = |status: Value| json!({"spec": {"replicas": 2}, "status": status});
        let ok = rs(
            json!({"replicas": 2, "fullyLabeledReplicas": 2, "availableReplicas": 2,
            "readyReplicas": 2}),
        );
        assert_eq!(
            at("apps", "ReplicaSet", ok),
            is(Health::Current, "ReplicaSet: 2 of 2 replicas available")
        );
        let failing = rs(
            json!({"conditions": [{"type": "ReplicaFailure", "status": "True",
            "reason": "FailedCreate"}]}),
        );
        assert_eq!(
            at("apps", "ReplicaSet", failing),
            is(
                Health::InProgress,
                "ReplicaSet: replica failure, check its Pods"
            )
        );
    }

    #[test]
    fn pods() {
        let pod = |created: &str, status: Value| json!({"metadata": {"creationTimestamp": created}, "status": status});
        let old = "2026-01-01T00:00:00Z";
        let ready = pod(
            old,
            json!({"phase": "Running", "conditions": [
            {"type": "Ready", "status": "True"}]}),
        );
        assert_eq!(at("", "Pod", ready), is(Health::Current, "Pod is Ready"));
        let crashing = pod(
            old,
            json!({"phase": "Running", "conditions": [
            {"type": "Ready", "status": "False"}], "containerStatuses": [
            {"name": "app", "state": {"waiting": {"reason": "CrashLoopBackOff"}}},
            {"name": "sidecar", "state": {"running": {}}}]}),
        );
        assert_eq!(
            at("", "Pod", crashing),
            is(Health::Failed, "Containers in CrashLoop state: app")
        );
        let unschedulable = json!({"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]});
        assert_eq!(
            at("", "Pod", pod(old, unschedulable.clone())),
            is(Health::Failed, "Pod could not be scheduled")
        );
        assert_eq!(
            at("", "Pod", pod("2026-01-01T00:00:55Z", unschedulable)),
            is(Health::InProgress, "Pod has not been scheduled")
        );
        assert_eq!(
            at("", "Pod", pod(old, json!({"phase": "Succeeded"}))),
            is(Health::Current, "Pod has completed successfully")
        );
    }

    #[test]
    fn jobs() {
        let job = |spec: Value, status: Value| json!({"spec": spec, "status": status});
        let done = job(
            json!({"completions": 1}),
            json!({"succeeded": 1, "startTime": "x",
            "conditions": [{"type": "Complete", "status": "True"}]}),
        );
        assert_eq!(
            at("batch", "Job", done),
            is(Health::Current, "Job completed: succeeded 1/1")
        );
        let failed = job(
            json!({"backoffLimit": 2}),
            json!({"failed": 3, "startTime": "x",
            "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
            "message": "Job has reached the specified backoff limit"}]}),
        );
        assert_eq!(
            at("batch", "Job", failed),
            is(Health::Failed, "Job failed: BackoffLimitExceeded")
        );
        let running = job(json!({}), json!({"active": 1, "startTime": "x"}));
        assert_eq!(
            at("batch", "Job", running),
            is(
                Health::InProgress,
                "Job in progress: succeeded 0, active 1, failed 0"
            )
        );
        assert_eq!(
            at("batch", "Job", job(json!({"suspend": true}), json!({}))),
            is(Health::Current, "Job is suspended")
        );
        assert_eq!(
            at(
                "batch",
                "CronJob",
                json!({"spec": {"schedule": "* * * * *"}})
            ),
            is(Health::Current, "Resource is always ready")
        );
    }

    #[test]
    fn persistent_volume_claims() {
        assert_eq!(
            at(
                "",
                "PersistentVolumeClaim",
                json!({"status": {"phase": "Bound"}})
            ),
            is(Health::Current, "PVC is Bound")
        );
        assert_eq!(
            at(
                "",
                "PersistentVolumeClaim",
                json!({"status": {"phase": "Pending"}})
            ),
            is(Health::InProgress, "PVC is not Bound: Pending")
        );
    }

    #[test]
    fn services_wait_only_for_a_load_balancer_cluster_ip() {
        let lb = json!({"spec": {"type": "LoadBalancer"}});
        assert_eq!(
            at("", "Service", lb),
            is(
                Health::InProgress,
                "ClusterIP not set. Service type: LoadBalancer"
            )
        );
        let ip = json!({"spec": {"type": "ClusterIP", "clusterIP": "10.0.0.1"}});
        assert_eq!(
            at("", "Service", ip),
            is(Health::Current, "Service is ready")
        );
    }

    #[test]
    fn pod_disruption_budgets() {
        let pdb = json!({"metadata": {"generation": 1}, "status": {"observedGeneration": 1}});
        assert_eq!(
            at("policy", "PodDisruptionBudget", pdb),
            is(Health::Current, "AllowedDisruptions has been computed")
        );
    }

    #[test]
    fn custom_resource_definitions() {
        let crd = |conditions: Value| json!({"status": {"conditions": conditions}});
        let group = "apiextensions.k8s.io";
        let kind = "CustomResourceDefinition";
        assert_eq!(
            at(
                group,
                kind,
                crd(json!([{"type": "NamesAccepted", "status": "True"},
                {"type": "Established", "status": "True"}]))
            ),
            is(Health::Current, "CRD is established")
        );
        assert_eq!(
            at(
                group,
                kind,
                crd(json!([{"type": "NamesAccepted", "status": "False",
                "reason": "ListKindConflict", "message": "\"WidgetList\" is already in use"}]))
            ),
            is(
                Health::Failed,
                "ListKindConflict: \"WidgetList\" is already in use"
            )
        );
        assert_eq!(
            at(
                group,
                kind,
                crd(json!([{"type": "Established", "status": "False",
                "reason": "Installing"}]))
            ),
            is(Health::InProgress, "Install in progress")
        );
    }

    #[test]
    fn namespaces() {
        assert_eq!(
            at("", "Namespace", json!({"status": {"phase": "Active"}})),
            is(Health::Current, "Resource is current")
        );
        assert_eq!(
            at("", "Namespace", json!({"status": {"phase": "Terminating"}})),
            is(Health::Terminating, "Namespace is terminating")
        );
    }
}
