//! What a history or rollback is about: a Kustomization's folder, or a HelmRelease's manifest
//! file in the folder of the Kustomization that applies it; both live in that Kustomization's
//! GitRepository branch, and that Kustomization's status and Events tell what the cluster did
//! with each commit.

use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use super::error::Error;
use super::history::ClusterRecord;
use crate::cluster::connection::Connection;
use crate::flux::discovery::FluxApis;
use crate::flux::objects::{FluxObject, get};
use crate::flux::{HELM_RELEASE, KUSTOMIZATION};
use crate::git::Workspace;
use crate::preview::build::{Kustomization, OWNER_NAME_LABEL, OWNER_NAMESPACE_LABEL};
use crate::preview::source::{GitAccess, GitSource, git_source, repository_path};

/// The object, the Kustomization that applies it (itself for a Kustomization), its source.
#[derive(Clone)]
pub struct Subject {
    pub object: FluxObject,
    pub manager: FluxObject,
    pub kustomization: Kustomization,
    pub source: GitSource,
    pub branch: String,
    pub record: ClusterRecord,
}

impl Subject {
    /// Finds the Kustomization and Git branch behind `object` (a Kustomization or a
    /// HelmRelease), and what the cluster says about that Kustomization's revisions.
    pub async fn resolve(
        connection: &Connection,
        object: FluxObject,
        access: &GitAccess,
    ) -> crate::Result<Subject> {
        let manager = if object.kind.kind == HELM_RELEASE.kind {
            let labels = object.object.metadata.labels.clone().unwrap_or_default();
            let (Some(name), Some(namespace)) = (
                labels.get(OWNER_NAME_LABEL),
                labels.get(OWNER_NAMESPACE_LABEL),
            ) else {
                return Err(Error::NotFromGit {
                    object: display(&object),
                }
                .into());
            };
            let apis = FluxApis::discover(connection).await?;
            get(connection, apis.require(&KUSTOMIZATION)?, namespace, name).await?
        } else {
            object.clone()
        };
        let kustomization = Kustomization {
            name: manager.name().to_string(),
            namespace: manager.namespace().to_string(),
            object: serde_json::to_value(&manager.object).unwrap_or_default(),
        };
        let source = git_source(connection, &kustomization, access).await?;
        let branch = source.branch.clone().ok_or_else(|| Error::NotABranch {
            repository: source.display_name.clone(),
        })?;
        let record = ClusterRecord::read(connection, &manager, &source).await?;
        Ok(Subject {
            object,
            manager,
            kustomization,
            source,
            branch,
            record,
        })
    }

    /// `Kind/namespace/name` of the object asked about.
    pub fn display_name(&self) -> String {
        display(&self.object)
    }

    pub fn is_helm_release(&self) -> bool {
        self.object.kind.kind == HELM_RELEASE.kind
    }

    /// The repository path a history reads and a rollback restores: the Kustomization's
    /// folder, or the file of its folder that holds the HelmRelease.
    pub fn path_in(&self, workspace: &Workspace) -> crate::Result<String> {
        let folder = repository_path(&self.kustomization);
        if !self.is_helm_release() {
            return Ok(folder);
        }
        for file in workspace.files(&folder)? {
            if !(file.ends_with(".yaml") || file.ends_with(".yml")) {
                continue;
            }
            let Some(bytes) = workspace.read_file(&file)? else {
                continue;
            };
            let text = String::from_utf8_lossy(&bytes);
            let documents: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap_or_default();
            if documents.iter().any(|doc| self.is_this_release(doc)) {
                return Ok(file);
            }
        }
        Err(Error::ManifestNotFound {
            object: self.display_name(),
            folder: if folder.is_empty() {
                ".".to_string()
            } else {
                folder
            },
            branch: self.branch.clone(),
        }
        .into())
    }

    /// Whether a manifest is this HelmRelease (its namespace may come from the
    /// Kustomization's targetNamespace instead of the file).
    fn is_this_release(&self, doc: &Value) -> bool {
        let text = |pointer: &str| doc.pointer(pointer).and_then(Value::as_str);
        text("/kind") == Some(HELM_RELEASE.kind)
            && text("/apiVersion").is_some_and(|v| v.starts_with("helm.toolkit.fluxcd.io/"))
            && text("/metadata/name") == Some(self.object.name())
            && text("/metadata/namespace").is_none_or(|ns| ns == self.object.namespace())
    }

    /// The HelmRelease's releases as helm-controller records them (`status.history`, newest
    /// first); empty for a Kustomization.
    pub fn releases(&self) -> Vec<Release> {
        self.object.object.data["status"]["history"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|snapshot| {
                let text = |key: &str| snapshot[key].as_str().unwrap_or_default().to_string();
                Release {
                    version: snapshot["version"].as_i64().unwrap_or_default(),
                    chart_name: text("chartName"),
                    chart_version: text("chartVersion"),
                    app_version: text("appVersion"),
                    status: text("status"),
                    deployed: snapshot["lastDeployed"]
                        .as_str()
                        .or(snapshot["firstDeployed"].as_str())
                        .and_then(|t| t.parse().ok()),
                    config_digest: text("configDigest"),
                }
            })
            .collect()
    }
}

/// One Helm release of a HelmRelease.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Release {
    /// Helm's release number.
    pub version: i64,
    pub chart_name: String,
    pub chart_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub app_version: String,
    /// deployed, superseded, failed, uninstalled, ...
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployed: Option<Timestamp>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub config_digest: String,
}

fn display(object: &FluxObject) -> String {
    format!(
        "{}/{}/{}",
        object.kind.kind,
        object.namespace(),
        object.name()
    )
}
