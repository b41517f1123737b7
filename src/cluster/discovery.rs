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
    /// Per listed resource: the lower-case names a user may type for it (kind, singular, short
    /// names), beside the plural in `listed`.
    names: Vec<Vec<String>>,
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
            names: Vec::new(),
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
                    let mut names: Vec<String> = r.short_names.clone();
                    names.extend(r.singular_resource.clone());
                    names.push(kind.to_string());
                    resources
                        .names
                        .push(names.iter().map(|n| n.to_ascii_lowercase()).collect());
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

    /// The resource a user names as kubectl does: kind, plural, singular or short name in any
    /// case (`deploy`, `Deployment`, `cm`), optionally qualified by its group
    /// (`deployments.apps`) or version and group (`deployments.v1.apps`). Subresources
    /// (`pods/log`) are never meant. The core group wins a name several groups serve
    /// (`events`), as in kubectl; otherwise the first group discovery lists.
    pub fn find_by_name(&self, name: &str) -> Option<(&ApiResource, bool)> {
        let name = name.to_ascii_lowercase();
        let (word, qualifier) = match name.split_once('.') {
            Some((word, qualifier)) => (word, Some(qualifier)),
            None => (name.as_str(), None),
        };
        self.listed
            .iter()
            .zip(&self.names)
            .find(|((resource, _), names)| {
                let named = !resource.plural.contains('/')
                    && (resource.plural == word || names.iter().any(|n| n == word));
                let qualified = match qualifier {
                    None => true,
                    Some(q) => {
                        q == resource.group
                            || q == format!("{}.{}", resource.version, resource.group)
                    }
                };
                named && qualified
            })
            .map(|((resource, namespaced), _)| (resource, *namespaced))
    }

    /// Every name [`Resources::find_by_name`] accepts without a group, with the resource it
    /// names: for completion.
    pub fn names(&self) -> impl Iterator<Item = (&str, &ApiResource)> {
        self.listed
            .iter()
            .zip(&self.names)
            .flat_map(|((resource, _), names)| {
                std::iter::once(resource.plural.as_str())
                    .chain(names.iter().map(String::as_str))
                    .map(move |name| (name, resource))
            })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Two roots shaped as the API server sends them: the core group and two named groups,
    /// one serving `events` again.
    fn served() -> Resources {
        let resource = |plural: &str, singular: &str, kind: &str, short: &[&str], scope: &str| {
            serde_json::json!({"resource": plural, "singularResource": singular,
                "responseKind": {"group": "", "version": "", "kind": kind},
                "scope": scope, "shortNames": short, "verbs": ["get", "list"]})
        };
        let group = |name: &str, version: &str, resources: Vec<serde_json::Value>| {
            serde_json::json!({"metadata": {"name": name},
                "versions": [{"version": version, "resources": resources}]})
        };
        let list = |groups: Vec<serde_json::Value>| -> APIGroupDiscoveryList {
            serde_json::from_value(serde_json::json!({
                "apiVersion": "apidiscovery.k8s.io/v2", "kind": "APIGroupDiscoveryList",
                "items": groups}))
            .unwrap()
        };
        let core = list(vec![group(
            "",
            "v1",
            vec![
                resource(
                    "configmaps",
                    "configmap",
                    "ConfigMap",
                    &["cm"],
                    "Namespaced",
                ),
                resource("events", "event", "Event", &["ev"], "Namespaced"),
                resource("namespaces", "namespace", "Namespace", &["ns"], "Cluster"),
            ],
        )]);
        let named = list(vec![
            group(
                "apps",
                "v1",
                vec![resource(
                    "deployments",
                    "deployment",
                    "Deployment",
                    &["deploy"],
                    "Namespaced",
                )],
            ),
            group(
                "events.k8s.io",
                "v1",
                vec![resource("events", "event", "Event", &["ev"], "Namespaced")],
            ),
        ]);
        Resources::from_lists(&[core, named])
    }

    fn found(resources: &Resources, name: &str) -> Option<(String, bool)> {
        resources
            .find_by_name(name)
            .map(|(r, namespaced)| (format!("{}.{}", r.plural, r.group), namespaced))
    }

    #[test]
    fn resources_are_found_by_every_name_kubectl_accepts() {
        let resources = served();
        for name in [
            "deploy",
            "deployment",
            "deployments",
            "Deployment",
            "DEPLOY",
            "deployments.apps",
            "deploy.apps",
            "deployments.v1.apps",
        ] {
            assert_eq!(
                found(&resources, name),
                Some(("deployments.apps".to_string(), true)),
                "{name}"
            );
        }
        assert_eq!(
            found(&resources, "cm"),
            Some(("configmaps.".to_string(), true))
        );
        assert_eq!(
            found(&resources, "ns"),
            Some(("namespaces.".to_string(), false))
        );
        assert_eq!(found(&resources, "deployments.batch"), None);
        assert_eq!(found(&resources, "nothing"), None);
    }

    #[test]
    fn the_core_group_wins_a_name_two_groups_serve() {
        let resources = served();
        assert_eq!(
            found(&resources, "events"),
            Some(("events.".to_string(), true))
        );
        assert_eq!(
            found(&resources, "events.events.k8s.io"),
            Some(("events.events.k8s.io".to_string(), true))
        );
    }
}
