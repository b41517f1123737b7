//! The status view of one cluster: every selected Flux object with its computed status,
//! failing first, and what the header says about Flux itself (version, controllers). `status`
//! prints it; fleet mode takes the same snapshot from every cluster (crate::fleet::status).

use jiff::Timestamp;
use serde::Serialize;

use crate::cluster::connection::Connection;
use crate::error::{Error, Result};
use crate::flux::discovery::FluxApis;
use crate::flux::objects::{self, FluxObject, Scope, kind_named, parse_targets};
use crate::flux::status::{State, Summary, explain_blocked, summarize};
use crate::flux::watch::ObjectKey;
use crate::flux::{self, ControllersReady, FluxInstall, FluxKind};

/// `--status`: which states to show.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFilter {
    Ready,
    Failed,
    /// Waiting for a dependsOn object that is not Ready.
    Blocked,
    Stalled,
    Reconciling,
    Suspended,
    Unknown,
    /// Anything but Ready.
    NotReady,
}

impl StatusFilter {
    pub fn matches(self, state: State) -> bool {
        match self {
            StatusFilter::Ready => state == State::Ready,
            StatusFilter::Failed => state == State::Failed,
            StatusFilter::Blocked => state == State::Blocked,
            StatusFilter::Stalled => state == State::Stalled,
            StatusFilter::Reconciling => state == State::Reconciling,
            StatusFilter::Suspended => state == State::Suspended,
            StatusFilter::Unknown => state == State::Unknown,
            StatusFilter::NotReady => state != State::Ready,
        }
    }
}

/// One row of the status view: the object's identity plus its computed status.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    pub api_version: String,
    pub kind: &'static str,
    pub metadata: ItemMeta,
    pub status: Summary,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemMeta {
    pub name: String,
    pub namespace: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
}

impl Item {
    pub fn new(object: &FluxObject) -> Item {
        Item {
            api_version: object
                .object
                .types
                .as_ref()
                .map(|t| t.api_version.clone())
                .unwrap_or_default(),
            kind: object.kind.kind,
            metadata: ItemMeta {
                name: object.name().to_string(),
                namespace: object.namespace().to_string(),
                creation_timestamp: object
                    .object
                    .metadata
                    .creation_timestamp
                    .as_ref()
                    .map(|t| t.0),
                generation: object.object.metadata.generation,
            },
            status: summarize(object.kind, &object.object),
        }
    }

    pub fn sort_key(&self) -> (State, String, &'static str, String) {
        (
            self.status.state,
            self.metadata.namespace.clone(),
            self.kind,
            self.metadata.name.clone(),
        )
    }

    pub fn key(&self) -> ObjectKey {
        ObjectKey {
            kind: self.kind,
            namespace: self.metadata.namespace.clone(),
            name: self.metadata.name.clone(),
        }
    }

    /// kubectl's `-o name` form: `kustomization.kustomize.toolkit.fluxcd.io/apps`.
    pub fn resource_name(&self) -> String {
        let group = self.api_version.split('/').next().unwrap_or_default();
        format!(
            "{}.{}/{}",
            self.kind.to_lowercase(),
            group,
            self.metadata.name
        )
    }
}

/// What to ask each cluster, checked before any cluster is contacted.
#[derive(Clone)]
pub struct Query {
    pub targets: Vec<objects::Target>,
    pub kinds: Vec<&'static FluxKind>,
    pub all_namespaces: bool,
    pub selector: Option<String>,
    pub states: Vec<StatusFilter>,
    /// Read what the header (or the fleet summary) says: Flux's version and controllers.
    pub install: bool,
    /// Fleet summary: also read the root Kustomization.
    pub root: bool,
}

/// What the command line asks for, before it is checked.
pub struct Request<'a> {
    /// A kind, `<kind> <name>...` or `<kind>/<name>...`.
    pub targets: &'a [String],
    /// `--kind` values.
    pub kinds: &'a [String],
    pub all_namespaces: bool,
    pub selector: Option<String>,
    pub states: Vec<StatusFilter>,
    pub install: bool,
    pub root: bool,
}

impl Query {
    pub fn new(request: Request<'_>) -> Result<Query> {
        let (kind, targets) = parse_targets(request.targets)?;
        if request.all_namespaces && !targets.is_empty() {
            return Err(Error::InvalidUsage(
                "named objects are looked up in one namespace (-n); drop -A, or give only a kind"
                    .to_string(),
            ));
        }
        let kinds = selected_kinds(request.kinds, kind, &targets)?;
        Ok(Query {
            targets,
            kinds,
            all_namespaces: request.all_namespaces,
            selector: request.selector,
            states: request.states,
            install: request.install,
            root: request.root,
        })
    }

    /// Whether an object in this state is shown (`--status`).
    pub fn keeps(&self, state: State) -> bool {
        keeps(&self.states, state)
    }
}

/// Whether an object in this state passes the `--status` filters (none: every state).
pub fn keeps(filters: &[StatusFilter], state: State) -> bool {
    filters.is_empty() || filters.iter().any(|f| f.matches(state))
}

/// What one cluster answered: the objects (filtered, sorted failing first), and what the
/// header says.
pub struct Snapshot {
    pub connection: Connection,
    pub apis: FluxApis,
    pub scope: Scope,
    pub items: Vec<Item>,
    pub install: Option<Install>,
    /// The root Kustomization (`<flux namespace>/<flux namespace>`) when asked for and found.
    pub root: Option<Summary>,
    /// RBAC warnings of the listing.
    pub warnings: Vec<String>,
}

/// The one per-cluster function: the single-cluster path and fleet mode both call it.
pub async fn snapshot(connection: Connection, query: &Query) -> Result<Snapshot> {
    let apis = FluxApis::discover(&connection).await?;
    let scope = Scope::new(&connection.namespace, query.all_namespaces);
    // The header's two requests run while the objects are listed.
    let install = async {
        if query.install {
            Some(install(&connection, &apis).await)
        } else {
            None
        }
    };
    let (found, install) = tokio::join!(find(&connection, &apis, &scope, query), install);
    let (mut items, warnings) = found?;
    explain_blocked(items.iter_mut().map(|item| {
        let Item {
            kind,
            metadata,
            status,
            ..
        } = item;
        (
            *kind,
            metadata.namespace.as_str(),
            metadata.name.as_str(),
            status,
        )
    }));
    items.retain(|item| query.keeps(item.status.state));
    items.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    let root = match (&install, query.root) {
        (Some(Install::Found { namespace, .. }), true) => {
            root_kustomization(&connection, &apis, namespace).await
        }
        _ => None,
    };
    Ok(Snapshot {
        connection,
        apis,
        scope,
        items,
        install,
        root,
        warnings,
    })
}

/// The kinds to list: `--kind` values, plus the kind of the arguments (`status ks`, `ks/a`).
fn selected_kinds(
    flags: &[String],
    kind: Option<&'static FluxKind>,
    targets: &[objects::Target],
) -> Result<Vec<&'static FluxKind>> {
    let mut kinds: Vec<&'static FluxKind> =
        flags.iter().map(|k| kind_named(k)).collect::<Result<_>>()?;
    for extra in kind.into_iter().chain(targets.iter().map(|t| t.kind)) {
        if !kinds.contains(&extra) {
            kinds.push(extra);
        }
    }
    Ok(kinds)
}

/// `--fail-if-not-ready`: exit status 3 when any shown object is not Ready.
pub fn all_ready(items: &[Item]) -> Result<()> {
    let not_ready = items
        .iter()
        .filter(|i| i.status.state != State::Ready)
        .count();
    if not_ready > 0 {
        return Err(Error::NotAllReady {
            not_ready,
            total: items.len(),
        });
    }
    Ok(())
}

/// The named objects, or the listing of the selected kinds, with the listing's RBAC warnings.
async fn find(
    connection: &Connection,
    apis: &FluxApis,
    scope: &Scope,
    query: &Query,
) -> Result<(Vec<Item>, Vec<String>)> {
    if !query.targets.is_empty() {
        let found =
            objects::get_all(connection, apis, &connection.namespace, &query.targets).await?;
        return Ok((found.iter().map(Item::new).collect(), Vec::new()));
    }
    let listing = objects::list_map(
        connection,
        apis,
        &query.kinds,
        scope,
        query.selector.as_deref(),
        |object| Item::new(&object),
    )
    .await?;
    Ok((listing.objects, listing.warnings))
}

/// What the header says about Flux in the cluster.
#[derive(Debug, Clone)]
pub enum Install {
    /// No Flux CRD at all.
    Missing,
    /// Flux CRDs, but not the one that carries the version.
    WithoutVersionCrd,
    /// The version could not be read.
    Unknown(String),
    Found {
        version: Option<String>,
        namespace: String,
        controllers: Controllers,
    },
}

#[derive(Debug, Clone)]
pub enum Controllers {
    Counted(ControllersReady),
    Forbidden,
    Failed(String),
}

/// Reads Flux's version and its controllers' readiness.
pub async fn install(connection: &Connection, apis: &FluxApis) -> Install {
    let install: FluxInstall = match flux::installed(connection).await {
        Ok(Some(install)) => install,
        Ok(None) if apis.served.is_empty() => return Install::Missing,
        Ok(None) => return Install::WithoutVersionCrd,
        Err(err) => return Install::Unknown(err.to_string()),
    };
    let namespace = install
        .namespace
        .unwrap_or_else(|| "flux-system".to_string());
    let controllers = match flux::controllers_ready(connection, &namespace).await {
        Ok(counted) => Controllers::Counted(counted),
        Err(Error::Cluster(crate::cluster::Error::Forbidden { .. })) => Controllers::Forbidden,
        Err(err) => Controllers::Failed(err.to_string()),
    };
    Install::Found {
        version: install.version,
        namespace,
        controllers,
    }
}

impl Install {
    /// "Flux v2.9.4 in flux-system, controllers ready 4/4", or why not.
    pub fn header(&self) -> String {
        match self {
            Install::Missing => "Flux is not installed in this cluster.\n".to_string(),
            Install::WithoutVersionCrd => {
                "Flux CRDs are present, but not the GitRepository CRD that carries the version.\n"
                    .to_string()
            }
            Install::Unknown(err) => format!("Flux version unknown: {err}\n"),
            Install::Found {
                version,
                namespace,
                controllers,
            } => {
                let version = version.as_deref().unwrap_or("(unknown version)");
                let controllers = match controllers {
                    Controllers::Counted(c) if c.total == 0 => {
                        "no controller Deployments found".to_string()
                    }
                    Controllers::Counted(c) => format!("controllers ready {}/{}", c.ready, c.total),
                    Controllers::Forbidden => {
                        "controllers: not allowed to list Deployments".to_string()
                    }
                    Controllers::Failed(err) => format!("controllers: {err}"),
                };
                format!("Flux {version} in {namespace}, {controllers}\n")
            }
        }
    }
}

/// The root Kustomization bootstrap creates: named as Flux's namespace, in it.
pub async fn root_kustomization(
    connection: &Connection,
    apis: &FluxApis,
    namespace: &str,
) -> Option<Summary> {
    let kind = kind_named("ks").ok()?;
    let target = objects::Target {
        kind,
        name: namespace.to_string(),
    };
    let found = objects::get_all(connection, apis, namespace, std::slice::from_ref(&target))
        .await
        .ok()?;
    found.first().map(|o| summarize(o.kind, &o.object))
}
