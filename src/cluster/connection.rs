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
    AuthInfo, Cluster, Context, KubeConfigOptions, Kubeconfig, NamedAuthInfo, NamedCluster,
    NamedContext,
};
use kube::{Client, Config};

use super::action::Action;
use super::error::{Error, Result};

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
    /// How long to wait for one server request (e.g. 5s, 1m); 0 waits without limit (the
    /// default; 10s for each cluster in fleet mode)
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "",
        hide_default_value = true
    )]
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
                        source: None,
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
                source: Box::new(err),
            })?;
        // The read timeout applies only through a proxy (kube's own builder, see
        // `transport`); direct connections bound each call instead.
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
        let client = super::transport::client(config).map_err(|err| Error::ClientUnusable {
            server: server.clone(),
            source: Box::new(err),
        })?;
        Ok(Connection {
            client,
            namespace,
            server,
            request_timeout,
        })
    }

    fn request_timeout(&self) -> Result<Option<Duration>> {
        if self.request_timeout.is_empty() {
            return Ok(None);
        }
        let limit = crate::ui::duration::parse(&self.request_timeout).map_err(|reason| {
            Error::InvalidFlag {
                flag: "--request-timeout",
                value: self.request_timeout.clone(),
                reason,
            }
        })?;
        Ok((!limit.is_zero()).then_some(limit))
    }

    /// Whether `--request-timeout` was given (fleet mode has its own default).
    pub fn request_timeout_given(&self) -> bool {
        !self.request_timeout.is_empty()
    }

    /// The contexts the kubeconfig defines (the same resolution as [`Self::connect`]: the
    /// `--kubeconfig` file, else `KUBECONFIG` merged first-wins, else `~/.kube/config`), in the
    /// order they are written, and the current-context.
    pub fn contexts(&self) -> Result<(Vec<String>, Option<String>)> {
        let loaded = self.load_kubeconfig()?;
        if loaded.config.contexts.is_empty() {
            return Err(Error::NoKubeconfig {
                looked_at: loaded.sources,
            });
        }
        let names = loaded.config.contexts.iter().map(|c| c.name.clone());
        Ok((names.collect(), loaded.config.current_context))
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
        Ok(LoadedKubeconfig {
            config: merge_kubeconfigs(&paths)?,
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
        let context_name = self.select_context(&mut config, &sources)?;
        config.current_context = Some(context_name.clone());
        let context = config
            .contexts
            .iter()
            .find(|c| c.name == context_name)
            .and_then(|c| c.context.clone())
            .unwrap_or_default();
        let cluster_name = self.select_cluster(&mut config, &context, &sources)?;
        let user_name = self.select_user(&mut config, &context, &sources)?;
        self.check_tls_flags()?;
        self.write_overrides(&mut config, &context_name, cluster_name, user_name);
        Ok((config, self.namespace_or(context.namespace)))
    }

    /// The context to use: `--context` (which must be defined), else the current-context; with
    /// `--server` and neither, an empty context that the flags fill in.
    fn select_context(&self, config: &mut Kubeconfig, sources: &str) -> Result<String> {
        let defined =
            |config: &Kubeconfig, name: &str| config.contexts.iter().any(|c| c.name == name);
        match (&self.context, &config.current_context) {
            (Some(name), _) => {
                if !defined(config, name) {
                    let names = config.contexts.iter().map(|c| &c.name);
                    return Err(not_defined("context", name, names, sources));
                }
                Ok(name.clone())
            }
            (None, Some(current)) if defined(config, current) => Ok(current.clone()),
            (None, current) => {
                if self.server.is_none() {
                    if config.contexts.is_empty() {
                        return Err(Error::NoKubeconfig {
                            looked_at: sources.to_string(),
                        });
                    }
                    let names = config.contexts.iter().map(|c| &c.name);
                    return Err(match current {
                        Some(name) => not_defined("current-context", name, names, sources),
                        None => Error::NoCurrentContext {
                            sources: sources.to_string(),
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
                Ok(FLAGS_ENTRY.to_string())
            }
        }
    }

    /// The cluster to use: `--cluster`, else the context's. One the kubeconfig does not define
    /// is added empty when `--server` can describe it, and is an error otherwise.
    fn select_cluster(
        &self,
        config: &mut Kubeconfig,
        context: &Context,
        sources: &str,
    ) -> Result<String> {
        let name = self
            .cluster
            .clone()
            .unwrap_or_else(|| context.cluster.clone());
        if !config.clusters.iter().any(|c| c.name == name) {
            if self.server.is_none() {
                let names = config.clusters.iter().map(|c| &c.name);
                return Err(not_defined("cluster", &name, names, sources));
            }
            config.clusters.push(NamedCluster {
                name: name.clone(),
                cluster: Some(Cluster::default()),
                ..NamedCluster::default()
            });
        }
        Ok(name)
    }

    /// The user to use: `--user` (which must be defined), else the context's when defined,
    /// else an empty user that the flags (e.g. `--token`) fill in.
    fn select_user(
        &self,
        config: &mut Kubeconfig,
        context: &Context,
        sources: &str,
    ) -> Result<String> {
        let defined =
            |config: &Kubeconfig, name: &str| config.auth_infos.iter().any(|a| a.name == name);
        match (&self.user, &context.user) {
            (Some(name), _) => {
                if !defined(config, name) {
                    let names = config.auth_infos.iter().map(|a| &a.name);
                    return Err(not_defined("user", name, names, sources));
                }
                Ok(name.clone())
            }
            (None, Some(name)) if defined(config, name) => Ok(name.clone()),
            (None, _) => {
                config.auth_infos.push(NamedAuthInfo {
                    name: FLAGS_ENTRY.to_string(),
                    auth_info: Some(AuthInfo::default()),
                    ..NamedAuthInfo::default()
                });
                Ok(FLAGS_ENTRY.to_string())
            }
        }
    }

    /// Refuses TLS flags that contradict each other or name files that do not exist, so the
    /// user hears about the flag rather than a vaguer TLS failure later.
    fn check_tls_flags(&self) -> Result<()> {
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
        Ok(())
    }

    /// Writes the flags into the selected cluster and user, and points the selected context at
    /// both.
    fn write_overrides(
        &self,
        config: &mut Kubeconfig,
        context_name: &str,
        cluster_name: String,
        user_name: String,
    ) {
        if let Some(cluster) = config
            .clusters
            .iter_mut()
            .find(|c| c.name == cluster_name)
            .map(|c| c.cluster.get_or_insert_with(Cluster::default))
        {
            self.write_cluster(cluster);
        }
        if let Some(user) = config
            .auth_infos
            .iter_mut()
            .find(|a| a.name == user_name)
            .map(|a| a.auth_info.get_or_insert_with(AuthInfo::default))
        {
            self.write_user(user);
        }
        if let Some(context) = config
            .contexts
            .iter_mut()
            .find(|c| c.name == context_name)
            .and_then(|c| c.context.as_mut())
        {
            context.cluster = cluster_name;
            context.user = Some(user_name);
        }
    }

    /// `--server`, `--certificate-authority` and `--insecure-skip-tls-verify`; a flag replaces
    /// what the kubeconfig says in both its forms (file and inline data).
    fn write_cluster(&self, cluster: &mut Cluster) {
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

    /// `--token`, `--client-certificate`, `--client-key`, `--as` and `--as-group`; as for the
    /// cluster, a flag replaces both forms of what it overrides.
    fn write_user(&self, user: &mut AuthInfo) {
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

    /// `--namespace`, else the context's namespace, else "default" (an empty one counts as
    /// none, as in kubectl).
    fn namespace_or(&self, context_namespace: Option<String>) -> String {
        self.namespace
            .clone()
            .or(context_namespace)
            .filter(|ns| !ns.is_empty())
            .unwrap_or_else(|| "default".to_string())
    }
}

/// The error for a context, cluster or user the kubeconfig does not define, listing the ones
/// it does.
fn not_defined<'a>(
    what: &'static str,
    name: &str,
    defined: impl Iterator<Item = &'a String>,
    sources: &str,
) -> Error {
    let defined: Vec<&str> = defined.map(String::as_str).collect();
    Error::NotInKubeconfig {
        what,
        name: name.to_string(),
        sources: sources.to_string(),
        available: if defined.is_empty() {
            "none".to_string()
        } else {
            defined.join(", ")
        },
    }
}

/// The files of `KUBECONFIG` merged as kubectl merges them: missing files skipped, and for
/// every name (context, cluster, user) and the current-context, the first file that sets it wins.
fn merge_kubeconfigs(paths: &[PathBuf]) -> Result<Kubeconfig> {
    let mut merged = Kubeconfig::default();
    for path in paths.iter().filter(|p| p.exists()) {
        merged = merged
            .merge(read_kubeconfig(path)?)
            .map_err(|err| Error::KubeconfigInvalid {
                path: path.clone(),
                source: Box::new(err),
            })?;
    }
    Ok(merged)
}

fn read_kubeconfig(path: &Path) -> Result<Kubeconfig> {
    Kubeconfig::read_from(path).map_err(|err| Error::KubeconfigInvalid {
        path: path.to_path_buf(),
        source: Box::new(err),
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Two contexts on two clusters; `b` has no user of its own and a namespace.
    const KUBECONFIG: &str = "
apiVersion: v1
kind: Config
current-context: a
clusters:
- name: one
  cluster:
    server: https://one:6443
    certificate-authority-data: Q0E=
- name: two
  cluster:
    server: https://two:6443
users:
- name: alice
  user:
    token-file: /var/run/token
    client-certificate-data: Q0VSVA==
contexts:
- name: a
  context:
    cluster: one
    user: alice
- name: b
  context:
    cluster: two
    user: nobody
    namespace: apps
";

    fn kubeconfig() -> Kubeconfig {
        Kubeconfig::from_yaml(KUBECONFIG).unwrap()
    }

    fn flags() -> ConnectionFlags {
        ConnectionFlags::default()
    }

    fn context(config: &Kubeconfig, name: &str) -> Context {
        config
            .contexts
            .iter()
            .find(|c| c.name == name)
            .and_then(|c| c.context.clone())
            .unwrap()
    }

    #[test]
    fn the_context_flag_wins_and_must_be_defined() {
        let mut config = kubeconfig();
        let chosen = ConnectionFlags {
            context: Some("b".into()),
            ..flags()
        };
        assert_eq!(chosen.select_context(&mut config, "src").unwrap(), "b");
        assert_eq!(flags().select_context(&mut config, "src").unwrap(), "a");

        let unknown = ConnectionFlags {
            context: Some("c".into()),
            ..flags()
        };
        assert_eq!(
            unknown
                .select_context(&mut config, "/home/me/.kube/config")
                .unwrap_err()
                .to_string(),
            "context \"c\" is not defined in the kubeconfig (/home/me/.kube/config); defined: a, b; pick one of those (kubectl config get-contexts lists contexts)"
        );
    }

    #[test]
    fn without_a_usable_current_context_only_server_helps() {
        let mut config = kubeconfig();
        config.current_context = Some("gone".into());
        assert_eq!(
            flags()
                .select_context(&mut config, "src")
                .unwrap_err()
                .to_string(),
            "current-context \"gone\" is not defined in the kubeconfig (src); defined: a, b; pick one of those (kubectl config get-contexts lists contexts)"
        );
        config.current_context = None;
        assert_eq!(
            flags()
                .select_context(&mut config, "src")
                .unwrap_err()
                .to_string(),
            "the kubeconfig cannot be used: src sets no current-context; pass --context; check it with kubectl config view"
        );
        let mut empty = Kubeconfig::default();
        assert!(matches!(
            flags().select_context(&mut empty, "no path"),
            Err(Error::NoKubeconfig { .. })
        ));

        let server = ConnectionFlags {
            server: Some("https://flags:6443".into()),
            ..flags()
        };
        assert_eq!(
            server.select_context(&mut empty, "no path").unwrap(),
            FLAGS_ENTRY
        );
        assert_eq!(context(&empty, FLAGS_ENTRY).cluster, FLAGS_ENTRY);
    }

    #[test]
    fn the_cluster_comes_from_the_flag_else_the_context() {
        let mut config = kubeconfig();
        let a = context(&config, "a");
        assert_eq!(
            flags().select_cluster(&mut config, &a, "src").unwrap(),
            "one"
        );
        let two = ConnectionFlags {
            cluster: Some("two".into()),
            ..flags()
        };
        assert_eq!(two.select_cluster(&mut config, &a, "src").unwrap(), "two");

        let three = ConnectionFlags {
            cluster: Some("three".into()),
            ..flags()
        };
        assert_eq!(
            three
                .select_cluster(&mut config, &a, "src")
                .unwrap_err()
                .to_string(),
            "cluster \"three\" is not defined in the kubeconfig (src); defined: one, two; pick one of those (kubectl config get-contexts lists contexts)"
        );
        let described = ConnectionFlags {
            server: Some("https://three:6443".into()),
            ..three
        };
        assert_eq!(
            described.select_cluster(&mut config, &a, "src").unwrap(),
            "three"
        );
        assert!(config.clusters.iter().any(|c| c.name == "three"));
    }

    #[test]
    fn an_undefined_context_user_becomes_an_empty_one_but_a_user_flag_must_exist() {
        let mut config = kubeconfig();
        let a = context(&config, "a");
        let b = context(&config, "b");
        assert_eq!(
            flags().select_user(&mut config, &a, "src").unwrap(),
            "alice"
        );
        assert_eq!(
            flags().select_user(&mut config, &b, "src").unwrap(),
            FLAGS_ENTRY,
            "context b names a user the kubeconfig does not define"
        );
        let unknown = ConnectionFlags {
            user: Some("bob".into()),
            ..flags()
        };
        assert_eq!(
            unknown
                .select_user(&mut kubeconfig(), &a, "src")
                .unwrap_err()
                .to_string(),
            "user \"bob\" is not defined in the kubeconfig (src); defined: alice; pick one of those (kubectl config get-contexts lists contexts)"
        );
    }

    #[test]
    fn contradicting_or_missing_tls_files_are_refused() {
        let both = ConnectionFlags {
            insecure_skip_tls_verify: true,
            certificate_authority: Some(PathBuf::from("/etc/hostname")),
            ..flags()
        };
        assert_eq!(
            both.check_tls_flags().unwrap_err().to_string(),
            "invalid value \"true\" for --insecure-skip-tls-verify: it cannot be combined with --certificate-authority; drop one of them"
        );
        let missing = ConnectionFlags {
            client_key: Some(PathBuf::from("/nonexistent/key.pem")),
            ..flags()
        };
        assert_eq!(
            missing.check_tls_flags().unwrap_err().to_string(),
            "invalid value \"/nonexistent/key.pem\" for --client-key: no such file"
        );
        assert!(flags().check_tls_flags().is_ok());
    }

    #[test]
    fn a_flag_replaces_both_forms_of_what_it_overrides() {
        let file = std::env::current_exe().unwrap();
        let mut config = kubeconfig();
        let overrides = ConnectionFlags {
            server: Some("https://other:6443".into()),
            certificate_authority: Some(file.clone()),
            token: Some("t0ken".into()),
            client_certificate: Some(file.clone()),
            as_user: Some("carol".into()),
            as_group: vec!["admins".into()],
            ..flags()
        };
        overrides.write_overrides(&mut config, "b", "one".into(), "alice".into());
        let cluster = config.clusters[0].cluster.clone().unwrap();
        assert_eq!(cluster.server.as_deref(), Some("https://other:6443"));
        assert_eq!(cluster.certificate_authority, Some(path_string(&file)));
        assert_eq!(cluster.certificate_authority_data, None);
        let user = config.auth_infos[0].auth_info.clone().unwrap();
        assert!(user.token.is_some());
        assert_eq!(user.token_file, None);
        assert_eq!(user.client_certificate, Some(path_string(&file)));
        assert_eq!(user.client_certificate_data, None);
        assert_eq!(user.impersonate.as_deref(), Some("carol"));
        assert_eq!(user.impersonate_groups, Some(vec!["admins".to_string()]));
        let b = context(&config, "b");
        assert_eq!(
            (b.cluster.as_str(), b.user.as_deref()),
            ("one", Some("alice"))
        );

        let insecure = ConnectionFlags {
            insecure_skip_tls_verify: true,
            ..flags()
        };
        let mut cluster = config.clusters[0].cluster.clone().unwrap();
        insecure.write_cluster(&mut cluster);
        assert_eq!(cluster.insecure_skip_tls_verify, Some(true));
        assert_eq!(cluster.certificate_authority, None);
    }

    #[test]
    fn the_namespace_comes_from_the_flag_else_the_context_else_default() {
        let flag = ConnectionFlags {
            namespace: Some("mine".into()),
            ..flags()
        };
        assert_eq!(flag.namespace_or(Some("apps".into())), "mine");
        assert_eq!(flags().namespace_or(Some("apps".into())), "apps");
        assert_eq!(flags().namespace_or(Some(String::new())), "default");
        assert_eq!(flags().namespace_or(None), "default");
    }

    #[test]
    fn server_and_token_alone_make_a_whole_kubeconfig() {
        let flags = ConnectionFlags {
            server: Some("https://flags:6443".into()),
            token: Some("t0ken".into()),
            ..flags()
        };
        let loaded = LoadedKubeconfig {
            config: Kubeconfig::default(),
            sources: "no path".into(),
        };
        let (config, namespace) = flags.apply_overrides(loaded).unwrap();
        assert_eq!(namespace, "default");
        assert_eq!(config.current_context.as_deref(), Some(FLAGS_ENTRY));
        let context = context(&config, FLAGS_ENTRY);
        assert_eq!(context.cluster, FLAGS_ENTRY);
        assert_eq!(context.user.as_deref(), Some(FLAGS_ENTRY));
        let cluster = config.clusters[0].cluster.clone().unwrap();
        assert_eq!(cluster.server.as_deref(), Some("https://flags:6443"));
        assert!(
            config.auth_infos[0]
                .auth_info
                .as_ref()
                .unwrap()
                .token
                .is_some()
        );
    }
}

#[cfg(test)]
mod properties {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    /// A kubeconfig of a few contexts, each on its own cluster and user, with names from a
    /// small alphabet so that files share names often.
    #[derive(Debug, Clone)]
    struct File {
        current: Option<String>,
        /// context name -> (cluster name, server, user name, namespace)
        contexts: Vec<(String, String, String, String, Option<String>)>,
    }

    fn file() -> impl Strategy<Value = File> {
        (
            proptest::option::of("[a-d]"),
            prop::collection::vec(
                ("[a-d]", 1u16..65535, proptest::option::of("[a-z]{1,8}")),
                0..4,
            ),
        )
            .prop_map(|(current, entries)| {
                let mut seen = std::collections::BTreeSet::new();
                File {
                    current,
                    contexts: entries
                        .into_iter()
                        .filter(|(name, ..)| seen.insert(name.clone()))
                        .map(|(name, port, ns)| {
                            (
                                format!("c-{name}"),
                                format!("https://h:{port}"),
                                format!("u-{name}"),
                                ns,
                                name,
                            )
                        })
                        .map(|(cluster, server, user, ns, name)| (name, cluster, server, user, ns))
                        .collect(),
                }
            })
    }

    fn yaml(file: &File) -> String {
        let mut text = String::from("apiVersion: v1\nkind: Config\n");
        if let Some(c) = &file.current {
            text.push_str(&format!("current-context: {c}\n"));
        }
        text.push_str("contexts:\n");
        for (name, cluster, _, user, ns) in &file.contexts {
            text.push_str(&format!(
                "- name: {name}\n  context:\n    cluster: {cluster}\n    user: {user}\n"
            ));
            if let Some(ns) = ns {
                text.push_str(&format!("    namespace: {ns}\n"));
            }
        }
        text.push_str("clusters:\n");
        for (_, cluster, server, ..) in &file.contexts {
            text.push_str(&format!(
                "- name: {cluster}\n  cluster:\n    server: {server}\n"
            ));
        }
        text.push_str("users:\n");
        for (_, _, _, user, _) in &file.contexts {
            text.push_str(&format!("- name: {user}\n  user:\n    token: t-{user}\n"));
        }
        text
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Merged first-wins: every context of every file is there once, defined as in the
        /// first file that has it; the current-context is the first file's that sets one; a
        /// missing file changes nothing.
        #[test]
        fn kubeconfigs_merge_first_wins(files in prop::collection::vec(file(), 1..4), missing_at in any::<prop::sample::Index>()) {
            let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut paths: Vec<PathBuf> = files.iter().enumerate().map(|(i, f)| {
                let path = dir.path().join(format!("config-{i}"));
                std::fs::write(&path, yaml(f)).map(|()| path)
            }).collect::<std::io::Result<_>>().map_err(|e| TestCaseError::fail(e.to_string()))?;
            paths.insert(missing_at.index(paths.len() + 1), dir.path().join("missing"));
            let merged = merge_kubeconfigs(&paths).map_err(|e| TestCaseError::fail(e.to_string()))?;

            let mut want: BTreeMap<String, (String, Option<String>)> = BTreeMap::new();
            for file in &files {
                for (name, cluster, _, user, ns) in &file.contexts {
                    want.entry(name.clone()).or_insert((format!("{cluster}/{user}"), ns.clone()));
                }
            }
            let got: BTreeMap<String, (String, Option<String>)> = merged.contexts.iter().map(|c| {
                let ctx = c.context.clone().unwrap_or_default();
                (c.name.clone(), (format!("{}/{}", ctx.cluster, ctx.user.unwrap_or_default()), ctx.namespace))
            }).collect();
            prop_assert_eq!(merged.contexts.len(), got.len(), "a context appears twice");
            prop_assert_eq!(got, want);

            let first_server = |cluster: &str| files.iter().flat_map(|f| &f.contexts).find(|c| c.1 == cluster).map(|c| c.2.clone());
            for cluster in &merged.clusters {
                let server = cluster.cluster.as_ref().and_then(|c| c.server.clone());
                prop_assert_eq!(server, first_server(&cluster.name), "cluster {}", cluster.name);
            }
            let want_current = files.iter().find_map(|f| f.current.clone());
            prop_assert_eq!(merged.current_context, want_current);
        }
    }
}
