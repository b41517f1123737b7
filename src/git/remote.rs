//! The system `git` for the network: fetch and push, for HTTPS (basic or bearer) and SSH (deploy
//! key) alike, never interactive, with credentials only in the child's environment or in
//! private files that are removed when the command ends, and failures turned into typed errors
//! that name the URL, the cause and the next step.
//!
//! See docs/yaml-and-git.md.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use secrecy::{ExposeSecret, SecretString};

use super::error::{Error, Result};
use super::scratch::ScratchDir;
use super::ssh::known_hosts_fingerprints;
use super::url::{GitUrl, Transport};
use super::{Auth, Remote};

/// GIT_CONFIG_COUNT (how credentials reach git without argv) appeared in Git 2.31.
const MINIMUM_GIT: (u32, u32) = (2, 31);

/// Longest excerpt of git's stderr quoted in an error.
const MAX_CAUSE_CHARS: usize = 600;

/// Variables that would point git at another repository or change what it does (set, e.g.,
/// when the plugin runs inside a Git hook), or that could prompt.
const REMOVED_ENV: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
    "SSH_ASKPASS_REQUIRE",
    "GIT_CONFIG_PARAMETERS",
    "LANGUAGE",
];

/// Checks the system git is present and recent enough; returns its version (e.g. `2.39.5`).
/// The answer is cached for the life of the process.
pub fn git_version() -> Result<String> {
    static VERSION: OnceLock<std::result::Result<String, Probe>> = OnceLock::new();
    match VERSION.get_or_init(|| probe_git(Path::new("git"))) {
        Ok(version) => Ok(version.clone()),
        Err(Probe::Missing(cause)) => Err(Error::GitMissing {
            cause: cause.clone(),
        }),
        Err(Probe::TooOld(version)) => Err(Error::GitTooOld {
            version: version.clone(),
        }),
    }
}

/// Why a git executable cannot be used (kept in a `static`, so not an [`Error`]).
#[derive(Debug)]
enum Probe {
    Missing(String),
    TooOld(String),
}

/// Runs `<program> --version` and checks the version.
fn probe_git(program: &Path) -> std::result::Result<String, Probe> {
    let output = Command::new(program)
        .arg("--version")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .output()
        .map_err(|err| Probe::Missing(format!("cannot run {}: {err}", program.display())))?;
    if !output.status.success() {
        return Err(Probe::Missing(format!(
            "{} --version exited with {}",
            program.display(),
            output.status.code().unwrap_or(-1)
        )));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text
        .trim()
        .strip_prefix("git version ")
        .map(|version| version.to_string())
        .ok_or_else(|| {
            Probe::Missing(format!(
                "unexpected answer to git --version: {}",
                text.trim()
            ))
        })?;
    if parse_version(&version).is_some_and(|found| found < MINIMUM_GIT) {
        return Err(Probe::TooOld(version));
    }
    Ok(version)
}

/// `2.39.5` or `2.39.5.windows.1` or `2.45.0.rc1` -> (2, 39).
fn parse_version(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// What git was asked to do, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    Fetch,
    ListBranches,
    Push,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Fetch => "fetch",
            Operation::ListBranches => "ls-remote",
            Operation::Push => "push",
        }
    }
}

/// What a finished git command printed.
pub(crate) struct GitOutput {
    pub success: bool,
    pub stdout: String,
    /// Already scrubbed of every secret of the remote.
    pub stderr: String,
}

/// Runs git against one remote from one local repository.
pub(crate) struct RemoteGit<'a> {
    pub remote: &'a Remote,
    pub url: &'a GitUrl,
    /// The local (bare) repository.
    pub git_dir: &'a Path,
    /// Where per-command credential folders are made (inside the workspace).
    pub scratch: &'a Path,
}

impl RemoteGit<'_> {
    /// Runs `git --git-dir <repo> <args>`; credentials go through the environment and private
    /// files that are removed before this returns.
    pub(crate) fn run(&self, args: &[OsString]) -> Result<GitOutput> {
        let mut command = Command::new("git");
        command
            .arg("--git-dir")
            .arg(self.git_dir)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GCM_INTERACTIVE", "never")
            .env("LC_ALL", "C")
            // Give up on a stalled transfer instead of hanging forever.
            .env("GIT_HTTP_LOW_SPEED_LIMIT", "1")
            .env("GIT_HTTP_LOW_SPEED_TIME", "60");
        for name in REMOVED_ENV {
            command.env_remove(name);
        }
        let mut config: Vec<(&str, String)> = vec![
            // No askpass helper from the user's configuration may prompt.
            ("core.askPass", String::new()),
            // No hook of the user's (core.hooksPath) runs on our fetch or push.
            ("core.hooksPath", "/dev/null".to_string()),
            ("gc.auto", "0".to_string()),
            ("maintenance.auto", "false".to_string()),
        ];
        if let Some(ca_file) = &self.remote.ca_file {
            // An inherited GIT_SSL_CAINFO would override http.sslCAInfo, so set the variable.
            command.env("GIT_SSL_CAINFO", ca_file);
        }
        // Keeps the SSH credential files alive until git has exited.
        let mut _ssh_files = None;
        match &self.remote.auth {
            Auth::None => {}
            Auth::Basic { username, password } => {
                let token = base64_encode(format!("{username}:{}", password.expose_secret()));
                http_auth(&mut config, format!("Authorization: Basic {token}"));
            }
            Auth::Bearer { token } => {
                http_auth(
                    &mut config,
                    format!("Authorization: Bearer {}", token.expose_secret()),
                );
            }
            Auth::SshKey {
                private_key,
                known_hosts,
            } => {
                let files = ScratchDir::create(self.scratch, "ssh-")?;
                let mut key = private_key.expose_secret().to_string();
                if !key.ends_with('\n') {
                    key.push('\n'); // ssh refuses a key file without its final newline
                }
                let key_file = files.write_private("identity", key.as_bytes())?;
                let known_hosts_file =
                    files.write_private("known_hosts", known_hosts.as_bytes())?;
                command
                    .env(
                        "GIT_SSH_COMMAND",
                        format!(
                            "ssh -i {} -o IdentitiesOnly=yes -o IdentityAgent=none -o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o UpdateHostKeys=no -o BatchMode=yes -o ConnectTimeout=30",
                            shell_quote(&key_file.to_string_lossy()),
                            shell_quote(&known_hosts_file.to_string_lossy()),
                        ),
                    )
                    .env("GIT_SSH_VARIANT", "ssh")
                    .env_remove("GIT_SSH");
                _ssh_files = Some(files);
            }
        }
        command.env("GIT_CONFIG_COUNT", config.len().to_string());
        for (index, (key, value)) in config.iter().enumerate() {
            command
                .env(format!("GIT_CONFIG_KEY_{index}"), key)
                .env(format!("GIT_CONFIG_VALUE_{index}"), value);
        }
        // Never Debug-print `command`: its environment holds the credentials.
        let output = command.output().map_err(|err| Error::GitMissing {
            cause: format!("cannot run git: {err}"),
        })?;
        Ok(GitOutput {
            success: output.status.success(),
            stdout: self.scrub(&String::from_utf8_lossy(&output.stdout)),
            stderr: self.scrub(&String::from_utf8_lossy(&output.stderr)),
        })
    }

    /// Removes every secret of the remote from git's output (git does not print them, but a
    /// server's message or a future git version might).
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut secrets: Vec<String> = Vec::new();
        match &self.remote.auth {
            Auth::None => {}
            Auth::Basic { username, password } => {
                secrets.push(password.expose_secret().to_string());
                secrets.push(base64_encode(format!(
                    "{username}:{}",
                    password.expose_secret()
                )));
            }
            Auth::Bearer { token } => secrets.push(token.expose_secret().to_string()),
            Auth::SshKey { private_key, .. } => {
                secrets.extend(
                    private_key
                        .expose_secret()
                        .lines()
                        .map(str::trim)
                        .filter(|line| line.len() >= 16 && !line.starts_with("-----"))
                        .map(str::to_string),
                );
            }
        }
        scrub_text(text, &secrets)
    }

    /// The typed error for a failed git command, from what it printed.
    pub(crate) fn error(&self, operation: Operation, stderr: &str) -> Error {
        classify(operation, self.url, &self.remote.auth, stderr)
    }
}

/// Adds the header that carries HTTP credentials, after an empty value that resets any
/// inherited extraHeader, and disables the user's credential helpers (a stored, different
/// credential must not be used instead of the one given).
fn http_auth(config: &mut Vec<(&str, String)>, header: String) {
    config.push(("http.extraHeader", String::new()));
    config.push(("http.extraHeader", header));
    config.push(("credential.helper", String::new()));
}

/// Single-quotes `text` for `sh -c` (git runs GIT_SSH_COMMAND through the shell).
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Replaces each secret (and any Authorization header value) by `***`.
fn scrub_text(text: &str, secrets: &[String]) -> String {
    let mut clean = text.to_string();
    for secret in secrets.iter().filter(|secret| !secret.is_empty()) {
        clean = clean.replace(secret.as_str(), "***");
    }
    clean
        .lines()
        .map(
            |line| match line.to_ascii_lowercase().find("authorization:") {
                Some(at) => format!("{}Authorization: ***", &line[..at]),
                None => line.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("\n")
}

/// The lines of git's stderr that say what went wrong, in one line, without hints.
fn cause_of(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("hint:"))
        .filter(|line| !line.starts_with("@@@") && !line.starts_with("IT IS POSSIBLE"))
        // git's generic advice after any SSH failure; the lines before it say what failed.
        .filter(|line| {
            !line.starts_with("Please make sure you have the correct access rights")
                && *line != "and the repository exists."
                && *line != "fatal: Could not read from remote repository."
        })
        .collect();
    let mut cause = lines.join("; ");
    if cause.is_empty() {
        cause = "git printed no reason".to_string();
    }
    if cause.chars().count() > MAX_CAUSE_CHARS {
        cause = cause.chars().take(MAX_CAUSE_CHARS).collect::<String>() + "...";
    }
    cause
}

/// Maps what git printed to the error a user can act on.
fn classify(operation: Operation, url: &GitUrl, auth: &Auth, stderr: &str) -> Error {
    let lower = stderr.to_ascii_lowercase();
    let mut cause = cause_of(stderr);
    if lower.contains("could not read username") || lower.contains("could not read password") {
        // git asked for credentials after a 401, and the prompt is disabled.
        cause = "HTTP 401 Unauthorized".to_string();
    }
    let url_text = url.to_string();
    let is_ssh = url.transport == Transport::Ssh;
    if lower.contains("remote host identification has changed") {
        return Error::GitHostKeyChanged {
            url: url_text,
            host: url.known_hosts_name(),
            known: known_fingerprints(auth),
        };
    }
    if lower.contains("host key is known")
        || lower.contains("host key verification failed")
        || lower.contains("no matching host key type")
    {
        return Error::GitHostKeyUnknown {
            url: url_text,
            host: url.known_hosts_name(),
            known: known_fingerprints(auth),
            cause,
        };
    }
    if lower.contains("could not read username")
        || lower.contains("could not read password")
        || lower.contains("authentication failed")
        || lower.contains("http 401")
        || lower.contains("permission denied (publickey")
        || lower.contains("permission denied, please try again")
    {
        let next_step = match (auth, is_ssh) {
            (Auth::SshKey { .. }, _) => {
                "add the deploy key's public key to the repository (with write access), or pass the right --private-key-file"
            }
            (Auth::None, true) => {
                "pass a key with --private-key-file, or load one into your ssh-agent"
            }
            (Auth::None, false) => {
                "pass --username and --password (a token with write access to the repository)"
            }
            _ => "check --username and --password (a token needs write access to the repository)",
        };
        return Error::GitAuthFailed {
            url: url_text,
            cause,
            next_step,
        };
    }
    if lower.contains("ssl certificate problem")
        || lower.contains("certificate verification failed")
        || lower.contains("server certificate")
        || lower.contains("ssl_connect")
        || lower.contains("gnutls")
        || lower.contains("tls")
    {
        return Error::GitTls {
            url: url_text,
            cause,
        };
    }
    if lower.contains("could not resolve host")
        || lower.contains("failed to connect")
        || lower.contains("connection refused")
        || lower.contains("connection timed out")
        || lower.contains("operation timed out")
        || lower.contains("no route to host")
        || lower.contains("network is unreachable")
        || lower.contains("could not resolve hostname")
        || lower.contains("connection closed by")
        || lower.contains("connection reset")
    {
        return Error::GitUnreachable {
            url: url_text,
            cause,
        };
    }
    if lower.contains("not found")
        || lower.contains("does not appear to be a git repository")
        || lower.contains("http 404")
        || lower.contains("no such file or directory")
    {
        return Error::GitRepositoryNotFound {
            url: url_text,
            cause,
        };
    }
    if lower.contains("http 403") || lower.contains("permission to") || lower.contains("read only")
    {
        return Error::GitAuthFailed {
            url: url_text,
            cause,
            next_step: "give the credentials write access to the repository (a deploy key needs \"allow write access\")",
        };
    }
    Error::GitFailed {
        operation: operation.as_str(),
        url: url_text,
        cause,
    }
}

fn known_fingerprints(auth: &Auth) -> String {
    let fingerprints = match auth {
        Auth::SshKey { known_hosts, .. } => known_hosts_fingerprints(known_hosts),
        _ => Vec::new(),
    };
    if fingerprints.is_empty() {
        "none".to_string()
    } else {
        fingerprints.join(", ")
    }
}

/// Standard base64 with padding (the HTTP Basic scheme).
fn base64_encode(text: String) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let secret = SecretString::from(text);
    let bytes = secret.expose_secret().as_bytes();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet_with_padding() {
        assert_eq!(base64_encode("user:pass".into()), "dXNlcjpwYXNz");
        assert_eq!(base64_encode("a".into()), "YQ==");
        assert_eq!(base64_encode("ab".into()), "YWI=");
        assert_eq!(base64_encode(String::new()), "");
    }

    #[test]
    fn shell_quoting_survives_quotes_and_spaces() {
        assert_eq!(shell_quote("/tmp/a b/it's"), r"'/tmp/a b/it'\''s'");
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", shell_quote("/tmp/a b/it's $HOME")))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "/tmp/a b/it's $HOME");
    }

    #[test]
    fn scrubbing_removes_secrets_and_authorization_headers() {
        let text = "fatal: token abc123 rejected\n> Authorization: Basic Zm9vOmJhcg==\n";
        let clean = scrub_text(text, &["abc123".to_string()]);
        assert!(!clean.contains("abc123"), "{clean}");
        assert!(!clean.contains("Zm9vOmJhcg"), "{clean}");
        assert!(clean.contains("Authorization: ***"), "{clean}");
    }

    #[test]
    fn versions_are_compared_by_major_and_minor() {
        assert_eq!(parse_version("2.39.5"), Some((2, 39)));
        assert_eq!(parse_version("2.45.0.windows.1"), Some((2, 45)));
        assert!(parse_version("2.30.9").unwrap() < MINIMUM_GIT);
        assert!(git_version().is_ok(), "the test machine has git >= 2.31");
    }

    #[test]
    fn a_missing_or_old_git_is_reported_with_what_was_found() {
        let Err(Probe::Missing(cause)) = probe_git(Path::new("/nonexistent/bin/git")) else {
            panic!("a missing git must be reported");
        };
        let err = Error::GitMissing { cause };
        assert!(err.to_string().contains("/nonexistent/bin/git"), "{err}");
        assert!(err.to_string().contains("install Git"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("git");
        std::fs::write(&fake, "#!/bin/sh\necho 'git version 2.30.2'\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let Err(Probe::TooOld(version)) = probe_git(&fake) else {
            panic!("git 2.30 must be refused");
        };
        assert_eq!(version, "2.30.2");
    }

    #[test]
    fn git_messages_map_to_errors_that_say_what_to_do() {
        let https = GitUrl::parse("https://127.0.0.1:1/git/r.git").unwrap();
        let ssh = GitUrl::parse("ssh://git@127.0.0.1:2222/r.git").unwrap();
        let basic = Auth::Basic {
            username: "u".into(),
            password: "p".into(),
        };
        let err = classify(
            Operation::Fetch,
            &https,
            &basic,
            "fatal: could not read Username for 'https://127.0.0.1:1': terminal prompts disabled",
        );
        assert!(matches!(err, Error::GitAuthFailed { .. }), "{err}");
        assert!(err.to_string().contains("--password"), "{err}");
        let err = classify(
            Operation::Fetch,
            &https,
            &basic,
            "fatal: unable to access 'https://127.0.0.1:1/git/r.git/': server certificate verification failed. CAfile: none CRLfile: none",
        );
        assert!(matches!(err, Error::GitTls { .. }), "{err}");
        assert!(err.to_string().contains("--ca-file"), "{err}");
        let err = classify(
            Operation::Fetch,
            &https,
            &basic,
            "fatal: unable to access 'https://127.0.0.1:1/git/r.git/': Failed to connect to 127.0.0.1 port 1: Connection refused",
        );
        assert!(matches!(err, Error::GitUnreachable { .. }), "{err}");
        let err = classify(
            Operation::Fetch,
            &https,
            &basic,
            "fatal: repository 'https://127.0.0.1:1/git/r.git/' not found",
        );
        assert!(matches!(err, Error::GitRepositoryNotFound { .. }), "{err}");
        let key = Auth::SshKey {
            private_key: "k".into(),
            known_hosts: String::new(),
        };
        let err = classify(
            Operation::Fetch,
            &ssh,
            &key,
            "No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict checking.\r\nHost key verification failed.\r\nfatal: Could not read from remote repository.",
        );
        assert!(matches!(err, Error::GitHostKeyUnknown { .. }), "{err}");
        assert!(err.to_string().contains("[127.0.0.1]:2222"), "{err}");
        let err = classify(
            Operation::Fetch,
            &ssh,
            &key,
            "git@127.0.0.1: Permission denied (publickey).\r\nfatal: Could not read from remote repository.",
        );
        assert!(matches!(err, Error::GitAuthFailed { .. }), "{err}");
        assert!(err.to_string().contains("deploy key"), "{err}");
    }
}
