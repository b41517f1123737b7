//! The local demo, the whole story on a fresh machine: a real Kubernetes control plane on
//! loopback, an HTTPS Git server with an empty repository, and the real Flux controllers.
//! `kubectl gitops bootstrap git` installs Flux and commits it to the repository; status shows
//! it synced; a ConfigMap pushed under the cluster path is applied by
//! `kubectl gitops reconcile ks flux-system --with-source`; status again. Every kubectl-gitops
//! command goes through the real kubectl, as a plugin.
//!
//! There is no kubelet here: the Flux controllers run as host processes, started when
//! bootstrap creates their Deployments (tests/support/pod_lifecycle.rs) and reported ready by
//! the kubelet stand-in (tests/support/kubelet_stand_in.rs).
//!
//! Run it with `tests/demo.sh`. Pass `--keep` to leave everything running until Enter is
//! pressed, with the commands to try it printed.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use support::control_plane::ControlPlane;
use support::git_servers::GitHttpServer;
use support::pod_lifecycle::PodLifecycle;

const PLUGINS: [&str; 8] = [
    "kubectl-gitops",
    "kubectl-gitops-version",
    "kubectl-gitops-status",
    "kubectl-gitops-reconcile",
    "kubectl-gitops-suspend",
    "kubectl-gitops-resume",
    "kubectl-gitops-bootstrap",
    "kubectl-gitops-check",
];

fn section(title: &str) {
    println!("\n==> {title}");
}

fn main() {
    let keep = std::env::args().any(|a| a == "--keep");
    section("Starting a local cluster: etcd, kube-apiserver and kube-controller-manager");
    let plane = Arc::new(ControlPlane::start_private());
    plane.start_controller_manager();
    println!("    API server: {}", plane.server);

    section("Starting a Git server (HTTPS, basic auth) with an empty repository");
    let server = GitHttpServer::start();
    let url = server.create_repo("fleet");
    println!("    repository: {url} (user {})", server.username);

    // The Flux controllers play the Pods of the Deployments bootstrap creates.
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let _entered = runtime.enter();
    let client = runtime.block_on(support::admin_client_for(&plane.kubeconfig));
    let pods = PodLifecycle::start(client, plane.clone(), "flux-system");
    println!(
        "    the Flux {} controllers (built from source) start once bootstrap deploys them",
        plane.assets.flux_version
    );

    // kubectl discovers plugins on PATH. Install this build's executables into a folder of
    // their own (cargo's target folder also holds `.d` files kubectl would warn about).
    let plugin_dir = support::processes::temp_dir("kubectl-gitops-demo-plugins-");
    for name in PLUGINS {
        std::fs::copy(support::plugin_exe(name), plugin_dir.join(name))
            .unwrap_or_else(|e| panic!("copy {name} (run `cargo build --bins` first): {e}"));
    }
    let path = std::env::join_paths(std::iter::once(plugin_dir.clone()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .expect("PATH");
    let cache = support::processes::temp_dir("kubectl-gitops-demo-cache-");
    let kubectl = plane.assets.kubectl();
    let step = |title: &str, args: &[&str]| {
        println!("\n==> {title}\n$ kubectl {}", args.join(" "));
        let status = Command::new(&kubectl)
            .args(args)
            .env("PATH", &path)
            .env("KUBECONFIG", &plane.kubeconfig)
            .env("XDG_CACHE_HOME", &cache)
            .env("GIT_PASSWORD", &server.password)
            .status()
            .expect("run kubectl");
        if !status.success() {
            eprintln!(
                "demo step failed: kubectl {}\n{}",
                args.join(" "),
                pods.logs()
            );
            std::process::exit(1);
        }
    };
    let install_yaml = plane.assets.flux_release.join("install.yaml");
    let ca_file = server.ca_file.display().to_string();
    println!("\n    (the password is passed in GIT_PASSWORD, never on the command line)");
    step(
        "Bootstrap: commit Flux to the repository, install it, wait until it syncs",
        &[
            "gitops",
            "bootstrap",
            "git",
            "--url",
            &url,
            "--token-auth",
            "--username",
            &server.username,
            "--ca-file",
            &ca_file,
            "--path",
            "clusters/demo",
            "--manifests",
            &install_yaml.display().to_string(),
        ],
    );
    step(
        "What Flux is doing",
        &["gitops", "status", "-n", "flux-system"],
    );

    section("Pushing a change: a ConfigMap under clusters/demo");
    let work = support::processes::temp_dir("kubectl-gitops-demo-work-");
    let git = |args: &[&str]| demo_git(&work, &server, args);
    git(&["clone", "--quiet", &url, "."]);
    std::fs::write(
        work.join("clusters/demo/hello.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hello\n  namespace: default\ndata:\n  greeting: hello from Git\n",
    )
    .expect("write the ConfigMap");
    git(&["add", "clusters/demo/hello.yaml"]);
    git(&["commit", "--quiet", "-m", "Add the hello ConfigMap"]);
    git(&["push", "--quiet", "origin", "main"]);
    println!("$ git log --oneline");
    git(&["log", "--oneline"]);

    step(
        "Apply it now: reconcile the source and the Kustomization, waiting by watching",
        &[
            "gitops",
            "reconcile",
            "ks",
            "flux-system",
            "--with-source",
            "-n",
            "flux-system",
        ],
    );
    step(
        "The ConfigMap from Git",
        &["get", "configmap", "hello", "-n", "default", "-o", "yaml"],
    );
    step(
        "Both Ready at the new revision",
        &["gitops", "status", "-n", "flux-system", "-o", "wide"],
    );

    if keep {
        println!(
            "\nEverything stays up until you press Enter. In another shell:\n  export KUBECONFIG={}\n  export PATH={}:$PATH\n  {} gitops status -n flux-system",
            plane.kubeconfig.display(),
            plugin_dir.display(),
            kubectl.display(),
        );
        let _ = std::io::stdin().read_line(&mut String::new());
    }
    drop(pods);
    println!(
        "\n==> Done; the controllers, the Git server and the cluster stop, their temporary files are removed."
    );
}

/// git as the demo user, authenticated by a header from the environment (the password is in
/// no argv and no file of the clone); prints what git prints.
fn demo_git(work: &Path, server: &GitHttpServer, args: &[&str]) {
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", server.username, server.password));
    let status = Command::new("git")
        .current_dir(work)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", "Demo")
        .env("GIT_AUTHOR_EMAIL", "demo@example.com")
        .env("GIT_COMMITTER_NAME", "Demo")
        .env("GIT_COMMITTER_EMAIL", "demo@example.com")
        .env("GIT_SSL_CAINFO", &server.ca_file)
        .env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "http.extraHeader")
        .env(
            "GIT_CONFIG_VALUE_0",
            format!("Authorization: Basic {token}"),
        )
        .status()
        .expect("run git");
    assert!(status.success(), "git {args:?} failed");
}
