//! Where the repository lives: what bootstrap needs from a Git host beyond Git itself. A plain
//! Git server can only be used as it is; a forge (GitHub, GitLab, Gitea) can also create the
//! repository and add deploy keys through its API, and implements the same trait.

pub mod forge;
pub mod plain_git;

use futures::future::BoxFuture;
use secrecy::SecretString;

use crate::error::Result;
use crate::git::DeployKey;
use crate::ui::Ui;

pub use plain_git::PlainGit;

/// Whether [`RepositoryHost::ensure_repository`] found the repository or made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repository {
    Existing,
    Created,
}

/// What a deploy key may do in the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAccess {
    /// Clone and fetch only: all the source-controller needs.
    ReadOnly,
    /// Push as well (for image automation writing back to the repository).
    ReadWrite,
}

/// A deploy key to give access to the repository.
pub struct KeyGrant<'a> {
    /// The key's name on the host; forges find an earlier key of the same cluster by it.
    pub title: String,
    /// Both halves: the host gets the public key, and a host that cannot be asked may prove
    /// the access with the private one.
    pub key: &'a DeployKey,
    pub access: KeyAccess,
}

/// A Git host as bootstrap uses it, in the order bootstrap calls it. Methods return boxed
/// futures so that bootstrap can hold any host as a `dyn RepositoryHost`.
pub trait RepositoryHost: Send + Sync {
    /// Makes sure the repository exists before the first clone, creating it (empty) where the
    /// host can.
    fn ensure_repository<'a>(&'a self, ui: &'a Ui) -> BoxFuture<'a, Result<Repository>>;

    /// Returns once the deploy key can read (or, with [`KeyAccess::ReadWrite`], write) the
    /// repository, adding it where the host can.
    fn authorize_deploy_key<'a>(
        &'a self,
        grant: KeyGrant<'a>,
        ui: &'a Ui,
    ) -> BoxFuture<'a, Result<()>>;

    /// The access a generated deploy key gets (a forge's `--read-write-key`).
    fn key_access(&self) -> KeyAccess {
        KeyAccess::ReadOnly
    }

    /// What this host changed so far (a forge: repository created, team granted, deploy key
    /// registered), for bootstrap's report; a host that changes nothing has none.
    fn changes(&self) -> Vec<String> {
        Vec::new()
    }

    /// HTTPS credentials the host issues for the source-controller, named `name` (GitLab's
    /// project deploy tokens, `--deploy-token-auth`): `kept` is the user name and password of
    /// the existing source Secret, returned as they are while the host still honours them.
    /// Returns the user name and password for the source Secret. Only a forge with deploy
    /// tokens issues any.
    fn sync_token<'a>(
        &'a self,
        _name: String,
        _kept: Option<(String, SecretString)>,
        _ui: &'a Ui,
    ) -> BoxFuture<'a, Result<(String, SecretString)>> {
        Box::pin(async {
            Err(crate::Error::InvalidUsage(
                "deploy tokens are issued by a forge's API: use bootstrap gitlab --deploy-token-auth, or --token-auth with a token of your own".to_string(),
            ))
        })
    }

    /// Called when bootstrap keeps the key of an existing source Secret: a host that can list
    /// its keys makes sure this public key is still registered (titled `title`, with
    /// [`Self::key_access`]); a host that cannot has nothing to check.
    fn check_kept_key<'a>(
        &'a self,
        _title: String,
        _public_key: String,
        _ui: &'a Ui,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }
}
