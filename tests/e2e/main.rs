//! End to end on the real Flux controllers: `kubectl gitops bootstrap git`, `reconcile`,
//! `status`, `suspend`/`resume` and `uninstall` against source-, kustomize-, helm- and
//! notification-controller built from their Go modules (tests/env/prepare.sh), running as host
//! processes against a private control plane, cloning from real Git servers on loopback.
//!
//! Every test changes cluster-wide state (CRDs, cluster roles), so each has its own control
//! plane, Git server and controllers. Two parts of a cluster do not exist here and are played,
//! named as such: the kubelet stand-in (a Deployment is available while its host process
//! answers `/readyz`) and the pod lifecycle (tests/support/pod_lifecycle.rs): a controller's process starts
//! once bootstrap created its Deployment and stops when the Deployment is deleted.

#[path = "../support/mod.rs"]
mod support;

mod bootstrap;
mod bootstrap_gitea;
mod bootstrap_gitlab_token;
mod bootstrap_keys;
mod bootstrap_submodules;
mod dependencies;
mod diff;
mod fleet;
mod inspect;
mod live_forges;
mod reconcile;
mod rollback;
mod uninstall;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::control_plane::ControlPlane;
use support::pod_lifecycle::PodLifecycle;
use support::processes::temp_dir;
use support::{plugin_command, run, run_async, stderr, stdout};

const NS: &str = "flux-system";
/// What bootstrap and reconcile may take on two shared cores; fail-fast checks are far shorter.
const TIMEOUT: &str = "5m";
/// What a user runs after a push: the root Kustomization and its source, now.
const RECONCILE_ROOT: [&str; 8] = [
    "reconcile",
    "ks",
    NS,
    "-n",
    NS,
    "--with-source",
    "--timeout",
    TIMEOUT,
];

/// A Kustomization `apps` on `./apps` of the bootstrapped repository (diff, history, rollback).
pub const APPS_KUSTOMIZATION: &str = "apiVersion: kustomize.toolkit.fluxcd.io/v1
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

/// A private cluster with the real Flux controllers playing the Pods of a Flux install.
pub struct LiveFlux {
    pub plane: Arc<ControlPlane>,
    pods: PodLifecycle,
    cache: PathBuf,
}

impl Drop for LiveFlux {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
    }
}

impl LiveFlux {
    /// Starts a control plane with the namespace and garbage-collector controllers, the
    /// kubelet stand-in and the pod lifecycle for `flux-system`. No Flux yet: bootstrap
    /// installs it, and then the controllers start.
    pub async fn start() -> LiveFlux {
        let plane = Arc::new(
            tokio::task::spawn_blocking(start_plane)
                .await
                .expect("start"),
        );
        let client = client_for(&plane).await;
        let pods = PodLifecycle::start(client, plane.clone(), NS);
        LiveFlux {
            plane,
            pods,
            cache: temp_dir("cache-"),
        }
    }

    /// The controllers' log tails, for failure messages.
    pub fn logs(&self) -> String {
        self.pods.logs()
    }

    /// Names of the controllers running now.
    pub fn running(&self) -> Vec<String> {
        self.pods.running()
    }

    /// `kubectl-gitops <args>` as the admin, stdin closed (no terminal), off the runtime.
    pub async fn gitops(&self, args: &[&str]) -> Output {
        let mut command = plugin_command(&self.plane.kubeconfig, args);
        command
            .env("XDG_CACHE_HOME", &self.cache)
            .env_remove("GIT_PASSWORD");
        run_async(command).await
    }

    /// Like `gitops`, and fails the test (with the controllers' logs) unless it succeeds.
    pub async fn gitops_ok(&self, args: &[&str]) -> Output {
        let out = self.gitops(args).await;
        assert!(
            out.status.success(),
            "kubectl gitops {args:?} failed:\nstdout: {}\nstderr: {}",
            stdout(&out),
            stderr(&out)
        );
        out
    }

    /// `kubectl-gitops bootstrap git <args>` with the release's manifests (no download).
    pub fn bootstrap_command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        self.bootstrap_command_on("git", args, env)
    }

    /// `kubectl-gitops bootstrap <provider> <args>` (git, gitea) with the release's manifests.
    pub fn bootstrap_command_on(
        &self,
        provider: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Command {
        let mut command = plugin_command(&self.plane.kubeconfig, &["bootstrap", provider]);
        command
            .args(args)
            .arg("--manifests")
            .arg(self.plane.assets.flux_release.join("install.yaml"))
            .args(["--timeout", TIMEOUT])
            .env("XDG_CACHE_HOME", &self.cache)
            .env_remove("GIT_PASSWORD")
            .env_remove("GITEA_TOKEN");
        for (key, value) in env {
            command.env(key, value);
        }
        command
    }

    pub async fn bootstrap(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        run_async(self.bootstrap_command(args, env)).await
    }

    /// `bootstrap`, which must succeed; a failure shows its output and the controllers' logs.
    pub async fn bootstrap_ok(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let out = self.bootstrap(args, env).await;
        assert!(
            out.status.success(),
            "bootstrap {args:?} failed:\n{}\n{}\n{}",
            stdout(&out),
            stderr(&out),
            self.logs()
        );
        out
    }

    /// An object as JSON, or None while it does not exist.
    pub fn get(&self, kind: &str, namespace: &str, name: &str) -> Option<serde_json::Value> {
        let mut command = self.plane.kubectl();
        command.args(["get", kind, name, "-o", "json", "--ignore-not-found"]);
        if !namespace.is_empty() {
            command.args(["-n", namespace]);
        }
        let out = run(&mut command);
        assert!(out.status.success(), "kubectl get: {}", stderr(&out));
        (!out.stdout.is_empty())
            .then(|| serde_json::from_slice(&out.stdout).expect("kubectl prints JSON"))
    }

    /// Names of the objects `kubectl get <args>` lists (empty when none).
    pub fn names(&self, args: &[&str]) -> Vec<String> {
        let mut full = vec!["get"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["-o", "name", "--ignore-not-found"]);
        self.plane
            .kubectl_ok(&full)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

fn start_plane() -> ControlPlane {
    let plane = ControlPlane::start_private();
    // Namespace deletion (uninstall) and owner references need them, as in a cluster.
    plane.start_controller_manager();
    plane
}

async fn client_for(plane: &ControlPlane) -> kube::Client {
    support::admin_client_for(&plane.kubeconfig).await
}

/// git as a test user plus `env` (the auth of one server); returns stdout.
pub fn git(cwd: &Path, args: &[&str], env: &[(String, String)]) -> String {
    let mut command = support::git_command(cwd, "Test", "test@example.com");
    command.args(args).envs(env.iter().map(|(k, v)| (k, v)));
    let out = run(&mut command);
    assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    stdout(&out).trim_end().to_string()
}

/// The commit a branch of a bare repository points to.
pub fn head(bare: &Path) -> String {
    let out = run(Command::new("git")
        .arg("--git-dir")
        .arg(bare)
        .args(["rev-parse", "refs/heads/main"]));
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).trim().to_string()
}

/// Pushes one commit to main of `url` that writes `files` (None deletes the file); returns
/// its SHA-1. `env` carries the server's auth.
pub fn push(
    url: &str,
    env: &[(String, String)],
    message: &str,
    files: &[(&str, Option<&str>)],
) -> String {
    let dir = temp_dir("git-client-");
    git(&dir, &["clone", "--quiet", url, "work"], env);
    let work = dir.join("work");
    for (path, text) in files {
        let file = work.join(path);
        match text {
            Some(text) => {
                std::fs::create_dir_all(file.parent().expect("a folder")).expect("mkdir");
                std::fs::write(&file, text).expect("write file");
                git(&work, &["add", path], env);
            }
            None => {
                git(&work, &["rm", "-q", path], env);
            }
        }
    }
    git(&work, &["commit", "-q", "-m", message], env);
    git(&work, &["push", "--quiet", "origin", "main"], env);
    git(&work, &["rev-parse", "HEAD"], env)
}

/// The Ready condition of an object, as (status, reason, message).
pub fn ready(object: &serde_json::Value) -> (String, String, String) {
    let condition = object["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .cloned()
        .unwrap_or_default();
    let text = |key: &str| condition[key].as_str().unwrap_or_default().to_string();
    (text("status"), text("reason"), text("message"))
}

/// Polls until `done` holds, or fails with `what` and the controllers' logs.
pub async fn eventually(
    flux: &LiveFlux,
    what: &str,
    limit: Duration,
    mut done: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what}: not within {limit:?}\n{}",
            flux.logs()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits until Kustomization `apps` is Ready with `commit` applied.
pub async fn apps_ready_at(b: &bootstrap::Bootstrapped, commit: &str) {
    let revision = format!("main@sha1:{commit}");
    eventually(
        &b.flux,
        "Kustomization apps is Ready at the pushed commit",
        Duration::from_secs(120),
        || {
            b.flux.get("kustomization", NS, "apps").is_some_and(|ks| {
                ready(&ks).0 == "True" && ks["status"]["lastAppliedRevision"] == revision.as_str()
            })
        },
    )
    .await;
}
