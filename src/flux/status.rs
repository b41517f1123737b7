//! The computed status of one Flux object: one word for what it is doing, the message that
//! explains it, the revision it is at, and when it last reconciled.
//!
//! See docs/flux-status.md for the fields Flux writes and the rules, in words.

use jiff::Timestamp;
use kube::api::DynamicObject;
use serde::Serialize;
use serde_json::Value;

pub use crate::flux::dependencies::explain_blocked;
use crate::flux::dependencies::{BlockedBy, DEPENDENCY_NOT_READY, depends_on};
use crate::flux::refs::{SourceReference, source_ref};
use crate::flux::{FluxKind, Revision};

/// What an object is doing. The order is the table's: failing objects first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, clap::ValueEnum)]
pub enum State {
    /// Stalled=True: the controller gave up and will not retry until the object changes.
    Stalled,
    /// Ready=False.
    Failed,
    /// Ready=False only because a `dependsOn` object is not Ready (reason DependencyNotReady):
    /// no failure of its own; it sorts after the failures that may be its cause.
    Blocked,
    /// No Ready condition yet, or one with status Unknown and nothing in progress.
    Unknown,
    /// Reconciling=True, or the controller has not yet observed the latest generation.
    Reconciling,
    /// `spec.suspend: true`.
    Suspended,
    /// Ready=True.
    Ready,
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            State::Stalled => "Stalled",
            State::Failed => "Failed",
            State::Blocked => "Blocked",
            State::Unknown => "Unknown",
            State::Reconciling => "Reconciling",
            State::Suspended => "Suspended",
            State::Ready => "Ready",
        })
    }
}

/// One status condition, as Kubernetes writes them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Condition {
    pub status: String,
    pub reason: String,
    pub message: String,
    pub observed_generation: Option<i64>,
    pub last_transition_time: Option<Timestamp>,
}

/// Reads condition `type_` from `status.conditions`.
pub fn condition(object: &DynamicObject, type_: &str) -> Option<Condition> {
    object.data["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .map(|c| Condition {
            status: c["status"].as_str().unwrap_or_default().to_string(),
            reason: c["reason"].as_str().unwrap_or_default().to_string(),
            message: c["message"].as_str().unwrap_or_default().to_string(),
            observed_generation: c["observedGeneration"].as_i64(),
            last_transition_time: c["lastTransitionTime"]
                .as_str()
                .and_then(|t| t.parse().ok()),
        })
}

fn is_true(condition: &Option<Condition>) -> bool {
    condition.as_ref().is_some_and(|c| c.status == "True")
}

/// Everything `status` shows about one object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub state: State,
    /// The Ready condition's status: True, False or Unknown ("Unknown" when absent).
    pub ready: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_reconciled: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub suspended: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `spec.dependsOn`, as `<namespace>/<name>` of the same kind.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// When Blocked: the dependency awaited (filled in by [`explain_blocked`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked_by: Option<BlockedBy>,
}

pub fn is_suspended(object: &DynamicObject) -> bool {
    object.data["spec"]["suspend"].as_bool() == Some(true)
}

/// Computes the summary with the rules, in this order: suspended (`spec.suspend`), Stalled=True,
/// Ready=False, in progress (Reconciling=True or observedGeneration behind generation),
/// Ready=True, else Unknown.
pub fn summarize(kind: &FluxKind, object: &DynamicObject) -> Summary {
    let ready = condition(object, "Ready");
    let stalled = condition(object, "Stalled");
    let reconciling = condition(object, "Reconciling");
    let generation = object.metadata.generation;
    let observed = object.data["status"]["observedGeneration"].as_i64();
    let behind = matches!((generation, observed), (Some(g), Some(o)) if o < g)
        || (observed.is_none() && ready.is_none() && kind.reconcilable);
    let suspended = is_suspended(object);

    let malformed = malformed_status(&object.data["status"]);
    let state = if malformed.is_some() {
        State::Unknown
    } else if suspended {
        State::Suspended
    } else if is_true(&stalled) {
        State::Stalled
    } else if ready
        .as_ref()
        .is_some_and(|c| c.status == "False" && c.reason == DEPENDENCY_NOT_READY)
    {
        State::Blocked
    } else if ready.as_ref().is_some_and(|c| c.status == "False") {
        State::Failed
    } else if is_true(&reconciling) || behind {
        State::Reconciling
    } else if is_true(&ready) {
        State::Ready
    } else if !kind.reconcilable && ready.is_none() {
        // Alerts and Providers (v1beta3) are static: they have no conditions at all.
        State::Ready
    } else {
        State::Unknown
    };
    let explaining = match state {
        State::Stalled => stalled.as_ref(),
        State::Reconciling => reconciling
            .as_ref()
            .filter(|c| c.status == "True")
            .or(ready.as_ref()),
        _ => ready.as_ref(),
    };
    let message = match (explaining, state) {
        _ if malformed.is_some() => malformed.clone().unwrap_or_default(),
        (Some(c), _) if !c.message.is_empty() => c.message.clone(),
        (_, State::Reconciling) if ready.is_none() => {
            "waiting for the controller to reconcile".to_string()
        }
        (_, State::Unknown) => "not reconciled yet".to_string(),
        _ => String::new(),
    };
    let handled = object.data["status"]["lastHandledReconcileAt"]
        .as_str()
        .and_then(|t| t.parse::<Timestamp>().ok());
    let last_reconciled = [ready.as_ref().and_then(|c| c.last_transition_time), handled]
        .into_iter()
        .flatten()
        .max();
    Summary {
        state,
        ready: ready
            .as_ref()
            .map(|c| c.status.clone())
            .unwrap_or_else(|| "Unknown".to_string()),
        reason: if malformed.is_some() {
            MALFORMED_STATUS.to_string()
        } else {
            explaining.map(|c| c.reason.clone()).unwrap_or_default()
        },
        message,
        revision: revision(kind, object),
        last_reconciled,
        source: source(kind, object),
        suspended,
        observed_generation: observed,
        depends_on: depends_on(kind, object),
        blocked_by: None,
    }
}

/// The reason shown for an object whose status has a shape no Flux controller writes.
pub const MALFORMED_STATUS: &str = "MalformedStatus";

/// What is wrong with a status that Flux's controllers would never write (a CRD without
/// schema, another tool writing the status): its state cannot be known, and saying why beats
/// "not reconciled yet".
fn malformed_status(status: &Value) -> Option<String> {
    let type_of = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    };
    let wrong = |field: &str, value: &Value, want: &str| {
        Some(format!(
            "status.{field} is {}, not {want}: the status was not written by a Flux controller",
            type_of(value)
        ))
    };
    match status {
        Value::Null => return None,
        Value::Object(_) => {}
        other => {
            return wrong("", other, "an object").map(|m| m.replacen("status. is", "status is", 1));
        }
    }
    let generation = &status["observedGeneration"];
    if !generation.is_null() && !generation.is_i64() {
        return wrong("observedGeneration", generation, "an integer");
    }
    let conditions = match &status["conditions"] {
        Value::Null => return None,
        Value::Array(list) => list,
        other => return wrong("conditions", other, "a list"),
    };
    for (i, condition) in conditions.iter().enumerate() {
        if !condition.is_object() {
            return wrong(&format!("conditions[{i}]"), condition, "an object");
        }
        for field in ["type", "status", "reason", "message", "lastTransitionTime"] {
            let value = &condition[field];
            if !value.is_null() && !value.is_string() {
                return wrong(&format!("conditions[{i}].{field}"), value, "a string");
            }
        }
    }
    None
}

fn non_empty(value: &Value) -> Option<String> {
    value.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

/// The object's current revision, where its kind keeps it.
pub fn revision(kind: &FluxKind, object: &DynamicObject) -> Option<String> {
    let status = &object.data["status"];
    match kind.revision {
        Revision::Artifact => non_empty(&status["artifact"]["revision"]),
        Revision::LastApplied => non_empty(&status["lastAppliedRevision"]),
        Revision::HelmHistory => non_empty(&status["history"][0]["chartVersion"])
            .or_else(|| non_empty(&status["lastAttemptedRevision"])),
        Revision::LatestScannedTag => non_empty(&status["lastScanResult"]["latestTags"][0]),
        Revision::LatestRef => non_empty(&status["latestRef"]["tag"]),
        Revision::LastPushCommit => non_empty(&status["lastPushCommit"]),
        Revision::None => None,
    }
}

/// The object that feeds this one, as `Kind/name` or `Kind/namespace/name` when it lives in
/// another namespace.
pub fn source(kind: &FluxKind, object: &DynamicObject) -> Option<String> {
    match source_ref(kind, object)? {
        SourceReference::Named(reference) => {
            Some(reference.display(object.metadata.namespace.as_deref()))
        }
        SourceReference::Incomplete => None,
    }
}

/// Shortens digests in a revision for tables: `main@sha1:0123456789ab…` keeps 12 hex digits.
pub fn short_revision(revision: &str) -> String {
    for marker in ["sha1:", "sha256:", "sha512:", "blake3:"] {
        if let Some(at) = revision.find(marker) {
            let start = at + marker.len();
            let digest_len = revision[start..]
                .chars()
                .take_while(|c| c.is_ascii_hexdigit())
                .count();
            if digest_len > 12 {
                return format!(
                    "{}{}",
                    &revision[..start + 12],
                    &revision[start + digest_len..]
                );
            }
        }
    }
    revision.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> DynamicObject {
        serde_json::from_value(value).unwrap()
    }

    fn ks() -> &'static FluxKind {
        FluxKind::lookup("ks").unwrap()
    }

    fn with(status: Value, spec: Value, generation: i64) -> DynamicObject {
        object(serde_json::json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": "flux-system", "generation": generation},
            "spec": spec,
            "status": status,
        }))
    }

    fn cond(type_: &str, status: &str, reason: &str, message: &str) -> Value {
        serde_json::json!({"type": type_, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": "2026-11-30T05:00:00Z", "observedGeneration": 1})
    }

    #[test]
    fn ready_object_shows_its_applied_revision() {
        let o = with(
            serde_json::json!({"observedGeneration": 1, "lastAppliedRevision": "main@sha1:0123456789abcdef0123456789abcdef01234567",
                "conditions": [cond("Ready", "True", "ReconciliationSucceeded", "Applied revision: main@sha1:0123")]}),
            serde_json::json!({"sourceRef": {"kind": "GitRepository", "name": "flux-system"}}),
            1,
        );
        let s = summarize(ks(), &o);
        assert_eq!(s.state, State::Ready);
        assert_eq!(s.ready, "True");
        assert_eq!(
            s.revision.as_deref(),
            Some("main@sha1:0123456789abcdef0123456789abcdef01234567")
        );
        assert_eq!(s.source.as_deref(), Some("GitRepository/flux-system"));
        assert_eq!(s.message, "Applied revision: main@sha1:0123");
        assert_eq!(
            s.last_reconciled.unwrap().to_string(),
            "2026-11-30T05:00:00Z"
        );
    }

    #[test]
    fn rules_apply_in_order() {
        let suspended = with(
            serde_json::json!({"observedGeneration": 1, "conditions": [cond("Ready", "False", "Failed", "boom")]}),
            serde_json::json!({"suspend": true}),
            1,
        );
        assert_eq!(summarize(ks(), &suspended).state, State::Suspended);

        let stalled = with(
            serde_json::json!({"observedGeneration": 1, "conditions": [cond("Ready", "False", "InvalidPath", "no path"), cond("Stalled", "True", "InvalidPath", "path does not exist")]}),
            serde_json::json!({}),
            1,
        );
        let s = summarize(ks(), &stalled);
        assert_eq!(s.state, State::Stalled);
        assert_eq!(s.message, "path does not exist");

        let failed = with(
            serde_json::json!({"observedGeneration": 1, "conditions": [cond("Ready", "False", "BuildFailed", "kustomize build failed"), cond("Reconciling", "True", "Progressing", "retrying")]}),
            serde_json::json!({}),
            1,
        );
        let s = summarize(ks(), &failed);
        assert_eq!((s.state, s.reason.as_str()), (State::Failed, "BuildFailed"));

        let behind = with(
            serde_json::json!({"observedGeneration": 1, "conditions": [cond("Ready", "True", "Succeeded", "ok")]}),
            serde_json::json!({}),
            2,
        );
        assert_eq!(summarize(ks(), &behind).state, State::Reconciling);

        let progressing = with(
            serde_json::json!({"observedGeneration": 1, "conditions": [cond("Ready", "Unknown", "Progressing", "reconciliation in progress"), cond("Reconciling", "True", "Progressing", "building")]}),
            serde_json::json!({}),
            1,
        );
        let s = summarize(ks(), &progressing);
        assert_eq!(
            (s.state, s.message.as_str()),
            (State::Reconciling, "building")
        );

        let fresh = with(serde_json::json!({}), serde_json::json!({}), 1);
        assert_eq!(summarize(ks(), &fresh).state, State::Reconciling);

        let unknown = with(
            serde_json::json!({"observedGeneration": 1, "conditions": [cond("Ready", "Unknown", "Waiting", "")]}),
            serde_json::json!({}),
            1,
        );
        assert_eq!(summarize(ks(), &unknown).state, State::Unknown);
    }

    #[test]
    fn revisions_are_read_where_each_kind_keeps_them() {
        let hr = FluxKind::lookup("hr").unwrap();
        let o = object(serde_json::json!({
            "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "podinfo", "namespace": "apps"},
            "spec": {"chart": {"spec": {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "podinfo", "namespace": "flux-system"}}}},
            "status": {"history": [{"chartVersion": "6.5.0"}], "lastAttemptedRevision": "6.4.0"}
        }));
        assert_eq!(revision(hr, &o).as_deref(), Some("6.5.0"));
        assert_eq!(
            source(hr, &o).as_deref(),
            Some("HelmRepository/flux-system/podinfo")
        );

        let git = FluxKind::lookup("gitrepo").unwrap();
        let o = object(serde_json::json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": "flux-system", "namespace": "flux-system"},
            "status": {"artifact": {"revision": "main@sha1:abc"}}
        }));
        assert_eq!(revision(git, &o).as_deref(), Some("main@sha1:abc"));
        assert_eq!(source(git, &o), None);
    }

    #[test]
    fn digests_are_shortened_for_tables_only_when_long() {
        assert_eq!(
            short_revision("main@sha1:0123456789abcdef0123456789abcdef01234567"),
            "main@sha1:0123456789ab"
        );
        assert_eq!(
            short_revision("6.5.0@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            "6.5.0@sha256:aaaaaaaaaaaa"
        );
        assert_eq!(short_revision("main@sha1:abc"), "main@sha1:abc");
        assert_eq!(short_revision("6.5.0"), "6.5.0");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::flux::kinds::KINDS;

    /// Any JSON value, nested a few levels.
    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            any::<String>().prop_map(Value::String),
            prop::sample::select(vec![
                "Ready",
                "Stalled",
                "Reconciling",
                "True",
                "False",
                "Unknown",
                "DependencyNotReady"
            ])
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(
                    (
                        prop::sample::select(vec![
                            "type",
                            "status",
                            "reason",
                            "message",
                            "conditions",
                            "observedGeneration",
                            "lastTransitionTime",
                            "artifact",
                            "revision",
                            "history",
                            "inventory",
                            "entries",
                            "id"
                        ]),
                        inner
                    ),
                    0..6
                )
                .prop_map(|fields| Value::Object(
                    fields
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect()
                )),
            ]
        })
    }

    fn object(status: Value, spec: Value) -> DynamicObject {
        let mut object = DynamicObject::new("x", &KINDS[0].api_resource());
        object.metadata.generation = Some(2);
        object.data = serde_json::json!({"status": status, "spec": spec});
        object
    }

    proptest! {
        /// Whatever the status holds, every kind summarizes it without panicking, and a status
        /// of a shape Flux never writes shows as Unknown with the reason.
        #[test]
        fn any_status_is_summarized(status in json(), spec in json(), kind in 0..KINDS.len()) {
            let object = object(status.clone(), spec);
            let summary = summarize(&KINDS[kind], &object);
            if let Some(reason) = malformed_status(&status) {
                prop_assert_eq!(summary.state, State::Unknown);
                prop_assert_eq!(summary.reason.as_str(), MALFORMED_STATUS);
                prop_assert_eq!(summary.message, reason);
            }
        }
    }

    #[test]
    fn wrong_shapes_are_named() {
        let cases = [
            (
                serde_json::json!("broken"),
                "status is a string, not an object",
            ),
            (
                serde_json::json!({"conditions": "Ready"}),
                "status.conditions is a string, not a list",
            ),
            (
                serde_json::json!({"conditions": [1]}),
                "status.conditions[0] is a number, not an object",
            ),
            (
                serde_json::json!({"conditions": [{"type": "Ready", "status": true}]}),
                "status.conditions[0].status is a boolean, not a string",
            ),
            (
                serde_json::json!({"observedGeneration": "1"}),
                "status.observedGeneration is a string, not an integer",
            ),
        ];
        for (status, want) in cases {
            let summary = summarize(&KINDS[0], &object(status, Value::Null));
            assert_eq!(summary.state, State::Unknown);
            assert!(summary.message.starts_with(want), "{}", summary.message);
        }
    }
}
