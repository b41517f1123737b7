//! tree, trace and events on the real controllers, after bootstrap: what Flux applied and how
//! healthy it is, where an object came from, and what the controllers said.

use std::time::Duration;

use crate::bootstrap::{Bootstrapped, bootstrapped};
use crate::support::helm_repository::HelmRepository;
use crate::support::stdout;
use crate::{NS, RECONCILE_ROOT, TIMEOUT, eventually, push, ready};

const CONFIG_MAP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-git\n  namespace: default\ndata:\n  greeting: hello from git\n";

/// A Deployment nothing runs (no kubelet here, and the stand-in serves only the controllers):
/// it never becomes available.
const STUCK_DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: never-ready
  namespace: default
spec:
  replicas: 1
  selector:
    matchLabels:
      app: never-ready
  template:
    metadata:
      labels:
        app: never-ready
    spec:
      containers:
        - name: app
          image: registry.invalid/app:1
";

const CHILD: &str = "apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: child
  namespace: flux-system
spec:
  interval: 10m
  path: ./child
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
";

const CHILD_CONFIG_MAP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: child-settings\n  namespace: default\ndata:\n  from: child\n";

/// Every node of a `tree -o json` document, depth first, as `Kind/namespace/name` (namespace
/// left out for cluster-scoped objects) with its health.
fn nodes(tree: &serde_json::Value) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut next = vec![tree];
    while let Some(node) = next.pop() {
        let name = match node["namespace"].as_str().filter(|ns| !ns.is_empty()) {
            Some(ns) => format!(
                "{}/{ns}/{}",
                node["kind"].as_str().unwrap_or_default(),
                node["name"].as_str().unwrap_or_default()
            ),
            None => format!(
                "{}/{}",
                node["kind"].as_str().unwrap_or_default(),
                node["name"].as_str().unwrap_or_default()
            ),
        };
        found.push((
            name,
            node["health"].as_str().unwrap_or_default().to_string(),
        ));
        if let Some(children) = node["children"].as_array() {
            next.extend(children.iter().rev());
        }
    }
    found
}

fn health_of<'a>(nodes: &'a [(String, String)], name: &str) -> Option<&'a str> {
    nodes
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, h)| h.as_str())
}

async fn tree_json(b: &Bootstrapped, args: &[&str]) -> Vec<(String, String)> {
    let mut all = vec!["tree"];
    all.extend_from_slice(args);
    all.extend(["-o", "json"]);
    let out = b.flux.gitops_ok(&all).await;
    let document: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)));
    nodes(&document)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tree_trace_and_events_follow_what_the_controllers_applied() {
    let b = bootstrapped().await;
    let pushed = push(
        &b.url,
        &b.git_env(),
        "Add a ConfigMap, a stuck Deployment and a child Kustomization",
        &[
            ("clusters/dev/app.yaml", Some(CONFIG_MAP)),
            ("clusters/dev/stuck.yaml", Some(STUCK_DEPLOYMENT)),
            ("clusters/dev/child.yaml", Some(CHILD)),
            ("child/settings.yaml", Some(CHILD_CONFIG_MAP)),
        ],
    );
    b.flux.gitops_ok(&RECONCILE_ROOT).await;
    eventually(
        &b.flux,
        "the child Kustomization is Ready",
        Duration::from_secs(90),
        || {
            b.flux
                .get("kustomization", NS, "child")
                .is_some_and(|ks| ready(&ks).0 == "True")
        },
    )
    .await;

    // tree: the controllers, the sync objects, what was pushed, and the child's own objects.
    let tree = tree_json(&b, &["-n", NS]).await;
    for (name, health) in [
        ("Kustomization/flux-system/flux-system", "Ready"),
        ("GitRepository/flux-system/flux-system", "Ready"),
        ("Deployment/flux-system/source-controller", "Current"),
        ("Deployment/flux-system/kustomize-controller", "Current"),
        ("ConfigMap/default/from-git", "Current"),
        ("Deployment/default/never-ready", "InProgress"),
        ("Kustomization/flux-system/child", "Ready"),
        ("ConfigMap/default/child-settings", "Current"),
    ] {
        assert_eq!(health_of(&tree, name), Some(health), "{name} in {tree:#?}");
    }
    // --not-ready leads to the stuck Deployment, and only to what is not ready.
    let out = b.flux.gitops(&["tree", "-n", NS, "--not-ready"]).await;
    let text = stdout(&out);
    assert!(text.contains("Deployment/default/never-ready"), "{text}");
    assert!(
        !text.contains("from-git") && !text.contains("child-settings"),
        "{text}"
    );

    // trace: the pushed ConfigMap back to its Kustomization, the GitRepository and the commit.
    let out = b
        .flux
        .gitops_ok(&["trace", "configmap/from-git", "-n", "default"])
        .await;
    let text = stdout(&out);
    for expected in [
        "ConfigMap/default/from-git",
        "Kustomization/flux-system/flux-system",
        "GitRepository/flux-system/flux-system",
        &format!("main@sha1:{pushed}"),
    ] {
        assert!(text.contains(expected), "trace lacks {expected}:\n{text}");
    }

    // events: what kustomize-controller and source-controller said about this sync.
    let out = b
        .flux
        .gitops_ok(&["events", "ks/flux-system", "-n", NS])
        .await;
    let text = stdout(&out);
    assert!(text.contains("Kustomization/flux-system"), "{text}");
    assert!(text.contains("GitRepository/flux-system"), "{text}");
    assert!(
        text.contains(&pushed[..7]) || text.contains("Add a ConfigMap"),
        "no event about the pushed commit:\n{text}"
    );

    // A child removed from Git disappears from the tree once the root has reconciled.
    push(
        &b.url,
        &b.git_env(),
        "Remove the child Kustomization",
        &[("clusters/dev/child.yaml", None)],
    );
    b.flux.gitops_ok(&RECONCILE_ROOT).await;
    eventually(
        &b.flux,
        "the child Kustomization is pruned",
        Duration::from_secs(90),
        || b.flux.get("kustomization", NS, "child").is_none(),
    )
    .await;
    let tree = tree_json(&b, &["-n", NS]).await;
    assert_eq!(
        health_of(&tree, "Kustomization/flux-system/child"),
        None,
        "{tree:#?}"
    );
    assert_eq!(
        health_of(&tree, "ConfigMap/default/from-git"),
        Some("Current")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_helm_release_is_walked_through_its_inventory() {
    let repository = HelmRepository::start("demo", "0.1.0");
    let b = bootstrapped().await;
    let release = format!(
        "apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: charts
  namespace: flux-system
spec:
  interval: 10m
  url: {}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: demo
  namespace: flux-system
spec:
  interval: 10m
  chart:
    spec:
      chart: demo
      version: 0.1.0
      sourceRef:
        kind: HelmRepository
        name: charts
",
        repository.url
    );
    push(
        &b.url,
        &b.git_env(),
        "Add a HelmRelease",
        &[("clusters/dev/helm.yaml", Some(&release))],
    );
    b.flux.gitops_ok(&RECONCILE_ROOT).await;
    // This test is about the inventory, not the moment right after the release is applied
    // (integration reconcile::with_source_before_the_helm_chart_exists_... covers that): wait
    // until helm-controller has made the release's HelmChart and source-controller fetched it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !b
        .flux
        .get("helmchart", NS, "flux-system-demo")
        .is_some_and(|chart| {
            chart["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
        })
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the HelmChart flux-system-demo never became Ready:\n{}",
            repository.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let out = b
        .flux
        .gitops(&[
            "reconcile",
            "hr",
            "demo",
            "-n",
            NS,
            "--with-source",
            "--timeout",
            TIMEOUT,
        ])
        .await;
    assert!(
        out.status.success(),
        "{}\n{}\nrepository log:\n{}",
        stdout(&out),
        crate::support::stderr(&out),
        repository.log()
    );
    let release = b
        .flux
        .get("helmrelease", NS, "demo")
        .expect("the HelmRelease");
    assert!(
        release["status"]["inventory"]["entries"].is_array(),
        "helm-controller keeps an inventory: {}",
        release["status"]
    );
    let tree = tree_json(&b, &["hr/demo", "-n", NS]).await;
    assert_eq!(
        health_of(&tree, "HelmRelease/flux-system/demo"),
        Some("Ready"),
        "{tree:#?}"
    );
    assert_eq!(
        health_of(&tree, "ConfigMap/flux-system/demo-settings"),
        Some("Current"),
        "{tree:#?}"
    );
    // From the root, the release is a child of flux-system and its ConfigMap under it.
    let tree = tree_json(&b, &["-n", NS]).await;
    assert_eq!(
        health_of(&tree, "ConfigMap/flux-system/demo-settings"),
        Some("Current"),
        "{tree:#?}"
    );
}
