//! Why an object is in the cluster: from any object, through its owners (Pod → ReplicaSet →
//! Deployment), to the Flux object that applied it, that object's own manager and so on up to
//! the root, and the source whose revision was applied.
//!
//! kustomize-controller labels every object it applies with `kustomize.toolkit.fluxcd.io/name`
//! and `/namespace`, helm-controller every object it renders with `helm.toolkit.fluxcd.io/name`
//! and `/namespace`; objects made by other controllers from those (a Deployment's ReplicaSets
//! and Pods) carry no labels but name their maker in `ownerReferences`. The root Kustomization
//! labels itself, so the walk stops at an object already on the chain.
//!
//! The source shown is the one the object's nearest manager reads: its revision is what put the
//! object in the cluster.

use jiff::Timestamp;
use kube::api::{Api, DynamicObject};
use kube::discovery::ApiResource;
use serde::Serialize;
use serde_json::Value;

use crate::cluster::action::{Action, qualified_plural};
use crate::cluster::connection::Connection;
use crate::cluster::discovery::Resources;
use crate::cluster::health;
use crate::error::Result;
use crate::flux::Error as FluxError;
use crate::flux::discovery::FluxApis;
use crate::flux::objects::{self, FluxObject};
use crate::flux::refs::{SourceReference, reconciled_source, source_ref};
use crate::flux::status::{revision, summarize};
use crate::flux::{FluxKind, HELM_RELEASE, KINDS, KUSTOMIZATION};

/// Ownership chains longer than this are cut (a loop of ownerReferences).
const MAX_OWNERS: usize = 20;

/// How a step relates to the object below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Relation {
    /// The object traced.
    Object,
    /// Named in `ownerReferences` of the step below.
    Owner,
    /// The Flux object whose labels the step below carries.
    ManagedBy,
    /// What the nearest manager reads (a GitRepository, a HelmChart and its repository).
    Source,
}

impl Relation {
    fn label(self) -> &'static str {
        match self {
            Relation::Object => "Object",
            Relation::Owner => "Owner",
            Relation::ManagedBy => "Managed by",
            Relation::Source => "Source",
        }
    }
}

/// One object on the chain, with its state.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub relation: Relation,
    pub api_version: String,
    pub kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    pub name: String,
    /// The computed state for Flux objects (Ready, Failed, ...), else the health (Current,
    /// InProgress, Failed, Terminating).
    pub state: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chart: Option<String>,
    /// When the source last fetched its artifact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fetched: Option<Timestamp>,
}

impl Step {
    /// `Kind/namespace/name`, or `Kind/name` for cluster-scoped objects.
    pub fn display(&self) -> String {
        if self.namespace.is_empty() {
            format!("{}/{}", self.kind, self.name)
        } else {
            format!("{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }

    fn new(relation: Relation, object: &DynamicObject) -> Step {
        let types = object.types.clone().unwrap_or_default();
        let (state, message, revision) = match flux_kind(&types.api_version, &types.kind) {
            Some(kind) => {
                let summary = summarize(kind, object);
                (
                    summary.state.to_string(),
                    summary.message,
                    revision(kind, object),
                )
            }
            None => {
                let group = types
                    .api_version
                    .rsplit_once('/')
                    .map_or("", |(group, _)| group);
                let value = serde_json::to_value(object).unwrap_or_default();
                let assessment = health::assess(group, &types.kind, &value);
                (assessment.health.to_string(), assessment.message, None)
            }
        };
        Step {
            relation,
            api_version: types.api_version,
            kind: types.kind,
            namespace: object.metadata.namespace.clone().unwrap_or_default(),
            name: object.metadata.name.clone().unwrap_or_default(),
            state,
            message,
            revision,
            url: None,
            reference: None,
            chart: None,
            fetched: None,
        }
    }

    /// A Flux object a label or reference names that does not exist (deleted, or not created
    /// yet): the chain shows it and ends there.
    fn missing(relation: Relation, kind: &FluxKind, namespace: &str, name: &str) -> Step {
        Step {
            relation,
            api_version: format!("{}/{}", kind.group, kind.version),
            kind: kind.kind.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
            state: "NotFound".to_string(),
            message: "the object does not exist".to_string(),
            revision: None,
            url: None,
            reference: None,
            chart: None,
            fetched: None,
        }
    }

    fn of_flux(relation: Relation, object: &FluxObject) -> Step {
        let mut step = Step::new(relation, &object.object);
        step.kind = object.kind.kind.to_string();
        if step.api_version.is_empty() {
            step.api_version = format!("{}/{}", object.kind.group, object.kind.version);
        }
        step
    }

    fn of_source(object: &FluxObject) -> Step {
        let mut step = Step::of_flux(Relation::Source, object);
        let spec = &object.object.data["spec"];
        let text = |value: &Value| value.as_str().filter(|s| !s.is_empty()).map(str::to_string);
        step.url = text(&spec["url"]).or_else(|| {
            let bucket = text(&spec["bucketName"])?;
            Some(match text(&spec["endpoint"]) {
                Some(endpoint) => format!("{endpoint}/{bucket}"),
                None => bucket,
            })
        });
        step.reference = ["branch", "tag", "semver", "name", "commit", "digest"]
            .iter()
            .find_map(|field| Some(format!("{field} {}", text(&spec["ref"][field])?)));
        step.chart = text(&spec["chart"]).map(|chart| match text(&spec["version"]) {
            Some(version) => format!("{chart} {version}"),
            None => chart,
        });
        step.fetched = object.object.data["status"]["artifact"]["lastUpdateTime"]
            .as_str()
            .and_then(|t| t.parse().ok());
        step
    }
}

/// The whole chain, from the object traced up to the source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trace {
    pub chain: Vec<Step>,
}

impl Trace {
    /// The chain for people: one block per step, labels aligned.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for (index, step) in self.chain.iter().enumerate() {
            if index > 0 {
                out.push_str("---\n");
            }
            let mut line = |label: &str, value: &str| {
                out.push_str(&format!("{:<12}{value}\n", format!("{label}:")));
            };
            line(step.relation.label(), &step.display());
            line("State", &step.state);
            if let Some(url) = &step.url {
                line("URL", url);
            }
            if let Some(reference) = &step.reference {
                line("Ref", reference);
            }
            if let Some(chart) = &step.chart {
                line("Chart", chart);
            }
            if let Some(revision) = &step.revision {
                line("Revision", revision);
            }
            if let Some(fetched) = &step.fetched {
                line("Fetched", &fetched.to_string());
            }
            if !step.message.is_empty() {
                line("Message", &step.message.replace('\n', " "));
            }
        }
        out
    }
}

fn flux_kind(api_version: &str, kind: &str) -> Option<&'static FluxKind> {
    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    KINDS.iter().find(|k| k.kind == kind && k.group == group)
}

/// Traces the object `name` of `resource` (in `namespace` when the resource is namespaced).
pub async fn trace(
    connection: &Connection,
    resources: &Resources,
    apis: &FluxApis,
    resource: &ApiResource,
    namespaced: bool,
    namespace: &str,
    name: &str,
) -> Result<Trace> {
    let asked_namespace = namespace;
    let namespace = namespaced.then_some(namespace);
    let object = get(connection, resource, namespace, name)
        .await?
        .ok_or_else(|| FluxError::ObjectNotFound {
            object: format!("{}/{name}", resource.kind),
            namespace: namespace.map(str::to_string),
        })?;
    let mut chain = vec![Step::new(Relation::Object, &object)];

    // Up the ownerReferences until an object carries a manager's labels.
    let mut current = object;
    let mut manager = manager_of(&current);
    while manager.is_none() && chain.len() <= MAX_OWNERS {
        let Some(owner) = owner_of(connection, resources, &current).await? else {
            break;
        };
        chain.push(Step::new(Relation::Owner, &owner));
        manager = manager_of(&owner);
        current = owner;
    }
    let Some(mut manager) = manager else {
        return Err(FluxError::NotManaged {
            object: chain.first().map(Step::display).unwrap_or_default(),
        }
        .into());
    };

    // Up the managers to the root; the nearest one's source goes on top.
    let mut nearest: Option<FluxObject> = None;
    loop {
        let served = apis.require(manager.kind)?;
        // A label without its namespace: the labelled object's, or for a cluster-scoped
        // object the namespace the user asked in.
        let namespace = manager
            .namespace
            .clone()
            .or_else(|| current.metadata.namespace.clone())
            .unwrap_or_else(|| asked_namespace.to_string());
        let found = match objects::get(connection, served, &namespace, &manager.name).await {
            Ok(found) => found,
            Err(err) if is_not_found(&err) => {
                chain.push(Step::missing(
                    Relation::ManagedBy,
                    manager.kind,
                    &namespace,
                    &manager.name,
                ));
                break;
            }
            Err(err) => return Err(err),
        };
        // A root Kustomization traced itself names itself as its manager: shown once.
        let already_shown = chain.iter().any(|s| manager.is(s, &namespace));
        if !already_shown {
            chain.push(Step::of_flux(Relation::ManagedBy, &found));
        }
        let next = manager_of(&found.object);
        current = found.object.clone();
        nearest.get_or_insert(found);
        if already_shown {
            break;
        }
        match next {
            Some(next) if !chain.iter().any(|s| next.is(s, &namespace)) => manager = next,
            _ => break,
        }
    }
    if let Some(nearest) = nearest {
        chain.extend(sources(connection, apis, &nearest).await?);
    }
    Ok(Trace { chain })
}

fn is_not_found(err: &crate::error::Error) -> bool {
    matches!(err, crate::error::Error::Flux(FluxError::NotFound { .. }))
}

/// The Flux object a manager label names.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Manager {
    kind: &'static FluxKind,
    name: String,
    /// When the label gives one; else the labelled object's namespace.
    namespace: Option<String>,
}

impl Manager {
    fn is(&self, step: &Step, default_namespace: &str) -> bool {
        let namespace = self.namespace.as_deref().unwrap_or(default_namespace);
        step.kind == self.kind.kind && step.name == self.name && step.namespace == namespace
    }
}

/// The manager an object's labels name: kustomize-controller's, else helm-controller's.
fn manager_of(object: &DynamicObject) -> Option<Manager> {
    let labels = object.metadata.labels.as_ref()?;
    [&KUSTOMIZATION, &HELM_RELEASE]
        .into_iter()
        .find_map(|kind| {
            let name = labels.get(&format!("{}/name", kind.group))?;
            (!name.is_empty()).then(|| Manager {
                kind,
                name: name.clone(),
                namespace: labels
                    .get(&format!("{}/namespace", kind.group))
                    .filter(|ns| !ns.is_empty())
                    .cloned(),
            })
        })
}

/// The object's owner: the controller among its ownerReferences, else the first. None when it
/// has none, or the owner is gone.
async fn owner_of(
    connection: &Connection,
    resources: &Resources,
    object: &DynamicObject,
) -> Result<Option<DynamicObject>> {
    let references = object.metadata.owner_references.as_deref().unwrap_or(&[]);
    let Some(reference) = references
        .iter()
        .find(|r| r.controller == Some(true))
        .or(references.first())
    else {
        return Ok(None);
    };
    let (resource, namespaced) = resources.find(&reference.api_version, &reference.kind)?;
    let namespace = namespaced
        .then_some(object.metadata.namespace.as_deref())
        .flatten();
    get(connection, resource, namespace, &reference.name).await
}

async fn get(
    connection: &Connection,
    resource: &ApiResource,
    namespace: Option<&str>,
    name: &str,
) -> Result<Option<DynamicObject>> {
    let mut action = Action::new("get", &qualified_plural(resource)).named(name);
    let api: Api<DynamicObject> = match namespace {
        Some(ns) => {
            action = action.in_namespace(ns);
            Api::namespaced_with(connection.client.clone(), ns, resource)
        }
        None => Api::all_with(connection.client.clone(), resource),
    };
    let mut object = connection.call(action, api.get_opt(name)).await?;
    if let Some(object) = object.as_mut()
        && object.types.is_none()
    {
        object.types = Some(kube::api::TypeMeta {
            api_version: resource.api_version.clone(),
            kind: resource.kind.clone(),
        });
    }
    Ok(object)
}

/// The sources `manager` reads, nearest first: a Kustomization's source; a HelmRelease's
/// HelmChart, then the chart's repository (or its `chartRef`).
async fn sources(
    connection: &Connection,
    apis: &FluxApis,
    manager: &FluxObject,
) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    let mut current = manager.clone();
    // A HelmRelease's HelmChart has a source of its own: at most two hops.
    for _ in 0..2 {
        let reference = reconciled_source(current.kind, &current.object)
            .or_else(|| source_ref(current.kind, &current.object));
        let Some(SourceReference::Named(reference)) = reference else {
            break;
        };
        let Some(kind) = FluxKind::lookup(&reference.kind) else {
            break;
        };
        let Some(served) = apis.get(kind) else {
            break;
        };
        let namespace = reference
            .namespace
            .clone()
            .unwrap_or_else(|| current.namespace().to_string());
        let source = match objects::get(connection, served, &namespace, &reference.name).await {
            Ok(source) => source,
            Err(err) if is_not_found(&err) => {
                steps.push(Step::missing(
                    Relation::Source,
                    kind,
                    &namespace,
                    &reference.name,
                ));
                break;
            }
            Err(err) => return Err(err),
        };
        steps.push(Step::of_source(&source));
        current = source;
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: serde_json::Value) -> DynamicObject {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn managers_are_read_from_either_controllers_labels() {
        let deployment = object(serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "apps", "labels": {
                "kustomize.toolkit.fluxcd.io/name": "apps",
                "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}}
        }));
        assert_eq!(
            manager_of(&deployment),
            Some(Manager {
                kind: &KUSTOMIZATION,
                name: "apps".into(),
                namespace: Some("flux-system".into())
            })
        );
        let service = object(serde_json::json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "apps", "labels": {
                "helm.toolkit.fluxcd.io/name": "podinfo"}}
        }));
        assert_eq!(
            manager_of(&service).map(|m| (m.kind.kind, m.namespace)),
            Some(("HelmRelease", None))
        );
        let plain = object(serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "x", "namespace": "apps", "labels": {"app": "x"}}
        }));
        assert_eq!(manager_of(&plain), None);
    }

    #[test]
    fn sources_show_where_and_what_they_fetched() {
        let repository = FluxObject {
            kind: &crate::flux::GIT_REPOSITORY,
            object: object(serde_json::json!({
                "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                "metadata": {"name": "flux-system", "namespace": "flux-system", "generation": 1},
                "spec": {"url": "https://example.invalid/repo.git", "ref": {"branch": "main"}},
                "status": {"observedGeneration": 1, "conditions": [{"type": "Ready",
                    "status": "True", "reason": "Succeeded", "message": "stored artifact"}],
                    "artifact": {"revision": "main@sha1:abc", "lastUpdateTime": "2026-01-01T00:00:00Z"}}
            })),
        };
        let step = Step::of_source(&repository);
        let trace = Trace { chain: vec![step] };
        assert_eq!(
            trace.text(),
            "Source:     GitRepository/flux-system/flux-system\n\
             State:      Ready\n\
             URL:        https://example.invalid/repo.git\n\
             Ref:        branch main\n\
             Revision:   main@sha1:abc\n\
             Fetched:    2026-01-01T00:00:00Z\n\
             Message:    stored artifact\n"
        );
    }
}
