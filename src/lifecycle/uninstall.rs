//! Removes Flux from a cluster the way `flux uninstall` does, in an order that cannot leave
//! anything stuck: controllers and their RBAC first, then the finalizers of every Flux object
//! (no controller is left to remove them, and a namespace holding such an object would stay
//! Terminating forever), then the CRDs (which deletes the objects), then the namespace.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::discovery::ApiResource;

use crate::cluster::action::{Action, qualified_plural};
use crate::cluster::connection::Connection;
use crate::error::Result;
use crate::flux::discovery::FluxApis;
use crate::flux::labels;
use crate::ui::progress::Progress;

pub struct UninstallOptions {
    /// The namespace Flux runs in.
    pub namespace: String,
    pub keep_namespace: bool,
    /// Ask the API server to validate every deletion without persisting it.
    pub dry_run: bool,
}

/// One thing uninstall did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Removal {
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    /// "deleted" or "finalizers removed".
    pub action: &'static str,
}

impl std::fmt::Display for Removal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{}/{} {}", self.kind, ns, self.name, self.action),
            None => write!(f, "{}/{} {}", self.kind, self.name, self.action),
        }
    }
}

/// The kinds a Flux install creates besides CRDs and the namespace, found by `part-of=flux`.
fn component_kinds() -> [(ApiResource, bool); 6] {
    [
        (ApiResource::erase::<Deployment>(&()), true),
        (ApiResource::erase::<Service>(&()), true),
        (ApiResource::erase::<NetworkPolicy>(&()), true),
        (ApiResource::erase::<ServiceAccount>(&()), true),
        (ApiResource::erase::<ClusterRole>(&()), false),
        (ApiResource::erase::<ClusterRoleBinding>(&()), false),
    ]
}

/// Uninstalls Flux; returns what was removed, in order. Every step is reported through
/// `progress` as it happens, so an error midway still tells the user what was done.
pub async fn uninstall(
    connection: &Connection,
    options: &UninstallOptions,
    progress: &Progress,
) -> Result<Vec<Removal>> {
    let mut removed = delete_components(connection, options, progress).await?;
    removed.extend(remove_finalizers(connection, options, progress).await?);
    removed.extend(delete_crds(connection, options, progress).await?);
    removed.extend(delete_namespace(connection, options, progress).await?);
    progress.success(format!("uninstall finished{}", dry_run_suffix(options)));
    Ok(removed)
}

/// Phase 1: the controllers and their RBAC (everything labelled `part-of=flux` but the CRDs and
/// the namespace), first, so no controller puts back a finalizer that phase 2 removes.
async fn delete_components(
    connection: &Connection,
    options: &UninstallOptions,
    progress: &Progress,
) -> Result<Vec<Removal>> {
    progress.action(format!(
        "deleting components in namespace {}{}",
        options.namespace,
        dry_run_suffix(options)
    ));
    let mut removed = Vec::new();
    for (resource, namespaced) in component_kinds() {
        let namespace = namespaced.then_some(options.namespace.as_str());
        let api = dynamic_api(connection, &resource, namespace);
        for name in list_names(connection, &api, &resource, namespace, &part_of_flux()).await? {
            let action = action("delete", &resource, &name, namespace);
            connection
                .call(action, api.delete(&name, &delete_params(options)))
                .await?;
            record(
                &mut removed,
                options,
                progress,
                &resource,
                namespace,
                name,
                "deleted",
            );
        }
    }
    Ok(removed)
}

/// Phase 2: the finalizers of every Flux object, in every namespace. With the controllers gone
/// nothing would remove them, and the objects (and their namespaces) would never go away.
async fn remove_finalizers(
    connection: &Connection,
    options: &UninstallOptions,
    progress: &Progress,
) -> Result<Vec<Removal>> {
    progress.action(format!(
        "removing finalizers of Flux objects{}",
        dry_run_suffix(options)
    ));
    let patch = Patch::Merge(serde_json::json!({"metadata": {"finalizers": null}}));
    let params = PatchParams {
        dry_run: options.dry_run,
        ..PatchParams::default()
    };
    let mut removed = Vec::new();
    for served in FluxApis::discover(connection).await?.served {
        let api: Api<DynamicObject> = Api::all_with(connection.client.clone(), &served.resource);
        let list_action = Action::new("list", &qualified_plural(&served.resource));
        let objects = connection
            .call(list_action, api.list(&ListParams::default()))
            .await?;
        for object in objects.items {
            if object
                .metadata
                .finalizers
                .as_ref()
                .is_none_or(Vec::is_empty)
            {
                continue;
            }
            let name = object.metadata.name.clone().unwrap_or_default();
            let namespace = object.metadata.namespace.clone().unwrap_or_default();
            let api: Api<DynamicObject> =
                Api::namespaced_with(connection.client.clone(), &namespace, &served.resource);
            let action = action("patch", &served.resource, &name, Some(&namespace));
            connection
                .call(action, api.patch(&name, &params, &patch))
                .await?;
            record(
                &mut removed,
                options,
                progress,
                &served.resource,
                Some(&namespace),
                name,
                "finalizers removed",
            );
        }
    }
    Ok(removed)
}

/// Phase 3: the CRDs, which deletes the (now finalizer-free) objects with them.
async fn delete_crds(
    connection: &Connection,
    options: &UninstallOptions,
    progress: &Progress,
) -> Result<Vec<Removal>> {
    progress.action(format!("deleting Flux CRDs{}", dry_run_suffix(options)));
    let crd = ApiResource::erase::<CustomResourceDefinition>(&());
    let api = dynamic_api(connection, &crd, None);
    let mut removed = Vec::new();
    for name in list_names(connection, &api, &crd, None, &part_of_flux()).await? {
        let action = action("delete", &crd, &name, None);
        connection
            .call(action, api.delete(&name, &delete_params(options)))
            .await?;
        record(&mut removed, options, progress, &crd, None, name, "deleted");
    }
    Ok(removed)
}

/// Phase 4: Flux's namespace, unless the user keeps it. Last, so nothing in it is left waiting
/// for a controller.
async fn delete_namespace(
    connection: &Connection,
    options: &UninstallOptions,
    progress: &Progress,
) -> Result<Vec<Removal>> {
    let mut removed = Vec::new();
    if options.keep_namespace {
        progress.success(format!("namespace {} kept", options.namespace));
        return Ok(removed);
    }
    let resource = ApiResource::erase::<Namespace>(&());
    let api = dynamic_api(connection, &resource, None);
    let action = action("delete", &resource, &options.namespace, None);
    // An absent namespace is fine: someone removed it already.
    if connection
        .call(action.clone(), api.get_opt(&options.namespace))
        .await?
        .is_some()
    {
        connection
            .call(
                action,
                api.delete(&options.namespace, &delete_params(options)),
            )
            .await?;
        let name = options.namespace.clone();
        record(
            &mut removed,
            options,
            progress,
            &resource,
            None,
            name,
            "deleted",
        );
    }
    Ok(removed)
}

/// Appended to each phase's progress line, so a dry run never reads like the real thing.
fn dry_run_suffix(options: &UninstallOptions) -> &'static str {
    if options.dry_run { " (dry run)" } else { "" }
}

/// Deletions ask the API server to only validate them in a dry run.
fn delete_params(options: &UninstallOptions) -> DeleteParams {
    DeleteParams {
        dry_run: options.dry_run,
        ..DeleteParams::default()
    }
}

/// What a Flux install labels as its own: `app.kubernetes.io/part-of=flux`.
fn part_of_flux() -> ListParams {
    ListParams::default().labels(&format!("{}=flux", labels::PART_OF))
}

fn dynamic_api(
    connection: &Connection,
    resource: &ApiResource,
    namespace: Option<&str>,
) -> Api<DynamicObject> {
    match namespace {
        Some(ns) => Api::namespaced_with(connection.client.clone(), ns, resource),
        None => Api::all_with(connection.client.clone(), resource),
    }
}

fn action(verb: &str, resource: &ApiResource, name: &str, namespace: Option<&str>) -> Action {
    let action = Action::new(verb, &qualified_plural(resource)).named(name);
    match namespace {
        Some(ns) => action.in_namespace(ns),
        None => action,
    }
}

async fn list_names(
    connection: &Connection,
    api: &Api<DynamicObject>,
    resource: &ApiResource,
    namespace: Option<&str>,
    params: &ListParams,
) -> Result<Vec<String>> {
    let mut action = Action::new("list", &qualified_plural(resource));
    if let Some(ns) = namespace {
        action = action.in_namespace(ns);
    }
    let list = connection.call(action, api.list_metadata(params)).await?;
    Ok(list
        .items
        .into_iter()
        .filter_map(|o| o.metadata.name)
        .collect())
}

fn record(
    removed: &mut Vec<Removal>,
    options: &UninstallOptions,
    progress: &Progress,
    resource: &ApiResource,
    namespace: Option<&str>,
    name: String,
    what: &'static str,
) {
    let removal = Removal {
        kind: resource.kind.clone(),
        namespace: namespace.map(str::to_string),
        name,
        action: what,
    };
    let line = removal.to_string();
    if !options.dry_run {
        // An interruption then names what was removed last ("nothing was changed after
        // CustomResourceDefinition/kustomizations.kustomize.toolkit.fluxcd.io deleted").
        crate::interrupt::changed(line.clone());
    }
    progress.success(line);
    removed.push(removal);
}
