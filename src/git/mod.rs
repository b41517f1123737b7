//! Git for bootstrap, history and rollback: clone a branch, write files into it, commit only
//! when something changed, push, and tell a moved branch (retry on a fresh clone) from every
//! other failure; read the branch's history and restore a path to an older commit's content as
//! a new commit (`history.rs`).
//!
//! gix does the repository's objects (no network features); the system `git` does fetch and
//! push, so HTTPS tokens and SSH keys share one network path (see docs/yaml-and-git.md). The
//! API is blocking: async callers use `tokio::task::spawn_blocking`.
//!
//! Supported URLs: `https://` (no credentials, basic or bearer auth, optional private CA),
//! `ssh://user@host[:port]/path` and scp-like `user@host:path` (deploy key, or the user's own
//! ssh setup with [`Auth::None`]), `http://` without credentials, and `file://` (tests,
//! mirrors).

mod agent;
mod checkout;
mod error;
mod history;
mod key_file;
mod openssh_ecdsa;
mod remote;
mod repo;
pub(crate) use repo::validate_path;
mod scratch;
mod sign;
mod ssh;
mod url;

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;

use gix::ObjectId;
use secrecy::SecretString;

pub use checkout::{Checkout, checkout};
pub use error::{Error, Result};
pub use history::CommitInfo;
pub use key_file::{KeyFile, key_file_is_encrypted, load_key_file};
pub use remote::git_version;
pub use sign::{Signer, SigningKey};
pub use ssh::{
    Curve, DeployKey, KeyAlgorithm, KeyOptions, KnownHosts, RSA_BITS, check_host_key_algorithms,
    check_rsa_bits, generate_deploy_key, known_hosts_fingerprints, load_deploy_key,
    scan_known_hosts, scan_known_hosts_for,
};
pub use url::{GitUrl, Transport};

use remote::{Operation, RemoteGit};
use repo::LocalRepo;
pub(crate) use scratch::ScratchDir;

/// Where the repository is and how to authenticate to it.
#[derive(Debug, Clone)]
pub struct Remote {
    /// The repository URL, without credentials (see the module documentation).
    pub url: String,
    pub auth: Auth,
    /// A PEM file of certificate authorities for HTTPS (`--ca-file`).
    pub ca_file: Option<PathBuf>,
    /// Send credentials over plain `http://` to any host (`--allow-insecure-http`); without
    /// it only to loopback, where nothing crosses a network.
    pub insecure_http: bool,
}

/// Credentials for the remote. Debug output never shows the secrets.
#[derive(Debug, Clone)]
pub enum Auth {
    /// No credentials from us: public repositories, or the user's own ssh-agent, ssh config and
    /// credential helpers. git never prompts; ssh may ask on the terminal (if there is one) for
    /// the passphrase of the user's own key.
    None,
    /// HTTP basic auth (`--username`/`--password`; the password is usually a token).
    Basic {
        username: String,
        password: SecretString,
    },
    /// HTTP `Authorization: Bearer <token>`.
    Bearer { token: SecretString },
    /// An SSH key (OpenSSH private key text) and the only host keys to trust.
    SshKey {
        private_key: SecretString,
        known_hosts: String,
    },
}

/// Author (and committer) of the commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub name: String,
    /// May be empty, as with the flux CLI's default `--author-email`.
    pub email: String,
}

impl Default for Signature {
    /// The flux CLI's defaults: `--author-name Flux`, no email.
    fn default() -> Self {
        Signature {
            name: "Flux".to_string(),
            email: String::new(),
        }
    }
}

/// How the branch came to be in the workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BranchState {
    /// The remote has the branch; commits go on top of it.
    Existing,
    /// The remote repository has no branches at all; the first commit starts its history.
    EmptyRepository,
    /// The remote has other branches but not this one; the first commit starts it with no
    /// parent (as the flux CLI did before v2.1; recent flux refuses instead).
    NewBranch,
}

/// The result of a push that git carried out or declined for a reason worth retrying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// The remote branch now points at this commit.
    Pushed { commit: String },
    /// Nothing to push: the remote already has the local branch's commit (or there is none).
    UpToDate,
    /// Someone else pushed to the branch since the clone (`fetch first`, `non-fast-forward`):
    /// clone again, redo the commits and push again.
    BranchMoved,
}

/// A private temporary clone of one branch (a bare repository; files are read and written
/// through Git objects, never a worktree), removed with every credential file when dropped.
pub struct Workspace {
    remote: Remote,
    url: GitUrl,
    branch: String,
    state: BranchState,
    /// The commit the remote branch had when fetched or last pushed.
    remote_tip: Option<ObjectId>,
    /// The local branch's commit: `remote_tip` plus our commits.
    tip: Option<ObjectId>,
    /// Signs each new commit, when set.
    signer: Option<Arc<Signer>>,
    git_dir: PathBuf,
    // Last, so it is dropped after everything that refers to its files.
    dir: ScratchDir,
}

/// Fetches `branch` of `remote` into a new private workspace. An empty remote, or one without
/// that branch, gives a workspace whose branch is born by the first commit.
pub fn clone(remote: &Remote, branch: &str) -> Result<Workspace> {
    let url = GitUrl::parse(&remote.url)?;
    check_auth_fits(&url, remote)?;
    check_branch_name(branch)?;
    check_ca_file(remote)?;
    git_version()?;
    let dir = ScratchDir::in_temp("kubectl-gitops-git-")?;
    let git_dir = dir.path().join("repo.git");
    let local = LocalRepo {
        git_dir: &git_dir,
        url: url.as_str(),
    };
    local.init()?;
    let git = RemoteGit {
        remote,
        url: &url,
        git_dir: &git_dir,
    };
    let refspec = format!("+refs/heads/{branch}:refs/heads/{branch}");
    let fetch = git.run(&args(&[
        "fetch",
        "--quiet",
        "--no-tags",
        "--no-write-fetch-head",
        "--update-head-ok",
        "--",
        url.as_str(),
        &refspec,
    ]))?;
    let state = if fetch.success {
        BranchState::Existing
    } else if fetch.stderr.contains("couldn't find remote ref") {
        // Reached and authenticated, but the branch is not there: is there anything at all?
        let heads = git.run(&args(&["ls-remote", "--heads", "--", url.as_str()]))?;
        if !heads.success {
            return Err(git.error(Operation::ListBranches, &heads.stderr));
        }
        if heads.stdout.trim().is_empty() {
            BranchState::EmptyRepository
        } else {
            BranchState::NewBranch
        }
    } else {
        return Err(git.error(Operation::Fetch, &fetch.stderr));
    };
    let tip = local.branch_tip(branch)?;
    Ok(Workspace {
        remote: remote.clone(),
        url,
        branch: branch.to_string(),
        state,
        remote_tip: tip,
        tip,
        signer: None,
        git_dir,
        dir,
    })
}

impl Workspace {
    /// The branch's commit (after local commits), None while the branch is unborn.
    pub fn head(&self) -> Option<String> {
        self.tip.map(|id| id.to_string())
    }

    pub fn branch(&self) -> &str {
        &self.branch
    }

    pub fn branch_state(&self) -> BranchState {
        self.state
    }

    /// The private temporary folder holding the clone; it and everything in it are removed
    /// when the workspace is dropped.
    pub fn local_path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The remote's URL (it never holds credentials).
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// The content of `path` (relative to the repository root, `/`-separated) in the branch's
    /// tree, None when there is no such file.
    pub fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>> {
        self.local().read_file(self.tip, path)
    }

    /// Signs every commit made from now on with `signer` (`--gpg-key-ring`,
    /// `--ssh-signing-key-file`).
    pub fn sign_commits(&mut self, signer: Arc<Signer>) {
        self.signer = Some(signer);
    }

    /// Writes `files` (repository path, content) into the branch's tree, keeping all other
    /// files, and commits with `author` as author and committer if the tree changed. Returns
    /// the new commit id, or None when nothing changed (no commit is made).
    pub fn commit(
        &mut self,
        files: &[(String, Vec<u8>)],
        message: &str,
        author: &Signature,
    ) -> Result<Option<String>> {
        let commit = self.local().commit(
            &self.branch,
            self.tip,
            files,
            message,
            author,
            self.signer.as_deref(),
        )?;
        if let Some(id) = commit {
            self.tip = Some(id);
        }
        Ok(commit.map(|id| id.to_string()))
    }

    /// Pushes the branch (never forced). A branch that moved on the remote gives
    /// [`PushOutcome::BranchMoved`]; a refusal by the server (hook, protection, permissions),
    /// an authentication, host key or network failure gives an error.
    pub fn push(&mut self) -> Result<PushOutcome> {
        let Some(tip) = self.tip else {
            return Ok(PushOutcome::UpToDate);
        };
        if Some(tip) == self.remote_tip {
            return Ok(PushOutcome::UpToDate);
        }
        let refspec = format!("refs/heads/{b}:refs/heads/{b}", b = self.branch);
        let git = RemoteGit {
            remote: &self.remote,
            url: &self.url,
            git_dir: &self.git_dir,
        };
        let output = git.run(&args(&[
            "push",
            "--porcelain",
            "--no-verify",
            "--",
            self.url.as_str(),
            &refspec,
        ]))?;
        match push_result(&output.stdout, &refspec) {
            Some(PushLine::Done) if output.success => {
                self.remote_tip = Some(tip);
                let short: String = tip.to_string().chars().take(7).collect();
                crate::interrupt::changed(format!("pushed commit {short} to {}", self.branch));
                Ok(PushOutcome::Pushed {
                    commit: tip.to_string(),
                })
            }
            Some(PushLine::Moved) => Ok(PushOutcome::BranchMoved),
            Some(PushLine::Refused(reason)) => Err(Error::GitPushRefused {
                url: self.url.to_string(),
                branch: self.branch.clone(),
                reason: with_server_message(reason, &output.stderr),
            }),
            _ => Err(git.error(Operation::Push, &output.stderr)),
        }
    }

    fn local(&self) -> LocalRepo<'_> {
        LocalRepo {
            git_dir: &self.git_dir,
            url: self.url.as_str(),
        }
    }
}

/// What `git push --porcelain` said about our ref.
#[derive(Debug, PartialEq, Eq)]
enum PushLine {
    Done,
    Moved,
    Refused(String),
}

/// Reads the porcelain line `<flag>\t<src>:<dst>\t<summary>` for `refspec`.
fn push_result(stdout: &str, refspec: &str) -> Option<PushLine> {
    let line = stdout.lines().find_map(|line| {
        let mut fields = line.splitn(3, '\t');
        let flag = fields.next()?;
        (fields.next()? == refspec)
            .then(|| (flag.to_string(), fields.next().unwrap_or("").to_string()))
    })?;
    let (flag, summary) = line;
    Some(match flag.as_str() {
        " " | "*" | "+" | "=" => PushLine::Done,
        _ if summary.contains("(fetch first)")
            || summary.contains("(non-fast-forward)")
            || summary.contains("(stale info)") =>
        {
            PushLine::Moved
        }
        _ => PushLine::Refused(summary),
    })
}

/// The push's refusal with what the server said about it (its `remote:` lines, e.g. a hook's
/// or a branch protection's message), made printable.
fn with_server_message(reason: String, stderr: &str) -> String {
    let said: Vec<String> = stderr
        .lines()
        .filter_map(|line| line.strip_prefix("remote:"))
        .map(|line| {
            // Server text: control characters (terminal escapes) shown as escapes.
            line.trim()
                .chars()
                .flat_map(|c| {
                    if c.is_control() {
                        c.escape_unicode().collect::<Vec<_>>()
                    } else {
                        vec![c]
                    }
                })
                .collect::<String>()
        })
        .filter(|line| !line.is_empty())
        .collect();
    if said.is_empty() {
        reason
    } else {
        format!("{reason}; the server said: {}", said.join(" / "))
    }
}

/// Credentials must match the transport: no HTTP credentials over SSH, nor in clear text
/// unless the remote allows it, no SSH key over HTTPS.
fn check_auth_fits(url: &GitUrl, remote: &Remote) -> Result<()> {
    let refuse = |reason: &str| {
        Err(Error::GitUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        })
    };
    match (&remote.auth, url.transport) {
        (Auth::None, _) => Ok(()),
        (Auth::Basic { .. } | Auth::Bearer { .. }, Transport::Https) => Ok(()),
        // On loopback nothing travels over a network (a forge on the same machine).
        (Auth::Basic { .. } | Auth::Bearer { .. }, Transport::Http)
            if remote.insecure_http || is_loopback(&url.host) =>
        {
            Ok(())
        }
        (Auth::Basic { .. } | Auth::Bearer { .. }, Transport::Http) => refuse(
            "a password or token would travel unencrypted over http://; use an https:// URL (or --allow-insecure-http)",
        ),
        (Auth::Basic { .. } | Auth::Bearer { .. }, _) => refuse(
            "a username and password work with https:// URLs only; for SSH use a key (--private-key-file, or let bootstrap generate one)",
        ),
        (Auth::SshKey { .. }, Transport::Ssh) => Ok(()),
        (Auth::SshKey { .. }, _) => refuse(
            "an SSH key works with ssh:// URLs only; for https:// use --token-auth with --username and --password",
        ),
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The CA file must be readable now, or git fails later with a vaguer message.
fn check_ca_file(remote: &Remote) -> Result<()> {
    let Some(path) = &remote.ca_file else {
        return Ok(());
    };
    let refuse = |reason: String| {
        Err(Error::InvalidFlag {
            flag: "--ca-file",
            value: path.display().to_string(),
            reason,
        })
    };
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(()),
        Ok(_) => refuse("not a file; pass a PEM file of certificate authorities".to_string()),
        Err(err) => refuse(format!("cannot read it: {err}")),
    }
}

/// A branch name git accepts (`git check-ref-format --branch` rules, simplified).
pub(crate) fn check_branch_name(branch: &str) -> Result<()> {
    let invalid = branch.is_empty()
        || branch.starts_with('-')
        || branch.starts_with('/')
        || branch.ends_with('/')
        || branch.ends_with('.')
        || branch.ends_with(".lock")
        || branch.contains("..")
        || branch.contains("//")
        || branch.contains("@{")
        || branch.split('/').any(|part| part.starts_with('.'))
        || branch
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "~^:?*[\\".contains(c));
    if invalid {
        return Err(Error::InvalidFlag {
            flag: "--branch",
            value: branch.to_string(),
            reason: "not a valid Git branch name".to_string(),
        });
    }
    Ok(())
}

fn args(items: &[&str]) -> Vec<OsString> {
    items.iter().map(OsString::from).collect()
}

/// The system git, for unit tests that look at repositories from outside.
#[cfg(test)]
pub(crate) mod test_support {
    use std::path::Path;
    use std::process::Command;

    /// Runs git in `cwd` (a work tree, or a bare or `.git` folder) with a fixed identity and
    /// returns its stdout; a failure fails the test with git's stderr.
    pub(crate) fn git(cwd: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .current_dir(cwd)
            .args(args)
            .env("GIT_AUTHOR_NAME", "Someone")
            .env("GIT_AUTHOR_EMAIL", "someone@example.com")
            .env("GIT_COMMITTER_NAME", "Someone")
            .env("GIT_COMMITTER_EMAIL", "someone@example.com")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::git;
    use super::*;
    use std::path::Path;

    /// A bare "remote" with one commit on `branch` (or none), and its file:// URL.
    fn remote_repo(dir: &Path, branch: Option<&str>) -> (PathBuf, Remote) {
        let bare = dir.join("remote.git");
        std::fs::create_dir(&bare).unwrap();
        git(&bare, &["init", "-q", "--bare", "-b", "main"]);
        if let Some(branch) = branch {
            let work = dir.join("seed");
            std::fs::create_dir(&work).unwrap();
            git(&work, &["init", "-q", "-b", branch]);
            std::fs::write(work.join("README.md"), "user content\n").unwrap();
            git(&work, &["add", "README.md"]);
            git(&work, &["commit", "-q", "-m", "seed"]);
            git(&work, &["push", "-q", &bare.display().to_string(), branch]);
        }
        let remote = Remote {
            url: format!("file://{}", bare.display()),
            auth: Auth::None,
            ca_file: None,
            insecure_http: false,
        };
        (bare, remote)
    }

    fn file(path: &str, content: &str) -> (String, Vec<u8>) {
        (path.to_string(), content.as_bytes().to_vec())
    }

    #[test]
    fn empty_remote_gets_its_first_branch_and_the_workspace_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let (bare, remote) = remote_repo(dir.path(), None);
        let mut workspace = clone(&remote, "main").unwrap();
        assert_eq!(workspace.branch_state(), BranchState::EmptyRepository);
        assert_eq!(workspace.head(), None);
        assert_eq!(workspace.push().unwrap(), PushOutcome::UpToDate);
        let commit = workspace
            .commit(
                &[file("clusters/a/flux-system/gotk-sync.yaml", "x\n")],
                "Add Flux sync manifests",
                &Signature::default(),
            )
            .unwrap()
            .unwrap();
        assert_eq!(workspace.head().as_deref(), Some(commit.as_str()));
        assert_eq!(
            workspace.push().unwrap(),
            PushOutcome::Pushed {
                commit: commit.clone()
            }
        );
        assert_eq!(workspace.push().unwrap(), PushOutcome::UpToDate);
        assert_eq!(git(&bare, &["rev-parse", "main"]).trim(), commit);
        let path = workspace.dir.path().to_path_buf();
        assert!(path.exists());
        drop(workspace);
        assert!(!path.exists(), "the workspace folder is removed on drop");
    }

    #[test]
    fn existing_branch_keeps_content_and_a_moved_branch_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let (bare, remote) = remote_repo(dir.path(), Some("main"));
        let mut first = clone(&remote, "main").unwrap();
        let mut second = clone(&remote, "main").unwrap();
        assert_eq!(first.branch_state(), BranchState::Existing);
        assert_eq!(
            first.read_file("README.md").unwrap().as_deref(),
            Some(b"user content\n".as_slice())
        );
        first
            .commit(&[file("a.yaml", "a\n")], "a", &Signature::default())
            .unwrap()
            .unwrap();
        second
            .commit(&[file("b.yaml", "b\n")], "b", &Signature::default())
            .unwrap()
            .unwrap();
        assert!(matches!(first.push().unwrap(), PushOutcome::Pushed { .. }));
        assert_eq!(second.push().unwrap(), PushOutcome::BranchMoved);
        assert_eq!(
            git(&bare, &["ls-tree", "--name-only", "main"]),
            "README.md\na.yaml\n"
        );
    }

    #[test]
    fn missing_branch_in_a_non_empty_remote_starts_from_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (bare, remote) = remote_repo(dir.path(), Some("main"));
        let mut workspace = clone(&remote, "fleet").unwrap();
        assert_eq!(workspace.branch_state(), BranchState::NewBranch);
        assert_eq!(workspace.read_file("README.md").unwrap(), None);
        workspace
            .commit(&[file("f.yaml", "f\n")], "f", &Signature::default())
            .unwrap()
            .unwrap();
        assert!(matches!(
            workspace.push().unwrap(),
            PushOutcome::Pushed { .. }
        ));
        assert_eq!(git(&bare, &["ls-tree", "--name-only", "fleet"]), "f.yaml\n");
        assert_eq!(git(&bare, &["rev-list", "--count", "fleet"]).trim(), "1");
    }

    // The refusing hook is a shell script, made executable by its Unix mode.
    #[cfg(unix)]
    #[test]
    fn a_refused_push_is_an_error_with_the_servers_reason() {
        let dir = tempfile::tempdir().unwrap();
        let (bare, remote) = remote_repo(dir.path(), Some("main"));
        let hook = bare.join("hooks/pre-receive");
        std::fs::write(&hook, "#!/bin/sh\necho 'branch is protected' >&2\nexit 1\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut workspace = clone(&remote, "main").unwrap();
        workspace
            .commit(&[file("x", "x")], "x", &Signature::default())
            .unwrap()
            .unwrap();
        let err = workspace.push().unwrap_err();
        assert!(matches!(err, Error::GitPushRefused { .. }), "{err}");
        assert!(
            err.to_string().contains("pre-receive hook declined"),
            "{err}"
        );
    }

    #[test]
    fn missing_repositories_and_bad_inputs_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let remote = Remote {
            url: format!("file://{}/absent.git", dir.path().display()),
            auth: Auth::None,
            ca_file: None,
            insecure_http: false,
        };
        let err = clone(&remote, "main").err().unwrap();
        assert!(matches!(err, Error::GitRepositoryNotFound { .. }), "{err}");
        assert!(err.to_string().contains("absent.git"), "{err}");
        assert!(matches!(
            clone(&remote, "bad..name"),
            Err(Error::InvalidFlag { .. })
        ));
        let ssh_key_over_https = Remote {
            url: "https://example.com/repo.git".to_string(),
            auth: Auth::SshKey {
                private_key: "k".into(),
                known_hosts: String::new(),
            },
            ca_file: None,
            insecure_http: false,
        };
        assert!(matches!(
            clone(&ssh_key_over_https, "main"),
            Err(Error::GitUrl { .. })
        ));
        let token_over_http = Remote {
            url: "http://example.com/repo.git".to_string(),
            auth: Auth::Bearer { token: "t".into() },
            ca_file: None,
            insecure_http: false,
        };
        let err = clone(&token_over_http, "main").err().unwrap();
        assert!(err.to_string().contains("https://"), "{err}");
        assert!(err.to_string().contains("--allow-insecure-http"), "{err}");
        // Allowed explicitly (`--allow-insecure-http`), credentials go over http to any host.
        let allowed = Remote {
            insecure_http: true,
            ..token_over_http
        };
        let url = GitUrl::parse(&allowed.url).unwrap();
        assert!(check_auth_fits(&url, &allowed).is_ok());
    }

    #[test]
    fn workspaces_move_to_blocking_threads_and_debug_output_hides_secrets() {
        fn assert_send<T: Send + 'static>() {}
        assert_send::<Workspace>();
        let remote = Remote {
            url: "https://example.com/r.git".to_string(),
            auth: Auth::Basic {
                username: "u".to_string(),
                password: "hunter2-secret".into(),
            },
            ca_file: None,
            insecure_http: false,
        };
        assert!(!format!("{remote:?}").contains("hunter2-secret"));
        let key = Auth::SshKey {
            private_key: "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n".into(),
            known_hosts: String::new(),
        };
        assert!(!format!("{key:?}").contains("b3BlbnNzaC1rZXktdjEAAAAA"));
    }

    #[test]
    fn an_unreadable_ca_file_is_refused_before_git_runs() {
        let remote = Remote {
            url: "https://example.com/r.git".to_string(),
            auth: Auth::None,
            ca_file: Some(PathBuf::from("/nonexistent/ca.pem")),
            insecure_http: false,
        };
        let err = clone(&remote, "main").err().unwrap();
        assert!(err.to_string().contains("--ca-file"), "{err}");
    }

    #[test]
    fn porcelain_push_lines_are_understood() {
        let spec = "refs/heads/main:refs/heads/main";
        let line = |flag: &str, summary: &str| format!("To x\n{flag}\t{spec}\t{summary}\nDone\n");
        assert_eq!(
            push_result(&line("*", "[new branch]"), spec),
            Some(PushLine::Done)
        );
        assert_eq!(
            push_result(&line(" ", "abc..def"), spec),
            Some(PushLine::Done)
        );
        assert_eq!(
            push_result(&line("!", "[rejected] (fetch first)"), spec),
            Some(PushLine::Moved)
        );
        assert_eq!(
            push_result(&line("!", "[rejected] (non-fast-forward)"), spec),
            Some(PushLine::Moved)
        );
        assert_eq!(
            push_result(
                &line("!", "[remote rejected] (pre-receive hook declined)"),
                spec
            ),
            Some(PushLine::Refused(
                "[remote rejected] (pre-receive hook declined)".to_string()
            ))
        );
        assert_eq!(push_result("fatal: nothing\n", spec), None);
    }
}
