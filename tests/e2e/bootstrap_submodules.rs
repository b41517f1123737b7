//! `--recurse-submodules` on the real source-controller: the cluster's folder holds a Git
//! submodule (another repository of the same server) with a manifest in it; bootstrap with the
//! flag writes `recurseSubmodules: true`, source-controller checks the submodule out with the
//! Secret's credentials, and kustomize-controller applies the manifest from it.
//!
//! Over plain HTTP (`--allow-insecure-http`): source-controller (go-git) does not hand the
//! Secret's `ca.crt` to submodule fetches, so with the HTTPS server's private CA the fetch of
//! the submodule fails on the certificate (bootstrap then stops with source-controller's
//! message; docs/bootstrap.md says so). Credentials do reach the submodule fetch.

use std::time::Duration;

use crate::bootstrap::{assert_synced_by_the_controllers, https_git_env};
use crate::support::git_servers::GitHttpServer;
use crate::support::processes::temp_dir;
use crate::support::stdout;
use crate::{LiveFlux, NS, eventually, git, head, push};

const SHARED_CONFIGMAP: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: from-the-submodule
  namespace: flux-system
data:
  origin: shared
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_applies_what_a_submodule_holds() {
    let flux = LiveFlux::start().await;
    let server = GitHttpServer::start_plain();
    let env = https_git_env(&server);
    let shared = server.create_repo("shared");
    push(
        &shared,
        &env,
        "a manifest kept in its own repository",
        &[("configmap.yaml", Some(SHARED_CONFIGMAP))],
    );
    // The fleet repository's first commit: the shared repository as a submodule of the
    // cluster's folder.
    let url = server.create_repo("fleet");
    let dir = temp_dir("submodule-client-");
    git(&dir, &["clone", "--quiet", &url, "work"], &env);
    let work = dir.join("work");
    git(
        &work,
        &[
            "submodule",
            "add",
            "--quiet",
            &shared,
            "clusters/dev/shared",
        ],
        &env,
    );
    git(
        &work,
        &["commit", "-q", "-m", "the shared manifests as a submodule"],
        &env,
    );
    git(&work, &["push", "--quiet", "origin", "HEAD:main"], &env);

    let args = [
        "--url",
        &url,
        "--allow-insecure-http",
        "--token-auth",
        "--username",
        &server.username,
        "--path",
        "clusters/dev",
        "--recurse-submodules",
    ];
    let strs: Vec<&str> = args.to_vec();
    flux.bootstrap_ok(&strs, &[("GIT_PASSWORD", server.password.as_str())])
        .await;
    let bare = server.bare_path("fleet");
    let revision = format!("main@sha1:{}", head(&bare));
    assert_synced_by_the_controllers(&flux, &revision).await;
    let source = flux.get("gitrepository", NS, NS).expect("GitRepository");
    assert_eq!(source["spec"]["recurseSubmodules"], true, "{source}");
    // Bootstrap's own commits kept the submodule link as it was.
    let out = crate::support::run(
        std::process::Command::new("git")
            .arg("--git-dir")
            .arg(&bare)
            .args(["ls-tree", "main", "clusters/dev/shared"]),
    );
    assert!(
        stdout(&out).starts_with("160000 commit "),
        "the submodule is still a gitlink: {}",
        stdout(&out)
    );
    eventually(
        &flux,
        "the ConfigMap from the submodule",
        Duration::from_secs(60),
        || {
            flux.get("configmap", NS, "from-the-submodule")
                .is_some_and(|c| c["data"]["origin"] == "shared")
        },
    )
    .await;
}
