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
//!
//! With `diff` (`tests/bench_diff.sh`) it measures `diff ks` against `flux diff kustomization`
//! in the same run: 1,000 objects (ConfigMaps, Secrets, headless Services, Deployments) applied
//! as kustomize-controller applies them, the Kustomization `apps` (prune on) with their
//! inventory, and a folder of the same objects where 5% change, 10 are removed and 10 added.
//! Both tools must first report the same set of changed objects; then they run alternately
//! (BENCH_RUNS, default 5): median wall time, peak RSS of the largest process (wait4) and of
//! the whole process tree (sampled from /proc: our build runs `kubectl kustomize`).

#[path = "common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{flux_object, median, wait_measured};
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
        #[allow(clippy::zombie_processes)] // reaped by wait_measured
        let child = Command::new(program)
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let finished = wait_measured(child, started);
        assert!(
            finished.code == 0,
            "{program:?} {args:?} failed (exit {})",
            finished.code
        );
        times.push(finished.wall);
        peak_kib = peak_kib.max(finished.peak_kib);
    }
    (median(times), peak_kib as f64 / 1024.0)
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
                    .create(
                        &PostParams::default(),
                        &flux_object(kind, &ns, &name, suspended),
                    )
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
    api.create(&PostParams::default(), &flux_object(ks, ns, "apps", false))
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
            &flux_object(ks, "bench-root", "root", false),
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

// ---- `diff` mode (tests/bench_diff.sh) ----

const DIFF_NAMESPACE: &str = "bench-diff";
const DIFF_OBJECTS: usize = 1_000;

/// One run of a command: wall time, the peak RSS wait4 reports (the largest single process of
/// its tree, waited-for children included) and the peak of the whole tree's summed RSS, sampled
/// from /proc every few milliseconds (0 where there is no /proc).
struct RunFigures {
    wall: Duration,
    peak_kib: i64,
    tree_peak_kib: u64,
}

/// Resident KiB of `pid` and all its descendants, from /proc (Linux).
fn tree_rss_kib(pid: u32, page_kib: u64) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let mut total = statm.split_whitespace().nth(1)?.parse::<u64>().ok()? * page_kib;
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    for task in tasks.flatten() {
        let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
            total += tree_rss_kib(child, page_kib).unwrap_or(0);
        }
    }
    Some(total)
}

/// Runs `command` once (output discarded) and checks its exit code is one of `ok`.
fn run_once(command: &mut Command, ok: &[i32]) -> RunFigures {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    command.stdout(Stdio::null()).stderr(Stdio::null());
    let started = Instant::now();
    #[allow(clippy::zombie_processes)] // reaped by wait4 below, which also reports peak RSS
    let child = command.spawn().expect("spawn");
    let pid = child.id();
    let (done, tree_peak) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let sampler = {
        let (done, tree_peak) = (done.clone(), tree_peak.clone());
        // SAFETY: sysconf has no preconditions.
        let page_kib = (unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) / 1024) as u64;
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if let Some(kib) = tree_rss_kib(pid, page_kib) {
                    tree_peak.fetch_max(kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let finished = wait_measured(child, started);
    done.store(true, Ordering::Relaxed);
    sampler.join().expect("sampler");
    assert!(
        ok.contains(&finished.code),
        "{:?} {:?} exited {}, expected one of {ok:?}",
        command.get_program(),
        command.get_args().collect::<Vec<_>>(),
        finished.code
    );
    RunFigures {
        wall: finished.wall,
        peak_kib: finished.peak_kib,
        tree_peak_kib: tree_peak.load(Ordering::Relaxed),
    }
}

fn base64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Object `i` of the live set as Git holds it: before the change, or after it (`changed`).
/// 50% ConfigMaps, 25% Secrets, 24% headless Services (the test cluster's Service IP range is
/// small), 1% Deployments.
fn diff_object(i: usize, changed: bool) -> serde_json::Value {
    use serde_json::json;
    let ns = DIFF_NAMESPACE;
    match i % 100 {
        0..=49 => json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("config-{i:04}"), "namespace": ns},
            "data": {"index": i.to_string(), "level": if changed { "debug" } else { "info" },
                "settings.yaml": format!("replicas: 3\ntimeout: 30s\nendpoint: http://svc-{i:04}.{ns}:80\n")}}),
        50..=74 => json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": format!("secret-{i:04}"), "namespace": ns},
            "data": {"username": base64("app"),
                "password": base64(&format!("{}-{i}", if changed { "rotated" } else { "initial" }))}}),
        75..=98 => {
            let name = format!("svc-{i:04}");
            json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"clusterIP": "None", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
                    "selector": {"app": name, "tier": if changed { "api" } else { "web" }}}})
        }
        _ => {
            let name = format!("deploy-{i:04}");
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}},
                        "spec": {"containers": [{"name": "app",
                            "image": format!("registry.invalid/app:{}", if changed { "2" } else { "1" }),
                            "ports": [{"containerPort": 8080}]}]}}}})
        }
    }
}

/// ~5% of the objects change in Git: every 20th (ConfigMaps, Secrets, Services, and all
/// Deployments).
fn diff_changed(i: usize) -> bool {
    i % 20 == 19
}

/// 10 objects are removed from Git (5 ConfigMaps, 5 Secrets): pruned, as prune is on.
fn diff_removed(i: usize) -> bool {
    matches!(i % 200, 5 | 60)
}

/// 10 objects are new in Git (5 ConfigMaps, 5 Services): created.
fn diff_added() -> Vec<serde_json::Value> {
    use serde_json::json;
    let ns = DIFF_NAMESPACE;
    (0..5)
        .flat_map(|k| {
            [
                json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": format!("new-config-{k}"), "namespace": ns},
                    "data": {"feature": "on"}}),
                json!({"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": format!("new-svc-{k}"), "namespace": ns},
                    "spec": {"clusterIP": "None", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
                        "selector": {"app": format!("new-{k}")}}}),
            ]
        })
        .collect()
}

fn display(object: &serde_json::Value) -> String {
    format!(
        "{}/{}/{}",
        object["kind"].as_str().unwrap_or_default(),
        object["metadata"]["namespace"].as_str().unwrap_or_default(),
        object["metadata"]["name"].as_str().unwrap_or_default()
    )
}

/// The live side: the objects applied as kustomize-controller applies them (server-side, field
/// manager kustomize-controller, owner labels), the Kustomization `apps` (prune on) and its
/// inventory listing them. No controller runs: nothing changes them afterwards.
async fn seed_diff(client: &kube::Client) {
    use kube::core::GroupVersionKind;
    use kube::discovery::ApiResource;
    let plane = support::control_plane();
    plane.kubectl_ok(&["create", "namespace", DIFF_NAMESPACE]);
    let started = Instant::now();
    let mut entries = Vec::new();
    let mut live = Vec::new();
    for i in 0..DIFF_OBJECTS {
        let mut object = diff_object(i, false);
        object["metadata"]["labels"] = serde_json::json!({
            "kustomize.toolkit.fluxcd.io/name": "apps",
            "kustomize.toolkit.fluxcd.io/namespace": DIFF_NAMESPACE});
        let kind = object["kind"].as_str().unwrap_or_default().to_string();
        let (group, version) = match object["apiVersion"].as_str().unwrap_or_default() {
            "apps/v1" => ("apps", "v1"),
            _ => ("", "v1"),
        };
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        entries.push(serde_json::json!({
            "id": format!("{DIFF_NAMESPACE}_{name}_{group}_{kind}"), "v": version}));
        live.push((GroupVersionKind::gvk(group, version, &kind), object));
    }
    stream::iter(live)
        .for_each_concurrent(32, |(gvk, object)| {
            let client = client.clone();
            async move {
                let api: Api<DynamicObject> =
                    Api::namespaced_with(client, DIFF_NAMESPACE, &ApiResource::from_gvk(&gvk));
                let name = object["metadata"]["name"].as_str().unwrap_or_default();
                api.patch(
                    name,
                    &PatchParams::apply("kustomize-controller").force(),
                    &Patch::Apply(&object),
                )
                .await
                .unwrap_or_else(|err| panic!("apply {}: {err}", display(&object)));
            }
        })
        .await;
    let git = serde_json::json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "source", "namespace": DIFF_NAMESPACE},
        "spec": {"interval": "1m", "url": "https://example.invalid/repo.git", "ref": {"branch": "main"}}});
    let ks = serde_json::json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "apps", "namespace": DIFF_NAMESPACE},
        "spec": {"interval": "10m", "path": "./apps", "prune": true,
            "sourceRef": {"kind": "GitRepository", "name": "source"}}});
    for (kind, object) in [("gitrepo", git), ("ks", ks)] {
        let kind = FluxKind::lookup(kind).expect("kind");
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), DIFF_NAMESPACE, &kind.api_resource());
        api.create(
            &PostParams::default(),
            &serde_json::from_value(object).expect("object"),
        )
        .await
        .expect("create");
    }
    let ks = FluxKind::lookup("ks").expect("ks");
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), DIFF_NAMESPACE, &ks.api_resource());
    let mut patch = status_patch(
        ks,
        1,
        None,
        &Behaviour::Succeed {
            revision: "main@sha1:0123456789abcdef0123456789abcdef01234567".into(),
        },
    );
    patch["status"]["inventory"] = serde_json::json!({ "entries": entries });
    api.patch_status("apps", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("inventory");
    eprintln!(
        "applied {DIFF_OBJECTS} objects as kustomize-controller in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

/// The Git side: one file per object (`<kind>/<name>.yaml`, no kustomization.yaml, so both tools
/// generate one), with the changes, removals and additions. Returns the expected
/// `(object, action)` pairs.
fn write_diff_folder(root: &std::path::Path) -> std::collections::BTreeSet<(String, &'static str)> {
    let mut expected = std::collections::BTreeSet::new();
    let write = |object: &serde_json::Value| {
        let folder = root.join(object["kind"].as_str().unwrap_or_default().to_lowercase());
        std::fs::create_dir_all(&folder).expect("mkdir");
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        std::fs::write(
            folder.join(format!("{name}.yaml")),
            serde_json::to_string_pretty(object).expect("json"),
        )
        .expect("write");
    };
    for i in 0..DIFF_OBJECTS {
        let object = diff_object(i, diff_changed(i));
        if diff_removed(i) {
            expected.insert((display(&object), "pruned"));
        } else {
            write(&object);
            if diff_changed(i) {
                expected.insert((display(&object), "configured"));
            }
        }
    }
    for object in diff_added() {
        write(&object);
        expected.insert((display(&object), "created"));
    }
    expected
}

/// `(object, action)` of flux diff's `► Kind/ns/name <action>` lines, in our words.
fn flux_diff_actions(stdout: &str) -> std::collections::BTreeSet<(String, String)> {
    stdout
        .lines()
        .filter_map(|line| line.strip_prefix("► "))
        .filter_map(|line| line.rsplit_once(' '))
        .map(|(object, action)| {
            let action = match action {
                "drifted" => "configured",
                "deleted" => "pruned",
                other => other,
            };
            (object.to_string(), action.to_string())
        })
        .collect()
}

/// `(object, action)` of our `diff -o json`, unchanged objects left out as flux does.
fn our_diff_actions(stdout: &str) -> std::collections::BTreeSet<(String, String)> {
    let report: serde_json::Value = serde_json::from_str(stdout).expect("diff -o json");
    report["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["action"] != "unchanged")
        .map(|c| {
            (
                c["object"].as_str().unwrap_or_default().to_string(),
                c["action"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

async fn bench_diff(runs: usize) {
    let plane = support::control_plane();
    plane.install_flux_crds();
    let client = support::admin_client().await;
    seed_diff(&client).await;
    let folder = tempfile::tempdir().expect("tempdir");
    let expected = write_diff_folder(folder.path());
    let dir = folder.path().display().to_string();
    let kubeconfig = plane.kubeconfig.display().to_string();
    // The test environment's kubectl first: its kustomize is the one our build runs.
    let path = plane.assets.path_with_kubectl();
    let common = ["diff", "ks", "apps", "--path", &dir, "-n", DIFF_NAMESPACE];
    let gitops = |extra: &[&str]| {
        let mut command = Command::new(support::plugin_exe("kubectl-gitops"));
        command
            .current_dir(folder.path())
            .args(common)
            .args(extra)
            .args(["--kubeconfig", &kubeconfig])
            .env("PATH", &path)
            .stdin(Stdio::null());
        command
    };
    // flux refuses a --path outside its working directory with --in-memory-build.
    let flux = || {
        let mut command = Command::new(&plane.assets.flux_cli);
        command
            .current_dir(folder.path())
            .args(common)
            .args(["--progress-bar=false", "--in-memory-build"])
            .args(["--kubeconfig", &kubeconfig])
            .env("PATH", &path)
            .stdin(Stdio::null());
        command
    };

    // Honesty first: both report the same changed objects, the ones the folder changes; this
    // also warms the API server's caches for both.
    let ours = gitops(&["-o", "json"]).output().expect("kubectl-gitops");
    let reference = flux().output().expect("flux");
    let ours_set = our_diff_actions(&String::from_utf8_lossy(&ours.stdout));
    let flux_set = flux_diff_actions(&String::from_utf8_lossy(&reference.stdout));
    let expected: std::collections::BTreeSet<(String, String)> = expected
        .into_iter()
        .map(|(o, a)| (o, a.to_string()))
        .collect();
    assert_eq!(
        ours_set,
        expected,
        "kubectl-gitops diff: {}",
        String::from_utf8_lossy(&ours.stderr)
    );
    assert_eq!(
        flux_set,
        expected,
        "flux diff: {}",
        String::from_utf8_lossy(&reference.stderr)
    );
    assert_eq!(ours.status.code(), Some(1));
    assert_eq!(reference.status.code(), Some(1));
    let count = |action: &str| expected.iter().filter(|(_, a)| a == action).count();
    eprintln!(
        "both report the same {} changes ({} configured, {} created, {} pruned)",
        expected.len(),
        count("configured"),
        count("created"),
        count("pruned")
    );

    // Alternating, so that load from elsewhere on the machine falls on both alike.
    let (mut ours_runs, mut flux_runs) = (Vec::new(), Vec::new());
    for run in 0..runs {
        ours_runs.push(run_once(&mut gitops(&[]), &[1]));
        flux_runs.push(run_once(&mut flux(), &[1]));
        eprintln!(
            "run {}: kubectl-gitops {:.0} ms, flux {:.0} ms",
            run + 1,
            ours_runs[run].wall.as_secs_f64() * 1000.0,
            flux_runs[run].wall.as_secs_f64() * 1000.0
        );
    }
    let summary = |runs: &mut Vec<RunFigures>| {
        runs.sort_by_key(|r| r.wall);
        let median = runs[runs.len() / 2].wall;
        let peak = runs.iter().map(|r| r.peak_kib).max().unwrap_or(0) as f64 / 1024.0;
        let tree = runs.iter().map(|r| r.tree_peak_kib).max().unwrap_or(0) as f64 / 1024.0;
        let (min, max) = (runs[0].wall, runs[runs.len() - 1].wall);
        (median, min, max, peak, tree)
    };
    let rows = [
        (
            "kubectl gitops diff ks apps --path <dir>".to_string(),
            summary(&mut ours_runs),
        ),
        (
            format!(
                "flux diff ks apps --path <dir> --in-memory-build (flux {})",
                plane.assets.flux_version
            ),
            summary(&mut flux_runs),
        ),
    ];
    let in_git = DIFF_OBJECTS - count("pruned") + count("created");
    println!(
        "\ndiff of a folder of {in_git} objects against a cluster holding {DIFF_OBJECTS} ({} configured, {} created, {} pruned), median of {runs} alternating runs\n",
        count("configured"),
        count("created"),
        count("pruned")
    );
    println!(
        "| command | wall time (median) | min - max | peak RSS (largest process) | peak RSS (process tree, sampled) |\n|---|---|---|---|---|"
    );
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    for (name, (median, min, max, peak, tree)) in &rows {
        println!(
            "| {name} | {:.0} ms | {:.0} - {:.0} ms | {peak:.0} MiB | {tree:.0} MiB |",
            ms(*median),
            ms(*min),
            ms(*max)
        );
    }
    let (ours, theirs) = (&rows[0].1, &rows[1].1);
    println!(
        "\ngitops/flux: wall time {:.2}, peak RSS (largest process) {:.2}, peak RSS (tree) {:.2}",
        ours.0.as_secs_f64() / theirs.0.as_secs_f64(),
        ours.3 / theirs.3,
        ours.4 / theirs.4
    );
}

#[tokio::main]
async fn main() {
    let mode = std::env::args().nth(1);
    if matches!(mode.as_deref(), Some("tree" | "diff")) {
        let runs = std::env::var("BENCH_RUNS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(5);
        return match mode.as_deref() {
            Some("diff") => bench_diff(runs).await,
            _ => bench_tree(runs).await,
        };
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
