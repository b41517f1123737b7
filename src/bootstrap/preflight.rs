//! What `bootstrap` can refuse from its options alone, checked before the cluster, the Git
//! server or the release server is contacted: a typo in `--url` or `--path` must not first wait
//! for an unreachable cluster to time out. Each refusal is a usage error (exit status 2).

use crate::bootstrap::{BootstrapOptions, Credentials, sync, sync_url};
use crate::error::Result;
use crate::git;

/// The URL's scheme against the credentials, the branch name, and the repository folder the
/// files go to (relative, inside the repository, not in `.git`).
pub fn check(options: &BootstrapOptions) -> Result<()> {
    sync_url(options)?;
    git::check_branch_name(&options.branch)?;
    if let Some(key) = &options.signing {
        key.check()?;
    }
    let folder = sync::manifests_dir(&options.path, &options.install.namespace);
    git::validate_path(&folder).map_err(|_| crate::Error::InvalidFlag {
        flag: "--path",
        value: options.path.clone(),
        reason: "it must name a folder inside the repository (relative, without . or .. parts, not in .git)"
            .to_string(),
    })?;
    sync::check_sparse_checkout(&options.path, &options.sparse_checkout)?;
    if let Credentials::Ssh {
        key,
        host_key_algorithms,
        ..
    } = &options.credentials
    {
        // Checked whatever the algorithm, as flux checks the flag.
        git::check_rsa_bits(key.rsa_bits)?;
        git::check_host_key_algorithms(host_key_algorithms)?;
    }
    Ok(())
}
