//! The image pull Secret that `--registry-creds` asks for, shaped as flux makes it
//! (`kubernetes.io/dockerconfigjson`, one `auths` entry for `--registry`). It holds a
//! password, so install and bootstrap apply it to the cluster and never write it to Git.

use base64::Engine;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::InstallOptions;

/// The Secret named `--image-pull-secret` in the install namespace, when credentials are given.
pub fn registry_credentials_secret(options: &InstallOptions) -> Option<Value> {
    let name = options.image_pull_secret.as_ref()?;
    let (user, password) = options.registry_credentials.as_ref()?;
    let password = password.expose_secret();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let config = json!({
        "auths": {
            options.registry.as_str(): {
                "username": user,
                "password": password,
                "auth": auth,
            }
        }
    });
    // Indented like Go's json.MarshalIndent(config, "", "  "), as flux writes it.
    let config = serde_json::to_string_pretty(&config).ok()?;
    Some(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": options.namespace,
            "labels": {
                "app.kubernetes.io/instance": options.namespace,
                "app.kubernetes.io/part-of": "flux",
            },
        },
        "type": "kubernetes.io/dockerconfigjson",
        "stringData": { ".dockerconfigjson": config },
    }))
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    fn options(secret: Option<&str>, creds: Option<(&str, &str)>) -> InstallOptions {
        InstallOptions {
            components: vec![],
            image_pull_secret: secret.map(String::from),
            registry_credentials: creds.map(|(u, p)| (u.to_string(), SecretString::from(p))),
            ..InstallOptions::for_tests()
        }
    }

    #[test]
    fn secret_is_a_docker_config_for_the_registry() {
        assert!(registry_credentials_secret(&options(Some("regcred"), None)).is_none());
        assert!(registry_credentials_secret(&options(None, Some(("u", "p")))).is_none());
        let secret =
            registry_credentials_secret(&options(Some("regcred"), Some(("robot", "s3cret"))))
                .unwrap();
        assert_eq!(secret["metadata"]["name"], "regcred");
        assert_eq!(secret["metadata"]["namespace"], "flux-system");
        assert_eq!(secret["type"], "kubernetes.io/dockerconfigjson");
        let config: Value =
            serde_json::from_str(secret["stringData"][".dockerconfigjson"].as_str().unwrap())
                .unwrap();
        assert_eq!(
            config["auths"]["ghcr.io/fluxcd"],
            json!({"username": "robot", "password": "s3cret", "auth": "cm9ib3Q6czNjcmV0"})
        );
    }
}
