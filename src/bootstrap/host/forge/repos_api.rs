//! The `repos/{owner}/{name}` endpoints Gitea took over from GitHub's REST API with the same
//! paths, bodies and answers: repository settings, branches and deploy keys. Both clients call
//! these; what differs between the two forges (creation, teams, emptiness) stays in theirs.

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::error::Result;
use super::http::{ApiClient, segment};
use super::{ForgeKey, NewKey, RepoRef, RepositorySettings, Visibility};

/// `repos/{owner}/{name}`.
pub(super) fn repo_path(repo: &RepoRef) -> String {
    format!("repos/{}/{}", segment(&repo.owner), segment(&repo.name))
}

/// A deploy key as both list it.
#[derive(Deserialize)]
struct DeployKey {
    id: u64,
    key: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    read_only: bool,
}

impl From<DeployKey> for ForgeKey {
    fn from(key: DeployKey) -> ForgeKey {
        ForgeKey {
            id: key.id,
            title: key.title,
            key: key.key,
            read_only: key.read_only,
        }
    }
}

/// `PATCH repos/{owner}/{name}`: visibility, and the default branch when one is given.
pub(super) async fn update_repository(
    client: &ApiClient,
    repo: &RepoRef,
    settings: &RepositorySettings,
) -> Result<()> {
    let mut body = json!({ "private": settings.visibility != Visibility::Public });
    if !settings.default_branch.is_empty() {
        body["default_branch"] = json!(settings.default_branch);
    }
    client
        .send_only(Method::PATCH, &repo_path(repo), Some(&body))
        .await
}

pub(super) async fn branch_exists(
    client: &ApiClient,
    repo: &RepoRef,
    branch: &str,
) -> Result<bool> {
    client
        .exists(&format!("{}/branches/{}", repo_path(repo), segment(branch)))
        .await
}

/// Every deploy key; `page_size` is the forge's own page parameter (`per_page=100`,
/// `limit=50`).
pub(super) async fn list_deploy_keys(
    client: &ApiClient,
    repo: &RepoRef,
    page_size: &str,
) -> Result<Vec<ForgeKey>> {
    let path = format!("{}/keys?{page_size}", repo_path(repo));
    let keys: Vec<DeployKey> = client.get_all_pages(&path).await?;
    Ok(keys.into_iter().map(ForgeKey::from).collect())
}

pub(super) async fn add_deploy_key(
    client: &ApiClient,
    repo: &RepoRef,
    key: &NewKey,
) -> Result<ForgeKey> {
    let path = format!("{}/keys", repo_path(repo));
    // read_only always sent: both forges default to read-write.
    let body = json!({ "title": key.title, "key": key.key, "read_only": key.read_only });
    let added: DeployKey = client.send_json(Method::POST, &path, &body).await?;
    Ok(added.into())
}

pub(super) async fn delete_deploy_key(client: &ApiClient, repo: &RepoRef, id: u64) -> Result<()> {
    let path = format!("{}/keys/{id}", repo_path(repo));
    client.send_only(Method::DELETE, &path, None).await
}
