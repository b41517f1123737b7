//! Scenarios 2, 3 and 4: after bootstrap, commits pushed to the repository are reconciled on
//! request by the real controllers; a broken commit fails fast with kustomize-controller's
//! message; a suspended Kustomization applies nothing until resumed.

use std::time::{Duration, Instant};

use crate::bootstrap::{bootstrapped, item, status_of};
use crate::support::{stderr, stdout};
use crate::{NS, RECONCILE_ROOT, TIMEOUT, eventually, push, ready};

const APP: &str = "clusters/dev/app.yaml";

fn config_map(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\ndata:\n  greeting: hello from git\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_configmap_is_applied_by_reconcile_with_source() {
    let b = bootstrapped().await;
    let pushed = push(
        &b.url,
        &b.git_env(),
        "Add a ConfigMap",
        &[(APP, Some(&config_map("from-git")))],
    );
    let revision = format!("main@sha1:{pushed}");

    let started = Instant::now();
    let out = b.flux.gitops_ok(&RECONCILE_ROOT).await;
    eprintln!("reconcile --with-source took {:?}", started.elapsed());
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "✔ Kustomization/flux-system in namespace flux-system: applied revision {revision}"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("fetched revision {revision}")),
        "{text}"
    );
    // Reconcile returned once applied: the ConfigMap is there now, applied by Flux.
    let applied = b
        .flux
        .get("configmap", "default", "from-git")
        .expect("the ConfigMap from Git");
    assert_eq!(applied["data"]["greeting"], "hello from git");
    assert_eq!(
        applied["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"],
        NS
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_manifest_fails_fast_with_the_controllers_message_and_a_fix_recovers() {
    let b = bootstrapped().await;
    // A ConfigMap whose data is a list: kustomize builds it, the API server refuses it.
    let broken = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\n  namespace: default\ndata:\n- not\n- a map\n";
    let pushed = push(
        &b.url,
        &b.git_env(),
        "Add a broken manifest",
        &[(APP, Some(broken))],
    );

    let started = Instant::now();
    let out = b.flux.gitops(&RECONCILE_ROOT).await;
    let took = started.elapsed();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{}\n{err}", stdout(&out));
    assert!(
        took < Duration::from_secs(30),
        "waited {took:?} instead of failing fast"
    );
    // The message is kustomize-controller's, as the Kustomization's Ready condition says.
    let ks = b.flux.get("kustomization", NS, NS).expect("Kustomization");
    let (status, reason, message) = ready(&ks);
    assert_eq!(status, "False", "{}", ks["status"]);
    let first_line = message.lines().next().unwrap_or_default();
    assert!(!first_line.is_empty(), "{}", ks["status"]);
    assert!(
        err.contains(&reason) && err.contains(first_line),
        "reconcile did not report {reason}: {first_line}\n{err}"
    );
    assert!(
        err.contains("broken") && !err.contains("timed out"),
        "{err}"
    );
    eprintln!("failed in {took:?}: {}", err.trim_end());
    assert_eq!(
        ks["status"]["lastAttemptedRevision"],
        format!("main@sha1:{pushed}")
    );

    let items = status_of(&b.flux).await;
    let failed = item(&items, "Kustomization");
    assert_eq!(failed["status"]["state"], "Failed", "{failed}");
    assert_eq!(failed["status"]["message"], message.as_str());
    let table = stdout(&b.flux.gitops_ok(&["status", "-n", NS]).await);
    let line = table
        .lines()
        .find(|l| l.starts_with("Kustomization/flux-system"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        line.contains("False") && line.contains("Failed") && line.contains("broken"),
        "{line}"
    );

    let fixed = push(
        &b.url,
        &b.git_env(),
        "Fix the manifest",
        &[(APP, Some(&config_map("fixed")))],
    );
    let out = b.flux.gitops_ok(&RECONCILE_ROOT).await;
    assert!(
        stdout(&out).contains(&format!("applied revision main@sha1:{fixed}")),
        "{}",
        stdout(&out)
    );
    assert!(b.flux.get("configmap", "default", "fixed").is_some());
    let items = status_of(&b.flux).await;
    assert_eq!(item(&items, "Kustomization")["status"]["state"], "Ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_kustomization_applies_nothing_until_resume_which_waits_for_it() {
    let b = bootstrapped().await;
    let before = b.flux.get("kustomization", NS, NS).expect("Kustomization")["status"]
        ["lastAppliedRevision"]
        .clone();
    b.flux.gitops_ok(&["suspend", "ks", NS, "-n", NS]).await;
    let ks = b.flux.get("kustomization", NS, NS).expect("Kustomization");
    assert_eq!(ks["spec"]["suspend"], true);

    let pushed = push(
        &b.url,
        &b.git_env(),
        "Add a ConfigMap",
        &[(APP, Some(&config_map("after-resume")))],
    );
    let revision = format!("main@sha1:{pushed}");
    // The source follows the new commit; kustomize-controller watches it and would apply at
    // once, but the Kustomization is suspended.
    let out = b
        .flux
        .gitops_ok(&[
            "reconcile",
            "gitrepository",
            NS,
            "-n",
            NS,
            "--timeout",
            TIMEOUT,
        ])
        .await;
    assert!(stdout(&out).contains(&revision), "{}", stdout(&out));
    let out = b.flux.gitops(&["reconcile", "ks", NS, "-n", NS]).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "reconcile of a suspended object"
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    let ks = b.flux.get("kustomization", NS, NS).expect("Kustomization");
    assert_eq!(
        ks["status"]["lastAppliedRevision"], before,
        "applied while suspended"
    );
    assert!(b.flux.get("configmap", "default", "after-resume").is_none());
    let items = status_of(&b.flux).await;
    assert_eq!(item(&items, "Kustomization")["status"]["suspended"], true);

    let started = Instant::now();
    let out = b
        .flux
        .gitops_ok(&["resume", "ks", NS, "-n", NS, "--timeout", TIMEOUT])
        .await;
    eprintln!("resume took {:?}", started.elapsed());
    assert!(
        stdout(&out).contains(&format!("applied revision {revision}")),
        "{}",
        stdout(&out)
    );
    // resume returned once applied: the ConfigMap is there now.
    assert!(b.flux.get("configmap", "default", "after-resume").is_some());
    eventually(
        &b.flux,
        "status shows it resumed",
        Duration::from_secs(5),
        || {
            b.flux
                .get("kustomization", NS, NS)
                .is_some_and(|ks| ks["spec"]["suspend"] != true)
        },
    )
    .await;
}
