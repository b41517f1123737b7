//! What can go wrong between the plugin and a Kubernetes API server: the kubeconfig, the
//! connection flags, the transport (unreachable, timeout, TLS), the server's answers (401, 403,
//! other statuses), and applying objects. Each message names the object, the cause and the
//! next step; the kube error behind a transport failure stays reachable as the source.

use std::io::ErrorKind;
use std::path::PathBuf;
use std::time::Duration;

use kube::config::KubeconfigError;

use super::action::Action;
use super::roles::{Right, role_granting};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "kubeconfig {path} does not exist: pass an existing file to --kubeconfig, or leave the flag out to use KUBECONFIG or ~/.kube/config"
    )]
    KubeconfigMissing { path: PathBuf },

    #[error(
        "kubeconfig {path} could not be read: {cause}; fix the file or point --kubeconfig or KUBECONFIG at a valid one",
        cause = kubeconfig_cause(.source)
    )]
    KubeconfigInvalid {
        path: PathBuf,
        #[source]
        source: Box<KubeconfigError>,
    },

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

    /// kube could not turn the selected context into a client configuration.
    #[error(
        "the kubeconfig cannot be used: {cause}; check it with kubectl config view",
        cause = kubeconfig_cause(.source)
    )]
    KubeconfigUnusable {
        #[source]
        source: Box<KubeconfigError>,
    },

    /// No `--context`, no `current-context`, and no `--server` to build one from.
    #[error(
        "the kubeconfig cannot be used: {sources} sets no current-context; pass --context; check it with kubectl config view"
    )]
    NoCurrentContext { sources: String },

    #[error(
        "the kubeconfig cannot be used: cannot build a client for {server}: {source}; check it with kubectl config view"
    )]
    ClientUnusable {
        server: String,
        #[source]
        source: Box<kube::Error>,
    },

    #[error("invalid value \"{value}\" for {flag}: {reason}")]
    InvalidFlag {
        flag: &'static str,
        value: String,
        reason: String,
    },

    #[error(
        "cannot reach the Kubernetes API server at {server}: {cause}; check that the cluster is running and that the kubeconfig, --context or --server point at it",
        cause = innermost(.source)
    )]
    Unreachable {
        server: String,
        #[source]
        source: Box<kube::Error>,
    },

    /// No answer within `--request-timeout`; `source` is the client's error when the timeout
    /// was the client's own (connect or read), none when the whole request ran out of time.
    #[error(
        "the Kubernetes API server at {server} did not answer within {timeout:?} ({action}); check the network path to it, or raise --request-timeout"
    )]
    Timeout {
        server: String,
        timeout: Duration,
        action: Box<Action>,
        #[source]
        source: Option<Box<kube::Error>>,
    },

    #[error(
        "TLS with the Kubernetes API server at {server} failed: {cause}; check the certificate authority (kubeconfig certificate-authority(-data) or --certificate-authority)",
        cause = innermost(.source)
    )]
    Tls {
        server: String,
        #[source]
        source: Box<kube::Error>,
    },

    #[error(
        "the Kubernetes API server at {server} rejected the credentials (401 Unauthorized) when trying to {action}; log in again or fix the user's token or certificate in the kubeconfig"
    )]
    Unauthorized { server: String, action: Box<Action> },

    #[error(
        "forbidden: {user} cannot {action} (403: {message}); {next_step}",
        next_step = forbidden_next_step(.action, .message)
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

    /// A client error that is neither an answer of the server nor a known transport failure.
    #[error("{action} failed: {cause}", cause = source_chain(.source))]
    Request {
        action: Box<Action>,
        #[source]
        source: Box<kube::Error>,
    },

    /// A request that failed for a reason that is not an error value (e.g. a watch that ended).
    #[error("{action} failed: {cause}")]
    Client { action: Box<Action>, cause: String },

    /// An object to apply lacks what names it; only what is there is named, never the content
    /// (it may be a Secret).
    #[error(
        "a manifest object lacks apiVersion, kind or metadata.name (kind {kind:?}, name {name:?}); fix the manifests (--manifests) or use a Flux release"
    )]
    ObjectIncomplete { kind: String, name: String },

    #[error(
        "the cluster does not serve {kind} in {api_version}; check the Kubernetes version (Flux needs >= 1.33) and that its CRD is installed"
    )]
    NotServed { kind: String, api_version: String },

    #[error(
        "CRD {name} was not Established within {timeout:?}; see its conditions with: kubectl get crd {name} -o yaml"
    )]
    CrdNotEstablished { name: String, timeout: Duration },
}

impl Error {
    /// Whether the command line itself is wrong (exit status 2): a connection flag that cannot
    /// work.
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::InvalidFlag { .. })
    }

    /// The cause in a few words, for a line that lists many clusters ("connection refused",
    /// "no answer within 10s"); the full message says the next step.
    pub fn brief(&self) -> String {
        match self {
            Error::Unreachable { source, .. } => {
                let cause = innermost(source.as_ref());
                // "Connection refused (os error 111)" -> "connection refused"
                let cause = cause.split(" (os error").next().unwrap_or_default();
                let mut chars = cause.chars();
                match chars.next() {
                    Some(first) => first.to_lowercase().chain(chars).collect(),
                    None => "unreachable".to_string(),
                }
            }
            Error::Timeout { timeout, .. } => format!("no answer within {timeout:?}"),
            Error::Tls { .. } => "TLS failed".to_string(),
            Error::Unauthorized { .. } => "401 Unauthorized".to_string(),
            Error::Forbidden { .. } => "403 Forbidden".to_string(),
            Error::Api { code, reason, .. } => format!("{code} {reason}"),
            Error::NotInKubeconfig { what, name, .. } => {
                format!("{what} {name:?} not in the kubeconfig")
            }
            Error::KubeconfigMissing { .. }
            | Error::KubeconfigInvalid { .. }
            | Error::KubeconfigUnusable { .. }
            | Error::NoKubeconfig { .. }
            | Error::NoCurrentContext { .. }
            | Error::ClientUnusable { .. } => "kubeconfig unusable".to_string(),
            other => other.to_string(),
        }
    }

    /// Turns a kube client error met while doing `action` against `server` into the variant a
    /// user can act on: the server's answers by status code, transport failures by what
    /// [`transport_failure`] finds in the source chain.
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
        let server = server.to_string();
        let source = Box::new(err);
        match transport_failure(source.as_ref()) {
            Some(TransportFailure::Tls) => Error::Tls { server, source },
            Some(TransportFailure::Timeout) => Error::Timeout {
                server,
                timeout: timeout.unwrap_or_default(),
                action,
                source: Some(source),
            },
            Some(TransportFailure::Unreachable) => Error::Unreachable { server, source },
            None => Error::Request { action, source },
        }
    }
}

/// The kinds of transport failure that have their own message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TransportFailure {
    Tls,
    Timeout,
    Unreachable,
}

/// What kind of transport failure `err` is, with TLS before timeouts before connection
/// failures (a TLS handshake that times out is reported as TLS).
///
/// kube wraps hyper, rustls and io errors in opaque boxes, so the chain is searched for the
/// typed errors first: a `rustls::Error` (also inside an `io::Error`, where hyper-rustls puts
/// it), and `io::Error` kinds (hyper-timeout reports its timeouts as `TimedOut`). When the
/// chain holds none of those (a connector that words its failure only as text, as DNS
/// resolution does), the chain's text is matched as a fallback.
fn transport_failure(err: &(dyn std::error::Error + 'static)) -> Option<TransportFailure> {
    let typed: Vec<TransportFailure> = chain(err).filter_map(typed_failure).collect();
    let found = |kind| typed.contains(&kind);
    let order = [
        TransportFailure::Tls,
        TransportFailure::Timeout,
        TransportFailure::Unreachable,
    ];
    if let Some(kind) = order.into_iter().find(|kind| found(*kind)) {
        return Some(kind);
    }
    worded_failure(&source_chain(err))
}

/// The failure one error of the chain stands for, by its type.
fn typed_failure(err: &(dyn std::error::Error + 'static)) -> Option<TransportFailure> {
    if err.is::<rustls::Error>() {
        return Some(TransportFailure::Tls);
    }
    if err.is::<tokio::time::error::Elapsed>() {
        return Some(TransportFailure::Timeout);
    }
    let io = err.downcast_ref::<std::io::Error>()?;
    // io::Error::source() skips the error it wraps, so look at it directly.
    if io
        .get_ref()
        .is_some_and(|inner| inner.is::<rustls::Error>())
    {
        return Some(TransportFailure::Tls);
    }
    match io.kind() {
        ErrorKind::TimedOut => Some(TransportFailure::Timeout),
        ErrorKind::ConnectionRefused
        | ErrorKind::ConnectionReset
        | ErrorKind::ConnectionAborted
        | ErrorKind::NotConnected
        | ErrorKind::AddrNotAvailable
        | ErrorKind::HostUnreachable
        | ErrorKind::NetworkUnreachable => Some(TransportFailure::Unreachable),
        _ => None,
    }
}

/// The fallback for chains without a typed cause: the words hyper, rustls and the resolver use.
fn worded_failure(chain: &str) -> Option<TransportFailure> {
    let lower = chain.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|word| lower.contains(word));
    if has(&["certificate", "tls", "handshake"]) {
        Some(TransportFailure::Tls)
    } else if has(&["timed out", "elapsed", "timeout"]) {
        Some(TransportFailure::Timeout)
    } else if has(&["connect", "dns", "refused"]) {
        Some(TransportFailure::Unreachable)
    } else {
        None
    }
}

/// `err` and its causes, outermost first.
fn chain<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(err), |e| e.source())
}

/// What to ask for after a 403: the plugin's ClusterRole that grants the missing right
/// (docs/rbac/), read from the server's message, or from the action when the message does not
/// say (an authorizer other than RBAC may word it differently).
fn forbidden_next_step(action: &Action, message: &str) -> String {
    let right = Right::from_forbidden_message(message).unwrap_or_else(|| {
        let (resource, group) = action
            .resource
            .split_once('.')
            .unwrap_or((action.resource.as_str(), ""));
        Right {
            // Server-side apply (also in dry-run) is authorized as patch.
            verb: match action.verb.as_str() {
                "apply" | "dry-run apply" => "patch".to_string(),
                verb => verb.to_string(),
            },
            group: group.to_string(),
            resource: resource.to_string(),
            namespace: action.namespace.clone(),
        }
    });
    // The kinds a dry-run touches are whatever the user's manifests hold, which no role of
    // the plugin's can list.
    if action.verb == "dry-run apply" {
        let binding = match &right.namespace {
            Some(ns) => format!("bind it with a RoleBinding in namespace \"{ns}\""),
            None => "bind it with a ClusterRoleBinding".to_string(),
        };
        return format!(
            "a server-side dry-run needs the rights of the change itself: the built-in ClusterRole edit grants them for most namespaced kinds ({binding}; README, \"Least privilege\"), or use a context with more rights"
        );
    }
    match role_granting(&right) {
        Some(role) => {
            // Installing touches cluster-scoped objects: only a cluster-wide binding will do.
            let scope = match &right.namespace {
                Some(ns) if role != "gitops-admin" => {
                    format!("a RoleBinding in namespace \"{ns}\" or a ClusterRoleBinding")
                }
                _ => "a ClusterRoleBinding".to_string(),
            };
            format!(
                "the ClusterRole {role} grants it (docs/rbac/{role}.yaml; README, \"Least privilege\"): ask a cluster admin to bind it to you with {scope}, or use a context with more rights"
            )
        }
        None => {
            "ask a cluster admin for that permission, or use a context with more rights".to_string()
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
fn source_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    for e in chain(err) {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

/// The deepest cause, which is the one that says what went wrong ("Connection refused",
/// "invalid peer certificate: UnknownIssuer").
fn innermost(err: &(dyn std::error::Error + 'static)) -> String {
    chain(err).last().map(|e| e.to_string()).unwrap_or_default()
}

/// The part of a kubeconfig error a user can act on, without kube's wrapper words.
fn kubeconfig_cause(err: &KubeconfigError) -> String {
    match err {
        KubeconfigError::ReadConfig(io, _) => io.to_string(),
        KubeconfigError::Parse(parse) => format!("not a valid kubeconfig: {parse}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kube_error(cause: impl std::error::Error + Send + Sync + 'static) -> kube::Error {
        kube::Error::Service(Box::new(cause))
    }

    fn action() -> Action {
        Action::new("get", "/version")
    }

    #[test]
    fn forbidden_user_is_taken_from_the_server_message() {
        let msg = "customresourcedefinitions.apiextensions.k8s.io \"x\" is forbidden: User \"nobody\" cannot get resource";
        assert_eq!(forbidden_user(msg), "user \"nobody\"");
        assert_eq!(forbidden_user("forbidden"), "the current user");
    }

    #[test]
    fn a_rustls_error_inside_an_io_error_is_tls() {
        let rustls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(ErrorKind::InvalidData, rustls);
        let err = Error::from_kube(kube_error(io), "https://k:6443", None, action());
        assert!(matches!(err, Error::Tls { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "TLS with the Kubernetes API server at https://k:6443 failed: invalid peer certificate: UnknownIssuer; check the certificate authority (kubeconfig certificate-authority(-data) or --certificate-authority)"
        );
    }

    #[test]
    fn io_kinds_tell_timeouts_from_refused_connections() {
        let timed_out = std::io::Error::new(ErrorKind::TimedOut, "deadline has elapsed");
        let err = Error::from_kube(
            kube_error(timed_out),
            "https://k:6443",
            Some(Duration::from_secs(2)),
            action(),
        );
        assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "the Kubernetes API server at https://k:6443 did not answer within 2s (get /version); check the network path to it, or raise --request-timeout"
        );

        let refused = std::io::Error::from(ErrorKind::ConnectionRefused);
        let err = Error::from_kube(kube_error(refused), "https://k:6443", None, action());
        assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "cannot reach the Kubernetes API server at https://k:6443: connection refused; check that the cluster is running and that the kubeconfig, --context or --server point at it"
        );
    }

    #[test]
    fn text_is_the_fallback_when_no_cause_is_typed() {
        let dns = std::io::Error::other("dns error: failed to lookup address information");
        let err = Error::from_kube(kube_error(dns), "https://nowhere:6443", None, action());
        assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");

        let other = std::io::Error::other("something else");
        let err = Error::from_kube(kube_error(other), "https://k:6443", None, action());
        assert!(matches!(err, Error::Request { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "get /version failed: ServiceError: something else"
        );
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable_through_the_real_client() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .unwrap();
        let config = kube::Config::new(format!("http://127.0.0.1:{port}").parse().unwrap());
        let client = kube::Client::try_from(config).unwrap();
        let err = client.apiserver_version().await.unwrap_err();
        let err = Error::from_kube(err, "http://127.0.0.1", None, action());
        assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
        let typed = chain(&err).filter_map(typed_failure).next();
        assert_eq!(
            typed,
            Some(TransportFailure::Unreachable),
            "found by type, not text"
        );
    }

    #[test]
    fn api_answers_are_told_apart_by_status_code() {
        let status = |code: u16, message: &str| {
            kube::Error::Api(
                kube::core::Status::failure(message, "Forbidden")
                    .with_code(code)
                    .boxed(),
            )
        };
        let err = Error::from_kube(
            status(403, "x is forbidden: User \"bob\" cannot get"),
            "s",
            None,
            action(),
        );
        assert_eq!(
            err.to_string(),
            "forbidden: user \"bob\" cannot get /version (403: x is forbidden: User \"bob\" cannot get); ask a cluster admin for that permission, or use a context with more rights"
        );
        let err = Error::from_kube(status(401, "no"), "s", None, action());
        assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
        let err = Error::from_kube(status(409, "conflict"), "s", None, action());
        assert!(matches!(err, Error::Api { code: 409, .. }), "{err:?}");
    }

    fn forbidden(action: Action, message: &str) -> String {
        Error::Forbidden {
            user: forbidden_user(message),
            action: Box::new(action),
            message: message.to_string(),
        }
        .to_string()
    }

    #[test]
    fn a_forbidden_answer_names_the_plugins_role_that_grants_the_right() {
        let message = "kustomizations.kustomize.toolkit.fluxcd.io \"apps\" is forbidden: User \"ann\" cannot patch resource \"kustomizations\" in API group \"kustomize.toolkit.fluxcd.io\" in the namespace \"team\"";
        let patch = Action::new("patch", "kustomizations.kustomize.toolkit.fluxcd.io")
            .named("apps")
            .in_namespace("team");
        assert_eq!(
            forbidden(patch, message),
            format!(
                "forbidden: user \"ann\" cannot patch kustomizations.kustomize.toolkit.fluxcd.io \"apps\" in namespace \"team\" (403: {message}); the ClusterRole gitops-operate grants it (docs/rbac/gitops-operate.yaml; README, \"Least privilege\"): ask a cluster admin to bind it to you with a RoleBinding in namespace \"team\" or a ClusterRoleBinding, or use a context with more rights"
            )
        );
        // Server-side apply is authorized as patch (or create): read from the message, or
        // from the action when an authorizer words it otherwise.
        let apply = Action::new("apply", "customresourcedefinitions.apiextensions.k8s.io")
            .named("gitrepositories.source.toolkit.fluxcd.io");
        assert!(
            forbidden(apply, "forbidden").ends_with(
                "the ClusterRole gitops-admin grants it (docs/rbac/gitops-admin.yaml; README, \"Least privilege\"): ask a cluster admin to bind it to you with a ClusterRoleBinding, or use a context with more rights"
            )
        );
        let list = Action::new("list", "events").in_namespace("team");
        assert!(forbidden(list, "forbidden").contains("the ClusterRole gitops-view grants it"));
    }

    #[test]
    fn a_forbidden_dry_run_points_at_the_built_in_edit_role() {
        let message = "configmaps \"settings\" is forbidden: User \"ann\" cannot patch resource \"configmaps\" in API group \"\" in the namespace \"default\"";
        let dry_run = Action::new("dry-run apply", "configmaps")
            .named("settings")
            .in_namespace("default");
        assert!(forbidden(dry_run, message).ends_with(
            "; a server-side dry-run needs the rights of the change itself: the built-in ClusterRole edit grants them for most namespaced kinds (bind it with a RoleBinding in namespace \"default\"; README, \"Least privilege\"), or use a context with more rights"
        ));
    }
}
