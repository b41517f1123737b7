//! Least privilege: each command group works for a user holding exactly the README's
//! ClusterRole for it (the files in docs/rbac/, applied as they are), and a user with less
//! gets the forbidden message that names the verb, resource, namespace and the role to ask for.
//! The install group (gitops-admin) is in tests/lifecycle/least_privilege.rs: it changes
//! cluster-wide state.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use crate::flux_objects::{
    create, git_repository, jsonpath, kind, kustomization, set_status, succeed,
};
use crate::rollback::Fixture;
use crate::support::control_plane::random_hex;
use crate::support::fake_flux_controller::fake_flux_controller;
use crate::support::{
    admin_client, apply_object, assert_clean_failure, control_plane, fresh_namespace, plugin_async,
    plugin_command, run_async, stderr, stdout,
};

/// docs/rbac/, the folder the README tells cluster admins to apply.
fn rbac_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/rbac")
}

/// Applies the plugin's ClusterRoles once per test process (server-side, so a re-run on the
/// same control plane simply agrees).
fn apply_roles() {
    static APPLIED: OnceLock<()> = OnceLock::new();
    APPLIED.get_or_init(|| {
        control_plane().kubectl_ok(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=least-privilege-test",
            "-f",
            &rbac_dir().display().to_string(),
        ]);
    });
}

/// A kubeconfig for a new client-certificate user `<prefix>-<random>` holding each of
/// `roles` through a RoleBinding in `namespace` (the README's per-namespace binding). The
/// roles are the plugin's ClusterRoles or built-in ones (`edit`).
fn user_with(prefix: &str, roles: &[(&str, &str)], namespace: &str) -> (String, PathBuf) {
    apply_roles();
    let user = format!("{prefix}-{}", &random_hex()[..6]);
    for (role, bound_in) in roles {
        control_plane().kubectl_ok(&[
            "create",
            "rolebinding",
            &format!("{user}-{role}"),
            "-n",
            bound_in,
            &format!("--clusterrole={role}"),
            &format!("--user={user}"),
        ]);
    }
    let kubeconfig = control_plane().kubeconfig_for(&user, None, namespace);
    (user, kubeconfig)
}

/// The forbidden message's fixed parts: who, what, where, and which role grants it.
fn assert_forbidden(err: &str, user: &str, what: &str, role: &str) {
    assert!(err.starts_with("error: forbidden: "), "{err}");
    assert!(
        err.contains(&format!("user \"{user}\" cannot {what}")),
        "names the user, verb, resource and namespace: {err}"
    );
    assert!(
        err.contains(&format!(
            "the ClusterRole {role} grants it (docs/rbac/{role}.yaml; README, \"Least privilege\"): ask a cluster admin to bind it to you"
        )),
        "names the role: {err}"
    );
}

/// A Kustomization `apps` and its GitRepository `source`, both Ready, in a fresh namespace.
async fn ready_kustomization(prefix: &str) -> String {
    let ns = fresh_namespace(prefix);
    create(&[
        git_repository(&ns, "source"),
        kustomization(&ns, "apps", serde_json::json!({})),
    ]);
    set_status("ks", &ns, "apps", succeed()).await;
    set_status("gitrepo", &ns, "source", succeed()).await;
    ns
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_commands_work_with_gitops_view_and_name_it_without() {
    let ns = ready_kustomization("lp-view").await;
    // An object apps applied, for trace to follow back to its source.
    apply_object(serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": ns, "labels": {
            "kustomize.toolkit.fluxcd.io/name": "apps",
            "kustomize.toolkit.fluxcd.io/namespace": ns}},
        "data": {"mode": "a"}
    }));
    let (viewer_name, viewer) = user_with("viewer", &[("gitops-view", &ns)], &ns);
    let folder = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        folder.path().join("settings.yaml"),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {ns}\ndata:\n  mode: a\n"
        ),
    )
    .expect("write");
    let path = folder.path().display().to_string();
    let commands: [&[&str]; 6] = [
        &["status"],
        &["status", "ks/apps"],
        &["tree", "ks", "apps"],
        &["trace", "cm/settings"],
        &["events"],
        &["build", "ks", "apps", "--path", &path],
    ];
    for args in commands {
        let mut command = plugin_command(&viewer, args);
        command.env("PATH", control_plane().assets.path_with_kubectl());
        let out = run_async(command).await;
        assert!(
            out.status.success(),
            "{args:?} as gitops-view: {}",
            stderr(&out)
        );
        assert!(
            !stderr(&out).contains("forbidden"),
            "{args:?} as gitops-view: {}",
            stderr(&out)
        );
    }
    let status = plugin_async(&viewer, &["status", "ks/apps"]).await;
    assert!(stdout(&status).contains("apps"), "{}", stdout(&status));

    // With no role at all: the first read is refused, and the message names gitops-view.
    let (nobody, no_rights) = user_with("norights", &[], &ns);
    let err = assert_clean_failure(&plugin_async(&no_rights, &["status", "ks/apps"]).await);
    assert_forbidden(
        &err,
        &nobody,
        &format!("get kustomizations.kustomize.toolkit.fluxcd.io \"apps\" in namespace \"{ns}\""),
        "gitops-view",
    );

    // Reading is not operating: reconcile, suspend and resume name gitops-operate.
    for verb in ["reconcile", "suspend", "resume"] {
        let err = assert_clean_failure(&plugin_async(&viewer, &[verb, "ks", "apps"]).await);
        assert_forbidden(
            &err,
            &viewer_name,
            &format!(
                "patch kustomizations.kustomize.toolkit.fluxcd.io \"apps\" in namespace \"{ns}\""
            ),
            "gitops-operate",
        );
    }
    assert_eq!(
        jsonpath("kustomization", &ns, "apps", "{.spec.suspend}"),
        ""
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operate_commands_work_with_gitops_operate() {
    let ns = ready_kustomization("lp-operate").await;
    let (_, operator) = user_with("operator", &[("gitops-operate", &ns)], &ns);

    let out = plugin_async(&operator, &["suspend", "ks", "apps"]).await;
    assert!(out.status.success(), "suspend: {}", stderr(&out));
    assert_eq!(
        jsonpath("kustomization", &ns, "apps", "{.spec.suspend}"),
        "true"
    );

    let _controller = fake_flux_controller(
        admin_client().await,
        kind("ks"),
        &ns,
        "apps",
        succeed(),
        Duration::from_millis(300),
    );
    let out = plugin_async(&operator, &["resume", "ks", "apps", "--timeout", "60s"]).await;
    assert!(out.status.success(), "resume: {}", stderr(&out));
    assert_eq!(
        jsonpath("kustomization", &ns, "apps", "{.spec.suspend}"),
        "false"
    );
    let out = plugin_async(&operator, &["reconcile", "ks", "apps", "--timeout", "60s"]).await;
    assert!(out.status.success(), "reconcile: {}", stderr(&out));
    assert!(
        stdout(&out).contains("applied revision"),
        "{}",
        stdout(&out)
    );
}

/// history reads like the other read-only commands. rollback pushes with the user's own Git
/// credentials, then reconciles the source and the Kustomization (gitops-operate); with less,
/// it refuses before pushing. (Its preview's dry-runs of the applied objects need more, see
/// the README; without those rights the preview lists them as failed and goes on.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_and_rollback_work_with_the_roles_the_readme_names() {
    let f = Fixture::new("lp-rollback").await;
    let (viewer_name, viewer) = user_with("hist-viewer", &[("gitops-view", &f.ns)], &f.ns);
    let out = f.run_as(&viewer, "history", &[]).await;
    assert!(out.status.success(), "history: {}", stderr(&out));
    for commit in [&f.v1, &f.v2] {
        assert!(stdout(&out).contains(&commit[..7]), "{}", stdout(&out));
    }

    // gitops-view alone: refused before anything is pushed.
    let out = f
        .run_as(&viewer, "rollback", &["--to", &f.v1, "--yes"])
        .await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert_forbidden(
        last,
        &viewer_name,
        &format!(
            "patch gitrepositories.source.toolkit.fluxcd.io \"source\" in namespace \"{}\"",
            f.ns
        ),
        "gitops-operate",
    );
    assert_eq!(f.head(), f.v2, "nothing pushed");

    let (_, operator) = user_with("rollbacker", &[("gitops-operate", &f.ns)], &f.ns);
    let _controllers = f.controllers_at_branch_head().await;
    let out = f
        .run_as(
            &operator,
            "rollback",
            &["--to", &f.v1, "--yes", "--timeout", "60s"],
        )
        .await;
    assert!(
        out.status.success(),
        "rollback as gitops-operate: {}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert_ne!(f.head(), f.v2, "the restore commit was pushed");
}
