//! Real Git servers on loopback, started by the tests: smart HTTP(S) through `git
//! http-backend` behind lighttpd with basic auth, and SSH through an sshd process of its own.
//! Both serve bare repositories from a temporary folder (see docs/test-environment.md).

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use super::certs::loopback_server_cert;
use super::control_plane::random_hex;
use super::processes::{free_port, log_tail, process_listens_on, spawn, stop, temp_dir};

fn require(program: &str, package: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
        let path = Path::new(dir).join(program);
        if path.exists() {
            return path;
        }
    }
    panic!("{program} is not installed: install the Debian package {package} (tests/run.sh does)");
}

fn git(args: &[&str], cwd: &Path) {
    let out = Command::new("git")
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Creates `<root>/<name>.git`, bare, on branch main, accepting pushes over HTTP.
fn create_bare(root: &Path, name: &str) -> PathBuf {
    let path = root.join(format!("{name}.git"));
    std::fs::create_dir_all(&path).expect("create repo dir");
    git(
        &["init", "--bare", "--quiet", "--initial-branch=main"],
        &path,
    );
    git(&["config", "http.receivepack", "true"], &path);
    path
}

/// The server's message when a pushed commit is not signed (as a protected branch words it).
pub const UNSIGNED_COMMIT_MESSAGE: &str = "protected branch: commits must have verified signatures";

/// Makes the bare repository at `bare` refuse pushes that bring unsigned commits, as a branch
/// protection rule "require signed commits" does: a pre-receive hook that refuses any new
/// commit without a `gpgsig` header. (It checks that a signature is there; the tests check
/// that it verifies with `git verify-commit`.)
pub fn require_signed_commits(bare: &Path) {
    let hook = bare.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        format!(
            r#"#!/bin/sh
zero=0000000000000000000000000000000000000000
while read old new ref; do
  [ "$new" = "$zero" ] && continue
  for commit in $(git rev-list "$new" --not --all); do
    if ! git cat-file commit "$commit" | grep -q '^gpgsig '; then
      echo "{UNSIGNED_COMMIT_MESSAGE} ($ref, commit $commit)" >&2
      exit 1
    fi
  done
done
exit 0
"#
        ),
    )
    .expect("write the pre-receive hook");
    let mut permissions = std::fs::metadata(&hook).expect("hook").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&hook, permissions).expect("make the hook executable");
}

/// Waits until a TCP port accepts connections, or the process exits.
fn wait_listening(child: &mut Child, port: u16, log: &Path, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited with {status}:\n{}", log_tail(log, 30));
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "{what} did not listen on 127.0.0.1:{port} within 20s:\n{}",
        log_tail(log, 30)
    );
}

/// Smart HTTPS (or plain HTTP) Git server (lighttpd + git http-backend) with basic auth under `/git/`, and
/// bearer auth (`Authorization: Bearer <bearer_token>`, anything else refused) under `/bearer/`.
pub struct GitHttpServer {
    pub root: PathBuf,
    pub port: u16,
    pub username: String,
    pub password: String,
    pub bearer_token: String,
    /// The CA that signed the server's certificate (for `--ca-file`, GIT_SSL_CAINFO).
    pub ca_file: PathBuf,
    /// `https`, or `http` for [`GitHttpServer::start_plain`].
    scheme: &'static str,
    lighttpd: PathBuf,
    config: PathBuf,
    dir: PathBuf,
    child: Child,
}

impl GitHttpServer {
    /// Stops the server process (SIGTERM: lighttpd closes every connection at once, as a
    /// server that goes away does). Repositories stay; [`GitHttpServer::start_again`] brings
    /// it back on the same port.
    pub fn stop(&mut self) {
        stop(&mut self.child, Duration::from_secs(5));
    }

    /// Starts the server stopped by [`GitHttpServer::stop`] again, same port and
    /// configuration, and waits until it listens.
    pub fn start_again(&mut self) {
        let mut command = Command::new(&self.lighttpd);
        command.arg("-D").arg("-f").arg(&self.config);
        self.child = spawn(command, &self.dir.join("lighttpd.out"));
        let log = self.dir.join("lighttpd.log");
        wait_listening(&mut self.child, self.port, &log, "lighttpd");
    }

    pub fn start() -> GitHttpServer {
        Self::start_with(true)
    }

    /// The same server over plain HTTP (no TLS), as `--allow-insecure-http` allows.
    pub fn start_plain() -> GitHttpServer {
        Self::start_with(false)
    }

    fn start_with(tls: bool) -> GitHttpServer {
        let lighttpd = require("lighttpd", "lighttpd (and lighttpd-mod-openssl)");
        let dir = temp_dir("git-http-");
        let root = dir.join("repos");
        std::fs::create_dir_all(&root).expect("create repos dir");
        let (ca_file, cert, key) = loopback_server_cert(&dir, "git-http");
        let username = "git-user".to_string();
        let password = format!("pw-{}", random_hex());
        let bearer_token = format!("bt-{}", random_hex());
        let users = dir.join("users");
        std::fs::write(&users, format!("{username}:{password}\n")).expect("write users");
        let backend = Path::new(
            &String::from_utf8_lossy(
                &Command::new("git")
                    .arg("--exec-path")
                    .output()
                    .expect("git --exec-path")
                    .stdout,
            )
            .trim()
            .to_string(),
        )
        .join("git-http-backend");
        assert!(
            backend.exists(),
            "git-http-backend not found at {}",
            backend.display()
        );
        // The CGI is a wrapper around git http-backend that can play "someone else pushed right
        // after your clone" (see `move_branch_after_next_fetch`): after answering a fetch it
        // adds a commit to the branch, before the response ends, so the race is deterministic.
        let wrapper = dir.join("git-http-backend-wrapper");
        std::fs::write(
            &wrapper,
            format!(
                r#"#!/bin/sh
case "$QUERY_STRING$PATH_INFO" in
*upload-pack*) service=upload-pack;;
*receive-pack*) service=receive-pack;;
esac
{hold}
"{backend}"
status=$?
case "$PATH_INFO" in
*/git-upload-pack)
  repo="$GIT_PROJECT_ROOT${{PATH_INFO%/git-upload-pack}}"
  if [ "$REQUEST_METHOD" = POST ] && [ -f "$repo/move-after-fetch" ]; then
    branch=$(cat "$repo/move-after-fetch")
    rm -f "$repo/move-after-fetch"
    parent=$(git --git-dir "$repo" rev-parse "refs/heads/$branch")
    commit=$(GIT_AUTHOR_NAME=Someone GIT_AUTHOR_EMAIL=someone@example.com GIT_COMMITTER_NAME=Someone GIT_COMMITTER_EMAIL=someone@example.com git --git-dir "$repo" commit-tree "$parent^{{tree}}" -p "$parent" -m "Someone else's commit")
    git --git-dir "$repo" update-ref "refs/heads/$branch" "$commit" "$parent"
  fi;;
esac
exit $status
"#,
                backend = backend.display(),
                hold = hold_script(r#""$GIT_PROJECT_ROOT${PATH_INFO%.git/*}.git""#),
            ),
        )
        .expect("write the CGI wrapper");
        let mut permissions = std::fs::metadata(&wrapper).expect("wrapper").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
        std::fs::set_permissions(&wrapper, permissions).expect("make the wrapper executable");
        let backend = wrapper;
        let log = dir.join("lighttpd.log");
        for _ in 0..3 {
            let port = free_port();
            let config = dir.join("lighttpd.conf");
            std::fs::write(
                &config,
                format!(
                    r#"server.modules = ("mod_access", "mod_alias", "mod_setenv", "mod_cgi", "mod_auth", "mod_authn_file", "mod_openssl")
server.document-root = "{root}"
server.bind = "127.0.0.1"
server.port = {port}
server.errorlog = "{log}"
{tls}
alias.url = ( "/git" => "{backend}", "/bearer" => "{backend}" )
$HTTP["url"] =~ "^/(git|bearer)/" {{
  cgi.assign = ( "" => "" )
  setenv.add-environment = ( "GIT_PROJECT_ROOT" => "{root}", "GIT_HTTP_EXPORT_ALL" => "" )
}}
$HTTP["url"] =~ "^/bearer/" {{
  $REQUEST_HEADER["Authorization"] != "Bearer {bearer_token}" {{
    url.access-deny = ( "" )
  }}
}}
auth.backend = "plain"
auth.backend.plain.userfile = "{users}"
auth.require = ( "/git" => ( "method" => "basic", "realm" => "git", "require" => "valid-user" ) )
"#,
                    root = root.display(),
                    log = log.display(),
                    backend = backend.display(),
                    users = users.display(),
                    bearer_token = bearer_token,
                    tls = if tls {
                        format!(
                            "ssl.engine = \"enable\"\nssl.pemfile = \"{}\"\nssl.privkey = \"{}\"",
                            cert.display(),
                            key.display()
                        )
                    } else {
                        String::new()
                    },
                ),
            )
            .expect("write lighttpd.conf");
            let mut command = Command::new(&lighttpd);
            command.arg("-D").arg("-f").arg(&config);
            let mut child = spawn(command, &dir.join("lighttpd.out"));
            std::thread::sleep(Duration::from_millis(100));
            if let Ok(Some(_)) = child.try_wait() {
                continue; // most likely the port was taken meanwhile
            }
            wait_listening(&mut child, port, &log, "lighttpd");
            return GitHttpServer {
                root,
                port,
                username,
                password,
                bearer_token,
                ca_file,
                scheme: if tls { "https" } else { "http" },
                lighttpd,
                config,
                dir,
                child,
            };
        }
        panic!(
            "lighttpd did not start:\n{}\n{}",
            log_tail(&log, 20),
            log_tail(&dir.join("lighttpd.out"), 20)
        );
    }

    /// Creates an empty bare repository and returns its HTTPS URL.
    pub fn create_repo(&self, name: &str) -> String {
        create_bare(&self.root, name);
        self.url(name)
    }

    pub fn url(&self, name: &str) -> String {
        format!("{}://127.0.0.1:{}/git/{name}.git", self.scheme, self.port)
    }

    pub fn bare_path(&self, name: &str) -> PathBuf {
        self.root.join(format!("{name}.git"))
    }

    /// The URL of repository `name` that takes bearer auth only.
    pub fn bearer_url(&self, name: &str) -> String {
        format!(
            "{}://127.0.0.1:{}/bearer/{name}.git",
            self.scheme, self.port
        )
    }

    /// After the next fetch of `branch` from repository `name` has been answered, the server
    /// adds a commit to that branch, as if someone pushed just after the client's clone.
    pub fn move_branch_after_next_fetch(&self, name: &str, branch: &str) {
        std::fs::write(self.bare_path(name).join("move-after-fetch"), branch)
            .expect("write move-after-fetch marker");
    }
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        stop(&mut self.child, Duration::from_secs(2));
    }
}

/// SSH Git server: an sshd of its own on loopback, with its own host keys, accepting the keys
/// the test authorizes for the current user.
pub struct GitSshServer {
    pub root: PathBuf,
    pub port: u16,
    /// A second port of the same sshd: another address of the same server, as an SSH host
    /// that differs from the Git host (`--ssh-hostname`).
    pub second_port: u16,
    pub user: String,
    authorized_keys: PathBuf,
    host_public_keys: Vec<String>,
    child: Child,
}

impl GitSshServer {
    pub fn start() -> GitSshServer {
        let sshd = require("sshd", "openssh-server");
        let dir = temp_dir("git-ssh-");
        let root = dir.join("repos");
        std::fs::create_dir_all(&root).expect("create repos dir");
        std::fs::create_dir_all("/run/sshd").expect("create /run/sshd (privilege separation dir)");
        let mut host_public_keys = Vec::new();
        // An RSA host key too, as Azure DevOps has (only): --ssh-hostkey-algos picks it.
        for kind in ["ed25519", "ecdsa", "rsa"] {
            let key = dir.join(format!("ssh_host_{kind}_key"));
            let out = Command::new("ssh-keygen")
                .args(["-q", "-t", kind, "-N", "", "-f"])
                .arg(&key)
                .output()
                .expect("run ssh-keygen");
            assert!(
                out.status.success(),
                "ssh-keygen: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            host_public_keys
                .push(std::fs::read_to_string(key.with_extension("pub")).expect("host key"));
        }
        let authorized_keys = dir.join("authorized_keys");
        std::fs::write(&authorized_keys, "").expect("write authorized_keys");
        let user = String::from_utf8_lossy(
            &Command::new("id")
                .arg("-un")
                .output()
                .expect("id -un")
                .stdout,
        )
        .trim()
        .to_string();
        let log = dir.join("sshd.log");
        for _ in 0..3 {
            let (port, second_port) = (free_port(), free_port());
            if port == second_port {
                continue;
            }
            let config = dir.join("sshd_config");
            std::fs::write(
                &config,
                format!(
                    "ListenAddress 127.0.0.1\nPort {port}\nPort {second_port}\nHostKey {d}/ssh_host_ed25519_key\nHostKey {d}/ssh_host_ecdsa_key\nHostKey {d}/ssh_host_rsa_key\nAuthorizedKeysFile {keys}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\nPidFile {d}/sshd.pid\n",
                    d = dir.display(),
                    keys = authorized_keys.display(),
                ),
            )
            .expect("write sshd_config");
            let mut command = Command::new(&sshd);
            command.args(["-D", "-e", "-f"]).arg(&config);
            let mut child = spawn(command, &log);
            std::thread::sleep(Duration::from_millis(100));
            if let Ok(Some(_)) = child.try_wait() {
                continue;
            }
            wait_listening(&mut child, port, &log, "sshd");
            // sshd carries on when one of its ports was taken meanwhile.
            if !process_listens_on(child.id(), second_port) {
                stop(&mut child, Duration::from_secs(2));
                continue;
            }
            return GitSshServer {
                root,
                port,
                second_port,
                user,
                authorized_keys,
                host_public_keys,
                child,
            };
        }
        panic!("sshd did not start:\n{}", log_tail(&log, 20));
    }

    /// Lets `public_key` (an OpenSSH public key line) log in.
    pub fn authorize(&self, public_key: &str) {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.authorized_keys)
            .expect("open authorized_keys");
        writeln!(file, "{}", public_key.trim()).expect("append key");
    }

    /// Takes access away from every key authorized so far.
    pub fn revoke_all_keys(&self) {
        std::fs::write(&self.authorized_keys, "").expect("empty authorized_keys");
    }

    /// Creates an empty bare repository and returns its ssh:// URL.
    pub fn create_repo(&self, name: &str) -> String {
        let path = create_bare(&self.root, name);
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            path.display()
        )
    }

    pub fn bare_path(&self, name: &str) -> PathBuf {
        self.root.join(format!("{name}.git"))
    }

    /// The user's own SSH setup, as git would find it: a new key this server accepts and a
    /// known_hosts file (scanned from the server), as a GIT_SSH_COMMAND. Returns the
    /// known_hosts file (to tamper with) and the command.
    pub fn user_ssh_setup(&self) -> (PathBuf, String) {
        let dir = temp_dir("user-ssh-");
        let key = dir.join("id_ed25519");
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .output()
            .expect("run ssh-keygen");
        assert!(
            out.status.success(),
            "ssh-keygen: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.authorize(&std::fs::read_to_string(key.with_extension("pub")).expect("public key"));
        let known_hosts = dir.join("known_hosts");
        let scan = Command::new("ssh-keyscan")
            .args(["-p", &self.port.to_string(), "127.0.0.1"])
            .output()
            .expect("run ssh-keyscan");
        std::fs::write(&known_hosts, &scan.stdout).expect("write known_hosts");
        let command = format!(
            "ssh -i {} -o IdentitiesOnly=yes -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o BatchMode=yes",
            key.display(),
            known_hosts.display()
        );
        (known_hosts, command)
    }

    /// Plays the user who adds the deploy key bootstrap prints: reads bootstrap's progress
    /// (its stderr) to the end, authorizing the key of the line `✔ deploy key: <key>` as soon
    /// as it appears. Returns the progress text and the key, if one was printed.
    pub fn authorize_printed_deploy_key(
        &self,
        progress: impl std::io::Read,
    ) -> (String, Option<String>) {
        use std::io::BufRead;
        let mut text = String::new();
        let mut deploy_key = None;
        for line in std::io::BufReader::new(progress).lines() {
            let line = line.unwrap_or_default();
            if let Some(key) = line.strip_prefix("✔ deploy key: ") {
                self.authorize(key);
                deploy_key = Some(key.to_string());
            }
            text += &line;
            text.push('\n');
        }
        (text, deploy_key)
    }

    /// The server's host public keys (`<type> <base64>` lines), to compare with a key scan.
    pub fn host_public_keys(&self) -> &[String] {
        &self.host_public_keys
    }
}

impl Drop for GitSshServer {
    fn drop(&mut self) {
        stop(&mut self.child, Duration::from_secs(2));
    }
}

/// Which Git service a request is for: clone and fetch (`upload-pack`) or push
/// (`receive-pack`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitService {
    UploadPack,
    ReceivePack,
}

impl GitService {
    fn name(self) -> &'static str {
        match self {
            GitService::UploadPack => "upload-pack",
            GitService::ReceivePack => "receive-pack",
        }
    }
}

/// Shell lines for the servers' wrappers: while `<repo>/hold-<service>` exists, a request for
/// that service of that repository is held (it touches `<repo>/held-<service>` and waits),
/// so a test can interrupt a client deterministically in the middle of a clone or a push.
/// `repo` is a shell expression of the bare repository's path; `$service` must be set.
fn hold_script(repo: &str) -> String {
    format!(
        r#"repo={repo}
if [ -n "$service" ] && [ -f "$repo/hold-$service" ]; then
  : > "$repo/held-$service"
  while [ -f "$repo/hold-$service" ]; do sleep 0.05; done
fi"#
    )
}

/// From now on, requests for `service` of the bare repository `bare` are held until
/// [`release`] (both servers: the HTTPS CGI wrapper, and the SSH forced command of keys
/// authorized with [`GitSshServer::authorize_holding`]).
pub fn hold(bare: &Path, service: GitService) {
    let _ = std::fs::remove_file(bare.join(format!("held-{}", service.name())));
    std::fs::write(bare.join(format!("hold-{}", service.name())), "").expect("write hold marker");
}

/// Waits until a request for `service` is being held.
pub fn wait_held(bare: &Path, service: GitService) {
    let held = bare.join(format!("held-{}", service.name()));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !held.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "no {} request reached the server within 60s",
            service.name()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Lets held requests go on, and holds no more.
pub fn release(bare: &Path, service: GitService) {
    let _ = std::fs::remove_file(bare.join(format!("hold-{}", service.name())));
    let _ = std::fs::remove_file(bare.join(format!("held-{}", service.name())));
}

impl GitSshServer {
    /// Lets `public_key` log in through a forced command that runs the client's Git command
    /// after [`hold`]'s wait.
    pub fn authorize_holding(&self, public_key: &str) {
        let wrapper = self.root.with_file_name("hold-wrapper");
        if !wrapper.exists() {
            std::fs::write(
                &wrapper,
                format!(
                    r#"#!/bin/sh
case "$SSH_ORIGINAL_COMMAND" in
git-upload-pack*) service=upload-pack;;
git-receive-pack*) service=receive-pack;;
esac
eval "set -- $SSH_ORIGINAL_COMMAND"
{hold}
exec sh -c "$SSH_ORIGINAL_COMMAND"
"#,
                    hold = hold_script(r#""$2""#)
                ),
            )
            .expect("write the forced command");
            let mut permissions = std::fs::metadata(&wrapper).expect("wrapper").permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
            std::fs::set_permissions(&wrapper, permissions).expect("make the wrapper executable");
        }
        self.authorize(&format!(
            "command=\"{}\" {}",
            wrapper.display(),
            public_key.trim()
        ));
    }
}
