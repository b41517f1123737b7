//! What applying a build would change: for every built object a server-side apply dry run as
//! kustomize-controller applies (field manager `kustomize-controller`, forced), compared with
//! the live object; and, when the Kustomization prunes, the objects of its inventory that the
//! build no longer has.
//!
//! Rules kept from kustomize-controller / `flux diff` (see docs/build-and-diff.md):
//! - an object marked `kustomize.toolkit.fluxcd.io/reconcile: disabled` or `ssa: ignore` (label
//!   or annotation, on the built or the live object) is skipped, as is an existing object the
//!   build marks `ssa: ifnotpresent`;
//! - a dry-run failure (invalid object, missing CRD or namespace) is that object's result, and
//!   the others are still diffed;
//! - `spec.ignore` JSON pointers are removed from both sides before comparing;
//! - prune is previewed only when the dry runs had no error (as the controller, which does
//!   not prune after a failed apply); objects marked `prune: disabled` are kept.

use futures::StreamExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::ApiResource;
use serde::Serialize;
use serde_json::Value;

use super::build::{Kustomization, marked};
use super::mask;
use super::render;
use crate::cluster::connection::Connection;
use crate::cluster::discovery::Resources;
use crate::cluster::{Action, qualified_plural};

/// The field manager kustomize-controller applies with, so the dry run merges as it would.
pub const CONTROLLER_FIELD_MANAGER: &str = "kustomize-controller";
/// Dry runs at once: enough to hide round trips, few enough not to be throttled.
const CONCURRENT_DRY_RUNS: usize = 8;

const RECONCILE_MARKER: &str = "kustomize.toolkit.fluxcd.io/reconcile";
const SSA_MARKER: &str = "kustomize.toolkit.fluxcd.io/ssa";
const PRUNE_MARKER: &str = "kustomize.toolkit.fluxcd.io/prune";

/// What applying would do to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Created,
    Configured,
    Unchanged,
    Skipped,
    Pruned,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Configured => "configured",
            Outcome::Unchanged => "unchanged",
            Outcome::Skipped => "skipped",
            Outcome::Pruned => "pruned",
            Outcome::Failed => "failed",
        }
    }

    /// Whether this outcome changes the cluster.
    pub fn is_change(self) -> bool {
        matches!(
            self,
            Outcome::Created | Outcome::Configured | Outcome::Pruned
        )
    }
}

/// One object's result.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectChange {
    /// `Kind/namespace/name` (`Kind/name` when cluster-scoped).
    pub object: String,
    pub api_version: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    pub action: Outcome,
    /// The Kustomization whose build holds the object (`namespace/name`).
    pub kustomization: String,
    /// For `configured`: the JSON paths that change.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// For `skipped` and `failed`: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For `configured`: the live and the merged object as YAML, Secret values masked.
    #[serde(skip)]
    pub live_yaml: String,
    #[serde(skip)]
    pub merged_yaml: String,
}

impl ObjectChange {
    /// The unified diff of a configured object, coloured when asked.
    pub fn unified_diff(&self, colour: bool) -> String {
        render::unified_diff(
            &self.live_yaml,
            &self.merged_yaml,
            &format!("live/{}", self.object),
            &format!("merged/{}", self.object),
            colour,
        )
    }
}

/// Diffs every object of one build of `kustomization`.
pub async fn diff(
    connection: &Connection,
    resources: &Resources,
    kustomization: &Kustomization,
    objects: Vec<Value>,
) -> Vec<ObjectChange> {
    let ignore_rules = IgnoreRule::from_spec(kustomization.spec());
    let owner = format!("{}/{}", kustomization.namespace, kustomization.name);
    let mut changes: Vec<ObjectChange> = futures::stream::iter(
        objects
            .into_iter()
            .map(|object| diff_one(connection, resources, &ignore_rules, &owner, object)),
    )
    .buffered(CONCURRENT_DRY_RUNS)
    .collect()
    .await;
    let failed = changes.iter().any(|c| c.action == Outcome::Failed);
    if kustomization.spec()["prune"].as_bool() == Some(true) && !failed {
        let stale = stale_objects(connection, resources, kustomization, &changes).await;
        changes.extend(stale);
    }
    changes
}

/// The identity of an object: apiVersion, kind, namespace (None when cluster-scoped), name.
struct Identity {
    api_version: String,
    kind: String,
    namespace: Option<String>,
    name: String,
}

impl Identity {
    fn display(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}/{ns}/{}", self.kind, self.name),
            None => format!("{}/{}", self.kind, self.name),
        }
    }

    fn group(&self) -> &str {
        self.api_version
            .rsplit_once('/')
            .map(|(group, _)| group)
            .unwrap_or("")
    }

    fn change(&self, owner: &str, action: Outcome, reason: Option<String>) -> ObjectChange {
        ObjectChange {
            object: self.display(),
            api_version: self.api_version.clone(),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            action,
            kustomization: owner.to_string(),
            paths: Vec::new(),
            reason,
            live_yaml: String::new(),
            merged_yaml: String::new(),
        }
    }
}

/// The string at `pointer` in `object`, or "" (a missing field reads as empty).
pub(super) fn text<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

async fn diff_one(
    connection: &Connection,
    resources: &Resources,
    ignore_rules: &[IgnoreRule],
    owner: &str,
    mut desired: Value,
) -> ObjectChange {
    let mut identity = Identity {
        api_version: text(&desired, "/apiVersion").to_string(),
        kind: text(&desired, "/kind").to_string(),
        namespace: Some(text(&desired, "/metadata/namespace").to_string())
            .filter(|ns| !ns.is_empty()),
        name: text(&desired, "/metadata/name").to_string(),
    };
    let failed =
        |identity: &Identity, reason: String| identity.change(owner, Outcome::Failed, Some(reason));
    let (resource, namespaced) = match resources.find(&identity.api_version, &identity.kind) {
        Ok(found) => found,
        Err(_) => {
            return failed(
                &identity,
                format!(
                    "dry-run failed: no matches for kind \"{}\" in version \"{}\" (is its CRD installed?)",
                    identity.kind, identity.api_version
                ),
            );
        }
    };
    if !namespaced {
        identity.namespace = None;
    } else if identity.namespace.is_none() {
        return failed(
            &identity,
            "dry-run failed: namespace not specified (set metadata.namespace or the Kustomization's targetNamespace)".to_string(),
        );
    }
    let api: Api<DynamicObject> = match &identity.namespace {
        Some(ns) => Api::namespaced_with(connection.client.clone(), ns, resource),
        None => Api::all_with(connection.client.clone(), resource),
    };
    let live = match get_live(connection, &api, resource, &identity).await {
        Ok(live) => live,
        Err(err) => return failed(&identity, err.to_string()),
    };
    if let Some(reason) = skip_reason(&desired, live.as_ref()) {
        return identity.change(owner, Outcome::Skipped, Some(reason));
    }
    // What Flux does before its dry run (the build already masked SOPS values).
    mask::fold_string_data(&mut desired);
    let merged = match dry_run(connection, &api, resource, &identity, &desired).await {
        Ok(merged) => merged,
        Err(err) => return failed(&identity, format!("dry-run failed: {err}")),
    };
    let Some(mut live) = live else {
        return identity.change(owner, Outcome::Created, None);
    };
    let mut merged = merged;
    let rules: Vec<&IgnoreRule> = ignore_rules
        .iter()
        .filter(|rule| rule.selects(&identity, &desired))
        .collect();
    for object in [&mut live, &mut merged] {
        render::normalise_for_diff(object);
        for rule in &rules {
            rule.remove_paths(object);
        }
    }
    match mask::compare_sops_secret(&desired, &mut live, &mut merged) {
        // Encrypted values cannot be compared: only which keys there are.
        Some(false) => return identity.change(owner, Outcome::Unchanged, None),
        Some(true) => {}
        None => mask::mask_secret_pair(&mut live, &mut merged),
    }
    if live == merged {
        return identity.change(owner, Outcome::Unchanged, None);
    }
    let mut change = identity.change(owner, Outcome::Configured, None);
    change.paths = render::changed_paths(&live, &merged);
    change.live_yaml =
        crate::ui::output::yaml_documents(std::slice::from_ref(&live)).unwrap_or_default();
    change.merged_yaml =
        crate::ui::output::yaml_documents(std::slice::from_ref(&merged)).unwrap_or_default();
    change
}

async fn get_live(
    connection: &Connection,
    api: &Api<DynamicObject>,
    resource: &ApiResource,
    identity: &Identity,
) -> crate::Result<Option<Value>> {
    let mut action = Action::new("get", &qualified_plural(resource)).named(&identity.name);
    if let Some(ns) = &identity.namespace {
        action = action.in_namespace(ns);
    }
    let live = connection.call(action, api.get_opt(&identity.name)).await?;
    Ok(live.map(|object| serde_json::to_value(object).unwrap_or_default()))
}

async fn dry_run(
    connection: &Connection,
    api: &Api<DynamicObject>,
    resource: &ApiResource,
    identity: &Identity,
    desired: &Value,
) -> crate::Result<Value> {
    let mut action =
        Action::new("dry-run apply", &qualified_plural(resource)).named(&identity.name);
    if let Some(ns) = &identity.namespace {
        action = action.in_namespace(ns);
    }
    let mut params = PatchParams::apply(CONTROLLER_FIELD_MANAGER).force();
    params.dry_run = true;
    let merged = connection
        .call(
            action,
            api.patch(&identity.name, &params, &Patch::Apply(desired)),
        )
        .await?;
    Ok(serde_json::to_value(merged).unwrap_or_default())
}

/// Why kustomize-controller would leave the object alone, if it would.
fn skip_reason(desired: &Value, live: Option<&Value>) -> Option<String> {
    for (object, whose) in [(Some(desired), "the build"), (live, "the live object")] {
        let Some(object) = object else { continue };
        for (marker, value) in [(RECONCILE_MARKER, "disabled"), (SSA_MARKER, "ignore")] {
            if marked(object, marker, value) {
                return Some(format!("{whose} is marked {marker}: {value}"));
            }
        }
    }
    if live.is_some() && marked(desired, SSA_MARKER, "IfNotPresent") {
        return Some(format!(
            "it exists and the build is marked {SSA_MARKER}: IfNotPresent"
        ));
    }
    None
}

/// Inventory entries the build no longer has: what the controller would delete.
async fn stale_objects(
    connection: &Connection,
    resources: &Resources,
    kustomization: &Kustomization,
    changes: &[ObjectChange],
) -> Vec<ObjectChange> {
    let Some(inventory) = crate::flux::inventory::from_status(kustomization.status()) else {
        return Vec::new();
    };
    let owner = format!("{}/{}", kustomization.namespace, kustomization.name);
    let built: std::collections::HashSet<(String, String, String, String)> = changes
        .iter()
        .map(|c| {
            let group = c.api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
            (
                group.to_string(),
                c.kind.clone(),
                c.namespace.clone().unwrap_or_default(),
                c.name.clone(),
            )
        })
        .collect();
    let mut stale = Vec::new();
    for entry in inventory.entries.iter().rev() {
        let key = (
            entry.group.clone(),
            entry.kind.clone(),
            entry.namespace.clone(),
            entry.name.clone(),
        );
        if built.contains(&key) {
            continue;
        }
        let identity = Identity {
            api_version: entry.api_version(),
            kind: entry.kind.clone(),
            namespace: Some(entry.namespace.clone()).filter(|ns| !ns.is_empty()),
            name: entry.name.clone(),
        };
        let live = match resources.preferred_kind(&entry.group, &entry.kind) {
            Some((resource, _)) => {
                let api: Api<DynamicObject> = match &identity.namespace {
                    Some(ns) => Api::namespaced_with(connection.client.clone(), ns, resource),
                    None => Api::all_with(connection.client.clone(), resource),
                };
                get_live(connection, &api, resource, &identity)
                    .await
                    .ok()
                    .flatten()
            }
            None => None,
        };
        match live {
            // Already gone: nothing to delete.
            None => {}
            Some(live) if marked(&live, PRUNE_MARKER, "disabled") => stale.push(identity.change(
                &owner,
                Outcome::Skipped,
                Some(format!(
                    "not in the build, but marked {PRUNE_MARKER}: disabled, so it is kept"
                )),
            )),
            Some(_) => stale.push(identity.change(&owner, Outcome::Pruned, None)),
        }
    }
    stale
}

/// One `spec.ignore` rule: JSON pointers left out of the comparison for the objects its
/// target selects (all objects without a target).
struct IgnoreRule {
    paths: Vec<String>,
    target: Option<Value>,
}

impl IgnoreRule {
    fn from_spec(spec: &Value) -> Vec<IgnoreRule> {
        spec["ignore"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|rule| IgnoreRule {
                paths: rule["paths"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect(),
                target: rule.get("target").cloned(),
            })
            .collect()
    }

    /// Group, version, kind, name and namespace must equal the target's where it sets them;
    /// label and annotation selectors are equality-based (`a=b`, `a!=b`, `a`).
    fn selects(&self, identity: &Identity, object: &Value) -> bool {
        let Some(target) = &self.target else {
            return true;
        };
        let version = identity
            .api_version
            .rsplit_once('/')
            .map(|(_, v)| v)
            .unwrap_or(&identity.api_version);
        let fields = [
            ("group", identity.group()),
            ("version", version),
            ("kind", identity.kind.as_str()),
            ("name", identity.name.as_str()),
            ("namespace", identity.namespace.as_deref().unwrap_or("")),
        ];
        let fields_match = fields.iter().all(|(field, actual)| {
            target[field]
                .as_str()
                .is_none_or(|wanted| wanted.is_empty() || wanted == *actual)
        });
        fields_match
            && selector_matches(
                target["labelSelector"].as_str(),
                &object["metadata"]["labels"],
            )
            && selector_matches(
                target["annotationSelector"].as_str(),
                &object["metadata"]["annotations"],
            )
    }

    fn remove_paths(&self, object: &mut Value) {
        for path in &self.paths {
            remove_pointer(object, path);
        }
    }
}

/// Equality-based selector (`a=b,c!=d,e,!f`) against a labels or annotations map.
fn selector_matches(selector: Option<&str>, map: &Value) -> bool {
    let Some(selector) = selector.filter(|s| !s.trim().is_empty()) else {
        return true;
    };
    selector.split(',').map(str::trim).all(|term| {
        if let Some((key, value)) = term.split_once("!=") {
            map[key.trim()].as_str() != Some(value.trim())
        } else if let Some((key, value)) = term.split_once("==").or_else(|| term.split_once('=')) {
            map[key.trim()].as_str() == Some(value.trim())
        } else if let Some(key) = term.strip_prefix('!') {
            map.get(key.trim()).is_none()
        } else {
            map.get(term).is_some()
        }
    })
}

/// Removes the value at a JSON pointer (RFC 6901), if it is there.
fn remove_pointer(object: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let last = last.replace("~1", "/").replace("~0", "~");
    match object.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.remove(&last);
        }
        Some(Value::Array(items)) => {
            if let Ok(index) = last.parse::<usize>()
                && index < items.len()
            {
                items.remove(index);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn identity() -> Identity {
        Identity {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: Some("apps".into()),
            name: "web".into(),
        }
    }

    #[test]
    fn markers_skip_as_the_controller_does() {
        let plain = json!({"metadata": {}});
        let disabled = json!({"metadata": {"annotations": {RECONCILE_MARKER: "disabled"}}});
        let ignored = json!({"metadata": {"labels": {SSA_MARKER: "ignore"}}});
        let if_absent = json!({"metadata": {"annotations": {SSA_MARKER: "IfNotPresent"}}});
        assert_eq!(skip_reason(&plain, None), None);
        assert_eq!(skip_reason(&plain, Some(&plain)), None);
        assert_eq!(
            skip_reason(&disabled, None).as_deref(),
            Some("the build is marked kustomize.toolkit.fluxcd.io/reconcile: disabled")
        );
        assert_eq!(
            skip_reason(&plain, Some(&ignored)).as_deref(),
            Some("the live object is marked kustomize.toolkit.fluxcd.io/ssa: ignore")
        );
        assert_eq!(skip_reason(&if_absent, None), None, "created when absent");
        assert!(skip_reason(&if_absent, Some(&plain)).is_some());
    }

    #[test]
    fn ignore_rules_remove_pointers_of_selected_objects() {
        let spec = json!({"ignore": [
            {"paths": ["/spec/replicas"], "target": {"kind": "Deployment", "labelSelector": "app=web"}},
            {"paths": ["/metadata/annotations/note~1x", "/spec/list/0"]},
        ]});
        let rules = IgnoreRule::from_spec(&spec);
        let mut object = json!({"metadata": {"labels": {"app": "web"}, "annotations": {"note/x": "1", "keep": "2"}},
            "spec": {"replicas": 3, "list": ["a", "b"]}});
        let desired = object.clone();
        for rule in rules.iter().filter(|r| r.selects(&identity(), &desired)) {
            rule.remove_paths(&mut object);
        }
        assert_eq!(
            object,
            json!({"metadata": {"labels": {"app": "web"}, "annotations": {"keep": "2"}}, "spec": {"list": ["b"]}})
        );
        let other = json!({"metadata": {"labels": {"app": "db"}}});
        assert!(!rules[0].selects(&identity(), &other));
        assert!(rules[1].selects(&identity(), &other));
    }

    #[test]
    fn selectors_are_equality_based() {
        let labels = json!({"a": "1", "b": "2"});
        assert!(selector_matches(Some("a=1,b"), &labels));
        assert!(selector_matches(Some("a==1"), &labels));
        assert!(selector_matches(Some("a!=2,!c"), &labels));
        assert!(!selector_matches(Some("a=2"), &labels));
        assert!(!selector_matches(Some("c"), &labels));
        assert!(selector_matches(None, &labels));
    }
}
