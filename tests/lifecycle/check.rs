//! `kubectl gitops check`: prerequisites and the installed state, on a real install.

use crate::support::control_plane::ControlPlane;
use crate::support::golden::{assert_golden, transcript};
use crate::support::{assert_clean_failure, plugin, stderr, stdout};

/// What a kubelet plus the deployment controller would write once the pods run (none run
/// here: no kubelet). Stands in for them for every Flux Deployment in `namespace`.
fn mark_deployments_available(plane: &ControlPlane, namespace: &str) {
    for deployment in crate::names(plane, &["deployments", "-n", namespace]) {
        let generation = plane.kubectl_ok(&[
            "get",
            &deployment,
            "-n",
            namespace,
            "-o",
            "jsonpath={.metadata.generation}",
        ]);
        let status = serde_json::json!({"status": {
            "observedGeneration": generation.parse::<i64>().expect("generation"),
            "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}});
        plane.kubectl_ok(&[
            "patch",
            &deployment,
            "-n",
            namespace,
            "--subresource=status",
            "--type=merge",
            "-p",
            &status.to_string(),
        ]);
    }
}

#[test]
fn check_passes_on_a_healthy_install_and_says_what_is_wrong_otherwise() {
    let plane = ControlPlane::start_private();

    let out = plugin(&plane, &["check", "--pre"]);
    assert_golden("check/pre", &transcript(&out));
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("✔ kubernetes version: v1.36.3 >= 1.33"),
        "{text}"
    );
    assert!(
        text.contains("✔ can create customresourcedefinitions.apiextensions.k8s.io: allowed"),
        "{text}"
    );
    assert!(text.contains("✔ all checks passed"), "{text}");

    // Nothing installed yet: the full check fails and says so.
    let out = plugin(&plane, &["check"]);
    assert_golden("check/not-installed", &transcript(&out));
    let err = assert_clean_failure(&out);
    assert!(err.contains("checks failed"), "{err}");
    assert!(
        stdout(&out).contains("✗ flux version: Flux is not installed"),
        "{}",
        stdout(&out)
    );

    plane.install_flux_with_cli();
    let out = plugin(&plane, &["check"]);
    assert_golden("check/controllers-unavailable", &transcript(&out));
    assert_clean_failure(&out);
    assert!(
        stdout(&out).contains("✗ source-controller: not available: 0 of 1 replicas available"),
        "{}",
        stdout(&out)
    );

    mark_deployments_available(&plane, "flux-system");
    assert_golden("check/healthy", &transcript(&plugin(&plane, &["check"])));
    let out = plugin(&plane, &["check", "-o", "json"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let sections: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    let titles: Vec<&str> = sections
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["prerequisites", "version", "controllers", "crds"]);
    assert_eq!(sections[1]["checks"][0]["detail"], "v2.9.4");
    assert_eq!(
        sections[2]["checks"].as_array().unwrap().len(),
        7,
        "{}",
        sections[2]
    );
    let crd = sections[3]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "kustomizations.kustomize.toolkit.fluxcd.io")
        .expect("kustomizations CRD checked");
    assert_eq!(crd["detail"], "stored versions: v1");
}

#[test]
fn check_pre_fails_for_a_user_without_install_rights() {
    let plane = ControlPlane::start_private();
    let kubeconfig = plane.kubeconfig_for("viewer", None, "default");
    let out = plugin(&kubeconfig, &["check", "--pre"]);
    assert_golden("check/pre-denied", &transcript(&out));
    let err = assert_clean_failure(&out);
    assert!(err.contains("checks failed"), "{err}");
    assert!(
        stdout(&out)
            .contains("✗ can create customresourcedefinitions.apiextensions.k8s.io: denied"),
        "{}",
        stdout(&out)
    );
}
