//! The Git layer (`kubectl_gitops::git`) against the real loopback Git servers: HTTPS with a
//! private CA and basic auth, and SSH with a generated deploy key and scanned host keys. Checks
//! what lands in the remote (read back by a fresh `git clone`), moved branches, and that
//! failures are clear and never carry a password or private key.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use base64::Engine;
use kubectl_gitops::git::Error;
use kubectl_gitops::git::{
    self, Auth, BranchState, DeployKey, KeyAlgorithm, PushOutcome, Remote, Signature, Workspace,
};
use secrecy::{ExposeSecret, SecretString};

use crate::support::git_servers::{GitHttpServer, GitSshServer};
use crate::support::processes::temp_dir;
use crate::support::{git_command, run, stderr};

const COMPONENTS: &str = "clusters/my-cluster/flux-system/gotk-components.yaml";
const SYNC: &str = "clusters/my-cluster/flux-system/gotk-sync.yaml";

fn https_remote(server: &GitHttpServer, url: &str, password: &str) -> Remote {
    Remote {
        url: url.to_string(),
        auth: Auth::Basic {
            username: server.username.clone(),
            password: SecretString::from(password),
        },
        ca_file: Some(server.ca_file.clone()),
        insecure_http: false,
    }
}

fn ssh_remote(url: &str, key: &DeployKey, known_hosts: &str) -> Remote {
    Remote {
        url: url.to_string(),
        auth: Auth::SshKey {
            private_key: key.private_key.clone(),
            known_hosts: known_hosts.to_string(),
        },
        ca_file: None,
        insecure_http: false,
    }
}

fn file(path: &str, content: &str) -> (String, Vec<u8>) {
    (path.to_string(), content.as_bytes().to_vec())
}

fn flux_author() -> Signature {
    Signature {
        name: "Flux".to_string(),
        email: "flux@example.com".to_string(),
    }
}

/// git in `cwd` as someone else than bootstrap, plus `env`.
fn git(cwd: &Path, args: &[&str], env: &[(&str, String)]) -> Output {
    let mut command = git_command(cwd, "Someone Else", "someone@example.com");
    command.args(args).envs(env.iter().map(|(k, v)| (k, v)));
    run(&mut command)
}

fn git_ok(cwd: &Path, args: &[&str], env: &[(&str, String)]) -> String {
    let out = git(cwd, args, env);
    assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The environment a test's own git needs for the HTTPS server.
pub(crate) fn https_env(server: &GitHttpServer) -> Vec<(&'static str, String)> {
    let token = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", server.username, server.password));
    vec![
        ("GIT_CONFIG_COUNT", "1".to_string()),
        ("GIT_CONFIG_KEY_0", "http.extraHeader".to_string()),
        (
            "GIT_CONFIG_VALUE_0",
            format!("Authorization: Basic {token}"),
        ),
        ("GIT_SSL_CAINFO", server.ca_file.display().to_string()),
    ]
}

/// The environment a test's own git needs for the SSH server with `key`.
fn ssh_env(dir: &Path, key: &DeployKey, known_hosts: &str) -> Vec<(&'static str, String)> {
    use std::os::unix::fs::PermissionsExt;
    let key_file = dir.join("test-identity");
    std::fs::write(&key_file, key.private_key.expose_secret()).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let known = dir.join("test-known_hosts");
    std::fs::write(&known, known_hosts).unwrap();
    vec![(
        "GIT_SSH_COMMAND",
        format!(
            "ssh -i '{}' -o IdentitiesOnly=yes -o UserKnownHostsFile='{}' -o StrictHostKeyChecking=yes -o BatchMode=yes",
            key_file.display(),
            known.display()
        ),
    )]
}

/// Clones `url` with the test's own git and returns the worktree.
fn fresh_clone(url: &str, env: &[(&str, String)]) -> std::path::PathBuf {
    let dir = temp_dir("git-check-");
    git_ok(
        &dir,
        &["clone", "--quiet", "--branch", "main", url, "work"],
        env,
    );
    dir.join("work")
}

/// Pushes one commit with unrelated content to `main` with the test's own git.
fn push_user_content(url: &str, env: &[(&str, String)], path: &str, content: &str) {
    let dir = temp_dir("git-user-");
    let work = dir.join("work");
    git_ok(&dir, &["clone", "--quiet", url, "work"], env);
    let target = work.join(path);
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::write(&target, content).unwrap();
    git_ok(&work, &["checkout", "-q", "-B", "main"], env);
    git_ok(&work, &["add", "-A"], env);
    git_ok(&work, &["commit", "-q", "-m", "user commit"], env);
    git_ok(&work, &["push", "-q", "origin", "main"], env);
}

/// Every file under `dir` (recursively) whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && bytes
                    .windows(needle.len())
                    .any(|window| window == needle.as_bytes())
            {
                found.push(path);
            }
        }
    }
    found
}

/// Asserts no file of the workspace holds `secret` and that dropping it removes the folder.
fn assert_no_credentials_left(workspace: Workspace, secret: &str) {
    let path = workspace.local_path().to_path_buf();
    assert!(path.exists());
    assert_eq!(
        files_containing(&path, secret),
        Vec::<std::path::PathBuf>::new(),
        "a credential is left in the workspace"
    );
    drop(workspace);
    assert!(!path.exists(), "the workspace is removed on drop");
}

fn clone_commit_push(remote: &Remote, files: &[(String, Vec<u8>)]) -> (Workspace, String) {
    let mut workspace = git::clone(remote, "main").expect("clone");
    let commit = workspace
        .commit(files, "Add Flux v2.9.4 component manifests", &flux_author())
        .expect("commit")
        .expect("something to commit");
    assert_eq!(
        workspace.push().expect("push"),
        PushOutcome::Pushed {
            commit: commit.clone()
        }
    );
    (workspace, commit)
}

#[test]
fn https_empty_repository_gets_the_files_then_a_rerun_changes_nothing() {
    let server = GitHttpServer::start();
    let url = server.create_repo("empty");
    let remote = https_remote(&server, &url, &server.password);
    let files = [file(COMPONENTS, "# components\n"), file(SYNC, "# sync\n")];
    let mut workspace = git::clone(&remote, "main").unwrap();
    assert_eq!(workspace.branch_state(), BranchState::EmptyRepository);
    assert_eq!(workspace.head(), None);
    let commit = workspace
        .commit(
            &files,
            "Add Flux v2.9.4 component manifests",
            &flux_author(),
        )
        .unwrap()
        .unwrap();
    assert_eq!(
        workspace.push().unwrap(),
        PushOutcome::Pushed {
            commit: commit.clone()
        }
    );
    assert_no_credentials_left(workspace, &server.password);

    let checkout = fresh_clone(&url, &https_env(&server));
    assert_eq!(
        std::fs::read_to_string(checkout.join(COMPONENTS)).unwrap(),
        "# components\n"
    );
    assert_eq!(
        std::fs::read_to_string(checkout.join(SYNC)).unwrap(),
        "# sync\n"
    );
    assert_eq!(
        git_ok(&checkout, &["log", "--format=%H|%an|%ae|%cn|%ce|%s"], &[]).trim(),
        format!(
            "{commit}|Flux|flux@example.com|Flux|flux@example.com|Add Flux v2.9.4 component manifests"
        )
    );

    // The same files again: no commit, nothing to push.
    let mut again = git::clone(&remote, "main").unwrap();
    assert_eq!(again.branch_state(), BranchState::Existing);
    assert_eq!(again.head().as_deref(), Some(commit.as_str()));
    assert_eq!(
        again.read_file(SYNC).unwrap().as_deref(),
        Some(b"# sync\n".as_slice())
    );
    assert_eq!(
        again
            .commit(
                &files,
                "Add Flux v2.9.4 component manifests",
                &flux_author()
            )
            .unwrap(),
        None
    );
    assert_eq!(again.push().unwrap(), PushOutcome::UpToDate);
    assert_eq!(
        git_ok(
            &server.bare_path("empty"),
            &["rev-list", "--count", "main"],
            &[]
        )
        .trim(),
        "1"
    );
}

#[test]
fn https_repository_with_unrelated_content_keeps_it() {
    let server = GitHttpServer::start();
    let url = server.create_repo("busy");
    let env = https_env(&server);
    push_user_content(&url, &env, "apps/podinfo.yaml", "kind: HelmRelease\n");
    let remote = https_remote(&server, &url, &server.password);
    let (_workspace, _) = clone_commit_push(&remote, &[file(SYNC, "# sync\n")]);
    let checkout = fresh_clone(&url, &env);
    assert_eq!(
        git_ok(&checkout, &["ls-files"], &[]),
        format!("apps/podinfo.yaml\n{SYNC}\n")
    );
    assert_eq!(
        git_ok(&checkout, &["log", "--format=%an: %s"], &[]),
        "Flux: Add Flux v2.9.4 component manifests\nSomeone Else: user commit\n"
    );
}

#[test]
fn https_push_after_someone_else_pushed_reports_a_moved_branch_and_a_fresh_clone_succeeds() {
    let server = GitHttpServer::start();
    let url = server.create_repo("race");
    let env = https_env(&server);
    push_user_content(&url, &env, "README.md", "v1\n");
    let remote = https_remote(&server, &url, &server.password);
    let mut ours = git::clone(&remote, "main").unwrap();
    ours.commit(
        &[file(SYNC, "# sync\n")],
        "Add Flux sync manifests",
        &flux_author(),
    )
    .unwrap()
    .unwrap();
    push_user_content(&url, &env, "README.md", "v2\n");
    assert_eq!(ours.push().unwrap(), PushOutcome::BranchMoved);

    // What bootstrap does next: a fresh clone, the same commit, push again.
    let (retry, commit) = clone_commit_push(&remote, &[file(SYNC, "# sync\n")]);
    drop(retry);
    let checkout = fresh_clone(&url, &env);
    assert_eq!(
        git_ok(&checkout, &["rev-parse", "HEAD"], &[]).trim(),
        commit
    );
    assert_eq!(
        std::fs::read_to_string(checkout.join("README.md")).unwrap(),
        "v2\n"
    );

    // An empty repository that someone else initialised meanwhile: also a moved branch.
    let url = server.create_repo("race-empty");
    let remote = https_remote(&server, &url, &server.password);
    let mut ours = git::clone(&remote, "main").unwrap();
    assert_eq!(ours.branch_state(), BranchState::EmptyRepository);
    ours.commit(
        &[file(SYNC, "# sync\n")],
        "Add Flux sync manifests",
        &flux_author(),
    )
    .unwrap()
    .unwrap();
    push_user_content(&url, &env, "README.md", "first\n");
    assert_eq!(ours.push().unwrap(), PushOutcome::BranchMoved);
}

#[test]
fn https_wrong_password_or_unknown_ca_are_clear_errors_without_the_password() {
    let server = GitHttpServer::start();
    let url = server.create_repo("guarded");
    let wrong = "wrong-password-7f3a9c";
    let err = git::clone(&https_remote(&server, &url, wrong), "main")
        .err()
        .expect("a wrong password fails");
    let text = err.to_string();
    eprintln!("wrong password: {text}");
    assert!(matches!(err, Error::GitAuthFailed { .. }), "{text}");
    assert!(text.contains(&url) && text.contains("--password"), "{text}");
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{wrong}", server.username));
    assert!(!text.contains(wrong) && !text.contains(&basic), "{text}");
    assert!(!format!("{err:?}").contains(wrong));

    let mut untrusted = https_remote(&server, &url, &server.password);
    untrusted.ca_file = None;
    let err = git::clone(&untrusted, "main")
        .err()
        .expect("an unknown CA fails");
    eprintln!("unknown CA: {err}");
    assert!(matches!(err, Error::GitTls { .. }), "{err}");
    assert!(err.to_string().contains("--ca-file"), "{err}");
    assert!(!err.to_string().contains(&server.password), "{err}");

    let err = git::clone(
        &https_remote(&server, &server.url("absent"), &server.password),
        "main",
    )
    .err()
    .expect("a missing repository fails");
    assert!(matches!(err, Error::GitRepositoryNotFound { .. }), "{err}");

    let closed = format!("https://127.0.0.1:{}/git/x.git", closed_port());
    let err = git::clone(&https_remote(&server, &closed, &server.password), "main")
        .err()
        .expect("nothing listening fails");
    assert!(matches!(err, Error::GitUnreachable { .. }), "{err}");
}

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn ssh_deploy_key_and_scanned_host_keys_clone_commit_and_push() {
    let server = GitSshServer::start();
    let url = server.create_repo("fleet");
    let key = git::generate_deploy_key(KeyAlgorithm::Ecdsa).unwrap();
    server.authorize(&key.public_key);
    let known = git::scan_known_hosts(&url).unwrap();
    assert_eq!(known.fingerprints.len(), server.host_public_keys().len());
    for host_key in server.host_public_keys() {
        let base64 = host_key.split_whitespace().nth(1).unwrap();
        assert!(
            known
                .lines
                .contains(&format!("[127.0.0.1]:{} ", server.port))
                && known.lines.contains(base64),
            "scan misses {host_key}: {}",
            known.lines
        );
    }
    assert!(
        known
            .fingerprints
            .iter()
            .all(|fingerprint| fingerprint.contains(" SHA256:")),
        "{:?}",
        known.fingerprints
    );

    let remote = ssh_remote(&url, &key, &known.lines);
    let (workspace, commit) = clone_commit_push(&remote, &[file(SYNC, "# sync\n")]);
    let secret_line = key
        .private_key
        .expose_secret()
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    assert_no_credentials_left(workspace, &secret_line);

    let check = temp_dir("ssh-check-");
    let checkout = fresh_clone(&url, &ssh_env(&check, &key, &known.lines));
    assert_eq!(
        std::fs::read_to_string(checkout.join(SYNC)).unwrap(),
        "# sync\n"
    );
    assert_eq!(
        git_ok(&checkout, &["log", "--format=%H|%an|%s"], &[]).trim(),
        format!("{commit}|Flux|Add Flux v2.9.4 component manifests")
    );

    // Unrelated content pushed by someone else is kept by the next commit.
    push_user_content(
        &url,
        &ssh_env(&check, &key, &known.lines),
        "apps/app.yaml",
        "a\n",
    );
    let mut next = git::clone(&remote, "main").unwrap();
    next.commit(
        &[file(SYNC, "# sync v2\n")],
        "Add Flux sync manifests",
        &flux_author(),
    )
    .unwrap()
    .unwrap();
    assert!(matches!(next.push().unwrap(), PushOutcome::Pushed { .. }));
    let checkout = fresh_clone(&url, &ssh_env(&check, &key, &known.lines));
    assert_eq!(
        git_ok(&checkout, &["ls-files"], &[]),
        format!("apps/app.yaml\n{SYNC}\n")
    );
}

#[test]
fn ssh_unknown_or_changed_host_keys_and_unauthorized_keys_are_clear_errors() {
    let server = GitSshServer::start();
    let other = GitSshServer::start();
    let url = server.create_repo("guarded");
    let other_url = other.create_repo("other");
    let key = git::generate_deploy_key(KeyAlgorithm::Ed25519).unwrap();
    server.authorize(&key.public_key);
    let secret_line = key
        .private_key
        .expose_secret()
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    let others_keys = git::scan_known_hosts(&other_url).unwrap();

    // Known hosts of another server (another port): this host's key is unknown.
    let err = git::clone(&ssh_remote(&url, &key, &others_keys.lines), "main")
        .err()
        .expect("unknown host key fails");
    let text = err.to_string();
    eprintln!("unknown host key: {text}");
    assert!(matches!(err, Error::GitHostKeyUnknown { .. }), "{text}");
    assert!(
        text.contains(&format!("[127.0.0.1]:{}", server.port)),
        "{text}"
    );
    assert!(text.contains(&others_keys.fingerprints[0]), "{text}");
    assert!(!text.contains(&secret_line), "{text}");

    let err = git::clone(&ssh_remote(&url, &key, ""), "main")
        .err()
        .expect("empty known_hosts fails");
    assert!(matches!(err, Error::GitHostKeyUnknown { .. }), "{err}");
    assert!(err.to_string().contains("lists: none"), "{err}");

    // The other server's keys under this server's name: the host key changed.
    let impostor = others_keys.lines.replace(
        &format!("[127.0.0.1]:{}", other.port),
        &format!("[127.0.0.1]:{}", server.port),
    );
    let err = git::clone(&ssh_remote(&url, &key, &impostor), "main")
        .err()
        .expect("changed host key fails");
    eprintln!("changed host key: {err}");
    assert!(matches!(err, Error::GitHostKeyChanged { .. }), "{err}");
    assert!(!err.to_string().contains(&secret_line), "{err}");

    // A key the server does not know.
    let stranger = git::generate_deploy_key(KeyAlgorithm::Ecdsa).unwrap();
    let known = git::scan_known_hosts(&url).unwrap();
    let err = git::clone(&ssh_remote(&url, &stranger, &known.lines), "main")
        .err()
        .expect("unauthorized key fails");
    eprintln!("unauthorized key: {err}");
    assert!(matches!(err, Error::GitAuthFailed { .. }), "{err}");
    assert!(err.to_string().contains("deploy key"), "{err}");
    let stranger_line = stranger
        .private_key
        .expose_secret()
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    assert!(!err.to_string().contains(&stranger_line), "{err}");
    assert!(!format!("{err:?}").contains(&stranger_line));

    // The scan names the host when nothing listens.
    let err =
        git::scan_known_hosts(&format!("ssh://git@127.0.0.1:{}/x.git", closed_port())).unwrap_err();
    assert!(matches!(err, Error::SshKeyScan { .. }), "{err}");
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Figures for the coordinator's note: clone + commit + push on loopback, median of 5 runs
/// each, into an empty repository (fetch, ls-remote, push: the first bootstrap) and onto an
/// existing branch (fetch, push: every later run). Printed; run with --nocapture to see them.
#[test]
fn clone_commit_push_timings_on_loopback() {
    let runs = 5;
    let https = GitHttpServer::start();
    let ssh = GitSshServer::start();
    let key = git::generate_deploy_key(KeyAlgorithm::Ecdsa).unwrap();
    ssh.authorize(&key.public_key);
    let mut times: [Vec<Duration>; 4] = Default::default();
    let mut ssh_known = None;
    for run in 0..runs {
        let url = https.create_repo(&format!("timing-{run}"));
        let remote = https_remote(&https, &url, &https.password);
        for (phase, content) in ["# sync\n", "# sync v2\n"].into_iter().enumerate() {
            let start = Instant::now();
            clone_commit_push(&remote, &[file(SYNC, content)]);
            times[phase].push(start.elapsed());
        }

        let url = ssh.create_repo(&format!("timing-{run}"));
        let known = ssh_known
            .get_or_insert_with(|| git::scan_known_hosts(&url).unwrap().lines)
            .clone();
        let remote = ssh_remote(&url, &key, &known);
        for (phase, content) in ["# sync\n", "# sync v2\n"].into_iter().enumerate() {
            let start = Instant::now();
            clone_commit_push(&remote, &[file(SYNC, content)]);
            times[2 + phase].push(start.elapsed());
        }
    }
    let [https_empty, https_existing, ssh_empty, ssh_existing] = times.map(median);
    eprintln!(
        "git clone+commit+push on loopback, median of {runs}: HTTPS empty repo {https_empty:?}, existing branch {https_existing:?}; SSH empty repo {ssh_empty:?}, existing branch {ssh_existing:?}"
    );
    for time in [https_empty, https_existing, ssh_empty, ssh_existing] {
        assert!(time < Duration::from_secs(5), "{time:?}");
    }
}
