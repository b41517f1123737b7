//! `history` and `rollback` on the real controllers: three pushed commits change an app folder
//! (v1 ConfigMap value a, v2 value b, v3 an invalid manifest that fails); history tells what
//! the cluster did with each; rollback restores the folder through a new commit.

use std::time::Duration;

use serde_json::Value;

use crate::bootstrap::{Bootstrapped, bootstrapped};
use crate::support::{run_async, stderr, stdout};
use crate::{
    APPS_KUSTOMIZATION as APPS, NS, RECONCILE_ROOT, TIMEOUT, apps_ready_at, eventually, git, head,
    push, ready,
};

fn settings(value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: default\ndata:\n  value: {value}\n"
    )
}

/// A manifest kustomize cannot build: a ConfigMap without a name.
const INVALID: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  namespace: default\ndata:\n  value: broken\n";

fn settings_value(b: &Bootstrapped) -> String {
    b.flux
        .get("configmap", "default", "settings")
        .and_then(|cm| cm["data"]["value"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The tree id of `path` at `commit` in the server's bare repository.
fn tree_of(b: &Bootstrapped, commit: &str, path: &str) -> String {
    git(
        &b.bare,
        &[
            "--git-dir",
            &b.bare.display().to_string(),
            "rev-parse",
            &format!("{commit}:{path}"),
        ],
        &[],
    )
}

#[tokio::test]
async fn history_tells_what_the_cluster_did_and_rollback_restores_through_git() {
    let b = bootstrapped().await;
    let env = b.git_env();
    let v1 = push(
        &b.url,
        &env,
        "apps v1",
        &[
            ("clusters/dev/apps.yaml", Some(APPS)),
            ("apps/settings.yaml", Some(&settings("a"))),
        ],
    );
    b.flux.gitops_ok(&RECONCILE_ROOT).await;
    apps_ready_at(&b, &v1).await;
    let v2 = push(
        &b.url,
        &env,
        "apps v2",
        &[("apps/settings.yaml", Some(&settings("b")))],
    );
    b.flux.gitops_ok(&RECONCILE_ROOT).await;
    b.flux
        .gitops_ok(&["reconcile", "ks", "apps", "-n", NS, "--timeout", TIMEOUT])
        .await;
    apps_ready_at(&b, &v2).await;
    let v3 = push(
        &b.url,
        &env,
        "apps v3",
        &[("apps/broken.yaml", Some(INVALID))],
    );
    b.flux.gitops_ok(&RECONCILE_ROOT).await;
    let failed = b
        .flux
        .gitops(&["reconcile", "ks", "apps", "-n", NS, "--timeout", TIMEOUT])
        .await;
    assert_eq!(
        failed.status.code(),
        Some(1),
        "v3 fails: {}",
        stderr(&failed)
    );

    // history: v3 failed with the controller's message, v2 applied and running, v1 applied.
    let out = b.as_git_user(&["history", "ks/apps", "-o", "json"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let history: Value = serde_json::from_str(&stdout(&out)).expect("json");
    let entries = history["entries"].as_array().expect("entries");
    let row = |e: &Value| {
        (
            e["commit"].as_str().unwrap_or_default().to_string(),
            e["state"].as_str().unwrap_or_default().to_string(),
            e["current"].as_bool().unwrap_or_default(),
        )
    };
    assert_eq!(
        entries.iter().map(row).collect::<Vec<_>>(),
        vec![
            (v3.clone(), "failed".to_string(), false),
            (v2.clone(), "applied".to_string(), true),
            (v1.clone(), "applied".to_string(), false),
        ],
        "{}",
        stdout(&out)
    );
    let message = entries[0]["message"].as_str().unwrap_or_default();
    let live_message = ready(&b.flux.get("kustomization", NS, "apps").expect("apps")).2;
    assert_eq!(message, live_message, "kustomize-controller's own message");
    assert!(!message.is_empty());
    let text = b.as_git_user(&["history", "ks", "apps"]).await;
    assert!(
        stdout(&text).contains(&format!("*   {}", &v2[..7])),
        "{}",
        stdout(&text)
    );

    // rollback --to <TAB>: the folder's commits but the running one, newest first.
    let ca_file = b.server.ca_file.display().to_string();
    let kubeconfig = b.flux.plane.kubeconfig.display().to_string();
    let mut complete = std::process::Command::new(crate::support::plugin_exe("kubectl-gitops"));
    complete
        .args([
            "__complete",
            "rollback",
            "ks/apps",
            "-n",
            NS,
            "--kubeconfig",
            &kubeconfig,
        ])
        .args([
            "--git-username",
            &b.server.username,
            "--ca-file",
            &ca_file,
            "--to",
            "",
        ])
        .env("GIT_PASSWORD", &b.server.password);
    let completed = run_async(complete).await;
    assert_eq!(
        stdout(&completed),
        format!(
            "{}\tapps v3 (failed)\n{}\tapps v1 (applied)\n:36\n",
            &v3[..7],
            &v1[..7]
        ),
        "{}",
        stderr(&completed)
    );

    // --dry-run: the commit it would make (v3 -> v2: the broken file removed), nothing pushed.
    let out = b.as_git_user(&["rollback", "ks/apps", "--dry-run"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with(&format!(
            "Would push this commit on main of {} (on top of {}):\n    Roll back apps to {}\n  D apps/broken.yaml\nChanges in the cluster:\n",
            b.url,
            &v3[..7],
            &v2[..7]
        )),
        "{}",
        stdout(&out)
    );
    assert_eq!(head(&b.bare), v3, "dry run pushes nothing");
    // Without a terminal and without --yes: refused, nothing pushed.
    let out = b.as_git_user(&["rollback", "ks/apps"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("pass --yes"), "{}", stderr(&out));
    assert_eq!(head(&b.bare), v3);

    // rollback: one commit whose apps/ is v2's, other paths untouched; Ready at it.
    let out = b
        .as_git_user(&["rollback", "ks/apps", "--yes", "-m", "v3 breaks the build"])
        .await;
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let rolled = head(&b.bare);
    assert_ne!(rolled, v3);
    assert_eq!(
        git(
            &b.bare,
            &[
                "--git-dir",
                &b.bare.display().to_string(),
                "rev-parse",
                &format!("{rolled}^")
            ],
            &[]
        ),
        v3,
        "one commit on top"
    );
    assert_eq!(tree_of(&b, &rolled, "apps"), tree_of(&b, &v2, "apps"));
    assert_eq!(
        tree_of(&b, &rolled, "clusters"),
        tree_of(&b, &v3, "clusters")
    );
    let subject = git(
        &b.bare,
        &[
            "--git-dir",
            &b.bare.display().to_string(),
            "log",
            "-1",
            "--format=%B",
            &rolled,
        ],
        &[],
    );
    assert_eq!(
        subject,
        format!("Roll back apps to {}\n\nv3 breaks the build", &v2[..7])
    );
    apps_ready_at(&b, &rolled).await;
    assert_eq!(settings_value(&b), "b");

    // rollback --to v1: the value goes back to a.
    let out = b
        .as_git_user(&["rollback", "ks/apps", "--to", &v1[..8], "--yes"])
        .await;
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let again = head(&b.bare);
    assert_eq!(tree_of(&b, &again, "apps"), tree_of(&b, &v1, "apps"));
    apps_ready_at(&b, &again).await;
    assert_eq!(settings_value(&b), "a");
}

fn helm_manifest(repository_url: &str, version: &str) -> String {
    format!(
        "apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: charts
  namespace: flux-system
spec:
  interval: 10m
  url: {repository_url}
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
      version: {version}
      sourceRef:
        kind: HelmRepository
        name: charts
"
    )
}

fn chart_of_release(b: &Bootstrapped) -> String {
    b.flux
        .get("configmap", NS, "demo-settings")
        .and_then(|cm| cm["data"]["chart"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Reconciles the root and `apps` after a push, and waits for helm-controller (which acts on
/// a new or changed HelmRelease by itself) to run the chart version.
async fn release_at(b: &Bootstrapped, commit: &str, chart: &str) {
    b.flux.gitops_ok(&RECONCILE_ROOT).await;
    b.flux
        .gitops_ok(&["reconcile", "ks", "apps", "-n", NS, "--timeout", TIMEOUT])
        .await;
    apps_ready_at(b, commit).await;
    eventually(
        &b.flux,
        "the release runs the chart version",
        Duration::from_secs(180),
        || chart_of_release(b) == chart,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_helm_release_is_rolled_back_through_its_manifest_file() {
    let repository = crate::support::helm_repository::HelmRepository::start_versions(
        "demo",
        &["0.1.0", "0.2.0"],
    );
    let b = bootstrapped().await;
    let env = b.git_env();
    let v1 = push(
        &b.url,
        &env,
        "demo 0.1.0",
        &[
            ("clusters/dev/apps.yaml", Some(APPS)),
            ("apps/settings.yaml", Some(&settings("a"))),
            (
                "apps/helm.yaml",
                Some(&helm_manifest(&repository.url, "0.1.0")),
            ),
        ],
    );
    release_at(&b, &v1, "0.1.0").await;
    let v2 = push(
        &b.url,
        &env,
        "demo 0.2.0",
        &[(
            "apps/helm.yaml",
            Some(&helm_manifest(&repository.url, "0.2.0")),
        )],
    );
    release_at(&b, &v2, "0.2.0").await;

    let out = b.as_git_user(&["history", "hr/demo", "-o", "json"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let history: Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(
        history["path"], "apps/helm.yaml",
        "the HelmRelease's own file"
    );
    let commits: Vec<(String, String)> = history["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            (
                e["commit"].as_str().unwrap_or_default().to_string(),
                e["state"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        commits,
        vec![
            (v2.clone(), "applied".to_string()),
            (v1.clone(), "applied".to_string())
        ]
    );
    let charts: Vec<&str> = history["releases"]
        .as_array()
        .expect("releases")
        .iter()
        .filter_map(|r| r["chartVersion"].as_str())
        .collect();
    assert_eq!(charts, vec!["0.2.0", "0.1.0"], "{}", stdout(&out));

    let out = b.as_git_user(&["rollback", "hr/demo", "--yes"]).await;
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let rolled = head(&b.bare);
    assert_eq!(
        tree_of(&b, &rolled, "apps/helm.yaml"),
        tree_of(&b, &v1, "apps/helm.yaml")
    );
    assert_eq!(
        tree_of(&b, &rolled, "apps/settings.yaml"),
        tree_of(&b, &v2, "apps/settings.yaml")
    );
    assert_eq!(
        chart_of_release(&b),
        "0.1.0",
        "helm-controller rolled the release back"
    );
    let release = b.flux.get("helmrelease", NS, "demo").expect("demo");
    assert_eq!(release["status"]["history"][0]["chartVersion"], "0.1.0");
}
