//! The one way this plugin waits for the cluster: watch (never poll) the objects a selector
//! picks, hand every observation to a judge, and stop at its verdict or at the deadline.
//! [`watch_until`] does that; [`follow`] is the same watch without judge or deadline, for
//! views that show every change (`status -w`).
//!
//! # What a failed watch means
//!
//! One policy for every wait and view, so they fail alike:
//!
//! - A watch the API server closes (its own timeout, a restart) is not a failure:
//!   kube-runtime's watcher opens it again from the last resourceVersion, or lists again after
//!   410 Gone. The watch never ends by itself.
//! - A failed list or watch request is retried after kube-runtime's default backoff (0.8 s,
//!   doubling up to 30 s, with jitter), and counts as a failure. Anything the server sends
//!   afterwards (an object, a deletion, a completed list) clears the count.
//! - Waiting gives up, with the typed error that names the watch, at once when waiting cannot
//!   change the answer: a 4xx other than 408, 410 and 429 (401 credentials, 403 RBAC, 404 kind
//!   not served, 400 bad selector), or a resource the server cannot watch; otherwise once the
//!   server has failed every attempt for longer than the outage it is allowed (`--request-timeout`,
//!   else [`OUTAGE_TOLERATED`]) and at least [`GIVE_UP_AFTER`] times in a row (an unreachable
//!   server, 5xx answers). An API server restarted within that time is no error: the watch
//!   resumes and the wait ends with the answer it would have had.
//! - The deadline bounds all of it, backoff sleeps included.
//!
//! Retried failures are logged at debug level by [`watch_until`]; [`follow`] hands them to its
//! caller, which may show them.
//!
//! docs/reconcile.md describes how the plugin's waits build on this.

use std::fmt::Debug;
use std::pin::pin;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use kube::Resource;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::DeserializeOwned;

use super::action::Action;
use super::error::{Error, Result};
use crate::cluster::connection::Connection;

/// Failed attempts in a row, at least, before a watch gives up on transient errors: a single
/// dropped connection is never an outage.
pub const GIVE_UP_AFTER: u32 = 3;

/// How long a server may fail every attempt before a watch gives up, when `--request-timeout`
/// does not say: long enough for an API server to restart (a few seconds), short enough that
/// a server that went away is reported well before a five-minute deadline.
pub const OUTAGE_TOLERATED: Duration = Duration::from_secs(30);

/// Which objects of an [`Api`] a watch follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// The one object with this name.
    Name(String),
    /// The objects whose labels match this selector (kubectl's `-l` syntax).
    Labels(String),
    /// Every object.
    All,
}

/// What to watch: the objects of `api` that `selector` picks. `resource` is the
/// `plural.group` that error messages name (`deployments.apps`).
pub struct Watched<K> {
    pub api: Api<K>,
    pub resource: String,
    pub selector: Selector,
}

/// One change the watch saw.
#[derive(Debug, Clone, PartialEq)]
pub enum Observed<K> {
    /// Created, changed, or found by the initial list.
    Applied(K),
    Deleted(K),
}

/// What [`follow`] yields.
#[derive(Debug)]
pub enum Followed<K> {
    Observed(Observed<K>),
    /// A request failed and is retried after the backoff; the error says why.
    Retrying(Error),
}

/// How [`watch_until`] ended, when no error stopped it.
#[derive(Debug, Clone, PartialEq)]
pub enum Waited<V, K> {
    /// The judge's verdict.
    Decided(V),
    /// The deadline passed first. `last_seen` is the object of the last `Applied`
    /// observation, from which the caller says where things stood.
    TimedOut { last_seen: Option<K> },
}

/// Watches `watched` until `judge` returns a verdict for an observation (`None` means keep
/// waiting), or `deadline` passes. Fails as the module's policy says. The judge may keep
/// state of its own, e.g. one entry per object of a label selector.
pub async fn watch_until<K, V>(
    connection: &Connection,
    watched: Watched<K>,
    judge: impl FnMut(&Observed<K>) -> Option<V>,
    deadline: Instant,
) -> Result<Waited<V, K>>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    until(follow(connection, watched), judge, deadline).await
}

/// The watch of `watched` as a stream of observations and retried failures, ending after one
/// `Err` when the policy gives up. Without judge or deadline: for views that follow changes.
pub fn follow<K>(
    connection: &Connection,
    watched: Watched<K>,
) -> impl Stream<Item = Result<Followed<K>>> + Send + 'static
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let Watched {
        api,
        resource,
        selector,
    } = watched;
    let mut action = Action::new("watch", &resource);
    let mut config = watcher::Config::default();
    match &selector {
        Selector::Name(name) => {
            config = config.fields(&format!("metadata.name={name}"));
            action = action.named(name);
        }
        Selector::Labels(labels) => config = config.labels(labels),
        Selector::All => {}
    }
    if let Some(namespace) = api.namespace() {
        action = action.in_namespace(namespace);
    }
    let context = ErrorContext {
        server: connection.server.clone(),
        request_timeout: connection.request_timeout,
        action,
    };
    // The backoff also keeps a watch that fails at once from spinning.
    governed(watcher(api, config).default_backoff().boxed(), context)
}

/// Applies the judge and the deadline to a followed watch.
async fn until<K, V>(
    followed: impl Stream<Item = Result<Followed<K>>>,
    mut judge: impl FnMut(&Observed<K>) -> Option<V>,
    deadline: Instant,
) -> Result<Waited<V, K>> {
    let mut last_seen = None;
    let deciding = async {
        let mut followed = pin!(followed);
        while let Some(item) = followed.next().await {
            let observed = match item? {
                Followed::Observed(observed) => observed,
                Followed::Retrying(error) => {
                    tracing::debug!("{error}; retrying");
                    continue;
                }
            };
            if let Some(verdict) = judge(&observed) {
                return Ok(Waited::Decided(verdict));
            }
            if let Observed::Applied(object) = observed {
                last_seen = Some(object);
            }
        }
        // `follow` ends only after its error, so this is not reached; were it reached, the
        // deadline would still end the wait.
        std::future::pending().await
    };
    match tokio::time::timeout_at(deadline.into(), deciding).await {
        Ok(result) => result,
        Err(_) => Ok(Waited::TimedOut { last_seen }),
    }
}

/// Turns the watcher's events into observations, under the module's failure policy.
fn governed<K, S>(events: S, context: ErrorContext) -> impl Stream<Item = Result<Followed<K>>>
where
    S: Stream<Item = std::result::Result<watcher::Event<K>, watcher::Error>> + Unpin,
{
    futures::stream::unfold(
        Some((events, Failures::default(), context)),
        |state| async move {
            let (mut events, mut failures, context) = state?;
            loop {
                let observed = match events.next().await {
                    Some(Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o))) => {
                        Observed::Applied(o)
                    }
                    Some(Ok(watcher::Event::Delete(o))) => Observed::Deleted(o),
                    Some(Ok(watcher::Event::InitDone)) => {
                        failures.clear();
                        continue;
                    }
                    // Sent before the list is even requested: says nothing about success.
                    Some(Ok(watcher::Event::Init)) => continue,
                    Some(Err(err)) => {
                        let tolerated = context.request_timeout.unwrap_or(OUTAGE_TOLERATED);
                        let next = failures.record(is_permanent(&err), Instant::now(), tolerated);
                        let error = context.error(err);
                        return Some(match next {
                            Next::Retry => (
                                Ok(Followed::Retrying(error)),
                                Some((events, failures, context)),
                            ),
                            Next::GiveUp => (Err(error), None),
                        });
                    }
                    None => return Some((Err(context.ended()), None)),
                };
                failures.clear();
                return Some((
                    Ok(Followed::Observed(observed)),
                    Some((events, failures, context)),
                ));
            }
        },
    )
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    Retry,
    GiveUp,
}

/// Failed attempts since the server last sent something, and when the first of them failed.
#[derive(Debug, Default)]
struct Failures {
    in_a_row: u32,
    since: Option<Instant>,
}

impl Failures {
    /// Counts a failure at `now`: give up when it is `permanent`, or when the server has failed
    /// for longer than `tolerated` and at least [`GIVE_UP_AFTER`] times in a row.
    fn record(&mut self, permanent: bool, now: Instant, tolerated: Duration) -> Next {
        self.in_a_row += 1;
        let since = *self.since.get_or_insert(now);
        let outage = self.in_a_row >= GIVE_UP_AFTER && now.duration_since(since) >= tolerated;
        if permanent || outage {
            Next::GiveUp
        } else {
            Next::Retry
        }
    }

    fn clear(&mut self) {
        self.in_a_row = 0;
        self.since = None;
    }
}

/// Whether the server would give the same answer however long we wait.
fn is_permanent(err: &watcher::Error) -> bool {
    let code = match err {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => match e {
            kube::Error::Api(status) => status.code,
            _ => return false,
        },
        watcher::Error::WatchError(status) => status.code,
        watcher::Error::NoResourceVersion => return true,
    };
    (400..500).contains(&code) && !matches!(code, 408 | 410 | 429)
}

/// What a watch's errors name: the server and the watch itself.
struct ErrorContext {
    server: String,
    request_timeout: Option<Duration>,
    action: Action,
}

impl ErrorContext {
    fn error(&self, err: watcher::Error) -> Error {
        let kube_error = match err {
            watcher::Error::InitialListFailed(e)
            | watcher::Error::WatchStartFailed(e)
            | watcher::Error::WatchFailed(e) => e,
            watcher::Error::WatchError(status) => kube::Error::Api(status),
            other @ watcher::Error::NoResourceVersion => {
                return Error::Client {
                    action: Box::new(self.action.clone()),
                    cause: other.to_string(),
                };
            }
        };
        Error::from_kube(
            kube_error,
            &self.server,
            self.request_timeout,
            self.action.clone(),
        )
    }

    fn ended(&self) -> Error {
        Error::Client {
            action: Box::new(self.action.clone()),
            cause: "the watch ended".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use kube::core::Status;

    type Event = std::result::Result<watcher::Event<String>, watcher::Error>;

    fn context() -> ErrorContext {
        ErrorContext {
            server: "https://127.0.0.1:6443".to_string(),
            // No outage tolerated beyond the attempts in a row: the sequences below are instant.
            request_timeout: Some(Duration::ZERO),
            action: Action::new("watch", "kustomizations.kustomize.toolkit.fluxcd.io")
                .named("apps")
                .in_namespace("default"),
        }
    }

    fn refused(code: u16) -> watcher::Error {
        let status = Status::failure("refused", "Refused").with_code(code);
        watcher::Error::InitialListFailed(kube::Error::Api(status.boxed()))
    }

    fn unreachable() -> watcher::Error {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        watcher::Error::WatchStartFailed(kube::Error::Service(Box::new(io)))
    }

    /// What `governed` makes of `events`, as short words.
    async fn governed_words(events: Vec<Event>) -> Vec<String> {
        governed(futures::stream::iter(events), context())
            .map(|item| match item {
                Ok(Followed::Observed(Observed::Applied(o))) => format!("applied {o}"),
                Ok(Followed::Observed(Observed::Deleted(o))) => format!("deleted {o}"),
                Ok(Followed::Retrying(_)) => "retrying".to_string(),
                Err(Error::Forbidden { .. }) => "gave up: forbidden".to_string(),
                Err(Error::Unreachable { .. }) => "gave up: unreachable".to_string(),
                Err(Error::Client { cause, .. }) => format!("gave up: {cause}"),
                Err(err) => format!("gave up: {err}"),
            })
            .collect()
            .await
    }

    #[test]
    fn client_errors_are_permanent_except_timeouts_gone_and_throttling() {
        for code in [400, 401, 403, 404, 405, 422] {
            assert!(is_permanent(&refused(code)), "{code}");
        }
        for code in [408, 410, 429, 500, 503] {
            assert!(!is_permanent(&refused(code)), "{code}");
        }
        assert!(!is_permanent(&unreachable()));
        assert!(is_permanent(&watcher::Error::NoResourceVersion));
    }

    #[test]
    fn failures_give_up_at_once_when_permanent_else_after_some_in_a_row() {
        let now = Instant::now();
        let mut failures = Failures::default();
        assert_eq!(failures.record(true, now, Duration::ZERO), Next::GiveUp);
        let mut failures = Failures::default();
        for _ in 1..GIVE_UP_AFTER {
            assert_eq!(failures.record(false, now, Duration::ZERO), Next::Retry);
        }
        failures.clear();
        for _ in 1..GIVE_UP_AFTER {
            assert_eq!(failures.record(false, now, Duration::ZERO), Next::Retry);
        }
        assert_eq!(failures.record(false, now, Duration::ZERO), Next::GiveUp);
    }

    #[test]
    fn an_outage_shorter_than_the_tolerated_time_is_ridden_out() {
        let start = Instant::now();
        let tolerated = Duration::from_secs(30);
        let mut failures = Failures::default();
        for seconds in [0, 1, 3, 6, 12, 25] {
            let at = start + Duration::from_secs(seconds);
            assert_eq!(
                failures.record(false, at, tolerated),
                Next::Retry,
                "{seconds}s"
            );
        }
        assert_eq!(
            failures.record(false, start + Duration::from_secs(30), tolerated),
            Next::GiveUp
        );
        // The server answered: a new outage starts from nothing.
        failures.clear();
        let later = start + Duration::from_secs(60);
        assert_eq!(failures.record(false, later, tolerated), Next::Retry);
        assert_eq!(
            failures.record(false, later + Duration::from_secs(31), tolerated),
            Next::Retry,
            "only two failures in a row"
        );
    }

    #[tokio::test]
    async fn a_forbidden_watch_gives_up_at_once_with_the_typed_error() {
        let events = vec![Ok(watcher::Event::Init), Err(refused(403))];
        assert_eq!(governed_words(events).await, ["gave up: forbidden"]);
    }

    #[tokio::test]
    async fn transient_failures_are_retried_until_too_many_come_in_a_row() {
        let events = vec![
            Ok(watcher::Event::Init),
            Err(unreachable()),
            Ok(watcher::Event::Init),
            Err(unreachable()),
            Ok(watcher::Event::Init),
            Err(unreachable()),
            Ok(watcher::Event::Apply("never seen".to_string())),
        ];
        assert_eq!(
            governed_words(events).await,
            ["retrying", "retrying", "gave up: unreachable"]
        );
    }

    #[tokio::test]
    async fn anything_the_server_sends_clears_the_failures() {
        let events = vec![
            Err(unreachable()),
            Err(unreachable()),
            Ok(watcher::Event::InitApply("a".to_string())),
            Err(unreachable()),
            Err(unreachable()),
            Ok(watcher::Event::InitDone),
            Err(unreachable()),
            Err(unreachable()),
            Ok(watcher::Event::Delete("a".to_string())),
        ];
        assert_eq!(
            governed_words(events).await,
            [
                "retrying",
                "retrying",
                "applied a",
                "retrying",
                "retrying",
                "retrying",
                "retrying",
                "deleted a",
                "gave up: the watch ended"
            ]
        );
    }

    fn observations(items: Vec<Observed<String>>) -> impl Stream<Item = Result<Followed<String>>> {
        futures::stream::iter(items.into_iter().map(|o| Ok(Followed::Observed(o))))
    }

    #[tokio::test]
    async fn the_judge_sees_deletions_and_its_verdict_ends_the_wait() {
        let mut seen = Vec::new();
        let waited = until(
            observations(vec![
                Observed::Applied("a".into()),
                Observed::Deleted("a".into()),
                Observed::Applied("never judged".into()),
            ]),
            |o| {
                seen.push(o.clone());
                matches!(o, Observed::Deleted(_)).then_some("gone")
            },
            Instant::now() + Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(waited, Waited::Decided("gone"));
        assert_eq!(seen.len(), 2);
    }

    #[tokio::test]
    async fn at_the_deadline_the_last_applied_object_is_returned() {
        let waited: Waited<(), String> = until(
            observations(vec![
                Observed::Applied("first".into()),
                Observed::Applied("second".into()),
            ]),
            |_| None,
            Instant::now() + Duration::from_millis(50),
        )
        .await
        .unwrap();
        assert_eq!(
            waited,
            Waited::TimedOut {
                last_seen: Some("second".into())
            }
        );
    }

    #[tokio::test]
    async fn a_given_up_watch_ends_the_wait_with_its_error() {
        let followed = futures::stream::iter(vec![
            Ok(Followed::Retrying(context().ended())),
            Err(context().ended()),
        ]);
        let waited = until(
            followed,
            |_: &Observed<String>| Some(()),
            Instant::now() + Duration::from_secs(5),
        )
        .await;
        assert!(matches!(waited, Err(Error::Client { .. })), "{waited:?}");
    }
}
