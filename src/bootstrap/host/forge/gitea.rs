//! Gitea's REST API (`/api/v1`, token in `Authorization: token <t>`), the calls and bodies of
//! go-git-providers' Gitea client that the flux CLI uses, checked against Gitea v1.27.3's
//! swagger. See docs/forge-bootstrap.md.

use futures::FutureExt;
use futures::future::BoxFuture;
use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::json;

use super::error::{Error, Result};
use super::http::{ApiClient, segment};
use super::repos_api::{self, repo_path};
use super::{
    ClientOptions, Endpoints, ForgeApi, ForgeKey, ForgeKind, GITEA, NewKey, OwnerKind, RepoRef,
    RepositoryInfo, RepositorySettings, TeamAccess, TeamGrant, Visibility,
};

/// Gitea's page size limit for lists (its default `MAX_RESPONSE_ITEMS` is 50).
const PAGE_SIZE: u32 = 50;

/// `--hostname`: a base URL when it has a scheme (`http://127.0.0.1:3000`, `https://h/gitea`,
/// as go-git-providers takes it), otherwise `https://<hostname>`.
pub fn endpoints(hostname: &str) -> Result<Endpoints> {
    let bad = |reason: &str| Error::BadHostname {
        hostname: hostname.to_string(),
        reason: reason.to_string(),
    };
    let hostname = hostname.trim();
    let base = if hostname.contains("://") {
        hostname.to_string()
    } else {
        format!("https://{hostname}")
    };
    let mut web = Url::parse(&base).map_err(|err| bad(&err.to_string()))?;
    if !matches!(web.scheme(), "http" | "https") {
        return Err(bad("use an http:// or https:// URL, or a host name"));
    }
    let Some(host) = web.host_str().map(str::to_string) else {
        return Err(bad("it names no host"));
    };
    if !web.username().is_empty() || web.password().is_some() || web.query().is_some() {
        return Err(bad(
            "give the server's URL only (the token goes in GITEA_TOKEN or --token-file)",
        ));
    }
    if !web.path().ends_with('/') {
        let path = format!("{}/", web.path());
        web.set_path(&path);
    }
    let api = web.join("api/v1/").map_err(|err| bad(&err.to_string()))?;
    Ok(Endpoints {
        api,
        web: web.as_str().trim_end_matches('/').to_string(),
        ssh_host: host,
    })
}

pub fn connect(options: ClientOptions<'_>) -> Result<Box<dyn ForgeApi>> {
    let client = ApiClient::new(
        &GITEA,
        options.endpoints.api.clone(),
        "authorization",
        "token ",
        options.token,
        options.ca_file,
        options.timeout,
    )?;
    Ok(Box::new(Gitea { client }))
}

/// A Gitea server's API.
pub struct Gitea {
    client: ApiClient,
}

#[derive(Deserialize)]
struct User {
    login: String,
}

#[derive(Deserialize)]
struct Repository {
    private: bool,
    #[serde(default)]
    default_branch: String,
    #[serde(default)]
    empty: bool,
}

impl From<Repository> for RepositoryInfo {
    fn from(repo: Repository) -> RepositoryInfo {
        RepositoryInfo {
            visibility: if repo.private {
                Visibility::Private
            } else {
                Visibility::Public
            },
            default_branch: Some(repo.default_branch).filter(|b| !b.is_empty()),
            empty: repo.empty,
        }
    }
}

impl Gitea {
    async fn create(
        &self,
        repo: &RepoRef,
        owner: OwnerKind,
        settings: &RepositorySettings,
    ) -> Result<RepositoryInfo> {
        let path = match owner {
            OwnerKind::User => "user/repos".to_string(),
            OwnerKind::Organisation => format!("orgs/{}/repos", segment(&repo.owner)),
        };
        // CreateRepoOption as the Gitea SDK sends it (every field, empty and unset alike):
        // no auto_init, so the repository is empty until bootstrap's first push.
        let body = json!({
            "name": repo.name,
            "description": "",
            "private": settings.visibility != Visibility::Public,
            "issue_labels": "",
            "auto_init": false,
            "template": false,
            "gitignores": "",
            "license": "",
            "readme": "",
            "default_branch": settings.default_branch,
            "trust_model": "",
        });
        let created: Repository = self.client.send_json(Method::POST, &path, &body).await?;
        Ok(created.into())
    }
}

impl ForgeApi for Gitea {
    fn kind(&self) -> &'static ForgeKind {
        self.client.kind()
    }

    fn host(&self) -> String {
        self.client.host()
    }

    fn current_user(&self) -> BoxFuture<'_, Result<String>> {
        async move {
            let user: Option<User> = self.client.get_json("user").await?;
            user.map(|u| u.login).ok_or_else(|| Error::BadAnswer {
                forge: GITEA.name,
                operation: "GET /api/v1/user".into(),
                reason: "404: is --hostname a Gitea server?".into(),
            })
        }
        .boxed()
    }

    fn organisation_exists<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool>> {
        async move { self.client.exists(&format!("orgs/{}", segment(name))).await }.boxed()
    }

    fn get_repository<'a>(
        &'a self,
        repo: &'a RepoRef,
    ) -> BoxFuture<'a, Result<Option<RepositoryInfo>>> {
        async move {
            let found: Option<Repository> = self.client.get_json(&repo_path(repo)).await?;
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
        repos_api::update_repository(&self.client, repo, settings).boxed()
    }

    fn branch_exists<'a>(
        &'a self,
        repo: &'a RepoRef,
        branch: &'a str,
    ) -> BoxFuture<'a, Result<bool>> {
        repos_api::branch_exists(&self.client, repo, branch).boxed()
    }

    /// On Gitea the permission belongs to the team, not to its link with the repository:
    /// a linked team has whatever access the team has.
    fn team_access<'a>(
        &'a self,
        repo: &'a RepoRef,
        team: &'a TeamGrant,
    ) -> BoxFuture<'a, Result<TeamAccess>> {
        async move {
            let linked = self
                .client
                .exists(&format!(
                    "{}/teams/{}",
                    repo_path(repo),
                    segment(&team.name)
                ))
                .await?;
            Ok(if linked {
                TeamAccess::Granted
            } else {
                TeamAccess::Missing
            })
        }
        .boxed()
    }

    fn grant_team<'a>(
        &'a self,
        repo: &'a RepoRef,
        team: &'a TeamGrant,
    ) -> BoxFuture<'a, Result<()>> {
        async move {
            let path = format!("{}/teams/{}", repo_path(repo), segment(&team.name));
            self.client.send_only(Method::PUT, &path, None).await
        }
        .boxed()
    }

    fn list_deploy_keys<'a>(&'a self, repo: &'a RepoRef) -> BoxFuture<'a, Result<Vec<ForgeKey>>> {
        async move {
            repos_api::list_deploy_keys(&self.client, repo, &format!("limit={PAGE_SIZE}")).await
        }
        .boxed()
    }

    fn add_deploy_key<'a>(
        &'a self,
        repo: &'a RepoRef,
        key: &'a NewKey,
    ) -> BoxFuture<'a, Result<ForgeKey>> {
        repos_api::add_deploy_key(&self.client, repo, key).boxed()
    }

    fn delete_deploy_key<'a>(&'a self, repo: &'a RepoRef, id: u64) -> BoxFuture<'a, Result<()>> {
        repos_api::delete_deploy_key(&self.client, repo, id).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames_become_base_urls() {
        let local = endpoints("http://127.0.0.1:3000").unwrap();
        assert_eq!(local.api.as_str(), "http://127.0.0.1:3000/api/v1/");
        assert_eq!(local.web, "http://127.0.0.1:3000");
        assert_eq!(local.ssh_host, "127.0.0.1");
        let repo = RepoRef {
            owner: "org".into(),
            name: "fleet".into(),
        };
        assert_eq!(
            local.https_url(&repo),
            "http://127.0.0.1:3000/org/fleet.git"
        );
        assert_eq!(local.ssh_url(None, &repo), "ssh://git@127.0.0.1/org/fleet");
        assert_eq!(
            local.ssh_url(Some("127.0.0.1:2222"), &repo),
            "ssh://git@127.0.0.1:2222/org/fleet"
        );
        let bare = endpoints("gitea.com").unwrap();
        assert_eq!(bare.api.as_str(), "https://gitea.com/api/v1/");
        let sub = endpoints("https://h.example/gitea/").unwrap();
        assert_eq!(sub.api.as_str(), "https://h.example/gitea/api/v1/");
        assert_eq!(sub.web, "https://h.example/gitea");
        for bad in ["ftp://h", "https://u:p@h", "http://"] {
            assert!(endpoints(bad).is_err(), "{bad}");
        }
    }
}
