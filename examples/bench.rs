//! Benchmarks for `status` and `reconcile` against the local control plane, next to kubectl
//! in the same run. Run with `tests/bench.sh` (release build); prints a Markdown table.
//!
//! - Seeds N Flux objects (default 10,000: Kustomizations, GitRepositories, HelmReleases with
//!   mixed statuses) across 100 namespaces.
//! - `kubectl gitops status -A -o json` and the table, against
//!   `kubectl get kustomizations,gitrepositories,helmreleases -A -o json` (and its table):
//!   wall time (median of runs) and peak RSS.
//! - Reconcile detection latency: from the controller stand-in writing the handled status to
//!   `reconcile` exiting (median of 20).
//! - Start-up: `kubectl-gitops --help` (median of 50).
//!
//! With `tree` as the first argument (`tests/bench_tree.sh`) it measures `tree` instead: a
//! Kustomization whose inventory lists 5,000 objects in 50 namespaces (ConfigMaps, Services and
//! Deployments with status), `kubectl gitops tree -o json` and its table against
//! `kubectl get configmaps,services,deployments -A -o json`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kubectl_gitops::flux::FluxKind;
use support::fake_flux_controller::{Behaviour, pending_request, status_patch};

const NAMESPACES: usize = 100;

/// Runs a command `runs` times; returns (median wall time, max peak RSS in MiB).
fn measure(
    program: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
    runs: usize,
) -> (Duration, f64) {
    let mut times = Vec::new();
    let mut peak_kib = 0i64;
    for _ in 0..runs {
        let started = Instant::now();
        #[allow(clippy::zombie_processes)] // reaped by wait4 below, which also reports peak RSS
        let child = Command::new(program)
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let mut status = 0;
        // SAFETY: an all-zero rusage is a valid value for wait4 to fill.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: waiting for our own child, with valid pointers.
        let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
        assert!(
            pid > 0 && status == 0,
            "{program:?} {args:?} failed (status {status})"
        );
        times.push(started.elapsed());
        peak_kib = peak_kib.max(usage.ru_maxrss);
    }
    times.sort();
    (times[times.len() / 2], peak_kib as f64 / 1024.0)
}

fn object(kind: &FluxKind, namespace: &str, name: &str, suspend: bool) -> DynamicObject {
    let spec = match kind.kind {
        "Kustomization" => {
            serde_json::json!({"interval": "10m", "path": "./apps", "prune": true, "suspend": suspend,
            "sourceRef": {"kind": "GitRepository", "name": "repo-0"}})
        }
        "GitRepository" => {
            serde_json::json!({"interval": "1m", "url": "https://example.invalid/r.git", "ref": {"branch": "main"}, "suspend": suspend})
        }
        _ => {
            serde_json::json!({"interval": "10m", "suspend": suspend, "chart": {"spec": {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}}})
        }
    };
    serde_json::from_value(serde_json::json!({
        "apiVersion": kind.api_resource().api_version, "kind": kind.kind,
        "metadata": {"name": name, "namespace": namespace}, "spec": spec
    }))
    .expect("object")
}

async fn seed(client: &kube::Client, total: usize) {
    let per_namespace = total / NAMESPACES;
    let (ks, git, hr) = (
        FluxKind::lookup("ks").unwrap(),
        FluxKind::lookup("gitrepo").unwrap(),
        FluxKind::lookup("hr").unwrap(),
    );
    let mut work = Vec::new();
    for n in 0..NAMESPACES {
        let ns = format!("bench-{n:03}");
        support::control_plane().kubectl_ok(&["create", "namespace", &ns]);
        for i in 0..per_namespace {
            // 50% Kustomizations, 30% GitRepositories, 20% HelmReleases.
            let kind = match i % 10 {
                0..=4 => ks,
                5..=7 => git,
                _ => hr,
            };
            work.push((kind, ns.clone(), format!("{}-{i}", kind.short_names[0]), i));
        }
    }
    let started = Instant::now();
    stream::iter(work)
        .for_each_concurrent(48, |(kind, ns, name, i)| {
            let client = client.clone();
            async move {
                let api: Api<DynamicObject> =
                    Api::namespaced_with(client, &ns, &kind.api_resource());
                let suspended = i % 20 == 19;
                let created = api
                    .create(&PostParams::default(), &object(kind, &ns, &name, suspended))
                    .await
                    .expect("create");
                // Mixed statuses: mostly ready, some failed, some stalled, some never reconciled.
                let behaviour = match i % 20 {
                    0..=13 => Some(Behaviour::Succeed {
                        revision: "main@sha1:0123456789abcdef0123456789abcdef01234567".into(),
                    }),
                    14 | 15 => Some(Behaviour::Fail {
                        reason: "BuildFailed".into(),
                        message: "kustomize build failed".into(),
                    }),
                    16 => Some(Behaviour::Stall {
                        reason: "InvalidPath".into(),
                        message: "path not found".into(),
                    }),
                    _ => None,
                };
                if let Some(behaviour) = behaviour {
                    let patch = status_patch(
                        kind,
                        created.metadata.generation.unwrap_or(1),
                        None,
                        &behaviour,
                    );
                    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                        .expect("status");
                }
            }
        })
        .await;
    eprintln!(
        "seeded {total} objects in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

/// Reconcile detection latency: the stand-in controller writes the handled status; how long
/// until `reconcile` exits?
async fn reconcile_latency(client: &kube::Client, kubeconfig: &str, runs: usize) -> Vec<Duration> {
    let ks = FluxKind::lookup("ks").unwrap();
    let ns = "bench-latency";
    support::control_plane().kubectl_ok(&["create", "namespace", ns]);
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ks.api_resource());
    api.create(&PostParams::default(), &object(ks, ns, "apps", false))
        .await
        .expect("create");
    let mut latencies = Vec::new();
    for _ in 0..runs {
        let exe = support::plugin_exe("kubectl-gitops");
        let kubeconfig = kubeconfig.to_string();
        let exited = tokio::task::spawn_blocking(move || {
            let status = Command::new(exe)
                .args([
                    "reconcile",
                    "ks",
                    "apps",
                    "-n",
                    "bench-latency",
                    "--timeout",
                    "30s",
                    "--kubeconfig",
                    &kubeconfig,
                ])
                .stdout(Stdio::null())
                .status()
                .expect("reconcile");
            assert!(status.success());
            Instant::now()
        });
        // Play the controller: wait for the new token, then write the handled status.
        let token = loop {
            let object = api.get("apps").await.expect("get");
            if let Some(token) = pending_request(&object) {
                break token;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        // Give the plugin time to open its watch, as a real controller's work would.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let patch = status_patch(
            ks,
            1,
            Some(&token),
            &Behaviour::Succeed {
                revision: "main@sha1:abc".into(),
            },
        );
        api.patch_status("apps", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("status");
        let written = Instant::now();
        let exited = exited.await.expect("join");
        latencies.push(exited.saturating_duration_since(written));
    }
    latencies.sort();
    latencies
}

const TREE_NAMESPACES: usize = 50;

/// 5,000 objects (per namespace 40 ConfigMaps, 30 Services, 30 available Deployments) and one
/// Kustomization `bench-root/root` whose inventory lists them all, as kustomize-controller
/// writes it.
async fn seed_tree(client: &kube::Client) -> usize {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{ConfigMap, Service};
    let mut entries = Vec::new();
    let mut work = Vec::new();
    for n in 0..TREE_NAMESPACES {
        let ns = format!("tree-{n:02}");
        support::control_plane().kubectl_ok(&["create", "namespace", &ns]);
        for i in 0..100 {
            let (kind, group) = match i {
                0..=39 => ("ConfigMap", ""),
                40..=69 => ("Service", ""),
                _ => ("Deployment", "apps"),
            };
            let name = format!("{}-{i}", kind.to_lowercase());
            entries
                .push(serde_json::json!({"id": format!("{ns}_{name}_{group}_{kind}"), "v": "v1"}));
            work.push((kind, ns.clone(), name));
        }
    }
    let started = Instant::now();
    stream::iter(work)
        .for_each_concurrent(48, |(kind, ns, name)| {
            let client = client.clone();
            async move {
                let meta = serde_json::json!({"name": name, "namespace": ns});
                match kind {
                    "ConfigMap" => {
                        let object: ConfigMap = serde_json::from_value(
                            serde_json::json!({"metadata": meta, "data": {"key": "value"}}),
                        )
                        .expect("ConfigMap");
                        Api::namespaced(client, &ns)
                            .create(&PostParams::default(), &object)
                            .await
                            .expect("create ConfigMap");
                    }
                    "Service" => {
                        let object: Service = serde_json::from_value(serde_json::json!({
                            "metadata": meta,
                            // Headless: the test cluster's Service IP range is small.
                            "spec": {"clusterIP": "None", "ports": [{"port": 80}], "selector": {"app": name}}
                        }))
                        .expect("Service");
                        Api::namespaced(client, &ns)
                            .create(&PostParams::default(), &object)
                            .await
                            .expect("create Service");
                    }
                    _ => {
                        let object: Deployment = serde_json::from_value(serde_json::json!({
                            "metadata": meta,
                            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                                "template": {"metadata": {"labels": {"app": name}},
                                    "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1"}]}}}
                        }))
                        .expect("Deployment");
                        let api: Api<Deployment> = Api::namespaced(client, &ns);
                        let created = api
                            .create(&PostParams::default(), &object)
                            .await
                            .expect("create Deployment");
                        // What the deployment controller writes once both replicas run.
                        let status = serde_json::json!({"status": {
                            "observedGeneration": created.metadata.generation,
                            "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2,
                            "conditions": [
                                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
                            ]}});
                        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                            .await
                            .expect("Deployment status");
                    }
                }
            }
        })
        .await;
    let ks = FluxKind::lookup("ks").expect("ks");
    support::control_plane().kubectl_ok(&["create", "namespace", "bench-root"]);
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "bench-root", &ks.api_resource());
    let created = api
        .create(
            &PostParams::default(),
            &object(ks, "bench-root", "root", false),
        )
        .await
        .expect("create the root");
    let mut patch = status_patch(
        ks,
        created.metadata.generation.unwrap_or(1),
        None,
        &Behaviour::Succeed {
            revision: "main@sha1:0123456789abcdef0123456789abcdef01234567".into(),
        },
    );
    patch["status"]["inventory"] = serde_json::json!({"entries": entries});
    api.patch_status("root", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("root status");
    eprintln!(
        "seeded {} objects in {:.1}s",
        entries.len(),
        started.elapsed().as_secs_f64()
    );
    entries.len()
}

async fn bench_tree(runs: usize) {
    let plane = support::control_plane();
    plane.install_flux_crds();
    let client = support::admin_client().await;
    let total = seed_tree(&client).await;
    let kubeconfig = plane.kubeconfig.display().to_string();
    let plugin = support::plugin_exe("kubectl-gitops");
    let kubectl = plane.assets.kubectl();
    let env = [("KUBECONFIG", kubeconfig.as_str())];
    let kinds = "configmaps,services,deployments";
    measure(&kubectl, &["get", kinds, "-A", "-o", "json"], &env, 1);
    let tree = ["tree", "ks/root", "-n", "bench-root"];
    let rows = [
        (
            "kubectl gitops tree ks/root -o json",
            measure(&plugin, &[&tree[..], &["-o", "json"]].concat(), &env, runs),
        ),
        (
            "kubectl get configmaps,services,deployments -A -o json",
            measure(&kubectl, &["get", kinds, "-A", "-o", "json"], &env, runs),
        ),
        (
            "kubectl gitops tree ks/root (tree)",
            measure(&plugin, &tree, &env, runs),
        ),
        (
            "kubectl get configmaps,services,deployments -A (table)",
            measure(&kubectl, &["get", kinds, "-A"], &env, runs),
        ),
    ];
    println!(
        "\ntree over {total} objects in {TREE_NAMESPACES} namespaces, median of {runs} runs\n"
    );
    println!("| command | wall time | peak RSS |\n|---|---|---|");
    for (name, (time, rss)) in &rows {
        println!(
            "| {name} | {:.0} ms | {rss:.0} MiB |",
            time.as_secs_f64() * 1000.0
        );
    }
    for (what, a, b) in [("json", 0, 1), ("text", 2, 3)] {
        println!(
            "{what}: gitops/kubectl wall time {:.2}, peak RSS {:.2}",
            rows[a].1.0.as_secs_f64() / rows[b].1.0.as_secs_f64(),
            rows[a].1.1 / rows[b].1.1
        );
    }
}

#[tokio::main]
async fn main() {
    if std::env::args().nth(1).as_deref() == Some("tree") {
        let runs = std::env::var("BENCH_RUNS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(5);
        return bench_tree(runs).await;
    }
    let total: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let plane = support::control_plane();
    plane.install_flux_crds();
    let client = support::admin_client().await;
    seed(&client, total).await;

    let kubeconfig = plane.kubeconfig.display().to_string();
    let plugin = support::plugin_exe("kubectl-gitops");
    let kubectl = plane.assets.kubectl();
    let env = [("KUBECONFIG", kubeconfig.as_str())];
    let kinds = "kustomizations,gitrepositories,helmreleases";
    // Warm the API server's caches once for both tools.
    measure(&kubectl, &["get", kinds, "-A", "-o", "json"], &env, 1);

    let rows = [
        (
            "kubectl gitops status -A -o json",
            measure(&plugin, &["status", "-A", "-o", "json"], &env, runs),
        ),
        (
            "kubectl get <3 kinds> -A -o json",
            measure(&kubectl, &["get", kinds, "-A", "-o", "json"], &env, runs),
        ),
        (
            "kubectl gitops status -A (table)",
            measure(&plugin, &["status", "-A"], &env, runs),
        ),
        (
            "kubectl get <3 kinds> -A (table)",
            measure(&kubectl, &["get", kinds, "-A"], &env, runs),
        ),
    ];
    println!("\n{total} Flux objects in {NAMESPACES} namespaces, median of {runs} runs\n");
    println!("| command | wall time | peak RSS |\n|---|---|---|");
    for (name, (time, rss)) in &rows {
        println!(
            "| {name} | {:.0} ms | {rss:.0} MiB |",
            time.as_secs_f64() * 1000.0
        );
    }
    let ratio = |a: usize, b: usize| {
        (
            rows[a].1.0.as_secs_f64() / rows[b].1.0.as_secs_f64(),
            rows[a].1.1 / rows[b].1.1,
        )
    };
    let (t, m) = ratio(0, 1);
    println!("\njson: gitops/kubectl wall time {t:.2}, peak RSS {m:.2}");
    let (t, m) = ratio(2, 3);
    println!("table: gitops/kubectl wall time {t:.2}, peak RSS {m:.2}");

    let latencies = reconcile_latency(&client, &kubeconfig, 20).await;
    println!(
        "\nreconcile detection latency (status written -> reconcile exited), 20 runs: median {:.0} ms, max {:.0} ms (flux polls every 2000 ms)",
        latencies[latencies.len() / 2].as_secs_f64() * 1000.0,
        latencies[latencies.len() - 1].as_secs_f64() * 1000.0
    );

    let (help, _) = measure(&plugin, &["--help"], &[], 50);
    let (kubectl_help, _) = measure(&kubectl, &["version", "--client"], &[], 50);
    println!(
        "start-up: kubectl-gitops --help median {:.1} ms (kubectl version --client: {:.1} ms)",
        help.as_secs_f64() * 1000.0,
        kubectl_help.as_secs_f64() * 1000.0
    );
}
