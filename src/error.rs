//! Typed errors whose messages name the object, the cause and the next step.
//!
//! Every failure a user can cause or meet (bad kubeconfig, unreachable server, TLS, RBAC) has
//! its own variant, so callers can match on it and the executables print one clear line.

use std::path::PathBuf;
use std::time::Duration;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the plugin was doing when the API server answered, e.g. `get customresourcedefinitions
/// "gitrepositories.source.toolkit.fluxcd.io"`. Part of every API error message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub verb: String,
    pub resource: String,
    pub name: Option<String>,
    pub namespace: Option<String>,
}

impl Action {
    pub fn new(verb: &str, resource: &str) -> Self {
        Self {
            verb: verb.to_string(),
            resource: resource.to_string(),
            name: None,
            namespace: None,
        }
    }

    pub fn named(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }

    pub fn in_namespace(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.to_string());
        self
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)?;
        if let Some(name) = &self.name {
            write!(f, " \"{name}\"")?;
        }
        if let Some(namespace) = &self.namespace {
            write!(f, " in namespace \"{namespace}\"")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "kubeconfig {path} does not exist: pass an existing file to --kubeconfig, or leave the flag out to use KUBECONFIG or ~/.kube/config"
    )]
    KubeconfigMissing { path: PathBuf },

    #[error(
        "kubeconfig {path} could not be read: {cause}; fix the file or point --kubeconfig or KUBECONFIG at a valid one"
    )]
    KubeconfigInvalid { path: PathBuf, cause: String },

    #[error(
        "no kubeconfig found: {looked_at}; create one (e.g. with your cluster's tooling), set KUBECONFIG, or pass --kubeconfig or --server"
    )]
    NoKubeconfig { looked_at: String },

    #[error(
        "{what} \"{name}\" is not defined in the kubeconfig ({sources}); defined: {available}; pick one of those (kubectl config get-contexts lists contexts)"
    )]
    NotInKubeconfig {
        what: &'static str,
        name: String,
        sources: String,
        available: String,
    },

    #[error("the kubeconfig cannot be used: {cause}; check it with kubectl config view")]
    KubeconfigUnusable { cause: String },

    #[error("invalid value \"{value}\" for {flag}: {reason}")]
    InvalidFlag {
        flag: &'static str,
        value: String,
        reason: String,
    },

    #[error(
        "cannot reach the Kubernetes API server at {server}: {cause}; check that the cluster is running and that the kubeconfig, --context or --server point at it"
    )]
    Unreachable { server: String, cause: String },

    #[error(
        "the Kubernetes API server at {server} did not answer within {timeout:?} ({action}); check the network path to it, or raise --request-timeout"
    )]
    Timeout {
        server: String,
        timeout: Duration,
        action: Box<Action>,
    },

    #[error(
        "TLS with the Kubernetes API server at {server} failed: {cause}; check the certificate authority (kubeconfig certificate-authority(-data) or --certificate-authority)"
    )]
    Tls { server: String, cause: String },

    #[error(
        "the Kubernetes API server at {server} rejected the credentials (401 Unauthorized) when trying to {action}; log in again or fix the user's token or certificate in the kubeconfig"
    )]
    Unauthorized { server: String, action: Box<Action> },

    #[error(
        "forbidden: {user} cannot {action} (403: {message}); ask a cluster admin for that permission, or use a context with more rights"
    )]
    Forbidden {
        user: String,
        action: Box<Action>,
        message: String,
    },

    #[error("the Kubernetes API server refused to {action}: {message} ({code} {reason})")]
    Api {
        action: Box<Action>,
        code: u16,
        reason: String,
        message: String,
    },

    #[error("{action} failed: {cause}")]
    Client { action: Box<Action>, cause: String },

    #[error("{0}")]
    Output(String),

    #[error(
        "Flux is not installed in this cluster (no Flux CRDs are served); install it with kubectl gitops bootstrap or flux install"
    )]
    FluxNotInstalled,

    #[error(
        "the {kind} kind is not installed in this cluster (CRD {crd} is missing); install the {controller} (e.g. --components-extra) to use it"
    )]
    KindNotInstalled {
        kind: &'static str,
        crd: String,
        controller: &'static str,
    },

    #[error("unknown kind \"{name}\": Flux kinds are {known}")]
    UnknownKind { name: String, known: String },

    #[error("{kind} \"{name}\" not found in namespace \"{namespace}\"{hint}")]
    NotFound {
        kind: &'static str,
        name: String,
        namespace: String,
        hint: String,
    },

    #[error("{0}")]
    Usage(String),

    /// `status --fail-if-not-ready` found objects that are not Ready (exit status 3).
    #[error("{not_ready} of {total} selected Flux objects are not Ready")]
    NotAllReady { not_ready: usize, total: usize },

    /// Some of several objects failed to reconcile; each was reported already.
    #[error("{failed} of {total} objects did not reconcile")]
    SomeFailed { failed: usize, total: usize },

    #[error(
        "{kind}/{name} in namespace \"{namespace}\" is suspended, so Flux will not reconcile it; resume it with: kubectl gitops resume {short} {name} -n {namespace}"
    )]
    Suspended {
        kind: &'static str,
        short: &'static str,
        name: String,
        namespace: String,
    },

    /// `check` found problems; each was printed already.
    #[error("{failed} checks failed; see the lines marked ✗ above")]
    ChecksFailed { failed: usize },

    // Install manifests
    #[error(
        "unknown Flux component(s) {unknown} in --components/--components-extra; Flux components are {known}"
    )]
    UnknownComponent { unknown: String, known: String },

    #[error(
        "--components must include {missing}: Flux cannot sync from Git without source-controller and kustomize-controller"
    )]
    RequiredComponentMissing { missing: String },

    #[error(
        "--registry-creds is not in the form user:password (its value is not shown); pass it as --registry-creds=user:password or in KUBECTL_GITOPS_REGISTRY_CREDS"
    )]
    RegistryCredentialsFormat,

    #[error(
        "--registry-creds needs --image-pull-secret: the credentials are stored in the Secret that the controllers pull their images with"
    )]
    RegistryCredentialsWithoutSecret,

    #[error(
        "no cache folder for downloaded Flux manifests: {cause}; set XDG_CACHE_HOME or HOME, or use --manifests with a local copy"
    )]
    CacheUnavailable { cause: String },

    #[error(
        "cannot find the latest Flux release at {url}: {cause}; pass --version vX.Y.Z (e.g. v2.9.4), or check access to the GitHub API"
    )]
    LatestVersionUnavailable { url: String, cause: String },

    #[error(
        "cannot download {url}: {cause}; check --base-url and --version and the network path to it, or use --manifests with a local copy"
    )]
    ManifestDownload { url: String, cause: String },

    #[error(
        "{file} from {url} has sha256 {actual}, but {checksums} says {expected}: the download is corrupt or was tampered with, so it was not used or cached; retry, or check --base-url"
    )]
    ManifestChecksumMismatch {
        file: String,
        url: String,
        checksums: String,
        expected: String,
        actual: String,
    },

    #[error(
        "{checksums} lists no sha256 for {file}, so the download cannot be verified and was not used; check --base-url and --version"
    )]
    ManifestChecksumMissing { file: String, checksums: String },

    #[error(
        "cannot use the manifest cache {path}: {cause}; check its permissions, or set XDG_CACHE_HOME to another folder"
    )]
    ManifestCache { path: PathBuf, cause: String },

    #[error(
        "cannot read Flux manifests from {origin}: {cause}; --manifests takes a folder of per-component files (as in a release's manifests.tar.gz) or one multi-document file (as install.yaml)"
    )]
    ManifestsUnreadable { origin: String, cause: String },

    #[error(
        "the Flux manifests from {origin} have no {component}; pick components that they contain, or use a complete release"
    )]
    ManifestsMissingComponent { origin: String, component: String },

    #[error(
        "cannot apply {option} to {object} from {origin}: {cause}; these manifests do not have the shape of Flux's release manifests"
    )]
    ManifestShape {
        option: &'static str,
        object: String,
        origin: String,
        cause: String,
    },

    // Git
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

    #[error("git {operation} {url} failed: {cause}")]
    GitFailed {
        operation: &'static str,
        url: String,
        cause: String,
    },

    #[error("could not {operation} in the temporary clone of {url}: {cause}")]
    GitRepository {
        url: String,
        operation: &'static str,
        cause: String,
    },

    #[error("invalid path \"{path}\" in the Git repository: {reason}")]
    GitPath { path: String, reason: String },

    #[error(
        "cannot create temporary Git files at {path}: {cause}; check that TMPDIR points at a writable folder with free space"
    )]
    GitTempFiles { path: PathBuf, cause: String },

    #[error("cannot generate an SSH key ({algorithm}): {cause}")]
    SshKeyGeneration { algorithm: String, cause: String },

    #[error("cannot use the SSH private key {path}: {cause}; {next_step}", path = path.display())]
    SshKeyFile {
        path: PathBuf,
        cause: String,
        next_step: &'static str,
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

impl Error {
    /// The process exit status for this error: 3 when objects are merely not Ready (so CI
    /// pipelines can tell "unhealthy" from "could not check"), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::NotAllReady { .. } => 3,
            _ => 1,
        }
    }

    /// Turns a kube client error met while doing `action` against `server` into the variant a
    /// user can act on. Transport errors are recognised from their source chain, because kube
    /// wraps hyper, rustls and io errors in opaque boxes.
    pub fn from_kube(
        err: kube::Error,
        server: &str,
        timeout: Option<Duration>,
        action: Action,
    ) -> Self {
        let action = Box::new(action);
        if let kube::Error::Api(status) = &err {
            return match status.code {
                401 => Error::Unauthorized {
                    server: server.to_string(),
                    action,
                },
                403 => Error::Forbidden {
                    user: forbidden_user(&status.message),
                    action,
                    message: status.message.clone(),
                },
                code => Error::Api {
                    action,
                    code,
                    reason: status.reason.clone(),
                    message: status.message.clone(),
                },
            };
        }
        let chain = source_chain(&err);
        let lower = chain.to_ascii_lowercase();
        if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
            return Error::Tls {
                server: server.to_string(),
                cause: innermost(&err),
            };
        }
        if lower.contains("timed out") || lower.contains("elapsed") || lower.contains("timeout") {
            return Error::Timeout {
                server: server.to_string(),
                timeout: timeout.unwrap_or_default(),
                action,
            };
        }
        if lower.contains("connect") || lower.contains("dns") || lower.contains("refused") {
            return Error::Unreachable {
                server: server.to_string(),
                cause: innermost(&err),
            };
        }
        Error::Client {
            action,
            cause: chain,
        }
    }
}

/// The user named in a 403 message (`User "alice" cannot ...`), or a neutral word.
fn forbidden_user(message: &str) -> String {
    message
        .split_once("User \"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(user, _)| format!("user \"{user}\""))
        .unwrap_or_else(|| "the current user".to_string())
}

/// The whole `source()` chain in one line, outermost first, without repeats.
fn source_chain(err: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

/// The deepest cause, which is the one that says what went wrong ("Connection refused",
/// "invalid peer certificate: UnknownIssuer").
fn innermost(err: &dyn std::error::Error) -> String {
    let mut current: &dyn std::error::Error = err;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_verb_resource_name_and_namespace() {
        let action = Action::new("get", "kustomizations.kustomize.toolkit.fluxcd.io")
            .named("apps")
            .in_namespace("flux-system");
        assert_eq!(
            action.to_string(),
            "get kustomizations.kustomize.toolkit.fluxcd.io \"apps\" in namespace \"flux-system\""
        );
    }

    #[test]
    fn forbidden_user_is_taken_from_the_server_message() {
        let msg = "customresourcedefinitions.apiextensions.k8s.io \"x\" is forbidden: User \"nobody\" cannot get resource";
        assert_eq!(forbidden_user(msg), "user \"nobody\"");
        assert_eq!(forbidden_user("forbidden"), "the current user");
    }
}
