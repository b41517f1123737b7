//! The Git source of a Kustomization, reached with the user's own Git setup (not the
//! cluster's deploy key, which the user may not have): `diff --ref` fetches another ref of it
//! (the branch a pull request would merge); `history` and `rollback` read and extend its branch.

use std::path::PathBuf;

use secrecy::SecretString;

use super::build::Kustomization;
use super::error::Error;
use crate::cluster::connection::Connection;
use crate::flux::GIT_REPOSITORY;
use crate::flux::discovery::FluxApis;
use crate::git::{Auth, Checkout, Remote};

/// How the user reaches Git: HTTPS basic auth when a password is given (`GIT_PASSWORD`),
/// otherwise their ssh-agent, ssh config and credential helpers.
#[derive(Debug, Clone, Default)]
pub struct GitAccess {
    pub username: String,
    pub password: Option<SecretString>,
    pub ca_file: Option<PathBuf>,
}

/// A Kustomization's GitRepository as the user reaches it.
#[derive(Debug, Clone)]
pub struct GitSource {
    pub remote: Remote,
    /// `spec.ref.branch` (Flux's default `master` when no ref is set); None when the
    /// GitRepository follows a tag, semver range, commit or ref name instead.
    pub branch: Option<String>,
    /// `GitRepository/<namespace>/<name>`.
    pub display_name: String,
    /// The commit the source last fetched (`status.artifact.revision`), when known.
    pub fetched: Option<String>,
}

/// The GitRepository `kustomization` reads from.
pub async fn git_source(
    connection: &Connection,
    kustomization: &Kustomization,
    access: &GitAccess,
) -> crate::Result<GitSource> {
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
    let data = &repository.object.data;
    let reference = &data["spec"]["ref"];
    let pinned = ["tag", "semver", "commit", "name"]
        .iter()
        .any(|field| reference[field].as_str().is_some_and(|v| !v.is_empty()));
    let branch = match reference["branch"].as_str().filter(|b| !b.is_empty()) {
        Some(branch) => Some(branch.to_string()),
        None if pinned => None,
        None => Some("master".to_string()),
    };
    let auth = match &access.password {
        Some(password) => Auth::Basic {
            username: access.username.clone(),
            password: password.clone(),
        },
        None => Auth::None,
    };
    Ok(GitSource {
        remote: Remote {
            url: data["spec"]["url"].as_str().unwrap_or_default().to_string(),
            auth,
            ca_file: access.ca_file.clone(),
            insecure_http: false,
        },
        branch,
        display_name: format!("GitRepository/{namespace}/{name}"),
        fetched: data["status"]["artifact"]["revision"]
            .as_str()
            .and_then(commit_of_revision),
    })
}

/// The commit id of a Flux revision (`main@sha1:<id>`, `sha1:<id>`, or a bare id).
pub fn commit_of_revision(revision: &str) -> Option<String> {
    let id = revision.rsplit(':').next().unwrap_or(revision);
    (id.len() >= 7 && id.chars().all(|c| c.is_ascii_hexdigit())).then(|| id.to_string())
}

/// The Kustomization's `spec.path` as a repository path (`./apps/` → `apps`; the root is "").
pub fn repository_path(kustomization: &Kustomization) -> String {
    let path = kustomization.spec()["path"].as_str().unwrap_or_default();
    path.trim_start_matches("./")
        .trim_start_matches('/')
        .trim_end_matches('/')
        .trim_start_matches('.')
        .to_string()
}

/// A checkout of the source at a ref, and the Kustomization's folder in it.
pub struct Fetched {
    pub checkout: Checkout,
    pub folder: PathBuf,
}

/// Fetches `source` at `reference` into a private temporary folder (removed when the result
/// is dropped) and finds the Kustomization's folder in it.
pub async fn fetch_ref(
    source: &GitSource,
    kustomization: &Kustomization,
    reference: &str,
) -> crate::Result<Fetched> {
    let remote = source.remote.clone();
    let wanted = reference.to_string();
    let checkout = tokio::task::spawn_blocking(move || crate::git::checkout(&remote, &wanted))
        .await
        .map_err(|err| Error::BuildOutput {
            reason: err.to_string(),
        })??;
    let path = repository_path(kustomization);
    let folder = checkout.root().join(&path);
    if !folder.is_dir() {
        return Err(Error::PathNotInRef {
            reference: reference.to_string(),
            url: source.remote.url.clone(),
            path,
            kustomization: kustomization.display_name(),
        }
        .into());
    }
    Ok(Fetched { checkout, folder })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn revisions_and_paths_read_as_flux_writes_them() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            commit_of_revision(&format!("main@sha1:{sha}")).as_deref(),
            Some(sha)
        );
        assert_eq!(
            commit_of_revision(&format!("sha1:{sha}")).as_deref(),
            Some(sha)
        );
        assert_eq!(commit_of_revision(sha).as_deref(), Some(sha));
        assert_eq!(commit_of_revision("v1.2.3"), None);
        let with_path = |path: &str| Kustomization {
            name: "apps".into(),
            namespace: "flux-system".into(),
            object: json!({"spec": {"path": path}}),
        };
        for (path, expected) in [
            ("./apps", "apps"),
            ("apps/", "apps"),
            ("./", ""),
            ("", ""),
            ("./clusters/dev", "clusters/dev"),
        ] {
            assert_eq!(repository_path(&with_path(path)), expected, "{path}");
        }
    }
}
