//! `fake_flux_controller`: stands in for the Flux controllers (which later tests run for real)
//! for ONE object under test. It watches the object, and each time
//! `reconcile.fluxcd.io/requestedAt` carries a new token it waits the delay the test chose and
//! then writes, through the `/status` subresource, what the real controller writes at the end
//! of a reconciliation: `lastHandledReconcileAt`, `observedGeneration`, the Ready (and Stalled)
//! condition, and the revision where the kind keeps it.
//!
//! See docs/reconcile.md for the protocol and docs/test-environment.md for the stand-ins.

use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use kubectl_gitops::flux::{FluxKind, Revision};

/// What the stand-in controller answers to a reconcile request.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Ready=True at `revision`.
    Succeed { revision: String },
    /// Ready=True at `<branch>@sha1:<the branch's commit>` in `bare_repo` at the time of the
    /// request, as a source-controller that just fetched (for bootstrap's pushes).
    SucceedAtBranchHead {
        bare_repo: std::path::PathBuf,
        branch: String,
    },
    /// Ready=False with this reason and message.
    Fail { reason: String, message: String },
    /// Ready=False and Stalled=True (the controller gives up).
    Stall { reason: String, message: String },
}

pub struct FakeFluxController {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeFluxController {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The status the real controller would write for `behaviour`, as a merge patch.
pub fn status_patch(
    kind: &FluxKind,
    generation: i64,
    token: Option<&str>,
    behaviour: &Behaviour,
) -> serde_json::Value {
    let behaviour = &resolve(behaviour);
    let now = jiff::Timestamp::now().to_string();
    let condition = |type_: &str, status: &str, reason: &str, message: &str| {
        serde_json::json!({"type": type_, "status": status, "reason": reason, "message": message,
            "observedGeneration": generation, "lastTransitionTime": now})
    };
    let mut status = serde_json::json!({"observedGeneration": generation});
    if let Some(token) = token {
        status["lastHandledReconcileAt"] = token.into();
    }
    match behaviour {
        Behaviour::Succeed { revision } => {
            status["conditions"] = serde_json::json!([condition(
                "Ready",
                "True",
                "ReconciliationSucceeded",
                &format!("Applied revision: {revision}")
            )]);
            match kind.revision {
                Revision::Artifact => {
                    status["artifact"] = serde_json::json!({"revision": revision, "path": "fake/path.tar.gz",
                        "url": "http://source-controller.flux-system.svc/fake.tar.gz", "digest": "sha256:0000000000000000000000000000000000000000000000000000000000000000",
                        "lastUpdateTime": now});
                }
                Revision::LastApplied => {
                    status["lastAppliedRevision"] = revision.clone().into();
                    status["lastAttemptedRevision"] = revision.clone().into();
                }
                Revision::HelmHistory => status["lastAttemptedRevision"] = revision.clone().into(),
                _ => {}
            }
        }
        // Resolved to Succeed above.
        Behaviour::SucceedAtBranchHead { .. } => {}
        Behaviour::Fail { reason, message } => {
            status["conditions"] =
                serde_json::json!([condition("Ready", "False", reason, message)]);
        }
        Behaviour::Stall { reason, message } => {
            status["conditions"] = serde_json::json!([
                condition("Ready", "False", reason, message),
                condition("Stalled", "True", reason, message)
            ]);
        }
    }
    serde_json::json!({ "status": status })
}

/// Turns a behaviour that depends on the moment of the request into a fixed one.
fn resolve(behaviour: &Behaviour) -> Behaviour {
    match behaviour {
        Behaviour::SucceedAtBranchHead { bare_repo, branch } => {
            let out = std::process::Command::new("git")
                .arg("--git-dir")
                .arg(bare_repo)
                .args(["rev-parse", &format!("refs/heads/{branch}")])
                .output()
                .expect("run git rev-parse");
            let commit = String::from_utf8_lossy(&out.stdout).trim().to_string();
            Behaviour::Succeed {
                revision: format!("{branch}@sha1:{commit}"),
            }
        }
        other => other.clone(),
    }
}

/// The reconcile token the object asks for and the controller has not handled yet.
pub fn pending_request(object: &DynamicObject) -> Option<String> {
    let token = object
        .metadata
        .annotations
        .as_ref()?
        .get("reconcile.fluxcd.io/requestedAt")?;
    let handled = object.data["status"]["lastHandledReconcileAt"].as_str();
    (handled != Some(token.as_str())).then(|| token.clone())
}

/// Starts playing the controller for `namespace/name` of `kind`, answering reconcile requests
/// after `delay`.
pub fn fake_flux_controller(
    client: kube::Client,
    kind: &'static FluxKind,
    namespace: &str,
    name: &str,
    behaviour: Behaviour,
    delay: Duration,
) -> FakeFluxController {
    fake_flux_controller_with(client, kind, namespace, name, behaviour, delay, false)
}

/// Like [`fake_flux_controller`]; with `on_new_generation` it also answers, as the real
/// controllers do, when the object is new or its spec changed (observedGeneration behind).
pub fn fake_flux_controller_with(
    client: kube::Client,
    kind: &'static FluxKind,
    namespace: &str,
    name: &str,
    behaviour: Behaviour,
    delay: Duration,
    on_new_generation: bool,
) -> FakeFluxController {
    let api: Api<DynamicObject> = Api::namespaced_with(client, namespace, &kind.api_resource());
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let name = name.to_string();
    let task = tokio::spawn(async move {
        let mut answered: Option<String> = None;
        // With backoff, a failing watch (e.g. while the runtime shuts down) waits between
        // attempts instead of spinning, so the task stays abortable.
        let mut events = watcher(api.clone(), config).default_backoff().boxed();
        // With `on_new_generation`, also follow the source like a controller fetching at its
        // interval (here every half second): a new commit gives a new revision.
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        let mut latest: Option<DynamicObject> = None;
        loop {
            let object = tokio::select! {
                event = events.next() => match event {
                    None => return,
                    Some(Ok(watcher::Event::Apply(object) | watcher::Event::InitApply(object))) => object,
                    Some(_) => continue,
                },
                _ = tick.tick(), if on_new_generation => {
                    let Some(object) = latest.clone() else { continue };
                    let current = kubectl_gitops::flux::status::revision(kind, &object);
                    let suspended = object.data["spec"]["suspend"].as_bool() == Some(true);
                    if let Behaviour::Succeed { revision } = resolve(&behaviour)
                        && current.is_some()
                        && current != Some(revision)
                        && !suspended
                    {
                        let generation = object.metadata.generation.unwrap_or(1);
                        let patch = status_patch(kind, generation, None, &behaviour);
                        let _ = api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch)).await;
                    }
                    continue;
                }
            };
            latest = Some(object.clone());
            let behind =
                object.data["status"]["observedGeneration"].as_i64() != object.metadata.generation;
            let token = pending_request(&object);
            if token.is_none() && !(on_new_generation && behind) {
                continue;
            }
            if token.is_some() && answered == token {
                continue;
            }
            if object.data["spec"]["suspend"].as_bool() == Some(true) {
                continue; // Flux does not reconcile suspended objects.
            }
            answered.clone_from(&token);
            tokio::time::sleep(delay).await;
            let generation = object.metadata.generation.unwrap_or(1);
            let patch = status_patch(kind, generation, token.as_deref(), &behaviour);
            if let Err(err) = api
                .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                eprintln!("fake_flux_controller: status patch of {name} failed: {err}");
            }
        }
    });
    FakeFluxController { task }
}
