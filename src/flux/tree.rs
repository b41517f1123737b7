//! The tree of what a Kustomization or HelmRelease applied, with the health of every object:
//! inventories are walked level by level, and each level's objects are read with one paged list
//! per kind and namespace (concurrently), never one request per object.

use std::collections::{BTreeMap, HashMap, HashSet};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject, ListParams, TypeMeta};
use kube::core::ObjectMeta;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use crate::cluster::Error as ClusterError;
use crate::cluster::action::{Action, qualified_plural};
use crate::cluster::connection::Connection;
use crate::cluster::discovery::Resources;
use crate::cluster::health::{self, Health};
use crate::cluster::list::list_pages;
use crate::error::{Error, Result};
use crate::flux::helm_storage;
use crate::flux::inventory::{self, Entry};
use crate::flux::objects::FluxObject;
use crate::flux::status::{State, summarize};
use crate::flux::{FluxKind, HELM_RELEASE, KINDS, KUSTOMIZATION};

/// Objects per list request.
/// Lists in flight at once.
const CONCURRENT_LISTS: usize = 16;

/// A node's health: the computed state for Flux objects, kstatus' verdict for the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeHealth {
    Flux(State),
    Object(Health),
}

impl NodeHealth {
    pub fn is_ready(self) -> bool {
        matches!(
            self,
            NodeHealth::Flux(State::Ready) | NodeHealth::Object(Health::Current)
        )
    }

    /// Sort rank within a level: failures first, then blocked or missing, unknown, in
    /// progress, suspended, healthy.
    fn rank(self) -> u8 {
        match self {
            NodeHealth::Flux(State::Stalled | State::Failed)
            | NodeHealth::Object(Health::Failed) => 0,
            // Waiting for a failing dependency: right after the failures that may hold it.
            NodeHealth::Flux(State::Blocked) | NodeHealth::Object(Health::NotFound) => 1,
            NodeHealth::Object(Health::Terminating) => 2,
            NodeHealth::Flux(State::Unknown) | NodeHealth::Object(Health::Unknown) => 3,
            NodeHealth::Flux(State::Reconciling) | NodeHealth::Object(Health::InProgress) => 4,
            NodeHealth::Flux(State::Suspended) => 5,
            NodeHealth::Flux(State::Ready) | NodeHealth::Object(Health::Current) => 6,
        }
    }
}

impl std::fmt::Display for NodeHealth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeHealth::Flux(state) => state.fmt(f),
            NodeHealth::Object(health) => health.fmt(f),
        }
    }
}

impl Serialize for NodeHealth {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Why a Flux object's own objects are not under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum NotWalked {
    /// It applies to another cluster (`spec.kubeConfig`).
    Remote,
    /// It is one of its own ancestors.
    Cycle,
    /// It appears earlier in the tree, which shows its objects.
    ShownAbove,
}

impl NotWalked {
    fn words(self) -> &'static str {
        match self {
            NotWalked::Remote => "remote cluster, not walked",
            NotWalked::Cycle => "cycle, not followed",
            NotWalked::ShownAbove => "objects shown above",
        }
    }
}

/// One object in the tree.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    pub kind: String,
    pub api_version: String,
    pub namespace: String,
    pub name: String,
    pub health: NodeHealth,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_walked: Option<NotWalked>,
    pub children: Vec<Node>,
    #[serde(skip)]
    group: String,
}

impl Node {
    /// `Kind/namespace/name`, or `Kind/name` for cluster-scoped objects.
    pub fn display_name(&self) -> String {
        if self.namespace.is_empty() {
            format!("{}/{}", self.kind, self.name)
        } else {
            format!("{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }

    /// Whether this is a Flux object (its group is one of Flux's toolkit groups).
    pub fn is_flux(&self) -> bool {
        self.group.contains("toolkit.fluxcd.io")
    }

    /// Every node below and including this one.
    pub fn count(&self) -> (usize, usize) {
        self.children.iter().fold(
            (1, usize::from(!self.health.is_ready())),
            |(total, not_ready), child| {
                let (t, n) = child.count();
                (total + t, not_ready + n)
            },
        )
    }

    /// Keeps only the paths that lead to a node that is not ready; `false` when nothing here
    /// does.
    pub fn retain_not_ready(&mut self) -> bool {
        self.children.retain_mut(Node::retain_not_ready);
        !self.health.is_ready() || !self.children.is_empty()
    }

    /// Keeps only Flux objects below this one.
    pub fn retain_flux(&mut self) {
        self.children.retain(Node::is_flux);
        self.children.iter_mut().for_each(Node::retain_flux);
    }

    /// Cuts the tree `depth` levels below this node.
    pub fn cut(&mut self, depth: usize) {
        if depth == 0 {
            self.children.clear();
        }
        for child in &mut self.children {
            child.cut(depth.saturating_sub(1));
        }
    }

    /// The text tree: this node, then its children under `├──`/`└──` guides.
    pub fn render(&self) -> String {
        let mut out = self.line();
        self.render_children("", &mut out);
        out
    }

    fn line(&self) -> String {
        let mut line = format!("{}  {}", self.display_name(), self.health);
        if !self.message.is_empty() {
            line.push_str("  ");
            line.push_str(&self.message.replace(['\n', '\r'], " "));
        }
        if let Some(not_walked) = self.not_walked {
            line.push_str(&format!(" ({})", not_walked.words()));
        }
        line.push('\n');
        line
    }

    fn render_children(&self, prefix: &str, out: &mut String) {
        for (index, child) in self.children.iter().enumerate() {
            let last = index + 1 == self.children.len();
            out.push_str(prefix);
            out.push_str(if last { "└── " } else { "├── " });
            out.push_str(&child.line());
            let deeper = format!("{prefix}{}", if last { "    " } else { "│   " });
            child.render_children(&deeper, out);
        }
    }

    /// Unhealthy first within each level; equal ones keep the inventory's (apply) order.
    fn sort(&mut self) {
        self.children.sort_by_key(|c| c.health.rank());
        self.children.iter_mut().for_each(Node::sort);
    }
}

/// A walked tree and what could not be read.
#[derive(Debug)]
pub struct Tree {
    pub root: Node,
    pub warnings: Vec<String>,
}

/// Identity of an object: group, kind, namespace, name.
type Key = (String, String, String, String);

fn key_of(entry: &Entry) -> Key {
    (
        entry.group.clone(),
        entry.kind.clone(),
        entry.namespace.clone(),
        entry.name.clone(),
    )
}

/// Nodes while walking: flat, children by index, so a level can be filled in after its lists.
struct Arena {
    nodes: Vec<Node>,
    children: Vec<Vec<usize>>,
}

impl Arena {
    fn add(&mut self, node: Node) -> usize {
        self.nodes.push(node);
        self.children.push(Vec::new());
        self.nodes.len() - 1
    }

    fn build(&mut self, index: usize) -> Node {
        let children: Vec<usize> = std::mem::take(&mut self.children[index]);
        let mut node = self.nodes[index].clone();
        node.children = children.into_iter().map(|c| self.build(c)).collect();
        node
    }
}

/// A Flux object whose inventory is walked next, with the Flux objects above it.
struct Pending {
    index: usize,
    own: Key,
    entries: Vec<Entry>,
    ancestors: HashSet<Key>,
}

/// Walks everything below `root` (a Kustomization or HelmRelease).
pub async fn walk(
    connection: &Connection,
    resources: &Resources,
    root: &FluxObject,
) -> Result<Tree> {
    let mut warnings = Vec::new();
    let mut arena = Arena {
        nodes: Vec::new(),
        children: Vec::new(),
    };
    let root_key: Key = (
        root.kind.group.to_string(),
        root.kind.kind.to_string(),
        root.namespace().to_string(),
        root.name().to_string(),
    );
    let summary = summarize(root.kind, &root.object);
    let root_index = arena.add(Node {
        kind: root.kind.kind.to_string(),
        api_version: root
            .object
            .types
            .as_ref()
            .map(|t| t.api_version.clone())
            .unwrap_or_else(|| format!("{}/{}", root.kind.group, root.kind.version)),
        namespace: root.namespace().to_string(),
        name: root.name().to_string(),
        health: NodeHealth::Flux(summary.state),
        message: summary.message,
        not_walked: None,
        children: Vec::new(),
        group: root.kind.group.to_string(),
    });
    let mut visited: HashSet<Key> = HashSet::from([root_key.clone()]);
    let mut pending = Vec::new();
    if root.object.data["spec"]["kubeConfig"].is_object() {
        arena.nodes[root_index].not_walked = Some(NotWalked::Remote);
    } else {
        let entries = own_entries(
            connection,
            resources,
            root.kind,
            root.name(),
            &root.object.data["status"],
            &mut warnings,
        )
        .await?;
        pending.push(Pending {
            index: root_index,
            own: root_key.clone(),
            entries,
            ancestors: HashSet::from([root_key]),
        });
    }

    while !pending.is_empty() {
        // The level's nodes, and which objects to read for them.
        let mut level: Vec<(usize, Entry, HashSet<Key>)> = Vec::new();
        let mut wanted: BTreeMap<(String, String, String), HashSet<String>> = BTreeMap::new();
        for parent in pending.drain(..) {
            for entry in parent.entries {
                if key_of(&entry) == parent.own {
                    continue; // a Kustomization that manages its own definition
                }
                let index = arena.add(Node {
                    kind: entry.kind.clone(),
                    api_version: entry.api_version(),
                    namespace: entry.namespace.clone(),
                    name: entry.name.clone(),
                    health: NodeHealth::Object(Health::Unknown),
                    message: String::new(),
                    not_walked: None,
                    children: Vec::new(),
                    group: entry.group.clone(),
                });
                arena.children[parent.index].push(index);
                wanted
                    .entry((
                        entry.group.clone(),
                        entry.kind.clone(),
                        entry.namespace.clone(),
                    ))
                    .or_default()
                    .insert(entry.name.clone());
                level.push((index, entry, parent.ancestors.clone()));
            }
        }
        let found = read_level(connection, resources, &level, wanted, &mut warnings).await?;

        for (index, entry, ancestors) in level {
            let key = key_of(&entry);
            let fetched = found.get(&(
                entry.group.clone(),
                entry.kind.clone(),
                entry.namespace.clone(),
            ));
            let node = &mut arena.nodes[index];
            let object = match fetched {
                Some(Lookup::Listed(objects)) => match objects.get(&entry.name) {
                    Some(object) => object,
                    None => {
                        node.health = NodeHealth::Object(Health::NotFound);
                        node.message = "not found".to_string();
                        continue;
                    }
                },
                Some(Lookup::Failed(assessment)) => {
                    node.health = NodeHealth::Object(assessment.health);
                    node.message = assessment.message.clone();
                    continue;
                }
                None => continue,
            };
            let Some(kind) = flux_kind(&entry.group, &entry.kind) else {
                let assessment = health::assess(&entry.group, &entry.kind, object);
                node.health = NodeHealth::Object(assessment.health);
                node.message = assessment.message;
                continue;
            };
            let dynamic = as_dynamic(&entry, object);
            let summary = summarize(kind, &dynamic);
            node.health = NodeHealth::Flux(summary.state);
            node.message = summary.message;
            if kind != &KUSTOMIZATION && kind != &HELM_RELEASE {
                continue;
            }
            if ancestors.contains(&key) {
                node.not_walked = Some(NotWalked::Cycle);
            } else if !visited.insert(key.clone()) {
                node.not_walked = Some(NotWalked::ShownAbove);
            } else if object["spec"]["kubeConfig"].is_object() {
                node.not_walked = Some(NotWalked::Remote);
            } else {
                let entries = own_entries(
                    connection,
                    resources,
                    kind,
                    &entry.name,
                    &object["status"],
                    &mut warnings,
                )
                .await?;
                let mut ancestors = ancestors;
                ancestors.insert(key.clone());
                pending.push(Pending {
                    index,
                    own: key,
                    entries,
                    ancestors,
                });
            }
        }
    }
    let mut root = arena.build(root_index);
    root.sort();
    Ok(Tree { root, warnings })
}

/// The inventory of a Kustomization or HelmRelease; ids that cannot be parsed are warned about.
/// A HelmRelease without one (helm-controller older than 1.5) is read from Helm's record.
async fn own_entries(
    connection: &Connection,
    resources: &Resources,
    kind: &FluxKind,
    name: &str,
    status: &Value,
    warnings: &mut Vec<String>,
) -> Result<Vec<Entry>> {
    let Some(inventory) = inventory::from_status(status) else {
        if kind == &HELM_RELEASE {
            return helm_storage_entries(connection, resources, name, status, warnings).await;
        }
        return Ok(Vec::new());
    };
    for id in &inventory.malformed {
        warnings.push(format!(
            "{} {name} lists an inventory entry that is not <namespace>_<name>_<group>_<kind>: {id:?}",
            kind.kind
        ));
    }
    Ok(inventory.entries)
}

/// The objects in the manifest of the HelmRelease's latest release; problems reading it are
/// warnings (the HelmRelease is shown without children), not failures of the tree.
async fn helm_storage_entries(
    connection: &Connection,
    resources: &Resources,
    name: &str,
    status: &Value,
    warnings: &mut Vec<String>,
) -> Result<Vec<Entry>> {
    let Some(release) = helm_storage::latest_release(status) else {
        return Ok(Vec::new());
    };
    let secret_name = release.secret_name();
    let api: Api<Secret> = Api::namespaced(connection.client.clone(), &release.storage_namespace);
    let action = Action::new("get", "secrets")
        .named(&secret_name)
        .in_namespace(&release.storage_namespace);
    let secret = match connection.call(action, api.get_opt(&secret_name)).await {
        Ok(secret) => secret,
        Err(ClusterError::Forbidden { user, action, .. }) => {
            warnings.push(format!(
                "{user} cannot {action}: forbidden; the objects of HelmRelease {name} are not shown"
            ));
            return Ok(Vec::new());
        }
        Err(err) => return Err(err.into()),
    };
    let record = secret
        .as_ref()
        .and_then(|s| s.data.as_ref())
        .and_then(|data| data.get("release"));
    let Some(record) = record else {
        warnings.push(format!(
            "HelmRelease {name}: Helm's release record {}/{secret_name} is missing; its objects are not shown",
            release.storage_namespace
        ));
        return Ok(Vec::new());
    };
    let namespaced = |group: &str, kind: &str| {
        resources
            .preferred_kind(group, kind)
            .is_none_or(|(_, namespaced)| namespaced)
    };
    match helm_storage::manifest(&record.0)
        .and_then(|manifest| helm_storage::entries(&manifest, &release.namespace, namespaced))
    {
        Ok(entries) => Ok(entries),
        Err(why) => {
            warnings.push(format!(
                "HelmRelease {name}: {why} ({}/{secret_name}); its objects are not shown",
                release.storage_namespace
            ));
            Ok(Vec::new())
        }
    }
}

fn flux_kind(group: &str, kind: &str) -> Option<&'static FluxKind> {
    KINDS.iter().find(|k| k.group == group && k.kind == kind)
}

/// What a level's list of one kind in one namespace gave.
enum Lookup {
    /// The wanted objects that exist, by name, as `{metadata, spec, status}`.
    Listed(HashMap<String, Value>),
    /// The list could not be made; every object it was for gets this verdict.
    Failed(health::Assessment),
}

/// Lists every (group, kind, namespace) the level needs, concurrently.
async fn read_level(
    connection: &Connection,
    resources: &Resources,
    level: &[(usize, Entry, HashSet<Key>)],
    wanted: BTreeMap<(String, String, String), HashSet<String>>,
    warnings: &mut Vec<String>,
) -> Result<HashMap<(String, String, String), Lookup>> {
    let versions: HashMap<(&str, &str), &str> = level
        .iter()
        .map(|(_, e, _)| ((e.group.as_str(), e.kind.as_str()), e.version.as_str()))
        .collect();
    let mut lists = Vec::new();
    let mut found = HashMap::new();
    for ((group, kind, namespace), names) in wanted {
        let version = versions
            .get(&(group.as_str(), kind.as_str()))
            .copied()
            .unwrap_or_default();
        let api_version = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        let resource = resources
            .find(&api_version, &kind)
            .ok()
            .or_else(|| resources.preferred_kind(&group, &kind));
        match resource {
            Some((resource, namespaced)) => {
                // A cluster-scoped kind is listed cluster-wide, whatever the entry says.
                let list_namespace = if namespaced {
                    namespace.clone()
                } else {
                    String::new()
                };
                lists.push((
                    (group, kind, namespace),
                    resource.clone(),
                    list_namespace,
                    names,
                ));
            }
            None => {
                let shown = if group.is_empty() {
                    kind.clone()
                } else {
                    format!("{kind}.{group}")
                };
                found.insert(
                    (group, kind, namespace),
                    Lookup::Failed(health::Assessment::new(
                        Health::NotFound,
                        format!("the cluster does not serve {shown}"),
                    )),
                );
            }
        }
    }
    let results: Vec<_> = futures::stream::iter(lists.into_iter().map(
        |(key, resource, namespace, names)| async move {
            let result = list(connection, &resource, &namespace, &names).await;
            (key, resource, namespace, result)
        },
    ))
    .buffer_unordered(CONCURRENT_LISTS)
    .collect()
    .await;
    // Completion order varies; warnings come in a stable order.
    let mut results = results;
    results.sort_by(|a, b| a.0.cmp(&b.0));
    for (key, resource, namespace, result) in results {
        let lookup = match result {
            Ok(objects) => Lookup::Listed(objects),
            Err(Error::Cluster(ClusterError::Forbidden { user, action, .. })) => {
                let warning = format!(
                    "{user} cannot {action}: forbidden; those objects are shown as Unknown"
                );
                if !warnings.contains(&warning) {
                    warnings.push(warning);
                }
                let place = if namespace.is_empty() {
                    String::new()
                } else {
                    format!(" in {namespace}")
                };
                Lookup::Failed(health::Assessment::new(
                    Health::Unknown,
                    format!("not allowed to list {}{place}", qualified_plural(&resource)),
                ))
            }
            Err(err) => return Err(err),
        };
        found.insert(key, lookup);
    }
    Ok(found)
}

/// One kind in one namespace (or cluster-wide), page by page, keeping only `names`.
async fn list(
    connection: &Connection,
    resource: &kube::discovery::ApiResource,
    namespace: &str,
    names: &HashSet<String>,
) -> Result<HashMap<String, Value>> {
    let mut params = ListParams::default();
    if names.len() == 1
        && let Some(name) = names.iter().next()
    {
        params = params.fields(&format!("metadata.name={name}"));
    }
    let namespace = Some(namespace).filter(|ns| !ns.is_empty());
    let mut objects = HashMap::new();
    list_pages(connection, resource, namespace, params, |item: LeanItem| {
        if names.contains(&item.metadata.name) {
            let name = item.metadata.name.clone();
            objects.insert(name, item.into_value());
        }
    })
    .await?;
    Ok(objects)
}

/// An inventory object as a `DynamicObject`, for the computed status of Flux objects.
fn as_dynamic(entry: &Entry, object: &Value) -> DynamicObject {
    DynamicObject {
        types: Some(TypeMeta {
            api_version: entry.api_version(),
            kind: entry.kind.clone(),
        }),
        metadata: ObjectMeta {
            name: Some(entry.name.clone()),
            namespace: Some(entry.namespace.clone()).filter(|n| !n.is_empty()),
            generation: object["metadata"]["generation"].as_i64(),
            ..ObjectMeta::default()
        },
        data: serde_json::json!({"spec": object["spec"], "status": object["status"]}),
    }
}

/// An object with only what health and the walk read (a [`list_pages`] projection): pod
/// templates, managedFields and the like are skipped unparsed.
#[derive(Deserialize)]
struct LeanItem {
    metadata: LeanMeta,
    #[serde(default)]
    spec: LeanSpec,
    #[serde(default)]
    status: Value,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct LeanMeta {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    generation: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deletion_timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    creation_timestamp: Option<String>,
}

/// The spec fields the health rules and the computed status of Flux objects read, each kept
/// as any JSON: a custom resource may use one of these names for something else, and that
/// must not fail the whole list.
#[derive(Deserialize, Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct LeanSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    replicas: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    update_strategy: Option<Value>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    type_: Option<Value>,
    #[serde(rename = "clusterIP", skip_serializing_if = "Option::is_none")]
    cluster_ip: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    completions: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallelism: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    suspend: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kube_config: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_ref: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    chart: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    chart_ref: Option<Value>,
}

impl LeanItem {
    fn into_value(self) -> Value {
        serde_json::json!({
            "metadata": serde_json::to_value(self.metadata).unwrap_or_default(),
            "spec": serde_json::to_value(self.spec).unwrap_or_default(),
            "status": self.status,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(kind: &str, group: &str, name: &str, health: NodeHealth, children: Vec<Node>) -> Node {
        Node {
            kind: kind.into(),
            api_version: "v1".into(),
            namespace: "apps".into(),
            name: name.into(),
            health,
            message: String::new(),
            not_walked: None,
            children,
            group: group.into(),
        }
    }

    const KS: &str = "kustomize.toolkit.fluxcd.io";
    const READY: NodeHealth = NodeHealth::Flux(State::Ready);
    const CURRENT: NodeHealth = NodeHealth::Object(Health::Current);

    /// apps → [cm (ok), infra → [deploy (in progress), secret (ok)], missing]
    fn sample() -> Node {
        let infra = node(
            "Kustomization",
            KS,
            "infra",
            READY,
            vec![
                node("Secret", "", "token", CURRENT, vec![]),
                node(
                    "Deployment",
                    "apps",
                    "web",
                    NodeHealth::Object(Health::InProgress),
                    vec![],
                ),
            ],
        );
        node(
            "Kustomization",
            KS,
            "apps",
            READY,
            vec![
                node("ConfigMap", "", "settings", CURRENT, vec![]),
                infra,
                node(
                    "ConfigMap",
                    "",
                    "gone",
                    NodeHealth::Object(Health::NotFound),
                    vec![],
                ),
            ],
        )
    }

    fn names(node: &Node) -> Vec<String> {
        std::iter::once(node.name.clone())
            .chain(node.children.iter().flat_map(names))
            .collect()
    }

    #[test]
    fn unhealthy_first_then_the_stored_order() {
        let mut tree = sample();
        tree.sort();
        assert_eq!(
            names(&tree),
            ["apps", "gone", "settings", "infra", "web", "token"]
        );
    }

    #[test]
    fn the_text_tree_draws_guides_under_each_level() {
        let mut tree = sample();
        tree.sort();
        tree.children[0].message = "not found".into();
        tree.children[2].not_walked = Some(NotWalked::Remote);
        assert_eq!(
            tree.render(),
            "Kustomization/apps/apps  Ready\n\
             ├── ConfigMap/apps/gone  NotFound  not found\n\
             ├── ConfigMap/apps/settings  Current\n\
             └── Kustomization/apps/infra  Ready (remote cluster, not walked)\n    \
             ├── Deployment/apps/web  InProgress\n    \
             └── Secret/apps/token  Current\n"
        );
    }

    #[test]
    fn not_ready_keeps_the_paths_to_unhealthy_nodes() {
        let mut tree = sample();
        assert!(tree.retain_not_ready(), "the root stays");
        assert_eq!(names(&tree), ["apps", "infra", "web", "gone"]);
        let mut healthy = node("Kustomization", KS, "ok", READY, vec![]);
        assert!(!healthy.retain_not_ready());
    }

    #[test]
    fn compact_keeps_flux_objects_and_depth_cuts_levels() {
        let mut compact = sample();
        compact.retain_flux();
        assert_eq!(names(&compact), ["apps", "infra"]);
        let mut cut = sample();
        cut.cut(1);
        assert_eq!(names(&cut), ["apps", "settings", "infra", "gone"]);
        let mut root_only = sample();
        root_only.cut(0);
        assert_eq!(names(&root_only), ["apps"]);
    }

    #[test]
    fn counts_every_node_and_those_not_ready() {
        assert_eq!(sample().count(), (6, 2));
    }
}
