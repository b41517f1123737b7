//! Least privilege for the commands that install and remove Flux: `install` and `uninstall`
//! work for a user holding exactly gitops-admin (docs/rbac/gitops-admin.yaml, applied as it
//! is), and a user with only gitops-operate is refused with a message naming gitops-admin,
//! before anything is created or deleted.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::control_plane::ControlPlane;
use crate::support::kubelet_stand_in::KubeletStandIn;
use crate::support::processes::temp_dir;
use crate::support::{plugin_exe, run, stderr, stdout};
use crate::{assert_failed_after_progress, client_for, names};

/// A kubeconfig for `user`, bound cluster-wide to the ClusterRole `role` from docs/rbac/.
fn user_with(plane: &ControlPlane, user: &str, role: &str) -> PathBuf {
    let rbac = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/rbac");
    plane.kubectl_ok(&["apply", "--server-side", "-f", &rbac.display().to_string()]);
    plane.kubectl_ok(&[
        "create",
        "clusterrolebinding",
        &format!("{user}-{role}"),
        &format!("--clusterrole={role}"),
        &format!("--user={user}"),
    ]);
    plane.kubeconfig_for(user, None, "default")
}

async fn gitops(kubeconfig: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(plugin_exe("kubectl-gitops"));
    command
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .env("XDG_CACHE_HOME", temp_dir("cache-"))
        .stdin(std::process::Stdio::null());
    tokio::task::spawn_blocking(move || run(&mut command))
        .await
        .expect("join")
}

fn flux_crds(plane: &ControlPlane) -> usize {
    names(plane, &["crd", "-l", "app.kubernetes.io/part-of=flux"]).len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_and_uninstall_work_with_gitops_admin_and_name_it_without() {
    let plane = ControlPlane::start_private();
    let _kubelet = KubeletStandIn::start(
        client_for(&plane).await,
        "flux-system",
        Arc::new(|_: &str| true),
    );
    let operator = user_with(&plane, "operator", "gitops-operate");
    let admin = user_with(&plane, "installer", "gitops-admin");
    let manifests = plane
        .assets
        .flux_release
        .join("install.yaml")
        .display()
        .to_string();

    let err = assert_failed_after_progress(
        &gitops(&operator, &["install", "--manifests", &manifests]).await,
    );
    assert!(
        err.starts_with(
            "error: forbidden: user \"operator\" cannot apply namespaces \"flux-system\""
        ),
        "{err}"
    );
    assert!(
        err.ends_with("the ClusterRole gitops-admin grants it (docs/rbac/gitops-admin.yaml; README, \"Least privilege\"): ask a cluster admin to bind it to you with a ClusterRoleBinding, or use a context with more rights"),
        "{err}"
    );
    assert_eq!(flux_crds(&plane), 0, "nothing installed");

    let out = gitops(
        &admin,
        &["install", "--manifests", &manifests, "--timeout=60s"],
    )
    .await;
    assert!(
        out.status.success(),
        "install as gitops-admin: {}",
        stderr(&out)
    );
    assert_eq!(
        stdout(&out),
        "✔ installed Flux v2.9.4 in namespace flux-system\n"
    );
    // The default components: source, kustomize, helm and notification controllers.
    assert_eq!(flux_crds(&plane), 11);

    let err = assert_failed_after_progress(&gitops(&operator, &["uninstall", "--yes"]).await);
    assert!(
        err.starts_with("error: forbidden: user \"operator\" cannot "),
        "{err}"
    );
    assert!(
        err.contains("the ClusterRole gitops-admin grants it"),
        "{err}"
    );
    assert_eq!(flux_crds(&plane), 11, "nothing removed");

    let out = gitops(&admin, &["uninstall", "--yes"]).await;
    assert!(
        out.status.success(),
        "uninstall as gitops-admin: {}",
        stderr(&out)
    );
    // CRDs go once the API server has removed their objects.
    let deadline = Instant::now() + Duration::from_secs(30);
    while flux_crds(&plane) > 0 {
        assert!(Instant::now() < deadline, "CRDs left after uninstall");
        std::thread::sleep(Duration::from_millis(200));
    }
}
