//! Asking Flux to reconcile now, through its annotations, and waiting (watching, not polling)
//! for the controller's answer.
//!
//! The controller copies `reconcile.fluxcd.io/requestedAt` to `status.lastHandledReconcileAt`
//! when it has handled the request; the object is done when that equals our token, the Ready
//! condition has observed the current generation and is True. Ready=False or Stalled=True after
//! the request fail at once, with the controller's reason and message.
//!
//! See docs/reconcile.md for the protocol and when a request counts as done.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::future::join_all;
use jiff::Timestamp;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde::Serialize;

use crate::cluster::Error as ClusterError;
use crate::cluster::action::{Action, qualified_plural};
use crate::cluster::connection::Connection;
use crate::cluster::explain::{Responders, Tell, explained};
use crate::cluster::wait::{Observed, Selector, Waited, Watched, watch_until};
use crate::error::Result;
use crate::flux::Error as FluxError;
use crate::flux::FluxKind;
use crate::flux::dependencies::{Key, depends_on, reconcile_order};
use crate::flux::discovery::FluxApis;
use crate::flux::discovery::ServedKind;
use crate::flux::objects::{
    FluxObject, Selection, SelectionArgs, discover_and_select, get, kind_named,
};
use crate::flux::refs::{SourceReference, reconciled_source, source_ref};
use crate::flux::status::{Condition, condition, is_suspended, revision};

pub const REQUESTED_AT: &str = "reconcile.fluxcd.io/requestedAt";
pub const FORCE_AT: &str = "reconcile.fluxcd.io/forceAt";
pub const RESET_AT: &str = "reconcile.fluxcd.io/resetAt";

/// A fresh request token: the current time in RFC 3339 with nanoseconds, as flux writes it.
pub fn new_token() -> String {
    Timestamp::now().to_string()
}

/// How one reconcile request ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "result", rename_all = "camelCase")]
pub enum Outcome {
    /// Handled and Ready=True at the current generation.
    #[serde(rename_all = "camelCase")]
    Succeeded {
        revision: Option<String>,
        message: String,
    },
    /// Handled with Ready=False, or Stalled=True after the request.
    #[serde(rename_all = "camelCase")]
    Failed {
        condition: String,
        reason: String,
        message: String,
    },
    /// Not done within the timeout; the last Ready condition seen, if any, and the controllers
    /// that could not answer when the time was up (see [`explained_batch`]).
    #[serde(rename_all = "camelCase")]
    TimedOut {
        timeout_seconds: u64,
        last_ready_status: Option<String>,
        last_reason: Option<String>,
        last_message: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        likely_cause: Option<String>,
    },
    /// `--no-wait`: the request was made, nothing more.
    Requested,
    /// Not requested, e.g. a suspended object met through `--all` or `-l`.
    #[serde(rename_all = "camelCase")]
    Skipped { reason: String },
}

impl Outcome {
    /// Why an unsuccessful outcome was one, for the message of what depended on it.
    pub fn failure_detail(&self) -> String {
        match self {
            Outcome::Failed {
                reason, message, ..
            } => format!("{reason}: {message}"),
            Outcome::TimedOut {
                timeout_seconds, ..
            } => format!("not reconciled within {timeout_seconds}s"),
            _ => "not reconciled".to_string(),
        }
    }

    pub fn is_success(&self) -> bool {
        matches!(
            self,
            Outcome::Succeeded { .. } | Outcome::Requested | Outcome::Skipped { .. }
        )
    }
}

fn api(connection: &Connection, served: &ServedKind, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(connection.client.clone(), namespace, &served.resource)
}

/// Merge-patches `patch` onto the object, retrying when the server reports a conflict.
pub async fn merge_patch(
    connection: &Connection,
    served: &ServedKind,
    namespace: &str,
    name: &str,
    patch: &serde_json::Value,
) -> Result<DynamicObject> {
    let api = api(connection, served, namespace);
    let action = Action::new("patch", &qualified_plural(&served.resource))
        .named(name)
        .in_namespace(namespace);
    let mut attempt = 0;
    loop {
        attempt += 1;
        match connection
            .call(
                action.clone(),
                api.patch(name, &PatchParams::default(), &Patch::Merge(patch)),
            )
            .await
        {
            Err(ClusterError::Api { code: 409, .. }) if attempt < 5 => {
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
            }
            other => {
                let patched = other?;
                crate::interrupt::changed(format!(
                    "patched {} {namespace}/{name}",
                    served.kind.kind
                ));
                return Ok(patched);
            }
        }
    }
}

/// The merge patch that requests a reconcile: `reconcile.fluxcd.io/requestedAt` (and the extra
/// annotations, e.g. forceAt) set to `token`, touching nothing but metadata.annotations.
pub fn request_patch(token: &str, extra_annotations: &[&str]) -> serde_json::Value {
    let mut annotations = serde_json::Map::new();
    for key in std::iter::once(&REQUESTED_AT).chain(extra_annotations) {
        annotations.insert(
            key.to_string(),
            serde_json::Value::String(token.to_string()),
        );
    }
    serde_json::json!({"metadata": {"annotations": annotations}})
}

/// Applies `patch`, which must carry `token` in requestedAt, then waits for the controller
/// (unless `options.wait` is off) and reports. Shared by reconcile and resume.
pub async fn request_and_wait(
    connection: &Connection,
    served: &ServedKind,
    object: &FluxObject,
    patch: &serde_json::Value,
    token: &str,
    options: &Options,
    progress: Progress<'_>,
) -> Result<Report> {
    let started = std::time::Instant::now();
    let since = Timestamp::now();
    merge_patch(connection, served, object.namespace(), object.name(), patch).await?;
    let outcome = if options.wait && object.kind.reconcilable {
        progress(&format!(
            "◎ waiting for {} to reconcile",
            object.display_name()
        ));
        wait(connection, object, served, token, since, options.timeout).await?
    } else {
        Outcome::Requested
    };
    Ok(Report::new(
        object,
        outcome,
        started.elapsed().as_secs_f64(),
    ))
}

/// What the object's status says about the request `token` made at `since`, or `None` while
/// the controller is not done with it.
pub fn judge(
    object: &DynamicObject,
    kind: &FluxKind,
    token: &str,
    since: Timestamp,
) -> Option<Outcome> {
    let status = &object.data["status"];
    let handled = status["lastHandledReconcileAt"].as_str() == Some(token);
    let ready = condition(object, "Ready");
    let stalled = condition(object, "Stalled").filter(|c| c.status == "True");
    let failed = |type_: &str, c: &Condition| Outcome::Failed {
        condition: type_.to_string(),
        reason: c.reason.clone(),
        message: c.message.clone(),
    };
    if let Some(stalled) = &stalled
        && (handled || stalled.last_transition_time.is_some_and(|t| t >= since))
    {
        return Some(failed("Stalled", stalled));
    }
    if !handled {
        return None;
    }
    let ready = ready?;
    if ready.status == "False" {
        return Some(failed("Ready", &ready));
    }
    let observed = ready
        .observed_generation
        .or_else(|| status["observedGeneration"].as_i64());
    if ready.status == "True" && observed == object.metadata.generation {
        return Some(Outcome::Succeeded {
            revision: revision(kind, object),
            message: ready.message,
        });
    }
    None
}

/// Watches the object until [`judge`] decides, it is deleted, or `timeout` passes.
pub async fn wait(
    connection: &Connection,
    target: &FluxObject,
    served: &ServedKind,
    token: &str,
    since: Timestamp,
    timeout: Duration,
) -> Result<Outcome> {
    let watched = Watched {
        api: api(connection, served, target.namespace()),
        resource: qualified_plural(&served.resource),
        selector: Selector::Name(target.name().to_string()),
    };
    let verdict = |observed: &Observed<DynamicObject>| match observed {
        Observed::Applied(object) => judge(object, target.kind, token, since).map(Ok),
        Observed::Deleted(_) => Some(Err(FluxError::DeletedWhileWaiting {
            kind: target.kind.kind,
            name: target.name().to_string(),
            namespace: target.namespace().to_string(),
        }
        .into())),
    };
    match watch_until(connection, watched, verdict, Instant::now() + timeout).await? {
        Waited::Decided(outcome) => outcome,
        Waited::TimedOut { last_seen } => {
            let last_ready = last_seen.and_then(|object| condition(&object, "Ready"));
            Ok(Outcome::TimedOut {
                timeout_seconds: timeout.as_secs(),
                last_ready_status: last_ready.as_ref().map(|c| c.status.clone()),
                last_reason: last_ready.as_ref().map(|c| c.reason.clone()),
                last_message: last_ready.map(|c| c.message),
                likely_cause: None,
            })
        }
    }
}

/// What `reconcile` (and `resume`) should do besides the request itself.
#[derive(Debug, Clone)]
pub struct Options {
    /// Reconcile the object's source first (Kustomization: sourceRef; HelmRelease: its chart).
    pub with_source: bool,
    /// HelmRelease: also set forceAt (a one-off forced upgrade).
    pub force: bool,
    /// HelmRelease: also set resetAt (reset the failure counters).
    pub reset: bool,
    /// Reconcile the `dependsOn` chain first, in order (see [`reconcile_with_dependencies`]).
    pub with_dependencies: bool,
    pub wait: bool,
    pub timeout: Duration,
}

impl Options {
    /// Whether these options can apply to `kind`, checked before any request (for named
    /// objects before the cluster is contacted): only kinds with a reconcile loop, and
    /// `--force`/`--reset` only where the controller acts on them. `what` names the object(s).
    pub fn check_kind(&self, kind: &FluxKind, what: &str) -> Result<()> {
        if !kind.reconcilable {
            return Err(FluxError::NotReconcilable { kind: kind.kind }.into());
        }
        if (self.force || self.reset) && !kind.force_and_reset {
            return Err(FluxError::ForceNotApplicable {
                kind: kind.kind,
                name: what.to_string(),
            }
            .into());
        }
        Ok(())
    }
}

/// What happened to one object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub kind: &'static str,
    pub name: String,
    pub namespace: String,
    #[serde(flatten)]
    pub outcome: Outcome,
    pub elapsed_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Box<Report>>,
    /// With `--with-dependencies`: the `dependsOn` chain, reconciled first, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<Report>,
}

impl Report {
    /// What happened to `object`, with no source or dependencies reconciled before it.
    pub fn new(object: &FluxObject, outcome: Outcome, elapsed_seconds: f64) -> Report {
        Report {
            kind: object.kind.kind,
            name: object.name().to_string(),
            namespace: object.namespace().to_string(),
            outcome,
            elapsed_seconds,
            source: None,
            dependencies: Vec::new(),
        }
    }

    /// An object that was not asked to reconcile, and why.
    pub fn skipped(object: &FluxObject, reason: &str) -> Report {
        let reason = reason.to_string();
        Report::new(object, Outcome::Skipped { reason }, 0.0)
    }

    /// `object` was not asked to reconcile because what it takes its input from failed
    /// (`condition` Source or Dependency), with that input's failure in `message`.
    fn input_failed(
        object: &FluxObject,
        condition: &str,
        reason: &str,
        message: String,
        started: Instant,
    ) -> Report {
        let outcome = Outcome::Failed {
            condition: condition.to_string(),
            reason: reason.to_string(),
            message,
        };
        Report::new(object, outcome, started.elapsed().as_secs_f64())
    }
}

/// How many of several objects failed: the summary line and the exit status of bulk commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub total: usize,
    pub failed: usize,
}

impl Tally {
    /// Counts reconcile (or resume) results: an error or an unsuccessful outcome fails.
    pub fn of_reports(results: &[Result<Report>]) -> Tally {
        Tally::count(
            results
                .iter()
                .map(|r| r.as_ref().is_ok_and(|report| report.outcome.is_success())),
        )
    }

    pub fn count(succeeded: impl Iterator<Item = bool>) -> Tally {
        succeeded.fold(
            Tally {
                total: 0,
                failed: 0,
            },
            |tally, ok| Tally {
                total: tally.total + 1,
                failed: tally.failed + usize::from(!ok),
            },
        )
    }

    /// The command's result: an error naming the count when any failed (each failure was
    /// reported on its own already).
    pub fn into_result(self) -> Result<()> {
        if self.failed == 0 {
            Ok(())
        } else {
            Err(crate::Error::SomeFailed {
                failed: self.failed,
                total: self.total,
            })
        }
    }
}

/// Runs a batch of reconcile (or resume) requests with their waits explained: while it waits,
/// the controllers that must answer for the selected kinds are watched
/// ([`crate::cluster::explain`]) and `tell` hears of those that cannot; a report that timed
/// out names them as the likely cause.
pub async fn explained_batch(
    connection: &Connection,
    objects: &[FluxObject],
    options: &Options,
    tell: Tell<'_>,
    batch: impl Future<Output = Vec<Result<Report>>>,
) -> Vec<Result<Report>> {
    if !options.wait || objects.is_empty() {
        return batch.await;
    }
    let mut deployments: Vec<String> = objects
        .iter()
        .flat_map(|object| object.kind.answering_controllers())
        .map(str::to_string)
        .collect();
    deployments.sort();
    deployments.dedup();
    let responders = Responders {
        namespace: flux_namespace(connection).await,
        deployments,
    };
    let awaited = match objects {
        [one] => format!(
            "{} in namespace {} to reconcile",
            one.display_name(),
            one.namespace()
        ),
        many => format!("{} objects to reconcile", many.len()),
    };
    let (mut results, unavailable) =
        explained(connection, &responders, &|| awaited.clone(), tell, batch).await;
    for report in results.iter_mut().flatten() {
        name_likely_cause(report, &unavailable);
    }
    results
}

/// The namespace of Flux's controllers, as the install labels its CRDs; Flux's default when
/// that cannot be read.
async fn flux_namespace(connection: &Connection) -> String {
    crate::flux::installed(connection)
        .await
        .ok()
        .flatten()
        .and_then(|install| install.namespace)
        .unwrap_or_else(|| crate::manifests::DEFAULT_NAMESPACE.to_string())
}

/// Sets the likely cause of a timed-out `report` (and of its source and dependencies): the
/// controllers of its kind that could not answer.
fn name_likely_cause(report: &mut Report, unavailable: &BTreeMap<String, String>) {
    if let Outcome::TimedOut { likely_cause, .. } = &mut report.outcome
        && let Some(kind) = FluxKind::lookup(report.kind)
    {
        let lines: Vec<&str> = kind
            .answering_controllers()
            .iter()
            .filter_map(|controller| unavailable.get(*controller).map(String::as_str))
            .collect();
        if !lines.is_empty() {
            *likely_cause = Some(lines.join("; "));
        }
    }
    if let Some(source) = &mut report.source {
        name_likely_cause(source, unavailable);
    }
    for dependency in &mut report.dependencies {
        name_likely_cause(dependency, unavailable);
    }
}

/// Reconciles every selected object at once. Every object is checked against the options first,
/// so nothing is requested when one cannot take them; a suspended object met through `--all`
/// or `-l` is skipped (a named one is an error, from [`reconcile`]). `tell` hears what stands
/// in the way of the waits (see [`explained_batch`]).
pub async fn reconcile_all(
    connection: &Connection,
    apis: &FluxApis,
    selection: &Selection,
    options: &Options,
    progress: Progress<'_>,
    tell: Tell<'_>,
) -> Result<Vec<Result<Report>>> {
    for object in &selection.objects {
        options.check_kind(object.kind, object.name())?;
    }
    let batch = join_all(selection.objects.iter().map(|object| async move {
        if !selection.named && is_suspended(&object.object) {
            return Ok(Report::skipped(object, "suspended"));
        }
        if options.with_dependencies {
            reconcile_with_dependencies(connection, apis, object, options, progress).await
        } else {
            reconcile(connection, apis, object, options, progress).await
        }
    }));
    Ok(explained_batch(connection, &selection.objects, options, tell, batch).await)
}

/// One cluster's reconcile: the objects selected there and what happened to each.
pub struct ClusterRun {
    pub warnings: Vec<String>,
    pub results: Vec<Result<Report>>,
}

impl ClusterRun {
    pub fn tally(&self) -> Tally {
        Tally::of_reports(&self.results)
    }
}

/// The per-cluster function: the single-cluster path's selection and reconcile, on one
/// connection.
pub async fn reconcile_cluster(
    connection: Connection,
    selection: &SelectionArgs,
    options: &Options,
) -> Result<ClusterRun> {
    let (apis, selected) = discover_and_select(&connection, selection, true).await?;
    // Progress lines of many clusters at once would only interleave; each cluster's result is
    // printed whole.
    let quiet = |_: &str| {};
    let results = reconcile_all(&connection, &apis, &selected, options, &quiet, &|_| {}).await?;
    Ok(ClusterRun {
        warnings: selected.warnings,
        results,
    })
}

/// Receives one line per step (`annotating ...`, `waiting ...`) for a progress display.
pub type Progress<'a> = &'a (dyn Fn(&str) + Send + Sync);

/// Reconciles `object` after the objects it depends on (`spec.dependsOn`, directly or not): the
/// chain is read and ordered first, so a cycle or a missing dependency stops everything before
/// any request; then each level (independent branches concurrently) is reconciled and waited
/// for, and a dependency that fails stops what depends on it with its message. `--force` and
/// `--reset` apply to `object` only.
pub async fn reconcile_with_dependencies(
    connection: &Connection,
    apis: &FluxApis,
    object: &FluxObject,
    options: &Options,
    progress: Progress<'_>,
) -> Result<Report> {
    let started = Instant::now();
    let root = format!("{}/{}", object.namespace(), object.name());
    let (objects, graph) = dependency_chain(connection, apis, object).await?;
    let levels = reconcile_order(&root, &graph)?;
    let dependency_options = Options {
        force: false,
        reset: false,
        with_dependencies: false,
        ..options.clone()
    };
    let mut dependencies = Vec::new();
    for level in levels.iter().filter(|level| !level.contains(&root)) {
        let reports = join_all(
            level
                .iter()
                .filter_map(|key| objects.get(key))
                .map(|dependency| {
                    reconcile(connection, apis, dependency, &dependency_options, progress)
                }),
        )
        .await;
        for report in reports {
            dependencies.push(report?);
        }
        if let Some(failed) = dependencies.iter().find(|r| !r.outcome.is_success()) {
            let message = format!(
                "its dependency {}/{} in namespace {} did not reconcile: {}",
                failed.kind,
                failed.name,
                failed.namespace,
                failed.outcome.failure_detail()
            );
            let mut report =
                Report::input_failed(object, "Dependency", "DependencyFailed", message, started);
            report.dependencies = dependencies;
            return Ok(report);
        }
    }
    let without_chain = Options {
        with_dependencies: false,
        ..options.clone()
    };
    let mut report = reconcile(connection, apis, object, &without_chain, progress).await?;
    report.dependencies = dependencies;
    Ok(report)
}

/// `object` and every object it depends on (read from the cluster), and what each depends on.
async fn dependency_chain(
    connection: &Connection,
    apis: &FluxApis,
    object: &FluxObject,
) -> Result<(BTreeMap<Key, FluxObject>, BTreeMap<Key, Vec<Key>>)> {
    let served = apis.require(object.kind)?;
    let root = format!("{}/{}", object.namespace(), object.name());
    let mut objects = BTreeMap::from([(root.clone(), object.clone())]);
    let mut graph = BTreeMap::new();
    let mut next = vec![root];
    while let Some(key) = next.pop() {
        let Some(current) = objects.get(&key) else {
            continue;
        };
        let wanted = depends_on(current.kind, &current.object);
        for dependency in &wanted {
            if objects.contains_key(dependency) {
                continue;
            }
            let (namespace, name) = dependency.split_once('/').unwrap_or(("", dependency));
            let found = get(connection, served, namespace, name).await?;
            objects.insert(dependency.clone(), found);
            next.push(dependency.clone());
        }
        graph.insert(key, wanted);
    }
    Ok((objects, graph))
}

/// Reconciles one object: its source first when asked, then the object itself.
pub async fn reconcile(
    connection: &Connection,
    apis: &FluxApis,
    object: &FluxObject,
    options: &Options,
    progress: Progress<'_>,
) -> Result<Report> {
    let source = if options.with_source {
        match source_of(connection, apis, object).await? {
            Some(source) => {
                let source_options = Options {
                    with_source: false,
                    force: false,
                    reset: false,
                    with_dependencies: false,
                    ..options.clone()
                };
                Some(Box::new(
                    reconcile_one(connection, apis, &source, &source_options, progress).await?,
                ))
            }
            None => None,
        }
    } else {
        None
    };
    if let Some(source) = source.as_ref().filter(|s| !s.outcome.is_success()) {
        let message = format!(
            "its source {}/{} failed: {}",
            source.kind,
            source.name,
            source.outcome.failure_detail()
        );
        let mut report =
            Report::input_failed(object, "Source", "SourceFailed", message, Instant::now());
        report.source = Some(source.clone());
        return Ok(report);
    }
    let mut report = reconcile_one(connection, apis, object, options, progress).await?;
    report.source = source;
    Ok(report)
}

async fn reconcile_one(
    connection: &Connection,
    apis: &FluxApis,
    object: &FluxObject,
    options: &Options,
    progress: Progress<'_>,
) -> Result<Report> {
    let served = apis.require(object.kind)?;
    options.check_kind(object.kind, object.name())?;
    if is_suspended(&object.object) {
        return Err(FluxError::Suspended {
            kind: object.kind.kind,
            short: object.kind.short_names[0],
            name: object.name().to_string(),
            namespace: object.namespace().to_string(),
        }
        .into());
    }
    let mut extra = Vec::new();
    if options.force {
        extra.push(FORCE_AT);
    }
    if options.reset {
        extra.push(RESET_AT);
    }
    let token = new_token();
    progress(&format!(
        "► requesting reconciliation of {} in namespace {}",
        object.display_name(),
        object.namespace()
    ));
    let patch = request_patch(&token, &extra);
    request_and_wait(
        connection, served, object, &patch, &token, options, progress,
    )
    .await
}

/// The object to reconcile before `object` for `--with-source` (see
/// [`reconciled_source`]); `None` for kinds without a source.
pub async fn source_of(
    connection: &Connection,
    apis: &FluxApis,
    object: &FluxObject,
) -> Result<Option<FluxObject>> {
    let Some(reference) = named_source(object, reconciled_source(object.kind, &object.object))?
    else {
        return Ok(None);
    };
    match get_referenced(connection, apis, object, &reference).await {
        // helm-controller makes a HelmRelease's HelmChart when it first reconciles the release
        // (right after it was applied, it may not exist yet); until then the chart's own source
        // (its HelmRepository, GitRepository or Bucket) is the one to refresh.
        Err(crate::Error::Flux(FluxError::NotFound { .. }))
            if kind_named(&reference.kind)?.kind == "HelmChart" =>
        {
            let Some(chart_source) = named_source(object, source_ref(object.kind, &object.object))?
            else {
                return Ok(None);
            };
            get_referenced(connection, apis, object, &chart_source)
                .await
                .map(Some)
        }
        found => found.map(Some),
    }
}

/// The object `reference` names, in `object`'s namespace unless the reference gives one.
async fn get_referenced(
    connection: &Connection,
    apis: &FluxApis,
    object: &FluxObject,
    reference: &crate::flux::refs::ObjectRef,
) -> Result<FluxObject> {
    let served = apis.require(kind_named(&reference.kind)?)?;
    let namespace = reference.namespace.as_deref().unwrap_or(object.namespace());
    get(connection, served, namespace, &reference.name).await
}

/// The named reference, `None` without one, or the error for an object whose reference lacks
/// its kind or name.
fn named_source(
    object: &FluxObject,
    reference: Option<SourceReference>,
) -> Result<Option<crate::flux::refs::ObjectRef>> {
    match reference {
        None => Ok(None),
        Some(SourceReference::Named(reference)) => Ok(Some(reference)),
        Some(SourceReference::Incomplete) => Err(FluxError::NoSource {
            object: object.display_name(),
            namespace: object.namespace().to_string(),
        }
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(generation: i64, status: serde_json::Value) -> DynamicObject {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": "default", "generation": generation},
            "spec": {}, "status": status
        }))
        .unwrap()
    }

    fn ks() -> &'static FluxKind {
        FluxKind::lookup("ks").unwrap()
    }

    fn since() -> Timestamp {
        "2026-11-30T05:00:00Z".parse().unwrap()
    }

    #[test]
    fn tokens_are_rfc3339_with_nanoseconds_and_fresh() {
        let a = new_token();
        assert!(a.parse::<Timestamp>().is_ok(), "{a}");
        assert!(a.ends_with('Z'));
        assert_ne!(a, new_token());
    }

    #[test]
    fn an_old_failure_is_not_taken_for_the_answer() {
        let o = object(
            1,
            serde_json::json!({"lastHandledReconcileAt": "old", "observedGeneration": 1,
            "conditions": [{"type": "Ready", "status": "False", "reason": "BuildFailed", "message": "old error", "observedGeneration": 1}]}),
        );
        assert_eq!(judge(&o, ks(), "new", since()), None);
    }

    #[test]
    fn handled_and_ready_at_the_current_generation_succeeds() {
        let o = object(
            2,
            serde_json::json!({"lastHandledReconcileAt": "t", "lastAppliedRevision": "main@sha1:abc",
            "conditions": [{"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded", "message": "Applied", "observedGeneration": 2}]}),
        );
        assert_eq!(
            judge(&o, ks(), "t", since()),
            Some(Outcome::Succeeded {
                revision: Some("main@sha1:abc".into()),
                message: "Applied".into()
            })
        );
        let behind = object(3, o.data["status"].clone());
        assert_eq!(judge(&behind, ks(), "t", since()), None);
    }

    #[test]
    fn handled_with_ready_false_or_a_new_stall_fails_at_once() {
        let o = object(
            1,
            serde_json::json!({"lastHandledReconcileAt": "t",
            "conditions": [{"type": "Ready", "status": "False", "reason": "BuildFailed", "message": "bad yaml", "observedGeneration": 1}]}),
        );
        assert!(
            matches!(judge(&o, ks(), "t", since()), Some(Outcome::Failed { reason, .. }) if reason == "BuildFailed")
        );
        let stalled = object(
            1,
            serde_json::json!({"lastHandledReconcileAt": "old",
            "conditions": [{"type": "Stalled", "status": "True", "reason": "InvalidPath", "message": "no such path", "lastTransitionTime": "2026-11-30T05:00:01Z"}]}),
        );
        assert!(
            matches!(judge(&stalled, ks(), "t", since()), Some(Outcome::Failed { condition, .. }) if condition == "Stalled")
        );
    }
}
