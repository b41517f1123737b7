//! Install, bootstrap, check and uninstall: commands that change cluster-wide state (CRDs,
//! cluster roles), so every test here starts a control plane of its own.

#[path = "../support/mod.rs"]
mod support;

mod bootstrap;
mod check;
mod uninstall;

use std::process::{Command, Output};

use support::control_plane::ControlPlane;
use support::{plugin_exe, run};

/// Runs `kubectl-gitops <args>` against `plane` as its admin, with stdin closed (no terminal).
fn plugin(plane: &ControlPlane, args: &[&str]) -> Output {
    run(Command::new(plugin_exe("kubectl-gitops"))
        .args(args)
        .arg("--kubeconfig")
        .arg(&plane.kubeconfig)
        .stdin(std::process::Stdio::null()))
}

/// Names of the objects `kubectl get <what>` lists (empty when none).
fn names(plane: &ControlPlane, args: &[&str]) -> Vec<String> {
    let mut full = vec!["get"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["-o", "name", "--ignore-not-found"]);
    plane
        .kubectl_ok(&full)
        .lines()
        .map(str::to_string)
        .collect()
}

/// A client for `plane` as its admin, for the stand-ins.
async fn client_for(plane: &ControlPlane) -> kube::Client {
    let flags = kubectl_gitops::connection::ConnectionFlags {
        kubeconfig: Some(plane.kubeconfig.clone()),
        request_timeout: "0".into(),
        ..Default::default()
    };
    flags.connect().await.expect("admin connection").client
}
