//! What the cluster says about its Flux install: version, namespace and controllers.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use serde::Serialize;

use crate::cluster::connection::Connection;
use crate::cluster::deployment::{Rollout, rollout};
use crate::error::{Action, Result};
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
