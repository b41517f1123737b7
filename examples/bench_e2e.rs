//! Benchmark on the real Flux controllers: the time of `kubectl gitops bootstrap git` into an
//! empty repository (scenario 1 of the end-to-end tests), then, for a commit pushed under the
//! cluster path (scenario 2), the time from start to exit of
//! `kubectl gitops reconcile ks flux-system --with-source` (watches) next to the real
//! `flux reconcile ks flux-system --with-source` (polls every 2 s), alternating in the same
//! run on the same cluster. Run with `tests/bench_e2e.sh`; prints a Markdown table.

#[path = "common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use common::median;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::control_plane::ControlPlane;
use support::git_servers::GitHttpServer;
use support::pod_lifecycle::PodLifecycle;

fn runs() -> usize {
    std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10)
}

fn timed(command: &mut Command, what: &str, logs: &dyn Fn() -> String) -> Duration {
    let started = Instant::now();
    let out: Output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {what}: {e}"));
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        logs()
    );
    took
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// Pushes a commit that changes one ConfigMap under the cluster path.
fn push_change(server: &GitHttpServer, url: &str, run: usize) {
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", server.username, server.password));
    let work = support::processes::temp_dir("bench-e2e-work-");
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .current_dir(&work)
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_AUTHOR_NAME", "Bench")
            .env("GIT_AUTHOR_EMAIL", "bench@example.com")
            .env("GIT_COMMITTER_NAME", "Bench")
            .env("GIT_COMMITTER_EMAIL", "bench@example.com")
            .env("GIT_SSL_CAINFO", &server.ca_file)
            .env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", "http.extraHeader")
            .env(
                "GIT_CONFIG_VALUE_0",
                format!("Authorization: Basic {token}"),
            )
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["clone", "--quiet", url, "."]);
    std::fs::write(
        work.join("clusters/bench/app.yaml"),
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bench\n  namespace: default\ndata:\n  run: \"{run}\"\n"),
    )
    .expect("write ConfigMap");
    git(&["add", "clusters/bench/app.yaml"]);
    git(&["commit", "--quiet", "-m", &format!("Change {run}")]);
    git(&["push", "--quiet", "origin", "main"]);
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let _entered = runtime.enter();
    let plane = Arc::new(ControlPlane::start_private());
    plane.start_controller_manager();
    let server = GitHttpServer::start();
    let url = server.create_repo("fleet");
    let client = runtime.block_on(support::admin_client_for(&plane.kubeconfig));
    let pods = PodLifecycle::start(client, plane.clone(), "flux-system");
    let logs = || pods.logs();
    let cache = support::processes::temp_dir("bench-e2e-cache-");
    let ours = || {
        let mut command = Command::new(support::plugin_exe("kubectl-gitops"));
        command
            .env("KUBECONFIG", &plane.kubeconfig)
            .env("XDG_CACHE_HOME", &cache);
        command
    };

    let bootstrap = timed(
        ours()
            .args([
                "bootstrap",
                "git",
                "--url",
                &url,
                "--token-auth",
                "--username",
            ])
            .arg(&server.username)
            .arg("--ca-file")
            .arg(&server.ca_file)
            .args(["--path", "clusters/bench", "--timeout", "5m", "--manifests"])
            .arg(plane.assets.flux_release.join("install.yaml"))
            .env("GIT_PASSWORD", &server.password),
        "kubectl gitops bootstrap git",
        &logs,
    );

    let (mut watched, mut polled) = (Vec::new(), Vec::new());
    for run in 0..runs() {
        push_change(&server, &url, 2 * run);
        watched.push(timed(
            ours().args([
                "reconcile",
                "ks",
                "flux-system",
                "--with-source",
                "-n",
                "flux-system",
                "--timeout",
                "5m",
            ]),
            "kubectl gitops reconcile",
            &logs,
        ));
        push_change(&server, &url, 2 * run + 1);
        polled.push(timed(
            Command::new(&plane.assets.flux_cli)
                .arg("--kubeconfig")
                .arg(&plane.kubeconfig)
                .args([
                    "reconcile",
                    "ks",
                    "flux-system",
                    "--with-source",
                    "--timeout",
                    "5m",
                ]),
            "flux reconcile",
            &logs,
        ));
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
        "\nOn the real Flux {} controllers, {} runs each, alternating:\n",
        plane.assets.flux_version,
        runs()
    );
    println!("| reconcile ks flux-system --with-source, start to exit | median | min | max |");
    println!("|---|---|---|---|");
    row("kubectl gitops (watches)", &watched);
    row("flux CLI v2.9.4 (polls every 2 s)", &polled);
    println!(
        "\nScenario 1, `kubectl gitops bootstrap git` into an empty repository: {}",
        secs(bootstrap)
    );
}
