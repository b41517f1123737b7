//! `diff ks --ref` on the real controllers: what merging a branch will do, before it is merged,
//! fetched from the loopback HTTPS Git server with the user's credentials (GIT_PASSWORD), and
//! nothing left to do once the branch is merged and reconciled.

use serde_json::Value;

use crate::bootstrap::{Bootstrapped, bootstrapped};
use crate::support::processes::temp_dir;
use crate::support::{stderr, stdout};
use crate::{APPS_KUSTOMIZATION as APPS, NS, RECONCILE_ROOT, TIMEOUT, apps_ready_at, git, push};

const SETTINGS_V1: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: default\ndata:\n  level: info\n";
const SETTINGS_V2: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: default\ndata:\n  level: debug\n";
const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: default\nspec:\n  clusterIP: None\n  ports:\n  - port: 80\n";
const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: worker
  namespace: default
spec:
  replicas: 0
  selector:
    matchLabels:
      app: worker
  template:
    metadata:
      labels:
        app: worker
    spec:
      containers:
        - name: worker
          image: registry.invalid/worker:1
";

/// `kubectl gitops diff ks apps --ref <reference> -o json` as the Git server's user.
async fn diff_ref(b: &Bootstrapped, reference: &str) -> std::process::Output {
    b.as_git_user(&["diff", "ks", "apps", "--ref", reference, "-o", "json"])
        .await
}

fn actions(output: &std::process::Output) -> Vec<(String, String)> {
    let report: Value = serde_json::from_str(&stdout(output))
        .unwrap_or_else(|err| panic!("diff -o json: {err}\n{}", stderr(output)));
    let mut actions: Vec<(String, String)> = report["changes"]
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
        .collect();
    actions.sort();
    actions
}

#[tokio::test]
async fn diff_ref_shows_what_merging_a_branch_will_do() {
    let b = bootstrapped().await;
    let first = push(
        &b.url,
        &b.git_env(),
        "Add the apps Kustomization",
        &[
            ("clusters/dev/apps.yaml", Some(APPS)),
            ("apps/settings.yaml", Some(SETTINGS_V1)),
            ("apps/worker.yaml", Some(DEPLOYMENT)),
        ],
    );
    b.flux.gitops_ok(&RECONCILE_ROOT).await;
    apps_ready_at(&b, &first).await;

    // A branch that changes the ConfigMap, adds a Service and removes the Deployment.
    let dir = temp_dir("git-branch-");
    let env = b.git_env();
    git(&dir, &["clone", "--quiet", &b.url, "work"], &env);
    let work = dir.join("work");
    git(&work, &["checkout", "-q", "-b", "change"], &env);
    std::fs::write(work.join("apps/settings.yaml"), SETTINGS_V2).expect("write");
    std::fs::write(work.join("apps/service.yaml"), SERVICE).expect("write");
    git(&work, &["rm", "-q", "apps/worker.yaml"], &env);
    git(&work, &["add", "apps"], &env);
    git(&work, &["commit", "-q", "-m", "Change the apps"], &env);
    git(&work, &["push", "--quiet", "origin", "change"], &env);

    let out = diff_ref(&b, "change").await;
    assert_eq!(
        actions(&out),
        vec![
            (
                "ConfigMap/default/settings".to_string(),
                "configured".to_string()
            ),
            (
                "Deployment/default/worker".to_string(),
                "pruned".to_string()
            ),
            ("Service/default/web".to_string(), "created".to_string()),
        ],
        "{}",
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(1), "changes: exit 1");
    let report: Value = serde_json::from_str(&stdout(&out)).expect("json");
    let settings = report["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["object"] == "ConfigMap/default/settings")
        .expect("settings");
    assert_eq!(settings["paths"], serde_json::json!(["data.level"]));
    assert!(
        !stdout(&out).contains(&b.server.password) && !stderr(&out).contains(&b.server.password),
        "the password is never printed"
    );
    assert!(
        b.flux.get("service", "default", "web").is_none(),
        "diff changed nothing"
    );

    // Merged and reconciled: nothing left to do.
    git(&work, &["push", "--quiet", "origin", "change:main"], &env);
    let merged = git(&work, &["rev-parse", "HEAD"], &env);
    b.flux.gitops_ok(&RECONCILE_ROOT).await;
    b.flux
        .gitops_ok(&["reconcile", "ks", "apps", "-n", NS, "--timeout", TIMEOUT])
        .await;
    apps_ready_at(&b, &merged).await;
    let out = diff_ref(&b, "main").await;
    assert_eq!(
        actions(&out),
        Vec::<(String, String)>::new(),
        "{}",
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
