//! Completion through the real kubectl: `kubectl __complete gitops ...` (what kubectl's own
//! shell completion runs for `kubectl gitops <TAB>`) finds `kubectl_complete-gitops` on PATH and
//! relays its answers; names come from the test control plane.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::support::processes::temp_dir;
use crate::support::{control_plane, plugin_exe, run, stderr, stdout};

/// A PATH folder with the umbrella and the completion helper, as `cargo install` or krew plus
/// the helper leave them.
fn plugin_dir() -> PathBuf {
    let dir = temp_dir("completion-plugins-");
    for name in ["kubectl-gitops", "kubectl_complete-gitops"] {
        std::fs::copy(plugin_exe(name), dir.join(name))
            .unwrap_or_else(|e| panic!("copy {name}: {e}"));
    }
    dir
}

/// `kubectl __complete gitops <args>` with only `dir` on PATH.
fn kubectl_complete(dir: &Path, args: &[&str]) -> Output {
    run(Command::new(control_plane().assets.kubectl())
        .env("PATH", dir)
        .env("HOME", temp_dir("home-"))
        .env_remove("KUBECONFIG")
        .arg("__complete")
        .arg("gitops")
        .args(args))
}

/// The candidates (values before any tab) and the directive line; asserts kubectl succeeded
/// and that stderr carries nothing but kubectl's own completion debug lines (so the helper was
/// silent).
fn answer(output: &Output) -> (Vec<String>, String) {
    assert!(
        output.status.success(),
        "kubectl __complete failed: {}",
        stderr(output)
    );
    for line in stderr(output).lines() {
        assert!(
            line.starts_with("[Debug]") || line.starts_with("Completion ended with directive"),
            "unexpected stderr line {line:?} in:\n{}",
            stderr(output)
        );
    }
    let text = stdout(output);
    let mut lines: Vec<&str> = text.lines().collect();
    let directive = lines.pop().unwrap_or_default().to_string();
    assert!(
        directive.starts_with(':'),
        "no directive line at the end of: {text}"
    );
    let values = lines
        .iter()
        .map(|line| line.split('\t').next().unwrap_or_default().to_string())
        .collect();
    (values, directive)
}

#[test]
fn kubectl_completes_commands_flags_and_kinds_through_the_helper() {
    let dir = plugin_dir();
    let out = kubectl_complete(&dir, &[""]);
    let (values, directive) = answer(&out);
    assert_eq!(directive, ":4", "{}", stdout(&out));
    for command in ["version", "status", "reconcile", "bootstrap", "completion"] {
        assert!(
            values.contains(&command.to_string()),
            "{command}: {values:?}"
        );
    }
    assert!(
        stdout(&out).contains("version\tPrint the plugin's version"),
        "descriptions are relayed: {}",
        stdout(&out)
    );
    // The helper is what answered: kubectl alone knows no description like this.
    assert!(
        stderr(&out).contains("kubectl_complete-gitops"),
        "{}",
        stderr(&out)
    );

    let (values, _) = answer(&kubectl_complete(&dir, &["rec"]));
    assert_eq!(values, vec!["reconcile"]);

    let (values, _) = answer(&kubectl_complete(&dir, &["version", "--o"]));
    assert_eq!(values, vec!["--output"]);
    let (values, _) = answer(&kubectl_complete(&dir, &["version", "-o", ""]));
    assert_eq!(values, vec!["json", "yaml"]);

    let (values, directive) = answer(&kubectl_complete(&dir, &["status", ""]));
    assert_eq!(directive, ":4");
    for kind in [
        "kustomization",
        "kustomizations",
        "ks",
        "hr",
        "gitrepo",
        "imgauto",
    ] {
        assert!(values.contains(&kind.to_string()), "{kind}: {values:?}");
    }
    let (values, _) = answer(&kubectl_complete(&dir, &["reconcile", "helmrel"]));
    assert_eq!(values, vec!["helmrelease", "helmreleases"]);

    let (values, _) = answer(&kubectl_complete(&dir, &["completion", ""]));
    assert_eq!(values, vec!["bash", "zsh", "fish", "powershell"]);
}

#[test]
fn kubectl_completes_object_names_and_namespaces_from_the_cluster() {
    let plane = control_plane();
    plane.install_flux_crds();
    plane.kubectl_ok(&["create", "namespace", "completion-apps"]);
    // Not `default`: other tests share this control plane and list there.
    plane.kubectl_ok(&["create", "namespace", "completion-home"]);
    let manifest = temp_dir("completion-objects-").join("objects.yaml");
    let mut text = String::new();
    for name in ["podinfo", "podcast", "infra"] {
        text.push_str(&format!(
            "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: completion-apps\nspec:\n  interval: 10m\n  path: ./{name}\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: apps\n"
        ));
    }
    text.push_str("---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: elsewhere\n  namespace: completion-home\nspec:\n  interval: 10m\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: apps\n");
    std::fs::write(&manifest, text).unwrap();
    plane.kubectl_ok(&["apply", "-f", &manifest.to_string_lossy()]);

    let dir = plugin_dir();
    let kubeconfig = plane.kubeconfig.to_string_lossy().into_owned();
    let conn = ["--kubeconfig", kubeconfig.as_str()];

    // kind/name, in the namespace given with -n, filtered by what was typed.
    let (values, directive) = answer(&kubectl_complete(
        &dir,
        &[&["status"], &conn[..], &["-n", "completion-apps", "ks/"]].concat(),
    ));
    assert_eq!(directive, ":4");
    assert_eq!(values, vec!["ks/infra", "ks/podcast", "ks/podinfo"]);
    let (values, _) = answer(&kubectl_complete(
        &dir,
        &[
            &["reconcile", "--namespace=completion-apps"],
            &conn[..],
            &["kustomizations/podi"],
        ]
        .concat(),
    ));
    assert_eq!(values, vec!["kustomizations/podinfo"]);

    // `<kind> <name>...`: plain names, without those already given.
    let (values, _) = answer(&kubectl_complete(
        &dir,
        &[
            &["reconcile"][..],
            &conn[..],
            &["-n", "completion-apps", "kustomization", "podinfo", ""],
        ]
        .concat(),
    ));
    assert_eq!(values, vec!["infra", "podcast"]);

    // The kubeconfig context's namespace when no -n is given; KUBECONFIG is honoured too.
    let home_kubeconfig =
        plane.kubeconfig_for("completion-user", Some("system:masters"), "completion-home");
    let out = run(Command::new(plane.assets.kubectl())
        .env("PATH", &dir)
        .env("HOME", temp_dir("home-"))
        .env("KUBECONFIG", &home_kubeconfig)
        .args(["__complete", "gitops", "status", "ks/"]));
    let (values, _) = answer(&out);
    assert_eq!(values, vec!["ks/elsewhere"]);

    // Namespaces for -n, in both forms.
    let (values, directive) = answer(&kubectl_complete(
        &dir,
        &[&["status"], &conn[..], &["-n", "completion-"]].concat(),
    ));
    assert_eq!(directive, ":4");
    assert_eq!(values, vec!["completion-apps", "completion-home"]);
    let (values, _) = answer(&kubectl_complete(
        &dir,
        &[&["version"], &conn[..], &["--namespace=kube-"]].concat(),
    ));
    assert!(
        values.contains(&"--namespace=kube-system".to_string()),
        "{values:?}"
    );
}

#[test]
fn completion_is_silent_and_quick_when_the_cluster_cannot_answer() {
    let dir = plugin_dir();
    let missing = temp_dir("completion-missing-").join("no-such-kubeconfig");
    for args in [
        vec!["status", "--kubeconfig", missing.to_str().unwrap(), "ks/"],
        // Nothing listens on port 9 of loopback.
        vec![
            "status",
            "--server",
            "https://127.0.0.1:9",
            "--insecure-skip-tls-verify",
            "ks/",
        ],
        vec!["status", "-n", ""],
        vec!["status", "nosuchkind/"],
    ] {
        let started = Instant::now();
        let out = kubectl_complete(&dir, &args);
        let (values, directive) = answer(&out);
        assert!(values.is_empty(), "{args:?}: {values:?}");
        assert_eq!(directive, ":4", "{args:?}");
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{args:?} took {:?}",
            started.elapsed()
        );
    }
    // The helper itself, without kubectl: stdout is the directive only, stderr is empty.
    let out = run(Command::new(plugin_exe("kubectl_complete-gitops"))
        .env("HOME", temp_dir("home-"))
        .env_remove("KUBECONFIG")
        .args(["status", "--kubeconfig", missing.to_str().unwrap(), "ks/"]));
    assert!(out.status.success());
    assert_eq!(stdout(&out), ":4\n");
    assert_eq!(stderr(&out), "");
}

#[test]
fn the_umbrella_answers_the_same_as_the_helper() {
    for args in [vec![""], vec!["status", "k"], vec!["version", "--output="]] {
        let helper = run(Command::new(plugin_exe("kubectl_complete-gitops")).args(&args));
        let umbrella = run(Command::new(plugin_exe("kubectl-gitops"))
            .arg("__complete")
            .args(&args));
        assert!(umbrella.status.success(), "{}", stderr(&umbrella));
        assert_eq!(stdout(&umbrella), stdout(&helper), "{args:?}");
        assert!(stdout(&helper).ends_with(":4\n"), "{}", stdout(&helper));
    }
}

#[test]
fn completion_scripts_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = run(Command::new(plugin_exe("kubectl-gitops")).args(["completion", shell]));
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        assert!(script.contains("kubectl-gitops"), "{shell}: {script}");
        assert!(script.contains("reconcile"), "{shell}: {script}");
    }
    // bash loads the script and registers it for kubectl-gitops.
    let out = run(Command::new("bash").arg("-c").arg(format!(
        "source <('{}' completion bash) && complete -p kubectl-gitops",
        plugin_exe("kubectl-gitops").display()
    )));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("kubectl-gitops"), "{}", stdout(&out));
    let bad = run(Command::new(plugin_exe("kubectl-gitops")).args(["completion", "tcsh"]));
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
}

#[test]
fn a_cargo_install_with_standalone_commands_completes_their_arguments_too() {
    // `cargo install` puts every standalone command and its completion helper on PATH; kubectl
    // then sends `kubectl gitops status <TAB>` to kubectl_complete-gitops-status.
    let dir = temp_dir("completion-standalone-");
    for name in [
        "kubectl-gitops",
        "kubectl_complete-gitops",
        "kubectl-gitops-status",
        "kubectl_complete-gitops-status",
        "kubectl-gitops-reconcile",
        "kubectl_complete-gitops-reconcile",
    ] {
        std::fs::copy(plugin_exe(name), dir.join(name))
            .unwrap_or_else(|e| panic!("copy {name}: {e}"));
    }
    let (values, _) = answer(&kubectl_complete(&dir, &["status", "--fail-if"]));
    assert_eq!(values, ["--fail-if-not-ready"]);
    let (values, _) = answer(&kubectl_complete(&dir, &["reconcile", "--with"]));
    assert_eq!(values, ["--with-source", "--with-dependencies"]);
    let (values, _) = answer(&kubectl_complete(&dir, &["reconcile", "hel"]));
    assert!(!values.is_empty(), "kinds complete");
    assert!(
        values.iter().all(|v| v.to_lowercase().starts_with("hel")),
        "{values:?}"
    );
    assert!(
        values
            .iter()
            .any(|v| v.starts_with("HelmRelease") || v.starts_with("helmrelease")),
        "{values:?}"
    );
}

/// `trace` takes any kind the cluster serves: kinds from discovery (kubectl's names), then the
/// names of that kind in the namespace.
#[test]
fn trace_completes_any_served_kind_and_its_names() {
    let plane = control_plane();
    plane.kubectl_ok(&["create", "namespace", "trace-completion"]);
    for name in ["web", "worker"] {
        plane.kubectl_ok(&[
            "create",
            "deployment",
            name,
            "-n",
            "trace-completion",
            "--image=ghcr.io/stefanprodan/podinfo:6.7.0",
        ]);
    }
    let dir = plugin_dir();
    let kubeconfig = plane.kubeconfig.to_string_lossy().into_owned();
    let conn = [
        "--kubeconfig",
        kubeconfig.as_str(),
        "-n",
        "trace-completion",
    ];
    let complete = |words: &[&str]| {
        answer(&kubectl_complete(
            &dir,
            &[&["trace"], &conn[..], words].concat(),
        ))
    };

    let (values, directive) = complete(&["depl"]);
    assert_eq!(directive, ":4");
    assert_eq!(values, vec!["deploy", "deployment", "deployments"]);
    let (values, _) = complete(&["deploy/"]);
    assert_eq!(values, vec!["deploy/web", "deploy/worker"]);
    let (values, _) = complete(&["deployments.apps", "wo"]);
    assert_eq!(values, vec!["worker"]);
    let (values, _) = complete(&["deploy/web", ""]);
    assert!(values.is_empty(), "{values:?}");
}

/// `build` and `diff` take one Kustomization: `ks`/`kustomization`, then its names.
#[test]
fn build_and_diff_complete_kustomizations() {
    let plane = control_plane();
    plane.kubectl_ok(&["create", "namespace", "diff-completion"]);
    crate::flux_objects::create(&[
        crate::flux_objects::kustomization("diff-completion", "apps", serde_json::json!({})),
        crate::flux_objects::kustomization("diff-completion", "infra", serde_json::json!({})),
    ]);
    let dir = plugin_dir();
    let kubeconfig = plane.kubeconfig.to_string_lossy().into_owned();
    let conn = ["--kubeconfig", kubeconfig.as_str(), "-n", "diff-completion"];
    for command in ["build", "diff"] {
        let complete = |words: &[&str]| {
            answer(&kubectl_complete(
                &dir,
                &[&[command], &conn[..], words].concat(),
            ))
        };
        assert_eq!(complete(&[""]).0, vec!["ks", "kustomization"], "{command}");
        assert_eq!(complete(&["ks", ""]).0, vec!["apps", "infra"], "{command}");
        assert_eq!(complete(&["ks/in"]).0, vec!["ks/infra"], "{command}");
    }
}

/// `bootstrap` has subcommands of its own (git and the forges), each with its flags: GitLab's
/// `--visibility` and `--deploy-token-auth` only on gitlab; file flags let the shell offer
/// file names. Through the umbrella's helper and through the standalone bootstrap's.
#[test]
fn bootstrap_completes_its_forges_and_their_flags() {
    let umbrella = plugin_dir();
    let standalone = temp_dir("completion-bootstrap-");
    for name in [
        "kubectl-gitops",
        "kubectl_complete-gitops",
        "kubectl-gitops-bootstrap",
        "kubectl_complete-gitops-bootstrap",
    ] {
        std::fs::copy(plugin_exe(name), standalone.join(name))
            .unwrap_or_else(|e| panic!("copy {name}: {e}"));
    }
    for dir in [&umbrella, &standalone] {
        let (values, directive) = answer(&kubectl_complete(dir, &["bootstrap", ""]));
        assert_eq!(directive, ":4");
        assert_eq!(values, ["git", "gitea", "github", "gitlab"]);
        let (values, _) = answer(&kubectl_complete(dir, &["bootstrap", "gitl"]));
        assert_eq!(values, ["gitlab"]);
        for forge in ["gitea", "github", "gitlab"] {
            let flags =
                |partial: &str| answer(&kubectl_complete(dir, &["bootstrap", forge, partial])).0;
            assert_eq!(flags("--own"), ["--owner"], "{forge}");
            assert_eq!(flags("--repo"), ["--repository"], "{forge}");
            assert_eq!(flags("--read-w"), ["--read-write-key"], "{forge}");
            assert_eq!(
                flags("--token-"),
                ["--token-file", "--token-auth"],
                "{forge}"
            );
            assert_eq!(flags("--hostn"), ["--hostname"], "{forge}");
            assert_eq!(flags("--tea"), ["--team"], "{forge}");
            let gitlab_only: &[&str] = if forge == "gitlab" {
                &["--deploy-token-auth"]
            } else {
                &[]
            };
            assert_eq!(flags("--deploy"), gitlab_only, "{forge}");
            // After other flags and values, too.
            let (values, _) = answer(&kubectl_complete(
                dir,
                &[
                    "bootstrap",
                    forge,
                    "--owner",
                    "acme",
                    "--personal",
                    "--reco",
                ],
            ));
            assert_eq!(values, ["--reconcile"], "{forge}");
            // --ca-file takes a file: no candidates, and the shell completes file names.
            let (values, directive) = answer(&kubectl_complete(
                dir,
                &["bootstrap", forge, "--ca-file", ""],
            ));
            assert!(values.is_empty(), "{values:?}");
            assert_eq!(directive, ":0", "{forge}");
        }
        let (values, _) = answer(&kubectl_complete(
            dir,
            &["bootstrap", "gitlab", "--visibility", ""],
        ));
        assert_eq!(values, ["private", "internal", "public"]);
        let (values, _) = answer(&kubectl_complete(dir, &["bootstrap", "git", "--ur"]));
        assert_eq!(values, ["--url"]);
    }
}
