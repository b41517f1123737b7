//! Server-side apply of untyped objects, with this plugin's field manager, in Flux's order:
//! CRDs and Namespaces first, then (once every CRD is Established) the rest.

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::ApiResource;
use kube::runtime::wait::{Condition, conditions};

use super::action::{Action, qualified_plural};
use super::connection::Connection;
use super::discovery::Resources;
use super::error::{Error, Result};
use super::wait::{Observed, Selector, Waited, Watched, watch_until};

/// How long CRDs may take to become Established before apply gives up (the API server
/// usually needs well under a second).
const CRD_ESTABLISHED_TIMEOUT: Duration = Duration::from_secs(60);

/// Objects applied at once; enough to hide round trips, few enough not to be throttled.
const CONCURRENT_APPLIES: usize = 8;

/// What server-side apply did to one object, told by its resourceVersion before and after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Created,
    Configured,
    Unchanged,
}

/// One applied object, for progress lines and the "nothing changed" verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub change: Change,
}

impl std::fmt::Display for Applied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let change = match self.change {
            Change::Created => "created",
            Change::Configured => "configured",
            Change::Unchanged => "unchanged",
        };
        match &self.namespace {
            Some(ns) => write!(f, "{}/{} ({ns}) {change}", self.kind, self.name),
            None => write!(f, "{}/{} {change}", self.kind, self.name),
        }
    }
}

/// Applies `objects` (JSON objects with apiVersion, kind, metadata.name and, when
/// namespaced, metadata.namespace) in Flux's order and returns what changed.
pub async fn apply_all(
    connection: &Connection,
    objects: &[serde_json::Value],
) -> Result<Vec<Applied>> {
    let (first, rest): (Vec<_>, Vec<_>) = objects.iter().partition(|o| {
        matches!(
            o.get("kind").and_then(|k| k.as_str()),
            Some("CustomResourceDefinition" | "Namespace")
        )
    });
    let mut applied = Vec::with_capacity(objects.len());
    if !first.is_empty() {
        let resources = Resources::discover(connection).await?;
        applied.extend(apply_concurrently(connection, &resources, &first).await?);
        let crds: Vec<&str> = first
            .iter()
            .filter(|o| o.get("kind").and_then(|k| k.as_str()) == Some("CustomResourceDefinition"))
            .filter_map(|o| o.pointer("/metadata/name").and_then(|n| n.as_str()))
            .collect();
        wait_established(connection, &crds).await?;
    }
    if !rest.is_empty() {
        // Discover again: the CRDs just established serve new kinds.
        let resources = Resources::discover(connection).await?;
        applied.extend(apply_concurrently(connection, &resources, &rest).await?);
    }
    note_change(&applied);
    Ok(applied)
}

/// Tells the interrupt line what this apply changed ("applied 42 objects").
fn note_change(applied: &[Applied]) {
    let changed: Vec<&Applied> = applied
        .iter()
        .filter(|a| a.change != Change::Unchanged)
        .collect();
    match changed.as_slice() {
        [] => {}
        [one] => crate::interrupt::changed(format!(
            "applied {} {}{}",
            one.kind,
            one.namespace
                .as_deref()
                .map(|ns| format!("{ns}/"))
                .unwrap_or_default(),
            one.name
        )),
        many => crate::interrupt::changed(format!("applied {} objects", many.len())),
    }
}

async fn apply_concurrently(
    connection: &Connection,
    resources: &Resources,
    objects: &[&serde_json::Value],
) -> Result<Vec<Applied>> {
    futures::stream::iter(objects.iter().map(|o| apply_one(connection, resources, o)))
        .buffered(CONCURRENT_APPLIES)
        .try_collect()
        .await
}

async fn apply_one(
    connection: &Connection,
    resources: &Resources,
    object: &serde_json::Value,
) -> Result<Applied> {
    let text = |pointer: &str| object.pointer(pointer).and_then(|v| v.as_str());
    let (api_version, kind, name) =
        match (text("/apiVersion"), text("/kind"), text("/metadata/name")) {
            (Some(a), Some(k), Some(n)) => (a, k, n),
            _ => {
                // Name what is there, never the content: it may be a Secret.
                return Err(Error::ObjectIncomplete {
                    kind: text("/kind").unwrap_or_default().to_string(),
                    name: text("/metadata/name").unwrap_or_default().to_string(),
                });
            }
        };
    let (resource, namespaced) = resources.find(api_version, kind)?;
    let namespace = if namespaced {
        Some(text("/metadata/namespace").unwrap_or("default"))
    } else {
        None
    };
    let api: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(connection.client.clone(), ns, resource),
        None => Api::all_with(connection.client.clone(), resource),
    };
    let mut action = Action::new("get", &qualified_plural(resource)).named(name);
    if let Some(ns) = namespace {
        action = action.in_namespace(ns);
    }
    let before = connection.call(action.clone(), api.get_opt(name)).await?;
    if let Some(existing) = &before
        && covers(&serde_json::to_value(existing).unwrap_or_default(), object)
    {
        // Applying would change nothing but the list of field managers (another tool, e.g.
        // flux or kustomize-controller, applied the same values): leave the object alone.
        return Ok(Applied {
            kind: kind.to_string(),
            namespace: namespace.map(str::to_string),
            name: name.to_string(),
            change: Change::Unchanged,
        });
    }
    action.verb = "apply".to_string();
    let params = PatchParams::apply(crate::FIELD_MANAGER).force();
    let after = connection
        .call(action, api.patch(name, &params, &Patch::Apply(object)))
        .await?;
    let change = match before {
        None => Change::Created,
        Some(b) if b.metadata.resource_version == after.metadata.resource_version => {
            Change::Unchanged
        }
        Some(_) => Change::Configured,
    };
    Ok(Applied {
        kind: kind.to_string(),
        namespace: namespace.map(str::to_string),
        name: name.to_string(),
        change,
    })
}

/// Whether `existing` already holds every field of `desired` with the same value. Fields the
/// API server adds (defaults, status, metadata) do not matter; a list must have the same
/// length, its items compared in order.
fn covers(existing: &serde_json::Value, desired: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (existing, desired) {
        (Value::Object(have), Value::Object(want)) => want
            .iter()
            .all(|(key, value)| have.get(key).is_some_and(|h| covers(h, value))),
        (Value::Array(have), Value::Array(want)) => {
            have.len() == want.len() && have.iter().zip(want).all(|(h, w)| covers(h, w))
        }
        (Value::Number(have), Value::Number(want)) => have.as_f64() == want.as_f64(),
        (have, want) => have == want,
    }
}

/// Waits until every named CRD is Established, so objects of its kind can be applied.
async fn wait_established(connection: &Connection, names: &[&str]) -> Result<()> {
    let deadline = Instant::now() + CRD_ESTABLISHED_TIMEOUT;
    let waits = names.iter().map(|name| async move {
        let watched = Watched {
            api: Api::<CustomResourceDefinition>::all(connection.client.clone()),
            resource: "customresourcedefinitions.apiextensions.k8s.io".to_string(),
            selector: Selector::Name(name.to_string()),
        };
        let established = conditions::is_crd_established();
        let verdict = |observed: &Observed<CustomResourceDefinition>| match observed {
            Observed::Applied(crd) => established.matches_object(Some(crd)).then_some(()),
            Observed::Deleted(_) => None,
        };
        match watch_until(connection, watched, verdict, deadline).await? {
            Waited::Decided(()) => Ok(()),
            Waited::TimedOut { .. } => Err(Error::CrdNotEstablished {
                name: name.to_string(),
                timeout: CRD_ESTABLISHED_TIMEOUT,
            }),
        }
    });
    futures::future::try_join_all(waits).await.map(|_| ())
}

/// Applies `object` (which must carry apiVersion, kind and metadata.name) server-side, taking
/// ownership of conflicting fields as `kubectl apply --server-side --force-conflicts` would.
pub async fn server_side_apply(
    connection: &Connection,
    resource: &ApiResource,
    namespace: Option<&str>,
    object: &DynamicObject,
) -> Result<DynamicObject> {
    let name = object.metadata.name.clone().unwrap_or_default();
    let api: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(connection.client.clone(), ns, resource),
        None => Api::all_with(connection.client.clone(), resource),
    };
    let mut action = Action::new("apply", &qualified_plural(resource)).named(&name);
    if let Some(ns) = namespace {
        action = action.in_namespace(ns);
    }
    let params = PatchParams::apply(crate::FIELD_MANAGER).force();
    connection
        .call(action, api.patch(&name, &params, &Patch::Apply(object)))
        .await
}

#[cfg(test)]
mod tests {
    use super::covers;
    use serde_json::json;

    #[test]
    fn an_object_covers_what_it_already_holds_plus_server_additions() {
        let existing = json!({"metadata": {"name": "a", "resourceVersion": "7", "labels": {"x": "1"}},
            "spec": {"replicas": 1, "ports": [{"port": 80, "protocol": "TCP"}], "args": ["--a", "--b"]}});
        assert!(covers(
            &existing,
            &json!({"metadata": {"name": "a"}, "spec": {"ports": [{"port": 80}]}})
        ));
        assert!(covers(&existing, &json!({"spec": {"replicas": 1.0}})));
        assert!(!covers(&existing, &json!({"spec": {"replicas": 2}})));
        assert!(
            !covers(&existing, &json!({"spec": {"args": ["--a"]}})),
            "a shorter list is a change"
        );
        assert!(!covers(
            &existing,
            &json!({"metadata": {"labels": {"y": "2"}}})
        ));
    }
}
