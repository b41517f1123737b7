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

use crate::cluster::action::Action;
use crate::cluster::apply::Change;
use crate::cluster::connection::Connection;
use crate::error::Result;

/// What the source-controller needs to clone the repository.
pub enum SourceCredentials {
    /// `identity`, `identity.pub`, `known_hosts`.
    Ssh {
        private_key: SecretString,
        public_key: String,
        known_hosts: String,
    },
    /// `username`, `password`, and `ca.crt` for a private CA.
    Basic {
        username: String,
        password: SecretString,
        ca_certificate: Option<String>,
    },
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
        } => {
            put("identity", private_key.expose_secret());
            put("identity.pub", public_key);
            put("known_hosts", known_hosts);
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
        .map_err(|err| crate::Error::Output(format!("cannot encode the source Secret: {err}")))?;
    object["apiVersion"] = "v1".into();
    object["kind"] = "Secret".into();
    let applied = crate::cluster::apply::apply_all(connection, &[object]).await?;
    Ok(applied.first().map_or(Change::Unchanged, |a| a.change))
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
