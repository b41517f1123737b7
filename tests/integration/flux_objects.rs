//! Builders for the Flux objects the status and reconcile tests create.

use std::time::Duration;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kubectl_gitops::flux::FluxKind;

use crate::support::fake_flux_controller::{Behaviour, status_patch};
use crate::support::{admin_client, apply_object, control_plane};

/// A Flux kind by any of its names (`ks`, `gitrepo`, ...).
pub fn kind(name: &str) -> &'static FluxKind {
    FluxKind::lookup(name).unwrap_or_else(|| panic!("{name} is no Flux kind"))
}

pub const REVISION: &str = "main@sha1:0123456789abcdef0123456789abcdef01234567";

pub fn kustomization(namespace: &str, name: &str, labels: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"interval": "10m", "path": "./apps", "prune": true,
                 "sourceRef": {"kind": "GitRepository", "name": "source"}}
    })
}

pub fn git_repository(namespace: &str, name: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"interval": "1m", "url": "https://example.invalid/repo.git", "ref": {"branch": "main"}}
    })
}

pub fn helm_release(namespace: &str, name: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"interval": "10m", "chart": {"spec": {"chart": "podinfo",
            "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}}}
    })
}

/// Creates the objects (CRDs installed first).
pub fn create(objects: &[serde_json::Value]) {
    control_plane().install_flux_crds();
    for object in objects {
        apply_object(object.clone());
    }
}

/// Writes a status as the controller would have, without a reconcile request.
pub async fn set_status(kind: &str, namespace: &str, name: &str, behaviour: Behaviour) {
    let kind = FluxKind::lookup(kind).expect("kind");
    let api: Api<DynamicObject> =
        Api::namespaced_with(admin_client().await, namespace, &kind.api_resource());
    let generation = api
        .get(name)
        .await
        .expect("get object")
        .metadata
        .generation
        .unwrap_or(1);
    let patch = status_patch(kind, generation, None, &behaviour);
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch status");
}

pub fn succeed() -> Behaviour {
    Behaviour::Succeed {
        revision: REVISION.to_string(),
    }
}

pub fn fail(reason: &str, message: &str) -> Behaviour {
    Behaviour::Fail {
        reason: reason.into(),
        message: message.into(),
    }
}

/// Reads one field of an object with kubectl's jsonpath.
pub fn jsonpath(kind: &str, namespace: &str, name: &str, path: &str) -> String {
    control_plane().kubectl_ok(&[
        "get",
        kind,
        name,
        "-n",
        namespace,
        "-o",
        &format!("jsonpath={path}"),
    ])
}

pub const SHORT: Duration = Duration::from_millis(300);

/// A kubeconfig for `user`, who may only get, list and watch Kustomizations in `namespace`.
pub fn kustomization_reader(namespace: &str, user: &str) -> String {
    let plane = control_plane();
    plane.kubectl_ok(&[
        "create",
        "role",
        user,
        "-n",
        namespace,
        "--verb=get,list,watch",
        "--resource=kustomizations.kustomize.toolkit.fluxcd.io",
    ]);
    plane.kubectl_ok(&[
        "create",
        "rolebinding",
        user,
        "-n",
        namespace,
        &format!("--role={user}"),
        &format!("--user={user}"),
    ]);
    plane
        .kubeconfig_for(user, None, namespace)
        .display()
        .to_string()
}
