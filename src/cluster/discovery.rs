//! What the cluster serves, from aggregated discovery (Kubernetes >= 1.30: one request per
//! root, `/api` and `/apis`): every resource by `(apiVersion, kind)` for apply, and a group's
//! preferred version of a resource for callers that know only group and plural (Flux's kinds),
//! so a later API version bump needs no plugin change.

use std::collections::HashMap;

use kube::core::discovery::v2::APIGroupDiscoveryList;
use kube::discovery::ApiResource;

use super::action::Action;
use super::connection::Connection;
use super::error::{Error, Result};

/// Served resources, in the order discovery lists them (a group's preferred version first).
pub struct Resources {
    listed: Vec<(ApiResource, bool)>,
    by_kind: HashMap<(String, String), usize>,
}

impl Resources {
    /// Every resource: the core group (`/api`) and the named groups (`/apis`).
    pub async fn discover(connection: &Connection) -> Result<Resources> {
        let core = connection
            .call(
                Action::new("get", "/api (aggregated discovery)"),
                connection.client.list_core_api_versions_aggregated(),
            )
            .await?;
        let groups = named_groups(connection).await?;
        Ok(Resources::from_lists(&[core, groups]))
    }

    /// The named groups only (`/apis`): enough for custom resources, one request.
    pub async fn discover_groups(connection: &Connection) -> Result<Resources> {
        Ok(Resources::from_lists(&[named_groups(connection).await?]))
    }

    fn from_lists(lists: &[APIGroupDiscoveryList]) -> Resources {
        let mut resources = Resources {
            listed: Vec::new(),
            by_kind: HashMap::new(),
        };
        for group in lists.iter().flat_map(|list| &list.items) {
            let group_name = group
                .metadata
                .as_ref()
                .and_then(|m| m.name.clone())
                .unwrap_or_default();
            for version in &group.versions {
                let Some(version_name) = version.version.as_deref() else {
                    continue;
                };
                let api_version = if group_name.is_empty() {
                    version_name.to_string()
                } else {
                    format!("{group_name}/{version_name}")
                };
                for r in &version.resources {
                    let (Some(plural), Some(kind)) = (
                        r.resource.as_deref(),
                        r.response_kind.as_ref().and_then(|k| k.kind.as_deref()),
                    ) else {
                        continue;
                    };
                    let resource = ApiResource {
                        group: group_name.clone(),
                        version: version_name.to_string(),
                        api_version: api_version.clone(),
                        kind: kind.to_string(),
                        plural: plural.to_string(),
                    };
                    let namespaced = r.scope.as_deref() == Some("Namespaced");
                    let index = resources.listed.len();
                    resources
                        .by_kind
                        .entry((api_version.clone(), kind.to_string()))
                        .or_insert(index);
                    resources.listed.push((resource, namespaced));
                }
            }
        }
        resources
    }

    /// The served resource for `apiVersion` + `kind`, and whether it is namespaced, or an error
    /// that names what is missing.
    pub fn find(&self, api_version: &str, kind: &str) -> Result<(&ApiResource, bool)> {
        self.by_kind
            .get(&(api_version.to_string(), kind.to_string()))
            .and_then(|&index| self.listed.get(index))
            .map(|(resource, namespaced)| (resource, *namespaced))
            .ok_or_else(|| Error::NotServed {
                kind: kind.to_string(),
                api_version: api_version.to_string(),
            })
    }

    /// `kind` in `group` at the group's preferred version, and whether it is namespaced: for
    /// callers that recorded an object under a version the cluster may no longer serve.
    pub fn preferred_kind(&self, group: &str, kind: &str) -> Option<(&ApiResource, bool)> {
        self.listed
            .iter()
            .find(|(resource, _)| resource.group == group && resource.kind == kind)
            .map(|(resource, namespaced)| (resource, *namespaced))
    }

    /// `plural` in `group` at the group's preferred version that serves it (discovery lists a
    /// group's versions in preference order).
    pub fn preferred(&self, group: &str, plural: &str) -> Option<&ApiResource> {
        self.listed
            .iter()
            .map(|(resource, _)| resource)
            .find(|resource| resource.group == group && resource.plural == plural)
    }
}

async fn named_groups(connection: &Connection) -> Result<APIGroupDiscoveryList> {
    connection
        .call(
            Action::new("get", "/apis (aggregated discovery)"),
            connection.client.list_api_groups_aggregated(),
        )
        .await
}
