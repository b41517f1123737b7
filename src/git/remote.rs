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

use super::agent::{SshCredentials, ssh_credentials};
use super::error::{Error, Result};
use super::ssh::known_hosts_fingerprints;
use super::url::{GitUrl, Transport};
use super::{Auth, Remote};
use crate::interrupt::Terminal;

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
    let output = crate::interrupt::output(
        Command::new(program)
            .arg("--version")
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
        Terminal::NotNeeded,
    )
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
}

impl RemoteGit<'_> {
    /// Runs `git --git-dir <repo> <args>`; credentials go through the environment and private
    /// files that are removed before this returns.
    pub(crate) fn run(&self, args: &[OsString]) -> Result<GitOutput> {
        let mut command = self.isolated_command(args);
        let mut config = isolating_config();
        // Keeps the SSH agent and known_hosts alive until git has exited.
        let _ssh = self.add_credentials(&mut command, &mut config)?;
        pass_config(&mut command, &config);
        // Only the user's own ssh setup may prompt (for a passphrase, on the terminal).
        let terminal = match (&self.remote.auth, self.url.transport) {
            (Auth::None, Transport::Ssh) => Terminal::MayPrompt,
            _ => Terminal::NotNeeded,
        };
        // Never Debug-print `command`: its environment holds the credentials.
        let output =
            crate::interrupt::output(&mut command, terminal).map_err(|err| Error::GitMissing {
                cause: format!("cannot run git: {err}"),
            })?;
        Ok(GitOutput {
            success: output.status.success(),
            stdout: self.scrub(&String::from_utf8_lossy(&output.stdout)),
            stderr: self.scrub(&String::from_utf8_lossy(&output.stderr)),
        })
    }

    /// [`git_command`] with the remote's certificate authorities.
    fn isolated_command(&self, args: &[OsString]) -> Command {
        let mut command = git_command(self.git_dir, args);
        if let Some(ca_file) = &self.remote.ca_file {
            // An inherited GIT_SSL_CAINFO would override http.sslCAInfo, so set the variable.
            command.env("GIT_SSL_CAINFO", ca_file);
        }
        command
    }

    /// Hands the remote's credentials to git: HTTP headers through `config`, an SSH key
    /// through a private ssh-agent and its trusted host keys through a private file, both
    /// named in GIT_SSH_COMMAND (see `agent.rs`). Returns what must live until git has exited.
    fn add_credentials(
        &self,
        command: &mut Command,
        config: &mut Vec<(&str, String)>,
    ) -> Result<Option<SshCredentials>> {
        match &self.remote.auth {
            Auth::None => Ok(None),
            Auth::Basic { username, password } => {
                let token = base64_encode(format!("{username}:{}", password.expose_secret()));
                http_auth(config, format!("Authorization: Basic {token}"));
                Ok(None)
            }
            Auth::Bearer { token } => {
                http_auth(
                    config,
                    format!("Authorization: Bearer {}", token.expose_secret()),
                );
                Ok(None)
            }
            Auth::SshKey {
                private_key,
                known_hosts,
            } => {
                let credentials = ssh_credentials(private_key, known_hosts)?;
                command
                    .env("GIT_SSH_COMMAND", &credentials.ssh_command)
                    .env("GIT_SSH_VARIANT", "ssh")
                    .env_remove("GIT_SSH");
                Ok(Some(credentials))
            }
        }
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

/// `git --git-dir <repo> <args>` that never prompts, speaks English (its messages are
/// classified), gives up on stalled transfers and ignores variables of an enclosing Git process.
fn git_command(git_dir: &Path, args: &[OsString]) -> Command {
    let mut command = Command::new("git");
    command
        .arg("--git-dir")
        .arg(git_dir)
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
    command
}

/// Runs `git --git-dir <repo> <args>` on the local repository only (no remote, no
/// credentials), for the reads gix does not offer in this build (`log` with git's path
/// limiting, `rev-parse`'s full revision syntax). The user's and the system's Git
/// configuration are left out, so settings such as `log.follow` or `log.showSignature` cannot
/// change what is parsed; replacement objects (`git replace`) are ignored.
pub(crate) fn run_local(git_dir: &Path, args: &[OsString]) -> Result<GitOutput> {
    let mut command = git_command(git_dir, args);
    command
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_NO_REPLACE_OBJECTS", "1")
        .env("GIT_LITERAL_PATHSPECS", "1");
    let mut config = isolating_config();
    // GIT_CONFIG_GLOBAL is Git 2.32+; on 2.31 these override the user's settings instead.
    config.push(("log.follow", "false".to_string()));
    config.push(("log.showSignature", "false".to_string()));
    pass_config(&mut command, &config);
    let output = crate::interrupt::output(&mut command, Terminal::NotNeeded).map_err(|err| {
        Error::GitMissing {
            cause: format!("cannot run git: {err}"),
        }
    })?;
    Ok(GitOutput {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// Configuration that keeps the user's own settings out of our fetch and push.
fn isolating_config() -> Vec<(&'static str, String)> {
    vec![
        // No askpass helper from the user's configuration may prompt.
        ("core.askPass", String::new()),
        // No hook of the user's (core.hooksPath) runs on our fetch or push.
        ("core.hooksPath", "/dev/null".to_string()),
        ("gc.auto", "0".to_string()),
        ("maintenance.auto", "false".to_string()),
    ]
}

/// Passes `config` through GIT_CONFIG_COUNT/KEY/VALUE, never the command line (where other
/// users of the machine could read a credential).
fn pass_config(command: &mut Command, config: &[(&str, String)]) {
    command.env("GIT_CONFIG_COUNT", config.len().to_string());
    for (index, (key, value)) in config.iter().enumerate() {
        command
            .env(format!("GIT_CONFIG_KEY_{index}"), key)
            .env(format!("GIT_CONFIG_VALUE_{index}"), value);
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

/// The failures git's messages tell apart, each with an error that says what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    HostKeyChanged,
    HostKeyUnknown,
    Unauthenticated,
    Tls,
    Unreachable,
    RepositoryNotFound,
    Forbidden,
}

/// Any of `phrases` (lower case) in git's stderr means `failure`.
struct Rule {
    failure: Failure,
    phrases: &'static [&'static str],
}

/// Checked in order; the first rule with a matching phrase decides. ssh's warning about a
/// changed host key also says "host key verification failed", so it comes first. Phrases are
/// what git, curl or ssh print; words a URL or host name may contain ("tls") are never enough
/// alone, since git quotes the URL in most messages.
const RULES: &[Rule] = &[
    Rule {
        failure: Failure::HostKeyChanged,
        phrases: &["remote host identification has changed"],
    },
    Rule {
        failure: Failure::HostKeyUnknown,
        phrases: &[
            "host key is known",
            "host key verification failed",
            "no matching host key type",
        ],
    },
    Rule {
        failure: Failure::Unauthenticated,
        phrases: &[
            // git asks for credentials after a 401, and the prompt is disabled.
            "could not read username",
            "could not read password",
            "authentication failed",
            "http 401",
            "permission denied (publickey",
            "permission denied, please try again",
        ],
    },
    // The server went away in the middle of a request (seen with git over HTTPS when the
    // server process stopped while it held the push's first request). Before the TLS rule:
    // OpenSSL words it as an "SSL routines" error, but no certificate is at fault.
    Rule {
        failure: Failure::Unreachable,
        phrases: &[
            "tls connection was non-properly terminated",
            "empty reply from server",
            "unexpected eof while reading",
            "recv failure: connection",
        ],
    },
    Rule {
        failure: Failure::Tls,
        phrases: &[
            "ssl certificate problem",
            "certificate verification failed",
            "server certificate",
            "ssl_connect",
            "gnutls_",
            "unexpected tls packet",
            "tls connect error",
            "ssl connect error",
            "ssl routines",
            "schannel",
        ],
    },
    Rule {
        failure: Failure::Unreachable,
        phrases: &[
            "could not resolve host",
            "failed to connect",
            "connection refused",
            "connection timed out",
            "operation timed out",
            "no route to host",
            "network is unreachable",
            "could not resolve hostname",
            "connection closed by",
            "connection reset",
        ],
    },
    Rule {
        failure: Failure::RepositoryNotFound,
        phrases: &[
            "not found",
            "does not appear to be a git repository",
            "http 404",
            "no such file or directory",
        ],
    },
    Rule {
        failure: Failure::Forbidden,
        phrases: &["http 403", "permission to", "read only"],
    },
];

/// The first rule that matches git's stderr, if any.
fn failure_of(stderr: &str) -> Option<Failure> {
    let lower = stderr.to_ascii_lowercase();
    RULES
        .iter()
        .find(|rule| rule.phrases.iter().any(|phrase| lower.contains(phrase)))
        .map(|rule| rule.failure)
}

/// Maps what git printed to the error a user can act on.
fn classify(operation: Operation, url: &GitUrl, auth: &Auth, stderr: &str) -> Error {
    let cause = cause_for(stderr);
    let url_text = url.to_string();
    match failure_of(stderr) {
        Some(Failure::HostKeyChanged) => Error::GitHostKeyChanged {
            url: url_text,
            host: url.known_hosts_name(),
            known: known_fingerprints(auth),
        },
        Some(Failure::HostKeyUnknown) => Error::GitHostKeyUnknown {
            url: url_text,
            host: url.known_hosts_name(),
            known: known_fingerprints(auth),
            cause,
        },
        Some(Failure::Unauthenticated) => Error::GitAuthFailed {
            url: url_text,
            cause,
            next_step: credentials_next_step(auth, url.transport == Transport::Ssh),
        },
        Some(Failure::Tls) => Error::GitTls {
            url: url_text,
            cause,
        },
        Some(Failure::Unreachable) => Error::GitUnreachable {
            url: url_text,
            cause,
        },
        Some(Failure::RepositoryNotFound) => Error::GitRepositoryNotFound {
            url: url_text,
            cause,
        },
        Some(Failure::Forbidden) => Error::GitAuthFailed {
            url: url_text,
            cause,
            next_step: "give the credentials write access to the repository (a deploy key needs \"allow write access\")",
        },
        None => Error::GitFailed {
            operation: operation.as_str(),
            url: url_text,
            cause,
        },
    }
}

/// What went wrong, for the message. git's "could not read Username ...: terminal prompts
/// disabled" means the server answered 401 and git wanted to prompt: say that instead.
fn cause_for(stderr: &str) -> String {
    let lower = stderr.to_ascii_lowercase();
    if lower.contains("could not read username") || lower.contains("could not read password") {
        "HTTP 401 Unauthorized".to_string()
    } else {
        cause_of(stderr)
    }
}

/// What to do about refused credentials, by what was given.
fn credentials_next_step(auth: &Auth, is_ssh: bool) -> &'static str {
    match (auth, is_ssh) {
        (Auth::SshKey { .. }, _) => {
            "add the deploy key's public key to the repository (with write access), or pass the right --private-key-file"
        }
        (Auth::None, true) => "pass a key with --private-key-file, or load one into your ssh-agent",
        (Auth::None, false) => {
            "pass --username and --password (a token with write access to the repository)"
        }
        _ => "check --username and --password (a token needs write access to the repository)",
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
        assert_eq!(
            crate::git::agent::ssh_quote("/tmp/a b/it's"),
            r"'/tmp/a b/it'\''s'"
        );
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "printf %s {}",
                crate::git::agent::ssh_quote("/tmp/a b/it's $HOME")
            ))
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

    // The stand-in for an old git is a shell script, made executable by its Unix mode.
    #[cfg(unix)]
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

    // What the real git 2.39.5 (Debian, curl with GnuTLS, OpenSSH 9.2) printed in each
    // situation, captured against loopback servers like those of the integration tests
    // (lighttpd with git http-backend, sshd). The failures that loopback alone can produce
    // are run for real below instead.

    /// https:// with a certificate of a CA git does not trust (no --ca-file, or another CA).
    const HTTPS_UNTRUSTED_CERTIFICATE: &str = "fatal: unable to access 'https://127.0.0.1:18443/git/r.git/': server certificate verification failed. CAfile: /etc/ssl/certs/ca-certificates.crt CRLfile: none\n";
    /// Basic auth with a wrong password: git wants to prompt for other credentials.
    const HTTPS_WRONG_PASSWORD: &str =
        "fatal: could not read Username for 'https://127.0.0.1:18443': terminal prompts disabled\n";
    /// Credentials from the user's own setup (here in the URL) that the server refused.
    const HTTPS_CREDENTIALS_REFUSED: &str =
        "fatal: Authentication failed for 'https://127.0.0.1:18443/git/r.git/'\n";
    const HTTPS_MISSING_REPOSITORY: &str =
        "fatal: repository 'https://127.0.0.1:18443/git/absent.git/' not found\n";
    const HTTPS_UNKNOWN_HOST: &str = "fatal: unable to access 'https://nonexistent.invalid/r.git/': Could not resolve host: nonexistent.invalid\n";
    /// A fetch of a branch the repository lacks (clone handles it before classifying).
    const MISSING_BRANCH: &str = "fatal: couldn't find remote ref refs/heads/absent\n";
    /// ssh's advice after every failure; the lines before it say what failed.
    const SSH_ADVICE: &str = "fatal: Could not read from remote repository.\n\nPlease make sure you have the correct access rights\nand the repository exists.\n";
    const SSH_UNKNOWN_HOST: &str =
        "ssh: Could not resolve hostname nonexistent.invalid: Name or service not known\r\n";
    const SSH_UNKNOWN_HOST_KEY: &str = "No ED25519 host key is known for [127.0.0.1]:18222 and you have requested strict checking.\r\nHost key verification failed.\r\n";
    const SSH_CHANGED_HOST_KEY: &str = "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\n@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\nIT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\r\nSomeone could be eavesdropping on you right now (man-in-the-middle attack)!\r\nIt is also possible that a host key has just been changed.\r\nThe fingerprint for the ED25519 key sent by the remote host is\nSHA256:8Umk+15WQGjf7CS6N7rOeAKvR85nUalBeSRgD4AapnA.\r\nPlease contact your system administrator.\r\nAdd correct host key in /tmp/gitboot-cap/kh_changed to get rid of this message.\r\nOffending ED25519 key in /tmp/gitboot-cap/kh_changed:1\r\n  remove with:\r\n  ssh-keygen -f \"/tmp/gitboot-cap/kh_changed\" -R \"[127.0.0.1]:18222\"\r\nHost key for [127.0.0.1]:18222 has changed and you have requested strict checking.\r\nHost key verification failed.\r\n";
    /// The server offers only host key types the client does not accept.
    const SSH_NO_MATCHING_HOST_KEY_TYPE: &str = "Unable to negotiate with 127.0.0.1 port 18222: no matching host key type found. Their offer: ssh-ed25519\r\n";
    const SSH_KEY_REFUSED: &str = "root@127.0.0.1: Permission denied (publickey).\r\n";
    const SSH_MISSING_REPOSITORY: &str =
        "fatal: '/tmp/gitboot-cap/repos/absent.git' does not appear to be a git repository\n";

    fn https() -> GitUrl {
        GitUrl::parse("https://127.0.0.1:18443/git/r.git").unwrap()
    }

    fn ssh() -> GitUrl {
        GitUrl::parse("ssh://git@127.0.0.1:18222/r.git").unwrap()
    }

    fn basic() -> Auth {
        Auth::Basic {
            username: "u".into(),
            password: "p".into(),
        }
    }

    fn ssh_key() -> Auth {
        // A real key: ssh-add refuses anything else before git runs.
        let key = crate::git::generate_deploy_key(crate::git::KeyAlgorithm::Ed25519).unwrap();
        Auth::SshKey {
            private_key: key.private_key,
            known_hosts: String::new(),
        }
    }

    fn fetch_error(url: &GitUrl, auth: &Auth, stderr: &str) -> Error {
        classify(Operation::Fetch, url, auth, stderr)
    }

    #[test]
    fn host_key_rules_on_captured_ssh_messages() {
        let changed = format!("{SSH_CHANGED_HOST_KEY}{SSH_ADVICE}");
        assert_eq!(failure_of(&changed), Some(Failure::HostKeyChanged));
        let err = fetch_error(&ssh(), &ssh_key(), &changed);
        assert!(err.to_string().contains("has CHANGED"), "{err}");
        assert!(err.to_string().contains("[127.0.0.1]:18222"), "{err}");

        for stderr in [SSH_UNKNOWN_HOST_KEY, SSH_NO_MATCHING_HOST_KEY_TYPE] {
            let stderr = format!("{stderr}{SSH_ADVICE}");
            assert_eq!(
                failure_of(&stderr),
                Some(Failure::HostKeyUnknown),
                "{stderr}"
            );
        }
        let err = fetch_error(
            &ssh(),
            &ssh_key(),
            &format!("{SSH_UNKNOWN_HOST_KEY}{SSH_ADVICE}"),
        );
        assert_eq!(
            err.to_string(),
            "the SSH host key of [127.0.0.1]:18222 is not among the trusted ones (known_hosts lists: none) for ssh://git@127.0.0.1:18222/r.git (No ED25519 host key is known for [127.0.0.1]:18222 and you have requested strict checking.; Host key verification failed.); scan the host again (ssh-keyscan) and compare the fingerprints with the ones your Git host publishes"
        );
    }

    #[test]
    fn credential_rules_on_captured_messages_say_what_to_pass() {
        let err = fetch_error(&https(), &basic(), HTTPS_WRONG_PASSWORD);
        assert_eq!(
            err.to_string(),
            "the Git server at https://127.0.0.1:18443/git/r.git rejected the credentials (HTTP 401 Unauthorized); check --username and --password (a token needs write access to the repository)"
        );
        let err = fetch_error(&https(), &Auth::None, HTTPS_WRONG_PASSWORD);
        assert!(err.to_string().contains("pass --username"), "{err}");
        assert_eq!(
            failure_of(HTTPS_CREDENTIALS_REFUSED),
            Some(Failure::Unauthenticated)
        );

        let refused = format!("{SSH_KEY_REFUSED}{SSH_ADVICE}");
        let err = fetch_error(&ssh(), &ssh_key(), &refused);
        assert_eq!(
            err.to_string(),
            "the Git server at ssh://git@127.0.0.1:18222/r.git rejected the credentials (root@127.0.0.1: Permission denied (publickey).); add the deploy key's public key to the repository (with write access), or pass the right --private-key-file"
        );
        let err = fetch_error(&ssh(), &Auth::None, &refused);
        assert!(err.to_string().contains("ssh-agent"), "{err}");
    }

    #[test]
    fn tls_unreachable_and_not_found_rules_on_captured_messages() {
        let err = fetch_error(&https(), &basic(), HTTPS_UNTRUSTED_CERTIFICATE);
        assert!(matches!(err, Error::GitTls { .. }), "{err}");
        assert!(err.to_string().contains("--ca-file"), "{err}");

        let unknown_host = format!("{SSH_UNKNOWN_HOST}{SSH_ADVICE}");
        for stderr in [HTTPS_UNKNOWN_HOST, unknown_host.as_str()] {
            assert_eq!(failure_of(stderr), Some(Failure::Unreachable), "{stderr}");
        }

        let ssh_missing = format!("{SSH_MISSING_REPOSITORY}{SSH_ADVICE}");
        for stderr in [HTTPS_MISSING_REPOSITORY, ssh_missing.as_str()] {
            assert_eq!(
                failure_of(stderr),
                Some(Failure::RepositoryNotFound),
                "{stderr}"
            );
        }
        let err = fetch_error(&ssh(), &ssh_key(), &ssh_missing);
        assert_eq!(
            err.to_string(),
            "Git repository ssh://git@127.0.0.1:18222/r.git not found (fatal: '/tmp/gitboot-cap/repos/absent.git' does not appear to be a git repository); check the URL, and that the repository exists and the credentials can read it"
        );
    }

    #[test]
    fn a_missing_branch_matches_no_rule() {
        assert_eq!(failure_of(MISSING_BRANCH), None);
        let err = classify(Operation::Fetch, &https(), &basic(), MISSING_BRANCH);
        assert_eq!(
            err.to_string(),
            "git fetch https://127.0.0.1:18443/git/r.git failed: fatal: couldn't find remote ref refs/heads/absent"
        );
    }

    /// Runs the real git's `ls-remote` against `url` the way fetch and push run, and returns
    /// what it printed.
    fn ls_remote(url: &str, auth: Auth) -> String {
        let dir = tempfile::tempdir().unwrap();
        let git_dir = dir.path().join("local.git");
        let out = Command::new("git")
            .args(["init", "-q", "--bare"])
            .arg(&git_dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let remote = Remote {
            url: url.to_string(),
            auth,
            ca_file: None,
            insecure_http: false,
        };
        let parsed = GitUrl::parse(url).unwrap();
        let git = RemoteGit {
            remote: &remote,
            url: &parsed,
            git_dir: &git_dir,
        };
        let args = ["ls-remote", "--heads", "--", url].map(OsString::from);
        let output = git.run(&args).unwrap();
        assert!(!output.success, "git ls-remote {url} must fail");
        output.stderr
    }

    /// A loopback port nothing listens on.
    fn closed_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    /// A loopback server that answers every connection with `response` (for as long as the
    /// test process lives), as a web server in front of no Git repository would.
    fn answering(response: &'static str) -> u16 {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                let _ = stream.write_all(response.as_bytes());
            }
        });
        port
    }

    #[test]
    fn real_git_over_loopback_connection_refused_is_unreachable() {
        let port = closed_port();
        for url in [
            format!("https://127.0.0.1:{port}/r.git"),
            format!("http://127.0.0.1:{port}/r.git"),
        ] {
            let stderr = ls_remote(&url, Auth::None);
            assert!(stderr.contains("Failed to connect"), "{stderr}");
            assert_eq!(failure_of(&stderr), Some(Failure::Unreachable), "{stderr}");
        }
        let url = format!("ssh://git@127.0.0.1:{port}/r.git");
        let stderr = ls_remote(&url, ssh_key());
        assert!(stderr.contains("Connection refused"), "{stderr}");
        assert_eq!(failure_of(&stderr), Some(Failure::Unreachable), "{stderr}");
    }

    #[test]
    fn a_server_gone_in_the_middle_of_a_request_is_unreachable() {
        // What git over HTTPS printed when the server stopped while it held the push's first
        // request (tests/lifecycle/faults.rs), and curl's words for the same over HTTP.
        for stderr in [
            "fatal: unable to access 'https://127.0.0.1:4/r.git/': GnuTLS recv error (-110): The TLS connection was non-properly terminated.",
            "fatal: unable to access 'http://127.0.0.1:4/r.git/': Empty reply from server",
            "fatal: unable to access 'https://127.0.0.1:4/r.git/': OpenSSL SSL_read: error:0A000126:SSL routines::unexpected eof while reading, errno 0",
            "fatal: unable to access 'http://127.0.0.1:4/r.git/': Recv failure: Connection reset by peer",
        ] {
            assert_eq!(failure_of(stderr), Some(Failure::Unreachable), "{stderr}");
        }
    }

    #[test]
    fn tls_in_a_url_is_not_a_tls_failure() {
        // git quotes the URL in its message; the word used to be enough for a TLS error.
        let port = closed_port();
        let url = format!("https://127.0.0.1:{port}/tls/gnutls.git");
        let stderr = ls_remote(&url, Auth::None);
        assert_eq!(failure_of(&stderr), Some(Failure::Unreachable), "{stderr}");
        let err = classify(
            Operation::Fetch,
            &GitUrl::parse(&url).unwrap(),
            &Auth::None,
            &stderr,
        );
        assert!(matches!(err, Error::GitUnreachable { .. }), "{err}");
    }

    #[test]
    fn real_git_against_a_server_that_does_not_speak_tls_is_a_tls_failure() {
        let port = answering("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        let stderr = ls_remote(&format!("https://127.0.0.1:{port}/r.git"), Auth::None);
        assert_eq!(failure_of(&stderr), Some(Failure::Tls), "{stderr}");
    }

    #[test]
    fn real_git_http_answers_map_to_their_rules() {
        let not_found =
            answering("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        let stderr = ls_remote(&format!("http://127.0.0.1:{not_found}/r.git"), Auth::None);
        assert_eq!(
            stderr,
            format!("fatal: repository 'http://127.0.0.1:{not_found}/r.git/' not found")
        );
        assert_eq!(failure_of(&stderr), Some(Failure::RepositoryNotFound));

        let unauthorized = answering(
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        let stderr = ls_remote(
            &format!("http://127.0.0.1:{unauthorized}/r.git"),
            Auth::None,
        );
        assert_eq!(
            failure_of(&stderr),
            Some(Failure::Unauthenticated),
            "{stderr}"
        );

        // git 2.39 words a 403 "The requested URL returned error: 403", which no rule knows
        // (the "http 403" phrase never appears): it stays a plain git failure.
        let forbidden =
            answering("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        let stderr = ls_remote(&format!("http://127.0.0.1:{forbidden}/r.git"), Auth::None);
        assert_eq!(
            stderr,
            format!(
                "fatal: unable to access 'http://127.0.0.1:{forbidden}/r.git/': The requested URL returned error: 403"
            )
        );
        assert_eq!(failure_of(&stderr), None);
    }

    #[test]
    fn real_git_on_a_missing_local_repository_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}/absent.git", dir.path().display());
        let stderr = ls_remote(&url, Auth::None);
        assert!(
            stderr.contains("does not appear to be a git repository"),
            "{stderr}"
        );
        assert_eq!(failure_of(&stderr), Some(Failure::RepositoryNotFound));
    }

    #[test]
    fn a_rejected_push_matches_no_rule() {
        // A non-fast-forward push is told apart by its porcelain line (see `push_result`);
        // what git prints on stderr then must not read as another failure.
        let dir = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| {
            let out = Command::new("git")
                .current_dir(dir.path())
                .args(args)
                .env("LC_ALL", "C")
                .env("GIT_AUTHOR_NAME", "a")
                .env("GIT_AUTHOR_EMAIL", "a@example.com")
                .env("GIT_COMMITTER_NAME", "a")
                .env("GIT_COMMITTER_EMAIL", "a@example.com")
                .output()
                .unwrap();
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        assert!(run(&["init", "-q", "--bare", "-b", "main", "remote.git"]).0);
        for clone in ["one", "two"] {
            assert!(run(&["init", "-q", "-b", "main", clone]).0);
            assert!(run(&["-C", clone, "commit", "-q", "--allow-empty", "-m", clone]).0);
        }
        assert!(run(&["-C", "one", "push", "-q", "../remote.git", "main"]).0);
        let (pushed, stderr) = run(&["-C", "two", "push", "--porcelain", "../remote.git", "main"]);
        assert!(!pushed);
        assert!(stderr.contains("failed to push some refs"), "{stderr}");
        assert_eq!(failure_of(&stderr), None, "{stderr}");
    }
}
