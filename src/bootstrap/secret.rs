//! The source Secret (`<namespace>/<secret-name>`, flux: `flux-system/flux-system`) the
//! source-controller authenticates with. It goes to the cluster only, never to Git, and holds
//! the keys flux's `sourcesecret` package writes, so either tool can read the other's.
//!
//! See docs/bootstrap.md.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta};
use secrecy::{ExposeSecret, SecretString};

use super::host::{KeyGrant, RepositoryHost};
use super::{BootstrapOptions, Credentials, Report};
use crate::cluster::action::Action;
use crate::cluster::apply::Change;
use crate::cluster::connection::Connection;
use crate::error::{Error, Result};
use crate::git::{self, KeyOptions};
use crate::ui::Ui;

/// What the source-controller needs to clone the repository.
pub enum SourceCredentials {
    /// `identity`, `identity.pub`, `known_hosts`, and `password` for a protected `identity`.
    Ssh {
        private_key: SecretString,
        public_key: String,
        known_hosts: String,
        passphrase: Option<SecretString>,
    },
    /// `username`, `password`, and `ca.crt` for a private CA.
    Basic {
        username: String,
        password: SecretString,
        ca_certificate: Option<String>,
    },
    /// `bearerToken`, and `ca.crt` for a private CA (`--with-bearer-token`).
    Bearer {
        token: SecretString,
        ca_certificate: Option<String>,
    },
}

impl SourceCredentials {
    fn ssh(key: git::DeployKey, known_hosts: Option<String>) -> SourceCredentials {
        SourceCredentials::Ssh {
            private_key: key.private_key,
            public_key: key.public_key,
            known_hosts: known_hosts.unwrap_or_default(),
            passphrase: None,
        }
    }

    /// A key file as flux stores it: the file's text as given, and its passphrase, which
    /// source-controller decrypts it with.
    fn key_file(file: git::KeyFile, known_hosts: Option<String>) -> SourceCredentials {
        SourceCredentials::Ssh {
            private_key: file.as_given,
            public_key: file.key.public_key,
            known_hosts: known_hosts.unwrap_or_default(),
            passphrase: file.passphrase,
        }
    }
}

/// The Secret object for `credentials` (data is base64 on the wire, by `ByteString`).
pub fn source_secret(name: &str, namespace: &str, credentials: &SourceCredentials) -> Secret {
    let mut data = BTreeMap::new();
    let mut put = |key: &str, value: &str| {
        data.insert(key.to_string(), ByteString(value.as_bytes().to_vec()));
    };
    match credentials {
        SourceCredentials::Ssh {
            private_key,
            public_key,
            known_hosts,
            passphrase,
        } => {
            put("identity", private_key.expose_secret());
            put("identity.pub", public_key);
            put("known_hosts", known_hosts);
            if let Some(passphrase) = passphrase {
                put("password", passphrase.expose_secret());
            }
        }
        SourceCredentials::Bearer {
            token,
            ca_certificate,
        } => {
            put("bearerToken", token.expose_secret());
            if let Some(ca) = ca_certificate {
                put("ca.crt", ca);
            }
        }
        SourceCredentials::Basic {
            username,
            password,
            ca_certificate,
        } => {
            put("username", username);
            put("password", password.expose_secret());
            if let Some(ca) = ca_certificate {
                put("ca.crt", ca);
            }
        }
    }
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            ..ObjectMeta::default()
        },
        data: Some(data),
        ..Secret::default()
    }
}

/// The existing source Secret, if any (bootstrap keeps it unless new credentials are given).
pub async fn existing(
    connection: &Connection,
    namespace: &str,
    name: &str,
) -> Result<Option<Secret>> {
    let api: Api<Secret> = Api::namespaced(connection.client.clone(), namespace);
    let action = Action::new("get", "secrets")
        .named(name)
        .in_namespace(namespace);
    Ok(connection.call(action, api.get_opt(name)).await?)
}

/// Creates or updates the Secret (server-side apply, skipped when it already holds this
/// data); says whether anything changed.
pub async fn apply(connection: &Connection, secret: &Secret) -> Result<Change> {
    let mut object = serde_json::to_value(secret)
        .map_err(|source| super::error::Error::SecretEncoding { source })?;
    object["apiVersion"] = "v1".into();
    object["kind"] = "Secret".into();
    let applied = crate::cluster::apply::apply_all(connection, &[object]).await?;
    Ok(applied.first().map_or(Change::Unchanged, |a| a.change))
}

/// Bootstrap's step: creates or updates the source Secret. An existing one is kept unless
/// new credentials came with this run (as flux does); a generated key is first authorized on
/// the repository's `host`.
pub(super) async fn reconcile(
    connection: &Connection,
    options: &BootstrapOptions,
    host: &dyn RepositoryHost,
    known_hosts: Option<String>,
    ui: &Ui,
    report: &mut Report,
) -> Result<()> {
    let namespace = &options.install.namespace;
    let name = &options.secret_name;
    let credentials = match &options.credentials {
        Credentials::Token {
            password,
            ca_file,
            bearer: true,
            ..
        } => SourceCredentials::Bearer {
            token: password.clone(),
            ca_certificate: ca_file.as_deref().map(read_ca_file).transpose()?,
        },
        Credentials::Token {
            username,
            password,
            ca_file,
            bearer: false,
        } => SourceCredentials::Basic {
            username: username.clone(),
            password: password.clone(),
            ca_certificate: ca_file.as_deref().map(read_ca_file).transpose()?,
        },
        Credentials::DeployToken { ca_file } => {
            let ca_certificate = ca_file.as_deref().map(read_ca_file).transpose()?;
            let kept = kept_basic_auth(connection, namespace, name).await?;
            let (username, password) = host.sync_token(deploy_key_title(options), kept, ui).await?;
            SourceCredentials::Basic {
                username,
                password,
                ca_certificate,
            }
        }
        Credentials::Ssh {
            private_key_file: Some(file),
            passphrase,
            ..
        } => {
            SourceCredentials::key_file(git::load_key_file(file, passphrase.as_ref())?, known_hosts)
        }
        Credentials::Ssh {
            private_key_file: None,
            key,
            ..
        } => {
            if let Some(public_key) = kept_public_key(connection, namespace, name).await? {
                ui.progress()
                    .success(format!("source secret {namespace}/{name} is kept"));
                return host
                    .check_kept_key(deploy_key_title(options), public_key, ui)
                    .await;
            }
            let key = new_authorized_key(options, *key, host, ui, report).await?;
            SourceCredentials::ssh(key, known_hosts)
        }
    };
    ui.progress()
        .action(format!("applying source secret {namespace}/{name}"));
    let change = apply(connection, &source_secret(name, namespace, &credentials)).await?;
    report.secret_changed = change != Change::Unchanged;
    ui.progress().success(match change {
        Change::Unchanged => "source secret is up to date",
        _ => "reconciled source secret",
    });
    Ok(())
}

/// The `--ca-file` for the Secret's `ca.crt`.
fn read_ca_file(file: &std::path::Path) -> Result<String> {
    std::fs::read_to_string(file).map_err(|err| Error::InvalidFlag {
        flag: "--ca-file",
        value: file.display().to_string(),
        reason: format!("cannot read it: {err}"),
    })
}

/// When the source Secret exists with an SSH key (which a run without a key keeps): its
/// public half (`identity.pub`, empty when the Secret has none).
async fn kept_public_key(
    connection: &Connection,
    namespace: &str,
    name: &str,
) -> Result<Option<String>> {
    let existing = existing(connection, namespace, name).await?;
    let Some(data) = existing.as_ref().and_then(|s| s.data.as_ref()) else {
        return Ok(None);
    };
    if !data.contains_key("identity") {
        return Ok(None);
    }
    Ok(Some(
        data.get("identity.pub")
            .map(|v| String::from_utf8_lossy(&v.0).trim().to_string())
            .unwrap_or_default(),
    ))
}

/// The user name and password of the existing source Secret, when it has both (a deploy
/// token bootstrap created earlier is kept while the forge still honours it).
async fn kept_basic_auth(
    connection: &Connection,
    namespace: &str,
    name: &str,
) -> Result<Option<(String, SecretString)>> {
    let existing = existing(connection, namespace, name).await?;
    let Some(data) = existing.as_ref().and_then(|s| s.data.as_ref()) else {
        return Ok(None);
    };
    let text = |key: &str| {
        data.get(key)
            .and_then(|v| String::from_utf8(v.0.clone()).ok())
            .filter(|v| !v.is_empty())
    };
    Ok(text("username")
        .zip(text("password"))
        .map(|(username, password)| (username, SecretString::from(password))))
}

/// Generates a deploy key, shows it, and returns once the host lets it read the repository.
async fn new_authorized_key(
    options: &BootstrapOptions,
    key_options: KeyOptions,
    host: &dyn RepositoryHost,
    ui: &Ui,
    report: &mut Report,
) -> Result<git::DeployKey> {
    let key = git::generate_deploy_key(key_options)?;
    ui.progress()
        .success(format!("deploy key: {}", key.public_key));
    ui.progress()
        .success(format!("deploy key fingerprint: {}", key.fingerprint));
    report.deploy_key = Some(key.public_key.clone());
    let grant = KeyGrant {
        title: deploy_key_title(options),
        key: &key,
        access: host.key_access(),
    };
    host.authorize_deploy_key(grant, ui).await?;
    Ok(key)
}

/// The deploy key's (or GitLab deploy token's) name on the host, unique per cluster folder
/// and branch (as flux names it, so either tool finds the other's key).
fn deploy_key_title(options: &BootstrapOptions) -> String {
    format!(
        "{}-{}-{}-{}",
        options.install.namespace,
        options.branch,
        options.secret_name,
        super::sync::normalize_path(&options.path)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_and_basic_secrets_carry_fluxs_keys() {
        let ssh = source_secret(
            "flux-system",
            "flux-system",
            &SourceCredentials::Ssh {
                private_key: SecretString::from("-----BEGIN OPENSSH PRIVATE KEY-----"),
                public_key: "ecdsa-sha2-nistp384 AAAA".into(),
                known_hosts: "[127.0.0.1]:2222 ssh-ed25519 AAAA".into(),
                passphrase: None,
            },
        );
        let keys: Vec<_> = ssh.data.unwrap().into_keys().collect();
        assert_eq!(keys, ["identity", "identity.pub", "known_hosts"]);

        let basic = source_secret(
            "flux-system",
            "flux-system",
            &SourceCredentials::Basic {
                username: "git".into(),
                password: SecretString::from("s3cret"),
                ca_certificate: Some("-----BEGIN CERTIFICATE-----".into()),
            },
        );
        let data = basic.data.unwrap();
        assert_eq!(data["password"].0, b"s3cret");
        assert_eq!(
            data.keys().collect::<Vec<_>>(),
            ["ca.crt", "password", "username"]
        );
    }
}
