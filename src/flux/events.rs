//! What the controllers said: the Kubernetes Events about Flux objects, gathered from one or
//! several namespaces, repeated ones merged, in the order they were last seen.
//!
//! # Which Event API
//!
//! Events are read through the core `v1` API only. The API server keeps one store of Events
//! and serves it through both `v1` and `events.k8s.io/v1`, converting between the shapes, so
//! reading both would show every Event twice. The core shape is the one the Flux controllers
//! write (their recorder creates `v1` Events: `involvedObject`, `count`, `firstTimestamp`,
//! `lastTimestamp`), and an Event written through `events.k8s.io/v1` (`regarding`, `eventTime`,
//! `series`, `deprecatedCount`) comes out of `v1` with the same facts: `involvedObject` from
//! `regarding`, `eventTime` and `series` as they are. [`Seen::of`] reads either set of fields.
//!
//! # Repeats
//!
//! A recorder counts a repeated Event in the Event itself (`count`, or `series.count`); Events
//! that still repeat (from another controller replica, or after the recorder's cache was
//! dropped) are merged here by object, type, reason and message: shown once, with the counts
//! added up and the earliest first and latest last sighting.

use std::collections::{BTreeMap, HashSet};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams};
use serde::Serialize;

use crate::cluster::action::Action;
use crate::cluster::connection::Connection;
use crate::error::Result;
use crate::flux::refs::{ObjectRef, SourceReference, reconciled_source, source_ref};
use crate::flux::{FluxKind, KINDS, objects::FluxObject};

/// Events per list request.
const PAGE_SIZE: u32 = 500;

/// Event types a user can ask for (`--types`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum EventType {
    #[value(name = "Normal")]
    Normal,
    #[value(name = "Warning")]
    Warning,
}

impl EventType {
    fn matches(self, type_: &str) -> bool {
        let wanted = match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        };
        type_.eq_ignore_ascii_case(wanted)
    }
}

/// The object an Event is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Regarding {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl Regarding {
    /// `Kind/name`, as the OBJECT column shows it.
    pub fn display(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }

    fn of(object: &FluxObject) -> Regarding {
        Regarding {
            kind: object.kind.kind.to_string(),
            namespace: object.namespace().to_string(),
            name: object.name().to_string(),
        }
    }

    fn of_ref(reference: &ObjectRef, own_namespace: &str) -> Regarding {
        Regarding {
            kind: reference.kind.clone(),
            namespace: reference
                .namespace
                .clone()
                .unwrap_or_else(|| own_namespace.to_string()),
            name: reference.name.clone(),
        }
    }
}

/// One line of the view: an Event, or several alike merged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Seen {
    pub object: Regarding,
    #[serde(rename = "type")]
    pub type_: String,
    pub reason: String,
    pub message: String,
    /// How many times it happened, repeats merged.
    pub count: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<Timestamp>,
    /// Who reported it (`kustomize-controller`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
}

impl Seen {
    /// Reads an Event in either shape (see the module documentation).
    pub fn of(event: &Event) -> Seen {
        let involved = &event.involved_object;
        let event_time = event.event_time.as_ref().map(|t| t.0);
        let first_seen = event_time.or(event.first_timestamp.as_ref().map(|t| t.0));
        let series = event.series.as_ref();
        let last_seen = series
            .and_then(|s| s.last_observed_time.as_ref().map(|t| t.0))
            .or(event.last_timestamp.as_ref().map(|t| t.0))
            .or(event_time)
            .or(first_seen);
        let count = series
            .and_then(|s| s.count)
            .or(event.count)
            .filter(|c| *c > 0)
            .unwrap_or(1);
        let source = event
            .reporting_component
            .clone()
            .filter(|c| !c.is_empty())
            .or_else(|| event.source.as_ref().and_then(|s| s.component.clone()))
            .unwrap_or_default();
        Seen {
            object: Regarding {
                kind: involved.kind.clone().unwrap_or_default(),
                namespace: involved
                    .namespace
                    .clone()
                    .or_else(|| event.metadata.namespace.clone())
                    .unwrap_or_default(),
                name: involved.name.clone().unwrap_or_default(),
            },
            type_: event.type_.clone().unwrap_or_default(),
            reason: event.reason.clone().unwrap_or_default(),
            message: event.message.clone().unwrap_or_default(),
            count: i64::from(count),
            first_seen,
            last_seen,
            source,
        }
    }

    /// What makes two Events the same happening, told twice.
    fn identity(&self) -> (Regarding, String, String, String) {
        (
            self.object.clone(),
            self.type_.clone(),
            self.reason.clone(),
            self.message.clone(),
        )
    }

    fn absorb(&mut self, other: &Seen) {
        self.count += other.count;
        self.first_seen = earliest(self.first_seen, other.first_seen);
        self.last_seen = self.last_seen.max(other.last_seen);
        if self.source.is_empty() {
            self.source = other.source.clone();
        }
    }
}

fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Which Events to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// About any Flux object.
    AnyFluxObject,
    /// About exactly these objects.
    Objects(HashSet<Regarding>),
}

impl Filter {
    pub fn admits(&self, seen: &Seen) -> bool {
        match self {
            Filter::AnyFluxObject => is_flux_kind(&seen.object.kind),
            Filter::Objects(objects) => objects.contains(&seen.object),
        }
    }
}

fn is_flux_kind(kind: &str) -> bool {
    KINDS.iter().any(|k| k.kind == kind)
}

/// The objects whose Events a named object's view includes: the object, its source (a
/// Kustomization's `sourceRef`; a HelmRelease's `chartRef`, or its chart's repository), and the
/// object its controller reconciles for it (a HelmRelease's HelmChart).
pub fn related(object: &FluxObject) -> Vec<Regarding> {
    let own_namespace = object.namespace();
    let mut related = vec![Regarding::of(object)];
    let kind: &FluxKind = object.kind;
    for reference in [
        source_ref(kind, &object.object),
        reconciled_source(kind, &object.object),
    ]
    .into_iter()
    .flatten()
    {
        if let SourceReference::Named(reference) = reference {
            let regarding = Regarding::of_ref(&reference, own_namespace);
            if !related.contains(&regarding) {
                related.push(regarding);
            }
        }
    }
    related
}

/// Lists the Events in `namespace` (all namespaces when `None`), every page.
pub async fn list(connection: &Connection, namespace: Option<&str>) -> Result<Vec<Event>> {
    let (api, action) = match namespace {
        Some(ns) => (
            Api::<Event>::namespaced(connection.client.clone(), ns),
            Action::new("list", "events").in_namespace(ns),
        ),
        None => (
            Api::<Event>::all(connection.client.clone()),
            Action::new("list", "events"),
        ),
    };
    let mut params = ListParams::default().limit(PAGE_SIZE);
    let mut events = Vec::new();
    loop {
        let page = connection.call(action.clone(), api.list(&params)).await?;
        let next = page.metadata.continue_.clone().filter(|c| !c.is_empty());
        events.extend(page.items);
        match next {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(events),
        }
    }
}

/// The Events `filter` and `types` admit, each once (by uid), repeats merged, oldest first.
pub fn merge(events: &[Event], filter: &Filter, types: &[EventType]) -> Vec<Seen> {
    let mut uids = HashSet::new();
    let mut merged: BTreeMap<(Regarding, String, String, String), Seen> = BTreeMap::new();
    for event in events {
        if let Some(uid) = event.metadata.uid.as_deref()
            && !uids.insert(uid)
        {
            continue;
        }
        let seen = Seen::of(event);
        if !filter.admits(&seen) || !admits_type(types, &seen.type_) {
            continue;
        }
        match merged.get_mut(&seen.identity()) {
            Some(earlier) => earlier.absorb(&seen),
            None => {
                merged.insert(seen.identity(), seen);
            }
        }
    }
    let mut rows: Vec<Seen> = merged.into_values().collect();
    rows.sort_by(|a, b| {
        (a.last_seen, &a.object, &a.reason).cmp(&(b.last_seen, &b.object, &b.reason))
    });
    rows
}

pub fn admits_type(types: &[EventType], type_: &str) -> bool {
    types.is_empty() || types.iter().any(|t| t.matches(type_))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(value: serde_json::Value) -> Event {
        serde_json::from_value(value).unwrap()
    }

    fn core(uid: &str, name: &str, reason: &str, count: i32, last: &str) -> Event {
        event(serde_json::json!({
            "metadata": {"name": format!("{name}.{uid}"), "namespace": "flux-system", "uid": uid},
            "involvedObject": {"kind": "Kustomization", "name": name, "namespace": "flux-system"},
            "type": "Normal", "reason": reason, "message": format!("{reason} happened"),
            "count": count, "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": last,
            "source": {"component": "kustomize-controller"}
        }))
    }

    #[test]
    fn the_core_shape_is_read_with_its_count_and_times() {
        let seen = Seen::of(&core("a", "apps", "Progressing", 3, "2026-01-01T01:00:00Z"));
        assert_eq!(seen.object.display(), "Kustomization/apps");
        assert_eq!(seen.count, 3);
        assert_eq!(
            seen.first_seen,
            Some("2026-01-01T00:00:00Z".parse().unwrap())
        );
        assert_eq!(
            seen.last_seen,
            Some("2026-01-01T01:00:00Z".parse().unwrap())
        );
        assert_eq!(seen.source, "kustomize-controller");
    }

    #[test]
    fn the_events_api_shape_is_read_from_event_time_and_series() {
        // An Event created through events.k8s.io/v1, as the core API serves it.
        let seen = Seen::of(&event(serde_json::json!({
            "metadata": {"name": "x", "namespace": "apps"},
            "involvedObject": {"kind": "HelmRelease", "name": "podinfo", "namespace": "apps"},
            "type": "Warning", "reason": "UpgradeFailed", "message": "timed out",
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "series": {"count": 4, "lastObservedTime": "2026-01-01T02:00:00.000000Z"},
            "reportingComponent": "helm-controller", "reportingInstance": "helm-controller-1",
            "action": "Upgrade"
        })));
        assert_eq!(seen.count, 4);
        assert_eq!(
            seen.first_seen,
            Some("2026-01-01T00:00:00Z".parse().unwrap())
        );
        assert_eq!(
            seen.last_seen,
            Some("2026-01-01T02:00:00Z".parse().unwrap())
        );
        assert_eq!(seen.source, "helm-controller");
    }

    #[test]
    fn repeats_are_merged_and_rows_come_oldest_first() {
        let events = [
            core("a", "apps", "Progressing", 2, "2026-01-01T03:00:00Z"),
            core("b", "apps", "Progressing", 3, "2026-01-01T05:00:00Z"),
            core("c", "infra", "Progressing", 1, "2026-01-01T04:00:00Z"),
            // The same Event listed twice (it is about two listed objects).
            core("c", "infra", "Progressing", 1, "2026-01-01T04:00:00Z"),
        ];
        let rows = merge(&events, &Filter::AnyFluxObject, &[]);
        let shown: Vec<(String, i64)> =
            rows.iter().map(|r| (r.object.display(), r.count)).collect();
        assert_eq!(
            shown,
            [
                ("Kustomization/infra".to_string(), 1),
                ("Kustomization/apps".to_string(), 5)
            ]
        );
        assert_eq!(
            rows[1].last_seen,
            Some("2026-01-01T05:00:00Z".parse().unwrap())
        );
    }

    fn helm_release(spec: serde_json::Value) -> FluxObject {
        FluxObject {
            kind: &crate::flux::HELM_RELEASE,
            object: serde_json::from_value(serde_json::json!({
                "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                "metadata": {"name": "podinfo", "namespace": "apps"}, "spec": spec
            }))
            .unwrap(),
        }
    }

    fn shown(related: Vec<Regarding>) -> Vec<String> {
        related
            .iter()
            .map(|r| format!("{}/{}/{}", r.kind, r.namespace, r.name))
            .collect()
    }

    #[test]
    fn a_helm_release_brings_its_chart_source_and_helm_chart() {
        let inline = helm_release(serde_json::json!({"chart": {"spec": {"chart": "podinfo",
            "sourceRef": {"kind": "HelmRepository", "name": "podinfo", "namespace": "flux-system"}}}}));
        assert_eq!(
            shown(related(&inline)),
            [
                "HelmRelease/apps/podinfo",
                "HelmRepository/flux-system/podinfo",
                "HelmChart/flux-system/apps-podinfo"
            ]
        );
        let chart_ref = helm_release(
            serde_json::json!({"chartRef": {"kind": "OCIRepository", "name": "podinfo"}}),
        );
        assert_eq!(
            shown(related(&chart_ref)),
            ["HelmRelease/apps/podinfo", "OCIRepository/apps/podinfo"]
        );
    }

    #[test]
    fn events_about_other_kinds_and_types_are_left_out() {
        let mut pod = core("p", "web", "Started", 1, "2026-01-01T00:00:00Z");
        pod.involved_object.kind = Some("Pod".into());
        let events = [
            pod,
            core("a", "apps", "Progressing", 1, "2026-01-01T00:00:00Z"),
        ];
        assert_eq!(merge(&events, &Filter::AnyFluxObject, &[]).len(), 1);
        assert!(merge(&events, &Filter::AnyFluxObject, &[EventType::Warning]).is_empty());
        let only_infra = Filter::Objects(HashSet::from([Regarding {
            kind: "Kustomization".into(),
            namespace: "flux-system".into(),
            name: "infra".into(),
        }]));
        assert!(merge(&events, &only_infra, &[]).is_empty());
    }
}
