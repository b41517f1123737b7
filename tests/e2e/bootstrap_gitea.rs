//! `bootstrap gitea` against a real Gitea (tests/support/gitea.rs) and the real controllers:
//! the repository created through the API, the deploy key registered read-only, the exact API
//! calls of a first run and of re-runs (counted by the proxy in front of Gitea), and the
//! errors users meet. Two tests, each with its own cluster and Gitea.

use std::time::Duration;

use crate::support::gitea::{ADMIN, Gitea, ORG, TEAM};
use crate::support::{stderr, stdout};
use crate::{LiveFlux, NS, RECONCILE_ROOT, eventually, head, push};

use crate::bootstrap::assert_synced_by_the_controllers;

const KEY_TITLE: &str = "flux-system-main-flux-system-clusters/dev";

async fn start() -> (LiveFlux, Gitea) {
    let flux = LiveFlux::start().await;
    let binary = flux.plane.assets.gitea.clone();
    let gitea = tokio::task::spawn_blocking(move || Gitea::start(&binary))
        .await
        .expect("start Gitea");
    (flux, gitea)
}

/// `bootstrap gitea` on `gitea` with `token` in GITEA_TOKEN.
async fn bootstrap_gitea(
    flux: &LiveFlux,
    gitea: &Gitea,
    token: &str,
    args: &[&str],
) -> std::process::Output {
    let mut all = vec![
        "--hostname",
        gitea.url.as_str(),
        "--ssh-hostname",
        gitea.ssh_host.as_str(),
        "--path",
        "clusters/dev",
    ];
    all.extend_from_slice(args);
    let command = flux.bootstrap_command_on("gitea", &all, &[("GITEA_TOKEN", token)]);
    crate::support::run_async(command).await
}

fn succeeded(out: &std::process::Output, flux: &LiveFlux, gitea: &Gitea) {
    assert!(
        out.status.success(),
        "bootstrap gitea failed:\n{}\n{}\n{}\n{}",
        stdout(out),
        stderr(out),
        gitea.log_tail(),
        flux.logs()
    );
}

/// git's environment for pushing to Gitea over HTTP as the admin (token in a header).
fn git_env(gitea: &Gitea) -> Vec<(String, String)> {
    use base64::Engine;
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{ADMIN}:{}", gitea.token));
    vec![
        ("GIT_CONFIG_COUNT".into(), "1".into()),
        ("GIT_CONFIG_KEY_0".into(), "http.extraHeader".into()),
        (
            "GIT_CONFIG_VALUE_0".into(),
            format!("Authorization: Basic {basic}"),
        ),
    ]
}

fn secret_text(flux: &LiveFlux, key: &str) -> String {
    use base64::Engine;
    let secret = flux.get("secret", NS, NS).expect("the source Secret");
    let encoded = secret["data"][key].as_str().unwrap_or_default();
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("base64"),
    )
    .expect("text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitea_bootstrap_creates_the_repository_registers_a_read_only_key_and_reruns_without_writes()
 {
    let (flux, gitea) = start().await;
    let repo = format!("{ORG}/fleet");
    let bare = gitea.dir().join("repos/platform/fleet.git");

    // First run: the repository does not exist yet.
    let out = bootstrap_gitea(
        &flux,
        &gitea,
        &gitea.token,
        &["--owner", ORG, "--repository", "fleet", "--team", TEAM],
    )
    .await;
    succeeded(&out, &flux, &gitea);
    let first = gitea.api_requests_since(0);
    eprintln!(
        "first run: {} API requests ({} writes), {} requests in all (Git over HTTP included)",
        first.len(),
        first.iter().filter(|r| !r.starts_with("GET ")).count(),
        gitea.requests().len()
    );
    assert_eq!(
        first,
        [
            "GET /api/v1/repos/platform/fleet",
            "GET /api/v1/orgs/platform",
            "POST /api/v1/orgs/platform/repos",
            "GET /api/v1/repos/platform/fleet/teams/deployers",
            "PUT /api/v1/repos/platform/fleet/teams/deployers",
            "GET /api/v1/repos/platform/fleet/keys?limit=50",
            "POST /api/v1/repos/platform/fleet/keys",
        ]
    );
    let revision = format!("main@sha1:{}", head(&bare));
    assert!(
        stdout(&out).starts_with(&format!(
            "✔ bootstrap finished: the cluster is synced to {revision} (2 commits pushed, "
        )),
        "{}",
        stdout(&out)
    );
    for text in [stdout(&out), stderr(&out)] {
        assert!(!text.contains(&gitea.token), "the token in the output");
    }

    // On the server: private, default branch main, the team attached, one read-only deploy
    // key with the Secret's public key.
    let (status, info) = gitea.api("GET", &format!("/api/v1/repos/{repo}"), None);
    assert_eq!(status, 200);
    assert_eq!(
        (&info["private"], &info["default_branch"], &info["empty"]),
        (&true.into(), &"main".into(), &false.into())
    );
    let (status, _) = gitea.api("GET", &format!("/api/v1/repos/{repo}/teams/{TEAM}"), None);
    assert_eq!(status, 200, "the team has access");
    let keys = gitea.deploy_keys(&repo);
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(keys[0]["title"], KEY_TITLE);
    assert_eq!(keys[0]["read_only"], true);
    let public_key = secret_text(&flux, "identity.pub");
    let registered = keys[0]["key"].as_str().unwrap_or_default();
    assert!(
        registered.starts_with(public_key.trim()),
        "{registered} vs {public_key}"
    );
    let first_key_id = keys[0]["id"].clone();

    // The source-controller clones over Gitea's SSH server with that key alone.
    let source = flux.get("gitrepository", NS, NS).expect("GitRepository");
    assert_eq!(
        source["spec"]["url"],
        format!("ssh://git@{}/platform/fleet", gitea.ssh_host)
    );
    assert_synced_by_the_controllers(&flux, &revision).await;
    let secret = flux.get("secret", NS, NS).expect("Secret");
    let data: Vec<&String> = secret["data"].as_object().expect("data").keys().collect();
    assert_eq!(data, ["identity", "identity.pub", "known_hosts"]);

    // A change pushed by a user reconciles.
    let url = format!("{}/{repo}.git", gitea.url);
    let pushed = push(
        &url,
        &git_env(&gitea),
        "Add a ConfigMap",
        &[("clusters/dev/app.yaml", Some(CONFIG_MAP))],
    );
    let out = flux.gitops_ok(&RECONCILE_ROOT).await;
    assert!(stdout(&out).contains(&pushed), "{}", stdout(&out));
    eventually(&flux, "ConfigMap applied", Duration::from_secs(60), || {
        flux.get("configmap", "default", "from-gitea").is_some()
    })
    .await;

    // Re-run: nothing to do, and only reads on the API.
    let before = gitea.requests().len();
    let out = bootstrap_gitea(
        &flux,
        &gitea,
        &gitea.token,
        &["--owner", ORG, "--repository", "fleet", "--team", TEAM],
    )
    .await;
    succeeded(&out, &flux, &gitea);
    let rerun = gitea.api_requests_since(before);
    eprintln!(
        "re-run: {} API requests ({} writes)",
        rerun.len(),
        rerun.iter().filter(|r| !r.starts_with("GET ")).count()
    );
    assert_eq!(
        rerun,
        [
            "GET /api/v1/repos/platform/fleet",
            "GET /api/v1/repos/platform/fleet/teams/deployers",
            "GET /api/v1/repos/platform/fleet/keys?limit=50",
        ]
    );
    let revision = format!("main@sha1:{pushed}");
    assert_eq!(
        stdout(&out),
        format!("✔ bootstrap finished: nothing changed, the cluster is synced to {revision}\n")
    );
    assert_eq!(gitea.deploy_keys(&repo)[0]["id"], first_key_id, "same key");

    // --read-write-key: the same key is registered again, now with write access.
    let before = gitea.requests().len();
    let out = bootstrap_gitea(
        &flux,
        &gitea,
        &gitea.token,
        &["--owner", ORG, "--repository", "fleet", "--read-write-key"],
    )
    .await;
    succeeded(&out, &flux, &gitea);
    let api = gitea.api_requests_since(before);
    let old_id = first_key_id.as_u64().expect("an id");
    assert_eq!(
        api,
        [
            "GET /api/v1/repos/platform/fleet".to_string(),
            "GET /api/v1/repos/platform/fleet/keys?limit=50".to_string(),
            format!("DELETE /api/v1/repos/platform/fleet/keys/{old_id}"),
            "POST /api/v1/repos/platform/fleet/keys".to_string(),
        ]
    );
    assert_eq!(
        stdout(&out),
        format!(
            "✔ bootstrap finished: the cluster is synced to {revision} (0 commits pushed, 0 objects changed, 1 change on the forge)\n"
        )
    );
    let keys = gitea.deploy_keys(&repo);
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(
        (&keys[0]["title"], &keys[0]["read_only"]),
        (&KEY_TITLE.into(), &false.into())
    );
    assert!(
        keys[0]["key"]
            .as_str()
            .unwrap_or_default()
            .starts_with(public_key.trim())
    );
}

const CONFIG_MAP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-gitea\n  namespace: default\ndata:\n  via: gitea\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitea_bootstrap_personal_with_token_auth_and_the_errors_users_meet() {
    let (flux, gitea) = start().await;
    let host = gitea.url.trim_start_matches("http://").to_string();

    // A wrong token: 401, said as such, nothing created.
    let out = bootstrap_gitea(
        &flux,
        &gitea,
        "not-a-token",
        &["--owner", ADMIN, "--personal", "--repository", "fleet"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let last = stderr(&out).lines().last().unwrap_or_default().to_string();
    assert_eq!(
        last,
        format!(
            "error: Gitea at {host} refused the access token (HTTP 401 on GET /api/v1/repos/gitops-admin/fleet): it is wrong, expired or revoked; create a new token (scopes: write:repository, write:organization, read:user) and pass it in GITEA_TOKEN or with --token-file"
        )
    );
    assert!(!stderr(&out).contains("not-a-token"));

    // --personal with an owner that is not the token's user.
    let out = bootstrap_gitea(
        &flux,
        &gitea,
        &gitea.token,
        &[
            "--owner",
            "someone-else",
            "--personal",
            "--repository",
            "fleet",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).lines().last().unwrap_or_default(),
        "error: the owner \"someone-else\" is not the user of the token (\"gitops-admin\"): with --personal the repository belongs to the token's user; pass --owner=gitops-admin, or drop --personal if \"someone-else\" is an organisation"
    );

    // A 2048-bit RSA key: Gitea's key policy refuses it, and the error says what to use.
    let out = bootstrap_gitea(
        &flux,
        &gitea,
        &gitea.token,
        &[
            "--owner",
            ADMIN,
            "--personal",
            "--repository",
            "fleet-rsa",
            "--ssh-key-algorithm",
            "rsa",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).lines().last().unwrap_or_default(),
        "error: Gitea refused the deploy key for gitops-admin/fleet-rsa: Invalid key content: key length is not enough: got 2048, needs 3071; the server's key policy rejects this RSA key (Gitea requires RSA keys of at least 3072 bits, and a generated RSA key has 2048): use --ssh-key-algorithm=ecdsa (the default) or ed25519"
    );
    assert!(gitea.deploy_keys(&format!("{ADMIN}/fleet-rsa")).is_empty());

    // --personal --token-auth: the repository of the token's user, synced over HTTP with the
    // token (which then is, as asked, in the Secret); no deploy key.
    let before = gitea.requests().len();
    let out = bootstrap_gitea(
        &flux,
        &gitea,
        &gitea.token,
        &[
            "--owner",
            ADMIN,
            "--personal",
            "--repository",
            "fleet",
            "--token-auth",
        ],
    )
    .await;
    succeeded(&out, &flux, &gitea);
    assert_eq!(
        gitea.api_requests_since(before),
        [
            "GET /api/v1/repos/gitops-admin/fleet",
            "GET /api/v1/user",
            "POST /api/v1/user/repos",
        ]
    );
    for text in [stdout(&out), stderr(&out)] {
        assert!(!text.contains(&gitea.token), "the token in the output");
    }
    let bare = gitea.dir().join("repos/gitops-admin/fleet.git");
    let revision = format!("main@sha1:{}", head(&bare));
    let source = flux.get("gitrepository", NS, NS).expect("GitRepository");
    assert_eq!(
        source["spec"]["url"],
        format!("{}/gitops-admin/fleet.git", gitea.url)
    );
    assert_synced_by_the_controllers(&flux, &revision).await;
    assert_eq!(secret_text(&flux, "username"), "git");
    assert_eq!(secret_text(&flux, "password"), gitea.token);
    assert!(gitea.deploy_keys(&format!("{ADMIN}/fleet")).is_empty());
    let (_, info) = gitea.api("GET", "/api/v1/repos/gitops-admin/fleet", None);
    assert_eq!(info["private"], true);
}
