//! GitLab's REST API v4 (gitlab.com or a self-managed server at `<hostname>/api/v4/`; token in
//! the `Private-Token` header), the operations of go-git-providers' GitLab client that the flux
//! CLI uses, with the attributes GitLab's REST documentation describes. A project is named in
//! paths by its URL-encoded full path (`group%2Fname`). "Teams" are groups the project is
//! shared with. Project deploy tokens serve `--deploy-token-auth`. See docs/forge-bootstrap.md.

use std::collections::BTreeMap;
use std::sync::Mutex;

use futures::FutureExt;
use futures::future::BoxFuture;
use reqwest::{Method, Url};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::error::{Error, Result};
use super::http::{ApiClient, segment};
use super::{
    ClientOptions, DEPLOY_TOKEN_SCOPE, Endpoints, ForgeApi, ForgeDeployToken, ForgeKey, ForgeKind,
    GITLAB, NewKey, OwnerKind, RepoRef, RepositoryInfo, RepositorySettings, TeamAccess, TeamGrant,
    Visibility,
};

/// GitLab's largest page (its default is 20).
const PAGE_SIZE: u32 = 100;

/// `--hostname`: `https://<hostname>` unless it already starts with `http://` or `https://`
/// (as flux); the API is `<that>/api/v4/`, so a server under a relative URL works too.
pub fn endpoints(hostname: &str) -> Result<Endpoints> {
    let bad = |reason: &str| Error::BadHostname {
        hostname: hostname.to_string(),
        reason: reason.to_string(),
    };
    let trimmed = hostname.trim();
    let base = if trimmed.starts_with("http://") || trimmed.starts_with("https://") {
        trimmed.to_string()
    } else if trimmed.contains("://") {
        return Err(bad("use an http:// or https:// URL, or a host name"));
    } else {
        format!("https://{trimmed}")
    };
    let mut web = Url::parse(&base).map_err(|err| bad(&err.to_string()))?;
    let Some(host) = web.host_str().map(str::to_string) else {
        return Err(bad("it names no host"));
    };
    if !web.username().is_empty() || web.password().is_some() || web.query().is_some() {
        return Err(bad(
            "give the server's address only (the token goes in GITLAB_TOKEN or --token-file)",
        ));
    }
    let path = web.path().trim_end_matches('/').to_string();
    let root = path.strip_suffix("/api/v4").unwrap_or(&path).to_string();
    web.set_path(&format!("{root}/"));
    let api = web.join("api/v4/").map_err(|err| bad(&err.to_string()))?;
    Ok(Endpoints {
        api,
        web: web.as_str().trim_end_matches('/').to_string(),
        ssh_host: host,
    })
}

pub fn connect(options: ClientOptions<'_>) -> Result<Box<dyn ForgeApi>> {
    let client = ApiClient::new(
        &GITLAB,
        options.endpoints.api.clone(),
        "private-token",
        "",
        options.token,
        options.ca_file,
        options.timeout,
    )?;
    Ok(Box::new(GitLab {
        client,
        group_ids: Mutex::default(),
    }))
}

/// A GitLab server's API.
pub struct GitLab {
    client: ApiClient,
    /// Group IDs already looked up in this run (creating a project in a group needs the ID
    /// that checking the group found).
    group_ids: Mutex<BTreeMap<String, u64>>,
}

#[derive(Deserialize)]
struct User {
    username: String,
}

#[derive(Deserialize)]
struct Group {
    id: u64,
}

#[derive(Deserialize)]
struct SharedGroup {
    group_id: u64,
    group_access_level: u64,
}

#[derive(Deserialize)]
struct Project {
    #[serde(default)]
    visibility: String,
    /// `null` until the first push.
    #[serde(default)]
    default_branch: Option<String>,
    #[serde(default)]
    empty_repo: bool,
    #[serde(default)]
    shared_with_groups: Vec<SharedGroup>,
}

impl From<Project> for RepositoryInfo {
    fn from(project: Project) -> RepositoryInfo {
        RepositoryInfo {
            visibility: match project.visibility.as_str() {
                "public" => Visibility::Public,
                "internal" => Visibility::Internal,
                _ => Visibility::Private,
            },
            default_branch: project.default_branch.filter(|b| !b.is_empty()),
            empty: project.empty_repo,
        }
    }
}

#[derive(Deserialize)]
struct DeployKey {
    id: u64,
    key: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    can_push: bool,
}

impl From<DeployKey> for ForgeKey {
    fn from(key: DeployKey) -> ForgeKey {
        ForgeKey {
            id: key.id,
            title: key.title,
            key: key.key,
            read_only: !key.can_push,
        }
    }
}

/// A project deploy token as GitLab lists it (`token` only in the answer that creates it).
#[derive(Deserialize)]
struct DeployToken {
    id: u64,
    #[serde(default)]
    name: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    revoked: bool,
    #[serde(default)]
    expired: bool,
}

impl From<DeployToken> for ForgeDeployToken {
    fn from(token: DeployToken) -> ForgeDeployToken {
        ForgeDeployToken {
            id: token.id,
            name: token.name,
            username: token.username,
            scopes: token.scopes,
        }
    }
}

/// A `--team` permission as a GitLab access level: flux's names (pull, triage, push,
/// maintain, admin) or GitLab's own (guest, reporter, developer, maintainer, owner).
pub fn access_level(permission: &str) -> Option<u64> {
    match permission {
        "pull" | "guest" => Some(10),
        "triage" | "reporter" => Some(20),
        "push" | "developer" => Some(30),
        "maintain" | "maintainer" => Some(40),
        "admin" | "owner" => Some(50),
        _ => None,
    }
}

fn project_path(repo: &RepoRef) -> String {
    format!(
        "projects/{}",
        segment(&format!("{}/{}", repo.owner, repo.name))
    )
}

impl GitLab {
    async fn group_id(&self, group: &str) -> Result<Option<u64>> {
        let known = |ids: &BTreeMap<String, u64>| ids.get(group).copied();
        if let Some(id) = known(&self.group_ids.lock().unwrap_or_else(|p| p.into_inner())) {
            return Ok(Some(id));
        }
        let found: Option<Group> = self
            .client
            .get_json(&format!("groups/{}", segment(group)))
            .await?;
        if let Some(found) = &found {
            self.group_ids
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(group.to_string(), found.id);
        }
        Ok(found.map(|g| g.id))
    }

    async fn create(
        &self,
        repo: &RepoRef,
        owner: OwnerKind,
        settings: &RepositorySettings,
    ) -> Result<RepositoryInfo> {
        // No initialize_with_readme: the project stays empty until bootstrap's first push,
        // which makes --branch its default branch.
        let mut body = json!({
            "name": repo.name,
            "path": repo.name,
            "visibility": settings.visibility.as_str(),
        });
        if owner == OwnerKind::Organisation {
            let Some(id) = self.group_id(&repo.owner).await? else {
                return Err(Error::OrganisationNotFound {
                    forge: GITLAB.name,
                    organisation: repo.owner.clone(),
                    host: self.client.host(),
                });
            };
            body["namespace_id"] = json!(id);
        }
        let created: Project = self
            .client
            .send_json(Method::POST, "projects", &body)
            .await?;
        Ok(created.into())
    }

    fn unknown_permission(&self, team: &TeamGrant) -> Error {
        Error::Api {
            forge: GITLAB.name,
            status: 400,
            operation: format!("sharing with group {}", team.name),
            message: format!(
                "unknown permission \"{}\": use guest, reporter, developer, maintainer or owner (or pull, triage, push, maintain, admin)",
                team.permission
            ),
        }
    }
}

impl ForgeApi for GitLab {
    fn kind(&self) -> &'static ForgeKind {
        self.client.kind()
    }

    fn host(&self) -> String {
        self.client.host()
    }

    fn current_user(&self) -> BoxFuture<'_, Result<String>> {
        async move {
            let user: Option<User> = self.client.get_json("user").await?;
            user.map(|u| u.username).ok_or_else(|| Error::BadAnswer {
                forge: GITLAB.name,
                operation: "GET /api/v4/user".into(),
                reason: "404: is --hostname a GitLab server?".into(),
            })
        }
        .boxed()
    }

    fn organisation_exists<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool>> {
        async move { Ok(self.group_id(name).await?.is_some()) }.boxed()
    }

    fn get_repository<'a>(
        &'a self,
        repo: &'a RepoRef,
    ) -> BoxFuture<'a, Result<Option<RepositoryInfo>>> {
        async move {
            let found: Option<Project> = self.client.get_json(&project_path(repo)).await?;
            Ok(found.map(RepositoryInfo::from))
        }
        .boxed()
    }

    fn create_repository<'a>(
        &'a self,
        repo: &'a RepoRef,
        owner: OwnerKind,
        settings: &'a RepositorySettings,
    ) -> BoxFuture<'a, Result<RepositoryInfo>> {
        self.create(repo, owner, settings).boxed()
    }

    fn update_repository<'a>(
        &'a self,
        repo: &'a RepoRef,
        settings: &'a RepositorySettings,
    ) -> BoxFuture<'a, Result<()>> {
        async move {
            let mut body = json!({ "visibility": settings.visibility.as_str() });
            if !settings.default_branch.is_empty() {
                body["default_branch"] = json!(settings.default_branch);
            }
            self.client
                .send_only(Method::PUT, &project_path(repo), Some(&body))
                .await
        }
        .boxed()
    }

    fn branch_exists<'a>(
        &'a self,
        repo: &'a RepoRef,
        branch: &'a str,
    ) -> BoxFuture<'a, Result<bool>> {
        async move {
            let path = format!(
                "{}/repository/branches/{}",
                project_path(repo),
                segment(branch)
            );
            self.client.exists(&path).await
        }
        .boxed()
    }

    fn team_access<'a>(
        &'a self,
        repo: &'a RepoRef,
        team: &'a TeamGrant,
    ) -> BoxFuture<'a, Result<TeamAccess>> {
        async move {
            let Some(wanted) = access_level(&team.permission) else {
                return Err(self.unknown_permission(team));
            };
            let Some(group) = self.group_id(&team.name).await? else {
                return Err(Error::Api {
                    forge: GITLAB.name,
                    status: 404,
                    operation: format!("GET groups/{}", team.name),
                    message: format!("group \"{}\" not found", team.name),
                });
            };
            let project: Option<Project> = self.client.get_json(&project_path(repo)).await?;
            let shared = project
                .into_iter()
                .flat_map(|p| p.shared_with_groups)
                .find(|g| g.group_id == group);
            Ok(match shared {
                None => TeamAccess::Missing,
                Some(link) if link.group_access_level == wanted => TeamAccess::Granted,
                Some(link) => TeamAccess::Other(link.group_access_level.to_string()),
            })
        }
        .boxed()
    }

    /// Shares the project with the group; a share with another access level is removed
    /// first (GitLab changes a share's level only through the group's side).
    fn grant_team<'a>(
        &'a self,
        repo: &'a RepoRef,
        team: &'a TeamGrant,
    ) -> BoxFuture<'a, Result<()>> {
        async move {
            let Some(level) = access_level(&team.permission) else {
                return Err(self.unknown_permission(team));
            };
            let Some(group) = self.group_id(&team.name).await? else {
                return Err(Error::Api {
                    forge: GITLAB.name,
                    status: 404,
                    operation: format!("GET groups/{}", team.name),
                    message: format!("group \"{}\" not found", team.name),
                });
            };
            let project: Option<Project> = self.client.get_json(&project_path(repo)).await?;
            if project
                .into_iter()
                .flat_map(|p| p.shared_with_groups)
                .any(|g| g.group_id == group)
            {
                let path = format!("{}/share/{group}", project_path(repo));
                self.client.send(Method::DELETE, &path, None).await?;
            }
            let path = format!("{}/share", project_path(repo));
            let body = json!({ "group_id": group, "group_access": level });
            self.client
                .send_only(Method::POST, &path, Some(&body))
                .await
        }
        .boxed()
    }

    fn list_deploy_keys<'a>(&'a self, repo: &'a RepoRef) -> BoxFuture<'a, Result<Vec<ForgeKey>>> {
        async move {
            let path = format!("{}/deploy_keys?per_page={PAGE_SIZE}", project_path(repo));
            let keys: Vec<DeployKey> = self.client.get_all_pages(&path).await?;
            Ok(keys.into_iter().map(ForgeKey::from).collect())
        }
        .boxed()
    }

    fn add_deploy_key<'a>(
        &'a self,
        repo: &'a RepoRef,
        key: &'a NewKey,
    ) -> BoxFuture<'a, Result<ForgeKey>> {
        async move {
            let path = format!("{}/deploy_keys", project_path(repo));
            // can_push always sent, so the key's access never rests on a default.
            let body = json!({ "title": key.title, "key": key.key, "can_push": !key.read_only });
            let added: DeployKey = self.client.send_json(Method::POST, &path, &body).await?;
            Ok(added.into())
        }
        .boxed()
    }

    fn delete_deploy_key<'a>(&'a self, repo: &'a RepoRef, id: u64) -> BoxFuture<'a, Result<()>> {
        async move {
            let path = format!("{}/deploy_keys/{id}", project_path(repo));
            self.client.send_only(Method::DELETE, &path, None).await
        }
        .boxed()
    }

    fn list_deploy_tokens<'a>(
        &'a self,
        repo: &'a RepoRef,
    ) -> BoxFuture<'a, Result<Vec<ForgeDeployToken>>> {
        async move {
            // GitLab lists revoked and expired tokens too unless asked not to; both are
            // filtered again here, as go-git-providers does.
            let path = format!(
                "{}/deploy_tokens?active=true&per_page={PAGE_SIZE}",
                project_path(repo)
            );
            let tokens: Vec<DeployToken> = self.client.get_all_pages(&path).await?;
            Ok(tokens
                .into_iter()
                .filter(|t| !t.revoked && !t.expired)
                .map(ForgeDeployToken::from)
                .collect())
        }
        .boxed()
    }

    fn create_deploy_token<'a>(
        &'a self,
        repo: &'a RepoRef,
        name: &'a str,
    ) -> BoxFuture<'a, Result<(ForgeDeployToken, SecretString)>> {
        async move {
            let path = format!("{}/deploy_tokens", project_path(repo));
            // No expires_at: the token lasts until revoked, as flux's.
            let body = json!({ "name": name, "scopes": [DEPLOY_TOKEN_SCOPE] });
            let answer = self.client.send(Method::POST, &path, Some(&body)).await?;
            let created = created_token(&answer.body).ok_or_else(|| Error::BadAnswer {
                forge: GITLAB.name,
                operation: format!("POST {path}"),
                reason: "it holds no deploy token with its user name and secret".to_string(),
            })?;
            Ok(created)
        }
        .boxed()
    }

    fn revoke_deploy_token<'a>(&'a self, repo: &'a RepoRef, id: u64) -> BoxFuture<'a, Result<()>> {
        async move {
            let path = format!("{}/deploy_tokens/{id}", project_path(repo));
            self.client.send_only(Method::DELETE, &path, None).await
        }
        .boxed()
    }
}

/// The token and its secret from the answer to creating it; `None` when either is missing.
/// Decoding errors are not passed on: their text could quote the answer, secret included.
fn created_token(body: &str) -> Option<(ForgeDeployToken, SecretString)> {
    let mut value: serde_json::Value = serde_json::from_str(body).ok()?;
    let secret = match value.get_mut("token").map(serde_json::Value::take) {
        Some(serde_json::Value::String(secret)) if !secret.is_empty() => SecretString::from(secret),
        _ => return None,
    };
    let token: DeployToken = serde_json::from_value(value).ok()?;
    if token.username.is_empty() {
        return None;
    }
    Some((token.into(), secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames_become_api_addresses() {
        let public = endpoints("gitlab.com").unwrap();
        assert_eq!(public.api.as_str(), "https://gitlab.com/api/v4/");
        assert_eq!(public.web, "https://gitlab.com");
        let repo = RepoRef {
            owner: "group/sub".into(),
            name: "fleet".into(),
        };
        assert_eq!(
            public.https_url(&repo),
            "https://gitlab.com/group/sub/fleet.git"
        );
        assert_eq!(project_path(&repo), "projects/group%2Fsub%2Ffleet");
        let own = endpoints("http://127.0.0.1:8080/gitlab").unwrap();
        assert_eq!(own.api.as_str(), "http://127.0.0.1:8080/gitlab/api/v4/");
        assert_eq!(own.web, "http://127.0.0.1:8080/gitlab");
        assert!(endpoints("ftp://h").is_err());
    }

    #[test]
    fn a_created_deploy_token_gives_its_user_name_and_secret() {
        use secrecy::ExposeSecret;
        let (token, secret) = created_token(
            r#"{"id":7,"name":"flux-system-main-flux-system-clusters/dev","username":"gitlab+deploy-token-7","expires_at":null,"token":"gldt-s3cret","revoked":false,"expired":false,"scopes":["read_repository"]}"#,
        )
        .unwrap();
        assert_eq!(token.id, 7);
        assert_eq!(token.username, "gitlab+deploy-token-7");
        assert_eq!(token.scopes, ["read_repository"]);
        assert_eq!(secret.expose_secret(), "gldt-s3cret");
        // No secret, or no user name: not a usable answer.
        assert!(created_token(r#"{"id":7,"name":"n","username":"u","scopes":[]}"#).is_none());
        assert!(created_token(r#"{"id":7,"name":"n","token":"t","scopes":[]}"#).is_none());
        assert!(created_token("not json").is_none());
    }

    #[test]
    fn permissions_map_to_access_levels() {
        assert_eq!(access_level("maintain"), Some(40));
        assert_eq!(access_level("developer"), Some(30));
        assert_eq!(access_level("root"), None);
    }
}
