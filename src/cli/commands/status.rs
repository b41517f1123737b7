//! `kubectl gitops status`: one table of every Flux object, failing ones first.

use std::collections::HashMap;

use futures::StreamExt;
use jiff::Timestamp;
use serde::Serialize;

use crate::cluster::connection::{Connection, ConnectionFlags};
use crate::error::{Error, Result};
use crate::flux::discovery::FluxApis;
use crate::flux::objects::{self, FluxObject, Scope, kind_named, parse_targets};
use crate::flux::status::{State, Summary, explain_blocked, short_revision, summarize};
use crate::flux::watch::{ObjectKey, Shown, Tracker, Update, changes};
use crate::flux::{self, FluxKind};
use crate::ui::Ui;
use crate::ui::output::{self, OutputFormat};

/// Messages longer than this are cut in the table (`-o wide` shows them whole).
const TABLE_MESSAGE_WIDTH: usize = 72;

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
    fn matches(self, state: State) -> bool {
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

/// Show what every Flux object is doing: ready, failing, suspended or reconciling, at which
/// revision, since when, and why.
///
/// Arguments: nothing (every Flux object), a kind (ks, hr, gitrepo, ...), `<kind> <name>...`
/// or `<kind>/<name>...`. Exit status: 0 shown, 1 error, 3 with --fail-if-not-ready when some
/// object is not Ready.
#[derive(clap::Args)]
pub struct StatusArgs {
    /// A kind, `<kind> <name>...` or `<kind>/<name>...`
    #[arg(value_name = "OBJECT")]
    targets: Vec<String>,
    /// List objects in all namespaces
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// Label selector (e.g. app=web), as kubectl's
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    selector: Option<String>,
    /// Only these kinds (repeatable, or comma-separated)
    #[arg(long = "kind", value_name = "KIND", value_delimiter = ',')]
    kinds: Vec<String>,
    /// Only objects in these states (repeatable, or comma-separated)
    #[arg(
        long = "status",
        value_name = "STATE",
        value_enum,
        value_delimiter = ','
    )]
    states: Vec<StatusFilter>,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: OutputFormat,
    /// After listing, keep watching and show every change until interrupted
    #[arg(short = 'w', long)]
    watch: bool,
    /// Exit with status 3 when any shown object is not Ready (for CI pipelines)
    #[arg(long)]
    fail_if_not_ready: bool,
    #[command(flatten)]
    connection: ConnectionFlags,
}

/// One row of the status view: the object's identity plus its computed status.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    api_version: String,
    kind: &'static str,
    metadata: ItemMeta,
    status: Summary,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct ItemMeta {
    name: String,
    namespace: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    creation_timestamp: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    generation: Option<i64>,
}

impl Item {
    fn new(object: &FluxObject) -> Item {
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

    fn sort_key(&self) -> (State, String, &'static str, String) {
        (
            self.status.state,
            self.metadata.namespace.clone(),
            self.kind,
            self.metadata.name.clone(),
        )
    }

    fn key(&self) -> ObjectKey {
        ObjectKey {
            kind: self.kind,
            namespace: self.metadata.namespace.clone(),
            name: self.metadata.name.clone(),
        }
    }

    /// kubectl's `-o name` form: `kustomization.kustomize.toolkit.fluxcd.io/apps`.
    fn resource_name(&self) -> String {
        let group = self.api_version.split('/').next().unwrap_or_default();
        format!(
            "{}.{}/{}",
            self.kind.to_lowercase(),
            group,
            self.metadata.name
        )
    }
}

pub async fn run(args: StatusArgs, ui: &Ui) -> Result<()> {
    let (kind, targets) = parse_targets(&args.targets)?;
    if args.all_namespaces && !targets.is_empty() {
        return Err(Error::InvalidUsage(
            "named objects are looked up in one namespace (-n); drop -A, or give only a kind"
                .to_string(),
        ));
    }
    let kinds = selected_kinds(&args.kinds, kind, &targets)?;
    let connection = args.connection.connect().await?;
    let apis = FluxApis::discover(&connection).await?;
    let scope = Scope::new(&connection.namespace, args.all_namespaces);

    let table = matches!(args.output, OutputFormat::Table | OutputFormat::Wide);
    // The header's two requests run while the objects are listed.
    let header_text = async {
        if table {
            Some(header(&connection, &apis).await)
        } else {
            None
        }
    };
    let (items, header_text) = tokio::join!(
        find(ui, &connection, &apis, &targets, &kinds, &scope, &args),
        header_text
    );
    let mut items = items?;
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
    items.retain(|item| {
        args.states.is_empty() || args.states.iter().any(|f| f.matches(item.status.state))
    });
    items.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));

    if let Some(header_text) = header_text {
        ui.out(&header_text)?;
    }
    if items.is_empty() && table {
        ui.line(&format!("No Flux objects found{}.", scope_words(&scope)));
    } else if args.output == OutputFormat::Json {
        ui.out_json(&output::List::new(&items))?;
    } else {
        print(
            ui,
            &render(&items, args.output, args.all_namespaces)?,
            args.output,
        )?;
    }

    if args.watch {
        let served: Vec<&'static FluxKind> = if kinds.is_empty() {
            apis.served.iter().map(|s| s.kind).collect()
        } else {
            kinds.clone()
        };
        return watch(ui, &connection, &apis, &served, &scope, &args, &items).await;
    }
    if args.fail_if_not_ready {
        return all_ready(&items);
    }
    Ok(())
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
fn all_ready(items: &[Item]) -> Result<()> {
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

/// Tables and names are for people (control characters made visible); YAML is escaped by its
/// encoder.
fn print(ui: &Ui, text: &str, format: OutputFormat) -> Result<()> {
    match format {
        OutputFormat::Json | OutputFormat::Yaml => ui.out_raw(text.as_bytes()),
        _ => ui.out(text),
    }
}

/// The named objects, or the listing of the selected kinds (with RBAC warnings on stderr).
async fn find(
    ui: &Ui,
    connection: &Connection,
    apis: &FluxApis,
    targets: &[objects::Target],
    kinds: &[&'static FluxKind],
    scope: &Scope,
    args: &StatusArgs,
) -> Result<Vec<Item>> {
    if !targets.is_empty() {
        let found = objects::get_all(connection, apis, &connection.namespace, targets).await?;
        return Ok(found.iter().map(Item::new).collect());
    }
    let listing = objects::list_map(
        connection,
        apis,
        kinds,
        scope,
        args.selector.as_deref(),
        |object| Item::new(&object),
    )
    .await?;
    for warning in &listing.warnings {
        ui.warning(warning);
    }
    Ok(listing.objects)
}

fn scope_words(scope: &Scope) -> String {
    match scope {
        Scope::Namespace(ns) => format!(" in namespace {ns}"),
        Scope::AllNamespaces => " in any namespace".to_string(),
    }
}

/// "Flux v2.9.4 in flux-system, controllers ready 4/4", or why not.
async fn header(connection: &Connection, apis: &FluxApis) -> String {
    let install = match flux::installed(connection).await {
        Ok(Some(install)) => install,
        Ok(None) if apis.served.is_empty() => return "Flux is not installed in this cluster.\n".to_string(),
        Ok(None) => return "Flux CRDs are present, but not the GitRepository CRD that carries the version.\n".to_string(),
        Err(err) => return format!("Flux version unknown: {err}\n"),
    };
    let version = install.version.as_deref().unwrap_or("(unknown version)");
    let namespace = install.namespace.as_deref().unwrap_or("flux-system");
    let controllers = match flux::controllers_ready(connection, namespace).await {
        Ok(c) if c.total == 0 => "no controller Deployments found".to_string(),
        Ok(c) => format!("controllers ready {}/{}", c.ready, c.total),
        Err(Error::Cluster(crate::cluster::Error::Forbidden { .. })) => {
            "controllers: not allowed to list Deployments".to_string()
        }
        Err(err) => format!("controllers: {err}"),
    };
    format!("Flux {version} in {namespace}, {controllers}\n")
}

fn age(since: Option<Timestamp>) -> String {
    crate::ui::duration::age(since, Timestamp::now()).unwrap_or_else(|| "-".to_string())
}

fn cut(message: &str, width: usize) -> String {
    let one_line = message.replace('\n', " ");
    if one_line.chars().count() <= width {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

fn rows(items: &[Item], wide: bool, namespaces: bool) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let mut headers = Vec::new();
    if namespaces {
        headers.push("namespace");
    }
    headers.extend([
        "name",
        "ready",
        "status",
        "revision",
        "age",
        "last reconciled",
    ]);
    if wide {
        headers.push("source");
    }
    headers.push("message");
    let rows = items
        .iter()
        .map(|item| {
            let s = &item.status;
            let mut row = Vec::new();
            if namespaces {
                row.push(item.metadata.namespace.clone());
            }
            row.push(format!("{}/{}", item.kind, item.metadata.name));
            row.push(s.ready.clone());
            row.push(s.state.to_string());
            row.push(match (&s.revision, wide) {
                (Some(r), true) => r.clone(),
                (Some(r), false) => short_revision(r),
                (None, _) => "-".to_string(),
            });
            row.push(age(item.metadata.creation_timestamp));
            row.push(age(s.last_reconciled));
            if wide {
                row.push(s.source.clone().unwrap_or_else(|| "-".to_string()));
                row.push(s.message.replace('\n', " "));
            } else {
                row.push(cut(&s.message, TABLE_MESSAGE_WIDTH));
            }
            row
        })
        .collect();
    (headers, rows)
}

fn render(items: &[Item], format: OutputFormat, namespaces: bool) -> Result<String> {
    Ok(match format {
        OutputFormat::Table | OutputFormat::Wide => {
            let (headers, rows) = rows(items, format == OutputFormat::Wide, namespaces);
            output::table(&headers, &rows)
        }
        OutputFormat::Json => output::to_json(&output::List::new(items))?,
        OutputFormat::Yaml => output::to_yaml(&output::List::new(items))?,
        OutputFormat::Name => items.iter().map(|i| i.resource_name() + "\n").collect(),
    })
}

/// Follows changes with one Kubernetes watch per kind (no polling). On a terminal the whole
/// table is redrawn; otherwise each change is printed as it comes (rows, or one JSON/YAML
/// document per change), like `kubectl get -w`.
async fn watch(
    ui: &Ui,
    connection: &Connection,
    apis: &FluxApis,
    kinds: &[&'static FluxKind],
    scope: &Scope,
    args: &StatusArgs,
    initial: &[Item],
) -> Result<()> {
    let shown = initial.iter().map(|i| {
        let shown = Shown {
            summary: i.status.clone(),
            generation: i.metadata.generation,
        };
        (i.key(), shown)
    });
    let states = args.states.clone();
    let keep = move |state| states.is_empty() || states.iter().any(|f| f.matches(state));
    let tracker = Tracker::new(shown, keep);
    let updates = changes(
        connection,
        apis,
        kinds,
        scope,
        args.selector.as_deref(),
        tracker,
    )?;
    let mut updates = std::pin::pin!(updates);
    let redraw =
        ui.stdout_is_terminal() && matches!(args.output, OutputFormat::Table | OutputFormat::Wide);
    // What the redrawn table shows.
    let mut current: HashMap<ObjectKey, Item> =
        initial.iter().map(|i| (i.key(), i.clone())).collect();
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let update = tokio::select! {
            _ = &mut interrupted => return Ok(()),
            next = updates.next() => match next {
                Some(update) => update?,
                None => return Ok(()),
            },
        };
        let change = match update {
            Update::Changed(change) => *change,
            Update::Retrying { kind, error } => {
                tracing::warn!("watch of {} failed, retrying: {error}", kind.plural);
                continue;
            }
            Update::NotWatched(warning) => {
                ui.warning(&warning);
                continue;
            }
        };
        let item = Item::new(&change.object);
        if change.deleted {
            current.remove(&item.key());
        } else {
            current.insert(item.key(), item.clone());
        }
        if redraw {
            let mut all: Vec<Item> = current.values().cloned().collect();
            all.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
            // Clear the screen and home the cursor: this plugin's own codes, not the cluster's.
            ui.out_raw(b"\x1b[2J\x1b[H")?;
            ui.out(&header(connection, apis).await)?;
            ui.out(&render(&all, args.output, args.all_namespaces)?)?;
        } else {
            print(ui, &change_text(&item, change.deleted, args)?, args.output)?;
        }
    }
}

/// One change as `kubectl get -w` prints it: a row (marked when deleted), or a document.
fn change_text(item: &Item, deleted: bool, args: &StatusArgs) -> Result<String> {
    Ok(match args.output {
        OutputFormat::Table | OutputFormat::Wide => {
            let wide = args.output == OutputFormat::Wide;
            let (_, rows) = rows(std::slice::from_ref(item), wide, args.all_namespaces);
            let mut line = rows.concat().join("   ");
            if deleted {
                line.push_str("   (deleted)");
            }
            line + "\n"
        }
        OutputFormat::Json => output::to_json(item)?,
        OutputFormat::Yaml => format!("---\n{}", output::to_yaml(item)?),
        OutputFormat::Name => item.resource_name() + "\n",
    })
}
