//! `reconcile`, `suspend`, `resume` against the real API server, with `fake_flux_controller`
//! standing in for the Flux controllers.

use std::time::{Duration, Instant};

use crate::flux_objects::*;
use crate::support::fake_flux_controller::{Behaviour, fake_flux_controller};
use crate::support::golden::{assert_golden, elapsed_seconds, transcript};
use crate::support::{
    admin_client, assert_clean_failure, assert_usage_failure, control_plane, fresh_namespace,
    plugin_async, stderr, stdout,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_waits_for_the_controller_and_prints_the_revision() {
    let ns = fresh_namespace("rec-ok");
    create(&[kustomization(&ns, "apps", serde_json::json!({}))]);
    let _controller = fake_flux_controller(
        admin_client().await,
        kind("ks"),
        &ns,
        "apps",
        succeed(),
        SHORT,
    );
    let out = plugin_async(control_plane(), &["reconcile", "ks", "apps", "-n", &ns]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "✔ Kustomization/apps in namespace {ns}: applied revision {REVISION}"
        )),
        "{text}"
    );
    let requested = jsonpath(
        "kustomization",
        &ns,
        "apps",
        "{.metadata.annotations.reconcile\\.fluxcd\\.io/requestedAt}",
    );
    let handled = jsonpath(
        "kustomization",
        &ns,
        "apps",
        "{.status.lastHandledReconcileAt}",
    );
    assert_eq!(requested, handled);
    assert!(
        requested.parse::<jiff::Timestamp>().is_ok(),
        "token is RFC 3339: {requested}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_objects_in_kind_slash_name_form_reconcile_concurrently() {
    let ns = fresh_namespace("rec-many");
    create(&[
        kustomization(&ns, "a", serde_json::json!({})),
        git_repository(&ns, "b"),
    ]);
    let client = admin_client().await;
    let delay = Duration::from_secs(3);
    let _a = fake_flux_controller(client.clone(), kind("ks"), &ns, "a", succeed(), delay);
    let _b = fake_flux_controller(client, kind("gitrepo"), &ns, "b", succeed(), delay);
    let started = Instant::now();
    let out = plugin_async(
        control_plane(),
        &[
            "reconcile",
            "ks/a",
            "gitrepository/b",
            "-n",
            &ns,
            "-o",
            "json",
        ],
    )
    .await;
    let elapsed = started.elapsed();
    assert!(out.status.success(), "{}", stderr(&out));
    let reports: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    let reports = reports.as_array().expect("a list");
    assert_eq!(reports.len(), 2);
    for report in reports {
        assert_eq!(report["result"], "succeeded", "{report}");
        assert_eq!(report["revision"], REVISION);
        assert_eq!(report["namespace"], ns.as_str());
    }
    assert_eq!(reports[1]["kind"], "GitRepository");
    // Each controller answers after 3 s: one after the other would take 6 s or more.
    assert!(
        elapsed < Duration::from_millis(5500),
        "not concurrent: {elapsed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_is_reported_at_once_with_the_controller_message() {
    let ns = fresh_namespace("rec-fail");
    create(&[kustomization(&ns, "apps", serde_json::json!({}))]);
    let behaviour = fail(
        "BuildFailed",
        "kustomize build failed: missing resource deploy.yaml",
    );
    let _controller = fake_flux_controller(
        admin_client().await,
        kind("ks"),
        &ns,
        "apps",
        behaviour,
        SHORT,
    );
    let started = Instant::now();
    let out = plugin_async(
        control_plane(),
        &["reconcile", "ks", "apps", "-n", &ns, "--timeout", "2m"],
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "did not fail fast: {:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("Ready BuildFailed: kustomize build failed: missing resource deploy.yaml"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_is_reported_at_once() {
    let ns = fresh_namespace("rec-stall");
    create(&[kustomization(&ns, "apps", serde_json::json!({}))]);
    let behaviour = Behaviour::Stall {
        reason: "InvalidPath".into(),
        message: "path ./apps not found".into(),
    };
    let _controller = fake_flux_controller(
        admin_client().await,
        kind("ks"),
        &ns,
        "apps",
        behaviour,
        SHORT,
    );
    let started = Instant::now();
    let out = plugin_async(control_plane(), &["reconcile", "ks", "apps", "-n", &ns]).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Stalled InvalidPath: path ./apps not found"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_earlier_failure_is_not_mistaken_for_the_answer() {
    let ns = fresh_namespace("rec-old");
    create(&[kustomization(&ns, "apps", serde_json::json!({}))]);
    set_status("ks", &ns, "apps", fail("BuildFailed", "old failure")).await;
    let _controller = fake_flux_controller(
        admin_client().await,
        kind("ks"),
        &ns,
        "apps",
        succeed(),
        Duration::from_millis(800),
    );
    let out = plugin_async(control_plane(), &["reconcile", "ks", "apps", "-n", &ns]).await;
    assert!(out.status.success(), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_prints_the_last_condition() {
    let ns = fresh_namespace("rec-slow");
    create(&[kustomization(&ns, "apps", serde_json::json!({}))]);
    set_status("ks", &ns, "apps", succeed()).await;
    // A controller that answers after 30 s: slower than the timeout.
    let _controller = fake_flux_controller(
        admin_client().await,
        kind("ks"),
        &ns,
        "apps",
        succeed(),
        Duration::from_secs(30),
    );
    let started = Instant::now();
    let out = plugin_async(
        control_plane(),
        &["reconcile", "ks", "apps", "-n", &ns, "--timeout", "2s"],
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(
            "not reconciled within 2s; last Ready condition: True ReconciliationSucceeded"
        ),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_wait_only_requests() {
    let ns = fresh_namespace("rec-nowait");
    create(&[kustomization(&ns, "apps", serde_json::json!({}))]);
    let out = plugin_async(
        control_plane(),
        &["reconcile", "ks", "apps", "-n", &ns, "--no-wait"],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("reconcile requested"));
    let requested = jsonpath(
        "kustomization",
        &ns,
        "apps",
        "{.metadata.annotations.reconcile\\.fluxcd\\.io/requestedAt}",
    );
    assert!(!requested.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_source_reconciles_the_source_first() {
    let ns = fresh_namespace("rec-src");
    create(&[
        kustomization(&ns, "apps", serde_json::json!({})),
        git_repository(&ns, "source"),
    ]);
    let client = admin_client().await;
    let _ks = fake_flux_controller(client.clone(), kind("ks"), &ns, "apps", succeed(), SHORT);
    let _git = fake_flux_controller(client, kind("gitrepo"), &ns, "source", succeed(), SHORT);
    let out = plugin_async(
        control_plane(),
        &["reconcile", "ks", "apps", "--with-source", "-n", &ns],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let source_line = text.find("GitRepository/source").expect("source reported");
    let ks_line = text
        .find("Kustomization/apps")
        .expect("kustomization reported");
    assert!(source_line < ks_line, "{text}");
    assert!(
        text.contains(&format!("fetched revision {REVISION}")),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_source_stops_with_source_reconcile() {
    let ns = fresh_namespace("rec-srcfail");
    create(&[
        kustomization(&ns, "apps", serde_json::json!({})),
        git_repository(&ns, "source"),
    ]);
    let client = admin_client().await;
    let _git = fake_flux_controller(
        client,
        kind("gitrepo"),
        &ns,
        "source",
        fail("GitOperationFailed", "authentication required"),
        SHORT,
    );
    let out = plugin_async(
        control_plane(),
        &["reconcile", "ks", "apps", "--with-source", "-n", &ns],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("GitOperationFailed: authentication required"),
        "{err}"
    );
    let requested = jsonpath("kustomization", &ns, "apps", "{.metadata.annotations}");
    assert!(
        !requested.contains("requestedAt"),
        "the Kustomization must not be requested: {requested}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_and_reset_set_the_helm_annotations_with_the_same_token() {
    let ns = fresh_namespace("rec-hr");
    create(&[helm_release(&ns, "podinfo")]);
    let behaviour = Behaviour::Succeed {
        revision: "6.5.0".into(),
    };
    let _controller = fake_flux_controller(
        admin_client().await,
        kind("hr"),
        &ns,
        "podinfo",
        behaviour,
        SHORT,
    );
    let out = plugin_async(
        control_plane(),
        &[
            "reconcile",
            "hr",
            "podinfo",
            "--force",
            "--reset",
            "-n",
            &ns,
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("reconciled chart version 6.5.0"),
        "{}",
        stdout(&out)
    );
    let annotations: serde_json::Value = serde_json::from_str(&jsonpath(
        "helmrelease",
        &ns,
        "podinfo",
        "{.metadata.annotations}",
    ))
    .unwrap();
    let requested = &annotations["reconcile.fluxcd.io/requestedAt"];
    assert!(requested.is_string());
    assert_eq!(&annotations["reconcile.fluxcd.io/forceAt"], requested);
    assert_eq!(&annotations["reconcile.fluxcd.io/resetAt"], requested);

    create(&[kustomization(&ns, "apps", serde_json::json!({}))]);
    let err = assert_usage_failure(
        &plugin_async(
            control_plane(),
            &["reconcile", "ks", "apps", "--force", "-n", &ns],
        )
        .await,
    );
    assert!(
        err.contains("--force and --reset apply to HelmReleases only"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_selector_and_all_select_objects_and_skip_suspended_ones() {
    let ns = fresh_namespace("rec-bulk");
    create(&[
        kustomization(&ns, "one", serde_json::json!({"team": "a"})),
        kustomization(&ns, "two", serde_json::json!({"team": "a"})),
        kustomization(&ns, "three", serde_json::json!({"team": "b"})),
    ]);
    control_plane().kubectl_ok(&[
        "patch",
        "kustomization",
        "three",
        "-n",
        &ns,
        "--type=merge",
        "-p",
        r#"{"spec":{"suspend":true}}"#,
    ]);
    let client = admin_client().await;
    let _one = fake_flux_controller(client.clone(), kind("ks"), &ns, "one", succeed(), SHORT);
    let _two = fake_flux_controller(client, kind("ks"), &ns, "two", succeed(), SHORT);

    let out = plugin_async(
        control_plane(),
        &["reconcile", "ks", "-l", "team=a", "-n", &ns],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("Kustomization/one")
            && text.contains("Kustomization/two")
            && !text.contains("three"),
        "{text}"
    );
    assert!(
        stderr(&out).contains("2 of 2 reconciled, 0 failed"),
        "{}",
        stderr(&out)
    );

    let out = plugin_async(control_plane(), &["reconcile", "--all", "-n", &ns]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!(
            "- Kustomization/three in namespace {ns}: skipped (suspended)"
        )),
        "{}",
        stdout(&out)
    );

    // -A with a selector reaches other namespaces.
    let other = fresh_namespace("rec-bulk2");
    let label = format!("run={}", &ns);
    create(&[kustomization(
        &other,
        "far",
        serde_json::json!({"run": ns.clone()}),
    )]);
    let _far = fake_flux_controller(
        admin_client().await,
        kind("ks"),
        &other,
        "far",
        succeed(),
        SHORT,
    );
    let out = plugin_async(control_plane(), &["reconcile", "ks", "-A", "-l", &label]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("Kustomization/far in namespace {other}")),
        "{}",
        stdout(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_name_the_object_and_the_way_out() {
    let ns = fresh_namespace("rec-err");
    create(&[
        kustomization(&ns, "apps", serde_json::json!({})),
        kustomization(&ns, "infrastructure", serde_json::json!({})),
    ]);

    let err = assert_clean_failure(
        &plugin_async(control_plane(), &["reconcile", "ks", "app", "-n", &ns]).await,
    );
    assert!(
        err.contains(&format!(
            "Kustomization \"app\" not found in namespace \"{ns}\"; did you mean apps?"
        )),
        "{err}"
    );

    let err = assert_usage_failure(
        &plugin_async(
            control_plane(),
            &["reconcile", "deployment", "web", "-n", &ns],
        )
        .await,
    );
    assert!(err.contains("unknown kind \"deployment\""), "{err}");

    // The image controllers' CRDs are not installed in the test cluster.
    let err = assert_clean_failure(
        &plugin_async(control_plane(), &["reconcile", "imgrepo", "web", "-n", &ns]).await,
    );
    assert!(
        err.contains("the ImageRepository kind is not installed"),
        "{err}"
    );

    control_plane().kubectl_ok(&[
        "patch",
        "kustomization",
        "apps",
        "-n",
        &ns,
        "--type=merge",
        "-p",
        r#"{"spec":{"suspend":true}}"#,
    ]);
    let err = assert_clean_failure(
        &plugin_async(control_plane(), &["reconcile", "ks", "apps", "-n", &ns]).await,
    );
    assert!(
        err.contains(&format!(
            "resume it with: kubectl gitops resume ks apps -n {ns}"
        )),
        "{err}"
    );

    let err =
        assert_usage_failure(&plugin_async(control_plane(), &["reconcile", "ks", "-n", &ns]).await);
    assert!(err.contains("name the Kustomization objects"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_patch_names_the_verb_and_resource() {
    let ns = fresh_namespace("rec-rbac");
    create(&[kustomization(&ns, "apps", serde_json::json!({}))]);
    // Discovery is open to every authenticated user (system:discovery), so only the patch fails.
    let kubeconfig = kustomization_reader(&ns, "flux-viewer");
    let err = assert_clean_failure(&plugin_async(&kubeconfig, &["reconcile", "ks", "apps"]).await);
    assert!(
        err.contains(&format!("user \"flux-viewer\" cannot patch kustomizations.kustomize.toolkit.fluxcd.io \"apps\" in namespace \"{ns}\"")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_then_resume_waits_for_the_reconcile() {
    let ns = fresh_namespace("suspend");
    create(&[
        kustomization(&ns, "apps", serde_json::json!({})),
        kustomization(&ns, "other", serde_json::json!({})),
    ]);
    let out = plugin_async(control_plane(), &["suspend", "ks", "apps", "-n", &ns]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Kustomization/apps in namespace"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        jsonpath("kustomization", &ns, "apps", "{.spec.suspend}"),
        "true"
    );
    assert_eq!(
        jsonpath("kustomization", &ns, "other", "{.spec.suspend}"),
        ""
    );

    let _controller = fake_flux_controller(
        admin_client().await,
        kind("ks"),
        &ns,
        "apps",
        succeed(),
        Duration::from_millis(700),
    );
    let out = plugin_async(control_plane(), &["resume", "ks", "apps", "-n", &ns]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("applied revision {REVISION}")),
        "resume waited: {}",
        stdout(&out)
    );
    assert_eq!(
        jsonpath("kustomization", &ns, "apps", "{.spec.suspend}"),
        "false"
    );

    let out = plugin_async(control_plane(), &["suspend", "--all", "-n", &ns]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        jsonpath("kustomization", &ns, "other", "{.spec.suspend}"),
        "true"
    );
    let out = plugin_async(
        control_plane(),
        &["resume", "ks", "other", "--no-wait", "-n", &ns],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        jsonpath("kustomization", &ns, "other", "{.spec.suspend}"),
        "false"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_source_on_a_helm_release_reconciles_its_helm_chart() {
    let ns = fresh_namespace("rec-hrsrc");
    let chart_name = format!("{ns}-podinfo");
    create(&[
        helm_release(&ns, "podinfo"),
        serde_json::json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart",
            "metadata": {"name": chart_name, "namespace": ns},
            "spec": {"chart": "podinfo", "interval": "10m", "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}
        }),
    ]);
    let client = admin_client().await;
    let chart = Behaviour::Succeed {
        revision: "6.5.0".into(),
    };
    let _chart = fake_flux_controller(client.clone(), kind("hc"), &ns, &chart_name, chart, SHORT);
    let release = Behaviour::Succeed {
        revision: "6.5.0".into(),
    };
    let _release = fake_flux_controller(client, kind("hr"), &ns, "podinfo", release, SHORT);
    let out = plugin_async(
        control_plane(),
        &["reconcile", "hr", "podinfo", "--with-source", "-n", &ns],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "✔ HelmChart/{chart_name} in namespace {ns}: fetched revision 6.5.0"
        )),
        "{text}"
    );
    assert!(
        text.contains("HelmRelease/podinfo") && text.contains("reconciled chart version 6.5.0"),
        "{text}"
    );
}

/// Right after a HelmRelease is applied, helm-controller has not made its HelmChart yet; the
/// chart's own source (the HelmRepository) is refreshed instead of failing on the missing chart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_source_before_the_helm_chart_exists_reconciles_the_chart_source() {
    let ns = fresh_namespace("rec-hrnew");
    create(&[
        helm_release(&ns, "podinfo"),
        serde_json::json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
            "metadata": {"name": "podinfo", "namespace": ns},
            "spec": {"interval": "10m", "url": "https://charts.example.com"}
        }),
    ]);
    let client = admin_client().await;
    let index = Behaviour::Succeed {
        revision: "sha256:0123".into(),
    };
    let _repository = fake_flux_controller(
        client.clone(),
        kind("helmrepo"),
        &ns,
        "podinfo",
        index,
        SHORT,
    );
    let release = Behaviour::Succeed {
        revision: "6.5.0".into(),
    };
    let _release = fake_flux_controller(client, kind("hr"), &ns, "podinfo", release, SHORT);
    let out = plugin_async(
        control_plane(),
        &["reconcile", "hr", "podinfo", "--with-source", "-n", &ns],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "✔ HelmRepository/podinfo in namespace {ns}: fetched revision sha256:0123"
        )),
        "{text}"
    );
    assert!(
        text.contains("HelmRelease/podinfo") && text.contains("reconciled chart version 6.5.0"),
        "{text}"
    );
}

/// What `reconcile ks apps` prints when the controller succeeds, fails, stalls or does not
/// answer in time, and with `--no-wait`, against golden files (tests/testdata/reconcile/). Each
/// case has a namespace of a fixed name so that the output is the same from run to run; only
/// the time the reconcile took varies (`<elapsed>`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_output_matches_the_golden_files() {
    let stall = Behaviour::Stall {
        reason: "InvalidPath".into(),
        message: "path ./apps not found".into(),
    };
    let cases = [
        ("succeeded", succeed(), SHORT, &[][..]),
        (
            "failed",
            fail("BuildFailed", "kustomize build failed: missing deploy.yaml"),
            SHORT,
            &[][..],
        ),
        ("stalled", stall, SHORT, &[][..]),
        (
            "timed-out",
            succeed(),
            Duration::from_secs(30),
            &["--timeout", "2s"][..],
        ),
        ("no-wait", succeed(), SHORT, &["--no-wait"][..]),
    ];
    for (case, behaviour, delay, extra) in cases {
        let ns = format!("golden-reconcile-{case}");
        control_plane().kubectl_ok(&["create", "namespace", &ns]);
        create(&[kustomization(&ns, "apps", serde_json::json!({}))]);
        if case == "timed-out" {
            set_status("ks", &ns, "apps", succeed()).await;
        }
        let _controller = fake_flux_controller(
            admin_client().await,
            kind("ks"),
            &ns,
            "apps",
            behaviour,
            delay,
        );
        let args = [&["reconcile", "ks", "apps", "-n", &ns][..], extra].concat();
        let out = plugin_async(control_plane(), &args).await;
        assert_golden(
            &format!("reconcile/{case}"),
            &elapsed_seconds(&transcript(&out)),
        );
    }
}

/// A Kustomization with `dependsOn` entries (namespace omitted: its own).
fn kustomization_after(ns: &str, name: &str, dependencies: &[&str]) -> serde_json::Value {
    let mut object = kustomization(ns, name, serde_json::json!({}));
    object["spec"]["dependsOn"] = dependencies
        .iter()
        .map(|d| serde_json::json!({"name": d}))
        .collect();
    object
}

fn handled_at(ns: &str, name: &str) -> Option<jiff::Timestamp> {
    jsonpath(
        "kustomization",
        ns,
        name,
        "{.status.lastHandledReconcileAt}",
    )
    .parse()
    .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_dependencies_reconciles_the_chain_in_order() {
    let ns = fresh_namespace("rec-deps");
    create(&[
        kustomization_after(&ns, "app", &["infra", "crds"]),
        kustomization_after(&ns, "infra", &["crds"]),
        kustomization_after(&ns, "crds", &[]),
    ]);
    let client = admin_client().await;
    let _controllers: Vec<_> = ["app", "infra", "crds"]
        .iter()
        .map(|name| fake_flux_controller(client.clone(), kind("ks"), &ns, name, succeed(), SHORT))
        .collect();
    let out = plugin_async(
        control_plane(),
        &["reconcile", "ks", "app", "--with-dependencies", "-n", &ns],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<String> = stdout(&out)
        .lines()
        .map(|line| line.split(" (").next().unwrap_or_default().to_string())
        .collect();
    let expected: Vec<String> = ["crds", "infra", "app"]
        .iter()
        .map(|name| {
            format!("✔ Kustomization/{name} in namespace {ns}: applied revision {REVISION}")
        })
        .collect();
    assert_eq!(lines, expected);
    let (crds, infra, app) = (
        handled_at(&ns, "crds").unwrap(),
        handled_at(&ns, "infra").unwrap(),
        handled_at(&ns, "app").unwrap(),
    );
    assert!(crds < infra && infra < app, "{crds} {infra} {app}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_dependency_stops_its_dependents_with_its_message() {
    let ns = fresh_namespace("rec-depfail");
    create(&[
        kustomization_after(&ns, "app", &["infra"]),
        kustomization_after(&ns, "infra", &[]),
    ]);
    let client = admin_client().await;
    let _infra = fake_flux_controller(
        client.clone(),
        kind("ks"),
        &ns,
        "infra",
        fail(
            "BuildFailed",
            "kustomize build failed: missing ingress.yaml",
        ),
        SHORT,
    );
    let _app = fake_flux_controller(client, kind("ks"), &ns, "app", succeed(), SHORT);
    let out = plugin_async(
        control_plane(),
        &["reconcile", "ks/app", "--with-dependencies", "-n", &ns],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "✗ Kustomization/infra in namespace {ns}: Ready BuildFailed: kustomize build failed: missing ingress.yaml\n\
             ✗ Kustomization/app in namespace {ns}: Dependency DependencyFailed: its dependency Kustomization/infra in namespace {ns} did not reconcile: BuildFailed: kustomize build failed: missing ingress.yaml\n\
             error: the object did not reconcile\n"
        )
    );
    assert_eq!(
        handled_at(&ns, "app"),
        None,
        "app was not asked to reconcile"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dependency_cycle_is_refused_before_any_request() {
    let ns = fresh_namespace("rec-cycle");
    create(&[
        kustomization_after(&ns, "a", &["b"]),
        kustomization_after(&ns, "b", &["a"]),
    ]);
    let out = plugin_async(
        control_plane(),
        &["reconcile", "ks", "a", "--with-dependencies", "-n", &ns],
    )
    .await;
    let err = assert_clean_failure(&out);
    assert_eq!(
        err,
        format!(
            "error: the dependsOn chain of {ns}/a has a cycle among {ns}/a, {ns}/b; nothing was reconciled\n"
        )
    );
    for name in ["a", "b"] {
        let requested = jsonpath(
            "kustomization",
            &ns,
            name,
            "{.metadata.annotations.reconcile\\.fluxcd\\.io/requestedAt}",
        );
        assert_eq!(requested, "", "{name} was not annotated");
    }
}
