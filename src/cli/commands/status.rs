//! `kubectl gitops status`: one table of every Flux object, failing ones first; in fleet mode
//! one table (or one summary line per cluster) across many clusters.

use std::collections::HashMap;

use futures::StreamExt;
use jiff::Timestamp;
use serde::Serialize;

use crate::cluster::connection::{Connection, ConnectionFlags};
use crate::error::{Error, Result};
use crate::fleet::status::{ClusterSummary, FleetItem, Unchecked, exit_status, merged_items};
use crate::fleet::{self, Fleet, FleetFlags, Reached};
use crate::flux::FluxKind;
use crate::flux::discovery::FluxApis;
use crate::flux::objects::Scope;
use crate::flux::overview::{
    Item, Query, Request, Snapshot, StatusFilter, all_ready, install, keeps, snapshot,
};
use crate::flux::status::{State, short_revision};
use crate::flux::watch::{ObjectKey, Shown, Tracker, Update, changes};
use crate::ui::Ui;
use crate::ui::output::{self, OutputFormat};

/// Messages longer than this are cut in the table (`-o wide` shows them whole).
const TABLE_MESSAGE_WIDTH: usize = 72;

/// Show what every Flux object is doing: ready, failing, suspended or reconciling, at which
/// revision, since when, and why.
///
/// Arguments: nothing (every Flux object), a kind (ks, hr, gitrepo, ...), `<kind> <name>...`
/// or `<kind>/<name>...`. Exit status: 0 shown, 1 error (in fleet mode: a cluster could not be
/// checked), 3 with --fail-if-not-ready when some object is not Ready.
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
    /// Fleet mode: one line per cluster (Flux version, controllers, objects ready, failing and
    /// suspended, the root Kustomization's revision) instead of every object
    #[arg(long, conflicts_with = "watch")]
    summary: bool,
    #[command(flatten)]
    connection: ConnectionFlags,
    #[command(flatten)]
    fleet: FleetFlags,
}

/// The command line's query, checked before any cluster is contacted.
fn query(args: &StatusArgs) -> Result<Query> {
    let table = matches!(args.output, OutputFormat::Table | OutputFormat::Wide);
    // The fleet table has no per-cluster header: only its summary reads Flux's install.
    let header = table && !args.fleet.is_fleet();
    Query::new(Request {
        targets: &args.targets,
        kinds: &args.kinds,
        all_namespaces: args.all_namespaces,
        selector: args.selector.clone(),
        states: args.states.clone(),
        install: header || args.summary,
        root: args.summary,
    })
}

pub async fn run(args: StatusArgs, ui: &Ui) -> Result<()> {
    let query = query(&args)?;
    if let Some(fleet) = Fleet::from_flags(&args.fleet, &args.connection)? {
        return run_fleet(args, query, fleet, ui).await;
    }
    if args.summary {
        return Err(Error::InvalidUsage(
            "--summary prints one line per cluster: use it with --contexts, --all-contexts or --fleet".to_string(),
        ));
    }
    let connection = args.connection.connect().await?;
    let Snapshot {
        connection,
        apis,
        scope,
        items,
        install,
        warnings,
        ..
    } = snapshot(connection, &query).await?;
    for warning in &warnings {
        ui.warning(warning);
    }

    let table = matches!(args.output, OutputFormat::Table | OutputFormat::Wide);
    if let Some(install) = &install {
        ui.out(&install.header())?;
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
        let served: Vec<&'static FluxKind> = if query.kinds.is_empty() {
            apis.served.iter().map(|s| s.kind).collect()
        } else {
            query.kinds.clone()
        };
        return watch(ui, &connection, &apis, &served, &scope, &args, &items).await;
    }
    if args.fail_if_not_ready {
        return all_ready(&items);
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
fn scope_words(scope: &Scope) -> String {
    match scope {
        Scope::Namespace(ns) => format!(" in namespace {ns}"),
        Scope::AllNamespaces => " in any namespace".to_string(),
    }
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
    rows_of(
        items.iter().map(|item| (None, item)),
        false,
        wide,
        namespaces,
    )
}

/// The table's rows; in fleet mode (`clusters`) each starts with its cluster.
fn rows_of<'a>(
    items: impl Iterator<Item = (Option<&'a str>, &'a Item)>,
    clusters: bool,
    wide: bool,
    namespaces: bool,
) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let mut headers = Vec::new();
    if clusters {
        headers.push("cluster");
    }
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
        .map(|(cluster, item)| {
            let s = &item.status;
            let mut row = Vec::new();
            if clusters {
                row.push(cluster.unwrap_or_default().to_string());
            }
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
    let keep = move |state| keeps(&states, state);
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
    // Ctrl-C ends the watch through crate::interrupt (exit 130, as any command).
    loop {
        let update = match updates.next().await {
            Some(update) => update?,
            None => return Ok(()),
        };
        let change = match update {
            Update::Changed(change) => *change,
            Update::Retrying { kind, error } => {
                // Retried under the wait policy (an API server restart is no error); a watch
                // that gives up ends the view with its error.
                tracing::debug!("watch of {} failed, retrying: {error}", kind.plural);
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
            ui.out(&install(connection, apis).await.header())?;
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

// Fleet mode: the same snapshot from every cluster, shown as one table or one line each.

/// kubectl's `List` with the clusters that could not be checked beside the items.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FleetList<'a, T: Serialize> {
    api_version: &'static str,
    kind: &'static str,
    items: &'a [T],
    unreachable: &'a [Unchecked],
}

impl<'a, T: Serialize> FleetList<'a, T> {
    fn new(items: &'a [T], unreachable: &'a [Unchecked]) -> Self {
        FleetList {
            api_version: "v1",
            kind: "List",
            items,
            unreachable,
        }
    }
}

/// One `--summary` row.
fn summary_row(summary: &ClusterSummary) -> Vec<String> {
    let or_dash = |value: Option<String>| value.unwrap_or_else(|| "-".to_string());
    let root = match (&summary.root_revision, summary.root_state) {
        (Some(revision), Some(State::Ready) | None) => short_revision(revision),
        (Some(revision), Some(state)) => format!("{} ({state})", short_revision(revision)),
        (None, Some(state)) => format!("- ({state})"),
        (None, None) => "-".to_string(),
    };
    vec![
        summary.cluster.clone(),
        or_dash(summary.flux_version.clone()),
        or_dash(
            summary
                .controllers
                .as_ref()
                .map(|c| format!("{}/{}", c.ready, c.total)),
        ),
        format!("{}/{}", summary.ready, summary.objects),
        summary.failing.to_string(),
        summary.suspended.to_string(),
        root,
        summary.note.clone().unwrap_or_default(),
    ]
}

const SUMMARY_HEADERS: [&str; 8] = [
    "cluster",
    "flux",
    "controllers",
    "ready",
    "failing",
    "suspended",
    "root revision",
    "note",
];

async fn run_fleet(args: StatusArgs, query: Query, fleet: Fleet, ui: &Ui) -> Result<()> {
    let shared = std::sync::Arc::new(query.clone());
    let mut results = fleet
        .run(move |_, connection| {
            let query = shared.clone();
            async move { snapshot(connection, &query).await }
        })
        .await;
    for reached in &results {
        match &reached.result {
            Ok(snapshot) => {
                for warning in &snapshot.warnings {
                    ui.warning(&format!("{}: {warning}", reached.member.name));
                }
            }
            Err(err) => ui.line(&format!("cluster {}: {err}", reached.member.name)),
        }
    }
    let headline = fleet::headline(
        results
            .iter()
            .map(|r| (r.member.name.as_str(), r.result.as_ref().err())),
    ) + "\n";
    let unchecked = fleet::status::unchecked(&results);
    let failed = fleet::clusters_failed(&results);

    if args.summary {
        let summaries: Vec<ClusterSummary> = results
            .iter()
            .filter_map(|r| {
                r.result
                    .as_ref()
                    .ok()
                    .map(|s| ClusterSummary::new(&r.member.name, s))
            })
            .collect();
        match args.output {
            OutputFormat::Json => ui.out_json(&FleetList::new(&summaries, &unchecked))?,
            OutputFormat::Yaml => {
                ui.out_raw(output::to_yaml(&FleetList::new(&summaries, &unchecked))?.as_bytes())?
            }
            OutputFormat::Name => {
                for summary in &summaries {
                    ui.out(&format!("{}\n", summary.cluster))?;
                }
            }
            OutputFormat::Table | OutputFormat::Wide => {
                let rows: Vec<Vec<String>> = results
                    .iter()
                    .map(|r| match &r.result {
                        Ok(snapshot) => summary_row(&ClusterSummary::new(&r.member.name, snapshot)),
                        Err(err) => {
                            let mut row = vec![r.member.name.clone()];
                            row.extend(std::iter::repeat_n("-".to_string(), 6));
                            let what = if fleet::is_unreachable(err) {
                                "unreachable"
                            } else {
                                "not checked"
                            };
                            row.push(format!("{what}: {}", fleet::brief(err)));
                            row
                        }
                    })
                    .collect();
                ui.out(&(headline + &output::table(&SUMMARY_HEADERS, &rows)))?;
            }
        }
        let items: Vec<Item> = results
            .iter_mut()
            .filter_map(|r| r.result.as_mut().ok())
            .flat_map(|s| std::mem::take(&mut s.items))
            .collect();
        return exit_status(failed, args.fail_if_not_ready, &items);
    }

    let items = merged_items(&mut results);
    let table = matches!(args.output, OutputFormat::Table | OutputFormat::Wide);
    if table {
        ui.out(&headline)?;
    }
    if items.is_empty() && table {
        ui.line(&format!(
            "No Flux objects found{}.",
            fleet_scope_words(&args)
        ));
    } else {
        match args.output {
            OutputFormat::Json => ui.out_json(&FleetList::new(&items, &unchecked))?,
            OutputFormat::Yaml => {
                ui.out_raw(output::to_yaml(&FleetList::new(&items, &unchecked))?.as_bytes())?
            }
            OutputFormat::Name => {
                let names: String = items
                    .iter()
                    .map(|i| format!("{} {}\n", i.cluster, i.item.resource_name()))
                    .collect();
                ui.out(&names)?;
            }
            OutputFormat::Table | OutputFormat::Wide => {
                ui.out(&fleet_table(&items, args.output, args.all_namespaces))?
            }
        }
    }
    if args.watch {
        if let Some(err) = &failed {
            ui.warning(&format!("{err}; watching the others"));
        }
        return watch_fleet(ui, &results, &query, &args, items).await;
    }
    let plain: Vec<Item> = items.into_iter().map(|i| i.item).collect();
    exit_status(failed, args.fail_if_not_ready, &plain)
}

fn fleet_table(items: &[FleetItem], format: OutputFormat, namespaces: bool) -> String {
    let (headers, rows) = rows_of(
        items.iter().map(|i| (Some(i.cluster.as_str()), &i.item)),
        true,
        format == OutputFormat::Wide,
        namespaces,
    );
    output::table(&headers, &rows)
}

/// Where the fleet looked, for "No Flux objects found".
fn fleet_scope_words(args: &StatusArgs) -> String {
    match (&args.connection.namespace, args.all_namespaces) {
        (_, true) => " in any namespace of any cluster".to_string(),
        (Some(ns), false) => format!(" in namespace {ns} of any cluster"),
        (None, false) => " in any cluster".to_string(),
    }
}

/// `-w` in fleet mode: one watch per kind per reached cluster, merged; rows carry their
/// cluster, and a terminal redraws the whole fleet table.
async fn watch_fleet(
    ui: &Ui,
    results: &[Reached<Snapshot>],
    query: &Query,
    args: &StatusArgs,
    initial: Vec<FleetItem>,
) -> Result<()> {
    let mut streams = Vec::new();
    for reached in results {
        let Ok(snapshot) = &reached.result else {
            continue;
        };
        let kinds: Vec<&'static FluxKind> = if query.kinds.is_empty() {
            snapshot.apis.served.iter().map(|s| s.kind).collect()
        } else {
            query.kinds.clone()
        };
        let shown = initial
            .iter()
            .filter(|i| i.cluster == reached.member.name)
            .map(|i| {
                let shown = Shown {
                    summary: i.item.status.clone(),
                    generation: i.item.metadata.generation,
                };
                (i.item.key(), shown)
            });
        let states = args.states.clone();
        let keep = move |state| keeps(&states, state);
        let updates = changes(
            &snapshot.connection,
            &snapshot.apis,
            &kinds,
            &snapshot.scope,
            args.selector.as_deref(),
            Tracker::new(shown, keep),
        )?;
        let cluster = reached.member.name.clone();
        streams.push(updates.map(move |update| (cluster.clone(), update)).boxed());
    }
    let mut updates = futures::stream::select_all(streams);
    let redraw =
        ui.stdout_is_terminal() && matches!(args.output, OutputFormat::Table | OutputFormat::Wide);
    let mut current: HashMap<(String, ObjectKey), FleetItem> = initial
        .into_iter()
        .map(|i| ((i.cluster.clone(), i.item.key()), i))
        .collect();
    // Ctrl-C ends the watch through crate::interrupt (exit 130, as any command).
    loop {
        let (cluster, update) = match updates.next().await {
            Some(next) => next,
            None => return Ok(()),
        };
        let change = match update {
            Ok(Update::Changed(change)) => *change,
            Ok(Update::Retrying { kind, error }) => {
                tracing::debug!(
                    "{cluster}: watch of {} failed, retrying: {error}",
                    kind.plural
                );
                continue;
            }
            Ok(Update::NotWatched(warning)) => {
                ui.warning(&format!("{cluster}: {warning}"));
                continue;
            }
            // One cluster's watch giving up does not stop the others.
            Err(err) => {
                ui.warning(&format!("{cluster}: {err}; no longer watched"));
                continue;
            }
        };
        let item = FleetItem {
            cluster: cluster.clone(),
            item: Item::new(&change.object),
        };
        let key = (cluster, item.item.key());
        if change.deleted {
            current.remove(&key);
        } else {
            current.insert(key, item.clone());
        }
        if redraw {
            let mut all: Vec<FleetItem> = current.values().cloned().collect();
            all.sort_by(|a, b| {
                (a.item.status.state, &a.cluster, a.item.sort_key()).cmp(&(
                    b.item.status.state,
                    &b.cluster,
                    b.item.sort_key(),
                ))
            });
            ui.out_raw(b"\x1b[2J\x1b[H")?;
            ui.out(&fleet_table(&all, args.output, args.all_namespaces))?;
        } else {
            let text = match args.output {
                OutputFormat::Table | OutputFormat::Wide => {
                    let (_, rows) = rows_of(
                        std::iter::once((Some(item.cluster.as_str()), &item.item)),
                        true,
                        args.output == OutputFormat::Wide,
                        args.all_namespaces,
                    );
                    let mut line = rows.concat().join("   ");
                    if change.deleted {
                        line.push_str("   (deleted)");
                    }
                    line + "\n"
                }
                OutputFormat::Json => output::to_json(&item)?,
                OutputFormat::Yaml => format!("---\n{}", output::to_yaml(&item)?),
                OutputFormat::Name => format!("{} {}\n", item.cluster, item.item.resource_name()),
            };
            print(ui, &text, args.output)?;
        }
    }
}
