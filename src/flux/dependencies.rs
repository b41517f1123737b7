//! `spec.dependsOn`: a Kustomization or HelmRelease waits until others of its kind are Ready.
//!
//! While one is not, the controller marks the waiting object Ready=False with the reason
//! `DependencyNotReady` and the message "dependency '<namespace>/<name>' is not ready"
//! (kustomize-controller and helm-controller alike) and retries later. That is no failure of the
//! object itself, so `status` shows it as Blocked and names what it waits for, and
//! `reconcile --with-dependencies` reconciles the chain in order. See docs/reconcile.md.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kube::api::DynamicObject;
use serde::Serialize;

use crate::error::Result;
use crate::flux::status::{State, Summary};
use crate::flux::{Error as FluxError, FluxKind};

/// The Ready reason both controllers write while a dependency is not Ready.
pub const DEPENDENCY_NOT_READY: &str = "DependencyNotReady";

/// One object of a kind, as `<namespace>/<name>`: how `dependsOn` and the controllers' messages
/// name dependencies.
pub type Key = String;

/// The objects `object` depends on, as `<namespace>/<name>` (a `dependsOn` entry without a
/// namespace means the object's own).
pub fn depends_on(kind: &FluxKind, object: &DynamicObject) -> Vec<Key> {
    if !kind.depends_on {
        return Vec::new();
    }
    let own = object.metadata.namespace.as_deref().unwrap_or_default();
    object.data["spec"]["dependsOn"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter_map(|entry| {
                    let name = entry["name"].as_str()?;
                    let namespace = entry["namespace"].as_str().unwrap_or(own);
                    Some(format!("{namespace}/{name}"))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The dependency a controller's message names ("dependency 'apps/infra' is not ready").
pub fn awaited(message: &str) -> Option<Key> {
    let rest = message.split_once("dependency '")?.1;
    let (key, _) = rest.split_once('\'')?;
    key.contains('/').then(|| key.to_string())
}

/// What a Blocked object waits for, and what that dependency is doing when it was listed too.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockedBy {
    /// `<namespace>/<name>` of the dependency, of the same kind.
    pub name: Key,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
}

/// For each Blocked object among `objects` (kind name, namespace, name, summary), names the dependency
/// it waits for and, when that one is among `objects` too, its state and message, so the table
/// leads from what is blocked to the root cause.
pub fn explain_blocked<'a>(
    objects: impl IntoIterator<Item = (&'a str, &'a str, &'a str, &'a mut Summary)>,
) {
    let mut objects: Vec<_> = objects.into_iter().collect();
    let known: HashMap<(&str, String), (State, String)> = objects
        .iter()
        .map(|(kind, namespace, name, summary)| {
            (
                (*kind, format!("{namespace}/{name}")),
                (summary.state, summary.message.clone()),
            )
        })
        .collect();
    for (kind, _, _, summary) in &mut objects {
        if summary.state != State::Blocked {
            continue;
        }
        let Some(name) = awaited(&summary.message).or_else(|| summary.depends_on.first().cloned())
        else {
            continue;
        };
        let dependency = known.get(&(*kind, name.clone()));
        if let Some((state, message)) = dependency {
            summary.message = format!("waiting for {kind} {name}, which is {state}: {message}");
        }
        summary.blocked_by = Some(BlockedBy {
            name,
            state: dependency.map(|(state, _)| *state),
        });
    }
}

/// The order to reconcile `root` and everything it depends on: levels whose objects depend
/// only on earlier levels (each level can run concurrently), `root` alone in the last.
/// `dependencies` maps each object to what it depends on; a cycle is an error naming it.
pub fn reconcile_order(
    root: &Key,
    dependencies: &BTreeMap<Key, Vec<Key>>,
) -> Result<Vec<Vec<Key>>> {
    let mut levels: Vec<Vec<Key>> = Vec::new();
    let mut placed: BTreeSet<Key> = BTreeSet::new();
    let mut pending: BTreeSet<Key> = reachable(root, dependencies);
    while !pending.is_empty() {
        let ready: Vec<Key> = pending
            .iter()
            .filter(|key| {
                dependencies
                    .get(*key)
                    .is_none_or(|deps| deps.iter().all(|d| placed.contains(d)))
            })
            .cloned()
            .collect();
        if ready.is_empty() {
            let members: Vec<&str> = pending.iter().map(String::as_str).collect();
            return Err(FluxError::DependencyCycle {
                root: root.clone(),
                members: members.join(", "),
            }
            .into());
        }
        for key in &ready {
            pending.remove(key);
            placed.insert(key.clone());
        }
        levels.push(ready);
    }
    Ok(levels)
}

/// `root` and every object it depends on, directly or not.
fn reachable(root: &Key, dependencies: &BTreeMap<Key, Vec<Key>>) -> BTreeSet<Key> {
    let mut seen = BTreeSet::new();
    let mut next = vec![root.clone()];
    while let Some(key) = next.pop() {
        if seen.insert(key.clone()) {
            next.extend(dependencies.get(&key).into_iter().flatten().cloned());
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flux::status::summarize;
    use crate::flux::{GIT_REPOSITORY, KUSTOMIZATION};

    fn kustomization(
        name: &str,
        spec: serde_json::Value,
        ready: (&str, &str, &str),
    ) -> DynamicObject {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": name, "namespace": "apps", "generation": 1},
            "spec": spec,
            "status": {"observedGeneration": 1, "conditions": [{
                "type": "Ready", "status": ready.0, "reason": ready.1, "message": ready.2,
                "lastTransitionTime": "2026-12-01T10:00:00Z"
            }]}
        }))
        .unwrap()
    }

    #[test]
    fn dependencies_default_to_the_objects_own_namespace() {
        let ks = kustomization(
            "web",
            serde_json::json!({"dependsOn": [{"name": "infra"}, {"name": "crds", "namespace": "flux-system"}]}),
            ("True", "ReconciliationSucceeded", ""),
        );
        assert_eq!(
            depends_on(&KUSTOMIZATION, &ks),
            ["apps/infra", "flux-system/crds"]
        );
        assert!(depends_on(&GIT_REPOSITORY, &ks).is_empty());
    }

    #[test]
    fn the_controllers_message_names_the_awaited_dependency() {
        assert_eq!(
            awaited("dependency 'apps/infra' is not ready").as_deref(),
            Some("apps/infra")
        );
        assert_eq!(
            awaited("dependency 'apps/infra' is not ready according to readyExpr eval").as_deref(),
            Some("apps/infra")
        );
        assert_eq!(awaited("kustomize build failed"), None);
    }

    #[test]
    fn a_blocked_object_names_its_dependency_and_what_that_is_doing() {
        let web = kustomization(
            "web",
            serde_json::json!({"dependsOn": [{"name": "infra"}]}),
            (
                "False",
                DEPENDENCY_NOT_READY,
                "dependency 'apps/infra' is not ready",
            ),
        );
        let infra = kustomization(
            "infra",
            serde_json::json!({}),
            ("False", "BuildFailed", "kustomize build failed"),
        );
        let mut web_summary = summarize(&KUSTOMIZATION, &web);
        let mut infra_summary = summarize(&KUSTOMIZATION, &infra);
        assert_eq!(web_summary.state, State::Blocked);
        assert_eq!(web_summary.depends_on, ["apps/infra"]);
        explain_blocked([
            ("Kustomization", "apps", "web", &mut web_summary),
            ("Kustomization", "apps", "infra", &mut infra_summary),
        ]);
        assert_eq!(
            web_summary.message,
            "waiting for Kustomization apps/infra, which is Failed: kustomize build failed"
        );
        assert_eq!(
            web_summary.blocked_by,
            Some(BlockedBy {
                name: "apps/infra".into(),
                state: Some(State::Failed)
            })
        );
        assert_eq!(infra_summary.state, State::Failed);
        assert!(State::Failed < State::Blocked, "root causes sort first");
    }

    #[test]
    fn a_blocked_object_whose_dependency_was_not_listed_keeps_the_controllers_words() {
        let web = kustomization(
            "web",
            serde_json::json!({"dependsOn": [{"name": "infra"}]}),
            (
                "False",
                DEPENDENCY_NOT_READY,
                "dependency 'apps/infra' is not ready",
            ),
        );
        let mut summary = summarize(&KUSTOMIZATION, &web);
        explain_blocked([("Kustomization", "apps", "web", &mut summary)]);
        assert_eq!(summary.message, "dependency 'apps/infra' is not ready");
        assert_eq!(
            summary.blocked_by.map(|b| b.name).as_deref(),
            Some("apps/infra")
        );
    }

    fn graph(edges: &[(&str, &[&str])]) -> BTreeMap<Key, Vec<Key>> {
        edges
            .iter()
            .map(|(from, to)| (from.to_string(), to.iter().map(|t| t.to_string()).collect()))
            .collect()
    }

    #[test]
    fn dependencies_are_reconciled_first_and_independent_ones_together() {
        let dependencies = graph(&[
            ("a/app", &["a/infra", "a/crds"]),
            ("a/infra", &["a/crds"]),
            ("a/crds", &[]),
            ("a/unrelated", &[]),
        ]);
        assert_eq!(
            reconcile_order(&"a/app".into(), &dependencies).unwrap(),
            [vec!["a/crds"], vec!["a/infra"], vec!["a/app"]]
        );
        let diamond = graph(&[
            ("a/app", &["a/x", "a/y"]),
            ("a/x", &["a/base"]),
            ("a/y", &["a/base"]),
        ]);
        assert_eq!(
            reconcile_order(&"a/app".into(), &diamond).unwrap(),
            [vec!["a/base"], vec!["a/x", "a/y"], vec!["a/app"]]
        );
    }

    #[test]
    fn a_cycle_is_refused_before_anything_is_reconciled() {
        let cycle = graph(&[("a/app", &["a/x"]), ("a/x", &["a/y"]), ("a/y", &["a/app"])]);
        let err = reconcile_order(&"a/app".into(), &cycle)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "the dependsOn chain of a/app has a cycle among a/app, a/x, a/y; nothing was reconciled"
        );
    }
}
