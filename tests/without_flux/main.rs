//! Against a real control plane on which Flux was never installed (its own test binary, so its
//! own API server without the Flux CRDs): every command says so plainly.

#[path = "../support/mod.rs"]
mod support;

use support::{assert_clean_failure, control_plane, plugin, stderr, stdout};

#[test]
fn status_says_flux_is_not_installed_and_shows_nothing() {
    let out = plugin(control_plane(), &["status", "-A"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Flux is not installed in this cluster.\n");
    assert!(
        stderr(&out).contains("No Flux objects found in any namespace."),
        "{}",
        stderr(&out)
    );

    let out = plugin(control_plane(), &["status", "-o", "json"]);
    let list: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(list["items"], serde_json::json!([]));
}

#[test]
fn commands_on_flux_objects_fail_with_a_clear_message() {
    for args in [
        vec!["reconcile", "ks", "flux-system"],
        vec!["reconcile", "--all"],
        vec!["suspend", "gitrepo/flux-system"],
        vec!["status", "hr"],
    ] {
        let err = assert_clean_failure(&plugin(control_plane(), &args));
        assert!(
            err.contains("Flux is not installed in this cluster"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn version_reports_flux_as_not_installed() {
    let out = plugin(control_plane(), &["version", "-o", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(report["flux"], serde_json::json!({"installed": false}));
    assert!(stdout(&plugin(control_plane(), &["version"])).contains("flux: not installed"));
}
