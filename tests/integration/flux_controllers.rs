//! The end-to-end environment works: the real source-controller and kustomize-controller, run
//! as host processes, clone a repository from the loopback HTTPS Git server (basic auth,
//! private CA) and apply it; the kubelet stand-in marks Deployments available only while their
//! process is ready; kube-controller-manager really deletes namespaces.

use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;

use crate::support::flux_controllers::FluxControllers;
use crate::support::git_servers::GitHttpServer;
use crate::support::kubelet_stand_in::KubeletStandIn;
use crate::support::processes::temp_dir;
use crate::support::{
    admin_client, apply_object, control_plane, fresh_namespace, git_command, run, stderr,
};

/// Generous: two shared cores, controllers that clone, build and apply.
const RECONCILED_WITHIN: Duration = Duration::from_secs(180);

/// git with a clean, non-interactive environment, authenticating by a header from the
/// environment (so the password is in no argv and no file of the clone).
fn git(cwd: &Path, args: &[&str], server: &GitHttpServer) -> Output {
    let token = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", server.username, server.password));
    let mut command = git_command(cwd, "Test", "test@example.com");
    command
        .args(args)
        .env("GIT_SSL_CAINFO", &server.ca_file)
        .env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "http.extraHeader")
        .env(
            "GIT_CONFIG_VALUE_0",
            format!("Authorization: Basic {token}"),
        );
    let out = run(&mut command);
    assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    out
}

/// Pushes one commit with `files` to main of `url`; returns the commit's SHA-1.
fn push_files(server: &GitHttpServer, url: &str, files: &[(&str, String)]) -> String {
    let dir = temp_dir("git-client-");
    git(&dir, &["clone", "--quiet", url, "work"], server);
    let work = dir.join("work");
    git(&work, &["checkout", "-q", "-B", "main"], server);
    for (path, text) in files {
        let file = work.join(path);
        std::fs::create_dir_all(file.parent().expect("file in a folder")).expect("mkdir");
        std::fs::write(&file, text).expect("write file");
        git(&work, &["add", path], server);
    }
    git(&work, &["commit", "-q", "-m", "add manifests"], server);
    git(&work, &["push", "--quiet", "origin", "main"], server);
    let head = git(&work, &["rev-parse", "HEAD"], server);
    String::from_utf8_lossy(&head.stdout).trim().to_string()
}

/// An object as JSON, or None while it does not exist.
fn get_json(kind: &str, namespace: &str, name: &str) -> Option<serde_json::Value> {
    let mut command = control_plane().kubectl();
    command.args(["get", kind, name, "-o", "json"]);
    if !namespace.is_empty() {
        command.args(["-n", namespace]);
    }
    let out = command.output().expect("run kubectl");
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).expect("kubectl prints JSON"))
}

fn condition<'a>(object: &'a serde_json::Value, type_: &str) -> Option<&'a serde_json::Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// Polls until `done` holds for the object, or fails with its last state and `context()`.
fn wait_for(
    kind: &str,
    namespace: &str,
    name: &str,
    limit: Duration,
    context: impl Fn() -> String,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + limit;
    loop {
        let object = get_json(kind, namespace, name);
        if let Some(object) = &object
            && done(object)
        {
            return object.clone();
        }
        if Instant::now() > deadline {
            panic!(
                "{kind} {namespace}/{name} did not get there within {limit:?}; last status: {}\n{}",
                object.map(|o| o["status"].to_string()).unwrap_or_default(),
                context()
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn is_ready(object: &serde_json::Value) -> bool {
    condition(object, "Ready").is_some_and(|c| c["status"] == "True")
}

fn is_available(object: &serde_json::Value) -> bool {
    condition(object, "Available").is_some_and(|c| c["status"] == "True")
        && object["status"]["observedGeneration"] == object["metadata"]["generation"]
}

fn deployment(namespace: &str, name: &str, replicas: i64) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "manager", "image": format!("example.invalid/{name}:v1")}]}
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_controllers_clone_over_https_with_basic_auth_and_apply_the_revision() {
    let plane = control_plane();
    plane.install_flux_crds();
    let ns = fresh_namespace("flux-e2e");
    let started = Instant::now();
    let controllers = FluxControllers::start(plane, &ns);
    eprintln!(
        "controllers ready in {:?}: {}",
        started.elapsed(),
        controllers
            .controllers
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let logs = || controllers.log_tails(60);

    let server = GitHttpServer::start();
    let url = server.create_repo("fleet");
    let manifest = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-git\n  namespace: {ns}\ndata:\n  greeting: hello from git\n"
    );
    let head = push_files(
        &server,
        &url,
        &[
            ("clusters/test/configmap.yaml", manifest),
            ("README.md", "not a manifest\n".to_string()),
        ],
    );
    let revision = format!("main@sha1:{head}");

    // HTTPS with a private CA: the CA goes into the Secret next to the basic-auth credentials.
    let ca = std::fs::read_to_string(&server.ca_file).expect("read the server's CA");
    apply_object(serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "git-auth", "namespace": ns},
        "stringData": {"username": server.username, "password": server.password, "ca.crt": ca}
    }));
    apply_object(serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "fleet", "namespace": ns},
        "spec": {"url": url, "interval": "1m", "ref": {"branch": "main"},
                 "secretRef": {"name": "git-auth"}}
    }));
    apply_object(serde_json::json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "fleet", "namespace": ns},
        "spec": {"interval": "1m", "path": "./clusters/test", "prune": true,
                 "sourceRef": {"kind": "GitRepository", "name": "fleet"}}
    }));

    let source = wait_for(
        "gitrepository",
        &ns,
        "fleet",
        RECONCILED_WITHIN,
        logs,
        |o| is_ready(o) && o["status"]["artifact"]["revision"] == revision.as_str(),
    );
    // kustomize-controller downloaded the artifact from the loopback address advertised.
    let artifact_url = source["status"]["artifact"]["url"]
        .as_str()
        .unwrap_or_default();
    assert!(
        artifact_url.starts_with(&controllers.storage_url),
        "artifact URL {artifact_url} is not on {}",
        controllers.storage_url
    );
    let ks = wait_for(
        "kustomization",
        &ns,
        "fleet",
        RECONCILED_WITHIN,
        logs,
        |o| is_ready(o) && o["status"]["lastAppliedRevision"] == revision.as_str(),
    );
    assert_eq!(
        condition(&ks, "Ready").expect("Ready")["reason"],
        "ReconciliationSucceeded"
    );
    let config_map = get_json("configmap", &ns, "from-git")
        .unwrap_or_else(|| panic!("the ConfigMap from Git was not applied\n{}", logs()));
    assert_eq!(config_map["data"]["greeting"], "hello from git");
    // Applied by kustomize-controller, which labels what it owns.
    assert_eq!(
        config_map["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"],
        "fleet"
    );
    // The others send their events to notification-controller's event server.
    if let Some(notification) = controllers.controller("notification-controller") {
        let received = || {
            let log = std::fs::read_to_string(&notification.log).unwrap_or_default();
            log.contains("event-server") && log.contains(r#""kind":"Kustomization""#)
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !received() {
            assert!(
                Instant::now() < deadline,
                "notification-controller received no event:\n{}",
                logs()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    eprintln!(
        "GitRepository and Kustomization Ready at {revision} after {:?}",
        started.elapsed()
    );

    // The kubelet stand-in driven by the host processes: the Deployment of a running
    // controller becomes available, the one of a controller that is not running does not.
    let running: Vec<&str> = controllers
        .controllers
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    for name in running.iter().chain(&["no-such-controller"]) {
        apply_object(deployment(&ns, name, 1));
    }
    let _kubelet = KubeletStandIn::start(admin_client().await, &ns, controllers.readiness());
    for name in running.iter().copied() {
        wait_for(
            "deployment",
            &ns,
            name,
            Duration::from_secs(30),
            logs,
            is_available,
        );
    }
    let absent = wait_for(
        "deployment",
        &ns,
        "no-such-controller",
        Duration::from_secs(30),
        logs,
        |o| o["status"]["observedGeneration"] == 1,
    );
    assert!(!is_available(&absent), "{}", absent["status"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubelet_stand_in_marks_a_deployment_available_only_while_its_process_is_ready() {
    let plane = control_plane();
    let ns = fresh_namespace("kubelet");
    apply_object(deployment(&ns, "demo", 2));
    let up = Arc::new(AtomicBool::new(false));
    let flag = up.clone();
    let _kubelet = KubeletStandIn::start(
        admin_client().await,
        &ns,
        Arc::new(move |name: &str| name == "demo" && flag.load(Ordering::SeqCst)),
    );
    let none = String::new;

    // Not ready: the stand-in reports the rollout, but no replica available.
    let pending = wait_for(
        "deployment",
        &ns,
        "demo",
        Duration::from_secs(30),
        none,
        |o| o["status"]["observedGeneration"] == 1,
    );
    assert!(!is_available(&pending), "{}", pending["status"]);
    std::thread::sleep(Duration::from_secs(2));
    let still = get_json("deployment", &ns, "demo").expect("deployment");
    assert!(!is_available(&still), "{}", still["status"]);
    let rollout = plane
        .kubectl()
        .args([
            "rollout",
            "status",
            "deployment/demo",
            "-n",
            &ns,
            "--timeout=1s",
        ])
        .output()
        .expect("run kubectl");
    assert!(!rollout.status.success(), "rollout done while not ready");

    // Ready: all replicas available, and the real kubectl agrees the rollout is complete.
    up.store(true, Ordering::SeqCst);
    let available = wait_for(
        "deployment",
        &ns,
        "demo",
        Duration::from_secs(30),
        none,
        is_available,
    );
    assert_eq!(available["status"]["availableReplicas"], 2);
    assert_eq!(available["status"]["readyReplicas"], 2);
    assert_eq!(
        condition(&available, "Progressing").expect("Progressing")["reason"],
        "NewReplicaSetAvailable"
    );
    plane.kubectl_ok(&[
        "rollout",
        "status",
        "deployment/demo",
        "-n",
        &ns,
        "--timeout=30s",
    ]);

    // A new generation is rolled out again.
    plane.kubectl_ok(&["scale", "deployment/demo", "-n", &ns, "--replicas=3"]);
    let scaled = wait_for(
        "deployment",
        &ns,
        "demo",
        Duration::from_secs(30),
        none,
        |o| is_available(o) && o["status"]["availableReplicas"] == 3,
    );
    assert_eq!(scaled["status"]["observedGeneration"], 2);

    // The process goes away: the Deployment is no longer available.
    up.store(false, Ordering::SeqCst);
    let down = wait_for(
        "deployment",
        &ns,
        "demo",
        Duration::from_secs(30),
        none,
        |o| condition(o, "Available").is_some_and(|c| c["status"] == "False"),
    );
    assert_eq!(down["status"]["availableReplicas"], serde_json::Value::Null);
}

#[test]
fn controller_manager_collects_garbage_and_deletes_a_namespace_with_its_contents() {
    let plane = control_plane();
    plane.start_controller_manager();
    let ns = fresh_namespace("kcm");
    plane.kubectl_ok(&["create", "configmap", "owner", "-n", &ns]);
    let owner = get_json("configmap", &ns, "owner").expect("owner");
    apply_object(serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "dependent", "namespace": ns, "ownerReferences": [{
            "apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
            "uid": owner["metadata"]["uid"]}]}
    }));
    plane.kubectl_ok(&["delete", "configmap", "owner", "-n", &ns]);
    let log = || {
        plane
            .dir
            .join("kube-controller-manager.log")
            .display()
            .to_string()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while get_json("configmap", &ns, "dependent").is_some() {
        assert!(
            Instant::now() < deadline,
            "the garbage collector left the dependent of a deleted owner (log: {})",
            log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    // Without the namespace controller this would stay Terminating (the kubernetes finalizer).
    plane.kubectl_ok(&["create", "configmap", "left-behind", "-n", &ns]);
    plane.kubectl_ok(&["delete", "namespace", &ns, "--timeout=90s"]);
    assert!(
        get_json("namespace", "", &ns).is_none(),
        "namespace {ns} still exists (log: {})",
        log()
    );
}
