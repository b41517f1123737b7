//! GitHub's REST API (github.com at `https://api.github.com/`, GitHub Enterprise Server at
//! `https://<host>/api/v3/`; token in `Authorization: Bearer <t>`), the operations of
//! go-git-providers' GitHub client that the flux CLI uses, with request bodies that GitHub's
//! OpenAPI description (`@octokit/openapi`) allows. See docs/forge-bootstrap.md.

use futures::FutureExt;
use futures::future::BoxFuture;
use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::json;

use super::error::{Error, Result};
use super::http::{ApiClient, segment};
use super::repos_api::{self, repo_path};
use super::{
    ClientOptions, Endpoints, ForgeApi, ForgeKey, ForgeKind, GITHUB, NewKey, OwnerKind, RepoRef,
    RepositoryInfo, RepositorySettings, TeamAccess, TeamGrant, Visibility,
};

/// GitHub's largest page (its default is 30).
const PAGE_SIZE: u32 = 100;

/// `--hostname`: `github.com` (the default) is github.com's API; any other host is a GitHub
/// Enterprise Server, whose API is `https://<host>/api/v3/`. A full URL
/// (`https://<host>/api/v3`) is taken as that server's API. GitHub is served over HTTPS only.
pub fn endpoints(hostname: &str) -> Result<Endpoints> {
    let bad = |reason: &str| Error::BadHostname {
        hostname: hostname.to_string(),
        reason: reason.to_string(),
    };
    let trimmed = hostname.trim();
    let url = if trimmed.contains("://") {
        trimmed.to_string()
    } else {
        format!("https://{trimmed}")
    };
    let mut web = Url::parse(&url).map_err(|err| bad(&err.to_string()))?;
    if web.scheme() != "https" {
        return Err(bad(
            "GitHub is served over https: use https://<host> or the host name alone",
        ));
    }
    let Some(host) = web.host_str().map(str::to_string) else {
        return Err(bad("it names no host"));
    };
    if !web.username().is_empty() || web.password().is_some() || web.query().is_some() {
        return Err(bad(
            "give the server's address only (the token goes in GITHUB_TOKEN or --token-file)",
        ));
    }
    if host == "github.com" || host == "api.github.com" {
        return Ok(Endpoints {
            api: Url::parse("https://api.github.com/").map_err(|err| bad(&err.to_string()))?,
            web: "https://github.com".to_string(),
            ssh_host: "github.com".to_string(),
        });
    }
    // GitHub Enterprise Server: the API lives under /api/v3 of the web address.
    let path = web.path().trim_end_matches('/').to_string();
    let root = path.strip_suffix("/api/v3").unwrap_or(&path).to_string();
    web.set_path(&format!("{root}/"));
    let api = web.join("api/v3/").map_err(|err| bad(&err.to_string()))?;
    Ok(Endpoints {
        api,
        web: web.as_str().trim_end_matches('/').to_string(),
        ssh_host: host,
    })
}

pub fn connect(options: ClientOptions<'_>) -> Result<Box<dyn ForgeApi>> {
    let client = ApiClient::new(
        &GITHUB,
        options.endpoints.api.clone(),
        "authorization",
        "Bearer ",
        options.token,
        options.ca_file,
        options.timeout,
    )?;
    Ok(Box::new(GitHub { client }))
}

/// GitHub's (or a GitHub Enterprise Server's) API.
pub struct GitHub {
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
    visibility: Option<String>,
    #[serde(default)]
    default_branch: Option<String>,
    /// Kilobytes; 0 for a repository without commits (and, briefly, for a new one).
    #[serde(default)]
    size: u64,
}

impl Repository {
    fn info(self, empty: bool) -> RepositoryInfo {
        RepositoryInfo {
            visibility: match (self.visibility.as_deref(), self.private) {
                (Some("internal"), _) => Visibility::Internal,
                (_, true) => Visibility::Private,
                (_, false) => Visibility::Public,
            },
            default_branch: self.default_branch.filter(|b| !b.is_empty()),
            empty,
        }
    }
}

#[derive(Deserialize)]
struct Team {
    slug: String,
    #[serde(default)]
    name: String,
    /// The team's permission on this repository (`pull` … `admin`, or a custom role).
    #[serde(default)]
    permission: String,
}

/// GitHub's role names as its permission names (`read` is `pull`, `write` is `push`).
fn permission_name(permission: &str) -> &str {
    match permission {
        "read" => "pull",
        "write" => "push",
        other => other,
    }
}

impl GitHub {
    /// GitHub reports no "empty" flag: a repository of size 0 is asked for a branch.
    async fn is_empty(&self, repo: &RepoRef, found: &Repository) -> Result<bool> {
        if found.size > 0 {
            return Ok(false);
        }
        let branches: Option<Vec<serde_json::Value>> = self
            .client
            .get_json(&format!("{}/branches?per_page=1", repo_path(repo)))
            .await?;
        Ok(branches.is_none_or(|b| b.is_empty()))
    }

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
        // No auto_init: the repository stays empty until bootstrap's first push, which makes
        // --branch its default branch. (The create operations take no default_branch.)
        let body = json!({
            "name": repo.name,
            "private": settings.visibility != Visibility::Public,
            "auto_init": false,
        });
        let created: Repository = self.client.send_json(Method::POST, &path, &body).await?;
        Ok(created.info(true))
    }
}

impl ForgeApi for GitHub {
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
                forge: GITHUB.name,
                operation: "GET /user".into(),
                reason: "404: is --hostname a GitHub (Enterprise) server?".into(),
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
            match found {
                Some(found) => {
                    let empty = self.is_empty(repo, &found).await?;
                    Ok(Some(found.info(empty)))
                }
                None => Ok(None),
            }
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

    /// The team's permission from the repository's team list (which names each team's
    /// permission on the repository; the per-team check answers only "yes" without a
    /// special media type).
    fn team_access<'a>(
        &'a self,
        repo: &'a RepoRef,
        team: &'a TeamGrant,
    ) -> BoxFuture<'a, Result<TeamAccess>> {
        async move {
            let path = format!("{}/teams?per_page={PAGE_SIZE}", repo_path(repo));
            let teams: Vec<Team> = self.client.get_all_pages(&path).await?;
            let wanted = permission_name(&team.permission);
            Ok(
                match teams
                    .iter()
                    .find(|t| t.slug == team.name || t.name == team.name)
                {
                    None => TeamAccess::Missing,
                    Some(found) if permission_name(&found.permission) == wanted => {
                        TeamAccess::Granted
                    }
                    Some(found) => TeamAccess::Other(found.permission.clone()),
                },
            )
        }
        .boxed()
    }

    fn grant_team<'a>(
        &'a self,
        repo: &'a RepoRef,
        team: &'a TeamGrant,
    ) -> BoxFuture<'a, Result<()>> {
        async move {
            let path = format!(
                "orgs/{}/teams/{}/{}",
                segment(&repo.owner),
                segment(&team.name),
                repo_path(repo)
            );
            let body = json!({ "permission": permission_name(&team.permission) });
            self.client.send_only(Method::PUT, &path, Some(&body)).await
        }
        .boxed()
    }

    fn list_deploy_keys<'a>(&'a self, repo: &'a RepoRef) -> BoxFuture<'a, Result<Vec<ForgeKey>>> {
        async move {
            repos_api::list_deploy_keys(&self.client, repo, &format!("per_page={PAGE_SIZE}")).await
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
    fn hostnames_become_api_addresses() {
        let public = endpoints("github.com").unwrap();
        assert_eq!(public.api.as_str(), "https://api.github.com/");
        assert_eq!(public.web, "https://github.com");
        let repo = RepoRef {
            owner: "org".into(),
            name: "fleet".into(),
        };
        assert_eq!(public.https_url(&repo), "https://github.com/org/fleet.git");
        assert_eq!(
            public.ssh_url(None, &repo),
            "ssh://git@github.com/org/fleet"
        );
        for enterprise in [
            "ghe.example.com",
            "https://ghe.example.com",
            "https://ghe.example.com/api/v3",
            "https://ghe.example.com/api/v3/",
        ] {
            let e = endpoints(enterprise).unwrap();
            assert_eq!(
                e.api.as_str(),
                "https://ghe.example.com/api/v3/",
                "{enterprise}"
            );
            assert_eq!(e.web, "https://ghe.example.com", "{enterprise}");
            assert_eq!(e.ssh_host, "ghe.example.com");
        }
        let local = endpoints("https://127.0.0.1:8443/api/v3").unwrap();
        assert_eq!(local.api.as_str(), "https://127.0.0.1:8443/api/v3/");
        assert_eq!(local.web, "https://127.0.0.1:8443");
        for bad in ["http://ghe.example.com", "https://u:p@h", "https://"] {
            assert!(endpoints(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn role_names_are_permission_names() {
        assert_eq!(permission_name("write"), "push");
        assert_eq!(permission_name("read"), "pull");
        assert_eq!(permission_name("maintain"), "maintain");
    }
}
