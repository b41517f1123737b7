//! Benchmark of `status -A` under partial rights (`tests/bench_partial_rights.sh`, release
//! build); prints a Markdown table.
//!
//! A private control plane with N Flux objects (default 10,000; `BENCH_OBJECTS`) in 20
//! namespaces, created as server-side applied Lists, then `status -A` (median of
//! `BENCH_RUNS`, default 5) as the admin (one cluster-wide list per kind) and as `tenant`, who
//! may read half of the namespaces only (every kind's cluster-wide list is forbidden, so each
//! kind is listed namespace by namespace). Each run's rows are counted, so a figure is for a
//! complete answer.

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::control_plane::ControlPlane;
use support::large_cluster::{fill_large_cluster, grant_partial_rights};

const TEAMS: usize = 20;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Median wall time of `status -A` as the user of `kubeconfig`, and the rows of one answer.
fn measure(kubeconfig: &std::path::Path, runs: usize) -> (Duration, usize) {
    let mut times = Vec::new();
    let mut rows = 0;
    for _ in 0..runs {
        let started = Instant::now();
        let out = Command::new(support::plugin_exe("kubectl-gitops"))
            .args(["status", "-A", "--kubeconfig"])
            .arg(kubeconfig)
            .output()
            .expect("run kubectl-gitops");
        times.push(started.elapsed());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The Flux line and the table's header, then one row per object.
        rows = String::from_utf8_lossy(&out.stdout).lines().count() - 2;
    }
    times.sort();
    (times[times.len() / 2], rows)
}

fn main() {
    let objects = env_number("BENCH_OBJECTS", 10_000);
    let runs = env_number("BENCH_RUNS", 5);
    let plane = ControlPlane::start_private();
    plane.install_flux_crds();
    let started = Instant::now();
    fill_large_cluster(&plane, TEAMS, objects / TEAMS);
    let filled = started.elapsed();
    grant_partial_rights(&plane, TEAMS);
    let tenant = plane.kubeconfig_for("tenant", None, "team-00");
    // Warm the API server's caches once.
    measure(&plane.kubeconfig, 1);
    let admin = measure(&plane.kubeconfig, runs);
    let partial = measure(&tenant, runs);
    println!(
        "\n{objects} Flux objects in {TEAMS} namespaces (created in {:.1} s), `status -A`, median of {runs} runs\n",
        filled.as_secs_f64()
    );
    println!("| user | rights | rows shown | wall time |\n|---|---|---|---|");
    for (user, rights, (time, rows)) in [
        ("admin", "cluster-wide", admin),
        ("tenant", "gitops-view in 10 of 20 namespaces", partial),
    ] {
        println!(
            "| {user} | {rights} | {rows} | {:.0} ms |",
            time.as_secs_f64() * 1000.0
        );
    }
}
