//! `trace` against the real API server: objects with the labels, ownerReferences and statuses
//! the controllers would have written (Flux's by the fake controller's status patch, the
//! Deployment's, ReplicaSet's and Pod's by hand, as no kubelet or controller-manager runs).

use crate::flux_objects::*;
use crate::support::golden::{assert_golden, replace_value, timestamps, transcript};
use crate::support::{apply_object, control_plane, fresh_namespace, plugin_async};

fn managed_by(ks: &str, ns: &str) -> serde_json::Value {
    serde_json::json!({
        "kustomize.toolkit.fluxcd.io/name": ks,
        "kustomize.toolkit.fluxcd.io/namespace": ns
    })
}

fn uid(kind: &str, ns: &str, name: &str) -> String {
    jsonpath(kind, ns, name, "{.metadata.uid}")
}

fn owner(api_version: &str, kind: &str, name: &str, uid: &str) -> serde_json::Value {
    serde_json::json!([{"apiVersion": api_version, "kind": kind, "name": name, "uid": uid,
        "controller": true, "blockOwnerDeletion": true}])
}

fn set_built_in_status(kind: &str, ns: &str, name: &str, status: serde_json::Value) {
    control_plane().kubectl_ok(&[
        "patch",
        kind,
        name,
        "-n",
        ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        &serde_json::json!({ "status": status }).to_string(),
    ]);
}

/// GitRepository flux-system ← Kustomization flux-system (labels itself) ← Kustomization apps
/// ← Deployment podinfo ← ReplicaSet ← Pod, all Ready; and a ConfigMap nobody manages.
async fn chain(prefix: &str) -> String {
    let ns = fresh_namespace(prefix);
    let kustomization = |name: &str| {
        serde_json::json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": name, "namespace": ns, "labels": managed_by("flux-system", &ns)},
            "spec": {"interval": "10m", "path": format!("./{name}"), "prune": true,
                     "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}
        })
    };
    create(&[
        git_repository(&ns, "flux-system"),
        kustomization("flux-system"),
        kustomization("apps"),
    ]);
    set_status("gitrepo", &ns, "flux-system", succeed()).await;
    set_status("ks", &ns, "flux-system", succeed()).await;
    set_status("ks", &ns, "apps", succeed()).await;

    let labels = serde_json::json!({"app": "podinfo"});
    let template = serde_json::json!({"metadata": {"labels": labels},
        "spec": {"containers": [{"name": "podinfo", "image": "ghcr.io/stefanprodan/podinfo:6.7.0"}]}});
    apply_object(serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "podinfo", "namespace": ns, "labels": managed_by("apps", &ns)},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": template}
    }));
    let deployment = uid("deploy", &ns, "podinfo");
    apply_object(serde_json::json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "podinfo-7d9", "namespace": ns, "labels": labels,
            "ownerReferences": owner("apps/v1", "Deployment", "podinfo", &deployment)},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": template}
    }));
    let replica_set = uid("rs", &ns, "podinfo-7d9");
    apply_object(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "podinfo-7d9-abcde", "namespace": ns, "labels": labels,
            "ownerReferences": owner("apps/v1", "ReplicaSet", "podinfo-7d9", &replica_set)},
        "spec": template["spec"]
    }));
    let generation = jsonpath("deploy", &ns, "podinfo", "{.metadata.generation}");
    let generation: i64 = generation.parse().expect("generation");
    let replicas = serde_json::json!({"observedGeneration": generation, "replicas": 1,
        "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1});
    set_built_in_status("deploy", &ns, "podinfo", replicas.clone());
    let mut rs_status = replicas;
    rs_status["observedGeneration"] = 1.into();
    rs_status["fullyLabeledReplicas"] = 1.into();
    set_built_in_status("rs", &ns, "podinfo-7d9", rs_status);
    set_built_in_status(
        "pod",
        &ns,
        "podinfo-7d9-abcde",
        serde_json::json!({"phase": "Running", "conditions": [
            {"type": "Ready", "status": "True"}]}),
    );
    // A HelmRelease applied by apps, its HelmChart and HelmRepository, and a Service it
    // rendered.
    let mut release = helm_release(&ns, "podinfo");
    release["metadata"]["labels"] = managed_by("apps", &ns);
    create(&[
        release,
        serde_json::json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
            "metadata": {"name": "podinfo", "namespace": ns},
            "spec": {"interval": "1h", "url": "https://stefanprodan.github.io/podinfo"}
        }),
        serde_json::json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart",
            "metadata": {"name": format!("{ns}-podinfo"), "namespace": ns},
            "spec": {"interval": "10m", "chart": "podinfo", "version": "6.7.0",
                     "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}
        }),
    ]);
    set_status("hr", &ns, "podinfo", succeed()).await;
    set_status("hc", &ns, &format!("{ns}-podinfo"), succeed()).await;
    set_status("helmrepo", &ns, "podinfo", succeed()).await;
    apply_object(serde_json::json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "podinfo", "namespace": ns, "labels": {
            "helm.toolkit.fluxcd.io/name": "podinfo",
            "helm.toolkit.fluxcd.io/namespace": ns}},
        "spec": {"ports": [{"port": 9898}], "selector": labels}
    }));
    apply_object(serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": ns},
        "data": {"mode": "manual"}
    }));
    ns
}

async fn run(ns: &str, args: &[&str]) -> String {
    let args = [&["trace", "-n", ns][..], args].concat();
    let out = plugin_async(control_plane(), &args).await;
    replace_value(&transcript(&out), ns, "<namespace>")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_output_matches_the_golden_files() {
    let ns = chain("trace").await;
    assert_golden(
        "trace/pod-to-git-repository",
        &timestamps(&run(&ns, &["pod/podinfo-7d9-abcde"]).await),
    );
    // Other spellings of a kind resolve through discovery to the same chain's middle.
    assert_golden(
        "trace/deployment",
        &timestamps(&run(&ns, &["deploy", "podinfo"]).await),
    );
    assert_golden(
        "trace/deployment-json",
        &timestamps(&run(&ns, &["deployments.apps/podinfo", "-o", "json"]).await),
    );
    assert_golden(
        "trace/service-from-helm-release",
        &timestamps(&run(&ns, &["svc/podinfo"]).await),
    );
    assert_golden(
        "trace/unmanaged-config-map",
        &run(&ns, &["cm", "settings"]).await,
    );
    // A cluster-scoped object: the namespace itself, applied by flux-system.
    control_plane().kubectl_ok(&[
        "label",
        "namespace",
        &ns,
        "kustomize.toolkit.fluxcd.io/name=flux-system",
        &format!("kustomize.toolkit.fluxcd.io/namespace={ns}"),
    ]);
    assert_golden(
        "trace/namespace",
        &timestamps(&run(&ns, &["ns", &ns]).await),
    );
    assert_golden("trace/missing", &run(&ns, &["svc/absent"]).await);
    assert_golden("trace/unknown-kind", &run(&ns, &["widget/x"]).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_object_is_a_usage_error() {
    let out = plugin_async(control_plane(), &["trace", "deploy/a/b"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", transcript(&out));
}

/// A condition message with terminal escapes is shown with them made visible.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_in_messages_are_made_visible() {
    let ns = fresh_namespace("trace-escape");
    let mut ks = kustomization(&ns, "apps", managed_by("apps", &ns));
    ks["spec"]["sourceRef"]["name"] = "missing".into();
    create(&[ks]);
    let message = "retitled \u{1b}]0;owned\u{7} cleared \u{1b}[2J end";
    set_status("ks", &ns, "apps", fail("BuildFailed", message)).await;
    let out = plugin_async(control_plane(), &["trace", "-n", &ns, "ks/apps"]).await;
    let text = crate::support::stdout(&out);
    assert!(out.status.success(), "{}", transcript(&out));
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text:?}"
    );
    assert!(
        text.contains("Message:    retitled \\u{1b}]0;owned\\u{7} cleared \\u{1b}[2J end"),
        "{text}"
    );
    // The source it names is gone: the chain shows that and ends there.
    assert_golden(
        "trace/missing-source",
        &replace_value(&transcript(&out), &ns, "<namespace>"),
    );
}
