//! A wrong command line is a usage error: exit status 2, one clear line, and found before any
//! network call. Every case runs against a "cluster" that is a loopback socket counting the
//! connections it gets: a command that contacted it first would report the unreachable server
//! instead (or wait for it), and the count would not be zero.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::support::{control_plane, plugin_exe, run, stderr, stdout};

/// A socket that accepts connections, counts them, and never answers.
fn counting_server() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("its address").port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            counted.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    (port, connections)
}

/// Runs the plugin with `args` against the counting server and checks the whole outcome.
fn assert_usage_error(args: &[&str], expected_stderr: &str) {
    let (port, connections) = counting_server();
    let out = run(std::process::Command::new(plugin_exe("kubectl-gitops"))
        .args(args)
        .args(["--server", &format!("https://127.0.0.1:{port}")])
        .args(["--token", "not-used", "--request-timeout", "3s"])
        .arg("--certificate-authority")
        .arg(&control_plane().pki.serving_ca)
        .stdin(std::process::Stdio::null()));
    assert_eq!(
        (
            out.status.code(),
            stderr(&out).as_str(),
            stdout(&out).as_str()
        ),
        (Some(2), expected_stderr, ""),
        "kubectl gitops {args:?}"
    );
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "kubectl gitops {args:?} contacted the server before refusing its command line"
    );
}

#[test]
fn bootstrap_refuses_a_url_it_cannot_use_before_the_cluster() {
    assert_usage_error(
        &["bootstrap", "git", "--url", "ftp://example.com/x"],
        "error: invalid Git URL \"ftp://example.com/x\": the scheme \"ftp\" is not supported; use https, http, ssh or file\n",
    );
    assert_usage_error(
        &[
            "bootstrap",
            "git",
            "--url",
            "ssh://git@example.com/x",
            "--dry-run",
            "-o",
            "json",
        ],
        "error: --dry-run prints the files as they would be committed; -o formats the report of a real bootstrap: drop one of them\n",
    );
    assert_usage_error(
        &["bootstrap", "git", "--url", "https://example.com/x"],
        "error: invalid value \"https://example.com/x\" for --url: use ssh://user@host/path for SSH, or --token-auth with an https:// URL\n",
    );
}

#[test]
fn bootstrap_refuses_a_path_outside_the_repository_and_a_bad_branch() {
    assert_usage_error(
        &[
            "bootstrap",
            "git",
            "--url",
            "ssh://git@example.com/x",
            "--path",
            "../x",
        ],
        "error: invalid value \"../x\" for --path: it must name a folder inside the repository (relative, without . or .. parts, not in .git)\n",
    );
    assert_usage_error(
        &[
            "bootstrap",
            "git",
            "--url",
            "ssh://git@example.com/x",
            "--branch",
            "a..b",
        ],
        "error: invalid value \"a..b\" for --branch: not a valid Git branch name\n",
    );
}

#[test]
fn reconcile_refuses_force_for_kinds_that_do_not_take_it_before_the_cluster() {
    assert_usage_error(
        &["reconcile", "ks", "apps", "--force"],
        "error: --force and --reset apply to HelmReleases only, and apps is a Kustomization\n",
    );
    assert_usage_error(
        &["reconcile", "gitrepo", "--all", "--reset"],
        "error: --force and --reset apply to HelmReleases only, and every selected object is a GitRepository\n",
    );
    assert_usage_error(
        &["reconcile", "provider", "slack"],
        "error: Provider objects have no reconcile loop in Flux (they take effect when applied); nothing to reconcile\n",
    );
}

#[test]
fn malformed_targets_and_flag_combinations_are_refused_before_the_cluster() {
    assert_usage_error(
        &["reconcile", "ks/"],
        "error: \"ks/\" is not <kind>/<name>; give every object as <kind>/<name>, or a kind followed by names\n",
    );
    assert_usage_error(
        &["suspend", "ks", "a", "gitrepo/b"],
        "error: \"gitrepo/b\" mixes forms: after a kind, give plain names (or use <kind>/<name> for every object)\n",
    );
    assert_usage_error(
        &["resume", "ks", "apps", "--all"],
        "error: give either object names or --all/-l, not both\n",
    );
    assert_usage_error(
        &["reconcile"],
        "error: name the objects (<kind> <name>... or <kind>/<name>...), or select them with --all or -l\n",
    );
    assert_usage_error(
        &["status", "-A", "ks", "apps"],
        "error: named objects are looked up in one namespace (-n); drop -A, or give only a kind\n",
    );
    assert_usage_error(
        &["status", "deployment/web"],
        "error: unknown kind \"deployment\": Flux kinds are GitRepository (gitrepo), OCIRepository (ocirepo), HelmRepository (helmrepo), HelmChart (hc), Bucket (bucket), Kustomization (ks), HelmRelease (hr), Receiver (receiver), Alert (alert), Provider (provider), ImageRepository (imgrepo), ImagePolicy (imgpol), ImageUpdateAutomation (imgauto)\n",
    );
    assert_usage_error(
        &["reconcile", "ks", "apps", "--timeout", "soon"],
        "error: invalid value \"soon\" for --timeout: \"soon\" is not a duration like 30s, 5m or 1h30m\n",
    );
}
