//! A release's manifests split the way `manifests.tar.gz` splits them: one list of objects per
//! component, the RBAC, and the network policies. Read from the archive, from a folder with
//! the same files, or from one multi-document file (install.yaml), whose objects are sorted
//! into those parts by kind and component label.

use std::path::Path;

use serde_json::Value;

use super::error::{Error, Result};
use super::{DEFAULT_COMPONENTS, EXTRA_COMPONENTS};

/// The label that names an object's component in Flux's manifests.
const COMPONENT_LABEL: &str = "app.kubernetes.io/component";

/// The largest manifest file accepted (the whole of Flux is about 350 KB).
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// The manifests of one Flux release, before any install option is applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    /// Where the manifests came from (URL or path), for messages.
    pub origin: String,
    /// The Flux version they belong to (never `latest`).
    pub version: String,
    /// Each component's objects (CRDs, ServiceAccount, Services, Deployment) in file order.
    pub components: Vec<(String, Vec<Value>)>,
    /// ClusterRoles, ClusterRoleBindings and the ResourceQuota (`rbac.yaml`).
    pub rbac: Vec<Value>,
    /// The NetworkPolicies (`policies.yaml`).
    pub policies: Vec<Value>,
}

impl Bundle {
    /// The objects of `component`, if the bundle has it.
    pub fn component(&self, component: &str) -> Option<&[Value]> {
        self.components
            .iter()
            .find(|(name, _)| name == component)
            .map(|(_, objects)| objects.as_slice())
    }

    fn empty(origin: &str, version: &str) -> Bundle {
        Bundle {
            origin: origin.to_string(),
            version: version.to_string(),
            components: Vec::new(),
            rbac: Vec::new(),
            policies: Vec::new(),
        }
    }

    /// Adds the objects of one file, by its name if that is a known part, else by content.
    fn add_file(&mut self, file_name: &str, text: &str) -> Result<()> {
        let objects = parse(text).map_err(|cause| self.unreadable(file_name, cause))?;
        let stem = file_name
            .strip_suffix(".yaml")
            .or_else(|| file_name.strip_suffix(".yml"))
            .unwrap_or(file_name);
        if is_component(stem) {
            self.component_mut(stem).extend(objects);
        } else if stem == "rbac" {
            self.rbac.extend(objects);
        } else if stem == "policies" {
            self.policies.extend(objects);
        } else {
            for object in objects {
                self.add_object(object, file_name)?;
            }
        }
        Ok(())
    }

    /// Sorts one object of an already-built file (install.yaml) into its part.
    fn add_object(&mut self, object: Value, file_name: &str) -> Result<()> {
        match object["kind"].as_str().unwrap_or_default() {
            // Generated from the options, as flux does.
            "Namespace" => {}
            "NetworkPolicy" => self.policies.push(object),
            "ClusterRole" | "ClusterRoleBinding" | "ResourceQuota" => self.rbac.push(object),
            kind => {
                let component = object["metadata"]["labels"][COMPONENT_LABEL]
                    .as_str()
                    .filter(|c| is_component(c))
                    .map(String::from)
                    .ok_or_else(|| {
                        self.unreadable(
                            file_name,
                            format!(
                                "{kind} \"{}\" has no {COMPONENT_LABEL} label naming a Flux component",
                                object["metadata"]["name"].as_str().unwrap_or_default()
                            ),
                        )
                    })?;
                self.component_mut(&component).push(object);
            }
        }
        Ok(())
    }

    fn component_mut(&mut self, component: &str) -> &mut Vec<Value> {
        let index = match self.components.iter().position(|(n, _)| n == component) {
            Some(index) => index,
            None => {
                self.components.push((component.to_string(), Vec::new()));
                self.components.len() - 1
            }
        };
        &mut self.components[index].1
    }

    fn unreadable(&self, file: &str, cause: String) -> Error {
        Error::ManifestsUnreadable {
            origin: self.origin.clone(),
            cause: format!("{file}: {cause}"),
        }
    }

    fn finish(self) -> Result<Bundle> {
        if self.components.is_empty() {
            return Err(Error::ManifestsUnreadable {
                origin: self.origin,
                cause: "no Flux component manifests found".into(),
            });
        }
        Ok(self)
    }
}

fn is_component(name: &str) -> bool {
    DEFAULT_COMPONENTS.contains(&name) || EXTRA_COMPONENTS.contains(&name)
}

/// The objects of a multi-document YAML text (empty documents skipped).
pub(super) fn parse(text: &str) -> std::result::Result<Vec<Value>, String> {
    let documents: Vec<Value> =
        serde_saphyr::from_multiple(text).map_err(|e| format!("not valid YAML: {e}"))?;
    documents
        .into_iter()
        .filter(|d| !d.is_null())
        .map(|d| {
            if d.is_object() && d["kind"].is_string() && d["metadata"]["name"].is_string() {
                Ok(d)
            } else {
                Err("a document is not a Kubernetes object (kind and metadata.name)".to_string())
            }
        })
        .collect()
}

/// The bundle in a release's `manifests.tar.gz`.
pub(super) fn from_archive(archive: &[u8], origin: &str, version: &str) -> Result<Bundle> {
    let mut bundle = Bundle::empty(origin, version);
    let mut files: Vec<(String, String)> = super::archive::yaml_files(archive, origin)?
        .into_iter()
        .map(|f| (f.name, f.text))
        .collect();
    files.sort();
    for (name, text) in files {
        bundle.add_file(&name, &text)?;
    }
    bundle.finish()
}

/// The bundle in one multi-document text such as install.yaml.
pub(super) fn from_text(text: &str, origin: &str, version: &str) -> Result<Bundle> {
    let mut bundle = Bundle::empty(origin, version);
    bundle.add_file(origin, text)?;
    bundle.finish()
}

/// The bundle in a local folder (per-component files) or file (e.g. install.yaml).
pub(super) fn read_local(path: &Path, version: &str) -> Result<Bundle> {
    let origin = path.display().to_string();
    let mut bundle = Bundle::empty(&origin, version);
    let unreadable = |cause: String| Error::ManifestsUnreadable {
        origin: origin.clone(),
        cause,
    };
    let metadata = std::fs::metadata(path).map_err(|e| unreadable(e.to_string()))?;
    let mut files: Vec<std::path::PathBuf> = if metadata.is_dir() {
        std::fs::read_dir(path)
            .map_err(|e| unreadable(e.to_string()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.extension()
                        .is_some_and(|ext| ext == "yaml" || ext == "yml")
            })
            .collect()
    } else {
        vec![path.to_path_buf()]
    };
    files.sort();
    for file in files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        if size > MAX_FILE_BYTES {
            return Err(unreadable(format!("{name} is larger than 64 MiB")));
        }
        let text =
            std::fs::read_to_string(&file).map_err(|e| unreadable(format!("{name}: {e}")))?;
        bundle.add_file(&name, &text)?;
    }
    bundle.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: source-controller\n  labels:\n    app.kubernetes.io/component: source-controller\n";

    #[test]
    fn files_named_for_parts_go_to_those_parts() {
        let mut bundle = Bundle::empty("test", "v2.9.4");
        bundle
            .add_file("source-controller.yaml", DEPLOYMENT)
            .unwrap();
        bundle
            .add_file("rbac.yaml", "kind: ClusterRole\nmetadata:\n  name: x\n")
            .unwrap();
        bundle
            .add_file(
                "policies.yaml",
                "---\nkind: NetworkPolicy\nmetadata:\n  name: p\n---\n",
            )
            .unwrap();
        assert_eq!(bundle.component("source-controller").unwrap().len(), 1);
        assert_eq!(bundle.rbac.len(), 1);
        assert_eq!(bundle.policies.len(), 1);
    }

    #[test]
    fn a_built_file_is_sorted_by_kind_and_component_label() {
        let text = format!(
            "kind: Namespace\nmetadata:\n  name: flux-system\n---\nkind: ResourceQuota\nmetadata:\n  name: q\n---\n{DEPLOYMENT}---\nkind: NetworkPolicy\nmetadata:\n  name: p\n"
        );
        let mut bundle = Bundle::empty("test", "v2.9.4");
        bundle.add_file("install.yaml", &text).unwrap();
        assert_eq!(bundle.components.len(), 1);
        assert_eq!(bundle.rbac.len(), 1);
        assert_eq!(bundle.policies.len(), 1);
    }

    #[test]
    fn an_object_of_no_component_is_refused_by_name() {
        let mut bundle = Bundle::empty("install.yaml", "v2.9.4");
        let err = bundle
            .add_file("install.yaml", "kind: ConfigMap\nmetadata:\n  name: mine\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("ConfigMap \"mine\""), "{err}");
        let err = bundle.add_file("x.yaml", "- a\n").unwrap_err().to_string();
        assert!(err.contains("not a Kubernetes object"), "{err}");
        assert!(Bundle::empty("e", "v1.0.0").finish().is_err());
    }
}
