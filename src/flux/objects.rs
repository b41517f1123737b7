//! Finding Flux objects: parsing `kind name`, `kind/name` arguments, listing many kinds at
//! once (concurrently, paged), and getting one object with a helpful not-found message.

use std::collections::BTreeMap;

use futures::future::join_all;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, DynamicObject, ListParams};
use serde::{Deserialize, Serialize};

use crate::cluster::Error as ClusterError;
use crate::cluster::action::{Action, qualified_plural};
use crate::cluster::connection::Connection;
use crate::cluster::list::list_pages;
use crate::error::{Error, Result};
use crate::flux::Error as FluxError;
use crate::flux::discovery::{FluxApis, ServedKind};
use crate::flux::{FluxKind, KINDS};

/// Where to look: one namespace, or all (`-A`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Namespace(String),
    AllNamespaces,
}

impl Scope {
    pub fn new(namespace: &str, all_namespaces: bool) -> Scope {
        if all_namespaces {
            Scope::AllNamespaces
        } else {
            Scope::Namespace(namespace.to_string())
        }
    }

    /// The API for `served` objects in this scope.
    pub fn api(&self, connection: &Connection, served: &ServedKind) -> Api<DynamicObject> {
        match self {
            Scope::Namespace(ns) => {
                Api::namespaced_with(connection.client.clone(), ns, &served.resource)
            }
            Scope::AllNamespaces => Api::all_with(connection.client.clone(), &served.resource),
        }
    }
}

/// A Flux object with the kind facts that interpret it.
#[derive(Debug, Clone)]
pub struct FluxObject {
    pub kind: &'static FluxKind,
    pub object: DynamicObject,
}

impl FluxObject {
    pub fn name(&self) -> &str {
        self.object.metadata.name.as_deref().unwrap_or_default()
    }

    pub fn namespace(&self) -> &str {
        self.object
            .metadata
            .namespace
            .as_deref()
            .unwrap_or_default()
    }

    /// `Kind/name`, as tables and messages show it.
    pub fn display_name(&self) -> String {
        format!("{}/{}", self.kind.kind, self.name())
    }
}

/// What one `kind name` or `kind/name` argument asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: &'static FluxKind,
    pub name: String,
}

/// Resolves a kind name a user typed (kind, plural, short name; any case).
pub fn kind_named(name: &str) -> Result<&'static FluxKind> {
    FluxKind::lookup(name).ok_or_else(|| {
        FluxError::UnknownKind {
            name: name.to_string(),
            known: KINDS
                .iter()
                .map(|k| format!("{} ({})", k.kind, k.short_names.join(", ")))
                .collect::<Vec<_>>()
                .join(", "),
        }
        .into()
    })
}

/// Parses `<kind> <name>...` or `<kind>/<name>...`. Returns the kind alone when only a kind is
/// given (`status ks`), and the named targets otherwise.
pub fn parse_targets(args: &[String]) -> Result<(Option<&'static FluxKind>, Vec<Target>)> {
    let Some(first) = args.first() else {
        return Ok((None, Vec::new()));
    };
    if first.contains('/') {
        let targets = args
            .iter()
            .map(|arg| {
                let (kind, name) = arg.split_once('/').filter(|(k, n)| !k.is_empty() && !n.is_empty()).ok_or_else(|| {
                    Error::InvalidUsage(format!(
                        "\"{arg}\" is not <kind>/<name>; give every object as <kind>/<name>, or a kind followed by names"
                    ))
                })?;
                Ok(Target {
                    kind: kind_named(kind)?,
                    name: name.to_string(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        return Ok((None, targets));
    }
    let kind = kind_named(first)?;
    let targets = args[1..]
        .iter()
        .map(|name| {
            if name.contains('/') {
                Err(Error::InvalidUsage(format!(
                    "\"{name}\" mixes forms: after a kind, give plain names (or use <kind>/<name> for every object)"
                )))
            } else {
                Ok(Target { kind, name: name.clone() })
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((Some(kind), targets))
}

/// The result of listing: objects (or what `map` made of them), and warnings for kinds that
/// could not be read (RBAC).
#[derive(Debug)]
pub struct Listing<T = FluxObject> {
    pub objects: Vec<T>,
    pub warnings: Vec<String>,
}

/// Lists `kinds` (every served kind when empty) in `scope`, all kinds concurrently, each in
/// pages. A kind the user may not list becomes a warning; other failures are errors.
pub async fn list(
    connection: &Connection,
    apis: &FluxApis,
    kinds: &[&'static FluxKind],
    scope: &Scope,
    label_selector: Option<&str>,
) -> Result<Listing> {
    list_map(connection, apis, kinds, scope, label_selector, |object| {
        object
    })
    .await
}

/// [`list`], turning each object into what the caller keeps as soon as its page arrives, so a
/// large listing never holds every full object (with managedFields) in memory at once.
pub async fn list_map<T>(
    connection: &Connection,
    apis: &FluxApis,
    kinds: &[&'static FluxKind],
    scope: &Scope,
    label_selector: Option<&str>,
    map: fn(FluxObject) -> T,
) -> Result<Listing<T>> {
    let served: Vec<&ServedKind> = if kinds.is_empty() {
        apis.served.iter().collect()
    } else {
        kinds
            .iter()
            .map(|k| apis.require(k))
            .collect::<Result<Vec<_>>>()?
    };
    let results = join_all(
        served
            .iter()
            .map(|served| list_kind(connection, served, scope, label_selector, map)),
    )
    .await;
    let mut listing = Listing {
        objects: Vec::new(),
        warnings: Vec::new(),
    };
    // With -A, kinds forbidden cluster-wide are looked for namespace by namespace.
    let mut forbidden_cluster_wide = Vec::new();
    let mut forbidden_user = String::new();
    for (served, result) in served.iter().zip(results) {
        match result {
            Ok(mut objects) => listing.objects.append(&mut objects),
            Err(Error::Cluster(ClusterError::Forbidden { user, .. }))
                if *scope == Scope::AllNamespaces =>
            {
                forbidden_cluster_wide.push(*served);
                forbidden_user = user;
            }
            Err(Error::Cluster(ClusterError::Forbidden { user, action, .. })) => {
                listing.warnings.push(format!(
                    "{user} cannot {action}: forbidden; those objects are not shown"
                ))
            }
            Err(err) => return Err(err),
        }
    }
    if !forbidden_cluster_wide.is_empty() {
        let mut found = super::per_namespace::list_namespace_by_namespace(
            connection,
            &forbidden_cluster_wide,
            &forbidden_user,
            |served, namespace| async move {
                let scope = Scope::Namespace(namespace);
                list_kind(connection, served, &scope, label_selector, map).await
            },
        )
        .await?;
        listing.objects.append(&mut found.objects);
        listing.warnings.append(&mut found.notes);
    }
    Ok(listing)
}

async fn list_kind<T>(
    connection: &Connection,
    served: &ServedKind,
    scope: &Scope,
    label_selector: Option<&str>,
    map: fn(FluxObject) -> T,
) -> Result<Vec<T>> {
    let mut params = ListParams::default();
    if let Some(selector) = label_selector {
        params = params.labels(selector);
    }
    let namespace = match scope {
        Scope::Namespace(ns) => Some(ns.as_str()),
        Scope::AllNamespaces => None,
    };
    let mut objects = Vec::new();
    list_pages(
        connection,
        &served.resource,
        namespace,
        params,
        |object: LeanObject| {
            objects.push(map(FluxObject {
                kind: served.kind,
                object: object.into_dynamic(),
            }))
        },
    )
    .await?;
    Ok(objects)
}

/// An object as `status` and the bulk commands need it (a [`list_pages`] projection): the
/// metadata, spec and status fields they read, nothing of managedFields or inventories.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LeanObject {
    api_version: String,
    kind: String,
    metadata: LeanMeta,
    #[serde(default)]
    spec: serde_json::Value,
    #[serde(default)]
    status: LeanStatus,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LeanMeta {
    name: String,
    namespace: Option<String>,
    uid: Option<String>,
    resource_version: Option<String>,
    generation: Option<i64>,
    creation_timestamp: Option<Time>,
    labels: Option<BTreeMap<String, String>>,
    annotations: Option<BTreeMap<String, String>>,
}

/// The status fields the computed status reads (see `status.rs`); others are skipped unread.
#[derive(Deserialize, Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct LeanStatus {
    #[serde(skip_serializing_if = "Option::is_none")]
    conditions: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    observed_generation: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_handled_reconcile_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    artifact: Option<LeanArtifact>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_applied_revision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_attempted_revision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    history: Option<Vec<LeanSnapshot>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_scan_result: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    latest_ref: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_push_commit: Option<String>,
}

#[derive(Deserialize, Serialize)]
struct LeanArtifact {
    #[serde(skip_serializing_if = "Option::is_none")]
    revision: Option<String>,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct LeanSnapshot {
    #[serde(skip_serializing_if = "Option::is_none")]
    chart_version: Option<String>,
}

impl LeanObject {
    fn into_dynamic(self) -> DynamicObject {
        let status = serde_json::to_value(self.status).unwrap_or_default();
        DynamicObject {
            types: Some(kube::api::TypeMeta {
                api_version: self.api_version,
                kind: self.kind,
            }),
            metadata: ObjectMeta {
                name: Some(self.metadata.name),
                namespace: self.metadata.namespace,
                uid: self.metadata.uid,
                resource_version: self.metadata.resource_version,
                generation: self.metadata.generation,
                creation_timestamp: self.metadata.creation_timestamp,
                labels: self.metadata.labels,
                annotations: self.metadata.annotations,
                ..ObjectMeta::default()
            },
            data: serde_json::json!({"spec": self.spec, "status": status}),
        }
    }
}

/// Gets one object; when it does not exist, the error names close matches of that kind.
pub async fn get(
    connection: &Connection,
    served: &ServedKind,
    namespace: &str,
    name: &str,
) -> Result<FluxObject> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(connection.client.clone(), namespace, &served.resource);
    let action = Action::new("get", &qualified_plural(&served.resource))
        .named(name)
        .in_namespace(namespace);
    match connection.call(action, api.get_opt(name)).await? {
        Some(object) => Ok(FluxObject {
            kind: served.kind,
            object,
        }),
        None => Err(not_found(connection, served, namespace, name).await),
    }
}

async fn not_found(
    connection: &Connection,
    served: &ServedKind,
    namespace: &str,
    name: &str,
) -> Error {
    let scope = Scope::Namespace(namespace.to_string());
    let names: Vec<String> = list_kind(connection, served, &scope, None, |o| o.name().to_string())
        .await
        .unwrap_or_default();
    FluxError::NotFound {
        kind: served.kind.kind,
        name: name.to_string(),
        namespace: namespace.to_string(),
        hint: close_names_hint(served.kind, namespace, name, &names),
    }
    .into()
}

/// "; did you mean ...?" with the names closest to `wanted`, or what exists in the namespace.
fn close_names_hint(kind: &FluxKind, namespace: &str, wanted: &str, names: &[String]) -> String {
    if names.is_empty() {
        return format!(
            "; there are no {} objects in namespace \"{namespace}\" (use -n or -A)",
            kind.kind
        );
    }
    let mut scored: Vec<(usize, &String)> = names
        .iter()
        .map(|n| (edit_distance(&n.to_lowercase(), &wanted.to_lowercase()), n))
        .filter(|(d, n)| {
            *d <= 3.max(wanted.len() / 3) || n.contains(wanted) || wanted.contains(n.as_str())
        })
        .collect();
    scored.sort();
    if scored.is_empty() {
        let mut some: Vec<&String> = names.iter().take(5).collect();
        some.sort();
        return format!(
            "; {} objects in that namespace: {}",
            kind.kind,
            some.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    format!(
        "; did you mean {}?",
        scored
            .iter()
            .take(3)
            .map(|(_, n)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(previous + 1).min(row[j] + 1);
        }
    }
    row[b.len()]
}

/// Objects chosen for an action (reconcile, suspend, resume).
#[derive(Debug, Default)]
pub struct Selection {
    pub objects: Vec<FluxObject>,
    /// True when the user named the objects (so problems with one of them are errors), false
    /// for `--all` and `-l` (where, e.g., suspended objects are skipped).
    pub named: bool,
    pub warnings: Vec<String>,
}

/// How the user chose objects on the command line.
#[derive(Debug, Clone, Default)]
pub struct SelectionArgs {
    pub targets: Vec<String>,
    pub label_selector: Option<String>,
    pub all: bool,
    pub all_namespaces: bool,
}

impl SelectionArgs {
    /// What the command line asks for, checked without the cluster: the target forms and the
    /// flag combinations. Returns the kind given alone (`--all ks`) and the named targets.
    pub fn check(&self) -> Result<(Option<&'static FluxKind>, Vec<Target>)> {
        let (kind, targets) = parse_targets(&self.targets)?;
        let bulk = self.all || self.label_selector.is_some();
        if !targets.is_empty() && bulk {
            return Err(Error::InvalidUsage(
                "give either object names or --all/-l, not both".to_string(),
            ));
        }
        if !targets.is_empty() && self.all_namespaces {
            return Err(Error::InvalidUsage(
                "-A works with --all or -l; named objects are looked up in one namespace (-n)"
                    .to_string(),
            ));
        }
        if targets.is_empty() && !bulk {
            return Err(Error::InvalidUsage(match kind {
                Some(kind) => format!(
                    "name the {} objects (e.g. {} <name>), or select them with --all or -l",
                    kind.kind, kind.short_names[0]
                ),
                None => "name the objects (<kind> <name>... or <kind>/<name>...), or select them with --all or -l".to_string(),
            }));
        }
        Ok((kind, targets))
    }
}

/// The named objects in `namespace`, looked up at once; the first missing one is the error
/// (with close names).
pub async fn get_all(
    connection: &Connection,
    apis: &FluxApis,
    namespace: &str,
    targets: &[Target],
) -> Result<Vec<FluxObject>> {
    let served = targets
        .iter()
        .map(|t| apis.require(t.kind))
        .collect::<Result<Vec<_>>>()?;
    join_all(
        targets
            .iter()
            .zip(&served)
            .map(|(target, served)| get(connection, served, namespace, &target.name)),
    )
    .await
    .into_iter()
    .collect()
}

/// Resolves the command line to objects, before anything is changed, so a typo in the third
/// name does not leave the first two half-done. `kinds_filter` restricts `--all` without a kind
/// (e.g. to kinds that reconcile).
pub async fn select(
    connection: &Connection,
    apis: &FluxApis,
    args: &SelectionArgs,
    kinds_filter: impl Fn(&FluxKind) -> bool,
) -> Result<Selection> {
    let (kind, targets) = args.check()?;
    if !targets.is_empty() {
        return Ok(Selection {
            objects: get_all(connection, apis, &connection.namespace, &targets).await?,
            named: true,
            warnings: Vec::new(),
        });
    }
    let kinds: Vec<&'static FluxKind> = match kind {
        Some(kind) => vec![kind],
        None => apis
            .served
            .iter()
            .map(|s| s.kind)
            .filter(|k| kinds_filter(k))
            .collect(),
    };
    if kinds.is_empty() {
        return Err(FluxError::FluxNotInstalled.into());
    }
    let scope = Scope::new(&connection.namespace, args.all_namespaces);
    let listing = list(
        connection,
        apis,
        &kinds,
        &scope,
        args.label_selector.as_deref(),
    )
    .await?;
    Ok(Selection {
        objects: listing.objects,
        named: false,
        warnings: listing.warnings,
    })
}

/// Discovers the Flux APIs and resolves the (already checked) selection to objects in one
/// cluster; `reconcilable_only` keeps `--all` to kinds that reconcile.
pub async fn discover_and_select(
    connection: &Connection,
    selection: &SelectionArgs,
    reconcilable_only: bool,
) -> Result<(FluxApis, Selection)> {
    let apis = FluxApis::discover(connection).await?;
    let selected = select(connection, &apis, selection, |k| {
        !reconcilable_only || k.reconcilable
    })
    .await?;
    Ok((apis, selected))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn targets_in_both_forms() {
        let (kind, targets) = parse_targets(&args(&["ks", "a", "b"])).unwrap();
        assert_eq!(kind.unwrap().kind, "Kustomization");
        assert_eq!(
            targets.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );

        let (kind, targets) = parse_targets(&args(&["ks/a", "GitRepository/b"])).unwrap();
        assert!(kind.is_none());
        assert_eq!(
            (targets[0].kind.kind, targets[1].kind.kind),
            ("Kustomization", "GitRepository")
        );

        let (kind, targets) = parse_targets(&args(&["HelmReleases"])).unwrap();
        assert_eq!(kind.unwrap().kind, "HelmRelease");
        assert!(targets.is_empty());
    }

    #[test]
    fn bad_targets_are_explained() {
        assert!(matches!(
            parse_targets(&args(&["deployment", "x"])),
            Err(Error::Flux(FluxError::UnknownKind { .. }))
        ));
        assert!(matches!(
            parse_targets(&args(&["ks/"])),
            Err(Error::InvalidUsage(_))
        ));
        assert!(matches!(
            parse_targets(&args(&["ks", "gitrepo/x"])),
            Err(Error::InvalidUsage(_))
        ));
        let err = parse_targets(&args(&["nope/x"])).unwrap_err().to_string();
        assert!(
            err.contains("unknown kind \"nope\"") && err.contains("Kustomization (ks)"),
            "{err}"
        );
    }

    #[test]
    fn close_names_are_suggested() {
        let ks = FluxKind::lookup("ks").unwrap();
        let names = args(&["apps", "infrastructure", "flux-system"]);
        assert_eq!(
            close_names_hint(ks, "ns", "app", &names),
            "; did you mean apps?"
        );
        assert_eq!(
            close_names_hint(ks, "ns", "infra", &names),
            "; did you mean infrastructure?"
        );
        assert!(
            close_names_hint(ks, "ns", "zzzzzz", &names)
                .contains("objects in that namespace: apps")
        );
        assert!(close_names_hint(ks, "ns", "x", &[]).contains("no Kustomization objects"));
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::flux::kinds::KINDS;

    /// Any way a user may name a kind: kind, plural, short name, `plural.group`, any case.
    fn kind_spelling() -> impl Strategy<Value = (String, &'static FluxKind)> {
        (0..KINDS.len(), 0..4usize, any::<bool>()).prop_map(|(i, form, upper)| {
            let kind = &KINDS[i];
            let text = match form {
                0 => kind.kind.to_string(),
                1 => kind.plural.to_string(),
                2 => kind.short_names.first().unwrap_or(&kind.plural).to_string(),
                _ => format!("{}.{}", kind.plural, kind.group),
            };
            (
                if upper {
                    text.to_ascii_uppercase()
                } else {
                    text
                },
                kind,
            )
        })
    }

    proptest! {
        #[test]
        fn never_panics(args in prop::collection::vec(any::<String>(), 0..4)) {
            let _ = parse_targets(&args);
        }

        /// `<kind>/<name>` gives that kind and name back, whatever the name holds but `/`.
        #[test]
        fn slash_targets_round_trip(
            targets in prop::collection::vec((kind_spelling(), "[^/]{1,40}"), 1..4)
        ) {
            let args: Vec<String> = targets.iter().map(|((k, _), n)| format!("{k}/{n}")).collect();
            let (kind, parsed) = parse_targets(&args).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(kind.is_none());
            prop_assert_eq!(parsed.len(), targets.len());
            for (target, ((_, want_kind), want_name)) in parsed.iter().zip(&targets) {
                prop_assert_eq!(target.kind.kind, want_kind.kind);
                prop_assert_eq!(&target.name, want_name);
            }
        }

        /// A kind then plain names gives that kind and those names.
        #[test]
        fn kind_then_names_round_trip(
            (spelling, want) in kind_spelling(),
            names in prop::collection::vec("[^/]{1,40}", 0..4),
        ) {
            let args: Vec<String> = std::iter::once(spelling).chain(names.iter().cloned()).collect();
            let (kind, parsed) = parse_targets(&args).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(kind.map(|k| k.kind), Some(want.kind));
            prop_assert_eq!(parsed.iter().map(|t| t.name.clone()).collect::<Vec<_>>(), names);
        }

        /// An empty kind or name, or forms mixed, are refused.
        #[test]
        fn malformed_targets_are_refused((spelling, _) in kind_spelling(), name in "[a-z0-9-]{1,20}") {
            for args in [
                vec![format!("{spelling}/")],
                vec![format!("/{name}")],
                vec![format!("{spelling}/{name}"), name.clone()],
                vec![spelling.clone(), format!("{spelling}/{name}")],
            ] {
                prop_assert!(parse_targets(&args).is_err(), "{args:?} accepted");
            }
        }
    }
}
