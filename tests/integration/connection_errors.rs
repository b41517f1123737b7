//! Every way a connection can fail gives one clear message and exit 1, never a panic.

use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::certs::unrelated_ca;
use crate::support::control_plane::write_kubeconfig;
use crate::support::processes::{free_port, temp_dir};
use crate::support::{assert_clean_failure, assert_usage_failure, control_plane, plugin_exe, run};

/// `kubectl-gitops version` with a clean environment (no ~/.kube/config, no KUBECONFIG).
fn version(args: &[&str]) -> Command {
    let mut command = Command::new(plugin_exe("kubectl-gitops"));
    command
        .env("HOME", temp_dir("home-"))
        .env_remove("KUBECONFIG")
        .arg("version")
        .args(args);
    command
}

fn path_arg(path: &std::path::Path) -> String {
    path.display().to_string()
}

#[test]
fn missing_kubeconfig_file_is_named() {
    let out = run(&mut version(&["--kubeconfig", "/nonexistent/kubeconfig"]));
    let err = assert_clean_failure(&out);
    assert!(
        err.contains("kubeconfig /nonexistent/kubeconfig does not exist"),
        "{err}"
    );
}

#[test]
fn unparsable_kubeconfig_is_named_with_the_cause() {
    let dir = temp_dir("bad-kubeconfig-");
    let file = dir.join("config");
    std::fs::write(&file, "clusters: [this is: not: valid\n").unwrap();
    let out = run(&mut version(&["--kubeconfig", &path_arg(&file)]));
    let err = assert_clean_failure(&out);
    assert!(
        err.contains(&format!("kubeconfig {} could not be read", file.display())),
        "{err}"
    );
}

#[test]
fn unknown_context_lists_the_defined_ones() {
    let plane = control_plane();
    let out = run(&mut version(&[
        "--kubeconfig",
        &path_arg(&plane.kubeconfig),
        "--context",
        "nope",
    ]));
    let err = assert_clean_failure(&out);
    assert!(err.contains("context \"nope\" is not defined"), "{err}");
    assert!(err.contains("defined: testenv"), "{err}");
}

#[test]
fn unreachable_server_is_named_and_fails_at_once() {
    let plane = control_plane();
    let port = free_port(); // nothing listens there
    let dir = temp_dir("unreachable-");
    let kubeconfig = dir.join("config");
    let (cert, key) = plane
        .pki
        .client_cert("admin-unreachable", Some("system:masters"));
    write_kubeconfig(
        &kubeconfig,
        &format!("https://127.0.0.1:{port}"),
        &plane.pki.serving_ca,
        &cert,
        &key,
        "default",
    );
    let started = Instant::now();
    let out = run(&mut version(&[
        "--kubeconfig",
        &path_arg(&kubeconfig),
        "--request-timeout",
        "5s",
    ]));
    let err = assert_clean_failure(&out);
    assert!(
        err.contains(&format!(
            "cannot reach the Kubernetes API server at https://127.0.0.1:{port}"
        )),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn a_server_that_never_answers_fails_within_the_request_timeout() {
    // A loopback socket that accepts connections and never answers: a stalled server.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let plane = control_plane();
    let started = Instant::now();
    let out = run(&mut version(&[
        "--server",
        &format!("https://127.0.0.1:{port}"),
        "--certificate-authority",
        &path_arg(&plane.pki.serving_ca),
        "--token",
        "irrelevant",
        "--request-timeout",
        "1s",
    ]));
    let err = assert_clean_failure(&out);
    assert!(
        err.contains(&format!(
            "the Kubernetes API server at https://127.0.0.1:{port} did not answer within 1s"
        )),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn tls_failure_points_at_the_certificate_authority() {
    let plane = control_plane();
    let dir = temp_dir("tls-");
    let kubeconfig = dir.join("config");
    let (cert, key) = plane.pki.client_cert("admin-tls", Some("system:masters"));
    write_kubeconfig(
        &kubeconfig,
        &plane.server,
        &unrelated_ca(&dir),
        &cert,
        &key,
        "default",
    );
    let out = run(&mut version(&["--kubeconfig", &path_arg(&kubeconfig)]));
    let err = assert_clean_failure(&out);
    assert!(
        err.contains(&format!(
            "TLS with the Kubernetes API server at {} failed",
            plane.server
        )),
        "{err}"
    );
    assert!(err.to_lowercase().contains("certificate"), "{err}");
}

#[test]
fn rejected_credentials_are_a_401_with_a_next_step() {
    let plane = control_plane();
    let out = run(&mut version(&[
        "--server",
        &plane.server,
        "--certificate-authority",
        &path_arg(&plane.pki.serving_ca),
        "--token",
        "not-a-valid-token",
    ]));
    let err = assert_clean_failure(&out);
    assert!(
        err.contains("rejected the credentials (401 Unauthorized) when trying to get /version"),
        "{err}"
    );
    assert!(
        !err.contains("not-a-valid-token"),
        "the token must not be echoed: {err}"
    );
}

#[test]
fn an_invalid_request_timeout_is_refused() {
    let plane = control_plane();
    let out = run(&mut version(&[
        "--kubeconfig",
        &path_arg(&plane.kubeconfig),
        "--request-timeout",
        "soon",
    ]));
    let err = assert_usage_failure(&out);
    assert!(
        err.contains("invalid value \"soon\" for --request-timeout"),
        "{err}"
    );
}

#[test]
fn no_kubeconfig_at_all_says_where_it_looked() {
    let out = run(&mut version(&[]));
    let err = assert_clean_failure(&out);
    assert!(err.contains("no kubeconfig found"), "{err}");
    assert!(err.contains(".kube/config"), "{err}");
}
