//! `kubectl gitops events`: what the Flux controllers said about their objects, one list
//! sorted by when each thing was last seen.

use std::collections::{BTreeSet, HashMap, HashSet};

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Event;
use kube::api::Api;

use crate::cli::args::json_or_yaml;
use crate::cluster::connection::{Connection, ConnectionFlags};
use crate::cluster::wait::{Followed, Observed, Selector, Watched, follow};
use crate::error::{Error, Result};
use crate::flux::discovery::FluxApis;
use crate::flux::events::{self, EventType, Filter, Regarding, Seen};
use crate::flux::objects::{self, Scope, parse_targets};
use crate::ui::Ui;
use crate::ui::output::{self, OutputFormat};

/// Show the Events about Flux objects, oldest first: all of them in the namespace, or for
/// named objects the Events about them and their sources (a Kustomization's source; a
/// HelmRelease's chart source and HelmChart).
///
/// Arguments: nothing (every Flux object), a kind (ks, hr, ...), `<kind> <name>...` or
/// `<kind>/<name>...`. Repeated Events are shown once, with how often and since when.
#[derive(clap::Args)]
pub struct EventsArgs {
    /// A kind, `<kind> <name>...` or `<kind>/<name>...`
    #[arg(value_name = "OBJECT")]
    targets: Vec<String>,
    /// Events in all namespaces
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// Only Events about Flux objects with these labels (e.g. app=web)
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    selector: Option<String>,
    /// Only Events of these types (repeatable, or comma-separated)
    #[arg(
        long = "types",
        value_name = "TYPE",
        value_enum,
        value_delimiter = ',',
        ignore_case = true
    )]
    types: Vec<EventType>,
    /// After listing, keep watching and show every new Event until interrupted
    #[arg(short = 'w', long)]
    watch: bool,
    /// Print the Events as JSON or YAML (default: a table)
    #[arg(short = 'o', long, value_name = "FORMAT", value_parser = json_or_yaml())]
    output: Option<OutputFormat>,
    #[command(flatten)]
    connection: ConnectionFlags,
}

pub async fn run(args: EventsArgs, ui: &Ui) -> Result<()> {
    let (kind, targets) = parse_targets(&args.targets)?;
    if !targets.is_empty() && (args.all_namespaces || args.selector.is_some()) {
        return Err(Error::InvalidUsage(
            "named objects are looked up in one namespace (-n); drop -A and -l, or give only a kind"
                .to_string(),
        ));
    }
    let connection = args.connection.connect().await?;
    let scope = Scope::new(&connection.namespace, args.all_namespaces);

    let (filter, namespaces) = if !targets.is_empty() {
        let apis = FluxApis::discover(&connection).await?;
        let found = objects::get_all(&connection, &apis, &connection.namespace, &targets).await?;
        let related: HashSet<Regarding> = found.iter().flat_map(events::related).collect();
        let namespaces: BTreeSet<String> = related.iter().map(|r| r.namespace.clone()).collect();
        (
            Filter::Objects(related),
            namespaces.into_iter().map(Some).collect(),
        )
    } else if kind.is_some() || args.selector.is_some() {
        let apis = FluxApis::discover(&connection).await?;
        let listing = objects::list(
            &connection,
            &apis,
            &kind.into_iter().collect::<Vec<_>>(),
            &scope,
            args.selector.as_deref(),
        )
        .await?;
        for warning in &listing.warnings {
            ui.warning(warning);
        }
        let chosen: HashSet<Regarding> = listing
            .objects
            .iter()
            .map(|o| Regarding {
                kind: o.kind.kind.to_string(),
                namespace: o.namespace().to_string(),
                name: o.name().to_string(),
            })
            .collect();
        (Filter::Objects(chosen), vec![scope_namespace(&scope)])
    } else {
        (Filter::AnyFluxObject, vec![scope_namespace(&scope)])
    };

    let listed = futures::future::join_all(
        namespaces
            .iter()
            .map(|ns| events::list(&connection, ns.as_deref())),
    )
    .await;
    let mut all = Vec::new();
    for events in listed {
        all.extend(events?);
    }
    let rows = events::merge(&all, &filter, &args.types);

    let with_namespace = args.all_namespaces
        || rows
            .iter()
            .any(|r| r.object.namespace != connection.namespace);
    let now = Timestamp::now();
    let widths = match args.output {
        Some(format) => {
            ui.report(Some(format), &output::List::new(&rows), |_| String::new())?;
            Vec::new()
        }
        None if rows.is_empty() => {
            ui.line(&nothing_found(&scope, &filter));
            Vec::new()
        }
        None => {
            let cells: Vec<Vec<String>> =
                rows.iter().map(|r| cells(r, with_namespace, now)).collect();
            let text = output::table(&headers(with_namespace), &cells);
            ui.out(&text)?;
            column_widths(&text)
        }
    };

    if args.watch {
        let shown: HashMap<String, (i64, Option<Timestamp>)> = all
            .iter()
            .filter_map(|e| Some((e.metadata.uid.clone()?, shown_key(&Seen::of(e)))))
            .collect();
        return watch(
            ui,
            &connection,
            &namespaces,
            &filter,
            &args,
            with_namespace,
            widths,
            shown,
        )
        .await;
    }
    Ok(())
}

fn scope_namespace(scope: &Scope) -> Option<String> {
    match scope {
        Scope::Namespace(ns) => Some(ns.clone()),
        Scope::AllNamespaces => None,
    }
}

fn nothing_found(scope: &Scope, filter: &Filter) -> String {
    match (scope, filter) {
        (_, Filter::Objects(objects)) if objects.is_empty() => {
            "No Flux objects found, so no events.".to_string()
        }
        (Scope::Namespace(ns), Filter::AnyFluxObject) => {
            format!("No events about Flux objects found in namespace {ns}.")
        }
        (Scope::AllNamespaces, Filter::AnyFluxObject) => {
            "No events about Flux objects found.".to_string()
        }
        (_, Filter::Objects(_)) => "No events found about these objects.".to_string(),
    }
}

fn headers(with_namespace: bool) -> Vec<&'static str> {
    let mut headers = vec!["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"];
    if with_namespace {
        headers.insert(0, "NAMESPACE");
    }
    headers
}

/// One table row; LAST SEEN as kubectl shows it: `5m`, or `5m (x3 over 2h)` for repeats.
fn cells(seen: &Seen, with_namespace: bool, now: Timestamp) -> Vec<String> {
    let mut last = age(seen.last_seen, now);
    if seen.count > 1 {
        last = format!(
            "{last} (x{} over {})",
            seen.count,
            age(seen.first_seen, now)
        );
    }
    let mut cells = vec![
        last,
        seen.type_.clone(),
        seen.reason.clone(),
        seen.object.display(),
        seen.message.replace('\n', " "),
    ];
    if with_namespace {
        cells.insert(0, seen.object.namespace.clone());
    }
    cells
}

fn age(at: Option<Timestamp>, now: Timestamp) -> String {
    crate::ui::duration::age(at, now).unwrap_or_else(|| "<unknown>".to_string())
}

/// The width of each column of a table `output::table` wrote, from its header line, so that
/// rows printed while watching line up under it.
fn column_widths(table: &str) -> Vec<usize> {
    let header = table.lines().next().unwrap_or_default();
    let mut widths = Vec::new();
    let mut start = 0;
    let mut previous_space = false;
    for (at, c) in header.char_indices() {
        // Columns are separated by at least three spaces; a header word holds at most one.
        if c != ' ' && previous_space && header[..at].ends_with("   ") {
            widths.push(at - start);
            start = at;
        }
        previous_space = c == ' ';
    }
    widths
}

/// A row printed while watching: padded to the listing's columns where it fits.
fn watch_line(cells: &[String], widths: &[usize]) -> String {
    let mut line = String::new();
    for (index, cell) in cells.iter().enumerate() {
        line.push_str(cell);
        if index + 1 < cells.len() {
            let width = widths.get(index).copied().unwrap_or(0);
            let used = cell.chars().count();
            // At least two spaces between cells; three after one too wide for its column.
            let padding = if width >= used + 2 { width - used } else { 3 };
            line.push_str(&" ".repeat(padding));
        }
    }
    line.push('\n');
    line
}

/// What tells a new sighting of an Event from the one already shown.
fn shown_key(seen: &Seen) -> (i64, Option<Timestamp>) {
    (seen.count, seen.last_seen)
}

/// Follows the Events of `namespaces` and shows each new or repeated one as it arrives.
#[allow(clippy::too_many_arguments)]
async fn watch(
    ui: &Ui,
    connection: &Connection,
    namespaces: &[Option<String>],
    filter: &Filter,
    args: &EventsArgs,
    with_namespace: bool,
    mut widths: Vec<usize>,
    mut shown: HashMap<String, (i64, Option<Timestamp>)>,
) -> Result<()> {
    let streams = namespaces.iter().map(|ns| {
        let api: Api<Event> = match ns {
            Some(ns) => Api::namespaced(connection.client.clone(), ns),
            None => Api::all(connection.client.clone()),
        };
        follow(
            connection,
            Watched {
                api,
                resource: "events".to_string(),
                selector: Selector::All,
            },
        )
        .boxed()
    });
    let mut followed = futures::stream::select_all(streams);
    let mut header_printed = !widths.is_empty();
    while let Some(item) = followed.next().await {
        let event = match item? {
            Followed::Observed(Observed::Applied(event)) => event,
            Followed::Observed(Observed::Deleted(_)) => continue,
            Followed::Retrying(err) => {
                ui.warning(&format!("{err}; retrying"));
                continue;
            }
        };
        let seen = Seen::of(&event);
        if !filter.admits(&seen) || !events::admits_type(&args.types, &seen.type_) {
            continue;
        }
        if let Some(uid) = event.metadata.uid.clone() {
            let key = shown_key(&seen);
            if shown.get(&uid) == Some(&key) {
                continue;
            }
            shown.insert(uid, key);
        }
        match args.output {
            Some(format) => ui.report(Some(format), &seen, |_| String::new())?,
            None => {
                let cells = cells(&seen, with_namespace, Timestamp::now());
                if !header_printed {
                    let text =
                        output::table(&headers(with_namespace), std::slice::from_ref(&cells));
                    widths = column_widths(&text);
                    let header = text.lines().next().unwrap_or_default();
                    ui.out(&format!("{header}\n"))?;
                    header_printed = true;
                }
                ui.out(&watch_line(&cells, &widths))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watched_rows_line_up_with_the_table() {
        let text = output::table(
            &["last seen", "type", "message"],
            &[vec!["5m".into(), "Normal".into(), "ok".into()]],
        );
        let widths = column_widths(&text);
        assert_eq!(widths, [12, 9]);
        let line = watch_line(&["1s".into(), "Warning".into(), "bad".into()], &widths);
        assert_eq!(line, "1s          Warning  bad\n");
        assert_eq!(text.lines().next().unwrap(), "LAST SEEN   TYPE     MESSAGE");
    }
}
