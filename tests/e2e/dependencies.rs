//! dependsOn on the real kustomize-controller: a Kustomization that waits for a broken one is
//! Blocked in `status` (not Failed), and `reconcile --with-dependencies` on it fails at once with
//! the broken one's message instead of waiting for its own timeout.

use std::time::{Duration, Instant};

use crate::bootstrap::bootstrapped;
use crate::support::{stderr, stdout};
use crate::{NS, RECONCILE_ROOT, TIMEOUT, eventually, push, ready};

/// Two Kustomizations of the flux-system GitRepository: `infra` (a manifest the API server
/// refuses) and `app`, which depends on it.
const CHAIN: &str = "apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: infra
  namespace: flux-system
spec:
  interval: 10m
  path: ./infra
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: app
  namespace: flux-system
spec:
  dependsOn:
    - name: infra
  interval: 10m
  path: ./app
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
";

const BROKEN: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\n  namespace: default\ndata:\n- not\n- a map\n";
const APP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: default\ndata:\n  ready: \"yes\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kustomization_waiting_for_a_broken_one_is_blocked_and_reconciling_its_chain_fails_fast()
{
    let b = bootstrapped().await;
    push(
        &b.url,
        &b.git_env(),
        "Add infra and app, app depending on infra",
        &[
            ("clusters/dev/chain.yaml", Some(CHAIN)),
            ("infra/broken.yaml", Some(BROKEN)),
            ("app/app.yaml", Some(APP)),
        ],
    );
    b.flux.gitops_ok(&RECONCILE_ROOT).await;

    eventually(
        &b.flux,
        "app is waiting for infra",
        Duration::from_secs(60),
        || {
            b.flux
                .get("kustomization", NS, "app")
                .is_some_and(|ks| ready(&ks).1 == "DependencyNotReady")
        },
    )
    .await;
    eventually(&b.flux, "infra has failed", Duration::from_secs(60), || {
        b.flux
            .get("kustomization", NS, "infra")
            .is_some_and(|ks| ready(&ks).0 == "False")
    })
    .await;
    let infra = b.flux.get("kustomization", NS, "infra").expect("infra");
    let (_, infra_reason, infra_message) = ready(&infra);

    let out = b
        .flux
        .gitops_ok(&["status", "ks/app", "-n", NS, "-o", "json"])
        .await;
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let status = &listed["items"][0]["status"];
    assert_eq!(status["state"], "Blocked", "{status}");
    assert_eq!(
        status["dependsOn"],
        serde_json::json!(["flux-system/infra"])
    );
    let out = b
        .flux
        .gitops_ok(&["status", "ks", "-n", NS, "-o", "wide"])
        .await;
    let table = stdout(&out);
    let app_row = table
        .lines()
        .find(|line| line.starts_with("Kustomization/app "))
        .unwrap_or_else(|| panic!("no app row:\n{table}"));
    assert!(
        app_row.contains("Blocked")
            && app_row.contains("waiting for Kustomization flux-system/infra, which is Failed"),
        "{table}"
    );

    let started = Instant::now();
    let out = b
        .flux
        .gitops(&[
            "reconcile",
            "ks",
            "app",
            "--with-dependencies",
            "-n",
            NS,
            "--timeout",
            TIMEOUT,
        ])
        .await;
    let took = started.elapsed();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{}\n{err}", stdout(&out));
    assert!(took < Duration::from_secs(60), "waited {took:?}: {err}");
    let first_line = infra_message.lines().next().unwrap_or_default();
    assert!(
        err.contains(&format!(
            "✗ Kustomization/app in namespace flux-system: Dependency DependencyFailed: its dependency Kustomization/infra in namespace flux-system did not reconcile: {infra_reason}: {first_line}"
        )),
        "{err}"
    );
}
