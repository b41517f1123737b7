//! What can go wrong talking to a forge's API, each failure with its cause and the next step.
//! The token never appears in these messages: none of them is given it.

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No token from `--token-file`, the environment or a prompt.
    #[error(
        "bootstrap {command} needs a {forge} access token: set {env}, pass --token-file=<file>, or run it on a terminal to be asked for it"
    )]
    TokenMissing {
        forge: &'static str,
        command: &'static str,
        env: &'static str,
    },

    #[error("cannot read the token from --token-file {path}: {reason}")]
    TokenFile { path: String, reason: String },

    /// 401: the token is not accepted at all.
    #[error(
        "{forge} at {host} refused the access token (HTTP 401 on {operation}): it is wrong, expired or revoked; create a new token (scopes: {scopes}) and pass it in {env} or with --token-file"
    )]
    BadToken {
        forge: &'static str,
        host: String,
        operation: String,
        scopes: &'static str,
        env: &'static str,
    },

    /// 403 or 404 where the token's user lacks a scope or admin rights (GitHub answers 404 for
    /// a deploy key request by a user who is not an admin of the repository).
    #[error(
        "{forge} answered HTTP {status} to {operation} for {repository}: the token lacks a scope (it needs {scopes}) or its user is not an admin of the repository; use a token of a repository admin with those scopes"
    )]
    NoAccess {
        forge: &'static str,
        status: u16,
        operation: String,
        repository: String,
        scopes: &'static str,
    },

    /// `--personal` with an `--owner` that is not the token's user.
    #[error(
        "the owner \"{owner}\" is not the user of the token (\"{login}\"): with --personal the repository belongs to the token's user; pass --owner={login}, or drop --personal if \"{owner}\" is an organisation"
    )]
    OwnerMismatch { owner: String, login: String },

    #[error(
        "{forge} organisation \"{organisation}\" does not exist at {host}, or the token's user cannot see it: create it (or ask to join it), or pass --personal for a repository of the token's user"
    )]
    OrganisationNotFound {
        forge: &'static str,
        organisation: String,
        host: String,
    },

    /// A repository with history, on which `--branch` does not exist.
    #[error(
        "repository {repository} is not empty and has no branch \"{branch}\" (its default branch is \"{default_branch}\"): pass --branch={default_branch}, or create the branch \"{branch}\" first"
    )]
    BranchMissing {
        repository: String,
        branch: String,
        default_branch: String,
    },

    /// The forge refused the public key itself (its key policy).
    #[error(
        "{forge} refused the deploy key for {repository}: {message}{hint}",
        hint = if *rsa { "; the server's key policy rejects this RSA key (Gitea requires RSA keys of at least 3072 bits, and a generated RSA key has 2048): use --ssh-key-algorithm=ecdsa (the default) or ed25519" } else { "; use another --ssh-key-algorithm (ecdsa is the default)" }
    )]
    KeyRejected {
        forge: &'static str,
        repository: String,
        message: String,
        /// Whether the key is RSA (the usual reason: too short for the server's policy).
        rsa: bool,
    },

    /// Rate limited, and the limit does not lift before `--timeout` runs out.
    #[error(
        "{forge} rate-limited the requests (HTTP {status} on {operation}){waited}; it allows more {reset}, after --timeout ends: run bootstrap again then, or with a longer --timeout"
    )]
    RateLimited {
        forge: &'static str,
        status: u16,
        operation: String,
        /// ", waited 30s" when bootstrap waited before giving up.
        waited: String,
        /// "in 25m" or "later".
        reset: String,
    },

    /// `--deploy-token-auth` on a forge without deploy tokens.
    #[error(
        "{forge} has no project deploy tokens (GitLab has): use --token-auth to sync with the access token, or a deploy key (the default)"
    )]
    NoDeployTokens { forge: &'static str },

    /// Any other answer that is not a success.
    #[error("{forge} answered HTTP {status} to {operation}: {message}")]
    Api {
        forge: &'static str,
        status: u16,
        operation: String,
        message: String,
    },

    /// A success answer that is not what the API describes.
    #[error("{forge} sent an answer to {operation} that cannot be read: {reason}")]
    BadAnswer {
        forge: &'static str,
        operation: String,
        reason: String,
    },

    #[error(
        "cannot reach {forge} at {url}: {reason}; check --hostname (and --ca-file for a private certificate authority)"
    )]
    Unreachable {
        forge: &'static str,
        url: String,
        reason: String,
    },

    #[error("invalid --hostname \"{hostname}\": {reason}")]
    BadHostname { hostname: String, reason: String },

    #[error("cannot use --ca-file {path}: {reason}")]
    CaFile { path: String, reason: String },
}

impl Error {
    /// The HTTP status of an API answer, when this error is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } | Error::NoAccess { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Errors of the command line itself (exit status 2).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Error::TokenFile { .. } | Error::BadHostname { .. } | Error::CaFile { .. }
        )
    }
}
