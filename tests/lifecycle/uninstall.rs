//! `kubectl gitops uninstall` on a real Flux install (the release's install.yaml) with Flux
//! objects that carry finalizers, as the controllers leave them.

use std::time::{Duration, Instant};

use crate::names;
use crate::support::control_plane::ControlPlane;
use crate::support::{assert_clean_failure, plugin, stderr, stdout};

const FINALIZER: &str = "finalizers.fluxcd.io";

fn flux_with_objects() -> ControlPlane {
    let plane = ControlPlane::start_private();
    plane.install_flux_with_cli();
    plane.kubectl_ok(&["create", "namespace", "apps"]);
    let dir = crate::support::processes::temp_dir("objects-");
    let file = dir.join("objects.json");
    let objects = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
         "metadata": {"name": "flux-system", "namespace": "flux-system", "finalizers": [FINALIZER]},
         "spec": {"interval": "1m", "url": "https://example.com/repo", "ref": {"branch": "main"}}},
        {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
         "metadata": {"name": "apps", "namespace": "apps", "finalizers": [FINALIZER]},
         "spec": {"interval": "10m", "path": "./apps", "prune": true,
                  "sourceRef": {"kind": "GitRepository", "name": "flux-system", "namespace": "flux-system"}}},
    ]});
    std::fs::write(&file, objects.to_string()).expect("write objects");
    plane.kubectl_ok(&["apply", "-f", &file.display().to_string()]);
    plane
}

fn flux_crds(plane: &ControlPlane) -> Vec<String> {
    names(plane, &["crd", "-l", "app.kubernetes.io/part-of=flux"])
}

#[test]
fn uninstall_removes_flux_without_leaving_anything_on_finalizers() {
    let plane = flux_with_objects();
    assert_eq!(
        flux_crds(&plane).len(),
        15,
        "the release's CRDs are installed"
    );

    // Without a terminal and without --yes nothing is asked and nothing is removed.
    let err = assert_clean_failure(&plugin(&plane, &["uninstall"]));
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(flux_crds(&plane).len(), 15);

    // A dry run lists what it would do and changes nothing.
    let out = plugin(&plane, &["uninstall", "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let progress = stderr(&out);
    for expected in [
        "Deployment/flux-system/source-controller deleted",
        "ClusterRole/crd-controller-flux-system deleted",
        "Kustomization/apps/apps finalizers removed",
        "CustomResourceDefinition/gitrepositories.source.toolkit.fluxcd.io deleted",
        "Namespace/flux-system deleted",
        "(dry run)",
    ] {
        assert!(
            progress.contains(expected),
            "{expected:?} missing:\n{progress}"
        );
    }
    assert!(
        stdout(&out).starts_with("would remove "),
        "{}",
        stdout(&out)
    );
    assert_eq!(flux_crds(&plane).len(), 15);
    assert_eq!(
        plane.kubectl_ok(&[
            "get",
            "ks",
            "apps",
            "-n",
            "apps",
            "-o",
            "jsonpath={.metadata.finalizers}"
        ]),
        format!("[\"{FINALIZER}\"]")
    );

    plane.start_controller_manager();
    let out = plugin(&plane, &["uninstall", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The CRDs are gone for good (not stuck Terminating on objects with finalizers).
    let deadline = Instant::now() + Duration::from_secs(30);
    while !flux_crds(&plane).is_empty() {
        assert!(
            Instant::now() < deadline,
            "CRDs left: {:?}",
            flux_crds(&plane)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for kinds in [
        [
            "deployments,services,serviceaccounts,networkpolicies",
            "-n",
            "flux-system",
        ],
        [
            "clusterroles,clusterrolebindings",
            "-l",
            "app.kubernetes.io/part-of=flux",
        ],
    ] {
        let mut args = vec![kinds[0], "-l", "app.kubernetes.io/part-of=flux"];
        if kinds[1] == "-n" {
            args.extend_from_slice(&["-n", kinds[2]]);
        }
        assert_eq!(names(&plane, &args), Vec::<String>::new(), "{kinds:?}");
    }
    // With the namespace controller running (kube-controller-manager), the namespace is
    // really gone: nothing in it hangs on a finalizer. The user's namespace stays.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !names(&plane, &["ns", "flux-system"]).is_empty() {
        assert!(
            Instant::now() < deadline,
            "namespace flux-system still there: {}",
            plane.kubectl_ok(&["get", "ns", "flux-system", "-o", "yaml"])
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(names(&plane, &["ns", "apps"]), ["namespace/apps"]);
}

#[test]
fn keep_namespace_keeps_it() {
    let plane = flux_with_objects();
    let out = plugin(
        &plane.kubeconfig,
        &["uninstall", "--yes", "--keep-namespace"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("namespace flux-system kept"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        plane.kubectl_ok(&["get", "ns", "flux-system", "-o", "jsonpath={.status.phase}"]),
        "Active"
    );
}

/// Ctrl-C during the deletions: exit 130 and the interruption line names the last removal
/// that was made (and printed), not "nothing was changed".
#[test]
fn an_interrupted_uninstall_names_the_last_removal() {
    use crate::support::streamed::Streamed;
    let plane = flux_with_objects();
    let mut run = Streamed::spawn(crate::support::plugin_command(
        &plane.kubeconfig,
        &["uninstall", "--yes"],
    ));
    run.wait_for_line(Duration::from_secs(60), |line| line.ends_with(" deleted"));
    run.signal(libc::SIGINT);
    let ended = run.finish(Duration::from_secs(30));
    assert_eq!(ended.status.code(), Some(130), "{}", ended.stderr());
    let lines: Vec<&str> = ended.lines.iter().map(|(_, l)| l.as_str()).collect();
    let interrupted = lines
        .iter()
        .find(|l| l.starts_with("interrupted while "))
        .unwrap_or_else(|| panic!("no interruption line:\n{}", ended.stderr()));
    let (_, last) = interrupted
        .split_once("; nothing was changed after ")
        .unwrap_or_else(|| panic!("the line names no change: {interrupted}"));
    assert!(
        last.ends_with(" deleted") || last.ends_with(" finalizers removed"),
        "{interrupted}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with(last) && !l.starts_with("interrupted")),
        "the named change was reported as done:\n{}",
        ended.stderr()
    );
}
