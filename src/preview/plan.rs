//! The whole `diff` of one Kustomization: build its folder, compare every object with the
//! cluster, and with `recursive` do the same for the Kustomizations found in the build whose
//! folder is in the same checkout (same source), as `flux diff -r` does.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::build::{BuildOptions, Kustomization, build};
use super::diff::{ObjectChange, Outcome, diff, text};
use super::kustomize::Kubectl;
use crate::cluster::connection::Connection;
use crate::cluster::discovery::Resources;

/// Where the Kustomization's files come from.
pub struct Checkout<'a> {
    /// The folder of the Kustomization being diffed.
    pub folder: PathBuf,
    /// The repository's root, which child Kustomizations' `spec.path` is relative to; `None`
    /// when it cannot be told (a folder outside any Git checkout).
    pub root: Option<&'a Path>,
}

/// What the diff found: every object's result, in build order (children after their
/// parent's objects), then the notes about what was not diffed.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DiffReport {
    pub changes: Vec<ObjectChange>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl DiffReport {
    pub fn count(&self, outcome: Outcome) -> usize {
        self.changes.iter().filter(|c| c.action == outcome).count()
    }

    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.action.is_change())
    }
}

/// Builds and diffs `kustomization` (and, when `recursive`, its children).
pub async fn diff_kustomization(
    connection: &Connection,
    resources: &Resources,
    kubectl: &Kubectl,
    kustomization: &Kustomization,
    checkout: &Checkout<'_>,
    options: &BuildOptions,
    recursive: bool,
) -> crate::Result<DiffReport> {
    let mut report = DiffReport::default();
    let mut visited = HashSet::new();
    let mut queue = vec![(kustomization.clone(), checkout.folder.clone())];
    while !queue.is_empty() {
        let (current, folder) = queue.remove(0);
        if !visited.insert((current.namespace.clone(), current.name.clone())) {
            continue;
        }
        let is_root = visited.len() == 1;
        let objects = match build(connection, kubectl, &current, &folder, options).await {
            Ok(objects) => objects,
            // The root's build failing is the command's error; a child's is its result.
            Err(err) if is_root => return Err(err),
            Err(err) => {
                report
                    .notes
                    .push(format!("{} not diffed: {err}", current.display_name()));
                continue;
            }
        };
        let children: Vec<Value> = if recursive {
            objects
                .iter()
                .filter(|o| is_kustomization(o) && !is_same(o, &current))
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        let changes = diff(connection, resources, &current, objects).await;
        for child in children {
            let name = text(&child, "/metadata/name");
            let namespace = Some(text(&child, "/metadata/namespace"))
                .filter(|ns| !ns.is_empty())
                .unwrap_or(&current.namespace)
                .to_string();
            let display = format!("Kustomization/{namespace}/{name}");
            let created = changes.iter().any(|c| {
                c.kind == "Kustomization"
                    && c.name == name
                    && c.namespace.as_deref() == Some(namespace.as_str())
                    && c.action == Outcome::Created
            });
            if created {
                continue;
            }
            if child["spec"]
                .get("kubeConfig")
                .is_some_and(|v| !v.is_null())
            {
                report.notes.push(format!(
                    "{display} skipped: diff not supported for remote clusters"
                ));
                continue;
            }
            if source_of(&child, &namespace) != source_of(&current.object, &current.namespace) {
                report.notes.push(format!(
                    "{display} skipped: its source is not the checkout being diffed"
                ));
                continue;
            }
            let Some(root) = checkout.root else {
                report.notes.push(format!(
                    "{display} skipped: the repository root of {} is unknown (not inside a Git checkout), so its spec.path cannot be found",
                    checkout.folder.display()
                ));
                continue;
            };
            let path = text(&child, "/spec/path")
                .trim_start_matches("./")
                .to_string();
            let status = live_status(connection, &namespace, name).await;
            let mut object = child.clone();
            if let (Some(map), Some(status)) = (object.as_object_mut(), status) {
                map.insert("status".into(), status);
            }
            queue.push((
                Kustomization {
                    name: name.to_string(),
                    namespace,
                    object,
                },
                root.join(path),
            ));
        }
        report.changes.extend(changes);
    }
    Ok(report)
}

fn is_kustomization(object: &Value) -> bool {
    text(object, "/apiVersion").starts_with("kustomize.toolkit.fluxcd.io/")
        && text(object, "/kind") == "Kustomization"
}

fn is_same(object: &Value, kustomization: &Kustomization) -> bool {
    text(object, "/metadata/name") == kustomization.name
        && Some(text(object, "/metadata/namespace"))
            .filter(|ns| !ns.is_empty())
            .is_none_or(|ns| ns == kustomization.namespace)
}

/// `kind/namespace/name` of a Kustomization's source (its namespace by default).
fn source_of(object: &Value, namespace: &str) -> String {
    let source = &object["spec"]["sourceRef"];
    let ns = source["namespace"].as_str().unwrap_or(namespace);
    format!(
        "{}/{ns}/{}",
        source["kind"].as_str().unwrap_or_default(),
        source["name"].as_str().unwrap_or_default()
    )
}

/// The live child's status (for its inventory), when it exists and can be read.
async fn live_status(connection: &Connection, namespace: &str, name: &str) -> Option<Value> {
    let apis = crate::flux::discovery::FluxApis::discover(connection)
        .await
        .ok()?;
    let served = apis.get(&crate::flux::KUSTOMIZATION)?;
    let live = crate::flux::objects::get(connection, served, namespace, name)
        .await
        .ok()?;
    serde_json::to_value(&live.object)
        .ok()?
        .get("status")
        .cloned()
}

/// The root of the Git checkout holding `folder`: the nearest folder above it with `.git`.
pub fn repository_root(folder: &Path) -> Option<PathBuf> {
    let folder = std::fs::canonicalize(folder).ok()?;
    folder
        .ancestors()
        .find(|dir| dir.join(".git").exists())
        .map(Path::to_path_buf)
}
