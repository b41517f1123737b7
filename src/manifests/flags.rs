//! The install flags shared by `install` and `bootstrap git`, with the flux CLI's names and
//! defaults, and their validation into [`InstallOptions`].

use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};

use super::error::{Error, Result};
use super::{
    DEFAULT_BASE_URL, DEFAULT_COMPONENTS, DEFAULT_FLUX_VERSION, DEFAULT_GITHUB_API_URL,
    EXTRA_COMPONENTS, InstallOptions, LATEST, ManifestSource, REQUIRED_COMPONENTS,
    is_release_version,
};

/// Log levels the Flux controllers accept.
const LOG_LEVELS: [&str; 3] = ["debug", "info", "error"];

/// Flux install options (as `flux install`). The namespace is kubectl's `-n/--namespace`.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Flux install options")]
pub struct InstallFlags {
    /// Flux version to install: vX.Y.Z, or latest
    #[arg(long = "version", value_name = "VERSION", default_value = DEFAULT_FLUX_VERSION)]
    pub flux_version: String,

    /// Where Flux releases are downloaded from (<base-url>/download/<version>/manifests.tar.gz)
    #[arg(long, value_name = "URL", default_value = DEFAULT_BASE_URL)]
    pub base_url: String,

    /// Local manifests instead of a download: a folder of per-component files or one file
    /// such as install.yaml (all other options still apply)
    #[arg(long, value_name = "PATH")]
    pub manifests: Option<PathBuf>,

    /// Components to install
    #[arg(long, value_name = "NAMES", value_delimiter = ',', default_values_t = DEFAULT_COMPONENTS.map(String::from))]
    pub components: Vec<String>,

    /// Components to install in addition (image-reflector-controller,
    /// image-automation-controller, source-watcher)
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    pub components_extra: Vec<String>,

    /// Container registry the controller images are pulled from
    #[arg(long, value_name = "REGISTRY", default_value = "ghcr.io/fluxcd")]
    pub registry: String,

    /// Secret the controllers pull their images with (a private registry)
    #[arg(long, value_name = "NAME")]
    pub image_pull_secret: Option<String>,

    /// Credentials user:password for --image-pull-secret; the Secret is created in the
    /// cluster, never written to Git
    #[arg(
        long,
        value_name = "USER:PASSWORD",
        env = "KUBECTL_GITOPS_REGISTRY_CREDS",
        hide_env_values = true,
        value_parser = parse_secret
    )]
    pub registry_creds: Option<SecretString>,

    /// Network policies that keep other namespaces from the controllers (--network-policy=false
    /// to leave them out)
    #[arg(long, value_name = "BOOL", default_value_t = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub network_policy: bool,

    /// Watch Flux objects in all namespaces (false: only in the install namespace)
    #[arg(long, value_name = "BOOL", default_value_t = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub watch_all_namespaces: bool,

    /// Log level of the controllers
    #[arg(long, value_name = "LEVEL", default_value = "info", value_parser = LOG_LEVELS)]
    pub log_level: String,

    /// The cluster's internal DNS domain
    #[arg(long, value_name = "DOMAIN", default_value = "cluster.local")]
    pub cluster_domain: String,

    /// Taint keys the controllers tolerate (operator Exists)
    #[arg(long, value_name = "KEYS", value_delimiter = ',')]
    pub toleration_keys: Vec<String>,

    /// GitHub API base used to resolve --version latest
    #[arg(long, hide = true, env = "KUBECTL_GITOPS_GITHUB_API_URL", default_value = DEFAULT_GITHUB_API_URL)]
    pub github_api_url: String,
}

fn parse_secret(value: &str) -> std::result::Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(value))
}

impl InstallFlags {
    /// Validates the flags into options for installing into `namespace`.
    pub fn options(&self, namespace: &str) -> Result<InstallOptions> {
        let version = self.flux_version.trim();
        if version != LATEST && !is_release_version(version) {
            return Err(Error::InvalidFlag {
                flag: "--version",
                value: version.to_string(),
                reason: "use a Flux release version vX.Y.Z (e.g. v2.9.4), or latest".into(),
            });
        }
        validate_namespace(namespace)?;
        let components = select_components(&self.components, &self.components_extra)?;
        if !LOG_LEVELS.contains(&self.log_level.as_str()) {
            return Err(Error::InvalidFlag {
                flag: "--log-level",
                value: self.log_level.clone(),
                reason: format!("use one of {}", LOG_LEVELS.join(", ")),
            });
        }
        let cluster_domain = self.cluster_domain.trim().trim_end_matches('.');
        if cluster_domain.is_empty() || cluster_domain.contains(char::is_whitespace) {
            return Err(Error::InvalidFlag {
                flag: "--cluster-domain",
                value: self.cluster_domain.clone(),
                reason: "use the cluster's DNS domain, e.g. cluster.local".into(),
            });
        }
        let image_pull_secret = self
            .image_pull_secret
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from);
        let registry_credentials = match &self.registry_creds {
            None => None,
            Some(creds) => {
                if image_pull_secret.is_none() {
                    return Err(Error::RegistryCredentialsWithoutSecret);
                }
                Some(split_credentials(creds)?)
            }
        };
        let toleration_keys = self
            .toleration_keys
            .iter()
            .map(|k| k.trim())
            .filter(|k| !k.is_empty())
            .map(String::from)
            .collect();
        let source = match &self.manifests {
            Some(path) => ManifestSource::Local(path.clone()),
            None => ManifestSource::Release {
                base_url: self.base_url.trim_end_matches('/').to_string(),
                cache_dir: default_cache_dir()?,
            },
        };
        Ok(InstallOptions {
            version: version.to_string(),
            namespace: namespace.to_string(),
            components,
            registry: self.registry.trim().trim_end_matches('/').to_string(),
            image_pull_secret,
            registry_credentials,
            network_policy: self.network_policy,
            watch_all_namespaces: self.watch_all_namespaces,
            log_level: self.log_level.clone(),
            cluster_domain: cluster_domain.to_string(),
            toleration_keys,
            source,
            github_api_url: self.github_api_url.trim_end_matches('/').to_string(),
        })
    }
}

/// Defaults then extras, each once, all known, the required ones present.
fn select_components(components: &[String], extra: &[String]) -> Result<Vec<String>> {
    let mut selected: Vec<String> = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    for name in components.iter().chain(extra).map(|c| c.trim()) {
        if name.is_empty() || selected.iter().any(|s| s == name) {
            continue;
        }
        if DEFAULT_COMPONENTS.contains(&name) || EXTRA_COMPONENTS.contains(&name) {
            selected.push(name.to_string());
        } else if !unknown.iter().any(|u| u == name) {
            unknown.push(name.to_string());
        }
    }
    if !unknown.is_empty() {
        return Err(Error::UnknownComponent {
            unknown: unknown.join(", "),
            known: DEFAULT_COMPONENTS
                .iter()
                .chain(&EXTRA_COMPONENTS)
                .copied()
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let missing: Vec<&str> = REQUIRED_COMPONENTS
        .iter()
        .copied()
        .filter(|r| !selected.iter().any(|s| s == r))
        .collect();
    if !missing.is_empty() {
        return Err(Error::RequiredComponentMissing {
            missing: missing.join(" and "),
        });
    }
    Ok(selected)
}

/// `user:password`, split at the first colon (passwords may contain colons; users may not).
fn split_credentials(creds: &SecretString) -> Result<(String, SecretString)> {
    match creds.expose_secret().split_once(':') {
        Some((user, password)) if !user.is_empty() && !password.is_empty() => {
            Ok((user.to_string(), SecretString::from(password)))
        }
        _ => Err(Error::RegistryCredentialsFormat),
    }
}

/// Namespaces are DNS labels (RFC 1123); checked here so a typo fails before any download.
fn validate_namespace(namespace: &str) -> Result<()> {
    let valid = !namespace.is_empty()
        && namespace.len() <= 63
        && namespace
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !namespace.starts_with('-')
        && !namespace.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidFlag {
            flag: "--namespace",
            value: namespace.to_string(),
            reason: "a namespace is at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit".into(),
        })
    }
}

/// `$XDG_CACHE_HOME/kubectl-gitops/manifests`, else `~/.cache/kubectl-gitops/manifests`, else
/// (Windows) `%LOCALAPPDATA%\kubectl-gitops\manifests`.
pub(super) fn default_cache_dir() -> Result<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|home| PathBuf::from(home).join(".cache"))
        })
        .or_else(per_user_cache)
        .ok_or_else(|| Error::CacheUnavailable {
            cause: "neither XDG_CACHE_HOME nor HOME is set".into(),
        })?;
    Ok(base.join("kubectl-gitops").join("manifests"))
}

/// Windows' own per-user cache folder, `%LOCALAPPDATA%`: HOME is usually unset there outside
/// Git Bash.
#[cfg(windows)]
fn per_user_cache() -> Option<PathBuf> {
    std::env::var_os("LOCALAPPDATA")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

#[cfg(not(windows))]
fn per_user_cache() -> Option<PathBuf> {
    None
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        install: InstallFlags,
    }

    fn flags(args: &[&str]) -> InstallFlags {
        Cli::try_parse_from(std::iter::once("install").chain(args.iter().copied()))
            .map(|c| c.install)
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    fn options(args: &[&str]) -> Result<InstallOptions> {
        flags(args).options("flux-system")
    }

    #[test]
    fn defaults_are_fluxs() {
        let o = options(&[]).unwrap();
        assert_eq!(o.version, "v2.9.4");
        assert_eq!(o.namespace, "flux-system");
        assert_eq!(o.components, DEFAULT_COMPONENTS);
        assert_eq!(o.registry, "ghcr.io/fluxcd");
        assert_eq!(o.image_pull_secret, None);
        assert!(o.registry_credentials.is_none());
        assert!(o.network_policy && o.watch_all_namespaces);
        assert_eq!(o.log_level, "info");
        assert_eq!(o.cluster_domain, "cluster.local");
        assert!(o.toleration_keys.is_empty());
        assert_eq!(o.github_api_url, "https://api.github.com");
        match o.source {
            ManifestSource::Release {
                base_url,
                cache_dir,
            } => {
                assert_eq!(base_url, "https://github.com/fluxcd/flux2/releases");
                assert!(
                    cache_dir.ends_with("kubectl-gitops/manifests"),
                    "{cache_dir:?}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn extras_follow_the_components_once_each() {
        let o = options(&[
            "--components",
            "source-controller,kustomize-controller",
            "--components-extra=source-watcher,image-reflector-controller,source-watcher",
        ])
        .unwrap();
        assert_eq!(
            o.components,
            [
                "source-controller",
                "kustomize-controller",
                "source-watcher",
                "image-reflector-controller"
            ]
        );
    }

    #[test]
    fn unknown_components_are_all_named() {
        let err = options(&["--components-extra", "image-thing,source-controller,foo"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("image-thing, foo"), "{err}");
        assert!(
            err.contains("source-watcher"),
            "lists the known ones: {err}"
        );
    }

    #[test]
    fn source_and_kustomize_controllers_are_required() {
        let err = options(&["--components", "source-controller,helm-controller"]).unwrap_err();
        assert!(
            matches!(&err, Error::RequiredComponentMissing { missing } if missing == "kustomize-controller"),
            "{err}"
        );
        let err = options(&["--components", "helm-controller"]).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "--components must include source-controller and kustomize-controller:"
            ),
            "{err}"
        );
    }

    #[test]
    fn bool_flags_take_false_with_an_equals_sign() {
        let o = options(&["--network-policy=false", "--watch-all-namespaces=false"]).unwrap();
        assert!(!o.network_policy && !o.watch_all_namespaces);
        let o = options(&["--network-policy", "--watch-all-namespaces"]).unwrap();
        assert!(o.network_policy && o.watch_all_namespaces);
    }

    #[test]
    fn log_level_is_checked() {
        assert_eq!(
            options(&["--log-level", "debug"]).unwrap().log_level,
            "debug"
        );
        let mut f = flags(&[]);
        f.log_level = "trace".into();
        let err = f.options("flux-system").unwrap_err().to_string();
        assert!(err.contains("debug, info, error"), "{err}");
    }

    #[test]
    fn version_is_a_release_or_latest() {
        assert_eq!(options(&["--version", "latest"]).unwrap().version, "latest");
        assert_eq!(options(&["--version", "v2.8.0"]).unwrap().version, "v2.8.0");
        for bad in ["2.9.4", "v2.9", "main", "v2.9.4/../x"] {
            assert!(
                matches!(
                    options(&["--version", bad]),
                    Err(Error::InvalidFlag {
                        flag: "--version",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn registry_credentials_need_a_secret_and_never_show() {
        let o = options(&[
            "--image-pull-secret",
            "regcred",
            "--registry-creds",
            "robot:pa:ss",
        ])
        .unwrap();
        let (user, password) = o.registry_credentials.as_ref().unwrap();
        assert_eq!(user, "robot");
        assert_eq!(password.expose_secret(), "pa:ss");
        assert!(
            !format!("{o:?}").contains("pa:ss"),
            "Debug shows no password"
        );
        assert!(!format!("{:?}", flags(&["--registry-creds=robot:pa:ss"])).contains("pa:ss"));

        assert!(matches!(
            options(&["--registry-creds", "robot:secret"]),
            Err(Error::RegistryCredentialsWithoutSecret)
        ));
        for bad in ["nocolon", ":secret", "robot:"] {
            let err =
                options(&["--image-pull-secret=regcred", "--registry-creds", bad]).unwrap_err();
            assert!(matches!(err, Error::RegistryCredentialsFormat));
            assert!(!err.to_string().contains(bad), "value not echoed");
        }
    }

    #[test]
    fn namespace_domain_registry_and_tolerations_are_normalised() {
        let o = flags(&[
            "--cluster-domain",
            "example.internal.",
            "--registry",
            "my.registry.example/fluxcd/",
            "--toleration-keys",
            "a, b,",
            "--image-pull-secret",
            "",
        ])
        .options("other")
        .unwrap();
        assert_eq!(o.namespace, "other");
        assert_eq!(o.cluster_domain, "example.internal");
        assert_eq!(o.registry, "my.registry.example/fluxcd");
        assert_eq!(o.toleration_keys, ["a", "b"]);
        assert_eq!(o.image_pull_secret, None);
        for bad in ["", "Flux", "-x", "a_b"] {
            assert!(flags(&[]).options(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn manifests_flag_selects_local_source() {
        let o = options(&["--manifests", "/tmp/flux"]).unwrap();
        assert_eq!(o.source, ManifestSource::Local("/tmp/flux".into()));
    }
}
