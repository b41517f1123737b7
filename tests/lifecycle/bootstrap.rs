//! `kubectl gitops bootstrap git` against a real control plane and real Git servers (HTTPS
//! with basic auth and a private CA; SSH with host keys), with two stand-ins named as such:
//! the kubelet stand-in (Deployments become available) and the fake Flux controller for the
//! GitRepository and Kustomization (Ready at the branch's head when asked to reconcile). The
//! end-to-end tests run the real controllers instead.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use kubectl_gitops::flux::FluxKind;

use crate::support::control_plane::ControlPlane;
use crate::support::fake_flux_controller::{
    Behaviour, FakeFluxController, fake_flux_controller_with,
};
use crate::support::git_servers::{GitHttpServer, GitSshServer};
use crate::support::golden::{assert_golden, loopback_ports, transcript};
use crate::support::kubelet_stand_in::KubeletStandIn;
use crate::support::processes::temp_dir;
use crate::support::{plugin_command, run, run_async, stderr, stdout};
use crate::{assert_failed_after_progress as assert_clean_failure, client_for, names};

const NS: &str = "flux-system";

/// The stand-ins for what does not run here: kubelet and the Flux controllers.
pub struct StandIns {
    _kubelet: KubeletStandIn,
    _source: FakeFluxController,
    _kustomization: FakeFluxController,
}

pub async fn stand_ins(plane: &ControlPlane, bare_repo: &Path) -> StandIns {
    let client = client_for(plane).await;
    let head = || Behaviour::SucceedAtBranchHead {
        bare_repo: bare_repo.to_path_buf(),
        branch: "main".into(),
    };
    let kind = |name| FluxKind::lookup(name).expect("kind");
    StandIns {
        _kubelet: KubeletStandIn::start(client.clone(), NS, Arc::new(|_: &str| true)),
        _source: fake_flux_controller_with(
            client.clone(),
            kind("GitRepository"),
            NS,
            NS,
            head(),
            Duration::from_millis(100),
            true,
        ),
        _kustomization: fake_flux_controller_with(
            client,
            kind("Kustomization"),
            NS,
            NS,
            head(),
            Duration::from_millis(100),
            true,
        ),
    }
}

/// `kubectl-gitops bootstrap git <args>` against `plane`, with manifests from the release
/// layout (no download), a private cache folder, and `env` added.
pub fn bootstrap_command(plane: &ControlPlane, args: &[&str], env: &[(&str, &str)]) -> Command {
    let release = &plane.assets.flux_release;
    let mut command = plugin_command(plane, &["bootstrap", "git"]);
    command
        .args(args)
        .arg("--manifests")
        .arg(release.join("install.yaml"))
        .args(["--timeout", "90s"])
        .env("XDG_CACHE_HOME", temp_dir("cache-"))
        .env_remove("GIT_PASSWORD");
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

pub async fn bootstrap(plane: &ControlPlane, args: &[&str], env: &[(&str, &str)]) -> Output {
    run_async(bootstrap_command(plane, args, env)).await
}

pub fn git(bare: &Path, args: &[&str]) -> String {
    let out = run(Command::new("git").arg("--git-dir").arg(bare).args(args));
    assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    stdout(&out).trim_end().to_string()
}

pub fn https_args(server: &GitHttpServer, url: &str) -> Vec<String> {
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

pub fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// The source Secret's data, decoded.
pub fn source_secret(plane: &ControlPlane) -> std::collections::BTreeMap<String, String> {
    use base64::Engine;
    let secret = plane.kubectl_ok(&["get", "secret", NS, "-n", NS, "-o", "json"]);
    let secret: serde_json::Value = serde_json::from_str(&secret).unwrap();
    let data = secret["data"].as_object().expect("Secret data");
    data.iter()
        .map(|(key, value)| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(value.as_str().unwrap_or_default())
                .unwrap();
            (key.clone(), String::from_utf8(bytes).unwrap())
        })
        .collect()
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
    let secret = source_secret(&plane);
    let decode = |key: &str| secret.get(key).cloned().unwrap_or_default();
    assert_eq!(decode("username"), server.username);
    assert_eq!(decode("password"), server.password);
    assert_eq!(
        decode("ca.crt"),
        std::fs::read_to_string(&server.ca_file).unwrap()
    );
    let keys: Vec<&String> = secret.keys().collect();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_bootstrap_generates_a_deploy_key_and_waits_until_it_has_access() {
    let plane = ControlPlane::start_private();
    let server = GitSshServer::start();
    let url = server.create_repo("fleet");
    let bare = server.bare_path("fleet");
    let _stand_ins = stand_ins(&plane, &bare).await;
    let (_known_hosts, ssh_command) = server.user_ssh_setup();

    let mut command = bootstrap_command(
        &plane,
        &[
            "--url",
            &url,
            "--path",
            "clusters/dev",
            "--ssh-key-algorithm",
            "ed25519",
        ],
        &[("GIT_SSH_COMMAND", &ssh_command)],
    );
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("start bootstrap");
    // Play the user: add the printed deploy key to the server once bootstrap shows it.
    let (progress, deploy_key) =
        server.authorize_printed_deploy_key(child.stderr.take().expect("stderr"));
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(out.status.success(), "{}\n{progress}", stdout(&out));
    let deploy_key = deploy_key.expect("bootstrap printed the deploy key");
    assert!(deploy_key.starts_with("ssh-ed25519 "), "{deploy_key}");
    assert!(
        progress.contains("◎ waiting for the deploy key to be given access"),
        "{progress}"
    );
    assert!(
        progress.contains("✔ Git host key: ssh-ed25519 SHA256:"),
        "{progress}"
    );
    assert!(!progress.contains("PRIVATE KEY"), "{progress}");

    // The Secret holds the generated key and the scanned host keys; the sync URL is ssh://.
    let secret = source_secret(&plane);
    let decode = |key: &str| secret.get(key).cloned().unwrap_or_default();
    assert_eq!(decode("identity.pub").trim(), deploy_key);
    assert!(decode("identity").starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
    let known_hosts = decode("known_hosts");
    for host_key in server.host_public_keys() {
        assert!(
            known_hosts.contains(&format!(
                "[127.0.0.1]:{} {}",
                server.port,
                host_key.split(' ').take(2).collect::<Vec<_>>().join(" ")
            )),
            "{host_key} missing from {known_hosts}"
        );
    }
    let sync = git(
        &bare,
        &["show", "main:clusters/dev/flux-system/gotk-sync.yaml"],
    );
    assert!(sync.contains(&format!("  url: {url}\n")), "{sync}");

    // A re-run keeps the Secret (no new key) and changes nothing.
    let out = bootstrap(
        &plane,
        &["--url", &url, "--path", "clusters/dev"],
        &[("GIT_SSH_COMMAND", &ssh_command)],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("nothing changed"), "{}", stdout(&out));
    assert!(stderr(&out).contains("source secret flux-system/flux-system is kept"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_failures_leave_the_cluster_untouched() {
    let plane = ControlPlane::start_private();
    let http = GitHttpServer::start();
    let url = http.create_repo("fleet");
    let args = https_args(&http, &url);

    let out = bootstrap(&plane, &strs(&args), &[("GIT_PASSWORD", "wrong-password")]).await;
    let err = assert_clean_failure(&out);
    assert!(err.contains("rejected the credentials"), "{err}");
    assert!(!err.contains("wrong-password") && !stdout(&out).contains("wrong-password"));

    // Without a password and without a terminal: asked for it by name, not prompted.
    let err = assert_clean_failure(&bootstrap(&plane, &strs(&args), &[]).await);
    assert!(err.contains("GIT_PASSWORD"), "{err}");

    // SSH to a host whose key the user's known_hosts does not list.
    let ssh = GitSshServer::start();
    let ssh_url = ssh.create_repo("fleet");
    let (known_hosts, ssh_command) = ssh.user_ssh_setup();
    std::fs::write(&known_hosts, "").unwrap();
    let out = bootstrap(
        &plane,
        &["--url", &ssh_url],
        &[("GIT_SSH_COMMAND", &ssh_command)],
    )
    .await;
    let err = assert_clean_failure(&out);
    assert!(err.to_lowercase().contains("host key"), "{err}");

    assert_eq!(names(&plane, &["namespace", NS]), Vec::<String>::new());
    assert_eq!(
        names(&plane, &["crd", "-l", "app.kubernetes.io/part-of=flux"]),
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_content_and_kustomization_patches_are_kept() {
    let plane = ControlPlane::start_private();
    let server = GitHttpServer::start();
    let url = server.create_repo("fleet");
    let bare = server.bare_path("fleet");
    // The user's repository: a README and a kustomization.yaml with a patch of their own.
    let work = temp_dir("user-work-");
    let patched = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- gotk-components.yaml\n- gotk-sync.yaml\npatches:\n- patch: |\n    - op: add\n      path: /spec/template/spec/containers/0/args/-\n      value: --concurrent=20\n  target:\n    kind: Deployment\n    name: kustomize-controller\n";
    std::fs::create_dir_all(work.join("clusters/dev/flux-system")).unwrap();
    std::fs::write(work.join("README.md"), "# fleet\n").unwrap();
    std::fs::write(
        work.join("clusters/dev/flux-system/kustomization.yaml"),
        patched,
    )
    .unwrap();
    let user_git = |args: &[&str]| {
        let out = run(Command::new("git")
            .current_dir(&work)
            .args(["-c", "user.name=User", "-c", "user.email=user@example.com"])
            .args(args));
        assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    };
    user_git(&["init", "-q", "-b", "main"]);
    user_git(&["add", "."]);
    user_git(&["commit", "-q", "-m", "Initial commit"]);
    user_git(&["push", "-q", bare.to_str().unwrap(), "main"]);
    let _stand_ins = stand_ins(&plane, &bare).await;

    let out = bootstrap(
        &plane,
        &strs(&https_args(&server, &url)),
        &[("GIT_PASSWORD", server.password.as_str())],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(git(&bare, &["show", "main:README.md"]), "# fleet");
    assert_eq!(
        git(
            &bare,
            &["show", "main:clusters/dev/flux-system/kustomization.yaml"]
        ) + "\n",
        patched
    );
    assert_eq!(
        git(&bare, &["log", "--format=%s", "main"]),
        "Add Flux sync manifests\nAdd Flux v2.9.4 component manifests\nInitial commit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_prints_the_files_and_touches_neither_git_nor_the_cluster() {
    let plane = ControlPlane::start_private();
    let server = GitHttpServer::start();
    let url = server.create_repo("fleet");
    let mut args = https_args(&server, &url);
    args.push("--dry-run".into());
    let out = bootstrap(
        &plane,
        &strs(&args),
        &[("GIT_PASSWORD", server.password.as_str())],
    )
    .await;
    // The whole output: the release's manifests as bootstrap would commit them (about 270 KB),
    // the sync manifests with the Git server's URL (its port varies), and the closing notes.
    assert_golden("bootstrap/git-dry-run", &loopback_ports(&transcript(&out)));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for file in [
        "gotk-components.yaml",
        "gotk-sync.yaml",
        "kustomization.yaml",
    ] {
        assert!(
            text.contains(&format!("# clusters/dev/flux-system/{file}\n")),
            "{file}"
        );
    }
    assert!(!text.contains(&server.password));
    let branches = run(Command::new("git")
        .arg("--git-dir")
        .arg(server.bare_path("fleet"))
        .args(["branch", "--list"]));
    assert_eq!(stdout(&branches), "", "the repository stays empty");
    assert_eq!(names(&plane, &["namespace", NS]), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_rejected_because_the_branch_moved_is_retried_on_a_fresh_clone() {
    let plane = ControlPlane::start_private();
    let server = GitHttpServer::start();
    let url = server.create_repo("fleet");
    let bare = server.bare_path("fleet");
    let work = temp_dir("user-work-");
    for args in [
        vec!["init", "-q", "-b", "main"],
        vec!["commit", "-q", "--allow-empty", "-m", "Initial commit"],
        vec!["push", "-q", bare.to_str().unwrap(), "main"],
    ] {
        let out = run(Command::new("git")
            .current_dir(&work)
            .args(["-c", "user.name=User", "-c", "user.email=user@example.com"])
            .args(&args));
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let _stand_ins = stand_ins(&plane, &bare).await;
    server.move_branch_after_next_fetch("fleet", "main");

    let out = bootstrap(
        &plane,
        &strs(&https_args(&server, &url)),
        &[("GIT_PASSWORD", server.password.as_str())],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the branch moved while bootstrapping; retrying on a fresh clone"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        git(&bare, &["log", "--format=%s", "main"]),
        "Add Flux sync manifests\nAdd Flux v2.9.4 component manifests\nSomeone else's commit\nInitial commit"
    );
}
