//! `-A` for a user who may not list a kind cluster-wide: many users are granted the read-only
//! role per namespace (RoleBindings), and a cluster-wide list of any Flux kind is then
//! forbidden although most objects are readable. Such kinds are listed namespace by
//! namespace instead (the namespaces from a list of Namespaces), and one note per set of
//! kinds says where they could not be read, so the answer covers what the user may see and
//! says what it leaves out. See docs/flux-status.md ("Partial rights").

use std::collections::{BTreeMap, BTreeSet};

use futures::stream::{self, StreamExt};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ApiResource, ListParams};
use serde::Deserialize;

use crate::cluster::Error as ClusterError;
use crate::cluster::connection::Connection;
use crate::cluster::list::list_pages;
use crate::error::{Error, Result};
use crate::flux::discovery::ServedKind;

/// Namespace-scoped lists in flight at once: enough to hide the round trips, few enough not to
/// trip the API server's priority and fairness limits for one user.
const CONCURRENT_LISTS: usize = 16;

/// Namespaces named in a note before "and N more".
const NAMES_SHOWN: usize = 5;

/// What listing kinds namespace by namespace found: the objects, and the notes for what could
/// not be read.
pub(crate) struct PerNamespace<T> {
    pub objects: Vec<T>,
    pub notes: Vec<String>,
}

/// Lists each of `kinds` (forbidden cluster-wide for `user`) in every namespace, keeping what
/// may be read. `list_kind` lists one kind in one namespace. Other errors than Forbidden end
/// the listing.
pub(crate) async fn list_namespace_by_namespace<'a, T, F, Fut>(
    connection: &Connection,
    kinds: &[&'a ServedKind],
    user: &str,
    list_kind: F,
) -> Result<PerNamespace<T>>
where
    F: Fn(&'a ServedKind, String) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<T>>>,
{
    // Without the right to list namespaces, the context's namespace is the one place known.
    let (namespaces, all_known) = match namespace_names(connection).await {
        Ok(namespaces) => (namespaces, true),
        Err(Error::Cluster(ClusterError::Forbidden { .. })) => {
            (vec![connection.namespace.clone()], false)
        }
        Err(err) => return Err(err),
    };
    // Futures made up front (not in a stream's closure), so the whole stays Send for every
    // caller.
    let mut work = Vec::new();
    for kind in kinds {
        for ns in &namespaces {
            let listed = list_kind(kind, ns.clone());
            let ns = ns.clone();
            work.push(async move { (*kind, ns, listed.await) });
        }
    }
    let results: Vec<(&'a ServedKind, String, Result<Vec<T>>)> = stream::iter(work)
        .buffer_unordered(CONCURRENT_LISTS)
        .collect()
        .await;
    let mut objects = Vec::new();
    // Per kind (by its plural), the namespaces where listing it was forbidden.
    let mut forbidden: BTreeMap<String, BTreeSet<String>> = kinds
        .iter()
        .map(|kind| (plural(kind), BTreeSet::new()))
        .collect();
    for (kind, ns, result) in results {
        match result {
            Ok(mut found) => objects.append(&mut found),
            Err(Error::Cluster(ClusterError::Forbidden { .. })) => {
                forbidden.entry(plural(kind)).or_default().insert(ns);
            }
            Err(err) => return Err(err),
        }
    }
    let notes = if all_known {
        notes(user, namespaces.len(), forbidden)
    } else {
        notes_without_namespaces(user, &connection.namespace, forbidden)
    };
    Ok(PerNamespace { objects, notes })
}

/// One note per set of kinds forbidden in the same namespaces.
fn notes(user: &str, total: usize, forbidden: BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut groups: BTreeMap<BTreeSet<String>, Vec<String>> = BTreeMap::new();
    for (kind, namespaces) in forbidden {
        groups.entry(namespaces).or_default().push(kind);
    }
    groups
        .into_iter()
        .map(|(namespaces, kinds)| {
            let what = kind_names(kinds.into_iter());
            let readable = total - namespaces.len();
            if readable == 0 {
                format!("{user} cannot list {what} in any namespace: forbidden; those objects are not shown")
            } else if namespaces.is_empty() {
                format!(
                    "{user} cannot list {what} cluster-wide; shown from each of the {total} namespaces instead"
                )
            } else {
                format!(
                    "{user} cannot list {what} cluster-wide; shown from the {readable} of {total} namespaces where it may, not from the other {}: {} (forbidden there)",
                    namespaces.len(),
                    shortened(&namespaces)
                )
            }
        })
        .collect()
}

/// The notes when the namespaces could not be listed and only `namespace` (the context's)
/// was looked in: one for the kinds read there, one for those forbidden there too.
fn notes_without_namespaces(
    user: &str,
    namespace: &str,
    forbidden: BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    let (refused, read): (Vec<_>, Vec<_>) = forbidden
        .into_iter()
        .partition(|(_, namespaces)| !namespaces.is_empty());
    let mut notes = Vec::new();
    if !read.is_empty() {
        notes.push(format!(
            "{user} cannot list {} cluster-wide, nor the namespaces to look in each: forbidden; shown from namespace \"{namespace}\" (the context's) only",
            kind_names(read.into_iter().map(|(kind, _)| kind))
        ));
    }
    if !refused.is_empty() {
        notes.push(format!(
            "{user} cannot list {} cluster-wide, nor in namespace \"{namespace}\", nor the namespaces to look in each: forbidden; those objects are not shown (pass -n <namespace> for a namespace it may read)",
            kind_names(refused.into_iter().map(|(kind, _)| kind))
        ));
    }
    notes
}

/// `plural.group`, as the API server's messages name a resource.
fn plural(kind: &ServedKind) -> String {
    crate::cluster::action::qualified_plural(&kind.resource)
}

fn kind_names(kinds: impl Iterator<Item = String>) -> String {
    kinds.collect::<Vec<_>>().join(", ")
}

/// The first few names, then how many more.
fn shortened(names: &BTreeSet<String>) -> String {
    let shown: Vec<&str> = names.iter().take(NAMES_SHOWN).map(String::as_str).collect();
    match names.len().saturating_sub(NAMES_SHOWN) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

#[derive(Deserialize)]
struct NamespaceName {
    metadata: NameOnly,
}

#[derive(Deserialize)]
struct NameOnly {
    name: String,
}

/// Every namespace's name, sorted.
async fn namespace_names(connection: &Connection) -> Result<Vec<String>> {
    let mut names = Vec::new();
    list_pages(
        connection,
        &ApiResource::erase::<Namespace>(&()),
        None,
        ListParams::default(),
        |namespace: NamespaceName| names.push(namespace.metadata.name),
    )
    .await?;
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn kinds_forbidden_in_the_same_namespaces_share_one_note() {
        let forbidden = BTreeMap::from([
            (
                "gitrepositories.source.toolkit.fluxcd.io".to_string(),
                set(&["a", "b"]),
            ),
            (
                "kustomizations.kustomize.toolkit.fluxcd.io".to_string(),
                set(&["a", "b"]),
            ),
            (
                "alerts.notification.toolkit.fluxcd.io".to_string(),
                set(&["a", "b", "c"]),
            ),
        ]);
        assert_eq!(
            notes("user \"tenant\"", 3, forbidden),
            [
                "user \"tenant\" cannot list gitrepositories.source.toolkit.fluxcd.io, kustomizations.kustomize.toolkit.fluxcd.io cluster-wide; shown from the 1 of 3 namespaces where it may, not from the other 2: a, b (forbidden there)",
                "user \"tenant\" cannot list alerts.notification.toolkit.fluxcd.io in any namespace: forbidden; those objects are not shown",
            ]
        );
    }

    #[test]
    fn without_the_namespaces_the_context_namespace_is_told() {
        let forbidden = BTreeMap::from([
            (
                "gitrepositories.source.toolkit.fluxcd.io".to_string(),
                set(&[]),
            ),
            (
                "alerts.notification.toolkit.fluxcd.io".to_string(),
                set(&["team"]),
            ),
        ]);
        assert_eq!(
            notes_without_namespaces("user \"tenant\"", "team", forbidden),
            [
                "user \"tenant\" cannot list gitrepositories.source.toolkit.fluxcd.io cluster-wide, nor the namespaces to look in each: forbidden; shown from namespace \"team\" (the context's) only",
                "user \"tenant\" cannot list alerts.notification.toolkit.fluxcd.io cluster-wide, nor in namespace \"team\", nor the namespaces to look in each: forbidden; those objects are not shown (pass -n <namespace> for a namespace it may read)",
            ]
        );
    }

    #[test]
    fn many_namespaces_are_shortened() {
        let names = set(&["n1", "n2", "n3", "n4", "n5", "n6", "n7"]);
        assert_eq!(shortened(&names), "n1, n2, n3, n4, n5 and 2 more");
    }
}
