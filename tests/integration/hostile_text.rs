//! Text from the cluster never reaches the terminal with control characters in it: a condition
//! message holding an OSC title change (`ESC ] 0; ... BEL`) and a screen clear (`ESC [2J`) is
//! shown with those characters made visible by `status`, `reconcile` and `resume`, while
//! `-o json` keeps the exact text. Objects of unexpected shapes (what the real CRDs let
//! through: right-to-left overrides, replacement characters, 32 KB messages, malformed
//! inventory ids, times that are not times, a 1 MB Event message) never panic `status`,
//! `tree`, `trace` or `events`.

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

/// Text that reorders what the terminal shows (RIGHT-TO-LEFT OVERRIDE) and what Go makes of
/// invalid UTF-8 (U+FFFD), long enough to reach the CRD's 32768-character limit on messages.
fn odd_message() -> String {
    let piece = "\u{202e}txt.exe\u{fffd}é\u{1b}[31m ";
    piece.repeat(32_000 / piece.chars().count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_shapes_the_api_lets_through_never_panic_any_command() {
    use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};

    let ns = fresh_namespace("hostile-shapes");
    create(&[kustomization(&ns, "odd", serde_json::json!({}))]);
    let client = admin_client().await;
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &ns, &kind("ks").api_resource());
    let message = odd_message();
    // Values the CRD's schema allows (it checks reasons against a pattern and statuses against
    // True/False/Unknown) that no controller writes.
    let status = serde_json::json!({"status": {
        "observedGeneration": 1,
        "lastHandledReconcileAt": "not a time \u{202e}",
        "lastAppliedRevision": format!("main@sha1:{}", "é".repeat(60)),
        "conditions": [
            {"type": "Ready", "status": "Unknown", "reason": "Odd", "message": message,
             "lastTransitionTime": "2024-01-01T00:00:00Z"},
            {"type": "Reconciling", "status": "False", "reason": "X", "message": "",
             "lastTransitionTime": "2024-01-01T00:00:00Z"},
        ],
        "inventory": {"entries": [
            {"id": "garbage", "v": "v1"},
            {"id": "", "v": ""},
            {"id": "____", "v": "v1"},
            {"id": format!("{ns}_\u{202e}x_apps_Deployment"), "v": "v1"},
        ]},
    }});
    api.patch_status("odd", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("the real CRD accepts these values");
    // 200 KB of annotation where a reconcile request goes.
    let annotation = serde_json::json!({"metadata": {"annotations": {
        "reconcile.fluxcd.io/requestedAt": "x\u{202e}".repeat(50_000)}}});
    api.patch("odd", &PatchParams::default(), &Patch::Merge(&annotation))
        .await
        .expect("annotate");
    // An Event about it with a 1 MB message.
    let events: Api<DynamicObject> = Api::namespaced_with(
        client,
        &ns,
        &kube::discovery::ApiResource::erase::<k8s_openapi::api::core::v1::Event>(&()),
    );
    let event: DynamicObject = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "odd.1", "namespace": ns},
        "involvedObject": {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                           "name": "odd", "namespace": ns},
        "type": "Warning", "reason": "\u{202e}Odd", "message": "\u{1b}]0;t\u{7}".repeat(1_000_000 / 7),
        "count": 1, "firstTimestamp": "2024-01-01T00:00:00Z", "lastTimestamp": "2024-01-01T00:00:00Z",
        "source": {"component": "kustomize-controller"}
    }))
    .unwrap();
    events
        .create(&PostParams::default(), &event)
        .await
        .expect("create Event");

    let commands: [&[&str]; 10] = [
        &["status", "-n", &ns],
        &["status", "-n", &ns, "-o", "wide"],
        &["status", "-n", &ns, "-o", "yaml"],
        &["tree", "ks/odd", "-n", &ns],
        &["tree", "ks/odd", "-n", &ns, "-o", "json"],
        &["trace", "-n", &ns, "ks/odd"],
        &["events", "-n", &ns],
        &["events", "-n", &ns, "-o", "json"],
        &["history", "ks/odd", "-n", &ns],
        &["history", "ks/odd", "-n", &ns, "-o", "json"],
    ];
    for args in commands {
        let out = plugin_async(control_plane(), args).await;
        let what = args.join(" ");
        assert_ne!(
            out.status.code(),
            Some(101),
            "{what} panicked: {}",
            stderr(&out)
        );
        assert!(
            !stderr(&out).contains("panicked"),
            "{what}: {}",
            stderr(&out)
        );
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{what}: {:?} {}",
            out.status,
            stderr(&out)
        );
        assert_no_control_characters(&stderr(&out), &what);
        if !args.contains(&"json") && !args.contains(&"yaml") {
            assert_no_control_characters(&stdout(&out), &what);
            assert!(
                !stdout(&out).contains('\u{202e}') && !stderr(&out).contains('\u{202e}'),
                "{what} shows a right-to-left override unescaped"
            );
        }
    }
    // Ready=Unknown and not in progress: Unknown.
    let wide = plugin_async(control_plane(), &["status", "-n", &ns, "-o", "json"]).await;
    let parsed: serde_json::Value = serde_json::from_slice(&wide.stdout).unwrap();
    assert_eq!(parsed["items"][0]["status"]["state"], "Unknown", "{parsed}");
    let tree = plugin_async(control_plane(), &["tree", "ks/odd", "-n", &ns]).await;
    assert!(
        stdout(&tree).contains("garbage") || stderr(&tree).contains("garbage"),
        "the malformed inventory id is named: {}{}",
        stdout(&tree),
        stderr(&tree)
    );
}
