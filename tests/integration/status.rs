//! `status` against the real API server, with statuses written as the controllers would.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::flux_objects::*;
use crate::support::fake_flux_controller::Behaviour;
use crate::support::golden::{ages, assert_golden, transcript};
use crate::support::{
    assert_clean_failure, control_plane, fresh_namespace, plugin_async, plugin_exe, stderr, stdout,
};

/// A namespace with one object in each state: ready, failed, stalled, suspended, reconciling.
async fn mixed_namespace(prefix: &str) -> String {
    let ns = fresh_namespace(prefix);
    fill_with_mixed_objects(&ns).await;
    ns
}

/// Creates in `ns` one object in each state: ready, failed, stalled, suspended, reconciling.
async fn fill_with_mixed_objects(ns: &str) {
    let ns = ns.to_string();
    create(&[
        kustomization(&ns, "ready", serde_json::json!({"tier": "web"})),
        kustomization(&ns, "broken", serde_json::json!({"tier": "web"})),
        kustomization(&ns, "stuck", serde_json::json!({})),
        kustomization(&ns, "paused", serde_json::json!({})),
        kustomization(&ns, "fresh", serde_json::json!({})),
        git_repository(&ns, "source"),
    ]);
    set_status("ks", &ns, "ready", succeed()).await;
    set_status(
        "ks",
        &ns,
        "broken",
        fail(
            "BuildFailed",
            "kustomize build failed: accumulating resources",
        ),
    )
    .await;
    set_status(
        "ks",
        &ns,
        "stuck",
        Behaviour::Stall {
            reason: "InvalidPath".into(),
            message: "path ./apps not found".into(),
        },
    )
    .await;
    set_status("ks", &ns, "paused", succeed()).await;
    control_plane().kubectl_ok(&[
        "patch",
        "kustomization",
        "paused",
        "-n",
        &ns,
        "--type=merge",
        "-p",
        r#"{"spec":{"suspend":true}}"#,
    ]);
    set_status("gitrepo", &ns, "source", succeed()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_shows_every_object_failing_first() {
    let ns = mixed_namespace("st-table").await;
    let out = plugin_async(control_plane(), &["status", "-n", &ns]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    let header = format!(
        "Flux {} in flux-system, no controller Deployments found",
        control_plane().assets.flux_version
    );
    assert_eq!(lines[0], header);
    assert!(
        lines[1].starts_with("NAME")
            && lines[1].contains("READY")
            && lines[1].contains("STATUS")
            && lines[1].contains("REVISION")
            && lines[1].contains("AGE")
            && lines[1].contains("LAST RECONCILED")
            && lines[1].contains("MESSAGE"),
        "{}",
        lines[1]
    );
    let order: Vec<&str> = lines[2..]
        .iter()
        .map(|l| l.split_whitespace().next().unwrap_or_default())
        .collect();
    assert_eq!(
        order,
        [
            "Kustomization/stuck",
            "Kustomization/broken",
            "Kustomization/fresh",
            "Kustomization/paused",
            "GitRepository/source",
            "Kustomization/ready"
        ]
    );
    let broken = lines
        .iter()
        .find(|l| l.starts_with("Kustomization/broken"))
        .unwrap();
    assert!(
        broken.contains("False")
            && broken.contains("Failed")
            && broken.contains("kustomize build failed"),
        "{broken}"
    );
    let ready = lines
        .iter()
        .find(|l| l.starts_with("Kustomization/ready"))
        .unwrap();
    let columns: Vec<&str> = ready
        .split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        columns[3], "main@sha1:0123456789ab",
        "short revision in the REVISION column: {ready}"
    );
    assert!(
        !text.lines().any(|l| l.ends_with(' ')),
        "no trailing spaces"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_is_a_list_with_the_computed_fields() {
    let ns = mixed_namespace("st-json").await;
    let out = plugin_async(control_plane(), &["status", "-n", &ns, "-o", "json"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let list: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(list["apiVersion"], "v1");
    assert_eq!(list["kind"], "List");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 6);
    let item = |name: &str| {
        items
            .iter()
            .find(|i| i["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{name}"))
    };

    let ready = item("ready");
    assert_eq!(ready["apiVersion"], "kustomize.toolkit.fluxcd.io/v1");
    assert_eq!(ready["kind"], "Kustomization");
    assert_eq!(ready["metadata"]["namespace"], ns.as_str());
    assert!(
        ready["metadata"]["creationTimestamp"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .is_ok()
    );
    assert_eq!(ready["status"]["state"], "Ready");
    assert_eq!(ready["status"]["ready"], "True");
    assert_eq!(ready["status"]["reason"], "ReconciliationSucceeded");
    assert_eq!(
        ready["status"]["revision"], REVISION,
        "full revision in JSON"
    );
    assert_eq!(ready["status"]["source"], "GitRepository/source");
    assert_eq!(ready["status"]["suspended"], false);
    assert!(
        ready["status"]["lastReconciled"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .is_ok()
    );

    assert_eq!(item("broken")["status"]["state"], "Failed");
    assert_eq!(
        item("broken")["status"]["message"],
        "kustomize build failed: accumulating resources"
    );
    assert_eq!(item("stuck")["status"]["state"], "Stalled");
    assert_eq!(item("paused")["status"]["state"], "Suspended");
    assert_eq!(item("paused")["status"]["suspended"], true);
    assert_eq!(item("fresh")["status"]["state"], "Reconciling");
    assert_eq!(item("fresh")["status"]["ready"], "Unknown");
    assert_eq!(item("source")["status"]["revision"], REVISION);

    let yaml = plugin_async(control_plane(), &["status", "-n", &ns, "-o", "yaml"]).await;
    let from_yaml: serde_json::Value = serde_saphyr::from_str(&stdout(&yaml)).expect("YAML");
    assert_eq!(from_yaml["items"].as_array().unwrap().len(), 6);
    assert_eq!(from_yaml["items"][0]["status"], list["items"][0]["status"]);

    let names = plugin_async(
        control_plane(),
        &["status", "-n", &ns, "-o", "name", "--kind", "gitrepo"],
    )
    .await;
    assert_eq!(
        stdout(&names),
        "gitrepository.source.toolkit.fluxcd.io/source\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_select_by_kind_name_label_and_state() {
    let ns = mixed_namespace("st-filter").await;
    let names = |out: &std::process::Output| -> Vec<String> {
        let list: serde_json::Value =
            serde_json::from_str(&stdout(out)).unwrap_or_else(|_| panic!("{}", stderr(out)));
        let mut names: Vec<String> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        names(
            &plugin_async(
                control_plane(),
                &["status", "gitrepo", "-n", &ns, "-o", "json"]
            )
            .await
        ),
        ["source"]
    );
    assert_eq!(
        names(
            &plugin_async(
                control_plane(),
                &["status", "ks/ready", "-n", &ns, "-o", "json"]
            )
            .await
        ),
        ["ready"]
    );
    assert_eq!(
        names(
            &plugin_async(
                control_plane(),
                &["status", "ks", "ready", "broken", "-n", &ns, "-o", "json"]
            )
            .await
        ),
        ["broken", "ready"]
    );
    assert_eq!(
        names(
            &plugin_async(
                control_plane(),
                &["status", "-l", "tier=web", "-n", &ns, "-o", "json"]
            )
            .await
        ),
        ["broken", "ready"]
    );
    assert_eq!(
        names(
            &plugin_async(
                control_plane(),
                &["status", "--status", "failed", "-n", &ns, "-o", "json"]
            )
            .await
        ),
        ["broken"]
    );
    assert_eq!(
        names(
            &plugin_async(
                control_plane(),
                &[
                    "status",
                    "--status",
                    "suspended,stalled",
                    "-n",
                    &ns,
                    "-o",
                    "json"
                ]
            )
            .await
        ),
        ["paused", "stuck"]
    );
    assert_eq!(
        names(
            &plugin_async(
                control_plane(),
                &[
                    "status",
                    "--status",
                    "not-ready",
                    "--kind",
                    "ks",
                    "-n",
                    &ns,
                    "-o",
                    "json"
                ]
            )
            .await
        ),
        ["broken", "fresh", "paused", "stuck"]
    );
    let err = assert_clean_failure(
        &plugin_async(control_plane(), &["status", "ks/nope", "-n", &ns]).await,
    );
    assert!(err.contains("Kustomization \"nope\" not found"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wide_and_all_namespaces_add_columns() {
    let ns = mixed_namespace("st-wide").await;
    let out = plugin_async(control_plane(), &["status", "-n", &ns, "-o", "wide"]).await;
    let text = stdout(&out);
    assert!(text.lines().nth(1).unwrap().contains("SOURCE"), "{text}");
    assert!(text.contains(REVISION), "full revision in wide: {text}");
    assert!(text.contains("GitRepository/source"), "{text}");

    let out = plugin_async(control_plane(), &["status", "-A", "-l", "tier=web"]).await;
    let text = stdout(&out);
    assert!(
        text.lines().nth(1).unwrap().starts_with("NAMESPACE"),
        "{text}"
    );
    assert!(
        text.contains(&format!("{ns}   Kustomization/broken")) || text.contains(&ns),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_if_not_ready_sets_exit_status_3() {
    let ns = mixed_namespace("st-exit").await;
    let out = plugin_async(
        control_plane(),
        &["status", "-n", &ns, "--fail-if-not-ready"],
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("4 of 6 selected Flux objects are not Ready"),
        "{}",
        stderr(&out)
    );
    let out = plugin_async(
        control_plane(),
        &["status", "ks", "ready", "-n", &ns, "--fail-if-not-ready"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// A Kustomization waiting for a failing one is Blocked, not Failed, names what it waits for and
/// that one's state, and sorts after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kustomization_waiting_for_a_failing_one_is_blocked() {
    let ns = fresh_namespace("st-blocked");
    let mut app = kustomization(&ns, "app", serde_json::json!({}));
    app["spec"]["dependsOn"] = serde_json::json!([{"name": "infra"}]);
    create(&[app, kustomization(&ns, "infra", serde_json::json!({}))]);
    set_status(
        "ks",
        &ns,
        "infra",
        fail(
            "BuildFailed",
            "kustomize build failed: missing ingress.yaml",
        ),
    )
    .await;
    set_status(
        "ks",
        &ns,
        "app",
        fail(
            "DependencyNotReady",
            &format!("dependency '{ns}/infra' is not ready"),
        ),
    )
    .await;
    let out = plugin_async(control_plane(), &["status", "ks", "-n", &ns, "-o", "wide"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Vec<Vec<String>> = stdout(&out)
        .lines()
        .skip(2)
        .map(|line| {
            line.split("   ")
                .map(str::trim)
                .filter(|cell| !cell.is_empty())
                .map(str::to_string)
                .collect()
        })
        .collect();
    let name_state_message: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|row| {
            (
                row[0].as_str(),
                row[2].as_str(),
                row[row.len() - 1].as_str(),
            )
        })
        .collect();
    assert_eq!(
        name_state_message,
        [
            (
                "Kustomization/infra",
                "Failed",
                "kustomize build failed: missing ingress.yaml"
            ),
            (
                "Kustomization/app",
                "Blocked",
                format!(
                    "waiting for Kustomization {ns}/infra, which is Failed: kustomize build failed: missing ingress.yaml"
                )
                .as_str()
            ),
        ]
    );
    let json = plugin_async(
        control_plane(),
        &["status", "ks/app", "-n", &ns, "-o", "json"],
    )
    .await;
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let status = &json["items"][0]["status"];
    assert_eq!(status["state"], "Blocked");
    assert_eq!(
        status["dependsOn"],
        serde_json::json!([format!("{ns}/infra")])
    );
    assert_eq!(
        status["blockedBy"],
        serde_json::json!({"name": format!("{ns}/infra")})
    );
}

/// `status | head -1` once head has gone: kubectl and ripgrep stop quietly, and so does this
/// plugin (no "error: cannot write to stdout", exit status 0). The pipe's reading end is closed
/// before the plugin starts, so its first write meets a closed pipe whatever the timing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_stops_status_quietly() {
    let ns = mixed_namespace("st-pipe").await;
    for args in [
        vec!["status", "-n", ns.as_str()],
        vec!["status", "-n", ns.as_str(), "-o", "json"],
    ] {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        let mut command = crate::support::plugin_command(control_plane(), &args);
        command.stdout(Stdio::from(writer)).stderr(Stdio::piped());
        let out = crate::support::run_async(command).await;
        assert_eq!(
            (out.status.code(), stderr(&out).as_str()),
            (Some(0), ""),
            "{args:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kind_the_user_may_not_list_is_a_warning() {
    let ns = mixed_namespace("st-rbac").await;
    let kubeconfig = kustomization_reader(&ns, "ks-reader");
    let out = plugin_async(&kubeconfig, &["status"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "warning: user \"ks-reader\" cannot list gitrepositories.source.toolkit.fluxcd.io"
        ),
        "{err}"
    );
    assert!(
        stdout(&out).contains("Kustomization/ready"),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains("GitRepository/"), "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_shows_a_change_made_after_it_started() {
    let ns = fresh_namespace("st-watch");
    create(&[kustomization(&ns, "apps", serde_json::json!({}))]);
    set_status("ks", &ns, "apps", succeed()).await;
    let mut child = Command::new(plugin_exe("kubectl-gitops"))
        .args(["status", "-w", "-n", &ns, "--kubeconfig"])
        .arg(&control_plane().kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start status -w");
    let stdout_pipe = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout_pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait_for = |needle: &str, limit: Duration| -> Vec<String> {
        let deadline = Instant::now() + limit;
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
                let found = line.contains(needle);
                seen.push(line);
                if found {
                    return seen;
                }
            }
        }
        panic!("{needle:?} did not appear; saw {seen:?}");
    };
    wait_for("Kustomization/apps", Duration::from_secs(20));
    // Give the watch time to start, then fail the object.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    set_status(
        "ks",
        &ns,
        "apps",
        fail("HealthCheckFailed", "deployment web not ready"),
    )
    .await;
    let lines = wait_for("deployment web not ready", Duration::from_secs(20));
    let last = lines.last().unwrap();
    assert!(
        last.contains("Failed") && last.contains("deployment web not ready"),
        "{last}"
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// The whole table, `-o wide` and `-A`, against golden files (tests/testdata/status/). Fixed
/// namespace names keep the output the same from run to run; only ages vary (`<age>`). The
/// `golden` label keeps other tests' objects out of `-A`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_wide_and_all_namespaces_match_the_golden_files() {
    let plane = control_plane();
    for ns in ["golden-apps", "golden-infra"] {
        plane.kubectl_ok(&["create", "namespace", ns]);
    }
    fill_with_mixed_objects("golden-apps").await;
    create(&[kustomization(
        "golden-infra",
        "ready",
        serde_json::json!({}),
    )]);
    set_status("ks", "golden-infra", "ready", succeed()).await;
    for ns in ["golden-apps", "golden-infra"] {
        plane.kubectl_ok(&[
            "label",
            "kustomizations,gitrepositories",
            "--all",
            "-n",
            ns,
            "golden=status",
        ]);
    }
    for (case, args) in [
        ("table", &["status", "-n", "golden-apps"][..]),
        ("wide", &["status", "-n", "golden-apps", "-o", "wide"][..]),
        (
            "all-namespaces",
            &["status", "-A", "-l", "golden=status"][..],
        ),
        (
            "all-namespaces-wide",
            &["status", "-A", "-l", "golden=status", "-o", "wide"][..],
        ),
    ] {
        let out = plugin_async(plane, args).await;
        assert_golden(&format!("status/{case}"), &ages(&transcript(&out)));
    }
}
