//! A STAND-IN for the GitHub REST API and the GitLab REST API v4, which cannot run here: a
//! small stateful HTTPS server on loopback (its own test CA), reached by the plugin through
//! `--hostname` and `--ca-file` exactly as a GitHub Enterprise server or a self-managed GitLab.
//!
//! - Every API request is checked against the vendor's published description before it is
//!   answered (GitHub: `@octokit/openapi`'s api.github.com.json, provided by
//!   tests/env/prepare.sh; GitLab: tests/testdata/forge/gitlab-api-v4.json, written from its REST
//!   documentation). A request the description does not allow is answered 400 and fails the
//!   test when the stand-in is dropped (or at [`ForgeStandIn::assert_valid_requests`]).
//! - Answers are shaped like the real ones: GitHub's are its description's own examples with
//!   the stand-in's state written over them; errors carry the real bodies and headers (401,
//!   GitHub's 404 for a token without admin rights on the keys endpoint, rate limits),
//!   deploy keys are paginated with `Link` (GitHub) and GitLab's `X-*` pagination headers.
//! - Repositories it creates are real bare repositories of a real [`GitHttpServer`]
//!   (git http-backend): the stand-in forwards `/<owner>/<repo>.git/...` there, after checking
//!   the token as the forge does (any user name, the token as password), so clone and push are
//!   real Git.
//! - It records every API request (`METHOD /path?query`), so tests assert exact request lists.

mod api_description;
mod github;
mod gitlab;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_json::Value;

use super::certs::loopback_server_cert;
use super::git_servers::GitHttpServer;
use super::processes::temp_dir;
pub use api_description::ApiDescription;

/// Which forge the stand-in plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forge {
    GitHub,
    GitLab,
}

/// A deploy key as the stand-in stores it (key normalised to `type base64`, as forges do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployKey {
    pub id: u64,
    pub title: String,
    pub key: String,
    pub read_only: bool,
}

/// A GitLab project deploy token.
#[derive(Debug, Clone)]
pub struct DeployToken {
    pub id: u64,
    pub name: String,
    pub username: String,
    pub token: String,
    pub scopes: Vec<String>,
    /// GitLab keeps a deleted (revoked) token, listed with `revoked: true`.
    pub revoked: bool,
}

#[derive(Debug, Clone)]
pub struct Repository {
    pub id: u64,
    pub owner: String,
    pub name: String,
    /// `private`, `internal` or `public`.
    pub visibility: String,
    pub default_branch: String,
    pub description: String,
    pub keys: Vec<DeployKey>,
    /// GitHub: team slug → permission; GitLab: shared group path → access level.
    pub teams: BTreeMap<String, String>,
    pub deploy_tokens: Vec<DeployToken>,
}

#[derive(Default)]
struct State {
    user: String,
    user_id: u64,
    /// Organisations (GitHub) or groups (GitLab): path → id.
    orgs: BTreeMap<String, u64>,
    /// (organisation, team slug) → id; on GitLab a "team" is a group to share with.
    teams: BTreeMap<(String, String), u64>,
    repos: Vec<Repository>,
    next_id: u64,
    /// Whether the token may administer repositories (deploy keys need it).
    admin: bool,
    /// The next this many API requests are answered "rate limited".
    rate_limited: u32,
    rate_limit_seconds: u64,
    requests: Vec<String>,
    invalid: Vec<String>,
}

impl State {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn repo(&mut self, owner: &str, name: &str) -> Option<&mut Repository> {
        self.repos
            .iter_mut()
            .find(|r| r.owner.eq_ignore_ascii_case(owner) && r.name.eq_ignore_ascii_case(name))
    }
}

/// What the forge handlers get: the state, the request, and how to reach the Git server.
struct Context<'a> {
    state: MutexGuard<'a, State>,
    shared: &'a Shared,
}

struct Shared {
    forge: Forge,
    port: u16,
    token: String,
    description: &'static ApiDescription,
    git: GitHttpServer,
    state: Mutex<State>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `https://127.0.0.1:<port>`, the forge's web and Git address.
    fn web(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// Creates the repository's real bare repository on the Git server.
    fn create_bare(&self, owner: &str, name: &str) {
        self.git.create_repo(&format!("{owner}/{name}"));
    }

    fn bare_path(&self, owner: &str, name: &str) -> PathBuf {
        self.git.bare_path(&format!("{owner}/{name}"))
    }

    /// The commit of `branch` in the bare repository, if the branch exists.
    fn branch(&self, owner: &str, name: &str, branch: &str) -> Option<String> {
        let out = std::process::Command::new("git")
            .arg("--git-dir")
            .arg(self.bare_path(owner, name))
            .args(["rev-parse", "--verify", "--quiet"])
            .arg(format!("refs/heads/{branch}"))
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Branch names of the bare repository.
    fn branches(&self, owner: &str, name: &str) -> Vec<String> {
        std::process::Command::new("git")
            .arg("--git-dir")
            .arg(self.bare_path(owner, name))
            .args(["for-each-ref", "--format=%(refname:short)", "refs/heads"])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether the bare repository has no commits yet.
    fn is_empty(&self, owner: &str, name: &str) -> bool {
        std::process::Command::new("git")
            .arg("--git-dir")
            .arg(self.bare_path(owner, name))
            .args(["for-each-ref", "--count=1", "refs/heads"])
            .output()
            .map(|o| o.stdout.is_empty())
            .unwrap_or(true)
    }
}

/// A reply: status, headers, body.
pub struct Reply {
    status: StatusCode,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn json(status: u16, body: &Value) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            headers: vec![(
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: serde_json::to_vec(body).unwrap_or_default(),
        }
    }

    fn empty(status: u16) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn text(status: u16, text: &str) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            headers: vec![("content-type".into(), "text/plain".into())],
            body: text.as_bytes().to_vec(),
        }
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

/// One API request, as the handlers see it.
pub struct ApiRequest {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub headers: http::HeaderMap,
    pub body: Value,
    pub template: String,
    pub params: serde_json::Map<String, Value>,
}

impl ApiRequest {
    fn param(&self, name: &str) -> String {
        self.params
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }

    fn query_number(&self, name: &str) -> Option<usize> {
        self.query.get(name).and_then(|v| v.parse().ok())
    }
}

/// The running stand-in. Dropping it stops the server (and its Git server), and fails the
/// test if any request did not match the API description.
pub struct ForgeStandIn {
    pub forge: Forge,
    pub port: u16,
    /// The CA of the stand-in's certificate, for `--ca-file`.
    pub ca_file: PathBuf,
    /// The only token the stand-in accepts.
    pub token: String,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ForgeStandIn {
    /// A GitHub stand-in where the token belongs to the user `user`, an admin of what it owns.
    pub fn github(user: &str) -> ForgeStandIn {
        Self::start(Forge::GitHub, user)
    }

    /// A GitLab stand-in where the token belongs to the user `user`.
    pub fn gitlab(user: &str) -> ForgeStandIn {
        Self::start(Forge::GitLab, user)
    }

    fn start(forge: Forge, user: &str) -> ForgeStandIn {
        let description = match forge {
            Forge::GitHub => github_description(),
            Forge::GitLab => gitlab_description(),
        };
        let dir = temp_dir("forge-stand-in-");
        let name = match forge {
            Forge::GitHub => "github-stand-in",
            Forge::GitLab => "gitlab-stand-in",
        };
        let (ca_file, cert, key) = loopback_server_cert(&dir, name);
        let tls = super::certs::server_tls_config(&cert, &key);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the stand-in");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("local address").port();
        let token = match forge {
            Forge::GitHub => format!("ghp_{}", super::control_plane::random_hex()),
            Forge::GitLab => format!("glpat-{}", super::control_plane::random_hex()),
        };
        let shared = Arc::new(Shared {
            forge,
            port,
            token: token.clone(),
            description,
            git: GitHttpServer::start(),
            state: Mutex::new(State {
                user: user.to_string(),
                user_id: 583231,
                admin: true,
                next_id: 1000,
                ..Default::default()
            }),
        });
        let (shutdown, stopped) = tokio::sync::oneshot::channel();
        let serving = shared.clone();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("stand-in runtime");
                runtime.block_on(serve(listener, tls, serving, stopped));
            })
            .expect("start the stand-in thread");
        ForgeStandIn {
            forge,
            port,
            ca_file,
            token,
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// The `--hostname` value that reaches the stand-in: GitHub Enterprise's API base
    /// (`https://127.0.0.1:<port>/api/v3`), or the GitLab server (`https://127.0.0.1:<port>`).
    pub fn hostname(&self) -> String {
        match self.forge {
            Forge::GitHub => format!("https://127.0.0.1:{}/api/v3", self.port),
            Forge::GitLab => format!("https://127.0.0.1:{}", self.port),
        }
    }

    /// `127.0.0.1:<port>`, the host of clone URLs.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// An organisation (GitHub) or group (GitLab) the token's user belongs to.
    pub fn add_org(&self, name: &str) {
        let mut state = self.shared.state();
        let id = state.id();
        state.orgs.insert(name.to_string(), id);
    }

    /// A team of `org` (GitHub), or a group to share projects with (GitLab, `org` unused).
    pub fn add_team(&self, org: &str, team: &str) {
        let mut state = self.shared.state();
        let id = state.id();
        state.teams.insert((org.to_string(), team.to_string()), id);
    }

    /// Whether the token has admin rights on repositories (false: GitHub answers 404 on the
    /// deploy keys endpoints, GitLab 403).
    pub fn set_admin(&self, admin: bool) {
        self.shared.state().admin = admin;
    }

    /// The next `count` API requests are answered as over the rate limit, resetting in
    /// `seconds`.
    pub fn rate_limit_next(&self, count: u32, seconds: u64) {
        let mut state = self.shared.state();
        state.rate_limited = count;
        state.rate_limit_seconds = seconds;
    }

    /// A repository made before the test (as by hand), empty, private, default branch main.
    pub fn create_repository(&self, owner: &str, name: &str) {
        let mut state = self.shared.state();
        let id = state.id();
        state.repos.push(Repository {
            id,
            owner: owner.to_string(),
            name: name.to_string(),
            visibility: "private".into(),
            default_branch: "main".into(),
            description: String::new(),
            keys: Vec::new(),
            teams: BTreeMap::new(),
            deploy_tokens: Vec::new(),
        });
        self.shared.create_bare(owner, name);
    }

    /// Adds `count` deploy keys made by others (titles `other-<n>`), to make listings span
    /// pages.
    pub fn add_other_deploy_keys(&self, owner: &str, name: &str, count: usize) {
        let mut state = self.shared.state();
        let mut ids = Vec::new();
        for _ in 0..count {
            ids.push(state.id());
        }
        let repo = state.repo(owner, name).expect("repository of the stand-in");
        for (n, id) in ids.into_iter().enumerate() {
            repo.keys.push(DeployKey {
                id,
                title: format!("other-{n}"),
                key: format!("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{n:0>42}"),
                read_only: true,
            });
        }
    }

    /// A repository as the stand-in holds it now.
    pub fn repository(&self, owner: &str, name: &str) -> Option<Repository> {
        self.shared.state().repo(owner, name).cloned()
    }

    /// The real bare repository behind `owner/name`.
    pub fn bare_path(&self, owner: &str, name: &str) -> PathBuf {
        self.shared.bare_path(owner, name)
    }

    /// API requests so far, `METHOD /path?query`, in order.
    pub fn requests(&self) -> Vec<String> {
        self.shared.state().requests.clone()
    }

    /// Forgets the recorded requests (before the step a test counts).
    pub fn clear_requests(&self) {
        self.shared.state().requests.clear();
    }

    /// Requests that changed something (anything but GET).
    pub fn writes(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| !r.starts_with("GET "))
            .collect()
    }

    /// Takes the record of requests that did not match the description (for the stand-in's own
    /// tests, which send such requests on purpose).
    pub fn take_invalid_requests(&self) -> Vec<String> {
        std::mem::take(&mut self.shared.state().invalid)
    }

    /// Fails when any request did not match the API description.
    pub fn assert_valid_requests(&self) {
        let invalid = self.shared.state().invalid.clone();
        assert!(
            invalid.is_empty(),
            "the plugin sent requests the {:?} API description does not allow:\n{}",
            self.forge,
            invalid.join("\n")
        );
    }
}

impl Drop for ForgeStandIn {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if !std::thread::panicking() {
            self.assert_valid_requests();
        }
    }
}

/// GitHub's description, read once per test binary from the file prepare.sh provides.
fn github_description() -> &'static ApiDescription {
    static DESCRIPTION: OnceLock<ApiDescription> = OnceLock::new();
    DESCRIPTION.get_or_init(|| {
        let path = std::env::var("KUBECTL_GITOPS_TEST_GITHUB_OPENAPI").unwrap_or_else(|_| {
            panic!("KUBECTL_GITOPS_TEST_GITHUB_OPENAPI is not set: run eval \"$(tests/env/prepare.sh)\" (it provides GitHub's OpenAPI description from npm @octokit/openapi)")
        });
        let text = std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
        let document = serde_json::from_slice(&text).unwrap_or_else(|e| panic!("parse {path}: {e}"));
        ApiDescription::new(document, "/api/v3")
    })
}

/// GitLab's documented request shapes (tests/testdata/forge/gitlab-api-v4.json).
fn gitlab_description() -> &'static ApiDescription {
    static DESCRIPTION: OnceLock<ApiDescription> = OnceLock::new();
    DESCRIPTION.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/testdata/forge/gitlab-api-v4.json"
        );
        let text = std::fs::read(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
        let document =
            serde_json::from_slice(&text).unwrap_or_else(|e| panic!("parse {path}: {e}"));
        ApiDescription::new(document, "/api/v4")
    })
}

async fn serve(
    listener: std::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    shared: Arc<Shared>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let stream = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let (acceptor, shared) = (acceptor.clone(), shared.clone());
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(stream).await else {
                return;
            };
            let service = hyper::service::service_fn(move |request| {
                let shared = shared.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(&shared, request).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(shared: &Shared, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().map(str::to_string);
    let api_prefix = match shared.forge {
        Forge::GitHub => "/api/v3/",
        Forge::GitLab => "/api/v4/",
    };
    let reply = if path.starts_with(api_prefix) {
        api(shared, &parts, &path, query.as_deref(), &body)
    } else if path.contains(".git/") {
        git_proxy(shared, &parts, &body).await
    } else {
        Reply::text(404, "Not Found")
    };
    let mut response = Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        response = response.header(name, value);
    }
    response
        .body(Full::new(Bytes::from(reply.body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn api(
    shared: &Shared,
    parts: &http::request::Parts,
    path: &str,
    query: Option<&str>,
    body: &[u8],
) -> Reply {
    let method = parts.method.as_str();
    let line = match query {
        Some(q) => format!("{method} {path}?{q}"),
        None => format!("{method} {path}"),
    };
    let mut state = shared.state();
    state.requests.push(line.clone());
    let matched = match shared.description.validate(method, path, query, body) {
        Ok(matched) => matched,
        Err(problem) => {
            eprintln!("forge stand-in: INVALID REQUEST {line}: {problem}");
            state.invalid.push(format!("{line}: {problem}"));
            return Reply::json(
                400,
                &serde_json::json!({"message": format!("stand-in: the request does not match the API description: {problem}")}),
            );
        }
    };
    let request = ApiRequest {
        method: method.to_string(),
        path: path.to_string(),
        query: query
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (api_description::decode(k), api_description::decode(v))
            })
            .collect(),
        headers: parts.headers.clone(),
        body: serde_json::from_slice(body).unwrap_or(Value::Null),
        template: matched.template,
        params: matched.params,
    };
    let context = Context { state, shared };
    match shared.forge {
        Forge::GitHub => github::answer(context, &request),
        Forge::GitLab => gitlab::answer(context, &request),
    }
}

/// Smart HTTP to the real Git server, for a client that authenticates with the token (any
/// user name, as both forges accept), or a GitLab deploy token for fetching.
async fn git_proxy(shared: &Shared, parts: &http::request::Parts, body: &[u8]) -> Reply {
    use base64::Engine;
    let credentials = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
        .and_then(|v| String::from_utf8(v).ok());
    let fetch_only = parts.uri.path().ends_with("/git-upload-pack")
        || parts
            .uri
            .query()
            .is_some_and(|q| q.contains("service=git-upload-pack"));
    let allowed = credentials.as_deref().is_some_and(|c| {
        let (user, password) = c.split_once(':').unwrap_or((c, ""));
        password == shared.token
            || (fetch_only
                && shared.state().repos.iter().any(|r| {
                    r.deploy_tokens
                        .iter()
                        .any(|t| !t.revoked && t.username == user && t.token == password)
                }))
    });
    if !allowed {
        let realm = match shared.forge {
            Forge::GitHub => "GitHub",
            Forge::GitLab => "GitLab",
        };
        return Reply::text(401, "HTTP Basic: Access denied\n")
            .header("www-authenticate", format!("Basic realm=\"{realm}\""));
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = std::fs::read(&shared.git.ca_file).expect("Git server CA");
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("Git server CA"))
        .build()
        .expect("proxy client");
    let target = format!(
        "https://127.0.0.1:{}/git{}",
        shared.git.port,
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let mut forward = client
        .request(parts.method.clone(), target)
        .basic_auth(&shared.git.username, Some(&shared.git.password))
        .body(body.to_vec());
    for name in ["content-type", "content-encoding", "accept", "git-protocol"] {
        if let Some(value) = parts.headers.get(name) {
            forward = forward.header(name, value);
        }
    }
    match forward.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let headers: Vec<(String, String)> = response
                .headers()
                .iter()
                .filter(|(n, _)| ["content-type", "cache-control", "expires"].contains(&n.as_str()))
                .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_string()))
                .collect();
            let body = response
                .bytes()
                .await
                .map(|b| b.to_vec())
                .unwrap_or_default();
            Reply {
                status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
                headers,
                body,
            }
        }
        Err(e) => Reply::text(502, &format!("stand-in: the Git server failed: {e}")),
    }
}

/// The `type base64` of an OpenSSH public key line, as forges store it; `None` when it is no
/// public key they would take.
fn normalise_key(key: &str) -> Option<String> {
    let mut fields = key.split_whitespace();
    let kind = fields.next()?;
    let data = fields.next()?;
    let known = [
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
    ];
    use base64::Engine;
    (known.contains(&kind)
        && base64::engine::general_purpose::STANDARD
            .decode(data)
            .is_ok())
    .then(|| format!("{kind} {data}"))
}

/// Seconds since the epoch.
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}
