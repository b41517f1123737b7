//! Fleet mode against three private control planes, seen as three contexts (`alpha`, `beta`,
//! `gamma`) of one merged kubeconfig, plus a context `dead` that points at a closed port.
//!
//! Objects labelled `tier=fleet` have a different state in each cluster (the status views);
//! the `wave` namespace holds objects only the reconcile tests touch, so the views stay the
//! same whichever test runs first.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::flux_objects::{REVISION, git_repository, kind, kustomization};
use crate::support::control_plane::ControlPlane;
use crate::support::fake_flux_controller::{Behaviour, fake_flux_controller, status_patch};
use crate::support::golden::{
    ages, assert_golden, build_facts, elapsed_seconds, loopback_ports, replace_value, transcript,
};
use crate::support::processes::{free_port, temp_dir};
use crate::support::{
    admin_client_for, plugin, plugin_async, run, stderr, stdout, write_fleet_kubeconfig,
};

/// beta's root Kustomization is one commit behind the others.
const OLD_REVISION: &str = "main@sha1:fedcba9876543210fedcba9876543210fedcba98";

struct Fleet {
    /// alpha, beta, gamma.
    planes: Vec<ControlPlane>,
    kubeconfig: PathBuf,
    dir: PathBuf,
}

const NAMES: [&str; 3] = ["alpha", "beta", "gamma"];

static FLEET: OnceLock<Fleet> = OnceLock::new();

fn fleet() -> &'static Fleet {
    FLEET.get_or_init(|| {
        // Started side by side: each takes seconds, mostly waiting.
        let planes: Vec<ControlPlane> = std::thread::scope(|scope| {
            let started: Vec<_> = NAMES
                .iter()
                .map(|name| {
                    scope.spawn(move || {
                        let plane = ControlPlane::start_private();
                        plane.install_flux_crds();
                        fill(&plane, name);
                        plane
                    })
                })
                .collect();
            started
                .into_iter()
                .map(|s| s.join().expect("start a control plane"))
                .collect()
        });
        let dir = temp_dir("fleet-");
        let kubeconfig = dir.join("config");
        let dead = format!("https://127.0.0.1:{}", free_port());
        let mut entries: Vec<(&str, &str, &ControlPlane)> = NAMES
            .iter()
            .zip(&planes)
            .map(|(name, plane)| (*name, plane.server.as_str(), plane))
            .collect();
        entries.push(("dead", &dead, &planes[0]));
        write_fleet_kubeconfig(&kubeconfig, &entries);
        Fleet {
            planes,
            kubeconfig,
            dir,
        }
    })
}

/// The objects of one cluster, with statuses written as the controllers would.
fn fill(plane: &ControlPlane, name: &str) {
    for ns in ["flux-system", "apps", "wave"] {
        plane.kubectl_ok(&["create", "namespace", ns]);
    }
    let fleet_label = serde_json::json!({"tier": "fleet"});
    let mut root = kustomization("flux-system", "flux-system", fleet_label.clone());
    root["spec"]["sourceRef"]["name"] = "flux-system".into();
    let mut source = git_repository("flux-system", "flux-system");
    source["metadata"]["labels"] = fleet_label.clone();
    let mut objects = vec![
        root,
        source,
        kustomization("apps", "web", fleet_label.clone()),
        kustomization("wave", "app", serde_json::json!({})),
        kustomization("wave", "all", serde_json::json!({})),
    ];
    if name == "gamma" {
        let mut paused = kustomization("apps", "paused", fleet_label.clone());
        paused["spec"]["suspend"] = true.into();
        objects.push(paused);
    }
    let file = temp_dir("fleet-objects-").join("objects.json");
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": objects});
    std::fs::write(&file, serde_json::to_vec(&list).expect("serialise")).expect("write");
    plane.apply_server_side(&file);

    let ready = |revision: &str| Behaviour::Succeed {
        revision: revision.to_string(),
    };
    let root_revision = if name == "beta" {
        OLD_REVISION
    } else {
        REVISION
    };
    let mut statuses = vec![
        ("ks", "flux-system", "flux-system", ready(root_revision)),
        (
            "gitrepo",
            "flux-system",
            "flux-system",
            ready(root_revision),
        ),
        ("ks", "wave", "app", ready(REVISION)),
        ("ks", "wave", "all", ready(REVISION)),
    ];
    statuses.push(match name {
        "beta" => (
            "ks",
            "apps",
            "web",
            Behaviour::Fail {
                reason: "BuildFailed".into(),
                message: "kustomize build failed: accumulating resources".into(),
            },
        ),
        _ => ("ks", "apps", "web", ready(REVISION)),
    });
    if name == "gamma" {
        statuses.push(("ks", "apps", "paused", ready(REVISION)));
    }
    for (short, ns, object, behaviour) in statuses {
        let patch = status_patch(kind(short), 1, None, &behaviour);
        plane.kubectl_ok(&[
            "patch",
            kind(short).plural,
            object,
            "-n",
            ns,
            "--subresource=status",
            "--type=merge",
            "-p",
            &patch.to_string(),
        ]);
    }
}

fn plane(name: &str) -> &'static ControlPlane {
    let index = NAMES.iter().position(|n| *n == name).expect("a cluster");
    &fleet().planes[index]
}

/// What does not depend on the run: ports, ages, the Flux version of the test environment.
fn stable(text: &str) -> String {
    let flux_version = &fleet().planes[0].assets.flux_version;
    replace_value(&ages(&loopback_ports(text)), flux_version, "<flux-version>")
}

#[test]
fn the_fleet_table_lists_every_cluster_failing_first_and_names_the_unreachable_one() {
    let started = Instant::now();
    let out = plugin(
        &fleet().kubeconfig,
        &["status", "-A", "-l", "tier=fleet", "--all-contexts"],
    );
    assert_golden("fleet/status-table", &stable(&transcript(&out)));
    // The closed port answers at once: nothing waits for the 10 s request deadline.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn the_summary_is_one_line_per_cluster() {
    let out = plugin(
        &fleet().kubeconfig,
        &[
            "status",
            "-A",
            "-l",
            "tier=fleet",
            "--all-contexts",
            "--summary",
        ],
    );
    assert_golden("fleet/status-summary", &stable(&transcript(&out)));
}

#[test]
fn json_adds_the_cluster_to_every_item_and_lists_the_unreachable() {
    let out = plugin(
        &fleet().kubeconfig,
        &[
            "status",
            "-A",
            "-l",
            "tier=fleet",
            "--all-contexts",
            "-o",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let list: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    let items = list["items"].as_array().expect("items");
    let seen: Vec<String> = items
        .iter()
        .map(|i| {
            format!(
                "{} {}/{}/{} {}",
                i["cluster"].as_str().unwrap_or("?"),
                i["metadata"]["namespace"].as_str().unwrap_or("?"),
                i["kind"].as_str().unwrap_or("?"),
                i["metadata"]["name"].as_str().unwrap_or("?"),
                i["status"]["state"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            "beta apps/Kustomization/web Failed",
            "gamma apps/Kustomization/paused Suspended",
            "alpha apps/Kustomization/web Ready",
            "alpha flux-system/GitRepository/flux-system Ready",
            "alpha flux-system/Kustomization/flux-system Ready",
            "beta flux-system/GitRepository/flux-system Ready",
            "beta flux-system/Kustomization/flux-system Ready",
            "gamma apps/Kustomization/web Ready",
            "gamma flux-system/GitRepository/flux-system Ready",
            "gamma flux-system/Kustomization/flux-system Ready",
        ]
    );
    let unreachable = list["unreachable"].as_array().expect("unreachable");
    assert_eq!(unreachable.len(), 1);
    assert_eq!(unreachable[0]["cluster"], "dead");
    assert_eq!(unreachable[0]["reason"], "connection refused");
    assert!(
        unreachable[0]["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("cannot reach the Kubernetes API server")),
        "{unreachable:?}"
    );
}

#[test]
fn exit_codes_tell_not_ready_from_not_checked() {
    let status = |contexts: &str| {
        let out = plugin(
            &fleet().kubeconfig,
            &[
                "status",
                "-A",
                "-l",
                "tier=fleet",
                "--fail-if-not-ready",
                "--contexts",
                contexts,
            ],
        );
        (out.status.code(), stderr(&out))
    };
    assert_eq!(status("alpha").0, Some(0));
    let (code, err) = status("alpha,b*");
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains("error: 1 of 6 selected Flux objects are not Ready"),
        "{err}"
    );
    // gamma's suspended object counts as not Ready too; dead cannot be checked: 1 wins.
    let (code, err) = status("*");
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("error: 1 of 4 clusters could not be reached or checked: dead"),
        "{err}"
    );
}

#[test]
fn patterns_pick_contexts_in_the_order_given() {
    let out = plugin(
        &fleet().kubeconfig,
        &["version", "--contexts", "g*,a*,gamma"],
    );
    assert_golden(
        "fleet/version-patterns",
        &build_facts(&stable(&transcript(&out))),
    );
    let out = plugin(&fleet().kubeconfig, &["status", "--contexts", "zzz-*"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with(
            "error: no context matches \"zzz-*\" in the kubeconfig (defined in the kubeconfig: alpha, beta, gamma, dead)"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_fleet_file_names_clusters_with_their_own_namespace() {
    let file = fleet().dir.join("fleet.yaml");
    std::fs::write(
        &file,
        "clusters:\n- context: beta\n  name: eu-beta\n  namespace: flux-system\n- context: gamma\n  name: us-gamma\n  namespace: apps\n",
    )
    .expect("write fleet file");
    let file = file.display().to_string();
    let listed = |extra: &[&str]| {
        let mut args = vec!["status", "--fleet", &file, "-o", "json"];
        args.extend(extra);
        let out = plugin(&fleet().kubeconfig, &args);
        let list: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
        let mut seen: Vec<String> = list["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| {
                format!(
                    "{} {}/{}",
                    i["cluster"].as_str().unwrap_or("?"),
                    i["metadata"]["namespace"].as_str().unwrap_or("?"),
                    i["metadata"]["name"].as_str().unwrap_or("?")
                )
            })
            .collect();
        seen.sort();
        (out.status.code(), seen)
    };
    assert_eq!(
        listed(&[]),
        (
            Some(0),
            vec![
                "eu-beta flux-system/flux-system".to_string(),
                "eu-beta flux-system/flux-system".to_string(),
                "us-gamma apps/paused".to_string(),
                "us-gamma apps/web".to_string(),
            ]
        )
    );
    assert_eq!(
        listed(&["--contexts", "us-*"]).1,
        vec!["us-gamma apps/paused", "us-gamma apps/web"]
    );
}

#[test]
fn check_is_one_row_per_cluster() {
    let out = plugin(&fleet().kubeconfig, &["check", "--all-contexts"]);
    assert_golden("fleet/check", &stable(&transcript(&out)));
}

#[test]
fn fleet_flags_refuse_what_cannot_work_before_any_cluster() {
    let kubeconfig = &fleet().kubeconfig;
    let out = plugin(
        kubeconfig,
        &["status", "--all-contexts", "--context", "alpha"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = plugin(kubeconfig, &["status", "--summary"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--summary prints one line per cluster"));
    let out = plugin(kubeconfig, &["reconcile", "ks", "app", "--rollout", "1"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = plugin(
        kubeconfig,
        &["status", "--all-contexts", "--max-concurrency", "0"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn contexts_complete_from_the_merged_kubeconfig() {
    let kubeconfig = fleet().kubeconfig.display().to_string();
    let mut command = std::process::Command::new(crate::support::plugin_exe("kubectl-gitops"));
    command.args([
        "__complete",
        "status",
        "--kubeconfig",
        &kubeconfig,
        "--contexts",
        "alpha,",
    ]);
    let out = run(&mut command);
    assert_eq!(
        stdout(&out),
        "alpha,alpha\nalpha,beta\nalpha,gamma\nalpha,dead\n:4\n"
    );
}

/// `reconcile --rollout 1`: alpha succeeds, beta fails, so gamma is never asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_stops_at_the_first_failing_cluster() {
    let fleet = tokio::task::spawn_blocking(fleet).await.expect("fleet");
    let delay = Duration::from_millis(300);
    let ks = kind("ks");
    let _alpha = fake_flux_controller(
        admin_client_for(&plane("alpha").kubeconfig).await,
        ks,
        "wave",
        "app",
        Behaviour::Succeed {
            revision: REVISION.into(),
        },
        delay,
    );
    let _beta = fake_flux_controller(
        admin_client_for(&plane("beta").kubeconfig).await,
        ks,
        "wave",
        "app",
        Behaviour::Fail {
            reason: "HealthCheckFailed".into(),
            message: "Deployment wave/app not ready".into(),
        },
        delay,
    );
    let out = plugin_async(
        &fleet.kubeconfig,
        &[
            "reconcile",
            "ks",
            "app",
            "-n",
            "wave",
            "--contexts",
            "alpha,beta,gamma",
            "--rollout",
            "1",
            "--timeout",
            "30s",
        ],
    )
    .await;
    assert_golden(
        "fleet/reconcile-rollout",
        &elapsed_seconds(&transcript(&out)),
    );
    let asked = plane("gamma").kubectl_ok(&[
        "get",
        "kustomization",
        "app",
        "-n",
        "wave",
        "-o",
        "jsonpath={.metadata.annotations}",
    ]);
    assert!(
        !asked.contains("reconcile.fluxcd.io/requestedAt"),
        "gamma was asked to reconcile: {asked}"
    );
}

/// Without --rollout every cluster reconciles at the same time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_runs_in_every_cluster_at_once() {
    let fleet = tokio::task::spawn_blocking(fleet).await.expect("fleet");
    let delay = Duration::from_secs(3);
    let mut controllers = Vec::new();
    for name in NAMES {
        controllers.push(fake_flux_controller(
            admin_client_for(&plane(name).kubeconfig).await,
            kind("ks"),
            "wave",
            "all",
            Behaviour::Succeed {
                revision: REVISION.into(),
            },
            delay,
        ));
    }
    let started = Instant::now();
    let out = plugin_async(
        &fleet.kubeconfig,
        &[
            "reconcile",
            "ks",
            "all",
            "-n",
            "wave",
            "--contexts",
            "alpha,beta,gamma",
            "-o",
            "json",
        ],
    )
    .await;
    let took = started.elapsed();
    assert!(out.status.success(), "{}", stderr(&out));
    let clusters: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    let outcomes: Vec<(String, String)> = clusters
        .as_array()
        .expect("a list")
        .iter()
        .map(|c| {
            (
                c["cluster"].as_str().unwrap_or("?").to_string(),
                c["reports"][0]["result"]
                    .as_str()
                    .unwrap_or("?")
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        NAMES
            .iter()
            .map(|n| (n.to_string(), "succeeded".to_string()))
            .collect::<Vec<_>>()
    );
    // One after the other would take at least 3 x 3 s.
    assert!(took < Duration::from_secs(8), "took {took:?}");
    drop(controllers);
}

/// `-w` watches every cluster: an object created in one of them appears as a row of its own.
#[test]
fn watch_follows_every_cluster() {
    use std::io::{BufRead, BufReader};
    let fleet = fleet();
    let mut child = std::process::Command::new(crate::support::plugin_exe("kubectl-gitops"))
        .args([
            "status",
            "-w",
            "-A",
            "-l",
            "tier=watch",
            "--contexts",
            "alpha,beta",
        ])
        .arg("--kubeconfig")
        .arg(&fleet.kubeconfig)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start status -w");
    let pipe = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the headline");
    assert_eq!(first, "2 clusters: 2 reachable");
    // Give the watches time to start, then create a watched object in beta.
    std::thread::sleep(Duration::from_millis(1500));
    let file = temp_dir("fleet-watch-").join("object.json");
    let object = kustomization("wave", "watched", serde_json::json!({"tier": "watch"}));
    std::fs::write(&file, object.to_string()).expect("write object");
    plane("beta").apply_server_side(&file);
    let row = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("a row for the new object");
    let _ = child.kill();
    let _ = child.wait();
    let words: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        words[..3],
        ["beta", "wave", "Kustomization/watched"],
        "{row}"
    );
}
