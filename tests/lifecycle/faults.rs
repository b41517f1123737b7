//! Faults while a command waits: the API server stopped and started again on the same port
//! (same etcd data, certificates and tokens) under `reconcile` and `status -w`, and a server
//! gone for longer than `--request-timeout`; the same while `bootstrap git` waits for its sync
//! objects. The HTTPS Git server gone between bootstrap's clone and its push. `status -A` on a
//! large cluster (2,000 objects in 20 namespaces; tests/bench_partial_rights.sh runs 10,000)
//! for users who may read only some namespaces or kinds. Each test has a control plane of
//! its own.

use std::sync::Arc;
use std::time::Duration;

use kubectl_gitops::flux::FluxKind;

use crate::bootstrap::{bootstrap, bootstrap_command, git, https_args, stand_ins, strs};
use crate::support::control_plane::ControlPlane;
use crate::support::fake_flux_controller::{Behaviour, FakeFluxController, fake_flux_controller};
use crate::support::git_servers::{GitHttpServer, GitService, hold, release, wait_held};
use crate::support::kubelet_stand_in::KubeletStandIn;
use crate::support::large_cluster::{fill_large_cluster, grant_partial_rights};
use crate::support::plugin_command;
use crate::support::processes::temp_dir;
use crate::support::streamed::Streamed;
use crate::support::{run_async, stderr, stdout};
use crate::{client_for, names};

const NS: &str = "flux-system";
const REVISION: &str = "main@sha1:0123456789abcdef0123456789abcdef01234567";

/// A control plane of the test's own with the Flux CRDs and a GitRepository `default/app`.
fn plane_with_a_git_repository() -> ControlPlane {
    let plane = ControlPlane::start_private();
    plane.install_flux_crds();
    let object = serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "app", "namespace": "default"},
        "spec": {"url": "https://git.example/app.git", "interval": "10m",
                 "ref": {"branch": "main"}},
    });
    let file = temp_dir("faults-").join("app.json");
    std::fs::write(&file, object.to_string()).unwrap();
    plane.kubectl_ok(&["apply", "-f", file.to_str().unwrap()]);
    plane
}

/// Waits until the plugin has asked for a reconcile of `default/app` (so its wait has begun).
fn wait_for_request(plane: &ControlPlane) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        let requested = plane.kubectl_ok(&[
            "get",
            "gitrepository",
            "app",
            "-n",
            "default",
            "-o",
            "jsonpath={.metadata.annotations.reconcile\\.fluxcd\\.io/requestedAt}",
        ]);
        if !requested.is_empty() {
            // The watch starts right after the request.
            std::thread::sleep(Duration::from_secs(1));
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the plugin did not request a reconcile within 30s");
}

fn git_repository() -> &'static FluxKind {
    FluxKind::lookup("GitRepository").expect("kind")
}

/// Stops the API server and starts it again on the same port 2 s later: a restart shorter
/// than any `--request-timeout` the tests use.
fn restart_apiserver(plane: &ControlPlane) {
    plane.stop_apiserver();
    std::thread::sleep(Duration::from_secs(2));
    plane.start_apiserver_again();
}

/// The fake source-controller for `default/app`, answering Ready at REVISION.
async fn app_controller(plane: &ControlPlane) -> FakeFluxController {
    fake_flux_controller(
        client_for(plane).await,
        git_repository(),
        "default",
        "app",
        Behaviour::Succeed {
            revision: REVISION.into(),
        },
        Duration::from_millis(100),
    )
}

/// `✔ GitRepository/app in namespace default: fetched revision <REVISION> (1.2s)` without the
/// elapsed time, which varies.
fn without_elapsed(line: &str) -> &str {
    line.rsplit_once(" (").map_or(line, |(head, _)| head)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_waits_through_an_api_server_restart() {
    let plane = plane_with_a_git_repository();
    let running = Streamed::spawn(plugin_command(
        &plane,
        &[
            "reconcile",
            "gitrepository",
            "app",
            "-n",
            "default",
            "--timeout",
            "2m",
        ],
    ));
    wait_for_request(&plane);
    restart_apiserver(&plane);
    // The controller answers only after the restart: the answer must come through the
    // resumed watch.
    let _controller = app_controller(&plane).await;
    let ended = tokio::task::spawn_blocking(move || running.finish(Duration::from_secs(120)))
        .await
        .unwrap();
    // No error for a short restart; the restart may take long enough for the 30 s heartbeat.
    let said: Vec<&str> = ended
        .lines
        .iter()
        .map(|(_, l)| l.as_str())
        .filter(|l| {
            *l != "◎ still waiting for GitRepository/app in namespace default to reconcile (30s)"
        })
        .collect();
    assert!(said.is_empty(), "{}", ended.stderr());
    assert_eq!(ended.status.code(), Some(0));
    let lines: Vec<&str> = ended.stdout.lines().map(without_elapsed).collect();
    assert_eq!(
        lines,
        [format!(
            "✔ GitRepository/app in namespace default: fetched revision {REVISION}"
        )]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_longer_than_the_request_timeout_ends_the_wait_with_a_clear_error() {
    let plane = plane_with_a_git_repository();
    let running = Streamed::spawn(plugin_command(
        &plane,
        &[
            "reconcile",
            "gitrepository",
            "app",
            "-n",
            "default",
            "--timeout",
            "2m",
            "--request-timeout",
            "3s",
        ],
    ));
    wait_for_request(&plane);
    let stopped_at = running.elapsed();
    plane.stop_apiserver();
    let ended = tokio::task::spawn_blocking(move || running.finish(Duration::from_secs(60)))
        .await
        .unwrap();
    let waited = ended.lines.last().map(|(at, _)| *at).unwrap_or_default() - stopped_at;
    assert_eq!(
        ended.stderr(),
        format!(
            "error: cannot reach the Kubernetes API server at {}: Connection refused (os error 111); check that the cluster is running and that the kubeconfig, --context or --server point at it\n",
            plane.server
        )
    );
    assert_eq!(ended.status.code(), Some(1));
    assert!(
        waited >= Duration::from_secs(3) && waited < Duration::from_secs(40),
        "gave up {waited:?} after the server stopped"
    );
    plane.start_apiserver_again();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_watch_goes_on_through_an_api_server_restart() {
    let plane = plane_with_a_git_repository();
    let mut running = Streamed::spawn(plugin_command(&plane, &["status", "-w", "-n", "default"]));
    running.wait_for_stdout_line(Duration::from_secs(20), |l| l.contains("GitRepository/app"));
    std::thread::sleep(Duration::from_secs(1));
    restart_apiserver(&plane);
    // A change made after the restart is shown: the watch resumed.
    let _controller = app_controller(&plane).await;
    plane.kubectl_ok(&[
        "annotate",
        "--overwrite",
        "gitrepository/app",
        "-n",
        "default",
        "reconcile.fluxcd.io/requestedAt=after-restart",
    ]);
    let shown = running.wait_for_stdout_line(Duration::from_secs(60), |l| {
        l.contains("GitRepository/app") && l.contains("main@sha1:0123456")
    });
    let ended = running.kill();
    assert_eq!(ended.stderr(), "", "no error for a short restart");
    assert!(shown.contains("True"), "{shown}");
}

/// `bootstrap git` over HTTPS against `plane` and `server`'s repository `fleet`, streamed.
fn streamed_bootstrap(
    plane: &ControlPlane,
    server: &GitHttpServer,
    url: &str,
    extra: &[&str],
) -> Streamed {
    let mut args = https_args(server, url);
    args.extend(extra.iter().map(|a| a.to_string()));
    Streamed::spawn(bootstrap_command(
        plane,
        &strs(&args),
        &[("GIT_PASSWORD", server.password.as_str())],
    ))
}

const WAITING_FOR_SOURCE: &str = "◎ waiting for GitRepository flux-system/flux-system";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_waits_through_an_api_server_restart() {
    let plane = ControlPlane::start_private();
    let server = GitHttpServer::start();
    let url = server.create_repo("fleet");
    let bare = server.bare_path("fleet");
    // The Deployments become available (so no controller is reported missing); the Flux
    // objects are answered only after the restart, so the answer must come through the
    // resumed watch.
    let _kubelet = KubeletStandIn::start(client_for(&plane).await, NS, Arc::new(|_: &str| true));
    let mut running = streamed_bootstrap(&plane, &server, &url, &[]);
    running.wait_for_line(Duration::from_secs(60), |l| {
        l.starts_with(WAITING_FOR_SOURCE)
    });
    std::thread::sleep(Duration::from_secs(1));
    let stopped_at = running.elapsed();
    restart_apiserver(&plane);
    let _stand_ins = stand_ins(&plane, &bare).await;
    let ended = tokio::task::spawn_blocking(move || running.finish(Duration::from_secs(120)))
        .await
        .unwrap();
    assert_eq!(ended.status.code(), Some(0), "{}", ended.stderr());
    let head = git(&bare, &["rev-parse", "refs/heads/main"]);
    // After the restart: the two waits' ends, nothing else (no error, no warning); the
    // wait's 30 s heartbeat may come if the restart is slow.
    let after: Vec<&str> = ended
        .lines
        .iter()
        .filter(|(at, _)| *at > stopped_at)
        .map(|(_, l)| l.as_str())
        .filter(|l| !l.starts_with("◎ still waiting for "))
        .map(without_elapsed)
        .collect();
    assert_eq!(
        after,
        [
            "✔ GitRepository reconciled successfully".to_string(),
            format!(
                "◎ waiting for Kustomization flux-system/flux-system to be reconciled at main@sha1:{head}"
            ),
            "✔ Kustomization reconciled successfully".to_string(),
            "◎ waiting for the Flux controllers to be available".to_string(),
            "✔ all components are healthy".to_string(),
        ],
        "{}",
        ended.stderr()
    );
    assert!(
        ended.stdout.starts_with(&format!(
            "✔ bootstrap finished: the cluster is synced to main@sha1:{head} (2 commits pushed, "
        )),
        "{}",
        ended.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_ends_with_a_clear_error_when_the_api_server_stays_away() {
    let plane = ControlPlane::start_private();
    let server = GitHttpServer::start();
    let url = server.create_repo("fleet");
    let bare = server.bare_path("fleet");
    let _kubelet = KubeletStandIn::start(client_for(&plane).await, NS, Arc::new(|_: &str| true));
    let mut running = streamed_bootstrap(&plane, &server, &url, &["--request-timeout", "3s"]);
    running.wait_for_line(Duration::from_secs(60), |l| {
        l.starts_with(WAITING_FOR_SOURCE)
    });
    std::thread::sleep(Duration::from_secs(1));
    let stopped_at = running.elapsed();
    plane.stop_apiserver();
    let ended = tokio::task::spawn_blocking(move || running.finish(Duration::from_secs(60)))
        .await
        .unwrap();
    let waited = ended.lines.last().map(|(at, _)| *at).unwrap_or_default() - stopped_at;
    let head = git(&bare, &["rev-parse", "refs/heads/main"]);
    let after: Vec<&str> = ended
        .lines
        .iter()
        .filter(|(at, _)| *at > stopped_at)
        .map(|(_, l)| l.as_str())
        .collect();
    assert_eq!(
        after,
        [format!(
            "error: cannot reach the Kubernetes API server at {}: Connection refused (os error 111); check that the cluster is running and that the kubeconfig, --context or --server point at it",
            plane.server
        )],
        "{}",
        ended.stderr()
    );
    assert_eq!(ended.status.code(), Some(1));
    assert!(
        waited >= Duration::from_secs(3) && waited < Duration::from_secs(40),
        "gave up {waited:?} after the server stopped"
    );
    // What was pushed stays; a re-run once the server is back finishes the wait.
    plane.start_apiserver_again();
    let _stand_ins = stand_ins(&plane, &bare).await;
    let out = bootstrap(
        &plane,
        &strs(&https_args(&server, &url)),
        &[("GIT_PASSWORD", server.password.as_str())],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(git(&bare, &["rev-parse", "refs/heads/main"]), head);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_git_server_gone_between_clone_and_push_changes_nothing_and_a_rerun_converges() {
    let plane = ControlPlane::start_private();
    let mut server = GitHttpServer::start();
    let url = server.create_repo("fleet");
    let bare = server.bare_path("fleet");
    // The clone goes through; the push's first request is held, and the server goes away
    // while it is.
    hold(&bare, GitService::ReceivePack);
    let running = streamed_bootstrap(&plane, &server, &url, &[]);
    wait_held(&bare, GitService::ReceivePack);
    server.stop();
    release(&bare, GitService::ReceivePack);
    let ended = tokio::task::spawn_blocking(move || running.finish(Duration::from_secs(120)))
        .await
        .unwrap();
    assert_eq!(ended.status.code(), Some(1), "{}", ended.stderr());
    let last = ended
        .lines
        .last()
        .map(|(_, l)| l.clone())
        .unwrap_or_default();
    assert_eq!(
        last,
        format!(
            "error: cannot reach the Git server at {url} to push (fatal: unable to access '{url}/': GnuTLS recv error (-110): The TLS connection was non-properly terminated.); nothing was applied to the cluster: check that the server is running and reachable, then run bootstrap again (it starts from a fresh clone, so nothing is committed twice)"
        ),
        "{}",
        ended.stderr()
    );

    // Nothing pushed, nothing applied.
    assert_eq!(git(&bare, &["for-each-ref"]), "");
    assert_eq!(names(&plane, &["namespace", NS]), Vec::<String>::new());
    assert_eq!(
        names(
            &plane,
            &["crd,clusterroles", "-l", "app.kubernetes.io/part-of=flux"]
        ),
        Vec::<String>::new()
    );

    // Once the server is back, a re-run converges: flux's two commits, once.
    server.start_again();
    let _stand_ins = stand_ins(&plane, &bare).await;
    let args = https_args(&server, &url);
    let password = [("GIT_PASSWORD", server.password.as_str())];
    let out = bootstrap(&plane, &strs(&args), &password).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let commits = git(&bare, &["log", "--format=%an|%s", "main"]);
    assert_eq!(
        commits,
        "Flux|Add Flux sync manifests\nFlux|Add Flux v2.9.4 component manifests"
    );
    let tree = git(&bare, &["rev-parse", "main^{tree}"]);

    // The same repository as an uninterrupted run's from an empty repository.
    git(&bare, &["update-ref", "-d", "refs/heads/main"]);
    let out = bootstrap(&plane, &strs(&args), &password).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(git(&bare, &["log", "--format=%an|%s", "main"]), commits);
    assert_eq!(git(&bare, &["rev-parse", "main^{tree}"]), tree);
}

/// `status -A` as the user of `kubeconfig`: (exit code, stdout, stderr).
async fn status_all(kubeconfig: &std::path::Path) -> (Option<i32>, String, String) {
    let out = run_async(plugin_command(kubeconfig, &["status", "-A"])).await;
    (out.status.code(), stdout(&out), stderr(&out))
}

/// How many rows of `status -A`'s table are of `kind`, per namespace.
fn rows_per_namespace(table: &str, kind: &str) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for line in table.lines().skip(1) {
        let mut columns = line.split_whitespace();
        let (Some(ns), Some(object)) = (columns.next(), columns.next()) else {
            continue;
        };
        if object.starts_with(&format!("{kind}/")) {
            *counts.entry(ns.to_string()).or_default() += 1;
        }
    }
    counts
}

/// Namespaces of the large cluster, and the Flux objects in each (half GitRepositories, half
/// Kustomizations): 2,000 keeps the test near 30 s here; tests/bench_partial_rights.sh runs
/// 10,000.
const TEAMS: usize = 20;
const PER_TEAM: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_all_on_a_large_cluster_answers_for_what_a_partial_user_may_see() {
    let plane = ControlPlane::start_private();
    plane.install_flux_crds();
    fill_large_cluster(&plane, TEAMS, PER_TEAM);
    grant_partial_rights(&plane, TEAMS);

    // The admin sees everything.
    let (code, table, err) = status_all(&plane.kubeconfig).await;
    assert_eq!((code, err.as_str()), (Some(0), ""), "{err}");
    let everywhere: std::collections::BTreeMap<String, usize> = (0..TEAMS)
        .map(|t| (format!("team-{t:02}"), PER_TEAM / 2))
        .collect();
    assert_eq!(rows_per_namespace(&table, "GitRepository"), everywhere);
    assert_eq!(rows_per_namespace(&table, "Kustomization"), everywhere);
    assert_eq!(
        table.lines().next(),
        Some("Flux v2.9.4 in flux-system, no controller Deployments found")
    );
    assert_eq!(table.lines().count(), 2 + TEAMS * PER_TEAM);

    let half: std::collections::BTreeMap<String, usize> = (0..TEAMS / 2)
        .map(|t| (format!("team-{t:02}"), PER_TEAM / 2))
        .collect();
    let context_only = std::collections::BTreeMap::from([("team-03".to_string(), PER_TEAM / 2)]);
    let none = std::collections::BTreeMap::new();
    let all_kinds = [
        "alerts.notification.toolkit.fluxcd.io",
        "buckets.source.toolkit.fluxcd.io",
        "gitrepositories.source.toolkit.fluxcd.io",
        "helmcharts.source.toolkit.fluxcd.io",
        "helmreleases.helm.toolkit.fluxcd.io",
        "helmrepositories.source.toolkit.fluxcd.io",
        "kustomizations.kustomize.toolkit.fluxcd.io",
        "ocirepositories.source.toolkit.fluxcd.io",
        "providers.notification.toolkit.fluxcd.io",
        "receivers.notification.toolkit.fluxcd.io",
    ]
    .join(", ");
    let but_kustomizations = all_kinds.replace("kustomizations.kustomize.toolkit.fluxcd.io, ", "");
    let controllers = "Flux v2.9.4 in flux-system, controllers: not allowed to list Deployments";
    // (user, GitRepository rows, Kustomization rows, the first line, stderr)
    let cases = [
        (
            "tenant",
            &half,
            &half,
            controllers.to_string(),
            format!(
                "warning: user \"tenant\" cannot list {all_kinds} cluster-wide; shown from the 10 of 24 namespaces where it may, not from the other 14: default, kube-node-lease, kube-public, kube-system, team-10 and 9 more (forbidden there)\n"
            ),
        ),
        (
            "isolated",
            &context_only,
            &context_only,
            "Flux version unknown: forbidden: user \"isolated\" cannot get customresourcedefinitions.apiextensions.k8s.io \"gitrepositories.source.toolkit.fluxcd.io\" (403: customresourcedefinitions.apiextensions.k8s.io \"gitrepositories.source.toolkit.fluxcd.io\" is forbidden: User \"isolated\" cannot get resource \"customresourcedefinitions\" in API group \"apiextensions.k8s.io\" at the cluster scope); the ClusterRole gitops-view grants it (docs/rbac/gitops-view.yaml; README, \"Least privilege\"): ask a cluster admin to bind it to you with a ClusterRoleBinding, or use a context with more rights".to_string(),
            format!(
                "warning: user \"isolated\" cannot list {all_kinds} cluster-wide, nor the namespaces to look in each: forbidden; shown from namespace \"team-03\" (the context's) only\n"
            ),
        ),
        (
            "ks-only",
            &none,
            &everywhere,
            controllers.to_string(),
            format!(
                "warning: user \"ks-only\" cannot list {but_kustomizations} in any namespace: forbidden; those objects are not shown\n"
            ),
        ),
    ];
    for (user, git_repositories, kustomizations, first_line, notes) in cases {
        // The context's namespace is one the user may read.
        let kubeconfig = plane.kubeconfig_for(user, None, "team-03");
        let (code, table, err) = status_all(&kubeconfig).await;
        assert_eq!(code, Some(0), "{user}: {err}");
        assert_eq!(err, notes, "{user}");
        assert_eq!(table.lines().next(), Some(first_line.as_str()), "{user}");
        assert_eq!(
            &rows_per_namespace(&table, "GitRepository"),
            git_repositories,
            "{user}"
        );
        assert_eq!(
            &rows_per_namespace(&table, "Kustomization"),
            kustomizations,
            "{user}"
        );
        let rows: usize = git_repositories
            .values()
            .chain(kustomizations.values())
            .sum();
        assert_eq!(
            table.lines().count(),
            2 + rows,
            "{user}: the two header lines and the rows"
        );
    }
}
