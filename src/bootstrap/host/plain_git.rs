//! Any Git server reached by URL alone: bootstrap cannot create repositories or add keys
//! there, so the repository must exist, and a generated deploy key is added by the user.

use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};

use super::{KeyGrant, Repository, RepositoryHost};
use crate::bootstrap::blocking;
use crate::error::{Error, Result};
use crate::git::{self, Auth, Remote};
use crate::ui::Ui;

/// A repository on a plain Git server.
pub struct PlainGit {
    /// The URL the cluster syncs from, where a generated deploy key is tried.
    pub url: String,
    pub branch: String,
    /// The host keys to trust for SSH (empty for HTTPS).
    pub known_hosts: String,
    /// Do not ask whether the key was added (scripts, `--yes`): only wait for it to work.
    pub assume_yes: bool,
    /// How long to wait for the key to be added.
    pub timeout: Duration,
}

impl RepositoryHost for PlainGit {
    /// Nothing to do: the first clone finds the repository, or fails with "not found".
    fn ensure_repository<'a>(&'a self, _ui: &'a Ui) -> BoxFuture<'a, Result<Repository>> {
        async { Ok(Repository::Existing) }.boxed()
    }

    fn authorize_deploy_key<'a>(
        &'a self,
        grant: KeyGrant<'a>,
        ui: &'a Ui,
    ) -> BoxFuture<'a, Result<()>> {
        self.wait_for_deploy_key(grant.key, ui).boxed()
    }
}

impl PlainGit {
    /// A generated key works only once the user added it to the repository as a deploy key:
    /// ask on a terminal, and in any case try it (a fetch with the key alone) until it works,
    /// so the source-controller never starts with a key the server refuses.
    async fn wait_for_deploy_key(&self, key: &git::DeployKey, ui: &Ui) -> Result<()> {
        if !self.assume_yes && ui.can_ask() {
            ui.confirm(
                "Please give the key read access to your repository (as a deploy key). Done?",
                false,
            )?;
        }
        let remote = Remote {
            url: self.url.clone(),
            auth: Auth::SshKey {
                private_key: SecretString::from(key.private_key.expose_secret().to_string()),
                known_hosts: self.known_hosts.clone(),
            },
            ca_file: None,
            insecure_http: false,
        };
        ui.progress()
            .waiting("waiting for the deploy key to be given access to the repository");
        let deadline = Instant::now() + self.timeout;
        loop {
            let (probe, branch) = (remote.clone(), self.branch.clone());
            match blocking(move || git::clone(&probe, &branch).map(|_| ())).await {
                Ok(()) => {
                    ui.progress()
                        .success("the deploy key has access to the repository");
                    return Ok(());
                }
                Err(Error::Git(git::Error::GitAuthFailed { .. })) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(err) => return Err(err),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bootstrap::host::KeyAccess;
    use crate::git::KeyAlgorithm;
    use crate::ui::Ui;

    fn host(url: String) -> PlainGit {
        PlainGit {
            url,
            branch: "main".to_string(),
            known_hosts: String::new(),
            assume_yes: true,
            timeout: Duration::from_secs(30),
        }
    }

    #[tokio::test]
    async fn the_repository_is_taken_as_it_is() {
        let host = host("ssh://git@127.0.0.1:1/r.git".to_string());
        let (ui, _) = Ui::capture();
        let found = host.ensure_repository(&ui).await.unwrap();
        assert_eq!(found, Repository::Existing);
    }

    #[tokio::test]
    async fn only_a_refused_key_is_waited_for() {
        // Nothing listens on the port: that is no missing deploy key, so no waiting.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let host = host(format!("ssh://git@127.0.0.1:{port}/r.git"));
        let key = git::generate_deploy_key(KeyAlgorithm::Ed25519).unwrap();
        let grant = KeyGrant {
            title: "flux-system-main-flux-system-clusters/a".to_string(),
            key: &key,
            access: KeyAccess::ReadOnly,
        };
        let (ui, _) = Ui::capture();
        let started = Instant::now();
        let err = host.authorize_deploy_key(grant, &ui).await.unwrap_err();
        assert!(
            matches!(err, Error::Git(git::Error::GitUnreachable { .. })),
            "{err}"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
