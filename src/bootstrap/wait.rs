//! Bootstrap's last step: watch (not poll) the GitRepository and the root Kustomization until
//! they are Ready at the pushed revision, and fail as soon as one of them reports why it
//! cannot get there (flux polls every 2 s and ends in "context deadline exceeded").

use std::time::Instant;

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::{WatchStreamExt, watcher};

use crate::cluster::apply::qualified_plural;
use crate::cluster::connection::Connection;
use crate::error::{Action, Error, Result};
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

/// Watches `namespace/name` until [`judge`] says Ready or Failed, or `deadline` passes.
pub async fn wait_ready_at(
    connection: &Connection,
    served: &ServedKind,
    namespace: &str,
    name: &str,
    expected: &str,
    token: Option<&str>,
    deadline: Instant,
) -> Result<()> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(connection.client.clone(), namespace, &served.resource);
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut stream = watcher(api, config)
        .default_backoff()
        .applied_objects()
        .boxed();
    let kind = served.kind.kind;
    let mut last = Verdict::Waiting;
    let mut last_message = String::new();
    let watching = async {
        while let Some(event) = stream.next().await {
            let object = match event {
                Ok(object) => object,
                Err(err) => {
                    tracing::debug!("watch on {kind}/{name} failed, retrying: {err}");
                    continue;
                }
            };
            if let Some(ready) = condition(&object, "Ready") {
                last_message = ready.message;
            }
            last = judge(&object, expected, token);
            match &last {
                Verdict::Ready => return Ok(()),
                Verdict::Failed { reason, message } => {
                    return Err(Error::Output(format!(
                        "{kind} {namespace}/{name} failed ({reason}): {message}; fix the cause (the Git URL, credentials or manifests) and run bootstrap again, or look closer with: kubectl gitops status {} {name} -n {namespace}",
                        served.kind.short_names.first().copied().unwrap_or(kind)
                    )));
                }
                Verdict::Waiting => {}
            }
        }
        Err(Error::Client {
            action: Box::new(
                Action::new("watch", &qualified_plural(&served.resource))
                    .named(name)
                    .in_namespace(namespace),
            ),
            cause: "the watch ended".to_string(),
        })
    };
    let remaining = deadline.saturating_duration_since(Instant::now());
    match tokio::time::timeout(remaining, watching).await {
        Ok(result) => result,
        Err(_) => Err(Error::Output(format!(
            "{kind} {namespace}/{name} did not become Ready at {expected} in time{}; are the Flux controllers running? (kubectl gitops check)",
            if last_message.is_empty() {
                String::new()
            } else {
                format!(" (last message: {last_message})")
            }
        ))),
    }
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
