//! The local repository's objects, through gix and without a worktree: read a file from a
//! commit's tree, write blobs into an edited tree, and commit only when the tree changed
//! (identical content gives an identical tree id, so "nothing changed" needs no diff).

use std::path::Path;

use gix::ObjectId;
use gix::objs::tree::EntryKind;

use gix::refs::Target;
use gix::refs::transaction::{PreviousValue, RefEdit};

use super::Signature;
use super::error::{Error, Result};
use super::sign::Signer;

/// A bare repository on disk, named by the remote it mirrors (for messages).
pub(crate) struct LocalRepo<'a> {
    pub git_dir: &'a Path,
    pub url: &'a str,
}

impl LocalRepo<'_> {
    /// Creates an empty bare repository at `git_dir`.
    pub(crate) fn init(&self) -> Result<()> {
        gix::init_bare(self.git_dir)
            .map(drop)
            .map_err(|err| self.failed("create the local repository", err))
    }

    /// Opens the repository without reading the user's or system's Git configuration.
    pub(super) fn open(&self) -> Result<gix::Repository> {
        gix::open_opts(self.git_dir, gix::open::Options::isolated())
            .map_err(|err| self.failed("open the local repository", err))
    }

    /// The commit `refs/heads/<branch>` points at, None when the branch does not exist.
    pub(crate) fn branch_tip(&self, branch: &str) -> Result<Option<ObjectId>> {
        let repo = self.open()?;
        let reference = repo
            .try_find_reference(format!("refs/heads/{branch}").as_str())
            .map_err(|err| self.failed("read the branch", err))?;
        match reference {
            None => Ok(None),
            Some(mut reference) => reference
                .peel_to_id()
                .map(|id| Some(id.detach()))
                .map_err(|err| self.failed("read the branch", err)),
        }
    }

    /// The content of the file at `path` in `commit`'s tree; None when absent (or no commit).
    pub(crate) fn read_file(
        &self,
        commit: Option<ObjectId>,
        path: &str,
    ) -> Result<Option<Vec<u8>>> {
        validate_path(path)?;
        let Some(commit) = commit else {
            return Ok(None);
        };
        let repo = self.open()?;
        let tree = repo
            .find_commit(commit)
            .and_then(|commit| commit.tree())
            .map_err(|err| self.failed("read the commit's tree", err))?;
        let entry = tree
            .lookup_entry_by_path(path)
            .map_err(|err| self.failed("look up a file", err))?;
        let Some(entry) = entry else {
            return Ok(None);
        };
        if !entry.mode().is_blob() {
            return Err(Error::GitPath {
                path: path.to_string(),
                reason: "the repository has a folder, link or submodule there, not a file"
                    .to_string(),
            });
        }
        let blob = entry
            .object()
            .map_err(|err| self.failed("read a file", err))?;
        Ok(Some(blob.detach().data))
    }

    /// Writes `files` over `parent`'s tree (other files kept) and commits on `branch` when the
    /// tree changed; returns the new commit, or None when the tree is the same (or there is no
    /// parent and nothing to write).
    pub(crate) fn commit(
        &self,
        branch: &str,
        parent: Option<ObjectId>,
        files: &[(String, Vec<u8>)],
        message: &str,
        author: &Signature,
        signer: Option<&Signer>,
    ) -> Result<Option<ObjectId>> {
        for (path, _) in files {
            validate_path(path)?;
        }
        let repo = self.open()?;
        let base_tree = match parent {
            Some(parent) => repo
                .find_commit(parent)
                .and_then(|commit| commit.tree_id())
                .map(|id| id.detach())
                .map_err(|err| self.failed("read the branch's tree", err))?,
            None => ObjectId::empty_tree(repo.object_hash()),
        };
        let mut editor = repo
            .edit_tree(base_tree)
            .map_err(|err| self.failed("edit the tree", err))?;
        for (path, content) in files {
            let blob = repo
                .write_blob(content)
                .map_err(|err| self.failed("write a file", err))?;
            // An executable file stays executable; everything else becomes a regular file.
            let kind = match editor.get(path.as_str()).map(|entry| entry.mode()) {
                Some(mode) if mode.is_executable() => EntryKind::BlobExecutable,
                _ => EntryKind::Blob,
            };
            editor
                .upsert(path.as_str(), kind, blob.detach())
                .map_err(|err| self.failed("edit the tree", err))?;
        }
        let tree = editor
            .write()
            .map_err(|err| self.failed("write the tree", err))?
            .detach();
        if tree == base_tree {
            return Ok(None);
        }
        self.commit_tree(&repo, branch, parent, tree, message, author, signer)
            .map(Some)
    }

    /// Commits `tree` on `branch` with `parent` (None: a root commit), `author` as author and
    /// committer, signed by `signer` when given, and moves the branch to it.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn commit_tree(
        &self,
        repo: &gix::Repository,
        branch: &str,
        parent: Option<ObjectId>,
        tree: ObjectId,
        message: &str,
        author: &Signature,
        signer: Option<&Signer>,
    ) -> Result<ObjectId> {
        let signature = gix::actor::Signature {
            name: author.name.as_str().into(),
            email: author.email.as_str().into(),
            time: gix::date::Time::now_local_or_utc(),
        };
        let message: String = if message.ends_with('\n') {
            message.to_string()
        } else {
            format!("{message}\n")
        };
        // As flux (go-git) does: the committer is the author.
        let mut commit = gix::objs::Commit {
            tree,
            parents: parent.into_iter().collect(),
            author: signature.clone(),
            committer: signature,
            encoding: None,
            message: message.as_str().into(),
            extra_headers: Vec::new(),
        };
        if let Some(signer) = signer {
            // As git does: the signature covers the object without the header that holds it.
            let mut payload = Vec::new();
            gix::objs::WriteTo::write_to(&commit, &mut payload)
                .map_err(|err| self.failed("encode the commit", err))?;
            let armored = signer.sign(&payload)?;
            commit.extra_headers.push(("gpgsig".into(), armored.into()));
        }
        let id = repo
            .write_object(&commit)
            .map_err(|err| self.failed("write the commit", err))?
            .detach();
        let expected = match parent {
            Some(parent) => PreviousValue::ExistingMustMatch(Target::Object(parent)),
            None => PreviousValue::MustNotExist,
        };
        let name: gix::refs::FullName = format!("refs/heads/{branch}")
            .try_into()
            .map_err(|err| self.failed("name the branch", err))?;
        let summary = message.lines().next().unwrap_or_default().to_string();
        let mut time = gix::date::parse::TimeBuf::default();
        repo.edit_references_as(
            Some(RefEdit::update(
                name,
                id,
                expected,
                format!("commit: {summary}"),
            )),
            Some(commit.committer.to_ref(&mut time)),
        )
        .map_err(|err| self.failed("move the branch", err))?;
        Ok(id)
    }

    pub(super) fn failed(
        &self,
        operation: &'static str,
        err: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        Error::GitRepository {
            url: self.url.to_string(),
            operation,
            source: Box::new(err),
        }
    }
}

/// A path inside the repository: relative, `/`-separated, no empty, `.` or `..` parts, and not
/// inside `.git`.
pub(crate) fn validate_path(path: &str) -> Result<()> {
    let invalid = |reason: &str| Error::GitPath {
        path: path.to_string(),
        reason: reason.to_string(),
    };
    if path.is_empty() {
        return Err(invalid("it is empty"));
    }
    if path.starts_with('/') {
        return Err(invalid("it must be relative to the repository root"));
    }
    if path.contains('\\') || path.contains('\0') {
        return Err(invalid("use / between folders; \\ and NUL are not allowed"));
    }
    for part in path.split('/') {
        match part {
            "" => return Err(invalid("it has an empty part (// or a trailing /)")),
            "." | ".." => return Err(invalid("it must not contain . or .. parts")),
            _ if part.eq_ignore_ascii_case(".git") => {
                return Err(invalid("it must not be inside .git"));
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::test_support::git;
    use std::process::Command;

    fn signature() -> Signature {
        Signature {
            name: "Flux".to_string(),
            email: String::new(),
        }
    }

    fn files(entries: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        entries
            .iter()
            .map(|(path, content)| (path.to_string(), content.as_bytes().to_vec()))
            .collect()
    }

    fn fresh() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let git_dir = dir.path().join("repo.git");
        LocalRepo {
            git_dir: &git_dir,
            url: "file:///test",
        }
        .init()
        .unwrap();
        (dir, git_dir)
    }

    #[test]
    fn first_commit_in_an_empty_repository_is_the_branch_root() {
        let (_dir, git_dir) = fresh();
        let repo = LocalRepo {
            git_dir: &git_dir,
            url: "file:///test",
        };
        assert_eq!(repo.branch_tip("main").unwrap(), None);
        let path = "clusters/my-cluster/flux-system/gotk-sync.yaml";
        let commit = repo
            .commit(
                "main",
                None,
                &files(&[(path, "kind: Kustomization\n")]),
                "Add Flux sync manifests",
                &signature(),
                None,
            )
            .unwrap()
            .expect("a commit");
        assert_eq!(repo.branch_tip("main").unwrap(), Some(commit));
        assert_eq!(git(&git_dir, &["rev-list", "--count", "main"]).trim(), "1");
        assert_eq!(
            git(
                &git_dir,
                &["log", "-1", "--format=%an|%ae|%cn|%ce|%s|%P", "main"]
            )
            .trim(),
            "Flux||Flux||Add Flux sync manifests|"
        );
        assert_eq!(
            git(&git_dir, &["show", &format!("main:{path}")]),
            "kind: Kustomization\n"
        );
        assert_eq!(
            repo.read_file(Some(commit), path).unwrap().as_deref(),
            Some(b"kind: Kustomization\n".as_slice())
        );
        assert_eq!(
            repo.read_file(Some(commit), "clusters/absent.yaml")
                .unwrap(),
            None
        );
        assert!(
            repo.read_file(Some(commit), "clusters/my-cluster").is_err(),
            "a folder is not a file"
        );
        // git itself finds the repository consistent.
        git(&git_dir, &["fsck", "--strict"]);
    }

    #[test]
    fn identical_content_makes_no_commit_and_other_files_are_kept() {
        let (_dir, git_dir) = fresh();
        let repo = LocalRepo {
            git_dir: &git_dir,
            url: "file:///test",
        };
        let first = repo
            .commit(
                "main",
                None,
                &files(&[("README.md", "hello\n"), ("apps/app.yaml", "a\n")]),
                "user content",
                &signature(),
                None,
            )
            .unwrap()
            .unwrap();
        let second = repo
            .commit(
                "main",
                Some(first),
                &files(&[("flux/gotk.yaml", "g\n")]),
                "Add Flux",
                &signature(),
                None,
            )
            .unwrap()
            .unwrap();
        assert_eq!(
            git(&git_dir, &["ls-tree", "-r", "--name-only", "main"]),
            "README.md\napps/app.yaml\nflux/gotk.yaml\n"
        );
        assert_eq!(
            git(&git_dir, &["rev-parse", "main^"]).trim(),
            first.to_string()
        );
        // Same content again: no commit, branch unchanged, no new objects needed.
        let again = repo
            .commit(
                "main",
                Some(second),
                &files(&[("flux/gotk.yaml", "g\n"), ("README.md", "hello\n")]),
                "Add Flux",
                &signature(),
                None,
            )
            .unwrap();
        assert_eq!(again, None);
        assert_eq!(repo.branch_tip("main").unwrap(), Some(second));
        assert_eq!(git(&git_dir, &["rev-list", "--count", "main"]).trim(), "2");
        // Nothing to write into an unborn branch: no commit either.
        assert_eq!(
            repo.commit("other", None, &[], "empty", &signature(), None)
                .unwrap(),
            None
        );
        assert_eq!(repo.branch_tip("other").unwrap(), None);
    }

    #[test]
    fn executable_files_stay_executable_when_rewritten() {
        let (dir, git_dir) = fresh();
        // A commit made by git with an executable script.
        let work = dir.path().join("work");
        let run = |args: &[&str]| {
            let out = Command::new("git")
                .current_dir(&work)
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        std::fs::create_dir(&work).unwrap();
        run(&["init", "-q", "-b", "main"]);
        std::fs::write(work.join("run.sh"), "#!/bin/sh\n").unwrap();
        run(&["update-index", "--add", "--chmod=+x", "run.sh"]);
        run(&[
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@e",
            "commit",
            "-q",
            "-m",
            "script",
        ]);
        run(&["push", "-q", &git_dir.display().to_string(), "main"]);
        let repo = LocalRepo {
            git_dir: &git_dir,
            url: "file:///test",
        };
        let tip = repo.branch_tip("main").unwrap();
        repo.commit(
            "main",
            tip,
            &files(&[("run.sh", "#!/bin/sh\necho\n")]),
            "edit",
            &signature(),
            None,
        )
        .unwrap()
        .unwrap();
        assert!(git(&git_dir, &["ls-tree", "main", "run.sh"]).starts_with("100755 "));
    }

    #[test]
    fn paths_outside_the_repository_or_into_git_are_refused() {
        for path in [
            "",
            "/etc/passwd",
            "a//b",
            "a/",
            "../x",
            "a/./b",
            ".git/config",
            "a/.GIT/x",
            "a\\b",
        ] {
            assert!(validate_path(path).is_err(), "{path:?} should be refused");
        }
        validate_path("clusters/my-cluster/flux-system/kustomization.yaml").unwrap();
        validate_path(".github/workflows/x.yaml").unwrap();
    }
}
