//! kubectl's connection flags and KUBECONFIG rules, each proved against the real API server.

use std::path::Path;
use std::process::{Command, Output};

use kubectl_gitops::cluster::connection::ConnectionFlags;

use crate::support::processes::{free_port, temp_dir};
use crate::support::{
    assert_clean_failure, assert_usage_failure, control_plane, plugin_exe, run, stderr, stdout,
};

fn version(args: &[&str], kubeconfig_env: Option<&str>) -> Output {
    let mut command = Command::new(plugin_exe("kubectl-gitops"));
    command
        .env("HOME", temp_dir("home-"))
        .env_remove("KUBECONFIG");
    if let Some(value) = kubeconfig_env {
        command.env("KUBECONFIG", value);
    }
    run(command.args(["version", "-o", "json"]).args(args))
}

/// Asserts the plugin reached the test API server.
fn assert_reached(out: &Output) {
    assert!(out.status.success(), "stderr: {}", stderr(out));
    let report: serde_json::Value = serde_json::from_str(&stdout(out)).expect("JSON");
    assert_eq!(
        report["serverVersion"]["server"],
        control_plane().server.as_str()
    );
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    p(&path)
}

/// A kubeconfig with a reachable admin context `good`, a context `broken` (current) on a closed
/// port, and a context `weak` whose user has no rights.
fn multi_context_kubeconfig() -> String {
    let plane = control_plane();
    let (admin_cert, admin_key) = plane.pki.client_cert("admin-multi", Some("system:masters"));
    let (weak_cert, weak_key) = plane.pki.client_cert("weak-user", None);
    let dir = temp_dir("multi-");
    let text = format!(
        "apiVersion: v1
kind: Config
current-context: broken
clusters:
- name: testenv
  cluster:
    server: {server}
    certificate-authority: {ca}
- name: dead
  cluster:
    server: https://127.0.0.1:{dead}
    certificate-authority: {ca}
users:
- name: admin
  user:
    client-certificate: {admin_cert}
    client-key: {admin_key}
- name: weak
  user:
    client-certificate: {weak_cert}
    client-key: {weak_key}
contexts:
- name: good
  context: {{cluster: testenv, user: admin, namespace: team-a}}
- name: broken
  context: {{cluster: dead, user: admin}}
- name: weak
  context: {{cluster: testenv, user: weak}}
",
        server = plane.server,
        ca = p(&plane.pki.serving_ca),
        dead = free_port(),
        admin_cert = p(&admin_cert),
        admin_key = p(&admin_key),
        weak_cert = p(&weak_cert),
        weak_key = p(&weak_key),
    );
    write(&dir, "config", &text)
}

#[test]
fn kubeconfig_flag_uses_that_file_alone() {
    let dir = temp_dir("broken-env-");
    let broken = write(&dir, "broken", "not: [valid");
    let out = version(
        &["--kubeconfig", &p(&control_plane().kubeconfig)],
        Some(&broken),
    );
    assert_reached(&out);
}

#[test]
fn kubeconfig_env_merges_several_paths_first_wins_and_skips_missing_ones() {
    let plane = control_plane();
    let (cert, key) = plane.pki.client_cert("admin-merge", Some("system:masters"));
    let dir = temp_dir("merge-");
    // The first file defines the context "main"; the second defines it differently (pointing at
    // an undefined cluster) plus the cluster and user. First wins, so "main" must work.
    let first = write(
        &dir,
        "first",
        "apiVersion: v1\nkind: Config\ncurrent-context: main\ncontexts:\n- name: main\n  context: {cluster: c, user: u}\n",
    );
    let second = write(
        &dir,
        "second",
        &format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: other\ncontexts:\n- name: main\n  context: {{cluster: nowhere, user: u}}\nclusters:\n- name: c\n  cluster:\n    server: {}\n    certificate-authority: {}\nusers:\n- name: u\n  user:\n    client-certificate: {}\n    client-key: {}\n",
            plane.server,
            p(&plane.pki.serving_ca),
            p(&cert),
            p(&key)
        ),
    );
    let missing = p(&dir.join("missing"));
    let out = version(&[], Some(&format!("{first}:{missing}:{second}")));
    assert_reached(&out);
    // In the other order the second file's "main" wins, and its cluster does not exist.
    let out = version(&[], Some(&format!("{second}:{first}")));
    let err = assert_clean_failure(&out);
    assert!(
        err.contains("current-context \"other\" is not defined")
            || err.contains("cluster \"nowhere\""),
        "{err}"
    );
}

#[test]
fn context_cluster_and_user_flags_select_kubeconfig_entries() {
    let kubeconfig = multi_context_kubeconfig();
    let out = version(&["--kubeconfig", &kubeconfig], None);
    let err = assert_clean_failure(&out);
    assert!(
        err.contains("cannot reach"),
        "the current context is the broken one: {err}"
    );

    assert_reached(&version(
        &["--kubeconfig", &kubeconfig, "--context", "good"],
        None,
    ));
    assert_reached(&version(
        &["--kubeconfig", &kubeconfig, "--cluster", "testenv"],
        None,
    ));

    let out = version(&["--kubeconfig", &kubeconfig, "--context", "weak"], None);
    assert!(assert_clean_failure(&out).contains("forbidden"));
    assert_reached(&version(
        &[
            "--kubeconfig",
            &kubeconfig,
            "--context",
            "weak",
            "--user",
            "admin",
        ],
        None,
    ));

    let out = version(&["--kubeconfig", &kubeconfig, "--user", "ghost"], None);
    assert!(assert_clean_failure(&out).contains("user \"ghost\" is not defined"));
    let out = version(&["--kubeconfig", &kubeconfig, "--cluster", "ghost"], None);
    assert!(assert_clean_failure(&out).contains("cluster \"ghost\" is not defined"));
}

#[tokio::test]
async fn namespace_comes_from_the_flag_else_the_context_else_default() {
    let kubeconfig = multi_context_kubeconfig();
    let flags = |context: &str, namespace: Option<&str>| ConnectionFlags {
        kubeconfig: Some(kubeconfig.clone().into()),
        context: Some(context.to_string()),
        namespace: namespace.map(str::to_string),
        request_timeout: "0".into(),
        ..ConnectionFlags::default()
    };
    assert_eq!(
        flags("good", None).connect().await.unwrap().namespace,
        "team-a"
    );
    assert_eq!(
        flags("good", Some("apps"))
            .connect()
            .await
            .unwrap()
            .namespace,
        "apps"
    );
    assert_eq!(
        flags("weak", None).connect().await.unwrap().namespace,
        "default"
    );
}

#[test]
fn server_and_token_flags_work_without_any_kubeconfig() {
    let plane = control_plane();
    let ca = p(&plane.pki.serving_ca);
    assert_reached(&version(
        &[
            "--server",
            &plane.server,
            "--token",
            &plane.admin_token,
            "--certificate-authority",
            &ca,
        ],
        None,
    ));
}

#[test]
fn insecure_skip_tls_verify_accepts_a_server_without_a_known_ca() {
    let plane = control_plane();
    let base = [
        "--server",
        plane.server.as_str(),
        "--token",
        plane.admin_token.as_str(),
    ];
    let err = assert_clean_failure(&version(&base, None));
    assert!(err.contains("TLS"), "{err}");
    let mut insecure = base.to_vec();
    insecure.push("--insecure-skip-tls-verify");
    assert_reached(&version(&insecure, None));
    let ca = p(&plane.pki.serving_ca);
    insecure.extend(["--certificate-authority", ca.as_str()]);
    let err = assert_usage_failure(&version(&insecure, None));
    assert!(
        err.contains("cannot be combined with --certificate-authority"),
        "{err}"
    );
}

#[test]
fn client_certificate_flags_authenticate() {
    let plane = control_plane();
    let (cert, key) = plane.pki.client_cert("admin-flags", Some("system:masters"));
    assert_reached(&version(
        &[
            "--server",
            &plane.server,
            "--certificate-authority",
            &p(&plane.pki.serving_ca),
            "--client-certificate",
            &p(&cert),
            "--client-key",
            &p(&key),
        ],
        None,
    ));
}

#[test]
fn impersonation_flags_act_as_another_user_and_group() {
    let plane = control_plane();
    let kubeconfig = p(&plane.kubeconfig);
    let err = assert_clean_failure(&version(
        &["--kubeconfig", &kubeconfig, "--as", "someone-else"],
        None,
    ));
    assert!(err.contains("user \"someone-else\""), "{err}");
    assert_reached(&version(
        &[
            "--kubeconfig",
            &kubeconfig,
            "--as",
            "someone-else",
            "--as-group",
            "system:masters",
        ],
        None,
    ));
}

#[test]
fn exec_credential_plugins_supply_credentials() {
    let plane = control_plane();
    let dir = temp_dir("exec-");
    let script = dir.join("credential-plugin.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"{}\"}}}}'\n",
            plane.admin_token
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let kubeconfig = write(
        &dir,
        "config",
        &format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: exec\nclusters:\n- name: c\n  cluster:\n    server: {}\n    certificate-authority: {}\nusers:\n- name: u\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: {}\n      interactiveMode: Never\ncontexts:\n- name: exec\n  context: {{cluster: c, user: u}}\n",
            plane.server,
            p(&plane.pki.serving_ca),
            p(&script)
        ),
    );
    assert_reached(&version(&["--kubeconfig", &kubeconfig], None));
}
