//! Where the forge's access token comes from: `--token-file` (CI), the forge's environment
//! variable (`GITEA_TOKEN`, `GITHUB_TOKEN`, `GITLAB_TOKEN`, as the flux CLI reads them), or a
//! prompt without echo on a terminal. Never a flag value: that would show in the process list.

use std::path::Path;

use secrecy::{ExposeSecret, SecretString};

use super::ForgeKind;
use super::error::Error;
use crate::error::Result;
use crate::ui::Ui;

/// The token, from the first source that has one.
pub fn read_token(kind: &ForgeKind, token_file: Option<&Path>, ui: &Ui) -> Result<SecretString> {
    read_token_from(kind, token_file, std::env::var(kind.token_env).ok(), ui)
}

fn read_token_from(
    kind: &ForgeKind,
    token_file: Option<&Path>,
    env_value: Option<String>,
    ui: &Ui,
) -> Result<SecretString> {
    if let Some(path) = token_file {
        let text = std::fs::read_to_string(path).map_err(|err| Error::TokenFile {
            path: path.display().to_string(),
            reason: err.to_string(),
        })?;
        return usable(SecretString::from(text.trim().to_string())).ok_or_else(|| {
            Error::TokenFile {
                path: path.display().to_string(),
                reason: "it is empty".to_string(),
            }
            .into()
        });
    }
    if let Some(token) = env_value.and_then(|v| usable(SecretString::from(v.trim().to_string()))) {
        return Ok(token);
    }
    if !ui.can_ask() {
        return Err(Error::TokenMissing {
            forge: kind.name,
            command: kind.command,
            env: kind.token_env,
        }
        .into());
    }
    let token = ui.password(kind.token_prompt, kind.token_needed)?;
    usable(SecretString::from(token.expose_secret().trim().to_string())).ok_or_else(|| {
        Error::TokenMissing {
            forge: kind.name,
            command: kind.command,
            env: kind.token_env,
        }
        .into()
    })
}

fn usable(token: SecretString) -> Option<SecretString> {
    (!token.expose_secret().is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bootstrap::host::forge::GITEA;

    #[test]
    fn the_file_comes_first_then_the_environment() {
        let (ui, _) = Ui::capture();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "from-file\n").unwrap();
        let token = read_token_from(&GITEA, Some(&file), Some("from-env".into()), &ui).unwrap();
        assert_eq!(token.expose_secret(), "from-file");
        let token = read_token_from(&GITEA, None, Some(" from-env\n".into()), &ui).unwrap();
        assert_eq!(token.expose_secret(), "from-env");
    }

    #[test]
    fn missing_or_empty_tokens_say_where_to_put_one() {
        let (ui, _) = Ui::capture();
        let err = read_token_from(&GITEA, None, Some(String::new()), &ui).unwrap_err();
        assert_eq!(
            err.to_string(),
            "bootstrap gitea needs a Gitea access token: set GITEA_TOKEN, pass --token-file=<file>, or run it on a terminal to be asked for it"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "\n").unwrap();
        let err = read_token_from(&GITEA, Some(&file), None, &ui).unwrap_err();
        assert!(err.to_string().ends_with(": it is empty"), "{err}");
        assert!(err.is_usage());
    }
}
