//! Waits that explain themselves. While a wait watches for its answer, [`explained`] also
//! watches what that answer depends on: the Deployments of the controllers that must give it
//! (the "responders") and their Pods, when the user may list them. A responder that cannot
//! answer (no replica available) is told at once, with what its Pods say (ImagePullBackOff,
//! CrashLoopBackOff, Unschedulable, ...); a heartbeat tells, every [`HEARTBEAT`], what is still
//! awaited and for how long; and a wait that ends returns the responders still unavailable,
//! which its timeout error names as the likely cause.
//!
//! This is side information: a side watch that fails (RBAC, a server that went away) ends
//! quietly and the wait goes on as before. Text from the cluster is passed on as it is; the UI
//! makes it printable ([`crate::ui::printable`]), and long messages are shortened here.
//!
//! docs/reconcile.md ("Waits that explain themselves") describes what users see.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;

use super::connection::Connection;
use super::wait::{Followed, Observed, Selector, Watched, follow};
use crate::ui::progress::Progress;

/// How often a wait says what it still awaits (on a terminal, the spinner's clock does it).
pub const HEARTBEAT: Duration = Duration::from_secs(30);

/// How long a responder may be unavailable, with nothing wrong in its Pods, before it is told:
/// controllers just installed take a few seconds to start, which is no news.
pub const GRACE: Duration = Duration::from_secs(5);

/// Pod waiting reasons that are a normal start, not a problem.
const STARTING: &[&str] = &["ContainerCreating", "PodInitializing"];

/// At most this many characters of a message from the cluster.
const MESSAGE_CHARS: usize = 300;

/// At most this many Pods quoted per Deployment.
const PODS_QUOTED: usize = 2;

/// The Deployments whose controllers must answer a wait, in one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Responders {
    pub namespace: String,
    pub deployments: Vec<String>,
}

/// What [`explained`] tells while a wait goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Explanation {
    /// A responder cannot answer, in one line:
    /// `source-controller: 0/1 available; Pod source-controller-7d9f: ImagePullBackOff: ...`.
    Unavailable(String),
    /// A responder told unavailable is available again: `source-controller: available again`.
    Available(String),
    /// The heartbeat: `still waiting for <what> (1m); <unavailable responders>`.
    StillWaiting(String),
}

impl Explanation {
    /// Shows the explanation on bootstrap's and install's progress: unavailability as a
    /// warning, the heartbeat only where no spinner keeps time.
    pub fn show(self, progress: &Progress) {
        match self {
            Explanation::Unavailable(text) => progress.notice(text),
            Explanation::Available(text) => progress.good_news(text),
            Explanation::StillWaiting(text) => progress.still_waiting(text),
        }
    }
}

/// Where explanations go.
pub type Tell<'a> = &'a (dyn Fn(Explanation) + Send + Sync);

/// Describes what is still awaited, asked at each heartbeat (a batch shrinks as it goes).
pub type Awaited<'a> = &'a (dyn Fn() -> String + Send + Sync);

/// Runs `wait` while watching `responders`, telling what stands in its way. Returns the wait's
/// output and, per responder still unavailable when it ended, the line that says why (for the
/// timeout error: the likely cause).
pub async fn explained<F: Future>(
    connection: &Connection,
    responders: &Responders,
    awaited: Awaited<'_>,
    tell: Tell<'_>,
    wait: F,
) -> (F::Output, BTreeMap<String, String>) {
    let started = Instant::now();
    let mut account = Account::new(responders, started);
    let deployments = follow(
        connection,
        Watched {
            api: Api::<Deployment>::namespaced(connection.client.clone(), &responders.namespace),
            resource: "deployments.apps".to_string(),
            selector: Selector::All,
        },
    )
    .map(Seen::Deployment);
    let pods = follow(
        connection,
        Watched {
            api: Api::<Pod>::namespaced(connection.client.clone(), &responders.namespace),
            resource: "pods".to_string(),
            selector: Selector::All,
        },
    )
    .map(Seen::Pod);
    let mut side = pin!(futures::stream::select(deployments, pods));
    let mut wait = pin!(wait);
    let mut next_heartbeat = started + HEARTBEAT;
    loop {
        let wake = account
            .next_check(Instant::now())
            .map_or(next_heartbeat, |at| at.min(next_heartbeat));
        tokio::select! {
            biased;
            output = &mut wait => return (output, account.unavailable()),
            Some(seen) = side.next() => account.take(seen),
            () = tokio::time::sleep_until(wake.into()) => {}
        }
        let now = Instant::now();
        for explanation in account.news(now) {
            tell(explanation);
        }
        if now >= next_heartbeat {
            tell(Explanation::StillWaiting(
                account.heartbeat(&awaited(), now.duration_since(started)),
            ));
            next_heartbeat = now + HEARTBEAT;
        }
    }
}

/// One item of the side watches (moved once, into the account: boxing would gain nothing).
#[allow(clippy::large_enum_variant)]
enum Seen {
    Deployment(super::Result<Followed<Deployment>>),
    Pod(super::Result<Followed<Pod>>),
}

/// What is known of the responders, and what was told of them.
struct Account {
    /// Each responder's Deployment as last seen (`None`: not seen, or deleted).
    deployments: BTreeMap<String, Option<Deployment>>,
    /// The responders deleted while waiting.
    deleted: Vec<String>,
    /// Every Pod of the namespace, by name.
    pods: BTreeMap<String, Pod>,
    /// The line last told of each responder.
    told: BTreeMap<String, String>,
    grace_ends: Instant,
}

impl Account {
    fn new(responders: &Responders, started: Instant) -> Account {
        Account {
            deployments: responders
                .deployments
                .iter()
                .map(|name| (name.clone(), None))
                .collect(),
            deleted: Vec::new(),
            pods: BTreeMap::new(),
            told: BTreeMap::new(),
            grace_ends: started + GRACE,
        }
    }

    fn take(&mut self, seen: Seen) {
        match seen {
            Seen::Deployment(Ok(Followed::Observed(observed))) => {
                let (deployment, deleted) = match observed {
                    Observed::Applied(d) => (d, false),
                    Observed::Deleted(d) => (d, true),
                };
                let name = deployment.metadata.name.clone().unwrap_or_default();
                if let Some(slot) = self.deployments.get_mut(&name) {
                    self.deleted.retain(|n| *n != name);
                    if deleted {
                        self.deleted.push(name);
                        *slot = None;
                    } else {
                        *slot = Some(deployment);
                    }
                }
            }
            Seen::Pod(Ok(Followed::Observed(observed))) => match observed {
                Observed::Applied(pod) => {
                    let name = pod.metadata.name.clone().unwrap_or_default();
                    self.pods.insert(name, pod);
                }
                Observed::Deleted(pod) => {
                    self.pods
                        .remove(pod.metadata.name.as_deref().unwrap_or_default());
                }
            },
            // Side information: a failing side watch is retried or ends, the wait goes on.
            Seen::Deployment(_) | Seen::Pod(_) => {}
        }
    }

    /// The line of each responder that cannot answer now, with whether its Pods say why.
    fn accounts(&self) -> BTreeMap<String, (String, bool)> {
        let mut lines = BTreeMap::new();
        for (name, deployment) in &self.deployments {
            if let Some(deployment) = deployment {
                if let Some(line) = self.unavailable_line(name, deployment) {
                    lines.insert(name.clone(), line);
                }
            } else if self.deleted.contains(name) {
                lines.insert(name.clone(), (format!("{name}: Deployment deleted"), true));
            }
        }
        lines
    }

    /// `name: 0/1 available[; why][; Pod p: Reason: message]`, or `None` while it answers.
    fn unavailable_line(&self, name: &str, deployment: &Deployment) -> Option<(String, bool)> {
        let want = super::deployment::wanted_replicas(deployment);
        let status = deployment.status.as_ref();
        let available = status.and_then(|s| s.available_replicas).unwrap_or(0);
        if want > 0 && available > 0 {
            return None;
        }
        let mut line = if want == 0 {
            format!("{name}: scaled to 0 replicas")
        } else {
            format!("{name}: {available}/{want} available")
        };
        let mut explained = want == 0;
        let stuck = status
            .and_then(|s| s.conditions.as_deref())
            .unwrap_or_default()
            .iter()
            .find(|c| {
                (c.type_ == "Progressing" && c.status == "False")
                    || (c.type_ == "ReplicaFailure" && c.status == "True")
            });
        if let Some(c) = stuck {
            line.push_str("; ");
            line.push_str(&reason_and_message(
                c.reason.as_deref().unwrap_or(&c.type_),
                c.message.as_deref(),
            ));
            explained = true;
        }
        let selector = deployment
            .spec
            .as_ref()
            .and_then(|s| s.selector.match_labels.clone())
            .unwrap_or_default();
        let problems = self
            .pods
            .iter()
            .filter(|(_, pod)| {
                let labels = pod.metadata.labels.as_ref();
                !selector.is_empty()
                    && selector
                        .iter()
                        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
            })
            .filter_map(|(pod_name, pod)| pod_problem(pod).map(|p| (pod_name, p)))
            .take(PODS_QUOTED);
        for (pod_name, (problem, serious)) in problems {
            line.push_str(&format!("; Pod {pod_name}: {problem}"));
            explained |= serious;
        }
        Some((line, explained))
    }

    /// What to tell now: responders newly unavailable (at once when their Pods say why, after
    /// [`GRACE`] otherwise), those whose line changed, and those available again.
    fn news(&mut self, now: Instant) -> Vec<Explanation> {
        let accounts = self.accounts();
        let mut news = Vec::new();
        for (name, (line, explained)) in &accounts {
            if self.told.get(name) == Some(line) || !(*explained || now >= self.grace_ends) {
                continue;
            }
            self.told.insert(name.clone(), line.clone());
            news.push(Explanation::Unavailable(line.clone()));
        }
        let recovered: Vec<String> = self
            .told
            .keys()
            .filter(|name| !accounts.contains_key(*name))
            .cloned()
            .collect();
        for name in recovered {
            self.told.remove(&name);
            news.push(Explanation::Available(format!("{name}: available again")));
        }
        news
    }

    /// When [`Account::news`] must look again without a new observation: the end of the grace.
    fn next_check(&self, now: Instant) -> Option<Instant> {
        (now < self.grace_ends).then_some(self.grace_ends)
    }

    /// The responders unavailable now, each with its line.
    fn unavailable(&self) -> BTreeMap<String, String> {
        self.accounts()
            .into_iter()
            .map(|(name, (line, _))| (name, line))
            .collect()
    }

    fn heartbeat(&self, awaited: &str, waited: Duration) -> String {
        let mut line = format!(
            "still waiting for {awaited} ({})",
            crate::ui::duration::human(waited)
        );
        for unavailable in self.unavailable().values() {
            line.push_str("; ");
            line.push_str(unavailable);
        }
        line
    }
}

/// Why a Pod does not run: `(text, serious)`, where a normal start (ContainerCreating) is not
/// serious; `None` for a Pod without a problem to quote.
fn pod_problem(pod: &Pod) -> Option<(String, bool)> {
    let status = pod.status.as_ref()?;
    if status.phase.as_deref() == Some("Failed") {
        let reason = status.reason.as_deref().unwrap_or("Failed");
        return Some((reason_and_message(reason, status.message.as_deref()), true));
    }
    let containers = status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten());
    for container in containers {
        let Some(state) = &container.state else {
            continue;
        };
        if let Some(waiting) = &state.waiting
            && let Some(reason) = &waiting.reason
        {
            let serious = !STARTING.contains(&reason.as_str());
            return Some((
                reason_and_message(reason, waiting.message.as_deref()),
                serious,
            ));
        }
        if let Some(terminated) = &state.terminated
            && terminated.exit_code != 0
        {
            let reason = terminated.reason.as_deref().unwrap_or("Terminated");
            let text = format!("{reason} (exit code {})", terminated.exit_code);
            return Some((
                reason_and_message(&text, terminated.message.as_deref()),
                true,
            ));
        }
    }
    let unscheduled = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")?;
    let reason = unscheduled.reason.as_deref().unwrap_or("Unschedulable");
    Some((
        reason_and_message(reason, unscheduled.message.as_deref()),
        true,
    ))
}

/// `Reason: message` (one line, at most [`MESSAGE_CHARS`] of the message), or `Reason`.
fn reason_and_message(reason: &str, message: Option<&str>) -> String {
    match message.map(str::trim).filter(|m| !m.is_empty()) {
        None => reason.to_string(),
        Some(message) => {
            let one_line = message.replace(['\n', '\r'], " ");
            let mut short: String = one_line.chars().take(MESSAGE_CHARS).collect();
            if short.len() < one_line.len() {
                short.push('…');
            }
            format!("{reason}: {short}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn responders() -> Responders {
        Responders {
            namespace: "flux-system".into(),
            deployments: vec!["source-controller".into()],
        }
    }

    fn deployment(available: i32) -> Seen {
        let deployment: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "source-controller", "generation": 1},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "source-controller"}},
                     "template": {}},
            "status": {"observedGeneration": 1, "availableReplicas": available},
        }))
        .unwrap();
        Seen::Deployment(Ok(Followed::Observed(Observed::Applied(deployment))))
    }

    fn pod(name: &str, app: &str, status: serde_json::Value) -> Seen {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"app": app}},
            "spec": {"containers": []},
            "status": status,
        }))
        .unwrap();
        Seen::Pod(Ok(Followed::Observed(Observed::Applied(pod))))
    }

    fn waiting(reason: &str, message: &str) -> serde_json::Value {
        json!({"phase": "Pending", "containerStatuses": [{"name": "manager", "image": "x",
            "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": reason, "message": message}}}]})
    }

    #[test]
    fn an_unavailable_responder_is_told_after_the_grace_unless_its_pods_say_why() {
        let start = Instant::now();
        let mut account = Account::new(&responders(), start);
        account.take(deployment(0));
        assert_eq!(account.news(start), []);
        assert_eq!(account.next_check(start), Some(start + GRACE));
        assert_eq!(
            account.news(start + GRACE),
            [Explanation::Unavailable(
                "source-controller: 0/1 available".into()
            )]
        );
        assert_eq!(account.news(start + GRACE), [], "told once");

        let mut account = Account::new(&responders(), start);
        account.take(deployment(0));
        account.take(pod(
            "source-controller-7d9f",
            "source-controller",
            waiting(
                "ImagePullBackOff",
                "Back-off pulling image \"ghcr.io/fluxcd/source-controller:v9\"",
            ),
        ));
        account.take(pod("other-1", "other", waiting("ErrImagePull", "not ours")));
        assert_eq!(
            account.news(start),
            [Explanation::Unavailable(
                "source-controller: 0/1 available; Pod source-controller-7d9f: ImagePullBackOff: Back-off pulling image \"ghcr.io/fluxcd/source-controller:v9\"".into()
            )]
        );
        account.take(deployment(1));
        assert_eq!(
            account.news(start),
            [Explanation::Available(
                "source-controller: available again".into()
            )]
        );
        assert!(account.unavailable().is_empty());
    }

    #[test]
    fn a_normal_start_waits_for_the_grace() {
        let start = Instant::now();
        let mut account = Account::new(&responders(), start);
        account.take(deployment(0));
        account.take(pod(
            "source-controller-1",
            "source-controller",
            waiting("ContainerCreating", ""),
        ));
        assert_eq!(account.news(start), []);
        assert_eq!(
            account.news(start + GRACE),
            [Explanation::Unavailable(
                "source-controller: 0/1 available; Pod source-controller-1: ContainerCreating"
                    .into()
            )]
        );
    }

    #[test]
    fn crashes_unscheduled_pods_and_stuck_rollouts_are_quoted() {
        let crashed = json!({"phase": "Running", "containerStatuses": [{"name": "m", "image": "x",
            "imageID": "", "ready": false, "restartCount": 3,
            "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]});
        let unscheduled = json!({"phase": "Pending", "conditions": [{"type": "PodScheduled",
            "status": "False", "reason": "Unschedulable",
            "message": "0/3 nodes are available:\n3 Insufficient memory."}]});
        let start = Instant::now();
        let mut account = Account::new(&responders(), start);
        account.take(deployment(0));
        account.take(pod("source-controller-a", "source-controller", crashed));
        account.take(pod("source-controller-b", "source-controller", unscheduled));
        assert_eq!(
            account.unavailable()["source-controller"],
            "source-controller: 0/1 available; Pod source-controller-a: OOMKilled (exit code 137); Pod source-controller-b: Unschedulable: 0/3 nodes are available: 3 Insufficient memory."
        );
    }

    #[test]
    fn the_heartbeat_says_what_is_awaited_for_how_long_and_what_stands_in_the_way() {
        let start = Instant::now();
        let mut account = Account::new(&responders(), start);
        assert_eq!(
            account.heartbeat(
                "GitRepository flux-system/flux-system",
                Duration::from_secs(30)
            ),
            "still waiting for GitRepository flux-system/flux-system (30s)"
        );
        account.take(deployment(0));
        assert_eq!(
            account.heartbeat(
                "GitRepository flux-system/flux-system",
                Duration::from_secs(150)
            ),
            "still waiting for GitRepository flux-system/flux-system (2m); source-controller: 0/1 available"
        );
    }

    #[test]
    fn long_messages_are_shortened_to_one_line() {
        let long = "x\n".repeat(400);
        let text = reason_and_message("R", Some(&long));
        assert_eq!(text.chars().count(), "R: ".len() + MESSAGE_CHARS + 1);
        assert!(!text.contains('\n'));
    }
}
