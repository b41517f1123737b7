//! The control plane is real: pinned version, RBAC, server-side apply, Flux CRDs.

use kube::api::DynamicObject;
use kubectl_gitops::cluster::connection::ConnectionFlags;
use kubectl_gitops::flux::FluxKind;

use crate::support::golden::{
    assert_golden, build_facts, loopback_ports, replace_value, transcript,
};
use crate::support::{assert_clean_failure, control_plane, plugin, run, stdout};

fn admin_flags() -> ConnectionFlags {
    ConnectionFlags {
        kubeconfig: Some(control_plane().kubeconfig.clone()),
        request_timeout: "0".into(),
        ..ConnectionFlags::default()
    }
}

fn version_json(extra: &[&str]) -> serde_json::Value {
    let out = plugin(
        control_plane(),
        &[&["version", "-o", "json"], extra].concat(),
    );
    assert!(
        out.status.success(),
        "version failed: {}",
        crate::support::stderr(&out)
    );
    serde_json::from_str(&stdout(&out)).expect("version -o json is JSON")
}

#[test]
fn server_reports_the_pinned_kubernetes_version() {
    let report = version_json(&[]);
    assert_eq!(report["serverVersion"]["gitVersion"], "v1.36.3");
    assert_eq!(
        report["serverVersion"]["server"],
        control_plane().server.as_str()
    );
    assert_eq!(
        report["clientVersion"]["version"],
        format!("v{}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn version_reads_the_flux_version_from_the_installed_crds() {
    control_plane().install_flux_crds();
    let report = version_json(&[]);
    assert_eq!(report["flux"]["installed"], true);
    assert_eq!(
        report["flux"]["version"],
        control_plane().assets.flux_version.as_str()
    );
    assert_eq!(report["flux"]["namespace"], "flux-system");

    let out = plugin(control_plane(), &["version", "-o", "yaml"]);
    let yaml: serde_json::Value =
        serde_saphyr::from_str(&stdout(&out)).expect("version -o yaml is YAML");
    assert_eq!(yaml, report, "-o yaml and -o json carry the same data");

    let out = plugin(control_plane(), &["version"]);
    let text = stdout(&out);
    assert!(text.contains("kubernetes: v1.36.3"), "{text}");
    assert!(
        text.contains(&format!(
            "flux: {} in namespace flux-system",
            control_plane().assets.flux_version
        )),
        "{text}"
    );
}

/// Creates a Kustomization with the library's server-side apply and returns its name.
async fn apply_kustomization(name: &str, path: &str) -> DynamicObject {
    control_plane().install_flux_crds();
    let connection = admin_flags().connect().await.expect("connect");
    let kind = FluxKind::lookup("ks").expect("Kustomization kind");
    let resource = kind.api_resource();
    let object: DynamicObject = serde_json::from_value(serde_json::json!({
        "apiVersion": resource.api_version,
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "interval": "10m",
            "path": path,
            "prune": true,
            "sourceRef": {"kind": "GitRepository", "name": "flux-system"}
        }
    }))
    .expect("valid object");
    kubectl_gitops::cluster::apply::server_side_apply(
        &connection,
        &resource,
        Some("default"),
        &object,
    )
    .await
    .expect("server-side apply")
}

#[tokio::test]
async fn a_kustomization_created_through_the_library_is_read_back_by_kubectl() {
    let created = apply_kustomization("read-back", "./clusters/read-back").await;
    assert!(created.metadata.uid.is_some(), "the server assigned a uid");
    let json = control_plane().kubectl_ok(&[
        "get",
        "kustomization",
        "read-back",
        "-n",
        "default",
        "-o",
        "json",
    ]);
    let object: serde_json::Value = serde_json::from_str(&json).expect("kubectl -o json");
    assert_eq!(object["kind"], "Kustomization");
    assert_eq!(object["spec"]["path"], "./clusters/read-back");
    assert_eq!(object["spec"]["sourceRef"]["name"], "flux-system");
    assert_eq!(
        object["metadata"]["uid"],
        created.metadata.uid.unwrap().as_str()
    );
}

#[tokio::test]
async fn server_side_apply_records_the_plugin_field_manager() {
    apply_kustomization("field-manager", "./clusters/one").await;
    let json = control_plane().kubectl_ok(&[
        "get",
        "kustomization",
        "field-manager",
        "-n",
        "default",
        "--show-managed-fields",
        "-o",
        "json",
    ]);
    let object: serde_json::Value = serde_json::from_str(&json).expect("kubectl -o json");
    let managers: Vec<(String, String)> = object["metadata"]["managedFields"]
        .as_array()
        .expect("managedFields")
        .iter()
        .map(|m| {
            (
                m["manager"].as_str().unwrap_or_default().into(),
                m["operation"].as_str().unwrap_or_default().into(),
            )
        })
        .collect();
    assert!(
        managers.contains(&("kubectl-gitops".to_string(), "Apply".to_string())),
        "managers: {managers:?}"
    );
    // A second apply with a changed field is accepted and changes it: the plugin owns the field.
    apply_kustomization("field-manager", "./clusters/two").await;
    let path = control_plane().kubectl_ok(&[
        "get",
        "kustomization",
        "field-manager",
        "-n",
        "default",
        "-o",
        "jsonpath={.spec.path}",
    ]);
    assert_eq!(path, "./clusters/two");
}

#[test]
fn rbac_denies_a_user_without_rights() {
    let plane = control_plane();
    let kubeconfig = plane.kubeconfig_for("nobody", None, "default");
    // The real kubectl agrees that the user has no rights ...
    let can_i = run(std::process::Command::new(plane.assets.kubectl())
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["auth", "can-i", "get", "customresourcedefinitions"]));
    assert_eq!(stdout(&can_i).trim(), "no");
    // ... and the plugin says what was forbidden, to whom, and what to do.
    let out = plugin(&kubeconfig, &["version"]);
    let err = assert_clean_failure(&out);
    assert!(err.contains("forbidden"), "{err}");
    assert!(err.contains("user \"nobody\""), "{err}");
    assert!(
        err.contains("get customresourcedefinitions.apiextensions.k8s.io \"gitrepositories.source.toolkit.fluxcd.io\""),
        "{err}"
    );
    assert!(err.contains("ask a cluster admin"), "{err}");
}

/// `version` in its text and JSON forms, with and without the cluster, against golden files
/// (tests/testdata/version/). The build's facts, the machine's platform and the API server's
/// port vary and are replaced; the pinned Kubernetes and Flux versions are expected as they are.
#[test]
fn version_output_matches_the_golden_files() {
    control_plane().install_flux_crds();
    // The platform is the machine's: the plugin's build and the API server's both run here.
    let client: serde_json::Value = serde_json::from_str(&stdout(&plugin(
        control_plane(),
        &["version", "--client", "-o", "json"],
    )))
    .expect("JSON");
    let platform = client["clientVersion"]["platform"]
        .as_str()
        .expect("platform");
    for (case, args) in [
        ("client", &["version", "--client"][..]),
        ("client-json", &["version", "--client", "-o", "json"][..]),
        ("cluster", &["version"][..]),
        ("cluster-yaml", &["version", "-o", "yaml"][..]),
    ] {
        let out = plugin(control_plane(), args);
        assert_golden(
            &format!("version/{case}"),
            &replace_value(
                &loopback_ports(&build_facts(&transcript(&out))),
                platform,
                "<platform>",
            ),
        );
    }
}
