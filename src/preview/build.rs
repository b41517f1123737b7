//! Building a Kustomization's folder as kustomize-controller would: the kustomization it
//! generates ([`super::generate`]), the kustomize build ([`super::kustomize`]), `postBuild`
//! substitution with variables read from the cluster ([`super::substitute`]), the owner labels
//! and `commonMetadata`.

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DynamicObject};
use serde_json::{Map, Value};

use super::error::{Error, Result};
use super::generate;
use super::kustomize::Kubectl;
use super::mask;
use super::substitute::{self, PostBuild};
use crate::cluster::connection::Connection;
use crate::cluster::{Action, qualified_plural};
use crate::flux::KUSTOMIZATION;
use crate::flux::discovery::FluxApis;

/// The labels kustomize-controller puts on every object it applies, naming its owner.
pub const OWNER_NAME_LABEL: &str = "kustomize.toolkit.fluxcd.io/name";
pub const OWNER_NAMESPACE_LABEL: &str = "kustomize.toolkit.fluxcd.io/namespace";

/// The Kustomization whose spec drives the build, and its status (for its inventory) when it
/// exists in the cluster.
#[derive(Debug, Clone)]
pub struct Kustomization {
    pub name: String,
    pub namespace: String,
    /// The whole object (`spec`, and `status` when the cluster has it).
    pub object: Value,
}

impl Kustomization {
    pub fn spec(&self) -> &Value {
        &self.object["spec"]
    }

    pub fn status(&self) -> &Value {
        &self.object["status"]
    }

    /// `Kustomization/<namespace>/<name>`, as messages show it.
    pub fn display_name(&self) -> String {
        format!("Kustomization/{}/{}", self.namespace, self.name)
    }
}

/// What to build and how.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// `.gitignore`-style patterns of files to leave out when a kustomization is generated.
    pub ignore_paths: Vec<String>,
    /// Fail on a `${var}` that has no value and no default.
    pub strict_substitute: bool,
}

/// Reads the Kustomization from `file` (the first matching document) or else from the
/// cluster. With a file, the live object's status is kept when it exists, for the inventory.
pub async fn load_kustomization(
    connection: &Connection,
    name: &str,
    namespace: &str,
    file: Option<&Path>,
) -> crate::Result<Kustomization> {
    let apis = FluxApis::discover(connection).await?;
    let served = apis.require(&KUSTOMIZATION)?;
    let Some(file) = file else {
        let live = crate::flux::objects::get(connection, served, namespace, name).await?;
        return Ok(Kustomization {
            name: name.to_string(),
            namespace: namespace.to_string(),
            object: dynamic_to_value(&live.object),
        });
    };
    let mut object = kustomization_from_file(file, name, namespace)?;
    let api: Api<DynamicObject> =
        Api::namespaced_with(connection.client.clone(), namespace, &served.resource);
    let action = Action::new("get", &qualified_plural(&served.resource))
        .named(name)
        .in_namespace(namespace);
    if let Some(live) = connection.call(action, api.get_opt(name)).await? {
        let live = dynamic_to_value(&live);
        if let (Some(map), Some(status)) = (object.as_object_mut(), live.get("status")) {
            map.insert("status".into(), status.clone());
        }
    }
    Ok(Kustomization {
        name: name.to_string(),
        namespace: namespace.to_string(),
        object,
    })
}

fn dynamic_to_value(object: &DynamicObject) -> Value {
    serde_json::to_value(object).unwrap_or_default()
}

/// The first document of `file` that is a Flux Kustomization named `name` in `namespace` (or
/// with no namespace), as `flux build --kustomization-file` chooses it.
fn kustomization_from_file(file: &Path, name: &str, namespace: &str) -> Result<Value> {
    let invalid = |reason: String| Error::KustomizationFile {
        path: file.to_path_buf(),
        reason,
    };
    if file.is_dir() {
        return Err(invalid("it is a directory".to_string()));
    }
    let text = std::fs::read_to_string(file).map_err(|err| invalid(err.to_string()))?;
    let documents: Vec<Value> =
        serde_saphyr::from_multiple(&text).map_err(|err| invalid(err.to_string()))?;
    documents
        .into_iter()
        .find(|doc| {
            let text = |pointer: &str| doc.pointer(pointer).and_then(Value::as_str);
            text("/apiVersion").is_some_and(|v| v.starts_with("kustomize.toolkit.fluxcd.io/"))
                && text("/kind") == Some("Kustomization")
                && text("/metadata/name") == Some(name)
                && text("/metadata/namespace").is_none_or(|ns| ns.is_empty() || ns == namespace)
        })
        .ok_or_else(|| {
            invalid(format!(
                "it holds no Kustomization named {name} (in namespace {namespace} or without one)"
            ))
        })
}

/// Builds `folder` for `kustomization`: the objects kustomize-controller would apply, in
/// kustomize's order.
pub async fn build(
    connection: &Connection,
    kubectl: &Kubectl,
    kustomization: &Kustomization,
    folder: &Path,
    options: &BuildOptions,
) -> crate::Result<Vec<Value>> {
    let spec = kustomization.spec().clone();
    let folder = folder.to_path_buf();
    let ignore = options.ignore_paths.clone();
    let kubectl = kubectl.clone();
    let yaml = tokio::task::spawn_blocking(move || -> Result<String> {
        let prepared = generate::prepare(&folder, &spec, &ignore)?;
        kubectl.kustomize(prepared.folder())
    })
    .await
    .map_err(|err| Error::BuildOutput {
        reason: err.to_string(),
    })??;
    let mut objects = match PostBuild::from_kustomization(&kustomization.object) {
        Some(post_build) => {
            let variables = variables(connection, kustomization, &post_build).await?;
            if post_build.runs(&variables) {
                substitute_all(&yaml, &variables, options.strict_substitute)?
            } else {
                read_objects(&yaml)?
            }
        }
        None => read_objects(&yaml)?,
    };
    for object in &mut objects {
        // As Flux: encrypted values never leave the build, --show-secrets or not.
        mask::mask_sops(object).map_err(|err| Error::Mask {
            reason: err.to_string(),
        })?;
    }
    for object in &mut objects {
        set_owner_labels(object, kustomization);
    }
    if let Some(common) = kustomization.spec().get("commonMetadata") {
        for object in &mut objects {
            set_common_metadata(object, common);
        }
    }
    Ok(objects)
}

/// The documents kustomize printed, empty ones left out.
fn read_objects(yaml: &str) -> Result<Vec<Value>> {
    let documents: Vec<Value> =
        serde_saphyr::from_multiple(yaml).map_err(|err| Error::BuildOutput {
            reason: err.to_string(),
        })?;
    Ok(documents.into_iter().filter(|doc| !doc.is_null()).collect())
}

/// The variables of `postBuild`: every `substituteFrom` ConfigMap and Secret in order, then
/// the inline `substitute`, which wins (see [`substitute::variables`]).
async fn variables(
    connection: &Connection,
    kustomization: &Kustomization,
    post_build: &PostBuild,
) -> crate::Result<BTreeMap<String, String>> {
    let mut sources = Vec::new();
    for reference in &post_build.substitute_from {
        let (kind, name) = (reference.kind.as_str(), reference.name.as_str());
        let data = match kind {
            "ConfigMap" => read_config_map(connection, &kustomization.namespace, name).await?,
            "Secret" => read_secret(connection, &kustomization.namespace, name).await?,
            other => {
                return Err(Error::Spec {
                    namespace: kustomization.namespace.clone(),
                    name: kustomization.name.clone(),
                    field: "postBuild.substituteFrom",
                    reason: format!("kind {other:?} is neither ConfigMap nor Secret"),
                }
                .into());
            }
        };
        match data {
            Some(data) => sources.push(data),
            None if reference.optional => {}
            None => {
                return Err(Error::SubstituteSourceMissing {
                    kind: kind.to_string(),
                    namespace: kustomization.namespace.clone(),
                    name: name.to_string(),
                    kustomization: kustomization.name.clone(),
                }
                .into());
            }
        }
    }
    Ok(substitute::variables(&post_build.substitute, &sources))
}

async fn read_config_map(
    connection: &Connection,
    namespace: &str,
    name: &str,
) -> crate::Result<Option<BTreeMap<String, String>>> {
    let api: Api<ConfigMap> = Api::namespaced(connection.client.clone(), namespace);
    let action = Action::new("get", "configmaps")
        .named(name)
        .in_namespace(namespace);
    let found = connection.call(action, api.get_opt(name)).await?;
    Ok(found.map(|config_map| config_map.data.unwrap_or_default()))
}

async fn read_secret(
    connection: &Connection,
    namespace: &str,
    name: &str,
) -> crate::Result<Option<BTreeMap<String, String>>> {
    let api: Api<Secret> = Api::namespaced(connection.client.clone(), namespace);
    let action = Action::new("get", "secrets")
        .named(name)
        .in_namespace(namespace);
    let found = connection.call(action, api.get_opt(name)).await?;
    Ok(found.map(|secret| {
        secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(key, value)| (key, String::from_utf8_lossy(&value.0).into_owned()))
            .collect()
    }))
}

/// The objects of kustomize's output, each substituted from its own YAML text (the text
/// kustomize-controller substitutes); objects marked `substitute: disabled` are read as they are.
fn substitute_all(
    yaml: &str,
    variables: &BTreeMap<String, String>,
    strict: bool,
) -> Result<Vec<Value>> {
    substitute::split_documents(yaml)
        .into_iter()
        .map(|document| {
            substitute::substitute_document(document, variables, strict).map_err(|err| {
                Error::Substitution {
                    reason: err.to_string(),
                }
            })
        })
        .filter(|object| !matches!(object, Ok(Value::Null)))
        .collect()
}

/// Whether `object` carries `key: value` as a label or an annotation (the value in any case,
/// as Flux compares them).
pub fn marked(object: &Value, key: &str, value: &str) -> bool {
    ["labels", "annotations"].iter().any(|field| {
        object["metadata"][field][key]
            .as_str()
            .is_some_and(|v| v.eq_ignore_ascii_case(value))
    })
}

fn metadata_map<'a>(object: &'a mut Value, field: &str) -> Option<&'a mut Map<String, Value>> {
    let metadata = object
        .as_object_mut()?
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()?;
    let map = metadata
        .entry(field)
        .or_insert_with(|| Value::Object(Map::new()));
    if !map.is_object() {
        *map = Value::Object(Map::new());
    }
    map.as_object_mut()
}

fn set_owner_labels(object: &mut Value, kustomization: &Kustomization) {
    if let Some(labels) = metadata_map(object, "labels") {
        labels.insert(
            OWNER_NAME_LABEL.into(),
            Value::String(kustomization.name.clone()),
        );
        labels.insert(
            OWNER_NAMESPACE_LABEL.into(),
            Value::String(kustomization.namespace.clone()),
        );
    }
}

/// `spec.commonMetadata`: its labels and annotations on every object, replacing same keys.
fn set_common_metadata(object: &mut Value, common: &Value) {
    for field in ["labels", "annotations"] {
        let Some(wanted) = common[field].as_object() else {
            continue;
        };
        if let Some(map) = metadata_map(object, field) {
            for (key, value) in wanted {
                map.insert(key.clone(), value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn kustomization() -> Kustomization {
        Kustomization {
            name: "apps".into(),
            namespace: "flux-system".into(),
            object: json!({"spec": {}}),
        }
    }

    #[test]
    fn owner_labels_and_common_metadata_reach_every_object() {
        let mut object = json!({"kind": "ConfigMap", "metadata": {"name": "a", "labels": {"x": "1", "team": "old"}}});
        set_owner_labels(&mut object, &kustomization());
        set_common_metadata(
            &mut object,
            &json!({"labels": {"team": "a"}, "annotations": {"note": "n"}}),
        );
        assert_eq!(
            object,
            json!({"kind": "ConfigMap", "metadata": {"name": "a",
                "labels": {"x": "1", "team": "a",
                    "kustomize.toolkit.fluxcd.io/name": "apps",
                    "kustomize.toolkit.fluxcd.io/namespace": "flux-system"},
                "annotations": {"note": "n"}}})
        );
    }

    #[test]
    fn the_first_matching_kustomization_of_a_file_is_chosen() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ks.yaml");
        std::fs::write(
            &file,
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: apps}\n---\n\
             apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: apps, namespace: other}\nspec: {path: wrong}\n---\n\
             apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: apps}\nspec: {path: ./apps}\n",
        )
        .unwrap();
        let found = kustomization_from_file(&file, "apps", "flux-system").unwrap();
        assert_eq!(found["spec"]["path"], "./apps");
        let err = kustomization_from_file(&file, "nope", "flux-system").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "invalid kustomization file \"{}\": it holds no Kustomization named nope (in namespace flux-system or without one)",
                file.display()
            )
        );
        assert!(kustomization_from_file(dir.path(), "apps", "x").is_err());
    }

    #[test]
    fn markers_are_read_from_labels_and_annotations_in_any_case() {
        let key = "kustomize.toolkit.fluxcd.io/ssa";
        let labelled = json!({"metadata": {"labels": {key: "Ignore"}}});
        let annotated = json!({"metadata": {"annotations": {key: "ignore"}}});
        assert!(marked(&labelled, key, "ignore"));
        assert!(marked(&annotated, key, "ignore"));
        assert!(!marked(&json!({"metadata": {}}), key, "ignore"));
    }
}
