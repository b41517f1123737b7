//! `events` against the real API server, with Events created as the Flux controllers' recorders
//! create them (core v1: involvedObject, count, first/lastTimestamp) and one through the
//! `events.k8s.io/v1` API (eventTime, series), at fixed times so that JSON is the same from run
//! to run; tables are compared with their ages normalised.

use crate::flux_objects::*;
use crate::support::golden::{ages, assert_golden, replace_value, transcript};
use crate::support::{apply_object, control_plane, fresh_namespace, plugin_async};

/// A core v1 Event as a controller's recorder writes it.
#[allow(clippy::too_many_arguments)]
fn core_event(
    ns: &str,
    name: &str,
    kind: &str,
    object: &str,
    type_: &str,
    reason: &str,
    message: &str,
    count: i32,
    first: &str,
    last: &str,
) -> serde_json::Value {
    let api_version = match kind {
        "Kustomization" => "kustomize.toolkit.fluxcd.io/v1",
        "Pod" => "v1",
        "HelmRelease" => "helm.toolkit.fluxcd.io/v2",
        _ => "source.toolkit.fluxcd.io/v1",
    };
    serde_json::json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": name, "namespace": ns},
        "involvedObject": {"apiVersion": api_version, "kind": kind, "name": object, "namespace": ns},
        "type": type_, "reason": reason, "message": message, "count": count,
        "firstTimestamp": first, "lastTimestamp": last,
        "source": {"component": "kustomize-controller"}
    })
}

/// A namespace with a Kustomization `apps` reading the GitRepository `source`, a second
/// Kustomization `other`, and Events about them (and about a Pod, which is never shown).
async fn namespace_with_events(prefix: &str) -> String {
    let ns = fresh_namespace(prefix);
    create(&[
        kustomization(&ns, "apps", serde_json::json!({"tier": "web"})),
        kustomization(&ns, "other", serde_json::json!({})),
        git_repository(&ns, "source"),
    ]);
    let events = [
        core_event(
            &ns,
            "apps.1",
            "Kustomization",
            "apps",
            "Normal",
            "ReconciliationSucceeded",
            "Reconciliation finished in 1.2s, next run in 10m0s",
            1,
            "2026-11-01T10:10:00Z",
            "2026-11-01T10:10:00Z",
        ),
        core_event(
            &ns,
            "source.1",
            "GitRepository",
            "source",
            "Normal",
            "NewArtifact",
            "stored artifact for commit 'Add apps'",
            1,
            "2026-11-01T10:00:00Z",
            "2026-11-01T10:00:00Z",
        ),
        // The same failure, told by two Events (two controller replicas): shown once, x5.
        core_event(
            &ns,
            "other.1",
            "Kustomization",
            "other",
            "Warning",
            "BuildFailed",
            "kustomize build failed: accumulating resources",
            3,
            "2026-11-01T08:00:00Z",
            "2026-11-01T10:20:00Z",
        ),
        core_event(
            &ns,
            "other.2",
            "Kustomization",
            "other",
            "Warning",
            "BuildFailed",
            "kustomize build failed: accumulating resources",
            2,
            "2026-11-01T07:00:00Z",
            "2026-11-01T10:30:00Z",
        ),
        core_event(
            &ns,
            "pod.1",
            "Pod",
            "web-7d9-abcde",
            "Normal",
            "Started",
            "Started container web",
            1,
            "2026-11-01T10:40:00Z",
            "2026-11-01T10:40:00Z",
        ),
    ];
    for event in events {
        apply_object(event);
    }
    // Written through the events.k8s.io API, as newer recorders do.
    apply_object(serde_json::json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "source.2", "namespace": ns},
        "regarding": {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "name": "source", "namespace": ns},
        "type": "Warning", "reason": "GitOperationFailed",
        "note": "failed to checkout and determine revision: unable to clone",
        "eventTime": "2026-11-01T09:00:00.000000Z",
        "series": {"count": 4, "lastObservedTime": "2026-11-01T10:25:00.000000Z"},
        "reportingController": "source-controller", "reportingInstance": "source-controller-abc",
        "action": "Reconcile"
    }));
    // A HelmRelease, and Events about its chart's repository and its HelmChart.
    create(&[helm_release(&ns, "podinfo")]);
    for (name, kind, object, reason, message, at) in [
        (
            "podinfo.1",
            "HelmRelease",
            "podinfo".to_string(),
            "InstallSucceeded",
            "Helm install succeeded for release podinfo/podinfo.v1 with chart podinfo@6.7.0",
            "2026-11-01T11:20:00Z",
        ),
        (
            "chart.1",
            "HelmChart",
            format!("{ns}-podinfo"),
            "ChartPullSucceeded",
            "pulled 'podinfo' chart with version '6.7.0'",
            "2026-11-01T11:10:00Z",
        ),
        (
            "repository.1",
            "HelmRepository",
            "podinfo".to_string(),
            "NewArtifact",
            "stored fetched index of size 1.2kB",
            "2026-11-01T11:00:00Z",
        ),
    ] {
        apply_object(core_event(
            &ns, name, kind, &object, "Normal", reason, message, 1, at, at,
        ));
    }
    ns
}

async fn run(ns: &str, args: &[&str]) -> String {
    let args = [&["events", "-n", ns][..], args].concat();
    let out = plugin_async(control_plane(), &args).await;
    replace_value(&transcript(&out), ns, "<namespace>")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_output_matches_the_golden_files() {
    let ns = namespace_with_events("events").await;
    assert_golden("events/list", &ages(&run(&ns, &[]).await));
    assert_golden(
        "events/named-with-source",
        &ages(&run(&ns, &["ks/apps"]).await),
    );
    assert_golden(
        "events/types-warning",
        &ages(&run(&ns, &["--types", "warning"]).await),
    );
    assert_golden(
        "events/label-selector",
        &ages(&run(&ns, &["-l", "tier=web"]).await),
    );
    assert_golden(
        "events/helm-release-with-chart",
        &ages(&run(&ns, &["hr", "podinfo"]).await),
    );
    assert_golden("events/json", &run(&ns, &["-o", "json"]).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_without_flux_events_says_so() {
    let ns = fresh_namespace("events-none");
    assert_golden("events/none", &run(&ns, &[]).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_types_are_usage_errors() {
    let out = plugin_async(control_plane(), &["events", "--types", "Error"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", transcript(&out));
}

/// `-w` lists, then shows each new Event once as it arrives (not the ones already listed,
/// not Events about other kinds), in the listing's columns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_shows_new_events_once() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let ns = fresh_namespace("events-watch");
    create(&[kustomization(&ns, "apps", serde_json::json!({}))]);
    let at = "2026-11-01T10:00:00Z";
    apply_object(core_event(
        &ns,
        "apps.1",
        "Kustomization",
        "apps",
        "Normal",
        "ReconciliationSucceeded",
        "Reconciliation finished",
        1,
        at,
        at,
    ));
    let mut child = crate::support::plugin_command(control_plane(), &["events", "-w", "-n", &ns])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start events -w");
    let stdout_pipe = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout_pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let mut wait_for = |needle: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
                let found = line.contains(needle);
                seen.push(line);
                if found {
                    return seen.clone();
                }
            }
        }
        panic!("{needle:?} did not appear; saw {seen:?}");
    };
    wait_for("ReconciliationSucceeded");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    apply_object(core_event(
        &ns, "pod.1", "Pod", "web", "Normal", "Started", "Started", 1, &now, &now,
    ));
    apply_object(core_event(
        &ns,
        "apps.2",
        "Kustomization",
        "apps",
        "Warning",
        "HealthCheckFailed",
        "deployment web not ready",
        1,
        &now,
        &now,
    ));
    let lines = wait_for("HealthCheckFailed");
    let _ = child.kill();
    let _ = child.wait();
    let header = &lines[0];
    let last = lines.last().expect("a line");
    assert!(header.starts_with("LAST SEEN"), "{lines:?}");
    assert_eq!(
        last.find("HealthCheckFailed"),
        header.find("REASON"),
        "the new row lines up with the listing: {lines:?}"
    );
    assert!(last.contains("Kustomization/apps"), "{lines:?}");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("ReconciliationSucceeded"))
            .count(),
        1,
        "{lines:?}"
    );
    assert!(!lines.iter().any(|l| l.contains("Started")), "{lines:?}");
}

/// Text from the cluster never reaches the terminal with control characters in it; JSON keeps
/// it exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_in_messages_are_made_visible() {
    let ns = fresh_namespace("events-escape");
    create(&[kustomization(&ns, "apps", serde_json::json!({}))]);
    let message = "retitled \u{1b}]0;owned\u{7} cleared \u{1b}[2J end";
    let at = "2026-11-01T10:00:00Z";
    apply_object(core_event(
        &ns,
        "apps.1",
        "Kustomization",
        "apps",
        "Warning",
        "BuildFailed",
        message,
        1,
        at,
        at,
    ));
    let out = plugin_async(control_plane(), &["events", "-n", &ns]).await;
    let text = crate::support::stdout(&out);
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text:?}"
    );
    assert!(
        text.contains("retitled \\u{1b}]0;owned\\u{7} cleared \\u{1b}[2J end"),
        "{text}"
    );
    let out = plugin_async(control_plane(), &["events", "-n", &ns, "-o", "json"]).await;
    let list: serde_json::Value =
        serde_json::from_str(&crate::support::stdout(&out)).expect("JSON");
    assert_eq!(list["items"][0]["message"], message);
}
