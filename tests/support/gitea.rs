//! A real Gitea (tests/env/prepare.sh builds it) on loopback: its HTTP API and web Git, and its
//! built-in SSH server, over SQLite in a temporary folder. Set up as a user would, with its own
//! `gitea admin` CLI (the admin user and an access token), then its API (an organisation and a
//! team).
//!
//! In front of its HTTP port runs a counting proxy: every request a test's command sends is
//! recorded as "METHOD /path" before it is passed on, so a test can compare the exact API calls
//! of a run (and prove a re-run writes nothing). Gitea's ROOT_URL is the proxy's address, so
//! the URLs Gitea hands out (clone URLs, `Link` pages) lead through it too. The harness's own
//! setup and checks go to Gitea directly and are not counted.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::control_plane::random_hex;
use super::processes::{free_port, log_tail, spawn, stop, temp_dir};

/// The organisation and team the harness creates.
pub const ORG: &str = "platform";
pub const TEAM: &str = "deployers";
/// The admin user (owner of the token).
pub const ADMIN: &str = "gitops-admin";

pub struct Gitea {
    /// `http://127.0.0.1:<proxy>`: what tests pass as `--hostname`.
    pub url: String,
    /// `127.0.0.1:<port>` of the built-in SSH server: `--ssh-hostname`.
    pub ssh_host: String,
    /// The admin's access token (all scopes).
    pub token: String,
    /// Gitea's own port, behind the proxy.
    direct_port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    child: Child,
    log: PathBuf,
    dir: PathBuf,
}

impl Gitea {
    /// Starts Gitea with an admin user, its token, organisation [`ORG`] and team [`TEAM`].
    pub fn start(binary: &Path) -> Gitea {
        let dir = temp_dir("gitea-");
        let proxy = TcpListener::bind("127.0.0.1:0").expect("bind the counting proxy");
        let proxy_port = proxy.local_addr().expect("proxy address").port();
        let direct_port = free_port();
        let ssh_port = free_port();
        let static_root = binary.parent().expect("Gitea's folder").join("static");
        let config = dir.join("app.ini");
        std::fs::write(
            &config,
            app_ini(&dir, &static_root, proxy_port, direct_port, ssh_port),
        )
        .expect("write app.ini");

        let gitea = |args: &[&str]| {
            let out = Command::new(binary)
                .arg("--config")
                .arg(&config)
                .args(args)
                .env("GITEA_WORK_DIR", &dir)
                .output()
                .expect("run gitea");
            assert!(
                out.status.success(),
                "gitea {args:?} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).to_string()
        };
        gitea(&["migrate"]);
        let password = format!("pw-{}", random_hex());
        let created = gitea(&[
            "admin",
            "user",
            "create",
            "--admin",
            "--username",
            ADMIN,
            "--password",
            &password,
            "--email",
            "gitops-admin@example.invalid",
            "--must-change-password=false",
            "--access-token",
            "--access-token-scopes",
            "all",
        ]);
        let token = created
            .lines()
            .find_map(|l| l.strip_prefix("Access token was successfully created... "))
            .unwrap_or_else(|| panic!("no token in gitea's answer: {created}"))
            .trim()
            .to_string();

        let log = dir.join("gitea.log");
        let mut command = Command::new(binary);
        command
            .arg("--config")
            .arg(&config)
            .arg("web")
            .env("GITEA_WORK_DIR", &dir);
        let mut child = spawn(command, &log);
        let requests = Arc::new(Mutex::new(Vec::new()));
        start_counting_proxy(proxy, direct_port, requests.clone());
        let server = Gitea {
            url: format!("http://127.0.0.1:{proxy_port}"),
            ssh_host: format!("127.0.0.1:{ssh_port}"),
            token,
            direct_port,
            requests,
            child: {
                wait_ready(&mut child, direct_port, ssh_port, &log);
                child
            },
            log,
            dir,
        };
        let (status, body) = server.api(
            "POST",
            "/api/v1/orgs",
            Some(&format!(r#"{{"username":"{ORG}","visibility":"public"}}"#)),
        );
        assert_eq!(status, 201, "create organisation: {body}");
        let (status, body) = server.api(
            "POST",
            &format!("/api/v1/orgs/{ORG}/teams"),
            Some(&format!(
                r#"{{"name":"{TEAM}","permission":"write","units":["repo.code"],"includes_all_repositories":false}}"#
            )),
        );
        assert_eq!(status, 201, "create team: {body}");
        server.requests.lock().expect("requests").clear();
        server
    }

    /// Every request that went through the proxy, as "METHOD /path?query", oldest first.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("requests").clone()
    }

    /// The API requests (`/api/`) among [`Self::requests`] from index `from` on.
    pub fn api_requests_since(&self, from: usize) -> Vec<String> {
        self.requests()[from..]
            .iter()
            .filter(|r| r.split(' ').nth(1).is_some_and(|p| p.starts_with("/api/")))
            .cloned()
            .collect()
    }

    /// A request to Gitea's API as the admin, directly (not counted): (status, JSON body).
    pub fn api(&self, method: &str, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
        http_request(self.direct_port, method, path, Some(&self.token), body)
    }

    /// The deploy keys of a repository, as Gitea lists them.
    pub fn deploy_keys(&self, repo: &str) -> Vec<serde_json::Value> {
        let (status, body) = self.api("GET", &format!("/api/v1/repos/{repo}/keys"), None);
        assert_eq!(status, 200, "list keys of {repo}: {body}");
        body.as_array().expect("a list").clone()
    }

    pub fn log_tail(&self) -> String {
        log_tail(&self.log, 40)
    }

    /// Gitea's data folder (repositories under `repos/`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Gitea {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("Gitea's log:\n{}", log_tail(&self.log, 40));
        }
        stop(&mut self.child, Duration::from_secs(5));
    }
}

fn app_ini(dir: &Path, static_root: &Path, proxy: u16, direct: u16, ssh: u16) -> String {
    let d = dir.display();
    // Tests run as root in CI: Gitea refuses that unless told, and RUN_USER must match.
    let user = whoami();
    format!(
        "APP_NAME = kubectl-gitops tests
RUN_USER = {user}
RUN_MODE = prod
I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true
WORK_PATH = {d}
[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = {direct}
ROOT_URL = http://127.0.0.1:{proxy}/
APP_DATA_PATH = {d}/data
STATIC_ROOT_PATH = {static_root}
OFFLINE_MODE = true
LFS_START_SERVER = false
START_SSH_SERVER = true
SSH_DOMAIN = 127.0.0.1
SSH_PORT = {ssh}
SSH_LISTEN_HOST = 127.0.0.1
SSH_LISTEN_PORT = {ssh}
BUILTIN_SSH_SERVER_USER = git
SSH_SERVER_HOST_KEYS = ssh/gitea.ed25519
[database]
DB_TYPE = sqlite3
PATH = {d}/gitea.db
[repository]
ROOT = {d}/repos
[security]
INSTALL_LOCK = true
SECRET_KEY = {secret}
[service]
DISABLE_REGISTRATION = true
[mailer]
ENABLED = false
[log]
MODE = console
LEVEL = Warn
ROOT_PATH = {d}/log
[session]
PROVIDER = memory
[cache]
ADAPTER = memory
[indexer]
REPO_INDEXER_ENABLED = false
",
        static_root = static_root.display(),
        secret = random_hex() + &random_hex(),
    )
}

fn whoami() -> String {
    let out = Command::new("id").arg("-un").output().expect("run id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Waits until the API answers and the SSH port accepts connections.
fn wait_ready(child: &mut Child, http: u16, ssh: u16, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("gitea web exited with {status}:\n{}", log_tail(log, 30));
        }
        let api_up = TcpStream::connect(("127.0.0.1", http)).is_ok()
            && http_request(http, "GET", "/api/v1/version", None, None).0 == 200;
        if api_up && TcpStream::connect(("127.0.0.1", ssh)).is_ok() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "gitea did not answer within a minute:\n{}",
            log_tail(log, 30)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One HTTP/1.1 request on loopback (Connection: close): (status, body as JSON or a string).
fn http_request(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, serde_json::Value) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, serde_json::Value::Null);
    };
    let body = body.unwrap_or("");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nAccept: application/json\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(token) = token {
        request += &format!("Authorization: token {token}\r\n");
    }
    request += "\r\n";
    request += body;
    if stream.write_all(request.as_bytes()).is_err() {
        return (0, serde_json::Value::Null);
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).to_string();
    let Some((head, rest)) = answer.split_once("\r\n\r\n") else {
        return (0, serde_json::Value::Null);
    };
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let text = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (status, json)
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || after.len() < size {
            break;
        }
        out += &after[..size];
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

/// The counting proxy: per connection, requests are read (head, then a `Content-Length` or
/// chunked body), recorded and passed to Gitea; answers flow back unchanged.
fn start_counting_proxy(listener: TcpListener, upstream: u16, requests: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let requests = requests.clone();
            std::thread::spawn(move || {
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    return;
                };
                let (Ok(mut client_w), Ok(mut server_r)) = (client.try_clone(), server.try_clone())
                else {
                    return;
                };
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut server_r, &mut client_w);
                    let _ = client_w.shutdown(std::net::Shutdown::Write);
                });
                let _ = relay_requests(BufReader::new(client), server, &requests);
            });
        }
    });
}

fn relay_requests(
    mut client: BufReader<TcpStream>,
    mut server: TcpStream,
    requests: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    loop {
        let mut head = Vec::new();
        let mut line = String::new();
        let mut length = 0usize;
        let mut chunked = false;
        loop {
            line.clear();
            if client.read_line(&mut line)? == 0 {
                let _ = server.shutdown(std::net::Shutdown::Write);
                return Ok(());
            }
            if head.is_empty() {
                let mut parts = line.split(' ');
                let method = parts.next().unwrap_or_default();
                let target = parts.next().unwrap_or_default();
                requests
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(format!("{method} {target}"));
            }
            let lower = line.to_ascii_lowercase();
            if let Some(value) = lower.strip_prefix("content-length:") {
                length = value.trim().parse().unwrap_or(0);
            }
            if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            }
            head.extend_from_slice(line.as_bytes());
            if line == "\r\n" || line == "\n" {
                break;
            }
        }
        server.write_all(&head)?;
        if chunked {
            loop {
                line.clear();
                client.read_line(&mut line)?;
                server.write_all(line.as_bytes())?;
                let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                    .unwrap_or(0);
                if size == 0 {
                    // Trailers, up to the empty line.
                    loop {
                        line.clear();
                        if client.read_line(&mut line)? == 0 {
                            break;
                        }
                        server.write_all(line.as_bytes())?;
                        if line == "\r\n" || line == "\n" {
                            break;
                        }
                    }
                    break;
                }
                let mut chunk = vec![0; size + 2];
                client.read_exact(&mut chunk)?;
                server.write_all(&chunk)?;
            }
        } else if length > 0 {
            let mut body = vec![0; length];
            client.read_exact(&mut body)?;
            server.write_all(&body)?;
        }
    }
}
