//! Server-side apply of untyped objects, with this plugin's field manager.

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::ApiResource;

use crate::connection::Connection;
use crate::error::{Action, Result};

/// Applies `object` (which must carry apiVersion, kind and metadata.name) server-side, taking
/// ownership of conflicting fields as `kubectl apply --server-side --force-conflicts` would.
pub async fn server_side_apply(
    connection: &Connection,
    resource: &ApiResource,
    namespace: Option<&str>,
    object: &DynamicObject,
) -> Result<DynamicObject> {
    let name = object.metadata.name.clone().unwrap_or_default();
    let api: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(connection.client.clone(), ns, resource),
        None => Api::all_with(connection.client.clone(), resource),
    };
    let mut action = Action::new("apply", &qualified_plural(resource)).named(&name);
    if let Some(ns) = namespace {
        action = action.in_namespace(ns);
    }
    let params = PatchParams::apply(crate::FIELD_MANAGER).force();
    connection
        .call(action, api.patch(&name, &params, &Patch::Apply(object)))
        .await
}

/// `plural.group` as kubectl names resources in messages (`kustomizations.kustomize.toolkit.fluxcd.io`).
pub fn qualified_plural(resource: &ApiResource) -> String {
    if resource.group.is_empty() {
        resource.plural.clone()
    } else {
        format!("{}.{}", resource.plural, resource.group)
    }
}
