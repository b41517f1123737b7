//! The offline Flux release layout (tests/env/prepare.sh) is what a Flux release publishes:
//! install.yaml and manifests.tar.gz with a sha256 checksums file, built from the real modules.

use std::process::Command;

use crate::support::{control_plane, run, stdout};

#[test]
fn the_release_layout_has_verified_install_manifests_of_the_pinned_versions() {
    let assets = &control_plane().assets;
    let dir = &assets.flux_release;
    let checksums_file = dir.join(format!(
        "flux_{}_checksums.txt",
        assets.flux_version.trim_start_matches('v')
    ));
    let checksums = std::fs::read_to_string(&checksums_file).expect("checksums file");
    let check = run(Command::new("sha256sum")
        .arg("--check")
        .arg(&checksums_file)
        .current_dir(dir));
    assert!(
        check.status.success(),
        "checksums do not match: {}",
        stdout(&check)
    );
    assert!(
        checksums.contains("  install.yaml\n") && checksums.contains("  manifests.tar.gz\n"),
        "{checksums}"
    );

    let install = std::fs::read_to_string(dir.join("install.yaml")).expect("install.yaml");
    let documents: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(&install).expect("install.yaml is YAML");
    let of_kind = |kind: &str| {
        documents
            .iter()
            .filter(|d| d["kind"] == kind)
            .collect::<Vec<_>>()
    };
    assert_eq!(of_kind("Namespace")[0]["metadata"]["name"], "flux-system");
    for (controller, version) in [
        ("source-controller", "v1.9.4"),
        ("kustomize-controller", "v1.9.4"),
        ("helm-controller", "v1.6.3"),
        ("notification-controller", "v1.9.3"),
    ] {
        let deployment = of_kind("Deployment")
            .into_iter()
            .find(|d| d["metadata"]["name"] == controller)
            .unwrap_or_else(|| panic!("no {controller} Deployment"));
        assert_eq!(
            deployment["metadata"]["labels"]["app.kubernetes.io/part-of"],
            "flux"
        );
        assert_eq!(deployment["metadata"]["namespace"], "flux-system");
        let image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap();
        assert_eq!(image, format!("ghcr.io/fluxcd/{controller}:{version}"));
    }
    let crds: Vec<&str> = of_kind("CustomResourceDefinition")
        .iter()
        .filter_map(|c| c["metadata"]["name"].as_str())
        .collect();
    for crd in [
        "gitrepositories.source.toolkit.fluxcd.io",
        "kustomizations.kustomize.toolkit.fluxcd.io",
        "helmreleases.helm.toolkit.fluxcd.io",
    ] {
        assert!(crds.contains(&crd), "{crd} missing from {crds:?}");
    }
    assert_eq!(
        of_kind("NetworkPolicy").len(),
        3,
        "allow-egress, allow-scraping, allow-webhooks"
    );

    let listing = run(Command::new("tar")
        .arg("tzf")
        .arg(dir.join("manifests.tar.gz")));
    let files = stdout(&listing);
    for file in [
        "source-controller.yaml",
        "kustomize-controller.yaml",
        "rbac.yaml",
        "policies.yaml",
    ] {
        assert!(
            files.lines().any(|l| l == file),
            "{file} missing from manifests.tar.gz: {files}"
        );
    }
}
