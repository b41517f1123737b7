//! kubectl finds and runs the plugins: the umbrella alone, a standalone executable (which runs
//! the umbrella installed next to it), both.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::processes::temp_dir;
use crate::support::{control_plane, plugin_exe, run, stderr, stdout};

/// A PATH folder holding copies of the named executables of this package.
fn plugin_dir(names: &[&str]) -> PathBuf {
    let dir = temp_dir("plugins-");
    for name in names {
        std::fs::copy(plugin_exe(name), dir.join(name))
            .unwrap_or_else(|e| panic!("copy {name}: {e}"));
    }
    dir
}

/// The real kubectl with only `dir` on PATH.
fn kubectl_with(dir: &Path, args: &[&str]) -> Output {
    run(Command::new(control_plane().assets.kubectl())
        .env("PATH", dir)
        .env("HOME", temp_dir("home-"))
        .env_remove("KUBECONFIG")
        .args(args))
}

fn direct(args: &[&str]) -> Output {
    run(Command::new(plugin_exe("kubectl-gitops")).args(args))
}

#[test]
fn kubectl_runs_the_umbrella_and_the_standalone_plugin_with_the_same_output() {
    let expected = direct(&["version", "--client"]);
    assert!(expected.status.success(), "{}", stderr(&expected));
    assert!(
        stdout(&expected).starts_with(&format!("kubectl-gitops: v{}", env!("CARGO_PKG_VERSION")))
    );

    let umbrella_only = kubectl_with(
        &plugin_dir(&["kubectl-gitops"]),
        &["gitops", "version", "--client"],
    );
    assert!(umbrella_only.status.success(), "{}", stderr(&umbrella_only));
    assert_eq!(stdout(&umbrella_only), stdout(&expected));

    // kubectl prefers the standalone executable, which runs the umbrella installed next to it.
    let both = kubectl_with(
        &plugin_dir(&["kubectl-gitops", "kubectl-gitops-version"]),
        &["gitops", "version", "--client", "-o", "json"],
    );
    assert!(both.status.success(), "{}", stderr(&both));
    assert_eq!(
        stdout(&both),
        stdout(&direct(&["version", "--client", "-o", "json"]))
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&both)).unwrap();
    assert!(
        report.get("serverVersion").is_none(),
        "--client must not contact a server"
    );
}

#[test]
fn a_standalone_executable_without_the_umbrella_names_the_file_it_needs() {
    // Alone on PATH, kubectl runs the standalone executable, which cannot answer by itself.
    let dir = plugin_dir(&["kubectl-gitops-version", "kubectl_complete-gitops-version"]);
    let missing = |name: &str| {
        format!(
            "error: {name} needs the umbrella executable {} next to it, which cannot be run: \
             No such file or directory (os error 2); install both with \
             `cargo install --locked --path .` from the kubectl-gitops sources\n",
            dir.join("kubectl-gitops").display()
        )
    };
    let out = kubectl_with(&dir, &["gitops", "version", "--client"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert_eq!(stderr(&out), missing("kubectl-gitops-version"));

    // A completion helper still ends its answer with a directive: Cobra's error directive.
    let out = run(Command::new(dir.join("kubectl_complete-gitops-version")).arg("--cl"));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stdout(&out), ":1\n");
    assert_eq!(stderr(&out), missing("kubectl_complete-gitops-version"));
}

#[test]
fn a_standalone_executable_reached_through_a_symbolic_link_finds_the_umbrella() {
    let dir = temp_dir("plugins-linked-");
    let link = dir.join("kubectl-gitops-version");
    std::os::unix::fs::symlink(plugin_exe("kubectl-gitops-version"), &link).unwrap();
    let out = run(Command::new(&link).arg("--client"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), stdout(&direct(&["version", "--client"])));
}

#[test]
fn standalone_and_umbrella_fail_identically() {
    for args in [vec!["--no-such-flag"], vec!["-o", "xml"]] {
        let umbrella = direct(&[&["version"], args.as_slice()].concat());
        let standalone = run(Command::new(plugin_exe("kubectl-gitops-version")).args(&args));
        assert_ne!(umbrella.status.code(), Some(0));
        assert_eq!(umbrella.status.code(), standalone.status.code(), "{args:?}");
        assert_eq!(stderr(&umbrella), stderr(&standalone), "{args:?}");
    }
    let cases: [(&str, &[&str], &str); 4] = [
        (
            "bootstrap",
            &["git", "--url", "ftp://example.com/repo", "--dry-run"],
            "scheme \"ftp\" is not supported",
        ),
        (
            "status",
            &["--kubeconfig", "/nonexistent/config"],
            "does not exist",
        ),
        (
            "reconcile",
            &["ks", "apps", "--kubeconfig", "/nonexistent/config"],
            "does not exist",
        ),
        ("suspend", &["--bogus"], "unexpected argument"),
    ];
    for (command, args, expected) in cases {
        let umbrella = direct(&[&[command], args].concat());
        let standalone =
            run(Command::new(plugin_exe(&format!("kubectl-gitops-{command}"))).args(args));
        assert_ne!(umbrella.status.code(), Some(0), "{command} {args:?}");
        assert_eq!(
            umbrella.status.code(),
            standalone.status.code(),
            "{command} {args:?}"
        );
        assert!(
            stderr(&umbrella).contains(expected),
            "{command}: {}",
            stderr(&umbrella)
        );
        assert_eq!(stderr(&umbrella), stderr(&standalone), "{command} {args:?}");
    }
    let help_umbrella = direct(&["version", "--help"]);
    let help_standalone = run(Command::new(plugin_exe("kubectl-gitops-version")).arg("--help"));
    assert_eq!(stdout(&help_umbrella), stdout(&help_standalone));
    assert!(stdout(&help_umbrella).contains("Usage: kubectl gitops version"));
}

#[test]
fn kubectl_plugin_list_shows_every_executable_without_warnings() {
    let names = [
        "kubectl-gitops",
        "kubectl-gitops-version",
        "kubectl-gitops-status",
        "kubectl-gitops-tree",
        "kubectl-gitops-reconcile",
        "kubectl-gitops-bootstrap",
        "kubectl-gitops-suspend",
        "kubectl-gitops-resume",
        "kubectl-gitops-install",
        "kubectl-gitops-uninstall",
        "kubectl-gitops-check",
        "kubectl-gitops-events",
        "kubectl-gitops-trace",
        "kubectl-gitops-build",
        "kubectl-gitops-diff",
        "kubectl-gitops-history",
        "kubectl-gitops-rollback",
    ];
    let dir = plugin_dir(&names);
    let out = kubectl_with(&dir, &["plugin", "list"]);
    assert!(
        out.status.success(),
        "kubectl plugin list failed: {}",
        stderr(&out)
    );
    let listed = stdout(&out);
    for name in names {
        assert!(
            listed.contains(&dir.join(name).display().to_string()),
            "{name} not listed: {listed}"
        );
    }
    let err = stderr(&out);
    assert!(!err.to_lowercase().contains("warning"), "warnings: {err}");
}
