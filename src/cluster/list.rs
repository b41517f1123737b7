//! Listing any resource page by page (`limit`/`continue`), decoding each page into a caller's
//! projection: a struct with only the fields it reads. Thousands of objects decoded as
//! `DynamicObject`s would parse every managedFields entry, pod template and inventory; a
//! projection skips them unparsed, which keeps large listings fast and small in memory.

use kube::api::ListParams;
use kube::discovery::ApiResource;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::action::{Action, qualified_plural};
use super::connection::Connection;
use super::error::Result;

/// Objects per page: few round trips, bounded memory per page.
pub const PAGE_SIZE: u32 = 500;

/// One page of a list, items decoded as `T`.
#[derive(Deserialize)]
struct Page<T> {
    #[serde(default = "Vec::new")]
    items: Vec<T>,
    #[serde(default)]
    metadata: PageMeta,
}

#[derive(Deserialize, Default)]
struct PageMeta {
    #[serde(rename = "continue")]
    continue_: Option<String>,
}

/// Lists `resource` in `namespace` (`None`: every namespace, or a cluster-scoped resource),
/// handing each item, decoded as `T`, to `each`. `params` carry selectors; the page size is
/// set here.
pub async fn list_pages<T: DeserializeOwned>(
    connection: &Connection,
    resource: &ApiResource,
    namespace: Option<&str>,
    params: ListParams,
    mut each: impl FnMut(T),
) -> Result<()> {
    let path = collection_path(resource, namespace);
    let mut action = Action::new("list", &qualified_plural(resource));
    if let Some(namespace) = namespace {
        action = action.in_namespace(namespace);
    }
    let mut params = params.limit(PAGE_SIZE);
    loop {
        let request = kube::core::Request::new(path.as_str())
            .list(&params)
            .map_err(kube::Error::BuildRequest);
        let page: Page<T> = connection
            .call(action.clone(), async {
                connection.client.request(request?).await
            })
            .await?;
        page.items.into_iter().for_each(&mut each);
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(()),
        }
    }
}

/// `/api/v1[/namespaces/<ns>]/<plural>` for the core group, `/apis/<group>/<version>/...`
/// for the others.
fn collection_path(resource: &ApiResource, namespace: Option<&str>) -> String {
    let root = if resource.group.is_empty() {
        "/api"
    } else {
        "/apis"
    };
    let mut path = format!("{root}/{}", resource.api_version);
    if let Some(namespace) = namespace {
        path.push_str(&format!("/namespaces/{namespace}"));
    }
    path.push('/');
    path.push_str(&resource.plural);
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(group: &str, version: &str, plural: &str) -> ApiResource {
        ApiResource {
            group: group.into(),
            version: version.into(),
            api_version: if group.is_empty() {
                version.into()
            } else {
                format!("{group}/{version}")
            },
            kind: String::new(),
            plural: plural.into(),
        }
    }

    #[test]
    fn core_and_named_groups_have_their_own_roots() {
        assert_eq!(
            collection_path(&resource("", "v1", "configmaps"), Some("apps")),
            "/api/v1/namespaces/apps/configmaps"
        );
        assert_eq!(
            collection_path(
                &resource("kustomize.toolkit.fluxcd.io", "v1", "kustomizations"),
                None
            ),
            "/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations"
        );
    }
}
