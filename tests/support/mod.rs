//! The test environment: a real etcd and kube-apiserver on loopback, started once per test
//! binary and stopped when it exits (also after a failed test).
#![allow(dead_code)]

pub mod certs;
pub mod control_plane;
pub mod forge_stand_in;
pub mod git_servers;
pub mod gitea;
pub mod golden;
pub mod helm_repository;
pub mod processes;
pub mod signing_keys;
pub mod streamed;

pub use control_plane::control_plane;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Path of one of this package's executables: cargo names them for integration tests; the
/// demo example finds them beside its own folder (`target/<profile>/examples/..`).
pub fn plugin_exe(name: &str) -> PathBuf {
    match option_env!("CARGO_BIN_EXE_kubectl-gitops") {
        Some(umbrella) => PathBuf::from(umbrella).with_file_name(name),
        None => std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent()?.parent().map(|dir| dir.join(name)))
            .unwrap_or_else(|| PathBuf::from(name)),
    }
}

/// Runs a command and returns its output; panics (failing the test) when it cannot start.
pub fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|err| panic!("cannot run {:?}: {err}", command.get_program()))
}

/// [`run`] from an async test, on a blocking thread: the stand-ins a test runs on its tokio
/// runtime (fake controllers, the kubelet stand-in) keep answering while the command waits.
pub async fn run_async(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || run(&mut command))
        .await
        .expect("join the command's thread")
}

/// The one way tests run the plugin against a cluster: `kubectl-gitops <args> --kubeconfig
/// <kubeconfig>`, with stdin closed, so it never finds a terminal and never prompts. Callers add
/// what their case needs (environment, more flags) before running it.
pub fn plugin_command(kubeconfig: impl AsRef<Path>, args: &[&str]) -> Command {
    let mut command = Command::new(plugin_exe("kubectl-gitops"));
    command
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig.as_ref())
        .stdin(Stdio::null());
    command
}

/// A control plane stands for its admin kubeconfig where the plugin runner asks for one, so tests
/// write `plugin(&plane, ...)` or `plugin(control_plane(), ...)`.
impl AsRef<Path> for control_plane::ControlPlane {
    fn as_ref(&self) -> &Path {
        &self.kubeconfig
    }
}

/// Runs [`plugin_command`] and returns its output.
pub fn plugin(kubeconfig: impl AsRef<Path>, args: &[&str]) -> Output {
    run(&mut plugin_command(kubeconfig, args))
}

/// [`plugin`] from an async test (see [`run_async`]).
pub async fn plugin_async(kubeconfig: impl AsRef<Path>, args: &[&str]) -> Output {
    run_async(plugin_command(kubeconfig, args)).await
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts a run of a plugin failed the way a user should see it: exit 1, one clear message,
/// no panic or backtrace. Returns stderr.
pub fn assert_clean_failure(output: &Output) -> String {
    assert_failure_with(output, 1)
}

/// [`assert_clean_failure`] for a wrong command line: exit 2, as kubectl's usage errors.
pub fn assert_usage_failure(output: &Output) -> String {
    assert_failure_with(output, 2)
}

fn assert_failure_with(output: &Output, code: i32) -> String {
    let err = stderr(output);
    assert_eq!(
        output.status.code(),
        Some(code),
        "expected exit {code}; stderr: {err}; stdout: {}",
        stdout(output)
    );
    assert!(
        err.starts_with("error: "),
        "stderr should start with 'error: ': {err}"
    );
    assert!(!err.contains("panicked"), "panic in stderr: {err}");
    assert!(
        !err.contains("RUST_BACKTRACE"),
        "backtrace hint in stderr: {err}"
    );
    err
}

pub mod fake_flux_controller;
pub mod flux_controllers;
pub mod kubelet_stand_in;
pub mod large_cluster;
pub mod pod_lifecycle;

/// A fresh namespace for one test, so tests running in parallel never see each other's objects.
pub fn fresh_namespace(prefix: &str) -> String {
    let name = format!("{prefix}-{}", &control_plane::random_hex()[..8]);
    control_plane().kubectl_ok(&["create", "namespace", &name]);
    name
}

/// Creates (server-side applies, as admin) one Flux object from its JSON.
pub fn apply_object(object: serde_json::Value) {
    let plane = control_plane();
    let dir = processes::temp_dir("object-");
    let file = dir.join("object.json");
    std::fs::write(&file, serde_json::to_vec(&object).expect("serialise")).expect("write object");
    plane.apply_server_side(&file);
}

/// An admin client for tests that act as the cluster (e.g. the fake controller).
pub async fn admin_client() -> kube::Client {
    admin_client_for(&control_plane().kubeconfig).await
}

/// An admin client for the cluster of `kubeconfig` (e.g. a private control plane).
pub async fn admin_client_for(kubeconfig: &std::path::Path) -> kube::Client {
    let flags = kubectl_gitops::cluster::connection::ConnectionFlags {
        kubeconfig: Some(kubeconfig.to_path_buf()),
        request_timeout: "0".into(),
        ..Default::default()
    };
    flags.connect().await.expect("admin connection").client
}

/// Writes one kubeconfig with a context per `(name, server, plane)` (cluster, user and context
/// all called `name`, the plane's admin certificate), as `KUBECONFIG` merging would show a fleet.
/// The server may be another than the plane's (e.g. a closed port).
pub fn write_fleet_kubeconfig(path: &Path, entries: &[(&str, &str, &control_plane::ControlPlane)]) {
    let mut clusters = String::new();
    let mut users = String::new();
    let mut contexts = String::new();
    for (name, server, plane) in entries {
        let (cert, key) = plane.pki.client_cert("admin", Some("system:masters"));
        clusters += &format!(
            "- name: {name}\n  cluster:\n    server: {server}\n    certificate-authority: {}\n",
            plane.pki.serving_ca.display()
        );
        users += &format!(
            "- name: {name}\n  user:\n    client-certificate: {}\n    client-key: {}\n",
            cert.display(),
            key.display()
        );
        contexts += &format!("- name: {name}\n  context:\n    cluster: {name}\n    user: {name}\n");
    }
    let current = entries.first().map_or("", |(name, _, _)| name);
    let text = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: {current}\nclusters:\n{clusters}users:\n{users}contexts:\n{contexts}"
    );
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// `git` run in `cwd` as a test user plays it: never prompting, English messages, its own
/// HOME (no user config), a fixed author and committer `name <email>`, and no askpass helper.
pub fn git_command(cwd: &std::path::Path, name: &str, email: &str) -> Command {
    let mut command = Command::new("git");
    command
        .current_dir(cwd)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .env("HOME", cwd)
        .env("GIT_AUTHOR_NAME", name)
        .env("GIT_AUTHOR_EMAIL", email)
        .env("GIT_COMMITTER_NAME", name)
        .env("GIT_COMMITTER_EMAIL", email)
        .env_remove("GIT_ASKPASS")
        .env_remove("SSH_ASKPASS");
    command
}
