//! A read-only checkout of one ref (branch, tag or commit) of a remote, in a private temporary
//! folder removed on drop: what `diff --ref` builds from. Fetched with the user's own Git
//! setup (ssh-agent, ssh config, credential helpers) or the given credentials, through the
//! same path as bootstrap's clone.

use std::path::{Path, PathBuf};

use super::remote::{Operation, RemoteGit};
use super::repo::LocalRepo;
use super::scratch::ScratchDir;
use super::{Error, GitUrl, Remote, Result, args, check_auth_fits, check_ca_file, git_version};

/// The files of one commit, checked out.
pub struct Checkout {
    /// The full commit id that was checked out.
    pub commit: String,
    tree: PathBuf,
    // Last, so it is dropped after everything that refers to its files.
    _dir: ScratchDir,
}

impl Checkout {
    /// The root of the checked-out files.
    pub fn root(&self) -> &Path {
        &self.tree
    }
}

/// Fetches `reference` (a branch, a tag or a commit id) of `remote` and checks it out.
pub fn checkout(remote: &Remote, reference: &str) -> Result<Checkout> {
    let url = GitUrl::parse(&remote.url)?;
    check_auth_fits(&url, remote)?;
    check_ca_file(remote)?;
    if reference.is_empty() || reference.starts_with('-') || reference.contains("..") {
        return Err(Error::GitRef {
            url: url.to_string(),
            reference: reference.to_string(),
            reason: "not a branch, tag or commit name".to_string(),
        });
    }
    git_version()?;
    let dir = ScratchDir::in_temp("kubectl-gitops-git-")?;
    let git_dir = dir.path().join("repo.git");
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).map_err(|source| Error::GitTempFiles {
        path: tree.clone(),
        source,
    })?;
    LocalRepo {
        git_dir: &git_dir,
        url: url.as_str(),
    }
    .init()?;
    let git = RemoteGit {
        remote,
        url: &url,
        git_dir: &git_dir,
    };
    let commit = fetch(&git, &url, reference)?;
    let work_tree = tree.to_string_lossy().into_owned();
    let done = git.run(&args(&[
        "--work-tree",
        &work_tree,
        "checkout",
        "--quiet",
        "--force",
        &commit,
        "--",
        ".",
    ]))?;
    if !done.success {
        return Err(Error::GitFailed {
            operation: "checkout",
            url: url.to_string(),
            cause: done.stderr.trim().to_string(),
        });
    }
    Ok(Checkout {
        commit,
        tree,
        _dir: dir,
    })
}

/// The commit `reference` names: fetched by name (shallow) when the server has such a ref,
/// else, for a commit id, found in a fetch of every branch and tag.
fn fetch(git: &RemoteGit<'_>, url: &GitUrl, reference: &str) -> Result<String> {
    let shallow = git.run(&args(&[
        "fetch",
        "--quiet",
        "--no-tags",
        "--depth",
        "1",
        "--",
        url.as_str(),
        reference,
    ]))?;
    if shallow.success {
        return rev_parse(git, url, "FETCH_HEAD^{commit}");
    }
    let missing_ref = shallow.stderr.contains("couldn't find remote ref")
        || shallow.stderr.contains("not our ref")
        || shallow.stderr.contains("unadvertised object");
    if !missing_ref {
        return Err(git.error(Operation::Fetch, &shallow.stderr));
    }
    let is_commit_id = reference.len() >= 4
        && reference.len() <= 64
        && reference.chars().all(|c| c.is_ascii_hexdigit());
    if is_commit_id {
        let all = git.run(&args(&[
            "fetch",
            "--quiet",
            "--",
            url.as_str(),
            "+refs/heads/*:refs/remotes/origin/*",
            "+refs/tags/*:refs/tags/*",
        ]))?;
        if !all.success {
            return Err(git.error(Operation::Fetch, &all.stderr));
        }
        if let Ok(commit) = rev_parse(git, url, &format!("{reference}^{{commit}}")) {
            return Ok(commit);
        }
    }
    Err(Error::GitRef {
        url: url.to_string(),
        reference: reference.to_string(),
        reason: "no branch, tag or commit of that name".to_string(),
    })
}

fn rev_parse(git: &RemoteGit<'_>, url: &GitUrl, what: &str) -> Result<String> {
    let parsed = git.run(&args(&["rev-parse", "--verify", "--quiet", what]))?;
    let commit = parsed.stdout.trim().to_string();
    if parsed.success && !commit.is_empty() {
        Ok(commit)
    } else {
        Err(Error::GitFailed {
            operation: "rev-parse",
            url: url.to_string(),
            cause: format!("{what} is not a commit"),
        })
    }
}
