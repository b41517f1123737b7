//! `diff --ref`: the Kustomization's GitRepository fetched at another ref, with the user's own
//! Git setup (not the cluster's deploy key, which the user may not have): the branch a pull
//! request would merge, diffed before it is merged.

use std::path::PathBuf;

use secrecy::SecretString;

use super::build::Kustomization;
use super::error::Error;
use crate::cluster::connection::Connection;
use crate::flux::GIT_REPOSITORY;
use crate::flux::discovery::FluxApis;
use crate::git::{Auth, Checkout, Remote};

/// A checkout of the source at the ref, and the Kustomization's folder in it.
pub struct Fetched {
    pub checkout: Checkout,
    pub folder: PathBuf,
}

/// Fetches the GitRepository of `kustomization` at `reference` into a private temporary
/// folder (removed when the result is dropped). HTTPS credentials are used only when a
/// password is given; otherwise git uses the user's agent, keys and credential helpers.
pub async fn checkout_source(
    connection: &Connection,
    kustomization: &Kustomization,
    reference: &str,
    username: &str,
    password: Option<SecretString>,
    ca_file: Option<PathBuf>,
) -> crate::Result<Fetched> {
    let source = &kustomization.spec()["sourceRef"];
    let kind = source["kind"].as_str().unwrap_or_default();
    let name = source["name"].as_str().unwrap_or_default();
    let namespace = source["namespace"]
        .as_str()
        .unwrap_or(&kustomization.namespace);
    if kind != GIT_REPOSITORY.kind {
        return Err(Error::NotGitSource {
            kustomization: kustomization.display_name(),
            source_kind: kind.to_string(),
            source_name: format!("{namespace}/{name}"),
        }
        .into());
    }
    let apis = FluxApis::discover(connection).await?;
    let repository =
        crate::flux::objects::get(connection, apis.require(&GIT_REPOSITORY)?, namespace, name)
            .await?;
    let spec = repository.object.data["spec"].clone();
    let url = spec["url"].as_str().unwrap_or_default().to_string();
    let auth = match password {
        Some(password) => Auth::Basic {
            username: username.to_string(),
            password,
        },
        None => Auth::None,
    };
    let remote = Remote {
        url: url.clone(),
        auth,
        ca_file,
    };
    let wanted = reference.to_string();
    let checkout = tokio::task::spawn_blocking(move || crate::git::checkout(&remote, &wanted))
        .await
        .map_err(|err| Error::BuildOutput {
            reason: err.to_string(),
        })??;
    let path = kustomization.spec()["path"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches("./")
        .to_string();
    let folder = checkout.root().join(&path);
    if !folder.is_dir() {
        return Err(Error::PathNotInRef {
            reference: reference.to_string(),
            url,
            path,
            kustomization: kustomization.display_name(),
        }
        .into());
    }
    Ok(Fetched { checkout, folder })
}
