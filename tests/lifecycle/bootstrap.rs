//! `kubectl gitops bootstrap git` against a real control plane and real Git servers (HTTPS
//! with basic auth and a private CA; SSH with host keys), with two stand-ins named as such:
//! the kubelet stand-in (Deployments become available) and the fake Flux controller for the
//! GitRepository and Kustomization (Ready at the branch's head when asked to reconcile). The
//! end-to-end tests run the real controllers instead.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use kubectl_gitops::flux::FluxKind;

use crate::support::control_plane::ControlPlane;
use crate::support::fake_flux_controller::{Behaviour, FakeFluxController, fake_flux_controller};
use crate::support::git_servers::{GitHttpServer, GitSshServer};
use crate::support::kubelet_stand_in::KubeletStandIn;
use crate::support::processes::temp_dir;
use crate::support::{assert_clean_failure, plugin_exe, run, stderr, stdout};
use crate::{client_for, names};

const NS: &str = "flux-system";

/// The stand-ins for what does not run here: kubelet and the Flux controllers.
struct StandIns {
    _kubelet: KubeletStandIn,
    _source: FakeFluxController,
    _kustomization: FakeFluxController,
}

async fn stand_ins(plane: &ControlPlane, bare_repo: &Path) -> StandIns {
    let client = client_for(plane).await;
    let head = || Behaviour::SucceedAtBranchHead {
        bare_repo: bare_repo.to_path_buf(),
        branch: "main".into(),
    };
    let kind = |name| FluxKind::lookup(name).expect("kind");
    StandIns {
        _kubelet: KubeletStandIn::start(client.clone(), NS, Arc::new(|_: &str| true)),
        _source: fake_flux_controller(
            client.clone(),
            kind("GitRepository"),
            NS,
            NS,
            head(),
            Duration::from_millis(100),
        ),
        _kustomization: fake_flux_controller(
            client,
            kind("Kustomization"),
            NS,
            NS,
            head(),
            Duration::from_millis(100),
        ),
    }
}

/// `kubectl-gitops bootstrap git <args>` against `plane`, with manifests from the release
/// layout (no download), a private cache folder, and `env` added.
fn bootstrap_command(plane: &ControlPlane, args: &[&str], env: &[(&str, &str)]) -> Command {
    let release = &plane.assets.flux_release;
    let mut command = Command::new(plugin_exe("kubectl-gitops"));
    command
        .args(["bootstrap", "git"])
        .args(args)
        .arg("--manifests")
        .arg(release.join("install.yaml"))
        .arg("--kubeconfig")
        .arg(&plane.kubeconfig)
        .args(["--timeout", "90s"])
        .env("XDG_CACHE_HOME", temp_dir("cache-"))
        .env_remove("GIT_PASSWORD")
        .stdin(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

async fn bootstrap(plane: &ControlPlane, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = bootstrap_command(plane, args, env);
    tokio::task::spawn_blocking(move || run(&mut command))
        .await
        .expect("bootstrap task")
}

fn git(bare: &Path, args: &[&str]) -> String {
    let out = run(Command::new("git").arg("--git-dir").arg(bare).args(args));
    assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    stdout(&out).trim_end().to_string()
}

fn https_args(server: &GitHttpServer, url: &str) -> Vec<String> {
    vec![
        "--url".into(),
        url.into(),
        "--token-auth".into(),
        "--username".into(),
        server.username.clone(),
        "--ca-file".into(),
        server.ca_file.display().to_string(),
        "--path".into(),
        "clusters/dev".into(),
    ]
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn resource_versions(plane: &ControlPlane) -> String {
    plane.kubectl_ok(&[
        "get",
        "gitrepository/flux-system",
        "kustomization/flux-system",
        "secret/flux-system",
        "deployment/source-controller",
        "-n",
        NS,
        "-o",
        "jsonpath={.items[*].metadata.resourceVersion}",
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_bootstrap_commits_applies_waits_and_a_rerun_changes_nothing() {
    let plane = ControlPlane::start_private();
    let server = GitHttpServer::start();
    let url = server.create_repo("fleet");
    let bare = server.bare_path("fleet");
    let _stand_ins = stand_ins(&plane, &bare).await;
    let args = https_args(&server, &url);
    let password = [("GIT_PASSWORD", server.password.as_str())];

    let out = bootstrap(&plane, &strs(&args), &password).await;
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let head = git(&bare, &["rev-parse", "refs/heads/main"]);
    assert!(
        stdout(&out).starts_with(&format!(
            "✔ bootstrap finished: the cluster is synced to main@sha1:{head} (2 commits pushed, "
        )),
        "{}",
        stdout(&out)
    );
    for output in [stdout(&out), stderr(&out)] {
        assert!(!output.contains(&server.password), "password in output");
    }

    // Git: two commits with flux's messages and author, the three files, nothing else.
    assert_eq!(
        git(&bare, &["log", "--format=%an <%ae>|%s", "main"]),
        "Flux <>|Add Flux sync manifests\nFlux <>|Add Flux v2.9.4 component manifests"
    );
    assert_eq!(
        git(&bare, &["ls-tree", "-r", "--name-only", "main"]),
        "clusters/dev/flux-system/gotk-components.yaml\nclusters/dev/flux-system/gotk-sync.yaml\nclusters/dev/flux-system/kustomization.yaml"
    );
    let components = git(
        &bare,
        &["show", "main:clusters/dev/flux-system/gotk-components.yaml"],
    );
    assert!(components.starts_with("---\n# This manifest was generated by flux. DO NOT EDIT.\n# Flux Version: v2.9.4\n# Components: source-controller,kustomize-controller,helm-controller,notification-controller\n"), "{}", &components[..300]);
    let sync = git(
        &bare,
        &["show", "main:clusters/dev/flux-system/gotk-sync.yaml"],
    );
    assert!(sync.contains(&format!("  url: {url}\n")), "{sync}");
    assert!(sync.contains("  path: ./clusters/dev\n"), "{sync}");
    assert!(!components.contains(&server.password) && !sync.contains(&server.password));

    // Cluster: the source Secret (never in Git), the components and the sync objects.
    let secret = plane.kubectl_ok(&["get", "secret", NS, "-n", NS, "-o", "json"]);
    let secret: serde_json::Value = serde_json::from_str(&secret).unwrap();
    let decode = |key: &str| {
        use base64::Engine;
        let text = secret["data"][key].as_str().unwrap_or_default();
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(decode("username"), server.username);
    assert_eq!(decode("password"), server.password);
    assert_eq!(
        decode("ca.crt"),
        std::fs::read_to_string(&server.ca_file).unwrap()
    );
    let keys: Vec<&String> = secret["data"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["ca.crt", "password", "username"]);
    assert_eq!(
        plane.kubectl_ok(&[
            "get",
            "gitrepository",
            NS,
            "-n",
            NS,
            "-o",
            "jsonpath={.spec.url} {.spec.secretRef.name} {.spec.ref.branch}"
        ]),
        format!("{url} flux-system main")
    );
    assert_eq!(names(&plane, &["deployments", "-n", NS]).len(), 4);
    assert_eq!(
        names(&plane, &["crd", "-l", "app.kubernetes.io/part-of=flux"]).len(),
        11
    );

    // A second run: no commit, no push, no change in the cluster, and it says so.
    let versions = resource_versions(&plane);
    let out = bootstrap(&plane, &strs(&args), &password).await;
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "✔ bootstrap finished: nothing changed, the cluster is synced to main@sha1:{head}\n"
        )
    );
    assert_eq!(git(&bare, &["rev-parse", "refs/heads/main"]), head);
    assert_eq!(resource_versions(&plane), versions);

    // Another path for the same cluster is refused before anything changes.
    let mut other = args.clone();
    let at = other.iter().position(|a| a == "clusters/dev").unwrap();
    other[at] = "clusters/prod".into();
    let err = assert_clean_failure(&bootstrap(&plane, &strs(&other), &password).await);
    assert!(
        err.contains("syncs path \"./clusters/dev\"") && err.contains("--path=clusters/dev"),
        "{err}"
    );
    assert_eq!(git(&bare, &["rev-parse", "refs/heads/main"]), head);
}
