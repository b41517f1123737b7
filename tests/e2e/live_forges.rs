//! OPT-IN live tests against the real github.com and gitlab.com (or a GitHub Enterprise or
//! self-managed GitLab server), which cannot run in CI: the forge stand-in
//! (tests/lifecycle/bootstrap_forges.rs) and the real Gitea (bootstrap_gitea.rs) are what CI
//! proves. A user with a token runs them with
//!
//! ```text
//! KUBECTL_GITOPS_TEST_GITHUB_TOKEN=<token: repo and delete_repo scopes>
//! KUBECTL_GITOPS_TEST_GITHUB_OWNER=<user or organisation>
//! [KUBECTL_GITOPS_TEST_GITHUB_HOSTNAME=<GitHub Enterprise host>]
//! KUBECTL_GITOPS_TEST_GITLAB_TOKEN=<token: api scope>
//! KUBECTL_GITOPS_TEST_GITLAB_OWNER=<user or group>
//! [KUBECTL_GITOPS_TEST_GITLAB_HOSTNAME=<self-managed GitLab>]
//! cargo test --test e2e live_forges
//! ```
//!
//! Each bootstraps the real controllers from a new repository `kubectl-gitops-live-<random>`
//! (over SSH with the registered deploy key, so the forge's SSH server is used too), checks the
//! read-only deploy key through the forge's API, re-runs bootstrap (nothing changes), and
//! deletes the repository, also when the test fails. Without the variables each test reports
//! itself SKIPPED on the test output (past libtest's capture), and tests/run.sh counts the
//! skipped tests in its summary: a skipped live test never passes silently.

use std::io::Write;

use crate::support::control_plane::random_hex;
use crate::support::{run_async, stderr, stdout};
use crate::{LiveFlux, NS};

const KEY_TITLE: &str = "flux-system-main-flux-system-clusters/live";

/// What tests/run.sh counts: one line per skipped live test.
const SKIP_MARK: &str = "(live forge test)";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Forge {
    GitHub,
    GitLab,
}

impl Forge {
    fn command(self) -> &'static str {
        match self {
            Forge::GitHub => "github",
            Forge::GitLab => "gitlab",
        }
    }

    fn variable(self, what: &str) -> String {
        let forge = match self {
            Forge::GitHub => "GITHUB",
            Forge::GitLab => "GITLAB",
        };
        format!("KUBECTL_GITOPS_TEST_{forge}_{what}")
    }

    /// The REST API's base for `hostname` (None: the public service), ending with `/`.
    fn api(self, hostname: Option<&str>) -> String {
        let base = |host: &str| {
            if host.contains("://") {
                host.trim_end_matches('/').to_string()
            } else {
                format!("https://{host}")
            }
        };
        match (self, hostname) {
            (Forge::GitHub, None) => "https://api.github.com/".to_string(),
            (Forge::GitHub, Some(host)) => {
                let base = base(host);
                if base.ends_with("/api/v3") {
                    format!("{base}/")
                } else {
                    format!("{base}/api/v3/")
                }
            }
            (Forge::GitLab, host) => format!("{}/api/v4/", base(host.unwrap_or("gitlab.com"))),
        }
    }
}

/// The forge account a live test uses, from the environment; `None` (and a SKIPPED line on the
/// real stderr) when it is not set.
struct Account {
    forge: Forge,
    token: String,
    owner: String,
    hostname: Option<String>,
}

impl Account {
    fn from_env(forge: Forge, test: &str) -> Option<Account> {
        let var = |what: &str| {
            std::env::var(forge.variable(what))
                .ok()
                .filter(|v| !v.trim().is_empty())
        };
        match (var("TOKEN"), var("OWNER")) {
            (Some(token), Some(owner)) => Some(Account {
                forge,
                token: token.trim().to_string(),
                owner,
                hostname: var("HOSTNAME"),
            }),
            _ => {
                // Straight to the process's stderr: libtest captures only print!/eprint!.
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED {test} {SKIP_MARK}: set {} and {} to run it",
                    forge.variable("TOKEN"),
                    forge.variable("OWNER")
                );
                None
            }
        }
    }

    fn api(&self) -> String {
        self.forge.api(self.hostname.as_deref())
    }

    /// One API request with the token; the answer's status and JSON body (Null when none).
    async fn request(&self, method: reqwest::Method, path: &str) -> (u16, serde_json::Value) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .user_agent("kubectl-gitops-live-tests")
            .build()
            .expect("HTTP client");
        let mut request = client.request(method, format!("{}{path}", self.api()));
        request = match self.forge {
            Forge::GitHub => request
                .bearer_auth(&self.token)
                .header("accept", "application/vnd.github+json"),
            Forge::GitLab => request.header("private-token", &self.token),
        };
        let response = request.send().await.expect("the forge answers");
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&body).unwrap_or_default())
    }

    /// The token's user name.
    async fn login(&self) -> String {
        let (status, user) = self.request(reqwest::Method::GET, "user").await;
        assert_eq!(status, 200, "GET user: {user}");
        let field = match self.forge {
            Forge::GitHub => "login",
            Forge::GitLab => "username",
        };
        user[field].as_str().unwrap_or_default().to_string()
    }

    fn repository_path(&self, name: &str) -> String {
        match self.forge {
            Forge::GitHub => format!("repos/{}/{name}", self.owner),
            Forge::GitLab => format!(
                "projects/{}",
                format!("{}/{name}", self.owner).replace('/', "%2F")
            ),
        }
    }

    /// The deploy keys of the repository as (title, read-only).
    async fn deploy_keys(&self, name: &str) -> Vec<(String, bool)> {
        let path = match self.forge {
            Forge::GitHub => format!("{}/keys?per_page=100", self.repository_path(name)),
            Forge::GitLab => format!("{}/deploy_keys?per_page=100", self.repository_path(name)),
        };
        let (status, keys) = self.request(reqwest::Method::GET, &path).await;
        assert_eq!(status, 200, "GET {path}: {keys}");
        keys.as_array()
            .into_iter()
            .flatten()
            .map(|key| {
                let read_only = match self.forge {
                    Forge::GitHub => key["read_only"] == true,
                    Forge::GitLab => key["can_push"] == false,
                };
                (
                    key["title"].as_str().unwrap_or_default().to_string(),
                    read_only,
                )
            })
            .collect()
    }
}

/// Deletes the test's repository when dropped, whether the test passed or not.
struct DeleteRepository {
    account: Account,
    name: String,
}

impl Drop for DeleteRepository {
    fn drop(&mut self) {
        let path = self.account.repository_path(&self.name);
        let account = &self.account;
        let outcome = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime")
                        .block_on(account.request(reqwest::Method::DELETE, &path))
                })
                .join()
        });
        match outcome {
            Ok((status, _)) if (200..300).contains(&status) || status == 404 => {}
            Ok((status, body)) => eprintln!(
                "could not delete the live test's repository {}/{} (HTTP {status}: {body}): delete it by hand (a GitHub token needs the delete_repo scope)",
                account.owner, self.name
            ),
            Err(_) => eprintln!(
                "could not delete the live test's repository {}/{}: delete it by hand",
                account.owner, self.name
            ),
        }
    }
}

/// Bootstrap into a new repository, check the deploy key, re-run; the repository is deleted
/// at the end.
async fn bootstrap_into_a_new_repository(account: Account) {
    let forge = account.forge;
    let personal = account.login().await.eq_ignore_ascii_case(&account.owner);
    let name = format!("kubectl-gitops-live-{}", &random_hex()[..12]);
    let owner = account.owner.clone();
    let token = account.token.clone();
    let hostname = account.hostname.clone();
    let repository = DeleteRepository { account, name };
    let flux = LiveFlux::start().await;
    let mut args = vec![
        "--owner",
        owner.as_str(),
        "--repository",
        repository.name.as_str(),
        "--path",
        "clusters/live",
    ];
    if personal {
        args.push("--personal");
    }
    if let Some(hostname) = &hostname {
        args.extend(["--hostname", hostname.as_str()]);
    }
    let token_env = match forge {
        Forge::GitHub => "GITHUB_TOKEN",
        Forge::GitLab => "GITLAB_TOKEN",
    };
    let run = || {
        let mut command = flux.bootstrap_command_on(forge.command(), &args, &[]);
        command
            .env_remove("GITHUB_TOKEN")
            .env_remove("GITLAB_TOKEN")
            .env(token_env, &token);
        run_async(command)
    };

    let out = run().await;
    assert!(
        out.status.success(),
        "bootstrap {}:\n{}\n{}\n{}",
        forge.command(),
        stdout(&out),
        stderr(&out),
        flux.logs()
    );
    for text in [stdout(&out), stderr(&out)] {
        assert!(!text.contains(&token), "the token in the output");
    }
    assert_eq!(
        repository.account.deploy_keys(&repository.name).await,
        [(KEY_TITLE.to_string(), true)],
        "one read-only deploy key, named as flux names it"
    );
    let source = flux
        .get("gitrepository", NS, NS)
        .expect("the GitRepository");
    assert!(
        source["spec"]["url"]
            .as_str()
            .is_some_and(|url| url.starts_with("ssh://git@")),
        "{}",
        source["spec"]["url"]
    );

    let out = run().await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("nothing changed"), "{}", stdout(&out));
    drop(repository);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_github_bootstrap_into_a_new_repository() {
    if let Some(account) =
        Account::from_env(Forge::GitHub, "live_github_bootstrap_into_a_new_repository")
    {
        bootstrap_into_a_new_repository(account).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_gitlab_bootstrap_into_a_new_repository() {
    if let Some(account) =
        Account::from_env(Forge::GitLab, "live_gitlab_bootstrap_into_a_new_repository")
    {
        bootstrap_into_a_new_repository(account).await;
    }
}
