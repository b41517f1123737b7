//! The branch's history, for `history` and `rollback`: which commits changed a path, naming a
//! commit, ancestry, and restoring a path to what an older commit had, as a new commit on top
//! (never a rewrite of history: a rollback is reviewed and recorded like any other change).
//!
//! Trees and commits are read and written with gix, as bootstrap's commits are: restoring a
//! path is one tree edit (the old commit's entry for that path, a folder or a file, put in
//! place of the current one), so files added since disappear and removed ones come back
//! without touching anything outside the path. Two reads go to the system git on the local
//! repository instead (see `run_local`): `log` with a path, whose history simplification
//! (which commits count as changing a folder, merges included) is git's own definition and
//! not offered by gix, and `rev-parse`, whose revision syntax (abbreviated SHAs, `main~2`) is
//! what users type; gix's parser needs the `revision` feature, which this build leaves out.

use std::collections::BTreeMap;
use std::ffi::OsString;

use gix::ObjectId;
use gix::objs::tree::EntryMode;

use super::error::{Error, Result};
use super::remote::run_local;
use super::repo::validate_path;
use super::{Signature, Workspace};

/// One commit of the branch's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    /// The full commit id (40 hex digits).
    pub id: String,
    /// When the commit was made (the committer's time: when it landed on the branch, also
    /// for a rebased or cherry-picked change).
    pub time: jiff::Timestamp,
    /// The author's name.
    pub author: String,
    /// The first line of the message.
    pub subject: String,
}

impl Workspace {
    /// Commits of the branch that changed `path` (a file or folder relative to the repository
    /// root; `""`, `"."` or `"./"` for all), newest first, at most `limit`.
    ///
    /// Only the branch's first-parent line is followed: a merged pull request shows as its
    /// merge commit (the revision Flux fetched and applied), not as the commits of the merged
    /// branch, which the branch never pointed at.
    pub fn log(&self, path: &str, limit: usize) -> Result<Vec<CommitInfo>> {
        let path = normalize_path(path)?;
        let Some(tip) = self.tip else {
            return Ok(Vec::new());
        };
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut args: Vec<OsString> = [
            "log",
            "--first-parent",
            "--no-color",
            "--encoding=UTF-8",
            // One line per commit: id, committer time (Unix seconds), author, subject.
            "--format=%H%x00%ct%x00%an%x00%s",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        args.push(format!("--max-count={limit}").into());
        args.push(tip.to_string().into());
        args.push("--".into());
        if !path.is_empty() {
            args.push(path.into());
        }
        let output = run_local(&self.git_dir, &args)?;
        if !output.success {
            return Err(self.local_failed("log", &output.stderr));
        }
        output
            .stdout
            .lines()
            .filter(|line| !line.is_empty())
            .map(|line| self.parse_log_line(line))
            .collect()
    }

    /// Every file under `path` (repository paths, sorted) in the branch's tree: where a
    /// manifest is looked for (a HelmRelease's file in its Kustomization's folder).
    pub fn files(&self, path: &str) -> Result<Vec<String>> {
        let path = normalize_path(path)?;
        let Some(tip) = self.tip else {
            return Ok(Vec::new());
        };
        let mut args: Vec<OsString> = ["ls-tree", "-r", "-z", "--name-only"]
            .iter()
            .map(OsString::from)
            .collect();
        args.push(tip.to_string().into());
        args.push("--".into());
        if !path.is_empty() {
            args.push(path.into());
        }
        let output = run_local(&self.git_dir, &args)?;
        if !output.success {
            return Err(self.local_failed("ls-tree", &output.stderr));
        }
        let mut files: Vec<String> = output
            .stdout
            .split('\0')
            .filter(|name| !name.is_empty())
            .map(str::to_string)
            .collect();
        files.sort();
        Ok(files)
    }

    /// The full id of the commit `rev` names (a full or abbreviated SHA, or any revision git
    /// accepts, e.g. `main~2`) when it is in the fetched history; None when it is unknown.
    /// An abbreviated SHA that fits several objects is an error.
    pub fn resolve(&self, rev: &str) -> Result<Option<String>> {
        Ok(self.resolve_id(rev)?.map(|id| id.to_string()))
    }

    /// Whether `ancestor` is `descendant` or one of its ancestors (both named as for
    /// [`Workspace::resolve`]; an unknown one is an error).
    pub fn is_ancestor(&self, ancestor: &str, descendant: &str) -> Result<bool> {
        let ancestor = self.known_commit(ancestor)?;
        let descendant = self.known_commit(descendant)?;
        let repo = self.local().open()?;
        let walk = repo
            .rev_walk([descendant])
            .all()
            .map_err(|err| self.local().failed("walk the history", err))?;
        for info in walk {
            let info = info.map_err(|err| self.local().failed("walk the history", err))?;
            if info.id == ancestor {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Whether `commit` has `path` (a file or a folder; the root always exists).
    pub fn contains_path(&self, commit: &str, path: &str) -> Result<bool> {
        let path = normalize_path(path)?;
        let commit = self.known_commit(commit)?;
        let repo = self.local().open()?;
        let tree = self.commit_tree(&repo, commit)?;
        Ok(path.is_empty() || self.entry(&tree, &path)?.is_some())
    }

    /// Makes the branch's `path` (a file or folder; `""`/`"."` for the whole tree) exactly
    /// what it was in `from`: files added since are removed, removed ones restored, changed
    /// ones reverted, modes included; nothing outside `path` changes. Commits with `message`
    /// and `author` (as author and committer) when the tree changed and returns the new commit;
    /// None when the branch already had that content (no commit is made).
    ///
    /// Errors: `from` unknown ([`Error::GitUnknownCommit`]), or without `path`
    /// ([`Error::GitPathNotInCommit`]).
    pub fn restore_path(
        &mut self,
        path: &str,
        from: &str,
        message: &str,
        author: &Signature,
    ) -> Result<Option<String>> {
        let path = normalize_path(path)?;
        let from = self.known_commit(from)?;
        // `from` is known, so the branch has at least one commit.
        let Some(tip) = self.tip else {
            return Err(self.unknown(&from.to_string()));
        };
        let local = self.local();
        let repo = local.open()?;
        let old_tree = self.commit_tree(&repo, from)?;
        let current_tree = self.commit_tree(&repo, tip)?;
        let new_tree = if path.is_empty() {
            old_tree.id
        } else {
            let Some((mode, id)) = self.entry(&old_tree, &path)? else {
                return Err(Error::GitPathNotInCommit {
                    url: self.url.to_string(),
                    commit: from.to_string(),
                    path,
                });
            };
            let mut editor = repo
                .edit_tree(current_tree.id)
                .map_err(|err| local.failed("edit the tree", err))?;
            // A folder entry replaces the whole folder, so its content is exactly the old one.
            editor
                .upsert(path.as_str(), mode.kind(), id)
                .map_err(|err| local.failed("edit the tree", err))?;
            editor
                .write()
                .map_err(|err| local.failed("write the tree", err))?
                .detach()
        };
        if new_tree == current_tree.id {
            return Ok(None);
        }
        let commit = local.commit_tree(
            &repo,
            &self.branch,
            Some(tip),
            new_tree,
            message,
            author,
            self.signer.as_deref(),
        )?;
        self.tip = Some(commit);
        Ok(Some(commit.to_string()))
    }

    /// The files under `path` that differ between commits `from` and `to`, as (`A` added in
    /// `to`, `M` changed content or mode, `D` deleted in `to`; repository path), sorted by
    /// path: with `from` the branch's head and `to` the target, what
    /// [`Workspace::restore_path`] would change.
    pub fn changed_files(&self, from: &str, to: &str, path: &str) -> Result<Vec<(char, String)>> {
        let path = normalize_path(path)?;
        let from = self.known_commit(from)?;
        let to = self.known_commit(to)?;
        let repo = self.local().open()?;
        let before = self.files_under(&repo, from, &path)?;
        let after = self.files_under(&repo, to, &path)?;
        let mut changes = Vec::new();
        for (file, entry) in &before {
            match after.get(file) {
                None => changes.push(('D', file.clone())),
                Some(other) if other != entry => changes.push(('M', file.clone())),
                Some(_) => {}
            }
        }
        for file in after.keys().filter(|file| !before.contains_key(*file)) {
            changes.push(('A', file.clone()));
        }
        changes.sort_by(|a, b| a.1.cmp(&b.1));
        Ok(changes)
    }

    /// Every non-folder entry at or under `path` in `commit` (the whole tree for `""`), by
    /// repository path.
    fn files_under(
        &self,
        repo: &gix::Repository,
        commit: ObjectId,
        path: &str,
    ) -> Result<BTreeMap<String, (EntryMode, ObjectId)>> {
        let root = self.commit_tree(repo, commit)?;
        let mut files = BTreeMap::new();
        let (tree, prefix) = if path.is_empty() {
            (root, String::new())
        } else {
            match self.entry(&root, path)? {
                None => return Ok(files),
                Some((mode, id)) if !mode.is_tree() => {
                    files.insert(path.to_string(), (mode, id));
                    return Ok(files);
                }
                Some((_, id)) => (
                    repo.find_tree(id)
                        .map_err(|err| self.local().failed("read a folder", err))?,
                    format!("{path}/"),
                ),
            }
        };
        let entries = tree
            .traverse()
            .breadthfirst
            .files()
            .map_err(|err| self.local().failed("read a folder", err))?;
        for entry in entries.into_iter().filter(|entry| !entry.mode.is_tree()) {
            files.insert(
                format!("{prefix}{}", String::from_utf8_lossy(&entry.filepath)),
                (entry.mode, entry.oid),
            );
        }
        Ok(files)
    }

    /// The entry (mode and object) at `path` of `tree`.
    fn entry(&self, tree: &gix::Tree<'_>, path: &str) -> Result<Option<(EntryMode, ObjectId)>> {
        let entry = tree
            .lookup_entry_by_path(path)
            .map_err(|err| self.local().failed("look up a path", err))?;
        Ok(entry.map(|entry| (entry.mode(), entry.object_id())))
    }

    fn commit_tree<'r>(
        &self,
        repo: &'r gix::Repository,
        commit: ObjectId,
    ) -> Result<gix::Tree<'r>> {
        repo.find_commit(commit)
            .and_then(|commit| commit.tree())
            .map_err(|err| self.local().failed("read the commit's tree", err))
    }

    /// The commit `rev` names, or [`Error::GitUnknownCommit`].
    fn known_commit(&self, rev: &str) -> Result<ObjectId> {
        self.resolve_id(rev)?.ok_or_else(|| self.unknown(rev))
    }

    fn resolve_id(&self, rev: &str) -> Result<Option<ObjectId>> {
        if self.tip.is_none() || rev.is_empty() || rev.starts_with('-') {
            return Ok(None);
        }
        let args: Vec<OsString> = [
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &format!("{rev}^{{commit}}"),
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let output = run_local(&self.git_dir, &args)?;
        if !output.success {
            if output.stderr.contains("ambiguous") {
                return Err(Error::GitRef {
                    url: self.url.to_string(),
                    reference: rev.to_string(),
                    reason: "the abbreviated SHA fits several objects; give more of its digits"
                        .to_string(),
                });
            }
            return Ok(None);
        }
        let text = output.stdout.trim();
        ObjectId::from_hex(text.as_bytes())
            .map(Some)
            .map_err(|err| self.local().failed("read a commit id", err))
    }

    fn parse_log_line(&self, line: &str) -> Result<CommitInfo> {
        let mut fields = line.splitn(4, '\0');
        let (Some(id), Some(time), Some(author), Some(subject)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(self.local_failed("log", &format!("unexpected line {line:?}")));
        };
        let time = time
            .parse::<i64>()
            .ok()
            .and_then(|seconds| jiff::Timestamp::from_second(seconds).ok())
            .ok_or_else(|| self.local_failed("log", &format!("unexpected time in {line:?}")))?;
        Ok(CommitInfo {
            id: id.to_string(),
            time,
            author: author.to_string(),
            subject: subject.to_string(),
        })
    }

    fn unknown(&self, rev: &str) -> Error {
        Error::GitUnknownCommit {
            url: self.url.to_string(),
            branch: self.branch.clone(),
            reference: rev.to_string(),
        }
    }

    fn local_failed(&self, operation: &'static str, stderr: &str) -> Error {
        Error::GitFailed {
            operation,
            url: self.url.to_string(),
            cause: stderr.trim().to_string(),
        }
    }
}

/// A path as Flux's `spec.path` writes it (`./apps`, `apps/`, `apps`), made repository-relative
/// without `./` or a trailing `/`; `""`, `"."` and `"./"` are the root, returned as `""`.
pub(crate) fn normalize_path(path: &str) -> Result<String> {
    let mut rest = path.trim();
    while let Some(stripped) = rest.strip_prefix("./") {
        rest = stripped.trim_start_matches('/');
    }
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest == "." {
        return Ok(String::new());
    }
    validate_path(rest)?;
    Ok(rest.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::test_support::git;
    use crate::git::{Auth, PushOutcome, Remote, clone};
    use std::path::{Path, PathBuf};

    /// Writes (`Some`) or deletes (`None`) files in the work tree `work` and commits them;
    /// returns the commit id.
    fn commit(work: &Path, files: &[(&str, Option<&str>)], message: &str) -> String {
        for (path, content) in files {
            let file = work.join(path);
            match content {
                Some(content) => {
                    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                    std::fs::write(&file, content).unwrap();
                }
                None => std::fs::remove_file(&file).unwrap(),
            }
        }
        git(work, &["add", "-A"]);
        git(work, &["commit", "-q", "-m", message]);
        git(work, &["rev-parse", "HEAD"]).trim().to_string()
    }

    /// The commits of the test repository's `main`, oldest first.
    struct History {
        c1: String,
        c2: String,
        c3: String,
        c4: String,
        side: String,
        c5: String,
        merge: String,
        /// A commit on another branch of the remote, never fetched.
        other: String,
    }

    /// A bare remote whose `main` has:
    /// - c1: apps/app/{a,b}.yaml, infra/x.yaml, README.md
    /// - c2: a.yaml changed, b.yaml deleted
    /// - c3: apps/app/c.yaml added, infra/x.yaml and README.md changed
    /// - c4: infra/x.yaml changed
    /// - c5: README.md changed, then the merge (no fast-forward) of a branch from c4 whose one
    ///   commit (`side`) adds apps/app/d.yaml.
    fn remote_with_history(dir: &Path) -> (PathBuf, Remote, History) {
        let bare = dir.join("remote.git");
        let work = dir.join("work");
        std::fs::create_dir(&bare).unwrap();
        std::fs::create_dir(&work).unwrap();
        git(&bare, &["init", "-q", "--bare", "-b", "main"]);
        git(&work, &["init", "-q", "-b", "main"]);
        let c1 = commit(
            &work,
            &[
                ("apps/app/a.yaml", Some("a1\n")),
                ("apps/app/b.yaml", Some("b1\n")),
                ("infra/x.yaml", Some("x1\n")),
                ("README.md", Some("r1\n")),
            ],
            "v1: the app",
        );
        let c2 = commit(
            &work,
            &[("apps/app/a.yaml", Some("a2\n")), ("apps/app/b.yaml", None)],
            "v2: a changed, b gone",
        );
        let c3 = commit(
            &work,
            &[
                ("apps/app/c.yaml", Some("c\n")),
                ("infra/x.yaml", Some("x2\n")),
                ("README.md", Some("r2\n")),
            ],
            "v3: c added",
        );
        let c4 = commit(&work, &[("infra/x.yaml", Some("x3\n"))], "infra only");
        git(&work, &["checkout", "-q", "-b", "side"]);
        let side = commit(&work, &[("apps/app/d.yaml", Some("d\n"))], "side: d");
        git(&work, &["checkout", "-q", "main"]);
        let c5 = commit(&work, &[("README.md", Some("r3\n"))], "readme");
        git(
            &work,
            &["merge", "-q", "--no-ff", "-m", "Merge side", "side"],
        );
        let merge = git(&work, &["rev-parse", "HEAD"]).trim().to_string();
        git(&work, &["checkout", "-q", "-b", "other", &c1]);
        let other = commit(&work, &[("other.yaml", Some("o\n"))], "other branch");
        git(
            &work,
            &["push", "-q", &bare.display().to_string(), "main", "other"],
        );
        let remote = Remote {
            url: format!("file://{}", bare.display()),
            auth: Auth::None,
            ca_file: None,
            insecure_http: false,
        };
        let history = History {
            c1,
            c2,
            c3,
            c4,
            side,
            c5,
            merge,
            other,
        };
        (bare, remote, history)
    }

    fn ids(commits: &[CommitInfo]) -> Vec<&str> {
        commits.iter().map(|commit| commit.id.as_str()).collect()
    }

    fn signature() -> Signature {
        Signature {
            name: "Roll Back".to_string(),
            email: "rb@example.com".to_string(),
        }
    }

    #[test]
    fn log_follows_the_first_parent_line_filtered_by_path_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let (bare, remote, h) = remote_with_history(dir.path());
        let workspace = clone(&remote, "main").unwrap();

        let app = workspace.log("./apps/app/", 20).unwrap();
        // The merge stands for the side branch's commit, which main never pointed at.
        assert_eq!(ids(&app), [&h.merge, &h.c3, &h.c2, &h.c1]);
        assert_eq!(
            app.iter()
                .map(|commit| commit.subject.as_str())
                .collect::<Vec<_>>(),
            [
                "Merge side",
                "v3: c added",
                "v2: a changed, b gone",
                "v1: the app"
            ]
        );
        assert!(app.iter().all(|commit| commit.author == "Someone"));
        let time: i64 = git(&bare, &["log", "-1", "--format=%ct", &h.c1])
            .trim()
            .parse()
            .unwrap();
        assert_eq!(app[3].time.as_second(), time);

        for path in ["apps/app", "apps/app/", "./apps/app"] {
            assert_eq!(workspace.log(path, 20).unwrap(), app, "{path}");
        }
        assert_eq!(
            ids(&workspace.log("apps/app", 2).unwrap()),
            [&h.merge, &h.c3]
        );
        assert_eq!(workspace.log("apps/app", 0).unwrap(), []);
        assert_eq!(
            ids(&workspace.log("infra/x.yaml", 20).unwrap()),
            [&h.c4, &h.c3, &h.c1]
        );
        for root in ["", ".", "./"] {
            assert_eq!(
                ids(&workspace.log(root, 20).unwrap()),
                [&h.merge, &h.c5, &h.c4, &h.c3, &h.c2, &h.c1],
                "{root:?}"
            );
        }
        assert_eq!(workspace.log("absent", 20).unwrap(), []);
        assert!(matches!(
            workspace.log("../etc", 20),
            Err(Error::GitPath { .. })
        ));
    }

    #[test]
    fn files_lists_the_tree_under_a_path() {
        let dir = tempfile::tempdir().unwrap();
        let (_bare, remote, _h) = remote_with_history(dir.path());
        let workspace = clone(&remote, "main").unwrap();
        assert_eq!(
            workspace.files("./apps/app").unwrap(),
            ["apps/app/a.yaml", "apps/app/c.yaml", "apps/app/d.yaml"]
        );
        assert_eq!(workspace.files("absent").unwrap(), Vec::<String>::new());
        assert!(
            workspace
                .files("")
                .unwrap()
                .contains(&"README.md".to_string())
        );
    }

    #[test]
    fn commits_resolve_by_abbreviated_sha_and_ancestry_is_known() {
        let dir = tempfile::tempdir().unwrap();
        let (_bare, remote, h) = remote_with_history(dir.path());
        let workspace = clone(&remote, "main").unwrap();

        assert_eq!(workspace.resolve(&h.c2[..7]).unwrap(), Some(h.c2.clone()));
        assert_eq!(workspace.resolve(&h.c2).unwrap(), Some(h.c2.clone()));
        assert_eq!(workspace.resolve("main~1").unwrap(), Some(h.c5.clone()));
        assert_eq!(workspace.resolve("main").unwrap(), Some(h.merge.clone()));
        // A commit of a branch that was not fetched is unknown, as are made-up names.
        assert_eq!(workspace.resolve(&h.other).unwrap(), None);
        assert_eq!(workspace.resolve(&h.other[..8]).unwrap(), None);
        for unknown in ["", "0000000", "no-such-ref", "--all", "-n"] {
            assert_eq!(workspace.resolve(unknown).unwrap(), None, "{unknown:?}");
        }

        assert!(workspace.is_ancestor(&h.c1, &h.merge).unwrap());
        assert!(workspace.is_ancestor(&h.c1[..7], "main").unwrap());
        assert!(workspace.is_ancestor(&h.side, &h.merge).unwrap());
        assert!(workspace.is_ancestor(&h.c3, &h.c3).unwrap());
        assert!(!workspace.is_ancestor(&h.merge, &h.c1).unwrap());
        assert!(!workspace.is_ancestor(&h.side, &h.c5).unwrap());
        let err = workspace.is_ancestor(&h.other, &h.merge).unwrap_err();
        assert!(matches!(err, Error::GitUnknownCommit { .. }), "{err}");
        assert!(err.to_string().contains(&h.other), "{err}");

        assert!(workspace.contains_path(&h.c1, "apps/app/b.yaml").unwrap());
        assert!(!workspace.contains_path(&h.c3, "apps/app/b.yaml").unwrap());
        assert!(!workspace.contains_path(&h.c1, "apps/app/c.yaml").unwrap());
        assert!(workspace.contains_path(&h.c1, "./apps/app/").unwrap());
        assert!(workspace.contains_path(&h.c1, ".").unwrap());
        assert!(!workspace.contains_path(&h.c1, "apps/other").unwrap());
    }

    #[test]
    fn restoring_a_folder_makes_it_the_old_one_and_pushes_end_to_end() {
        let dir = tempfile::tempdir().unwrap();
        let (bare, remote, h) = remote_with_history(dir.path());
        let mut workspace = clone(&remote, "main").unwrap();

        // What the restore will do: b.yaml back, a.yaml reverted, c.yaml and d.yaml removed.
        assert_eq!(
            workspace
                .changed_files(&h.merge, &h.c1, "./apps/app")
                .unwrap(),
            [
                ('M', "apps/app/a.yaml".to_string()),
                ('A', "apps/app/b.yaml".to_string()),
                ('D', "apps/app/c.yaml".to_string()),
                ('D', "apps/app/d.yaml".to_string()),
            ]
        );
        let restored = workspace
            .restore_path("./apps/app", &h.c1[..7], "Roll back apps/app", &signature())
            .unwrap()
            .expect("a commit");
        assert_eq!(workspace.head().as_deref(), Some(restored.as_str()));
        assert_eq!(
            workspace
                .changed_files(&restored, &h.c1, "apps/app")
                .unwrap(),
            []
        );
        // Outside the folder nothing changed.
        assert_eq!(
            workspace.changed_files(&h.merge, &restored, "").unwrap(),
            workspace
                .changed_files(&h.merge, &h.c1, "apps/app")
                .unwrap()
        );
        // Already restored: nothing to commit.
        assert_eq!(
            workspace
                .restore_path("apps/app", &h.c1, "again", &signature())
                .unwrap(),
            None
        );
        assert_eq!(workspace.head().as_deref(), Some(restored.as_str()));

        assert_eq!(
            workspace.push().unwrap(),
            PushOutcome::Pushed {
                commit: restored.clone()
            }
        );
        // The remote's branch, read by git itself.
        let rev = |spec: &str| git(&bare, &["rev-parse", spec]).trim().to_string();
        assert_eq!(rev("main"), restored);
        assert_eq!(rev("main^"), h.merge);
        assert_eq!(rev("main:apps/app"), rev(&format!("{}:apps/app", h.c1)));
        assert_eq!(rev("main:infra"), rev(&format!("{}:infra", h.merge)));
        assert_eq!(
            rev("main:README.md"),
            rev(&format!("{}:README.md", h.merge))
        );
        assert_eq!(
            git(&bare, &["ls-tree", "-r", "--name-only", "main", "apps"]),
            "apps/app/a.yaml\napps/app/b.yaml\n"
        );
        assert_eq!(git(&bare, &["show", "main:apps/app/b.yaml"]), "b1\n");
        assert_eq!(
            git(&bare, &["log", "-1", "--format=%an|%ae|%cn|%s", "main"]).trim(),
            "Roll Back|rb@example.com|Roll Back|Roll back apps/app"
        );
        git(&bare, &["fsck", "--strict"]);
    }

    #[test]
    fn restoring_a_file_or_the_root_and_refusing_a_missing_path() {
        let dir = tempfile::tempdir().unwrap();
        let (_bare, remote, h) = remote_with_history(dir.path());
        let mut workspace = clone(&remote, "main").unwrap();

        assert_eq!(
            workspace
                .changed_files("main", &h.c2, "infra/x.yaml")
                .unwrap(),
            [('M', "infra/x.yaml".to_string())]
        );
        let file = workspace
            .restore_path("infra/x.yaml", &h.c2, "x back", &signature())
            .unwrap()
            .expect("a commit");
        assert_eq!(
            workspace.read_file("infra/x.yaml").unwrap().as_deref(),
            Some(b"x1\n".as_slice())
        );
        assert_eq!(
            workspace.changed_files(&h.merge, &file, "").unwrap(),
            [('M', "infra/x.yaml".to_string())]
        );

        for missing in ["apps/app/c.yaml", "apps/other"] {
            let err = workspace
                .restore_path(missing, &h.c1, "m", &signature())
                .unwrap_err();
            assert!(matches!(err, Error::GitPathNotInCommit { .. }), "{err}");
            let text = err.to_string();
            assert!(text.contains(missing) && text.contains(&h.c1), "{text}");
        }
        let err = workspace
            .restore_path("apps/app", &h.other, "m", &signature())
            .unwrap_err();
        assert!(matches!(err, Error::GitUnknownCommit { .. }), "{err}");
        assert_eq!(workspace.head().as_deref(), Some(file.as_str()));

        // The whole tree, for a Kustomization whose path is the repository root.
        let root = workspace
            .restore_path("./", &h.c1, "all back", &signature())
            .unwrap()
            .expect("a commit");
        assert_eq!(workspace.changed_files(&root, &h.c1, "").unwrap(), []);
        assert_eq!(workspace.log("", 1).unwrap()[0].id, root);
    }

    #[test]
    fn flux_path_forms_are_normalized() {
        for (path, expected) in [
            ("apps", "apps"),
            ("./apps", "apps"),
            ("apps/", "apps"),
            ("./apps/app/", "apps/app"),
            ("", ""),
            (".", ""),
            ("./", ""),
        ] {
            assert_eq!(normalize_path(path).unwrap(), expected, "{path:?}");
        }
        for bad in ["../x", "/abs", "a//b", ".git", "a/../b"] {
            assert!(normalize_path(bad).is_err(), "{bad:?}");
        }
    }
}
