//! Benchmark on the real Flux controllers (issue 16): the time from a failed Kustomization to
//! Ready again, with `kubectl gitops rollback ks apps --yes` next to the same recovery done by
//! hand: look up the last applied commit, `git pull` in an existing clone,
//! `git checkout <last good> -- apps`, `git commit`, `git push`, then the real
//! `flux reconcile ks apps --with-source`. Before each measurement a commit that breaks the
//! `apps` folder (a ConfigMap without a name: kustomize cannot build it) is pushed and the
//! Kustomization is seen failing at it. Runs alternate which recovery goes first. After each,
//! the Kustomization must be Ready at the branch's new head with the good value applied.
//! Run with `tests/bench_rollback.sh`; prints a Markdown table.

#[path = "common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use common::median;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::control_plane::ControlPlane;
use support::git_servers::GitHttpServer;
use support::pod_lifecycle::PodLifecycle;

const NS: &str = "flux-system";

const APPS: &str = "apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: 10m
  path: ./apps
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
";

const GOOD: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: default\ndata:\n  value: good\n";

/// A manifest kustomize cannot build: a ConfigMap without a name (the run number makes each
/// broken commit's content its own).
fn broken(run: usize) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  namespace: default\ndata:\n  value: broken-{run}\n"
    )
}

fn runs() -> usize {
    std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5)
}

fn output(command: &mut Command, what: &str) -> Output {
    command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {what}: {e}"))
}

fn succeed(command: &mut Command, what: &str, logs: &dyn Fn() -> String) -> String {
    let out = output(command, what);
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        logs()
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// Git as the user of the server: its CA, basic auth in a header (no password in argv).
struct GitUser {
    env: Vec<(String, String)>,
}

impl GitUser {
    fn new(server: &GitHttpServer) -> GitUser {
        use base64::Engine;
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", server.username, server.password));
        GitUser {
            env: vec![
                (
                    "GIT_SSL_CAINFO".into(),
                    server.ca_file.display().to_string(),
                ),
                ("GIT_CONFIG_COUNT".into(), "1".into()),
                ("GIT_CONFIG_KEY_0".into(), "http.extraHeader".into()),
                (
                    "GIT_CONFIG_VALUE_0".into(),
                    format!("Authorization: Basic {token}"),
                ),
            ],
        }
    }

    fn command(&self, dir: &Path, args: &[&str]) -> Command {
        let mut command = support::git_command(dir, "Bench", "bench@example.com");
        command
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    fn run(&self, dir: &Path, args: &[&str]) -> String {
        let out = output(&mut self.command(dir, args), "git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A clone of `url` in a new folder.
    fn clone(&self, url: &str, prefix: &str) -> PathBuf {
        let dir = support::processes::temp_dir(prefix);
        self.run(&dir, &["clone", "--quiet", url, "work"]);
        dir.join("work")
    }

    /// Pulls, writes `files`, commits and pushes; returns the new commit.
    fn push(&self, work: &Path, message: &str, files: &[(&str, &str)]) -> String {
        self.run(work, &["pull", "--quiet", "--ff-only"]);
        for (path, text) in files {
            let file = work.join(path);
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent).expect("create folder");
            }
            std::fs::write(&file, text).expect("write file");
            self.run(work, &["add", path]);
        }
        self.run(work, &["commit", "--quiet", "-m", message]);
        self.run(work, &["push", "--quiet", "origin", "main"]);
        self.run(work, &["rev-parse", "HEAD"])
    }
}

struct Bench {
    plane: Arc<ControlPlane>,
    pods: PodLifecycle,
    server: GitHttpServer,
    url: String,
    cache: PathBuf,
    user: GitUser,
}

impl Bench {
    fn logs(&self) -> String {
        self.pods.logs()
    }

    /// `kubectl-gitops <args>` as the user of the Git server, test kubectl first on PATH.
    fn ours(&self, args: &[&str]) -> Command {
        let mut command = support::plugin_command(&self.plane.kubeconfig, args);
        command
            .env("PATH", self.plane.assets.path_with_kubectl())
            .env("XDG_CACHE_HOME", &self.cache)
            .env("GIT_PASSWORD", &self.server.password);
        command
    }

    fn head(&self) -> String {
        let out = output(
            Command::new("git")
                .arg("--git-dir")
                .arg(self.server.bare_path("fleet"))
                .args(["rev-parse", "refs/heads/main"]),
            "git rev-parse",
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn apps(&self) -> serde_json::Value {
        let json = self
            .plane
            .kubectl_ok(&["get", "kustomization", "apps", "-n", NS, "-o", "json"]);
        serde_json::from_str(&json).expect("kubectl prints JSON")
    }

    fn settings_value(&self) -> String {
        let out = output(
            self.plane.kubectl().args([
                "get",
                "configmap",
                "settings",
                "-n",
                "default",
                "-o",
                "jsonpath={.data.value}",
                "--ignore-not-found",
            ]),
            "kubectl get configmap",
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// (Ready status, lastAppliedRevision, lastAttemptedRevision) of `apps`.
    fn apps_state(&self) -> (String, String, String) {
        let ks = self.apps();
        let ready = ks["status"]["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
            .and_then(|c| c["status"].as_str())
            .unwrap_or_default()
            .to_string();
        let text = |key: &str| ks["status"][key].as_str().unwrap_or_default().to_string();
        (
            ready,
            text("lastAppliedRevision"),
            text("lastAttemptedRevision"),
        )
    }

    fn wait(&self, what: &str, mut done: impl FnMut(&(String, String, String)) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let state = self.apps_state();
            if done(&state) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: apps is {state:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Whether `apps` is Ready at the branch's head, with the good value applied; waits (and
    /// says so) when it is not yet at the moment the recovery exited.
    fn confirm_ready_at_head(&self, what: &str, broken: &str) -> bool {
        let head = self.head();
        assert_ne!(head, broken, "{what} pushed no commit");
        let revision = format!("main@sha1:{head}");
        let at_exit = self.apps_state();
        let ready_at_exit = at_exit.0 == "True" && at_exit.1 == revision;
        if !ready_at_exit {
            eprintln!("{what}: not yet Ready at {revision} on exit: {at_exit:?}");
            self.wait(what, |s| s.0 == "True" && s.1 == revision);
        }
        assert_eq!(self.settings_value(), "good", "{what} restored the value");
        ready_at_exit
    }

    /// Pushes a commit that breaks `apps` and waits until the Kustomization failed at it.
    fn break_apps(&self, setup: &Path, run: usize) -> String {
        let bad = self.user.push(
            setup,
            &format!("Break apps ({run})"),
            &[("apps/settings.yaml", &broken(run))],
        );
        succeed(
            &mut self.ours(&[
                "reconcile",
                "ks",
                NS,
                "-n",
                NS,
                "--with-source",
                "--timeout",
                "5m",
            ]),
            "kubectl gitops reconcile ks flux-system",
            &|| self.logs(),
        );
        // Fails (exit 1) once kustomize-controller tried the broken commit.
        let _ = output(
            &mut self.ours(&["reconcile", "ks", "apps", "-n", NS, "--timeout", "5m"]),
            "kubectl gitops reconcile ks apps",
        );
        let revision = format!("main@sha1:{bad}");
        self.wait("apps fails at the broken commit", |s| {
            s.0 == "False" && s.2 == revision
        });
        bad
    }
}

#[derive(Default)]
struct Times {
    rollback: Vec<Duration>,
    by_hand: Vec<Duration>,
    by_hand_git: Vec<Duration>,
    by_hand_flux: Vec<Duration>,
    not_ready_at_exit: Vec<String>,
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let _entered = runtime.enter();
    let plane = Arc::new(ControlPlane::start_private());
    plane.start_controller_manager();
    let server = GitHttpServer::start();
    let url = server.create_repo("fleet");
    let client = runtime.block_on(support::admin_client_for(&plane.kubeconfig));
    let pods = PodLifecycle::start(client, plane.clone(), NS);
    let user = GitUser::new(&server);
    let bench = Bench {
        plane,
        pods,
        url,
        cache: support::processes::temp_dir("bench-rollback-cache-"),
        user,
        server,
    };
    let ca_file = bench.server.ca_file.display().to_string();
    let install = bench
        .plane
        .assets
        .flux_release
        .join("install.yaml")
        .display()
        .to_string();
    succeed(
        &mut bench.ours(&[
            "bootstrap",
            "git",
            "--url",
            &bench.url,
            "--token-auth",
            "--username",
            &bench.server.username,
            "--ca-file",
            &ca_file,
            "--path",
            "clusters/bench",
            "--timeout",
            "5m",
            "--manifests",
            &install,
        ]),
        "kubectl gitops bootstrap git",
        &|| bench.logs(),
    );

    // The app: a Kustomization `apps` on ./apps, Ready at its first commit.
    let setup = bench.user.clone(&bench.url, "bench-rollback-setup-");
    let first = bench.user.push(
        &setup,
        "apps",
        &[
            ("clusters/bench/apps.yaml", APPS),
            ("apps/settings.yaml", GOOD),
        ],
    );
    succeed(
        &mut bench.ours(&[
            "reconcile",
            "ks",
            NS,
            "-n",
            NS,
            "--with-source",
            "--timeout",
            "5m",
        ]),
        "kubectl gitops reconcile ks flux-system",
        &|| bench.logs(),
    );
    let revision = format!("main@sha1:{first}");
    bench.wait("apps Ready at its first commit", |s| {
        s.0 == "True" && s.1 == revision
    });
    // The user's own clone, made once: by hand they fetch in it.
    let hand = bench.user.clone(&bench.url, "bench-rollback-hand-");

    let mut times = Times::default();
    for run in 0..runs() {
        let order = if run % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for ours in order {
            let bad = bench.break_apps(&setup, 2 * run + usize::from(!ours));
            if ours {
                let started = Instant::now();
                succeed(
                    &mut bench.ours(&[
                        "rollback",
                        "ks",
                        "apps",
                        "-n",
                        NS,
                        "--yes",
                        "--git-username",
                        &bench.server.username,
                        "--ca-file",
                        &ca_file,
                    ]),
                    "kubectl gitops rollback",
                    &|| bench.logs(),
                );
                let took = started.elapsed();
                eprintln!("run {run}: kubectl gitops rollback {}", secs(took));
                times.rollback.push(took);
                if !bench.confirm_ready_at_head("kubectl gitops rollback", &bad) {
                    times.not_ready_at_exit.push(format!("rollback, run {run}"));
                }
            } else {
                let started = Instant::now();
                let applied = succeed(
                    bench.plane.kubectl().args([
                        "get",
                        "kustomization",
                        "apps",
                        "-n",
                        NS,
                        "-o",
                        "jsonpath={.status.lastAppliedRevision}",
                    ]),
                    "kubectl get kustomization",
                    &|| bench.logs(),
                );
                let good = applied
                    .rsplit_once("sha1:")
                    .map(|(_, sha)| sha.to_string())
                    .unwrap_or_else(|| panic!("lastAppliedRevision {applied:?}"));
                bench.user.run(&hand, &["pull", "--quiet", "--ff-only"]);
                bench.user.run(&hand, &["checkout", &good, "--", "apps"]);
                bench.user.run(
                    &hand,
                    &[
                        "commit",
                        "--quiet",
                        "-m",
                        &format!("Roll back apps to {good}"),
                    ],
                );
                bench
                    .user
                    .run(&hand, &["push", "--quiet", "origin", "main"]);
                let git_done = started.elapsed();
                succeed(
                    Command::new(&bench.plane.assets.flux_cli)
                        .arg("--kubeconfig")
                        .arg(&bench.plane.kubeconfig)
                        .args([
                            "reconcile",
                            "ks",
                            "apps",
                            "-n",
                            NS,
                            "--with-source",
                            "--timeout",
                            "5m",
                        ]),
                    "flux reconcile ks apps --with-source",
                    &|| bench.logs(),
                );
                let took = started.elapsed();
                eprintln!(
                    "run {run}: by hand {} (look-up and git {}, flux reconcile {})",
                    secs(took),
                    secs(git_done),
                    secs(took - git_done)
                );
                times.by_hand.push(took);
                times.by_hand_git.push(git_done);
                times.by_hand_flux.push(took - git_done);
                if !bench.confirm_ready_at_head("git + flux reconcile", &bad) {
                    times.not_ready_at_exit.push(format!("by hand, run {run}"));
                }
            }
        }
    }

    let row = |name: &str, v: &[Duration]| {
        let (lo, hi) = (v.iter().min().copied(), v.iter().max().copied());
        println!(
            "| {name} | {} | {} | {} |",
            secs(median(v.to_vec())),
            secs(lo.unwrap_or_default()),
            secs(hi.unwrap_or_default())
        );
    };
    println!(
        "\nOn the real Flux {} controllers, {} runs each, alternating which goes first; each \
         from a Kustomization failed at a pushed broken commit:\n",
        bench.plane.assets.flux_version,
        runs()
    );
    println!("| failed `apps` back to Ready, start to exit | median | min | max |");
    println!("|---|---|---|---|");
    row("`kubectl gitops rollback ks apps --yes`", &times.rollback);
    row(
        "by hand: look up, git pull/checkout/commit/push, `flux reconcile ks apps --with-source`",
        &times.by_hand,
    );
    row(
        "… of which the look-up and git commands",
        &times.by_hand_git,
    );
    row(
        "… of which `flux reconcile ks apps --with-source`",
        &times.by_hand_flux,
    );
    let (ours, hand) = (
        median(times.rollback.clone()),
        median(times.by_hand.clone()),
    );
    println!(
        "\nRatio of the medians, by hand / rollback: {:.2}",
        hand.as_secs_f64() / ours.as_secs_f64()
    );
    if times.not_ready_at_exit.is_empty() {
        println!("Every recovery left `apps` Ready at the new head when it exited.");
    } else {
        println!(
            "Not yet Ready at the new head on exit: {}",
            times.not_ready_at_exit.join(", ")
        );
    }
}
