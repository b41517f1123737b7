//! What the cluster says about its Flux install: version, namespace and controllers.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use serde::Serialize;

use crate::cluster::action::{Action, qualified_plural};
use crate::cluster::connection::Connection;
use crate::cluster::deployment::{Rollout, rollout};
use crate::error::Result;
use crate::flux::discovery::FluxApis;
use crate::flux::kinds::KUSTOMIZATION;
use crate::flux::labels;

/// The CRD whose labels carry the installed Flux version (as `flux version` reads it).
pub const VERSION_CRD: &str = "gitrepositories.source.toolkit.fluxcd.io";

/// What the cluster says about its Flux install, read from the CRD labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FluxInstall {
    /// `app.kubernetes.io/version`, e.g. `v2.9.4`.
    pub version: Option<String>,
    /// `app.kubernetes.io/instance`: the namespace Flux was installed into.
    pub namespace: Option<String>,
    /// `app.kubernetes.io/managed-by`, set when another tool (e.g. flux-operator) owns the install.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<String>,
}

/// Reads the Flux install from the GitRepository CRD; `None` when Flux is not installed.
pub async fn installed(connection: &Connection) -> Result<Option<FluxInstall>> {
    let crds: Api<CustomResourceDefinition> = Api::all(connection.client.clone());
    let action =
        Action::new("get", "customresourcedefinitions.apiextensions.k8s.io").named(VERSION_CRD);
    let Some(crd) = connection.call(action, crds.get_opt(VERSION_CRD)).await? else {
        return Ok(None);
    };
    let labels = crd.metadata.labels.unwrap_or_default();
    Ok(Some(FluxInstall {
        version: labels.get(labels::VERSION).cloned(),
        namespace: labels.get(labels::INSTANCE).cloned(),
        managed_by: labels.get(labels::MANAGED_BY).cloned(),
    }))
}

/// How many of Flux's controller Deployments (label `part-of=flux`) are available.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ControllersReady {
    pub ready: usize,
    pub total: usize,
}

/// Counts the available Flux controller Deployments in `namespace`.
pub async fn controllers_ready(
    connection: &Connection,
    namespace: &str,
) -> Result<ControllersReady> {
    let deployments: Api<Deployment> = Api::namespaced(connection.client.clone(), namespace);
    let action = Action::new("list", "deployments.apps").in_namespace(namespace);
    let params = kube::api::ListParams::default().labels(&format!("{}=flux", labels::PART_OF));
    let list = connection.call(action, deployments.list(&params)).await?;
    let ready = list
        .items
        .iter()
        .filter(|d| rollout(d) == Rollout::Available)
        .count();
    Ok(ControllersReady {
        ready,
        total: list.items.len(),
    })
}

/// The Kustomization that syncs a bootstrapped cluster from Git. Bootstrap names it, and the
/// GitRepository it reads, after the Flux namespace, in that namespace
/// (`flux-system/flux-system`), as flux bootstrap does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootKustomization {
    /// `spec.path`: the cluster's folder in the repository.
    pub path: Option<String>,
    /// Whether it ever applied a revision (then components are upgraded through Git only).
    pub applied: bool,
}

/// The root Kustomization of the Flux installed in `namespace`: `Some` when the cluster was
/// bootstrapped from Git, `None` when not (or when Kustomizations are not served at all).
pub async fn root_kustomization(
    connection: &Connection,
    apis: &FluxApis,
    namespace: &str,
) -> Result<Option<RootKustomization>> {
    let Some(served) = apis.get(&KUSTOMIZATION) else {
        return Ok(None);
    };
    let api: Api<kube::api::DynamicObject> =
        Api::namespaced_with(connection.client.clone(), namespace, &served.resource);
    let action = Action::new("get", &qualified_plural(&served.resource))
        .named(namespace)
        .in_namespace(namespace);
    let found = connection.call(action, api.get_opt(namespace)).await?;
    Ok(found.map(|ks| RootKustomization {
        path: ks.data["spec"]["path"].as_str().map(str::to_string),
        applied: ks.data["status"]["lastAppliedRevision"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
    }))
}
