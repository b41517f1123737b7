//! `kubectl gitops install`: the same manifests bootstrap commits, applied without Git.

use std::time::{Duration, Instant};

use crate::cluster::apply::{Applied, apply_all};
use crate::cluster::connection::Connection;
use crate::error::{Error, Result};
use crate::flux::discovery::FluxApis;
use crate::flux::install::root_kustomization;
use crate::manifests::{self, InstallOptions, Manifests};
use crate::ui::progress::Progress;

/// The install manifests for `options` (downloaded and verified, or from the cache or
/// `--manifests`), as `install --export` prints them.
pub async fn manifests(options: &InstallOptions) -> Result<Manifests> {
    let bundle = manifests::load_bundle(options).await?;
    Ok(manifests::generate(&bundle, options)?)
}

/// Installs Flux: applies the manifests (CRDs first), the image pull Secret when registry
/// credentials are given, and waits up to `timeout` for the controllers (unless `None`).
pub async fn install(
    connection: &Connection,
    options: &InstallOptions,
    timeout: Option<Duration>,
    progress: &Progress,
) -> Result<Vec<Applied>> {
    let namespace = &options.namespace;
    refuse_if_bootstrapped(connection, namespace).await?;
    progress.action("generating component manifests");
    let manifests = manifests(options).await?;
    progress.success(format!(
        "generated component manifests for Flux {} ({})",
        manifests.version,
        manifests.components.join(", ")
    ));
    progress.action(format!("installing components in namespace {namespace}"));
    let mut applied = apply_all(connection, &manifests.objects).await?;
    if let Some(pull_secret) = manifests::registry_credentials_secret(options) {
        applied.extend(apply_all(connection, &[pull_secret]).await?);
    }
    for object in &applied {
        progress.success(object.to_string());
    }
    if let Some(timeout) = timeout {
        progress.waiting("waiting for the Flux controllers to be available");
        crate::lifecycle::rollout::wait_available(
            connection,
            namespace,
            &manifests.components,
            Instant::now() + timeout,
            &|explanation| explanation.show(progress),
        )
        .await?;
        progress.success("all components are healthy");
    }
    Ok(applied)
}

/// A cluster bootstrapped from Git gets its components from Git: an install would be undone
/// by the next sync (or undo an upgrade committed there).
async fn refuse_if_bootstrapped(connection: &Connection, namespace: &str) -> Result<()> {
    let apis = FluxApis::discover(connection).await?;
    if root_kustomization(connection, &apis, namespace)
        .await?
        .is_some()
    {
        return Err(Error::BootstrappedFromGit {
            namespace: namespace.to_string(),
        });
    }
    Ok(())
}
