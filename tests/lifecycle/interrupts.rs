//! `bootstrap git` interrupted by SIGINT and SIGTERM in each of its phases (clone, commit,
//! push, apply, wait), over HTTPS and over SSH, against the real Git servers and a real
//! control plane: the exit code and the one interruption line, nothing of the plugin's left
//! in its TMPDIR (no folder, no key material, no process), and a re-run that converges to
//! what an uninterrupted run left (same tree, no duplicate commit, same objects and Secret).
//!
//! A SIGKILL in the push leaves the clone's folder (nothing can catch it) but no key material,
//! and no ssh-agent or git.
//!
//! Each phase is hit deterministically where something outside the plugin can hold it: the
//! Git servers hold the clone's or the push's request (`git_servers::hold`), and the wait has
//! no controller stand-in to answer. Committing is in-process work of milliseconds: the
//! signal goes on the "cloned repository" line, with pushes held, so the line names either
//! commit step or the push, all before any change.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use crate::bootstrap::{bootstrap_command, git, https_args, source_secret, stand_ins, strs};
use crate::names;
use crate::support::control_plane::ControlPlane;
use crate::support::git_servers::{
    GitHttpServer, GitService, GitSshServer, hold, release, wait_held,
};
use crate::support::processes::temp_dir;
use crate::support::{run_async, stderr, stdout};

const NS: &str = "flux-system";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Clone,
    Commit,
    Push,
    Apply,
    Wait,
}

/// Every phase with both signals.
const CASES: &[(Phase, i32)] = &[
    (Phase::Clone, libc::SIGINT),
    (Phase::Clone, libc::SIGTERM),
    (Phase::Commit, libc::SIGINT),
    (Phase::Commit, libc::SIGTERM),
    (Phase::Push, libc::SIGINT),
    (Phase::Push, libc::SIGTERM),
    (Phase::Apply, libc::SIGINT),
    (Phase::Apply, libc::SIGTERM),
    (Phase::Wait, libc::SIGINT),
    (Phase::Wait, libc::SIGTERM),
];

/// One transport's setup: the repository, the flags and environment, and the secret that
/// must never be left on disk.
struct Target {
    url: String,
    bare: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// Lines of the private key, or the password.
    secrets: Vec<String>,
}

/// What an uninterrupted run leaves: the branch's tree and commits, the objects, the Secret.
#[derive(Debug, PartialEq, Eq)]
struct Converged {
    tree: String,
    commits: String,
    objects: Vec<String>,
    sync_specs: String,
    secret: BTreeMap<String, String>,
}

fn converged(plane: &ControlPlane, bare: &Path) -> Converged {
    let mut objects = names(
        plane,
        &[
            "deployments,services,serviceaccounts,networkpolicies,secrets,gitrepositories,kustomizations",
            "-n",
            NS,
        ],
    );
    objects.extend(names(
        plane,
        &[
            "crd,clusterroles,clusterrolebindings",
            "-l",
            "app.kubernetes.io/part-of=flux",
        ],
    ));
    Converged {
        tree: git(bare, &["rev-parse", "main^{tree}"]),
        commits: git(bare, &["log", "--format=%an|%s", "main"]),
        objects,
        sync_specs: plane.kubectl_ok(&[
            "get",
            "gitrepository/flux-system",
            "kustomization/flux-system",
            "-n",
            NS,
            "-o",
            "jsonpath={.items[*].spec}",
        ]),
        secret: source_secret(plane),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_bootstrap_interrupted_in_each_phase_cleans_up_and_a_rerun_converges() {
    let plane = ControlPlane::start_private();
    let server = GitHttpServer::start();
    let url = server.create_repo("fleet");
    let target = Target {
        bare: server.bare_path("fleet"),
        args: https_args(&server, &url),
        env: vec![("GIT_PASSWORD".into(), server.password.clone())],
        secrets: vec![server.password.clone()],
        url,
    };
    interrupt_each_phase(&plane, &target).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_bootstrap_interrupted_in_each_phase_cleans_up_and_a_rerun_converges() {
    let plane = ControlPlane::start_private();
    let server = GitSshServer::start();
    let url = server.create_repo("fleet");
    // The user's key, outside the plugin's TMPDIR, let in through the holding forced command.
    let keys = temp_dir("interrupt-key-");
    let key_file = keys.join("id_ed25519");
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key_file)
        .output()
        .expect("run ssh-keygen");
    assert!(out.status.success(), "{}", stderr(&out));
    server.authorize_holding(&std::fs::read_to_string(key_file.with_extension("pub")).unwrap());
    let private_key = std::fs::read_to_string(&key_file).unwrap();
    let target = Target {
        bare: server.bare_path("fleet"),
        args: vec![
            "--url".into(),
            url.clone(),
            "--path".into(),
            "clusters/dev".into(),
            "--private-key-file".into(),
            key_file.display().to_string(),
        ],
        env: Vec::new(),
        secrets: private_key
            .lines()
            .filter(|line| line.len() > 16 && !line.starts_with("-----"))
            .map(str::to_string)
            .collect(),
        url,
    };
    interrupt_each_phase(&plane, &target).await;
}

async fn interrupt_each_phase(plane: &ControlPlane, target: &Target) {
    // The reference: an uninterrupted run.
    rerun(plane, target).await;
    let reference = converged(plane, &target.bare);
    assert_eq!(
        reference.commits,
        "Flux|Add Flux sync manifests\nFlux|Add Flux v2.9.4 component manifests"
    );

    for &(phase, signal) in CASES {
        let case = format!("{phase:?} with signal {signal}");
        // The repository is empty again, so the run commits and pushes; for the apply phase
        // the root Kustomization goes too, so the components are installed again.
        git(&target.bare, &["update-ref", "-d", "refs/heads/main"]);
        if phase == Phase::Apply {
            plane.kubectl_ok(&["delete", "kustomization/flux-system", "-n", NS]);
        }
        let held = match phase {
            Phase::Clone => Some(GitService::UploadPack),
            Phase::Commit | Phase::Push => Some(GitService::ReceivePack),
            Phase::Apply | Phase::Wait => None,
        };
        if let Some(service) = held {
            hold(&target.bare, service);
        }
        let tmp = temp_dir("interrupt-tmp-");
        let command = interrupted_command(plane, target, &tmp);
        let bare = target.bare.clone();
        let (code, progress) =
            tokio::task::spawn_blocking(move || interrupt_at(command, phase, &bare, signal))
                .await
                .unwrap();
        if let Some(service) = held {
            release(&target.bare, service);
        }

        assert_eq!(
            code,
            Some(if signal == libc::SIGINT { 130 } else { 143 }),
            "{case}: {progress}"
        );
        let last = progress.lines().last().unwrap_or_default();
        let expected = expected_lines(phase, target);
        assert!(
            expected.iter().any(|line| line == last),
            "{case}: the last line is {last:?}, expected one of {expected:?}; stderr:\n{progress}"
        );
        assert!(!progress.contains("panicked"), "{case}: {progress}");
        assert_nothing_left(&tmp, &target.secrets, &case);

        rerun(plane, target).await;
        assert_eq!(converged(plane, &target.bare), reference, "{case}");
    }

    // SIGKILL cannot be caught: the clone's folder stays, but no key material is in it or
    // anywhere under TMPDIR, git dies with the plugin (Linux death signal) and ssh-agent,
    // which holds the key in memory, follows within 10 seconds.
    git(&target.bare, &["update-ref", "-d", "refs/heads/main"]);
    hold(&target.bare, GitService::ReceivePack);
    let tmp = temp_dir("interrupt-tmp-");
    let command = interrupted_command(plane, target, &tmp);
    let bare = target.bare.clone();
    let (code, progress) = tokio::task::spawn_blocking(move || {
        interrupt_at(command, Phase::Push, &bare, libc::SIGKILL)
    })
    .await
    .unwrap();
    assert_eq!(code, None, "killed: {progress}");
    let left: Vec<PathBuf> = std::fs::read_dir(&tmp)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert!(!left.is_empty(), "SIGKILL leaves the clone's folder");
    for secret in &target.secrets {
        assert!(
            files_containing(&tmp, secret).is_empty(),
            "key material left"
        );
    }
    let marker = format!("TMPDIR={}", tmp.display());
    // ssh-agent checks every 10 seconds that the process it serves is still there.
    let deadline = Instant::now() + Duration::from_secs(15);
    while processes_with_env(&marker).iter().any(|(_, command)| {
        command.starts_with("ssh-agent ") || command.starts_with("git --git-dir ")
    }) {
        assert!(
            Instant::now() < deadline,
            "children outlive a SIGKILL: {:?}",
            processes_with_env(&marker)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // What is not a direct child (ssh, git-remote-https) ends with the held request.
    release(&target.bare, GitService::ReceivePack);
    for (pid, _) in processes_with_env(&marker) {
        // SAFETY: stopping leftovers of the plugin this test killed.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    rerun(plane, target).await;
    assert_eq!(converged(plane, &target.bare), reference, "after SIGKILL");
}

/// The run to interrupt: no controller stand-ins (so the wait blocks), TMPDIR of its own.
fn interrupted_command(plane: &ControlPlane, target: &Target, tmp: &Path) -> std::process::Command {
    let env: Vec<(&str, &str)> = target
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut command = bootstrap_command(plane, &strs(&target.args), &env);
    command
        .env("TMPDIR", tmp)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Runs `command`, sends `signal` once `phase` is in progress, and returns the exit code
/// and everything printed on stderr.
fn interrupt_at(
    mut command: std::process::Command,
    phase: Phase,
    bare: &Path,
    signal: i32,
) -> (Option<i32>, String) {
    let mut child = command.spawn().expect("start bootstrap");
    let lines = read_lines(child.stderr.take().expect("stderr"));
    let mut seen = String::new();
    let trigger = |phase: Phase| match phase {
        Phase::Commit => Some("✔ cloned repository"),
        Phase::Apply => Some("► installing components in namespace flux-system"),
        Phase::Wait => Some("◎ waiting for GitRepository flux-system/flux-system"),
        Phase::Clone | Phase::Push => None,
    };
    match (phase, trigger(phase)) {
        (Phase::Clone, _) => wait_held(bare, GitService::UploadPack),
        (Phase::Push, _) => wait_held(bare, GitService::ReceivePack),
        (_, Some(prefix)) => loop {
            let line = lines
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("no line {prefix:?} within 60s; stderr:\n{seen}"));
            seen.push_str(&line);
            seen.push('\n');
            if line.starts_with(prefix) {
                break;
            }
        },
        (_, None) => unreachable!(),
    }
    // SAFETY: signalling the child this function started.
    unsafe { libc::kill(child.id() as i32, signal) };
    let status = child.wait().expect("wait for bootstrap");
    seen.extend(lines.iter().map(|line| line + "\n"));
    (status.code(), seen)
}

/// stderr's lines as they come.
fn read_lines(stream: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stream)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The interruption lines a phase may give (whole lines).
fn expected_lines(phase: Phase, target: &Target) -> Vec<String> {
    let url = &target.url;
    let nothing = |step: String| format!("interrupted while {step}; nothing was changed");
    match phase {
        Phase::Clone => vec![nothing(format!(
            "cloning branch \"main\" from Git repository \"{url}\""
        ))],
        Phase::Commit => vec![
            nothing("committing component manifests to \"main\"".to_string()),
            nothing("committing sync manifests to \"main\"".to_string()),
            nothing(format!("pushing to \"{url}\"")),
        ],
        Phase::Push => vec![nothing(format!("pushing to \"{url}\""))],
        Phase::Apply => {
            let head = git(&target.bare, &["rev-parse", "refs/heads/main"]);
            vec![format!(
                "interrupted while installing components in namespace {NS}; nothing was changed after pushed commit {} to main",
                &head[..7]
            )]
        }
        Phase::Wait => {
            let head = git(&target.bare, &["rev-parse", "refs/heads/main"]);
            vec![format!(
                "interrupted while waiting for GitRepository {NS}/{NS} to be reconciled at main@sha1:{head}; nothing was changed after patched GitRepository {NS}/{NS}"
            )]
        }
    }
}

/// Nothing under the plugin's TMPDIR (no folder, so no key either) and no process left that
/// the plugin started (they inherit TMPDIR, which /proc shows).
fn assert_nothing_left(tmp: &Path, secrets: &[String], case: &str) {
    let left: Vec<PathBuf> = std::fs::read_dir(tmp)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert!(left.is_empty(), "{case}: left in TMPDIR: {left:?}");
    for secret in secrets {
        assert!(
            files_containing(tmp, secret).is_empty(),
            "{case}: key material left"
        );
    }
    let marker = format!("TMPDIR={}", tmp.display());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let running = processes_with_env(&marker);
        if running.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{case}: processes the plugin started still run: {running:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Files under `dir` whose content holds `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
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
            } else if std::fs::read(&path).is_ok_and(|bytes| {
                bytes
                    .windows(needle.len())
                    .any(|window| window == needle.as_bytes())
            }) {
                found.push(path);
            }
        }
    }
    found
}

/// Ids and command lines of the live processes whose environment holds `entry` (`NAME=value`).
fn processes_with_env(entry: &str) -> Vec<(i32, String)> {
    let mut found = Vec::new();
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return found;
    };
    for process in processes.flatten() {
        let path = process.path();
        let Ok(environ) = std::fs::read(path.join("environ")) else {
            continue;
        };
        if environ
            .split(|byte| *byte == 0)
            .any(|variable| variable == entry.as_bytes())
        {
            let cmdline = std::fs::read(path.join("cmdline")).unwrap_or_default();
            let pid = process.file_name().to_string_lossy().parse().unwrap_or(0);
            found.push((pid, String::from_utf8_lossy(&cmdline).replace('\0', " ")));
        }
    }
    found
}

/// A run with the controller stand-ins, which must succeed.
async fn rerun(plane: &ControlPlane, target: &Target) {
    let _stand_ins = stand_ins(plane, &target.bare).await;
    let env: Vec<(&str, &str)> = target
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let out = run_async(bootstrap_command(plane, &strs(&target.args), &env)).await;
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
}
