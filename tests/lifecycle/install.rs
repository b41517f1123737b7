//! `kubectl gitops install` (and `--export`) on a real control plane, with the kubelet
//! stand-in making the controller Deployments available.

use std::process::Command;
use std::sync::Arc;

use crate::support::control_plane::ControlPlane;
use crate::support::kubelet_stand_in::KubeletStandIn;
use crate::support::processes::temp_dir;
use crate::support::{plugin_exe, run, stderr, stdout};
use crate::{assert_failed_after_progress, client_for, names};

fn install_command(plane: &ControlPlane, args: &[&str]) -> Command {
    let mut command = Command::new(plugin_exe("kubectl-gitops"));
    command
        .arg("install")
        .args(args)
        .arg("--manifests")
        .arg(plane.assets.flux_release.join("install.yaml"))
        .arg("--kubeconfig")
        .arg(&plane.kubeconfig)
        .env("XDG_CACHE_HOME", temp_dir("cache-"))
        .stdin(std::process::Stdio::null());
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_applies_the_manifests_waits_and_is_idempotent() {
    let plane = ControlPlane::start_private();
    let _kubelet = KubeletStandIn::start(
        client_for(&plane).await,
        "flux-system",
        Arc::new(|_: &str| true),
    );
    let args = [
        "--components-extra=image-reflector-controller",
        "--timeout=60s",
    ];

    let export = run(&mut install_command(
        &plane,
        &[&["--export"], &args[..]].concat(),
    ));
    assert!(export.status.success(), "{}", stderr(&export));
    assert!(stdout(&export).contains("# Components: source-controller,kustomize-controller,helm-controller,notification-controller,image-reflector-controller\n"));
    assert_eq!(
        names(&plane, &["namespace", "flux-system"]),
        Vec::<String>::new(),
        "--export applies nothing"
    );

    let mut command = install_command(&plane, &args);
    let out = tokio::task::spawn_blocking(move || run(&mut command))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "✔ installed Flux v2.9.4 in namespace flux-system\n"
    );
    let progress = stderr(&out);
    assert!(
        progress.contains(
            "✔ CustomResourceDefinition/gitrepositories.source.toolkit.fluxcd.io created"
        ),
        "{progress}"
    );
    assert!(
        progress.contains("✔ all components are healthy"),
        "{progress}"
    );
    assert_eq!(
        names(&plane, &["deployments", "-n", "flux-system"]).len(),
        5
    );

    // The same objects as the export, and the check passes.
    let check = run(Command::new(plugin_exe("kubectl-gitops"))
        .args(["check", "--kubeconfig"])
        .arg(&plane.kubeconfig));
    assert!(
        check.status.success(),
        "{}{}",
        stdout(&check),
        stderr(&check)
    );
    assert!(
        stdout(&check).contains("✔ flux version: v2.9.4"),
        "{}",
        stdout(&check)
    );

    let mut again = install_command(&plane, &args);
    let out = tokio::task::spawn_blocking(move || run(&mut again))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains(" created\n") && !stderr(&out).contains(" configured\n"),
        "{}",
        stderr(&out)
    );

    // Once bootstrapped (a root Kustomization exists), install refuses and says why.
    let file = temp_dir("root-ks-").join("ks.json");
    let root = serde_json::json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "flux-system", "namespace": "flux-system"},
        "spec": {"interval": "10m", "path": "./", "prune": true,
                 "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}});
    std::fs::write(&file, root.to_string()).unwrap();
    plane.kubectl_ok(&["apply", "-f", &file.display().to_string()]);
    let err = assert_failed_after_progress(&run(&mut install_command(&plane, &args)));
    assert!(
        err.contains("bootstrapped from Git") && err.contains("kubectl gitops bootstrap git"),
        "{err}"
    );
}
