//! Fleet mode: one command over many clusters (kubeconfig contexts) at once, with one answer.
//!
//! Platform teams run Flux on many clusters, each its own context; asking each in turn is slow
//! and one stuck cluster stalls the rest. This layer runs a command's per-cluster function (the
//! same one its single-cluster path uses) on every selected cluster concurrently: each cluster
//! has its own connection (credentials, exec plugins, proxies, TLS) and its own request deadline
//! (`--request-timeout`, 10 s by default here), at most `--max-concurrency` at a time, and its
//! failure is that cluster's result rather than the command's. The commands then print the
//! results as one table, summary or report (docs/fleet.md).
//!
//! - [`select`]: which clusters (`--contexts` names and patterns, `--all-contexts`, `--fleet`).
//! - [`Fleet::run`]: everywhere at once; [`Fleet::run_in_waves`]: `--rollout`'s cautious order.

pub mod error;
pub mod reconcile;
pub mod select;
pub mod status;

use std::future::Future;
#[cfg(test)]
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::FuturesOrdered;
use futures::{FutureExt, StreamExt};

pub use error::Error;
pub use select::{FleetFlags, Member};

use crate::cluster::connection::{Connection, ConnectionFlags};

/// The request deadline of each cluster in fleet mode when `--request-timeout` is not given:
/// long enough for a far cluster, short enough that a dead one does not hold the answer long.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The selected clusters and how to connect to each.
pub struct Fleet {
    pub members: Vec<Member>,
    connection: ConnectionFlags,
    max_concurrency: usize,
}

/// One cluster's result.
pub struct Reached<T> {
    pub member: Member,
    pub result: crate::Result<T>,
}

impl Fleet {
    /// The fleet the flags select, or `None` without fleet flags (a single-cluster run).
    pub fn from_flags(
        fleet: &FleetFlags,
        connection: &ConnectionFlags,
    ) -> crate::Result<Option<Fleet>> {
        if !fleet.is_fleet() {
            return Ok(None);
        }
        if fleet.max_concurrency == 0 {
            return Err(Error::MaxConcurrency { value: 0 }.into());
        }
        let members = select::members(fleet, connection)?;
        let mut connection = connection.clone();
        if !connection.request_timeout_given() {
            connection.request_timeout = format!("{}s", DEFAULT_REQUEST_TIMEOUT.as_secs());
        }
        Ok(Some(Fleet {
            members,
            connection,
            max_concurrency: fleet.max_concurrency,
        }))
    }

    /// Runs `task` on every cluster, at most `--max-concurrency` at a time, each on its own
    /// connection; the results come in the fleet's order. A cluster that cannot be connected to
    /// or whose task fails has that error as its result.
    pub async fn run<T, F, Fut>(&self, task: F) -> Vec<Reached<T>>
    where
        T: Send + 'static,
        F: Fn(Member, Connection) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = crate::Result<T>> + Send + 'static,
    {
        let task = Arc::new(task);
        // Unordered, so the next cluster starts as soon as any one finishes, not only when the
        // earliest started one has; the fleet's order is restored afterwards.
        let mut reached: Vec<(usize, Reached<T>)> =
            futures::stream::iter(self.members.clone().into_iter().enumerate())
                .map(|(index, member)| {
                    self.spawn(member, task.clone())
                        .map(move |reached| (index, reached))
                })
                .buffer_unordered(self.max_concurrency)
                .collect()
                .await;
        reached.sort_by_key(|(index, _)| *index);
        reached.into_iter().map(|(_, reached)| reached).collect()
    }

    /// `--rollout N`: runs `task` on at most `at_once` clusters at a time, starting them in the
    /// fleet's order, and starts no more once one has failed (`failed` judges a result that is
    /// not an error); the clusters already started finish. Returns the results of the started
    /// clusters in order, and the clusters never started.
    pub async fn run_in_waves<T, F, Fut>(
        &self,
        at_once: usize,
        task: F,
        failed: impl Fn(&T) -> bool,
    ) -> (Vec<Reached<T>>, Vec<Member>)
    where
        T: Send + 'static,
        F: Fn(Member, Connection) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = crate::Result<T>> + Send + 'static,
    {
        let task = Arc::new(task);
        let mut waiting = self.members.clone().into_iter();
        let mut running = FuturesOrdered::new();
        let mut done = Vec::new();
        let mut stopped = false;
        loop {
            while !stopped && running.len() < at_once.max(1) {
                match waiting.next() {
                    Some(member) => running.push_back(self.spawn(member, task.clone())),
                    None => break,
                }
            }
            let Some(reached) = running.next().await else {
                break;
            };
            let reached: Reached<T> = reached;
            if reached.result.as_ref().map_or(true, &failed) {
                stopped = true;
            }
            done.push(reached);
        }
        (done, waiting.collect())
    }

    /// One cluster's connection and task, on a task of its own (so clusters' answers are
    /// decoded on every core).
    fn spawn<T, F, Fut>(
        &self,
        member: Member,
        task: Arc<F>,
    ) -> impl Future<Output = Reached<T>> + use<T, F, Fut>
    where
        T: Send + 'static,
        F: Fn(Member, Connection) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = crate::Result<T>> + Send + 'static,
    {
        let flags = member.connection_flags(&self.connection);
        let for_task = member.clone();
        let handle = tokio::spawn(async move {
            let connection = flags.connect().await?;
            task(for_task, connection).await
        });
        async move {
            let result = match handle.await {
                Ok(result) => result,
                Err(err) => Err(Error::TaskFailed {
                    cluster: member.name.clone(),
                    cause: err.to_string(),
                }
                .into()),
            };
            Reached { member, result }
        }
    }
}

/// A cluster's error in a few words, for lines that list many clusters.
pub fn brief(err: &crate::Error) -> String {
    match err {
        crate::Error::Cluster(err) => err.brief(),
        other => other.to_string(),
    }
}

/// Whether the error means the cluster could not be reached at all (rather than answered
/// with a refusal or failed later).
pub fn is_unreachable(err: &crate::Error) -> bool {
    use crate::cluster::Error as C;
    matches!(
        err,
        crate::Error::Cluster(C::Unreachable { .. } | C::Timeout { .. } | C::Tls { .. })
    )
}

/// The fleet's headline: "3 clusters: 2 reachable, 1 unreachable (prod-eu-3: connection
/// refused)", with "failed" for clusters that answered but could not be checked.
pub fn headline<'a>(
    results: impl IntoIterator<Item = (&'a str, Option<&'a crate::Error>)>,
) -> String {
    let mut total = 0;
    let mut reachable = 0;
    let mut unreachable = Vec::new();
    let mut failed = Vec::new();
    for (name, error) in results {
        total += 1;
        match error {
            None => reachable += 1,
            Some(err) if is_unreachable(err) => unreachable.push(format!("{name}: {}", brief(err))),
            Some(err) => failed.push(format!("{name}: {}", brief(err))),
        }
    }
    let mut line = format!(
        "{total} {}: {reachable} reachable",
        if total == 1 { "cluster" } else { "clusters" }
    );
    if !unreachable.is_empty() {
        line += &format!(
            ", {} unreachable ({})",
            unreachable.len(),
            unreachable.join(", ")
        );
    }
    if !failed.is_empty() {
        line += &format!(", {} failed ({})", failed.len(), failed.join(", "));
    }
    line
}

/// The fleet's version skew in one line: "Skew: kubernetes v1.36.3 everywhere; flux v2.9.4 on
/// 2, none on 1"; `None` values count as "none". Empty when no cluster answered.
pub fn skew(components: &[(&str, Vec<Option<String>>)]) -> String {
    let mut parts = Vec::new();
    for (label, values) in components {
        if values.is_empty() {
            continue;
        }
        let mut counts: Vec<(String, usize)> = Vec::new();
        for value in values {
            let value = value.clone().unwrap_or_else(|| "none".to_string());
            match counts.iter_mut().find(|(v, _)| *v == value) {
                Some((_, n)) => *n += 1,
                None => counts.push((value, 1)),
            }
        }
        counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        parts.push(match counts.as_slice() {
            [(only, _)] => format!("{label} {only} everywhere"),
            many => format!(
                "{label} {}",
                many.iter()
                    .map(|(v, n)| format!("{v} on {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("Skew: {}\n", parts.join("; "))
    }
}

/// The error a command returns when some clusters could not be reached or checked (exit 1).
pub fn clusters_failed<T>(results: &[Reached<T>]) -> Option<crate::Error> {
    let names: Vec<&str> = results
        .iter()
        .filter(|r| r.result.is_err())
        .map(|r| r.member.name.as_str())
        .collect();
    (!names.is_empty()).then(|| {
        Error::ClustersFailed {
            failed: names.len(),
            total: results.len(),
            names: names.join(", "),
        }
        .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fleet of contexts `names` (connecting makes no request, so no server is needed).
    fn fleet_of(test: &str, names: &[&str], max_concurrency: usize) -> (Fleet, PathBuf) {
        let dir = std::env::temp_dir().join(format!("fleet-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let kubeconfig = dir.join("config");
        let contexts: String = names
            .iter()
            .map(|n| format!("- name: {n}\n  context:\n    cluster: c\n    user: u\n"))
            .collect();
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:9\nusers:\n- name: u\n  user: {{}}\ncontexts:\n{contexts}"
            ),
        )
        .unwrap();
        let connection = ConnectionFlags {
            kubeconfig: Some(kubeconfig),
            ..ConnectionFlags::default()
        };
        let flags = FleetFlags {
            all_contexts: true,
            max_concurrency,
            ..FleetFlags::default()
        };
        let fleet = Fleet::from_flags(&flags, &connection).unwrap().unwrap();
        (fleet, dir)
    }

    #[tokio::test]
    async fn run_keeps_the_fleets_order_and_its_concurrency_limit() {
        let (fleet, dir) = fleet_of("run", &["a", "b", "c", "d", "e"], 2);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (r, m) = (running.clone(), most.clone());
        let results = fleet
            .run(move |member, connection| {
                let (running, most) = (r.clone(), m.clone());
                async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    // Later clusters finish first: the order must not follow.
                    let wait = 60 - 10 * member.name.as_bytes()[0].saturating_sub(b'a') as u64;
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    assert_eq!(connection.request_timeout, Some(DEFAULT_REQUEST_TIMEOUT));
                    Ok(member.context)
                }
            })
            .await;
        let names: Vec<String> = results.into_iter().map(|r| r.result.unwrap()).collect();
        assert_eq!(names, ["a", "b", "c", "d", "e"]);
        assert_eq!(most.load(Ordering::SeqCst), 2);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn waves_start_in_order_and_stop_after_a_failure() {
        let (fleet, dir) = fleet_of("waves", &["a", "b", "c", "d", "e"], 16);
        let (done, not_started) = fleet
            .run_in_waves(
                2,
                |member, _| async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Ok(member.name)
                },
                |name: &String| name == "c",
            )
            .await;
        let done: Vec<String> = done.into_iter().map(|r| r.result.unwrap()).collect();
        // a and b run; a's end starts c, b's end starts d; c fails, so e never starts.
        assert_eq!(done, ["a", "b", "c", "d"]);
        let not_started: Vec<&str> = not_started.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(not_started, ["e"]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_headline_counts_reachable_unreachable_and_failed_clusters() {
        let refused = crate::Error::Cluster(crate::cluster::Error::Timeout {
            server: "https://10.0.0.1:6443".into(),
            timeout: Duration::from_secs(10),
            action: Box::new(crate::cluster::action::Action::new("get", "/version")),
            source: None,
        });
        let forbidden = crate::Error::Cluster(crate::cluster::Error::Forbidden {
            user: "alice".into(),
            action: Box::new(crate::cluster::action::Action::new(
                "list",
                "kustomizations",
            )),
            message: "no".into(),
        });
        assert_eq!(
            headline([("a", None), ("b", Some(&refused)), ("c", Some(&forbidden))]),
            "3 clusters: 1 reachable, 1 unreachable (b: no answer within 10s), 1 failed (c: 403 Forbidden)"
        );
        assert_eq!(headline([("a", None)]), "1 cluster: 1 reachable");
    }

    #[test]
    fn skew_counts_each_version_most_common_first() {
        let v = |s: &str| Some(s.to_string());
        assert_eq!(
            skew(&[
                ("kubernetes", vec![v("v1.36.3"), v("v1.36.3")]),
                ("flux", vec![v("v2.8.0"), None, v("v2.9.4"), v("v2.9.4")]),
            ]),
            "Skew: kubernetes v1.36.3 everywhere; flux v2.9.4 on 2, none on 1, v2.8.0 on 1\n"
        );
        assert_eq!(skew(&[("flux", vec![])]), "");
    }
}
