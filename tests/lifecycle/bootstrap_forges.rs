//! Contract tests of `bootstrap github` and `bootstrap gitlab`: the whole command against a
//! private control plane (with the kubelet stand-in and fake Flux controllers, as the
//! `bootstrap git` tests) and the forge API STAND-IN (tests/support/forge_stand_in), which
//! checks every request against GitHub's OpenAPI description or GitLab's documented shapes and
//! keeps its repositories as real bare Git repositories. The exact request lists are the
//! contract: a re-run with nothing to do reads and never writes.
//!
//! Bootstrap runs here, not in tests/integration, for the reason the `bootstrap git` tests do:
//! it installs Flux's CRDs and controllers, cluster-wide, so each test has its own cluster.

use std::process::{Command, Output};

use crate::bootstrap::stand_ins;
use crate::support::control_plane::ControlPlane;
use crate::support::forge_stand_in::ForgeStandIn;
use crate::support::git_servers::GitSshServer;
use crate::support::processes::temp_dir;
use crate::support::{plugin_command, run_async, stderr, stdout};

const NS: &str = "flux-system";
const KEY_TITLE: &str = "flux-system-main-flux-system-clusters/dev";

/// `kubectl-gitops bootstrap <forge> <args>` against `plane` and the stand-in, with the
/// manifests of the release layout, a private cache, and the token in the forge's variable.
fn forge_command(
    plane: &ControlPlane,
    stand_in: &ForgeStandIn,
    ssh: &GitSshServer,
    forge: &str,
    token: &str,
    args: &[&str],
) -> Command {
    let mut command = plugin_command(plane, &["bootstrap", forge]);
    command
        .args(["--hostname", &stand_in.hostname()])
        .arg("--ca-file")
        .arg(&stand_in.ca_file)
        .args(["--ssh-hostname", &format!("127.0.0.1:{}", ssh.port)])
        .args(["--path", "clusters/dev"])
        .args(args)
        .arg("--manifests")
        .arg(plane.assets.flux_release.join("install.yaml"))
        .args(["--timeout", "90s"])
        .env("XDG_CACHE_HOME", temp_dir("cache-"))
        .env_remove("GITHUB_TOKEN")
        .env_remove("GITLAB_TOKEN")
        .env(
            if forge == "github" {
                "GITHUB_TOKEN"
            } else {
                "GITLAB_TOKEN"
            },
            token,
        );
    command
}

async fn bootstrap(
    plane: &ControlPlane,
    stand_in: &ForgeStandIn,
    ssh: &GitSshServer,
    forge: &str,
    args: &[&str],
) -> Output {
    let token = stand_in.token.clone();
    run_async(forge_command(plane, stand_in, ssh, forge, &token, args)).await
}

fn succeeded(out: &Output, stand_in: &ForgeStandIn) {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
    for text in [stdout(out), stderr(out)] {
        assert!(!text.contains(&stand_in.token), "the token in the output");
    }
}

/// The public key of the cluster's source Secret (`type base64`).
fn secret_public_key(plane: &ControlPlane) -> String {
    use base64::Engine;
    let encoded = plane.kubectl_ok(&[
        "get",
        "secret",
        NS,
        "-n",
        NS,
        "-o",
        "jsonpath={.data.identity\\.pub}",
    ]);
    let key = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .unwrap();
    String::from_utf8(key)
        .unwrap()
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

fn last_error(out: &Output) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err.lines().last().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_first_run_creates_repository_and_key_a_rerun_only_reads() {
    let plane = ControlPlane::start_private();
    let stand_in = ForgeStandIn::github("octo");
    stand_in.add_org("acme");
    stand_in.add_team("acme", "platform");
    let ssh = GitSshServer::start();
    let _stand_ins = stand_ins(&plane, &stand_in.bare_path("acme", "fleet")).await;
    let args = [
        "--owner",
        "acme",
        "--repository",
        "fleet",
        "--team",
        "platform",
    ];

    let out = bootstrap(&plane, &stand_in, &ssh, "github", &args).await;
    succeeded(&out, &stand_in);
    let api = "/api/v3";
    assert_eq!(
        stand_in.requests(),
        [
            format!("GET {api}/repos/acme/fleet"),
            format!("GET {api}/orgs/acme"),
            format!("POST {api}/orgs/acme/repos"),
            format!("GET {api}/repos/acme/fleet/teams?per_page=100"),
            format!("PUT {api}/orgs/acme/teams/platform/repos/acme/fleet"),
            format!("GET {api}/repos/acme/fleet/keys?per_page=100"),
            format!("POST {api}/repos/acme/fleet/keys"),
        ]
    );
    let repo = stand_in.repository("acme", "fleet").expect("created");
    assert_eq!(repo.visibility, "private");
    assert_eq!(
        repo.teams.get("platform").map(String::as_str),
        Some("maintain")
    );
    assert_eq!(repo.keys.len(), 1);
    assert_eq!(repo.keys[0].title, KEY_TITLE);
    assert!(repo.keys[0].read_only, "the deploy key must be read-only");
    assert_eq!(repo.keys[0].key, secret_public_key(&plane));
    // Real Git: the component and sync commits are on the repository's main branch.
    let log = Command::new("git")
        .arg("--git-dir")
        .arg(stand_in.bare_path("acme", "fleet"))
        .args(["log", "--format=%s", "main"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&log.stdout),
        "Add Flux sync manifests\nAdd Flux v2.9.4 component manifests\n"
    );
    let sync = Command::new("git")
        .arg("--git-dir")
        .arg(stand_in.bare_path("acme", "fleet"))
        .args(["show", "main:clusters/dev/flux-system/gotk-sync.yaml"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&sync.stdout).contains(&format!(
            "  url: ssh://git@127.0.0.1:{}/acme/fleet\n",
            ssh.port
        )),
        "{}",
        String::from_utf8_lossy(&sync.stdout)
    );

    // A re-run: the same reads, no write.
    stand_in.clear_requests();
    let out = bootstrap(&plane, &stand_in, &ssh, "github", &args).await;
    succeeded(&out, &stand_in);
    assert!(stdout(&out).contains("nothing changed"), "{}", stdout(&out));
    assert_eq!(
        stand_in.requests(),
        [
            format!("GET {api}/repos/acme/fleet"),
            format!("GET {api}/repos/acme/fleet/teams?per_page=100"),
            format!("GET {api}/repos/acme/fleet/keys?per_page=100"),
        ]
    );

    // Another key mode: the key is deleted and registered again, read-write.
    let old = stand_in.repository("acme", "fleet").unwrap().keys[0].id;
    stand_in.clear_requests();
    let mut read_write = args.to_vec();
    read_write.push("--read-write-key");
    let out = bootstrap(&plane, &stand_in, &ssh, "github", &read_write).await;
    succeeded(&out, &stand_in);
    assert_eq!(
        stand_in.writes(),
        [
            format!("DELETE {api}/repos/acme/fleet/keys/{old}"),
            format!("POST {api}/repos/acme/fleet/keys"),
        ]
    );
    let keys = stand_in.repository("acme", "fleet").unwrap().keys;
    assert_eq!(keys.len(), 1);
    assert!(!keys[0].read_only);
    assert_eq!(keys[0].title, KEY_TITLE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_errors_name_the_cause_and_pagination_and_rate_limits_are_followed() {
    let plane = ControlPlane::start_private();
    let stand_in = ForgeStandIn::github("octo");
    let ssh = GitSshServer::start();
    let _stand_ins = stand_ins(&plane, &stand_in.bare_path("octo", "fleet")).await;
    let personal = ["--owner", "octo", "--repository", "fleet", "--personal"];

    // A bad token: 401, said as such, nothing written.
    let out = run_async(forge_command(
        &plane,
        &stand_in,
        &ssh,
        "github",
        "ghp_wrong",
        &personal,
    ))
    .await;
    let error = last_error(&out);
    assert!(
        error.contains("refused the access token (HTTP 401"),
        "{error}"
    );
    assert!(stand_in.writes().is_empty());

    // --personal with somebody else as owner.
    let out = bootstrap(
        &plane,
        &stand_in,
        &ssh,
        "github",
        &["--owner", "someone", "--repository", "fleet", "--personal"],
    )
    .await;
    let error = last_error(&out);
    assert!(
        error.contains("\"someone\" is not the user of the token (\"octo\")"),
        "{error}"
    );
    assert!(stand_in.writes().is_empty());

    // A token without admin rights: GitHub hides the keys endpoint (404).
    stand_in.create_repository("octo", "fleet");
    stand_in.add_other_deploy_keys("octo", "fleet", 105);
    stand_in.set_admin(false);
    let out = bootstrap(&plane, &stand_in, &ssh, "github", &personal).await;
    let error = last_error(&out);
    assert!(
        error.contains("GitHub answered HTTP 404 to listing deploy keys for octo/fleet")
            && error.contains("not an admin of the repository"),
        "{error}"
    );
    stand_in.set_admin(true);

    // 105 keys of others: two pages, followed by the Link header; a rate limit on the way
    // is waited out and said.
    stand_in.clear_requests();
    stand_in.rate_limit_next(1, 2);
    let out = bootstrap(&plane, &stand_in, &ssh, "github", &personal).await;
    succeeded(&out, &stand_in);
    let requests = stand_in.requests();
    assert!(
        requests.contains(&"GET /api/v3/repos/octo/fleet/keys?per_page=100&page=2".to_string()),
        "{requests:#?}"
    );
    assert_eq!(
        stand_in.writes(),
        ["POST /api/v3/repos/octo/fleet/keys".to_string()]
    );
    assert!(
        stderr(&out).contains("rate limit"),
        "the wait is not said: {}",
        stderr(&out)
    );
    assert_eq!(
        stand_in.repository("octo", "fleet").unwrap().keys.len(),
        106
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_first_run_creates_project_and_key_a_rerun_only_reads() {
    let plane = ControlPlane::start_private();
    let stand_in = ForgeStandIn::gitlab("lab");
    stand_in.add_org("acme");
    let ssh = GitSshServer::start();
    let _stand_ins = stand_ins(&plane, &stand_in.bare_path("acme", "fleet")).await;
    let args = [
        "--owner",
        "acme",
        "--repository",
        "fleet",
        "--visibility",
        "internal",
    ];

    let out = bootstrap(&plane, &stand_in, &ssh, "gitlab", &args).await;
    succeeded(&out, &stand_in);
    let project = "/api/v4/projects/acme%2Ffleet";
    assert_eq!(
        stand_in.requests(),
        [
            format!("GET {project}"),
            "GET /api/v4/groups/acme".to_string(),
            "POST /api/v4/projects".to_string(),
            format!("GET {project}/deploy_keys?per_page=100"),
            format!("POST {project}/deploy_keys"),
        ]
    );
    let repo = stand_in.repository("acme", "fleet").expect("created");
    assert_eq!(repo.visibility, "internal");
    assert_eq!(repo.keys.len(), 1);
    assert_eq!(repo.keys[0].title, KEY_TITLE);
    assert!(repo.keys[0].read_only, "can_push must be false");
    assert_eq!(repo.keys[0].key, secret_public_key(&plane));

    stand_in.clear_requests();
    let out = bootstrap(&plane, &stand_in, &ssh, "gitlab", &args).await;
    succeeded(&out, &stand_in);
    assert!(stdout(&out).contains("nothing changed"), "{}", stdout(&out));
    assert_eq!(
        stand_in.requests(),
        [
            format!("GET {project}"),
            format!("GET {project}/deploy_keys?per_page=100"),
        ]
    );

    // A token of a user who may not manage deploy keys: 403, said with the next step.
    stand_in.set_admin(false);
    let out = bootstrap(
        &plane,
        &stand_in,
        &ssh,
        "gitlab",
        &[
            "--owner",
            "acme",
            "--repository",
            "fleet",
            "--read-write-key",
        ],
    )
    .await;
    let error = last_error(&out);
    assert!(
        error.contains("GitLab answered HTTP 403 to listing deploy keys for acme/fleet"),
        "{error}"
    );
    let out = run_async(forge_command(
        &plane,
        &stand_in,
        &ssh,
        "gitlab",
        "glpat-wrong",
        &args,
    ))
    .await;
    let error = last_error(&out);
    assert!(
        error.contains("GitLab at 127.0.0.1:")
            && error.contains("refused the access token (HTTP 401"),
        "{error}"
    );
}

/// The source Secret's data, decoded.
fn secret_data(plane: &ControlPlane) -> std::collections::BTreeMap<String, String> {
    use base64::Engine;
    let json = plane.kubectl_ok(&["get", "secret", NS, "-n", NS, "-o", "json"]);
    let secret: serde_json::Value = serde_json::from_str(&json).unwrap();
    secret["data"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(key, value)| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(value.as_str().unwrap())
                .unwrap();
            (key.clone(), String::from_utf8(bytes).unwrap())
        })
        .collect()
}

/// `git ls-remote <url>` over HTTPS as `username:password`, handed to git in its environment
/// (not its arguments), trusting `ca_file`.
fn ls_remote(url: &str, username: &str, password: &str, ca_file: &std::path::Path) -> Output {
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    Command::new("git")
        .args(["ls-remote", url])
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "http.extraHeader")
        .env(
            "GIT_CONFIG_VALUE_0",
            format!("Authorization: Basic {basic}"),
        )
        // Overrides http.sslCAInfo, and may be set already (to the system's authorities).
        .env("GIT_SSL_CAINFO", ca_file)
        .output()
        .unwrap()
}

/// GitLab's `--deploy-token-auth`: a project deploy token (read_repository) becomes the
/// cluster's HTTPS credential, created on the first run, kept (no API write) on a re-run, and
/// revoked and created again when the Secret no longer holds it. No deploy key is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_deploy_token_auth_creates_a_token_once_and_syncs_over_https() {
    let plane = ControlPlane::start_private();
    let stand_in = ForgeStandIn::gitlab("lab");
    stand_in.add_org("acme");
    let ssh = GitSshServer::start();
    let _stand_ins = stand_ins(&plane, &stand_in.bare_path("acme", "fleet")).await;
    let args = [
        "--owner",
        "acme",
        "--repository",
        "fleet",
        "--deploy-token-auth",
    ];
    let project = "/api/v4/projects/acme%2Ffleet";
    let tokens = format!("GET {project}/deploy_tokens?active=true&per_page=100");

    // Refused before anything is contacted: two sync credentials, or write access by a token
    // that can only read.
    for (extra, says) in [
        ("--token-auth", "--token-auth and --deploy-token-auth"),
        ("--read-write-key", "a GitLab deploy token can only read"),
    ] {
        let mut wrong = args.to_vec();
        wrong.push(extra);
        let out = bootstrap(&plane, &stand_in, &ssh, "gitlab", &wrong).await;
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(says), "{}", stderr(&out));
    }
    assert!(stand_in.requests().is_empty(), "{:?}", stand_in.requests());

    let out = bootstrap(&plane, &stand_in, &ssh, "gitlab", &args).await;
    succeeded(&out, &stand_in);
    assert_eq!(
        stand_in.requests(),
        [
            format!("GET {project}"),
            "GET /api/v4/groups/acme".to_string(),
            "POST /api/v4/projects".to_string(),
            tokens.clone(),
            format!("POST {project}/deploy_tokens"),
        ]
    );
    let repo = stand_in.repository("acme", "fleet").expect("created");
    assert!(repo.keys.is_empty(), "no deploy key: {:?}", repo.keys);
    assert_eq!(repo.deploy_tokens.len(), 1);
    let token = repo.deploy_tokens[0].clone();
    assert_eq!(token.name, KEY_TITLE);
    assert_eq!(token.scopes, ["read_repository"]);
    // The Secret holds the deploy token (not the access token), and the stand-in's CA.
    let data = secret_data(&plane);
    assert_eq!(
        data.keys().map(String::as_str).collect::<Vec<_>>(),
        ["ca.crt", "password", "username"]
    );
    assert_eq!(data["username"], token.username);
    assert_eq!(data["password"], token.token);
    assert_eq!(
        data["ca.crt"],
        std::fs::read_to_string(&stand_in.ca_file).unwrap()
    );
    for text in [stdout(&out), stderr(&out)] {
        assert!(
            !text.contains(&token.token),
            "the deploy token in the output"
        );
    }
    assert!(
        stderr(&out).contains(&format!(
            "created deploy token \"{KEY_TITLE}\" (user {}, scope read_repository)",
            token.username
        )),
        "{}",
        stderr(&out)
    );
    // The cluster syncs over HTTPS, and the token really reads the repository (and only
    // reads: the stand-in's Git server refuses it a push, as GitLab).
    let sync = Command::new("git")
        .arg("--git-dir")
        .arg(stand_in.bare_path("acme", "fleet"))
        .args(["show", "main:clusters/dev/flux-system/gotk-sync.yaml"])
        .output()
        .unwrap();
    let url = format!("https://{}/acme/fleet.git", stand_in.host());
    assert!(
        String::from_utf8_lossy(&sync.stdout).contains(&format!("  url: {url}\n")),
        "{}",
        String::from_utf8_lossy(&sync.stdout)
    );
    let listed = ls_remote(&url, &token.username, &token.token, &stand_in.ca_file);
    assert!(
        listed.status.success() && stdout(&listed).contains("\trefs/heads/main\n"),
        "{}{}",
        stdout(&listed),
        stderr(&listed)
    );

    // A re-run reads the project and the tokens, and writes nothing.
    stand_in.clear_requests();
    let out = bootstrap(&plane, &stand_in, &ssh, "gitlab", &args).await;
    succeeded(&out, &stand_in);
    assert!(stdout(&out).contains("nothing changed"), "{}", stdout(&out));
    assert_eq!(
        stand_in.requests(),
        [format!("GET {project}"), tokens.clone()]
    );
    assert_eq!(secret_data(&plane)["password"], token.token);

    // The Secret is gone (its token's secret with it: GitLab never shows it again): the old
    // token is revoked and a new one made.
    plane.kubectl_ok(&["delete", "secret", NS, "-n", NS]);
    stand_in.clear_requests();
    let out = bootstrap(&plane, &stand_in, &ssh, "gitlab", &args).await;
    succeeded(&out, &stand_in);
    assert_eq!(
        stand_in.writes(),
        [
            format!("DELETE {project}/deploy_tokens/{}", token.id),
            format!("POST {project}/deploy_tokens"),
        ]
    );
    let tokens_now = stand_in.repository("acme", "fleet").unwrap().deploy_tokens;
    assert_eq!(tokens_now.len(), 2);
    assert!(tokens_now[0].revoked);
    assert!(!tokens_now[1].revoked);
    let data = secret_data(&plane);
    assert_eq!(data["username"], tokens_now[1].username);
    assert_eq!(data["password"], tokens_now[1].token);
    let refused = ls_remote(&url, &token.username, &token.token, &stand_in.ca_file);
    assert!(!refused.status.success(), "a revoked token still reads");
}
