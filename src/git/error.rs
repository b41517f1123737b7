//! What can go wrong with Git: the git executable, URLs and flags, what the server answered
//! (credentials, TLS, host keys, refused pushes), the temporary clone, and SSH keys.
//!
//! Causes that are what git or ssh-keyscan printed stay text (already scrubbed of secrets);
//! causes that are error values stay values, reachable through `source()`.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "the git command is not available ({cause}); install Git 2.31 or newer (e.g. apt-get install git, brew install git) and put it on PATH"
    )]
    GitMissing { cause: String },

    #[error(
        "git {version} is too old: kubectl-gitops needs Git 2.31 or newer (it hands credentials to git through GIT_CONFIG_COUNT, never the command line); upgrade Git"
    )]
    GitTooOld { version: String },

    #[error("invalid Git URL \"{url}\": {reason}")]
    GitUrl { url: String, reason: String },

    /// A Git flag (`--branch`, `--ca-file`) whose value cannot work.
    #[error("invalid value \"{value}\" for {flag}: {reason}")]
    InvalidFlag {
        flag: &'static str,
        value: String,
        reason: String,
    },

    #[error("the Git server at {url} rejected the credentials ({cause}); {next_step}")]
    GitAuthFailed {
        url: String,
        cause: String,
        next_step: &'static str,
    },

    #[error(
        "TLS with the Git server at {url} failed ({cause}); if the server uses a private certificate authority, pass it with --ca-file"
    )]
    GitTls { url: String, cause: String },

    #[error(
        "cannot reach the Git server at {url} ({cause}); check the URL, the network path and that the server is running"
    )]
    GitUnreachable { url: String, cause: String },

    #[error(
        "Git repository {url} not found ({cause}); check the URL, and that the repository exists and the credentials can read it"
    )]
    GitRepositoryNotFound { url: String, cause: String },

    #[error(
        "the SSH host key of {host} is not among the trusted ones (known_hosts lists: {known}) for {url} ({cause}); scan the host again (ssh-keyscan) and compare the fingerprints with the ones your Git host publishes"
    )]
    GitHostKeyUnknown {
        url: String,
        host: String,
        known: String,
        cause: String,
    },

    #[error(
        "the SSH host key of {host} has CHANGED for {url} (known_hosts lists: {known}); someone may be intercepting the connection, or the host's key was replaced: confirm the new fingerprint with the Git host's administrator before scanning it again"
    )]
    GitHostKeyChanged {
        url: String,
        host: String,
        known: String,
    },

    #[error(
        "the Git server at {url} refused the push to branch \"{branch}\": {reason}; a server hook or branch protection declined it: allow pushes to that branch for these credentials, or choose another --branch"
    )]
    GitPushRefused {
        url: String,
        branch: String,
        reason: String,
    },

    #[error(
        "cannot check out \"{reference}\" of {url}: {reason}; check the name with git ls-remote {url}"
    )]
    GitRef {
        url: String,
        reference: String,
        reason: String,
    },

    #[error(
        "commit \"{reference}\" is not in the history of branch \"{branch}\" of {url}; name a commit of that branch (full or abbreviated SHA), as git log {branch} lists them"
    )]
    GitUnknownCommit {
        url: String,
        branch: String,
        reference: String,
    },

    #[error(
        "commit {commit} of {url} has no file or folder \"{path}\"; pick a commit that has it (the path did not exist yet, or was moved), or check the path"
    )]
    GitPathNotInCommit {
        url: String,
        commit: String,
        path: String,
    },

    #[error("git {operation} {url} failed: {cause}")]
    GitFailed {
        operation: &'static str,
        url: String,
        cause: String,
    },

    /// gix failed on the local (temporary) repository.
    #[error("could not {operation} in the temporary clone of {url}: {source}")]
    GitRepository {
        url: String,
        operation: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    #[error("invalid path \"{path}\" in the Git repository: {reason}")]
    GitPath { path: String, reason: String },

    #[error(
        "cannot create temporary Git files at {path}: {source}; check that TMPDIR points at a writable folder with free space"
    )]
    GitTempFiles {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot generate an SSH key ({algorithm}): {source}")]
    SshKeyGeneration {
        algorithm: String,
        #[source]
        source: ssh_key::Error,
    },

    /// The cause is worded for the user: some causes are errors, others what the file lacks.
    #[error("cannot use the SSH private key {path}: {cause}; {next_step}", path = path.display())]
    SshKeyFile {
        path: PathBuf,
        cause: String,
        next_step: &'static str,
    },

    #[error(
        "cannot hand the SSH key to ssh through a private ssh-agent: {cause}; install OpenSSH's client tools (ssh-agent and ssh-add, e.g. apt-get install openssh-client)"
    )]
    SshAgent { cause: String },

    #[error(
        "{program} is not available to sign commits ({cause}); install it (GnuPG for --gpg-key-ring, OpenSSH 8.2 or newer for --ssh-signing-key-file) and put it on PATH"
    )]
    SigningToolMissing {
        program: &'static str,
        cause: String,
    },

    #[error("cannot sign commits with {flag} {path}: {cause}; {next_step}", path = path.display())]
    SigningKey {
        flag: &'static str,
        path: PathBuf,
        cause: String,
        next_step: &'static str,
    },

    #[error(
        "the commit signing key ({flag}) is protected by a passphrase: {}",
        passphrase_source(flag)
    )]
    SigningPassphraseNeeded { flag: &'static str },

    #[error(
        "the passphrase of the commit signing key ({flag}) is wrong; nothing was committed or pushed: {}",
        passphrase_source(flag)
    )]
    SigningPassphraseWrong { flag: &'static str },

    #[error("{program} could not sign the commit: {cause}")]
    SigningFailed {
        program: &'static str,
        cause: String,
    },

    #[error(
        "scanning the SSH host keys of {host} port {port} failed: {cause}; check the URL and that an SSH server listens there"
    )]
    SshKeyScan {
        host: String,
        port: u16,
        cause: String,
    },
}

/// Where the passphrase of a signing key comes from, for messages.
fn passphrase_source(flag: &str) -> &'static str {
    if flag == "--gpg-key-ring" {
        "give it in GPG_PASSPHRASE (or type it at the prompt on a terminal)"
    } else {
        "give it in SSH_SIGNING_PASSWORD (or type it at the prompt on a terminal)"
    }
}

impl Error {
    /// Whether the command line itself is wrong (exit status 2): a URL or flag that cannot work.
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::GitUrl { .. } | Error::InvalidFlag { .. })
    }
}
