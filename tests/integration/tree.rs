//! `tree` against the real API server: Kustomizations whose statuses and inventories are
//! written as kustomize-controller writes them, and objects whose statuses are written as the
//! Kubernetes controllers write them.

use crate::flux_objects::*;
use crate::support::golden::{assert_golden, replace_value};
use crate::support::{
    assert_usage_failure, control_plane, fresh_namespace, plugin_async, stderr, stdout,
};

/// An inventory entry id: `<namespace>_<name>_<group>_<kind>`.
fn id(namespace: &str, name: &str, group: &str, kind: &str) -> serde_json::Value {
    serde_json::json!({"id": format!("{namespace}_{name}_{group}_{kind}"), "v": "v1"})
}

fn patch_status(kind: &str, namespace: &str, name: &str, status: serde_json::Value) {
    let patch = serde_json::json!({ "status": status }).to_string();
    control_plane().kubectl_ok(&[
        "patch",
        kind,
        name,
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        &patch,
    ]);
}

fn deployment(namespace: &str, name: &str, replicas: i64) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": "example.invalid/app:1"}]}}}
    })
}

fn config_map(namespace: &str, name: &str) -> serde_json::Value {
    serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace}, "data": {"a": "b"}})
}

/// A namespace holding the root Kustomization (named like the namespace), which applied the
/// Namespace, a ConfigMap, an available and an unavailable Deployment, a ConfigMap since
/// deleted, the child Kustomization `apps` and the child Kustomization `removed`, since deleted; `apps` applied a ConfigMap and the
/// Kustomization `loop`, whose inventory lists `apps` again (a cycle).
async fn applied_namespace(prefix: &str) -> String {
    let ns = fresh_namespace(prefix);
    let ks = "kustomize.toolkit.fluxcd.io";
    create(&[
        kustomization(&ns, &ns, serde_json::json!({})),
        kustomization(&ns, "apps", serde_json::json!({})),
        kustomization(&ns, "loop", serde_json::json!({})),
        config_map(&ns, "settings"),
        config_map(&ns, "apps-settings"),
        deployment(&ns, "web", 2),
        deployment(&ns, "api", 3),
    ]);
    for name in [ns.as_str(), "apps", "loop"] {
        set_status("ks", &ns, name, succeed()).await;
    }
    patch_status(
        "kustomization",
        &ns,
        &ns,
        serde_json::json!({"inventory": {"entries": [
            id("", &ns, "", "Namespace"),
            id(&ns, "settings", "", "ConfigMap"),
            id(&ns, "gone", "", "ConfigMap"),
            id(&ns, "web", "apps", "Deployment"),
            id(&ns, "api", "apps", "Deployment"),
            id(&ns, &ns, ks, "Kustomization"),
            id(&ns, "apps", ks, "Kustomization"),
            id(&ns, "removed", ks, "Kustomization"),
        ]}}),
    );
    patch_status(
        "kustomization",
        &ns,
        "apps",
        serde_json::json!({"inventory": {"entries": [
            id(&ns, "apps-settings", "", "ConfigMap"),
            id(&ns, "loop", ks, "Kustomization"),
        ]}}),
    );
    patch_status(
        "kustomization",
        &ns,
        "loop",
        serde_json::json!({"inventory": {"entries": [id(&ns, "apps", ks, "Kustomization")]}}),
    );
    patch_status(
        "deployment",
        &ns,
        "web",
        serde_json::json!({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2,
            "readyReplicas": 2, "availableReplicas": 2}),
    );
    patch_status(
        "deployment",
        &ns,
        "api",
        serde_json::json!({"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3,
            "unavailableReplicas": 3}),
    );
    ns
}

/// Output with the test's namespace replaced, so the golden files hold one text.
fn shown(ns: &str, text: &str) -> String {
    replace_value(text, ns, "<ns>")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tree_shows_every_object_with_its_health_unhealthy_first() {
    let ns = applied_namespace("tree").await;
    // No argument: the root Kustomization named like the namespace.
    let out = plugin_async(control_plane(), &["tree", "-n", &ns]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    assert_golden("tree/tree", &shown(&ns, &stdout(&out)));

    let named = plugin_async(control_plane(), &["tree", "ks", &ns, "-n", &ns]).await;
    assert_eq!(stdout(&named), stdout(&out), "ks <name> is the same root");

    let child = plugin_async(control_plane(), &["tree", "ks/apps", "-n", &ns]).await;
    assert!(child.status.success(), "{}", stderr(&child));
    assert_golden("tree/child", &shown(&ns, &stdout(&child)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_keep_unhealthy_paths_flux_objects_or_levels() {
    let ns = applied_namespace("tree-filters").await;
    for (case, flag) in [
        ("not-ready", vec!["--not-ready"]),
        ("compact", vec!["--compact"]),
        ("depth", vec!["--depth", "1"]),
    ] {
        let mut args = vec!["tree", "-n", ns.as_str()];
        args.extend(flag);
        let out = plugin_async(control_plane(), &args).await;
        assert!(out.status.success(), "{case}: {}", stderr(&out));
        assert_golden(&format!("tree/{case}"), &shown(&ns, &stdout(&out)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_is_the_nested_tree() {
    let ns = applied_namespace("tree-json").await;
    let out = plugin_async(control_plane(), &["tree", "-n", &ns, "-o", "json"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_golden("tree/json", &shown(&ns, &stdout(&out)));
    let yaml = plugin_async(control_plane(), &["tree", "-n", &ns, "-o", "yaml"]).await;
    assert!(yaml.status.success(), "{}", stderr(&yaml));
    let from_yaml: serde_json::Value =
        serde_saphyr::from_str(&stdout(&yaml)).expect("YAML reads back");
    let from_json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(from_yaml, from_json, "YAML holds the same document");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_if_not_ready_exits_3_when_any_object_is_not_ready() {
    let ns = applied_namespace("tree-fail").await;
    let out = plugin_async(control_plane(), &["tree", "-n", &ns, "--fail-if-not-ready"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_golden("tree/fail-if-not-ready", &shown(&ns, &stderr(&out)));

    let cut = plugin_async(
        control_plane(),
        &["tree", "-n", &ns, "--depth", "0", "--fail-if-not-ready"],
    )
    .await;
    assert_eq!(
        cut.status.code(),
        Some(3),
        "--depth hides nothing from the verdict"
    );

    // `loop`, `apps` and what they applied are all healthy (the cycle is shown, not followed).
    let healthy = plugin_async(
        control_plane(),
        &["tree", "ks/loop", "-n", &ns, "--fail-if-not-ready"],
    )
    .await;
    assert!(healthy.status.success(), "{}", stderr(&healthy));
    assert_golden("tree/cycle", &shown(&ns, &stdout(&healthy)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_kustomizations_and_helm_releases_are_roots() {
    let out = plugin_async(control_plane(), &["tree", "gitrepo/x"]).await;
    assert_golden("tree/usage-kind", &assert_usage_failure(&out));
    let out = plugin_async(control_plane(), &["tree", "ks/a", "ks/b"]).await;
    assert_golden("tree/usage-two", &assert_usage_failure(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kind_the_user_may_not_list_is_a_warning_and_unknown_nodes() {
    let ns = applied_namespace("tree-rbac").await;
    let kubeconfig = kustomization_reader(&ns, &format!("reader-{ns}"));
    let out = plugin_async(&kubeconfig, &["tree", "-n", &ns]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = replace_value(&stderr(&out), &format!("reader-{ns}"), "<user>");
    assert_golden("tree/forbidden-stderr", &shown(&ns, &text));
    assert_golden("tree/forbidden", &shown(&ns, &stdout(&out)));
}

/// A Helm release record as Helm stores it in a Secret's `data.release`: gzipped JSON, base64
/// (the Secret's own base64 comes on top, from kubectl).
fn helm_record(manifest: &str) -> String {
    use base64::Engine;
    use std::io::Write;
    let json = serde_json::json!({"name": "legacy", "version": 2, "manifest": manifest});
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(json.to_string().as_bytes()).unwrap();
    base64::engine::general_purpose::STANDARD.encode(gzip.finish().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_releases_are_walked_and_remote_children_are_not() {
    let ns = fresh_namespace("tree-helm");
    let ks = "kustomize.toolkit.fluxcd.io";
    let hr = "helm.toolkit.fluxcd.io";
    let mut remote = kustomization(&ns, "remote", serde_json::json!({}));
    remote["spec"]["kubeConfig"] = serde_json::json!({"secretRef": {"name": "other-cluster"}});
    create(&[
        kustomization(&ns, &ns, serde_json::json!({})),
        remote,
        helm_release(&ns, "podinfo"),
        helm_release(&ns, "legacy"),
        config_map(&ns, "podinfo"),
        config_map(&ns, "legacy-settings"),
        deployment(&ns, "podinfo", 1),
    ]);
    for (kind, name) in [
        ("ks", ns.as_str()),
        ("ks", "remote"),
        ("hr", "podinfo"),
        ("hr", "legacy"),
    ] {
        set_status(kind, &ns, name, succeed()).await;
    }
    patch_status(
        "kustomization",
        &ns,
        &ns,
        serde_json::json!({"inventory": {"entries": [
            id(&ns, "remote", ks, "Kustomization"),
            id(&ns, "podinfo", hr, "HelmRelease"),
            id(&ns, "legacy", hr, "HelmRelease"),
        ]}}),
    );
    // The remote Kustomization's objects live in the other cluster: never looked up here.
    patch_status(
        "kustomization",
        &ns,
        "remote",
        serde_json::json!({"inventory": {"entries": [id(&ns, "elsewhere", "", "ConfigMap")]}}),
    );
    // helm-controller 1.5 and newer: the HelmRelease's own inventory.
    patch_status(
        "helmrelease",
        &ns,
        "podinfo",
        serde_json::json!({"inventory": {"entries": [
            id(&ns, "podinfo", "", "ConfigMap"),
            id(&ns, "podinfo", "apps", "Deployment"),
        ]}}),
    );
    patch_status(
        "deployment",
        &ns,
        "podinfo",
        serde_json::json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
            "readyReplicas": 1, "availableReplicas": 1}),
    );
    // Older helm-controllers: only Helm's own record of the latest release.
    let snapshot = |version: i64| {
        serde_json::json!({"name": "legacy", "namespace": ns, "version": version,
            "status": "deployed", "chartName": "legacy", "chartVersion": "1.0.0",
            "digest": "sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "configDigest": "sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "firstDeployed": "2026-01-01T00:00:00Z", "lastDeployed": "2026-01-01T00:00:00Z"})
    };
    patch_status(
        "helmrelease",
        &ns,
        "legacy",
        serde_json::json!({"storageNamespace": ns, "history": [snapshot(2), snapshot(1)]}),
    );
    let manifest = "---\n# Source: legacy/templates/configmap.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: legacy-settings\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: legacy\n";
    crate::support::apply_object(serde_json::json!({
        "apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
        "metadata": {"name": "sh.helm.release.v1.legacy.v2", "namespace": ns,
                     "labels": {"owner": "helm", "name": "legacy", "version": "2"}},
        "data": {"release": base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD, helm_record(manifest))}
    }));

    let out = plugin_async(control_plane(), &["tree", "-n", &ns]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    assert_golden("tree/helm", &shown(&ns, &stdout(&out)));

    let out = plugin_async(control_plane(), &["tree", "hr", "legacy", "-n", &ns]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_golden("tree/helm-storage", &shown(&ns, &stdout(&out)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_from_the_cluster_never_reach_the_terminal() {
    let ns = fresh_namespace("tree-escape");
    let hostile = "build failed \u{1b}]0;owned\u{7} then \u{1b}[2J\nsecond line";
    create(&[
        kustomization(&ns, &ns, serde_json::json!({})),
        kustomization(&ns, "hostile", serde_json::json!({})),
    ]);
    set_status("ks", &ns, &ns, succeed()).await;
    set_status("ks", &ns, "hostile", fail("BuildFailed", hostile)).await;
    patch_status(
        "kustomization",
        &ns,
        &ns,
        serde_json::json!({"inventory": {"entries": [
            id(&ns, "hostile", "kustomize.toolkit.fluxcd.io", "Kustomization")]}}),
    );
    let out = plugin_async(control_plane(), &["tree", "-n", &ns]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).contains('\u{1b}'), "{}", stdout(&out));
    assert_golden("tree/escaped", &shown(&ns, &stdout(&out)));

    let json = plugin_async(control_plane(), &["tree", "-n", &ns, "-o", "json"]).await;
    let tree: serde_json::Value = serde_json::from_str(&stdout(&json)).expect("JSON");
    assert_eq!(
        tree["children"][0]["message"], hostile,
        "JSON keeps the exact text"
    );
}
