//! `history`: the commits that changed a Kustomization's folder (or a HelmRelease's manifest
//! file) on its branch, each with what the cluster did with it, and a HelmRelease's Helm
//! releases. Git gives the commits (read with the user's own Git setup, see
//! [`crate::preview::source`]); the cluster gives the rest:
//! - `status.lastAppliedRevision`: the commit running now (`applied`, marked current);
//! - `status.lastAttemptedRevision` with Ready not True: the commit that `failed`, with the
//!   Ready message;
//! - Events that name a revision (kustomize-controller annotates them with
//!   `kustomize.toolkit.fluxcd.io/revision`): older commits `applied` or `failed`, for as long
//!   as the API server keeps Events (an hour by default);
//! - the GitRepository's fetched revision: newer commits are `not fetched` yet;
//! - ancestry: a commit between two applied ones that no Event names was `skipped`
//!   (superseded before it was reconciled); a fetched commit newer than the applied one and
//!   not attempted is `pending`; an older one with no record left is `unknown`.

use std::collections::HashMap;

use jiff::Timestamp;
use serde::Serialize;

use crate::cluster::connection::Connection;
use crate::flux::objects::FluxObject;
use crate::flux::status::condition;
use crate::git::{CommitInfo, Workspace};
use crate::preview::source::{GitSource, commit_of_revision};
use crate::recovery::subject::{Release, Subject};

/// What the cluster did with one commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Applied {
    Applied,
    Failed,
    NotFetched,
    Pending,
    Skipped,
    Unknown,
}

impl Applied {
    pub fn as_str(self) -> &'static str {
        match self {
            Applied::Applied => "applied",
            Applied::Failed => "failed",
            Applied::NotFetched => "not fetched",
            Applied::Pending => "pending",
            Applied::Skipped => "skipped",
            Applied::Unknown => "unknown",
        }
    }
}

/// One commit and what the cluster did with it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub commit: String,
    pub short: String,
    pub time: Timestamp,
    pub author: String,
    pub subject: String,
    pub state: Applied,
    /// The commit the cluster runs now.
    pub current: bool,
    /// The controller's message, for a failed commit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The history of one object.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct History {
    /// `Kustomization/<namespace>/<name>`.
    pub object: String,
    pub source: String,
    pub url: String,
    pub branch: String,
    /// The folder (repository path; "" is the root).
    pub path: String,
    pub entries: Vec<Entry>,
    /// For a HelmRelease: its Helm releases (`status.history`), newest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub releases: Vec<Release>,
}

/// What the cluster says about the object's revisions.
#[derive(Debug, Default, Clone)]
pub struct ClusterRecord {
    pub applied: Option<String>,
    pub attempted: Option<String>,
    /// Ready is not True: the attempted revision failed with this message.
    pub failure: Option<String>,
    pub fetched: Option<String>,
    /// Revisions Events still name: commit → (succeeded, message), latest Event wins.
    pub events: HashMap<String, (bool, String)>,
}

impl ClusterRecord {
    /// Reads the Kustomization's status and the Events about it.
    pub async fn read(
        connection: &Connection,
        object: &FluxObject,
        source: &GitSource,
    ) -> crate::Result<ClusterRecord> {
        let status = &object.object.data["status"];
        let revision = |field: &str| status[field].as_str().and_then(commit_of_revision);
        let ready = condition(&object.object, "Ready");
        let failure = ready
            .filter(|ready| ready.status != "True")
            .map(|ready| ready.message);
        let mut events = HashMap::new();
        let mut listed = crate::flux::events::list(connection, Some(object.namespace())).await?;
        listed.sort_by_key(|event| crate::flux::events::Seen::of(event).last_seen);
        for event in listed {
            let about = &event.involved_object;
            if about.kind.as_deref() != Some(object.kind.kind)
                || about.name.as_deref() != Some(object.name())
            {
                continue;
            }
            let annotations = event.metadata.annotations.clone().unwrap_or_default();
            let Some(commit) = annotations
                .iter()
                .find(|(key, _)| key.ends_with("/revision"))
                .and_then(|(_, value)| commit_of_revision(value))
            else {
                continue;
            };
            let succeeded = event.type_.as_deref() != Some("Warning");
            events.insert(
                commit,
                (succeeded, event.message.clone().unwrap_or_default()),
            );
        }
        Ok(ClusterRecord {
            applied: revision("lastAppliedRevision"),
            attempted: revision("lastAttemptedRevision"),
            failure,
            fetched: source.fetched.clone(),
            events,
        })
    }
}

/// Reads the history of `subject`: the commits that changed its folder (or manifest file),
/// judged by what the cluster says, and for a HelmRelease its Helm releases.
pub async fn read_history(subject: &Subject, limit: usize) -> crate::Result<History> {
    let remote = subject.source.remote.clone();
    let branch = subject.branch.clone();
    let record = subject.record.clone();
    // Blocking Git work (clone, find the path, log, ancestry) off the async runtime.
    let owned = subject.clone();
    let (path, entries) = tokio::task::spawn_blocking(move || -> crate::Result<_> {
        let workspace = crate::git::clone(&remote, &branch)?;
        let path = owned.path_in(&workspace)?;
        let commits = workspace.log(&path, limit)?;
        Ok((path, judge_all(&workspace, &commits, &record)?))
    })
    .await
    .map_err(|err| crate::Error::Runtime(std::io::Error::other(err.to_string())))??;
    Ok(History {
        object: subject.display_name(),
        source: subject.source.display_name.clone(),
        url: subject.source.remote.url.clone(),
        branch: subject.branch.clone(),
        path,
        entries,
        releases: subject.releases(),
    })
}

/// What the cluster did with each commit (newest first), by the rules of the module doc.
pub fn judge_all(
    workspace: &Workspace,
    commits: &[CommitInfo],
    record: &ClusterRecord,
) -> crate::Result<Vec<Entry>> {
    // Revisions from the cluster may be missing from the branch (force-pushed, or not fetched
    // here yet): such a commit is no ancestor of anything we read.
    let ancestor = |a: &str, b: &str| -> crate::Result<bool> {
        Ok(workspace.is_ancestor(a, b).unwrap_or(false))
    };
    let known_applied: Vec<&String> = record
        .events
        .iter()
        .filter(|(_, (ok, _))| *ok)
        .map(|(commit, _)| commit)
        .chain(record.applied.iter())
        .collect();
    let mut entries = Vec::with_capacity(commits.len());
    for commit in commits {
        let id = commit.id.as_str();
        let is = |other: &Option<String>| other.as_deref() == Some(id);
        let (state, message) = if is(&record.applied) {
            (Applied::Applied, None)
        } else if is(&record.attempted) && record.failure.is_some() {
            (Applied::Failed, record.failure.clone())
        } else if let Some((succeeded, message)) = record.events.get(id) {
            if *succeeded {
                (Applied::Applied, None)
            } else {
                (Applied::Failed, Some(message.clone()))
            }
        } else if let Some(fetched) = &record.fetched
            && !ancestor(id, fetched)?
        {
            (Applied::NotFetched, None)
        } else if let Some(applied) = &record.applied
            && !ancestor(id, applied)?
        {
            let superseded = match &record.attempted {
                Some(attempted) => attempted != id && ancestor(id, attempted)?,
                None => false,
            };
            if superseded {
                (Applied::Skipped, None)
            } else {
                (Applied::Pending, None)
            }
        } else {
            // Older than what runs now and no Event names it: skipped when an older applied
            // commit is known (it came between two applies), else nothing is left to tell.
            let mut between = false;
            for applied in &known_applied {
                if applied.as_str() != id && ancestor(applied, id)? {
                    between = true;
                    break;
                }
            }
            if between {
                (Applied::Skipped, None)
            } else {
                (Applied::Unknown, None)
            }
        };
        entries.push(Entry {
            commit: commit.id.clone(),
            short: commit.id.chars().take(7).collect(),
            time: commit.time,
            author: commit.author.clone(),
            subject: commit.subject.clone(),
            state,
            current: is(&record.applied),
            message,
        });
    }
    Ok(entries)
}

impl History {
    /// The table people read: newest first, the running commit marked with `*`.
    pub fn text(&self, now: Timestamp) -> String {
        let rows: Vec<Vec<String>> = self
            .entries
            .iter()
            .map(|entry| {
                let age = crate::ui::duration::age(Some(entry.time), now).unwrap_or_default();
                let mut state = entry.state.as_str().to_string();
                if let Some(message) = &entry.message {
                    state = format!("{state}: {}", one_line(message));
                }
                vec![
                    if entry.current { "*" } else { "" }.to_string(),
                    entry.short.clone(),
                    age,
                    entry.author.clone(),
                    entry.subject.clone(),
                    state,
                ]
            })
            .collect();
        let mut out = format!(
            "{} from {} ({} branch {}, path {}):\n",
            self.object,
            self.source,
            self.url,
            self.branch,
            if self.path.is_empty() {
                "."
            } else {
                &self.path
            }
        );
        if rows.is_empty() {
            out.push_str("no commit changed this path\n");
        } else {
            out.push_str(&crate::ui::output::table(
                &["", "commit", "age", "author", "subject", "cluster"],
                &rows,
            ));
        }
        if !self.releases.is_empty() {
            let rows: Vec<Vec<String>> = self
                .releases
                .iter()
                .map(|release| {
                    vec![
                        release.version.to_string(),
                        format!("{}@{}", release.chart_name, release.chart_version),
                        release.app_version.clone(),
                        release.status.clone(),
                        crate::ui::duration::age(release.deployed, now).unwrap_or_default(),
                    ]
                })
                .collect();
            out.push_str("Helm releases:\n");
            out.push_str(&crate::ui::output::table(
                &["release", "chart", "app version", "status", "age"],
                &rows,
            ));
        }
        out
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
