//! `kubectl gitops version`: the plugin's build, and with a cluster, the server's version and
//! the Flux version installed there.

use serde::Serialize;

use crate::cluster::action::Action;
use crate::cluster::connection::Connection;
use crate::error::Result;
use crate::flux::{self, FluxInstall};

/// The plugin's own version and build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientVersion {
    pub version: String,
    pub git_commit: String,
    pub rustc_version: String,
    pub platform: String,
}

impl ClientVersion {
    pub fn current() -> Self {
        Self {
            version: format!("v{}", env!("CARGO_PKG_VERSION")),
            git_commit: env!("KUBECTL_GITOPS_GIT_COMMIT").to_string(),
            rustc_version: env!("KUBECTL_GITOPS_RUSTC_VERSION").to_string(),
            platform: format!("{}/{}", std::env::consts::OS, go_arch()),
        }
    }
}

/// Architecture names as Kubernetes, Go and krew write them.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerVersion {
    pub git_version: String,
    pub platform: String,
    /// The API server URL that answered.
    pub server: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FluxVersion {
    pub installed: bool,
    #[serde(flatten)]
    pub install: Option<FluxInstall>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionReport {
    pub client_version: ClientVersion,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_version: Option<ServerVersion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flux: Option<FluxVersion>,
}

/// The client's version alone (`--client`): no connection is made.
pub fn client_only() -> VersionReport {
    VersionReport {
        client_version: ClientVersion::current(),
        server_version: None,
        flux: None,
    }
}

/// The client's version plus the server's and Flux's, read from the cluster.
pub async fn with_cluster(connection: &Connection) -> Result<VersionReport> {
    let info = connection
        .call(
            Action::new("get", "/version"),
            connection.client.apiserver_version(),
        )
        .await?;
    let install = flux::installed(connection).await?;
    Ok(VersionReport {
        client_version: ClientVersion::current(),
        server_version: Some(ServerVersion {
            git_version: info.git_version,
            platform: info.platform,
            server: connection.server.clone(),
        }),
        flux: Some(FluxVersion {
            installed: install.is_some(),
            install,
        }),
    })
}

impl VersionReport {
    /// The human-readable form, one `name: value` line per component.
    pub fn to_text(&self) -> String {
        let c = &self.client_version;
        let mut out = format!(
            "kubectl-gitops: {} (commit {}, rustc {}, {})\n",
            c.version, c.git_commit, c.rustc_version, c.platform
        );
        if let Some(server) = &self.server_version {
            out += &format!("kubernetes: {} ({})\n", server.git_version, server.server);
        }
        match &self.flux {
            Some(FluxVersion {
                install: Some(install),
                ..
            }) => {
                out += &format!(
                    "flux: {} in namespace {}",
                    install.version.as_deref().unwrap_or("unknown version"),
                    install.namespace.as_deref().unwrap_or("unknown")
                );
                if let Some(manager) = &install.managed_by {
                    out += &format!(" (managed by {manager})");
                }
                out.push('\n');
            }
            Some(_) => out += "flux: not installed\n",
            None => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_version_is_the_package_version() {
        let v = ClientVersion::current();
        assert_eq!(v.version, format!("v{}", env!("CARGO_PKG_VERSION")));
        assert!(v.platform.contains('/'));
    }

    #[test]
    fn text_says_when_flux_is_not_installed() {
        let report = VersionReport {
            client_version: ClientVersion::current(),
            server_version: Some(ServerVersion {
                git_version: "v1.36.3".into(),
                platform: "linux/amd64".into(),
                server: "https://127.0.0.1:6443".into(),
            }),
            flux: Some(FluxVersion {
                installed: false,
                install: None,
            }),
        };
        let text = report.to_text();
        assert!(
            text.contains("kubernetes: v1.36.3 (https://127.0.0.1:6443)\n"),
            "{text}"
        );
        assert!(text.ends_with("flux: not installed\n"), "{text}");
    }
}
