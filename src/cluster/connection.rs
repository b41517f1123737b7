//! kubectl's connection flags, and the client they describe.
//!
//! Loading follows kubectl: `--kubeconfig` is that file alone; otherwise every path in
//! `KUBECONFIG` is merged first-wins (missing files skipped); otherwise `~/.kube/config`. Flags
//! then override the selected context, cluster and user the way kubectl's do, so
//! `--server`/`--token` work even without any kubeconfig.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::config::{
    AuthInfo, Cluster, Context, KubeConfigOptions, Kubeconfig, KubeconfigError, NamedAuthInfo,
    NamedCluster, NamedContext,
};
use kube::{Client, Config};

use crate::error::{Action, Error, Result};

/// Name of the context, cluster and user synthesised when only flags (`--server`, `--token`)
/// describe the connection.
const FLAGS_ENTRY: &str = "kubectl-gitops-flags";

/// The connection flags every command accepts, with kubectl's names and meanings.
#[derive(clap::Args, Clone, Default)]
#[command(next_help_heading = "Connection (as kubectl)")]
pub struct ConnectionFlags {
    /// Path to the kubeconfig file to use, alone (KUBECONFIG and ~/.kube/config are ignored)
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// The kubeconfig cluster to use
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,
    /// The kubeconfig user to use
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Namespace scope (default: the context's namespace, else "default")
    #[arg(short = 'n', long, value_name = "NAME")]
    pub namespace: Option<String>,
    /// How long to wait for one server request (e.g. 5s, 1m); 0 waits without limit
    #[arg(long, value_name = "DURATION", default_value = "0")]
    pub request_timeout: String,
    /// Address and port of the Kubernetes API server
    #[arg(short = 's', long, value_name = "URL")]
    pub server: Option<String>,
    /// Bearer token for authentication to the API server
    #[arg(long, value_name = "TOKEN", hide_default_value = true)]
    pub token: Option<String>,
    /// Username to impersonate for the operation
    #[arg(long = "as", value_name = "USER")]
    pub as_user: Option<String>,
    /// Group to impersonate for the operation (repeatable)
    #[arg(long = "as-group", value_name = "GROUP")]
    pub as_group: Vec<String>,
    /// Do not check the server's certificate (insecure)
    #[arg(long)]
    pub insecure_skip_tls_verify: bool,
    /// Path to a certificate authority file for the server's certificate
    #[arg(long, value_name = "PATH")]
    pub certificate_authority: Option<PathBuf>,
    /// Path to a client certificate file for TLS
    #[arg(long, value_name = "PATH")]
    pub client_certificate: Option<PathBuf>,
    /// Path to a client key file for TLS
    #[arg(long, value_name = "PATH")]
    pub client_key: Option<PathBuf>,
}

/// A client plus what commands need to know about where it points.
#[derive(Clone)]
pub struct Connection {
    pub client: Client,
    /// The namespace commands act in (flag, else context, else "default").
    pub namespace: String,
    /// The API server URL, for error messages.
    pub server: String,
    /// `--request-timeout`, when one is set.
    pub request_timeout: Option<Duration>,
}

impl Connection {
    /// Runs one API call, bounded by `--request-timeout`, turning its error into one that
    /// names `action` and the server.
    pub async fn call<T>(
        &self,
        action: Action,
        request: impl Future<Output = std::result::Result<T, kube::Error>>,
    ) -> Result<T> {
        let result = match self.request_timeout {
            Some(limit) => {
                tokio::time::timeout(limit, request)
                    .await
                    .map_err(|_| Error::Timeout {
                        server: self.server.clone(),
                        timeout: limit,
                        action: Box::new(action.clone()),
                    })?
            }
            None => request.await,
        };
        result.map_err(|err| Error::from_kube(err, &self.server, self.request_timeout, action))
    }
}

/// Where the kubeconfig came from, for error messages.
struct LoadedKubeconfig {
    config: Kubeconfig,
    sources: String,
}

impl ConnectionFlags {
    /// Builds a client from the flags and kubeconfig. Makes no request.
    pub async fn connect(&self) -> Result<Connection> {
        let request_timeout = self.request_timeout()?;
        let loaded = self.load_kubeconfig()?;
        let (kubeconfig, namespace) = self.apply_overrides(loaded)?;
        let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|err| Error::KubeconfigUnusable {
                cause: kubeconfig_cause(&err),
            })?;
        if let Some(limit) = request_timeout {
            config.connect_timeout = Some(limit);
            config.read_timeout = Some(limit);
            config.write_timeout = Some(limit);
            config.reset_reader_on_write = true;
        }
        let server = config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_string();
        let client = Client::try_from(config).map_err(|err| Error::KubeconfigUnusable {
            cause: format!("cannot build a client for {server}: {err}"),
        })?;
        Ok(Connection {
            client,
            namespace,
            server,
            request_timeout,
        })
    }

    fn request_timeout(&self) -> Result<Option<Duration>> {
        let limit = crate::ui::duration::parse(&self.request_timeout).map_err(|reason| {
            Error::InvalidFlag {
                flag: "--request-timeout",
                value: self.request_timeout.clone(),
                reason,
            }
        })?;
        Ok((!limit.is_zero()).then_some(limit))
    }

    fn load_kubeconfig(&self) -> Result<LoadedKubeconfig> {
        if let Some(path) = &self.kubeconfig {
            if !path.exists() {
                return Err(Error::KubeconfigMissing { path: path.clone() });
            }
            return Ok(LoadedKubeconfig {
                config: read_kubeconfig(path)?,
                sources: path.display().to_string(),
            });
        }
        let paths: Vec<PathBuf> = match std::env::var_os("KUBECONFIG") {
            Some(value) if !value.is_empty() => std::env::split_paths(&value)
                .filter(|p| !p.as_os_str().is_empty())
                .collect(),
            _ => default_kubeconfig_path().into_iter().collect(),
        };
        let sources = paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let mut merged = Kubeconfig::default();
        for path in paths.iter().filter(|p| p.exists()) {
            merged =
                merged
                    .merge(read_kubeconfig(path)?)
                    .map_err(|err| Error::KubeconfigInvalid {
                        path: path.clone(),
                        cause: err.to_string(),
                    })?;
        }
        Ok(LoadedKubeconfig {
            config: merged,
            sources: if sources.is_empty() {
                "no path".to_string()
            } else {
                sources
            },
        })
    }

    /// Selects the context, cluster and user as kubectl does, then writes the flag overrides
    /// into them. Returns a kubeconfig whose current context is the one to use, and the namespace.
    fn apply_overrides(&self, loaded: LoadedKubeconfig) -> Result<(Kubeconfig, String)> {
        let LoadedKubeconfig {
            mut config,
            sources,
        } = loaded;
        let not_defined =
            |what: &'static str, name: &str, names: Vec<&String>| Error::NotInKubeconfig {
                what,
                name: name.to_string(),
                sources: sources.clone(),
                available: if names.is_empty() {
                    "none".to_string()
                } else {
                    names
                        .iter()
                        .map(|n| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            };

        let context_name = match (&self.context, &config.current_context) {
            (Some(name), _) => {
                if !config.contexts.iter().any(|c| &c.name == name) {
                    return Err(not_defined(
                        "context",
                        name,
                        config.contexts.iter().map(|c| &c.name).collect(),
                    ));
                }
                name.clone()
            }
            (None, Some(current)) if config.contexts.iter().any(|c| &c.name == current) => {
                current.clone()
            }
            (None, current) => {
                if self.server.is_none() {
                    if config.contexts.is_empty() {
                        return Err(Error::NoKubeconfig { looked_at: sources });
                    }
                    return Err(match current {
                        Some(name) => not_defined(
                            "current-context",
                            name,
                            config.contexts.iter().map(|c| &c.name).collect(),
                        ),
                        None => Error::KubeconfigUnusable {
                            cause: format!("{sources} sets no current-context; pass --context"),
                        },
                    });
                }
                config.contexts.push(NamedContext {
                    name: FLAGS_ENTRY.to_string(),
                    context: Some(Context {
                        cluster: FLAGS_ENTRY.to_string(),
                        ..Context::default()
                    }),
                    ..NamedContext::default()
                });
                FLAGS_ENTRY.to_string()
            }
        };
        config.current_context = Some(context_name.clone());

        let context = config
            .contexts
            .iter()
            .find(|c| c.name == context_name)
            .and_then(|c| c.context.clone())
            .unwrap_or_default();

        let cluster_name = self
            .cluster
            .clone()
            .unwrap_or_else(|| context.cluster.clone());
        if !config.clusters.iter().any(|c| c.name == cluster_name) {
            if self.server.is_none() {
                return Err(not_defined(
                    "cluster",
                    &cluster_name,
                    config.clusters.iter().map(|c| &c.name).collect(),
                ));
            }
            config.clusters.push(NamedCluster {
                name: cluster_name.clone(),
                cluster: Some(Cluster::default()),
                ..NamedCluster::default()
            });
        }
        let user_name = match (&self.user, &context.user) {
            (Some(name), _) => {
                if !config.auth_infos.iter().any(|a| &a.name == name) {
                    return Err(not_defined(
                        "user",
                        name,
                        config.auth_infos.iter().map(|a| &a.name).collect(),
                    ));
                }
                name.clone()
            }
            (None, Some(name)) if config.auth_infos.iter().any(|a| &a.name == name) => name.clone(),
            (None, _) => {
                config.auth_infos.push(NamedAuthInfo {
                    name: FLAGS_ENTRY.to_string(),
                    auth_info: Some(AuthInfo::default()),
                    ..NamedAuthInfo::default()
                });
                FLAGS_ENTRY.to_string()
            }
        };

        if self.insecure_skip_tls_verify && self.certificate_authority.is_some() {
            return Err(Error::InvalidFlag {
                flag: "--insecure-skip-tls-verify",
                value: "true".to_string(),
                reason: "it cannot be combined with --certificate-authority; drop one of them"
                    .to_string(),
            });
        }
        for (flag, path) in [
            ("--certificate-authority", &self.certificate_authority),
            ("--client-certificate", &self.client_certificate),
            ("--client-key", &self.client_key),
        ] {
            if let Some(path) = path
                && !path.is_file()
            {
                return Err(Error::InvalidFlag {
                    flag,
                    value: path.display().to_string(),
                    reason: "no such file".to_string(),
                });
            }
        }

        if let Some(cluster) = config
            .clusters
            .iter_mut()
            .find(|c| c.name == cluster_name)
            .map(|c| c.cluster.get_or_insert_with(Cluster::default))
        {
            if let Some(server) = &self.server {
                cluster.server = Some(server.clone());
            }
            if let Some(ca) = &self.certificate_authority {
                cluster.certificate_authority = Some(path_string(ca));
                cluster.certificate_authority_data = None;
            }
            if self.insecure_skip_tls_verify {
                cluster.insecure_skip_tls_verify = Some(true);
                cluster.certificate_authority = None;
                cluster.certificate_authority_data = None;
            }
        }
        if let Some(user) = config
            .auth_infos
            .iter_mut()
            .find(|a| a.name == user_name)
            .map(|a| a.auth_info.get_or_insert_with(AuthInfo::default))
        {
            if let Some(token) = &self.token {
                user.token = Some(token.clone().into());
                user.token_file = None;
            }
            if let Some(cert) = &self.client_certificate {
                user.client_certificate = Some(path_string(cert));
                user.client_certificate_data = None;
            }
            if let Some(key) = &self.client_key {
                user.client_key = Some(path_string(key));
                user.client_key_data = None;
            }
            if let Some(as_user) = &self.as_user {
                user.impersonate = Some(as_user.clone());
            }
            if !self.as_group.is_empty() {
                user.impersonate_groups = Some(self.as_group.clone());
            }
        }
        if let Some(ctx) = config
            .contexts
            .iter_mut()
            .find(|c| c.name == context_name)
            .and_then(|c| c.context.as_mut())
        {
            ctx.cluster = cluster_name;
            ctx.user = Some(user_name);
        }

        let namespace = self
            .namespace
            .clone()
            .or(context.namespace)
            .filter(|ns| !ns.is_empty())
            .unwrap_or_else(|| "default".to_string());
        Ok((config, namespace))
    }
}

fn read_kubeconfig(path: &Path) -> Result<Kubeconfig> {
    Kubeconfig::read_from(path).map_err(|err| Error::KubeconfigInvalid {
        path: path.to_path_buf(),
        cause: kubeconfig_cause(&err),
    })
}

/// The part of a kubeconfig error a user can act on, without kube's wrapper words.
fn kubeconfig_cause(err: &KubeconfigError) -> String {
    match err {
        KubeconfigError::ReadConfig(io, _) => io.to_string(),
        KubeconfigError::Parse(parse) => format!("not a valid kubeconfig: {parse}"),
        other => other.to_string(),
    }
}

fn default_kubeconfig_path() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE"))?;
    Some(PathBuf::from(home).join(".kube").join("config"))
}

fn path_string(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}
