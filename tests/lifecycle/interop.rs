//! Moving between the flux CLI and kubectl-gitops: a repository and cluster bootstrapped by
//! the real `flux bootstrap git` (v2.9.4) are re-bootstrapped by kubectl-gitops without a
//! commit or a change, and the other way round flux accepts what kubectl-gitops wrote.

use std::process::Command;

use crate::bootstrap::{bootstrap, git, https_args, stand_ins, strs};
use crate::support::control_plane::ControlPlane;
use crate::support::git_servers::GitHttpServer;
use crate::support::{run, stderr, stdout};

/// Flags that change gotk-sync.yaml's GitRepository: with them, flux finds the sync file
/// kubectl-gitops wrote byte-identical to its own ("sync manifests are up to date").
const SYNC_FLAGS: [&str; 4] = [
    "--interval=5m",
    "--secret-name=fleet-auth",
    "--recurse-submodules",
    "--sparse-checkout=clusters/dev,infra",
];

fn flux_bootstrap(
    plane: &ControlPlane,
    server: &GitHttpServer,
    url: &str,
    extra: &[&str],
) -> std::process::Output {
    let mut command = Command::new(&plane.assets.flux_cli);
    command
        .args([
            "bootstrap",
            "git",
            "--silent",
            "--token-auth",
            "--branch=main",
        ])
        .arg(format!("--url={url}"))
        .arg(format!("--username={}", server.username))
        .arg(format!("--ca-file={}", server.ca_file.display()))
        .arg("--path=clusters/dev")
        .arg("--timeout=90s")
        .args(extra)
        .arg(format!("--kubeconfig={}", plane.kubeconfig.display()))
        .env("GIT_PASSWORD", &server.password);
    run(&mut command)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flux_bootstrapped_repository_and_cluster_need_no_change() {
    let plane = ControlPlane::start_private();
    let server = GitHttpServer::start();
    let url = server.create_repo("fleet");
    let bare = server.bare_path("fleet");
    let _stand_ins = stand_ins(&plane, &bare).await;

    let flux = tokio::task::block_in_place(|| flux_bootstrap(&plane, &server, &url, &[]));
    assert!(
        flux.status.success(),
        "flux bootstrap failed:\n{}\n{}",
        stdout(&flux),
        stderr(&flux)
    );
    let head = git(&bare, &["rev-parse", "refs/heads/main"]);

    let password = [("GIT_PASSWORD", server.password.as_str())];
    let out = bootstrap(&plane, &strs(&https_args(&server, &url)), &password).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "✔ bootstrap finished: nothing changed, the cluster is synced to main@sha1:{head}\n"
        )
    );
    assert_eq!(git(&bare, &["rev-parse", "refs/heads/main"]), head);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flux_accepts_a_repository_bootstrapped_by_kubectl_gitops() {
    let plane = ControlPlane::start_private();
    let server = GitHttpServer::start();
    let url = server.create_repo("fleet");
    let bare = server.bare_path("fleet");
    let _stand_ins = stand_ins(&plane, &bare).await;

    let password = [("GIT_PASSWORD", server.password.as_str())];
    let mut args = https_args(&server, &url);
    args.extend(SYNC_FLAGS.map(str::to_string));
    let out = bootstrap(&plane, &strs(&args), &password).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let ours = git(&bare, &["rev-parse", "refs/heads/main"]);

    let flux = tokio::task::block_in_place(|| flux_bootstrap(&plane, &server, &url, &SYNC_FLAGS));
    assert!(
        flux.status.success(),
        "flux bootstrap failed:\n{}\n{}",
        stdout(&flux),
        stderr(&flux)
    );
    let log = stderr(&flux);
    assert!(log.contains("sync manifests are up to date"), "{log}");
    // flux compares bytes, not objects: our YAML quotes differently, so flux may rewrite the
    // components file once, with the same objects.
    let commits = git(&bare, &["rev-list", &format!("{ours}..refs/heads/main")]);
    assert!(commits.lines().count() <= 1, "{commits}");
    let path = "main:clusters/dev/flux-system/gotk-components.yaml";
    let theirs = kubectl_gitops::manifests::parse_documents(&git(&bare, &["show", path])).unwrap();
    let before = kubectl_gitops::manifests::parse_documents(&git(
        &bare,
        &[
            "show",
            &format!("{ours}:clusters/dev/flux-system/gotk-components.yaml"),
        ],
    ))
    .unwrap();
    assert_eq!(theirs, before, "flux's rewrite has the same objects");
}

/// Over plain HTTP (`--allow-insecure-http`), flux finds the sync file kubectl-gitops wrote
/// byte-identical to its own: the same `http://` URL, no scheme rewritten to https.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_plain_http_flux_finds_the_same_sync_file() {
    let plane = ControlPlane::start_private();
    let server = GitHttpServer::start_plain();
    let url = server.create_repo("fleet");
    let bare = server.bare_path("fleet");
    let _stand_ins = stand_ins(&plane, &bare).await;
    let flags = [
        format!("--url={url}"),
        "--token-auth".into(),
        "--allow-insecure-http".into(),
        format!("--username={}", server.username),
        "--path=clusters/dev".into(),
    ];

    let password = [("GIT_PASSWORD", server.password.as_str())];
    let out = bootstrap(&plane, &strs(&flags), &password).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let sync = git(
        &bare,
        &["show", "main:clusters/dev/flux-system/gotk-sync.yaml"],
    );
    assert!(sync.contains(&format!("  url: {url}\n")), "{sync}");

    let flux = tokio::task::block_in_place(|| {
        run(Command::new(&plane.assets.flux_cli)
            .args([
                "bootstrap",
                "git",
                "--silent",
                "--branch=main",
                "--timeout=90s",
            ])
            .args(&flags)
            .arg(format!("--kubeconfig={}", plane.kubeconfig.display()))
            .env("GIT_PASSWORD", &server.password))
    });
    assert!(
        flux.status.success(),
        "flux bootstrap failed:\n{}\n{}",
        stdout(&flux),
        stderr(&flux)
    );
    let log = stderr(&flux);
    assert!(log.contains("sync manifests are up to date"), "{log}");
}
