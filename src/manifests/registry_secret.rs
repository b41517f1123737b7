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

#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use secrecy::SecretString;

    use super::*;

    proptest! {
        /// Whatever the user, password and registry hold, the Docker config is JSON whose
        /// `auths` entry for the registry gives them back, `auth` being base64 of user:password
        /// as Docker reads it.
        #[test]
        fn the_docker_config_gives_the_credentials_back(
            user in any::<String>(),
            password in any::<String>(),
            registry in any::<String>(),
        ) {
            let options = InstallOptions {
                image_pull_secret: Some("regcred".into()),
                registry_credentials: Some((user.clone(), SecretString::from(password.clone()))),
                registry: registry.clone(),
                ..InstallOptions::for_tests()
            };
            let secret = registry_credentials_secret(&options).ok_or_else(|| TestCaseError::fail("no Secret"))?;
            let text = secret["stringData"][".dockerconfigjson"].as_str().unwrap_or_default();
            let config: Value = serde_json::from_str(text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let entry = &config["auths"][registry.as_str()];
            prop_assert_eq!(entry["username"].as_str(), Some(user.as_str()));
            prop_assert_eq!(entry["password"].as_str(), Some(password.as_str()));
            let auth = base64::engine::general_purpose::STANDARD
                .decode(entry["auth"].as_str().unwrap_or_default())
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(auth, format!("{user}:{password}").into_bytes());
            prop_assert_eq!(config["auths"].as_object().map(|a| a.len()), Some(1));
        }
    }
}
