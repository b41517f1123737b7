//! Following Flux objects as they change (`status -w`): one watch per kind, under the failure
//! policy of [`crate::cluster::wait`], each observation turned into the object's computed
//! status and passed on only when that status (or the generation) differs from what was shown
//! and it passes the caller's state filter.

use std::collections::HashMap;

use futures::{Stream, StreamExt};

use crate::cluster::Error as ClusterError;
use crate::cluster::action::qualified_plural;
use crate::cluster::connection::Connection;
use crate::cluster::wait::{Followed, Observed, Selector, Watched, follow};
use crate::error::Result;
use crate::flux::FluxKind;
use crate::flux::discovery::FluxApis;
use crate::flux::objects::{FluxObject, Scope};
use crate::flux::status::{State, Summary, summarize};

/// One object whose shown status changed.
#[derive(Debug, Clone)]
pub struct Change {
    pub object: FluxObject,
    /// Its computed status now (or when it was deleted).
    pub summary: Summary,
    pub deleted: bool,
}

/// What [`changes`] yields.
#[derive(Debug)]
pub enum Update {
    /// Boxed: a change carries the whole object.
    Changed(Box<Change>),
    /// The watch of `kind` failed and is retried after the backoff.
    Retrying {
        kind: &'static FluxKind,
        error: ClusterError,
    },
    /// The user may not watch a kind: its changes are not shown, the others go on (as the
    /// listing skips a kind it may not list). The text says which.
    NotWatched(String),
}

/// An object's identity across kinds and namespaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectKey {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn of(object: &FluxObject) -> ObjectKey {
        ObjectKey {
            kind: object.kind.kind,
            namespace: object.namespace().to_string(),
            name: object.name().to_string(),
        }
    }
}

/// What was last shown of an object; an observation that differs in either is a change.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    pub summary: Summary,
    pub generation: Option<i64>,
}

/// Remembers what was shown of each object, and tells which observations change it.
pub struct Tracker {
    shown: HashMap<ObjectKey, Shown>,
    keep: Box<dyn Fn(State) -> bool + Send>,
}

impl Tracker {
    /// Starts from what is shown already (the listing); `keep` is the state filter: objects
    /// in other states are not followed.
    pub fn new(
        shown: impl IntoIterator<Item = (ObjectKey, Shown)>,
        keep: impl Fn(State) -> bool + Send + 'static,
    ) -> Tracker {
        Tracker {
            shown: shown.into_iter().collect(),
            keep: Box::new(keep),
        }
    }

    /// The change this observation makes to what was shown, if any.
    pub fn observe(&mut self, object: FluxObject, deleted: bool) -> Option<Change> {
        let summary = summarize(object.kind, &object.object);
        if !(self.keep)(summary.state) {
            return None;
        }
        let key = ObjectKey::of(&object);
        if deleted {
            self.shown.remove(&key);
        } else {
            let shown = Shown {
                summary: summary.clone(),
                generation: object.object.metadata.generation,
            };
            if self.shown.get(&key) == Some(&shown) {
                return None;
            }
            self.shown.insert(key, shown);
        }
        Some(Change {
            object,
            summary,
            deleted,
        })
    }
}

/// Follows `kinds` in `scope` (with the label `selector`, if any), one watch per kind,
/// reporting what `tracker` counts as a change. Ends with an error when a watch gives up for
/// a reason other than RBAC, and without one when no watch is left.
pub fn changes(
    connection: &Connection,
    apis: &FluxApis,
    kinds: &[&'static FluxKind],
    scope: &Scope,
    selector: Option<&str>,
    mut tracker: Tracker,
) -> Result<impl Stream<Item = Result<Update>> + Send + 'static> {
    let mut watches = Vec::new();
    for kind in kinds {
        let served = apis.require(kind)?;
        let watched = Watched {
            api: scope.api(connection, served),
            resource: qualified_plural(&served.resource),
            selector: selector.map_or(Selector::All, |s| Selector::Labels(s.to_string())),
        };
        let kind: &'static FluxKind = served.kind;
        watches.push(
            follow(connection, watched)
                .map(move |item| (kind, item))
                .boxed(),
        );
    }
    let updates = futures::stream::select_all(watches).filter_map(move |(kind, item)| {
        let update = match item {
            Ok(Followed::Observed(Observed::Applied(object))) => tracker
                .observe(FluxObject { kind, object }, false)
                .map(|c| Ok(Update::Changed(Box::new(c)))),
            Ok(Followed::Observed(Observed::Deleted(object))) => tracker
                .observe(FluxObject { kind, object }, true)
                .map(|c| Ok(Update::Changed(Box::new(c)))),
            Ok(Followed::Retrying(error)) => Some(Ok(Update::Retrying { kind, error })),
            Err(ClusterError::Forbidden { user, action, .. }) => {
                Some(Ok(Update::NotWatched(format!(
                    "{user} cannot {action}: forbidden; changes to those objects are not shown"
                ))))
            }
            Err(error) => Some(Err(error.into())),
        };
        std::future::ready(update)
    });
    Ok(updates)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kustomization(name: &str, generation: i64, ready: &str) -> FluxObject {
        FluxObject {
            kind: FluxKind::lookup("ks").unwrap(),
            object: serde_json::from_value(json!({
                "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                "metadata": {"name": name, "namespace": "default", "generation": generation},
                "spec": {},
                "status": {"observedGeneration": generation, "conditions": [{"type": "Ready",
                    "status": ready, "reason": "R", "message": "M",
                    "observedGeneration": generation}]}
            }))
            .unwrap(),
        }
    }

    fn shown(object: &FluxObject) -> (ObjectKey, Shown) {
        let shown = Shown {
            summary: summarize(object.kind, &object.object),
            generation: object.object.metadata.generation,
        };
        (ObjectKey::of(object), shown)
    }

    #[test]
    fn only_a_new_status_or_generation_is_a_change() {
        let apps = kustomization("apps", 1, "True");
        let mut tracker = Tracker::new([shown(&apps)], |_| true);
        assert!(tracker.observe(apps.clone(), false).is_none());
        let failed = tracker.observe(kustomization("apps", 1, "False"), false);
        assert_eq!(failed.map(|c| c.summary.state), Some(State::Failed));
        assert!(
            tracker
                .observe(kustomization("apps", 2, "False"), false)
                .is_some()
        );
        assert!(
            tracker
                .observe(kustomization("new", 1, "True"), false)
                .is_some()
        );
    }

    #[test]
    fn a_deletion_is_a_change_and_forgets_the_object() {
        let apps = kustomization("apps", 1, "True");
        let mut tracker = Tracker::new([shown(&apps)], |_| true);
        let deleted = tracker.observe(apps.clone(), true).expect("a change");
        assert!(deleted.deleted);
        assert!(tracker.observe(apps, false).is_some(), "shown again");
    }

    #[test]
    fn objects_the_state_filter_leaves_out_are_not_followed() {
        let mut tracker = Tracker::new([], |state| state == State::Failed);
        assert!(
            tracker
                .observe(kustomization("apps", 1, "True"), false)
                .is_none()
        );
        assert!(
            tracker
                .observe(kustomization("apps", 1, "False"), false)
                .is_some()
        );
    }
}
