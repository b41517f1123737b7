//! Bootstrap's last step: watch (not poll) the GitRepository and the root Kustomization until
//! they are Ready at the pushed revision, and fail as soon as one of them reports why it
//! cannot get there (flux polls every 2 s and ends in "context deadline exceeded"). The
//! controllers that must answer are watched alongside ([`crate::cluster::explain`]), so a
//! controller that is not running is told at once and named by the timeout error.
//!
//! See docs/bootstrap.md.

use std::time::Instant;

use kube::api::{Api, DynamicObject};

use super::error::Error as BootstrapError;
use crate::cluster::action::qualified_plural;
use crate::cluster::connection::Connection;
use crate::cluster::explain::{Responders, Tell, explained};
use crate::cluster::wait::{Observed, Selector, Waited, Watched, watch_until};
use crate::error::Result;
use crate::flux::discovery::ServedKind;
use crate::flux::status::condition;

/// Where an object stands on the way to `expected` revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Waiting,
    Ready,
    Failed { reason: String, message: String },
}

/// Judges one observation of a GitRepository or Kustomization. `token` is the reconcile
/// request made after the push (none when nothing changed): neither a failure nor a success
/// that predates it is taken as the answer. A controller may already be Ready at the revision
/// when the request lands; returning then would leave it reconciling again right after
/// bootstrap says "synced" (seen with the real kustomize-controller).
pub fn judge(object: &DynamicObject, expected: &str, token: Option<&str>) -> Verdict {
    let status = &object.data["status"];
    let generation = object.metadata.generation;
    let ready = condition(object, "Ready");
    let current = ready
        .as_ref()
        .and_then(|c| c.observed_generation)
        .or_else(|| status["observedGeneration"].as_i64())
        == generation;
    let handled = token.is_none_or(|t| status["lastHandledReconcileAt"].as_str() == Some(t));
    let revision = status["artifact"]["revision"]
        .as_str()
        .or_else(|| status["lastAttemptedRevision"].as_str());
    if let Some(stalled) = condition(object, "Stalled").filter(|c| c.status == "True")
        && current
    {
        return Verdict::Failed {
            reason: stalled.reason,
            message: stalled.message,
        };
    }
    let Some(ready) = ready else {
        return Verdict::Waiting;
    };
    match ready.status.as_str() {
        "True" if current && handled && revision == Some(expected) => Verdict::Ready,
        "False" if current && (handled || revision == Some(expected)) => Verdict::Failed {
            reason: ready.reason,
            message: ready.message,
        },
        _ => Verdict::Waiting,
    }
}

/// Watches `namespace/name` until [`judge`] says Ready or Failed, or `deadline` passes,
/// telling `tell` about the kind's controllers (Deployments in `namespace`) that cannot answer.
#[allow(clippy::too_many_arguments)]
pub async fn wait_ready_at(
    connection: &Connection,
    served: &ServedKind,
    namespace: &str,
    name: &str,
    expected: &str,
    token: Option<&str>,
    deadline: Instant,
    tell: Tell<'_>,
) -> Result<()> {
    let watched = Watched {
        api: Api::namespaced_with(connection.client.clone(), namespace, &served.resource),
        resource: qualified_plural(&served.resource),
        selector: Selector::Name(name.to_string()),
    };
    // A deletion is no verdict: the sync objects were just applied, and a deleted one times out.
    let verdict = |observed: &Observed<DynamicObject>| match observed {
        Observed::Applied(object) => match judge(object, expected, token) {
            Verdict::Waiting => None,
            verdict => Some(verdict),
        },
        Observed::Deleted(_) => None,
    };
    let kind = served.kind.kind;
    let responders = Responders {
        namespace: namespace.to_string(),
        deployments: served
            .kind
            .answering_controllers()
            .into_iter()
            .map(str::to_string)
            .collect(),
    };
    let awaited = format!("{kind} {namespace}/{name} to be reconciled at {expected}");
    let (waited, unavailable) = explained(
        connection,
        &responders,
        &|| awaited.clone(),
        tell,
        watch_until(connection, watched, verdict, deadline),
    )
    .await;
    match waited? {
        Waited::Decided(Verdict::Failed { reason, message }) => Err(BootstrapError::SyncFailed {
            kind: served.kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
            reason,
            message,
        }
        .into()),
        Waited::Decided(_) => Ok(()),
        Waited::TimedOut { last_seen } => Err(BootstrapError::SyncTimedOut {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
            revision: expected.to_string(),
            last_message: last_seen
                .and_then(|object| condition(&object, "Ready"))
                .map(|ready| ready.message)
                .filter(|message| !message.is_empty()),
            likely_cause: likely_cause(&unavailable).map(Box::new),
        }
        .into()),
    }
}

/// The unavailable controllers' lines as one text, or `None` when all could answer.
pub fn likely_cause(unavailable: &std::collections::BTreeMap<String, String>) -> Option<String> {
    (!unavailable.is_empty()).then(|| unavailable.values().cloned().collect::<Vec<_>>().join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(generation: i64, status: serde_json::Value) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": "flux-system", "namespace": "flux-system", "generation": generation},
            "status": status,
        }))
        .unwrap()
    }

    fn ready(status: &str, generation: i64) -> serde_json::Value {
        json!([{"type": "Ready", "status": status, "reason": "R", "message": "M",
                "observedGeneration": generation}])
    }

    const REV: &str = "main@sha1:0123456789012345678901234567890123456789";

    #[test]
    fn ready_only_at_the_expected_revision_and_generation() {
        let at = |rev: &str, gen_seen: i64| {
            object(
                2,
                json!({"conditions": ready("True", gen_seen), "artifact": {"revision": rev}}),
            )
        };
        assert_eq!(judge(&at(REV, 2), REV, None), Verdict::Ready);
        assert_eq!(judge(&at("main@sha1:old", 2), REV, None), Verdict::Waiting);
        assert_eq!(judge(&at(REV, 1), REV, None), Verdict::Waiting);
    }

    #[test]
    fn success_counts_only_after_the_request() {
        let ready_at = |handled: &str| {
            object(
                1,
                json!({"conditions": ready("True", 1), "artifact": {"revision": REV},
                       "lastHandledReconcileAt": handled}),
            )
        };
        assert_eq!(judge(&ready_at("old"), REV, Some("new")), Verdict::Waiting);
        assert_eq!(judge(&ready_at("new"), REV, Some("new")), Verdict::Ready);
        assert_eq!(judge(&ready_at("old"), REV, None), Verdict::Ready);
    }

    #[test]
    fn failures_count_only_after_the_request() {
        let failed = |handled: &str| {
            object(
                1,
                json!({"conditions": ready("False", 1), "lastHandledReconcileAt": handled}),
            )
        };
        assert_eq!(judge(&failed("old"), REV, Some("new")), Verdict::Waiting);
        assert!(matches!(
            judge(&failed("new"), REV, Some("new")),
            Verdict::Failed { .. }
        ));
        assert!(matches!(
            judge(&failed("old"), REV, None),
            Verdict::Failed { .. }
        ));
    }

    #[test]
    fn stalled_fails_at_once() {
        let stalled = object(
            1,
            json!({"observedGeneration": 1, "conditions": [
                {"type": "Stalled", "status": "True", "reason": "InvalidURL", "message": "bad url", "observedGeneration": 1}]}),
        );
        assert_eq!(
            judge(&stalled, REV, Some("t")),
            Verdict::Failed {
                reason: "InvalidURL".into(),
                message: "bad url".into()
            }
        );
    }
}
