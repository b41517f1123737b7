//! Install, bootstrap, check and uninstall: commands that change cluster-wide state (CRDs,
//! cluster roles), so every test here starts a control plane of its own.

#[path = "../support/mod.rs"]
mod support;

mod bootstrap;
mod bootstrap_forges;
mod bootstrap_keys;
mod bootstrap_signing;
mod check;
mod faults;
mod install;
mod interop;
mod interrupts;
mod least_privilege;
mod secrets_in_output;
mod uninstall;

use std::process::Output;

use support::control_plane::ControlPlane;

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
    support::admin_client_for(&plane.kubeconfig).await
}

/// Like `assert_clean_failure` for commands that report progress on stderr first: exit 1, the
/// last line is the one clear error, no panic. Returns that line.
fn assert_failed_after_progress(output: &Output) -> String {
    let err = support::stderr(output);
    assert_eq!(
        output.status.code(),
        Some(1),
        "expected exit 1; stderr: {err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
    let last = err.lines().last().unwrap_or_default().to_string();
    assert!(
        last.starts_with("error: "),
        "last stderr line should be the error: {err}"
    );
    last
}
