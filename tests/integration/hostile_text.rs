//! Text from the cluster never reaches the terminal with control characters in it: a condition
//! message holding an OSC title change (`ESC ] 0; ... BEL`) and a screen clear (`ESC [2J`) is
//! shown with those characters made visible by `status`, `reconcile` and `resume`, while
//! `-o json` keeps the exact text.

use crate::flux_objects::*;
use crate::support::fake_flux_controller::fake_flux_controller;
use crate::support::{admin_client, control_plane, fresh_namespace, plugin_async, stderr, stdout};

const HOSTILE: &str = "build failed \u{1b}]0;owned\u{7}\u{1b}[2J";
const SHOWN: &str = "build failed \\u{1b}]0;owned\\u{7}\\u{1b}[2J";

fn assert_no_control_characters(text: &str, what: &str) {
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "{what} carries control characters: {text:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_hostile_messages_harmlessly_and_json_keeps_them() {
    let ns = fresh_namespace("hostile-status");
    create(&[kustomization(&ns, "apps", serde_json::json!({}))]);
    set_status("ks", &ns, "apps", fail("BuildFailed", HOSTILE)).await;
    for format in ["table", "wide", "yaml", "name"] {
        let out = plugin_async(control_plane(), &["status", "-n", &ns, "-o", format]).await;
        assert!(out.status.success(), "{}", stderr(&out));
        assert_no_control_characters(&stdout(&out), format);
        assert_no_control_characters(&stderr(&out), format);
    }
    let wide = plugin_async(control_plane(), &["status", "-n", &ns, "-o", "wide"]).await;
    assert!(stdout(&wide).contains(SHOWN), "{}", stdout(&wide));
    let json = plugin_async(control_plane(), &["status", "-n", &ns, "-o", "json"]).await;
    assert_no_control_characters(&stdout(&json), "json");
    let parsed: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(parsed["items"][0]["status"]["message"], HOSTILE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_and_resume_show_hostile_messages_harmlessly() {
    let ns = fresh_namespace("hostile-rec");
    create(&[kustomization(&ns, "apps", serde_json::json!({}))]);
    let _controller = fake_flux_controller(
        admin_client().await,
        kind("ks"),
        &ns,
        "apps",
        fail("BuildFailed", HOSTILE),
        SHORT,
    );
    let out = plugin_async(control_plane(), &["reconcile", "ks", "apps", "-n", &ns]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_no_control_characters(&stderr(&out), "reconcile stderr");
    assert!(stderr(&out).contains(SHOWN), "{}", stderr(&out));

    let out = plugin_async(control_plane(), &["suspend", "ks", "apps", "-n", &ns]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = plugin_async(control_plane(), &["resume", "ks", "apps", "-n", &ns]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_no_control_characters(&stderr(&out), "resume stderr");
    assert!(stderr(&out).contains(SHOWN), "{}", stderr(&out));
}
