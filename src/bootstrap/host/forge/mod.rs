//! A forge (Gitea, GitHub, GitLab) as bootstrap's [`RepositoryHost`]: the repository is
//! created through the forge's API when it is missing, and the deploy key registered there.
//!
//! The flow is the flux CLI's (flux2 `pkg/bootstrap` over go-git-providers), shared by every
//! forge; each forge only implements the handful of REST calls in [`ForgeApi`]:
//! 1. get the repository; when missing, check the owner (`--personal`: the token's user;
//!    otherwise the organisation) and create it empty, private unless `--private=false`, with
//!    `--branch` as default branch;
//! 2. with `--reconcile`, bring visibility and default branch of an existing repository to
//!    what the flags say; grant `--team`s access (a failure is a warning, as in flux);
//! 3. the deploy key titled `<namespace>-<branch>-<secret>-<path>`: created when missing,
//!    left alone when the same key with the same access is there, deleted and created again
//!    when it differs. Read-only unless `--read-write-key`, always sent explicitly (the APIs
//!    default to read-write).
//!
//!
//! GitLab's `--deploy-token-auth` replaces step 3: the cluster syncs over HTTPS with a project
//! deploy token of the same name (scope `read_repository`), created when missing and kept
//! while the source Secret still holds its user name; GitLab shows a token's secret only when
//! it is created, so a token the Secret no longer holds is revoked and created again.
//!
//! A re-run with nothing to do only reads. See docs/forge-bootstrap.md.

pub mod error;
pub mod gitea;
pub mod github;
pub mod gitlab;
pub mod http;
mod repos_api;
pub mod token;

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Url;

use futures::FutureExt;
use futures::future::BoxFuture;
use secrecy::SecretString;

use super::{KeyAccess, KeyGrant, Repository, RepositoryHost};
use crate::git::{Auth, Remote};
use crate::ui::Ui;
pub use error::Error;
use error::Result;

/// What differs between forges beyond their API calls: names, token variable and scopes.
#[derive(Debug)]
pub struct ForgeKind {
    /// "Gitea", for messages.
    pub name: &'static str,
    /// The subcommand: `bootstrap <command>`.
    pub command: &'static str,
    /// The environment variable the token is read from (flux's).
    pub token_env: &'static str,
    /// The no-echo prompt's text.
    pub token_prompt: &'static str,
    /// What to do when no token can be typed.
    pub token_needed: &'static str,
    /// The token scopes bootstrap needs, for error messages.
    pub token_scopes: &'static str,
    /// `--hostname`'s default.
    pub default_hostname: &'static str,
    /// The forge's URLs for a `--hostname`.
    pub endpoints: fn(hostname: &str) -> Result<Endpoints>,
    /// The API client.
    pub connect: fn(ClientOptions<'_>) -> Result<Box<dyn ForgeApi>>,
}

/// Where a forge answers, derived from `--hostname` alone (so `--dry-run` needs no token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The REST API's base, ending with `/`.
    pub api: Url,
    /// The web (and Git over HTTPS) base, without a trailing `/`.
    pub web: String,
    /// The SSH host when `--ssh-hostname` is not given: the web host on port 22 (flux kept
    /// the HTTP port here, which no SSH server listens on).
    pub ssh_host: String,
}

impl Endpoints {
    /// `<web>/<owner>/<name>.git`, what bootstrap pushes to (and syncs with `--token-auth`).
    pub fn https_url(&self, repo: &RepoRef) -> String {
        format!("{}/{}/{}.git", self.web, repo.owner, repo.name)
    }

    /// `ssh://git@<host>/<owner>/<name>`, what the source-controller syncs from (flux's form,
    /// without `.git`); `ssh_hostname` is `--ssh-hostname` (`host[:port]`).
    pub fn ssh_url(&self, ssh_hostname: Option<&str>, repo: &RepoRef) -> String {
        let host = ssh_hostname.unwrap_or(&self.ssh_host);
        format!("ssh://git@{host}/{}/{}", repo.owner, repo.name)
    }
}

/// What an API client is made from.
pub struct ClientOptions<'a> {
    pub endpoints: &'a Endpoints,
    pub token: &'a SecretString,
    /// `--ca-file`: certificate authorities trusted besides the platform's.
    pub ca_file: Option<&'a Path>,
    /// `--timeout`: waiting for a rate limit to lift stops there.
    pub timeout: Duration,
}

pub static GITEA: ForgeKind = ForgeKind {
    name: "Gitea",
    command: "gitea",
    token_env: "GITEA_TOKEN",
    token_prompt: "Please enter your Gitea personal access token (PAT)",
    token_needed: "bootstrap gitea needs a Gitea access token: set GITEA_TOKEN or pass --token-file",
    token_scopes: "write:repository, write:organization, read:user",
    default_hostname: "gitea.com",
    endpoints: gitea::endpoints,
    connect: gitea::connect,
};

pub static GITHUB: ForgeKind = ForgeKind {
    name: "GitHub",
    command: "github",
    token_env: "GITHUB_TOKEN",
    token_prompt: "Please enter your GitHub personal access token (PAT)",
    token_needed: "bootstrap github needs a GitHub access token: set GITHUB_TOKEN or pass --token-file",
    token_scopes: "repo (classic token), or Administration and Contents read-write (fine-grained)",
    default_hostname: "github.com",
    endpoints: github::endpoints,
    connect: github::connect,
};

pub static GITLAB: ForgeKind = ForgeKind {
    name: "GitLab",
    command: "gitlab",
    token_env: "GITLAB_TOKEN",
    token_prompt: "Please enter your GitLab personal access token (PAT)",
    token_needed: "bootstrap gitlab needs a GitLab access token: set GITLAB_TOKEN or pass --token-file",
    token_scopes: "api, with the Maintainer role on the project",
    default_hostname: "gitlab.com",
    endpoints: gitlab::endpoints,
    connect: gitlab::connect,
};

/// A repository on a forge: `<owner>/<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoRef {
    pub owner: String,
    pub name: String,
}

impl std::fmt::Display for RepoRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// Who owns the repository: the token's user (`--personal`) or an organisation (a GitLab
/// group).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerKind {
    User,
    Organisation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    Private,
    /// GitLab only.
    Internal,
    Public,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Private => "private",
            Visibility::Internal => "internal",
            Visibility::Public => "public",
        }
    }
}

/// The repository settings bootstrap creates a repository with, and `--reconcile` enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositorySettings {
    pub visibility: Visibility,
    pub default_branch: String,
}

/// A repository as the forge describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryInfo {
    pub visibility: Visibility,
    /// `None` when the forge reports none (an empty GitLab project).
    pub default_branch: Option<String>,
    /// No commits at all.
    pub empty: bool,
}

/// A team's access to the repository as bootstrap asks it (`--team name[:permission]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamGrant {
    pub name: String,
    /// `maintain` unless given (flux's default).
    pub permission: String,
}

/// Whether a team has the access bootstrap asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TeamAccess {
    /// The team has no access to the repository.
    Missing,
    /// Access, with another permission (named as the forge names it).
    Other(String),
    /// The access asked for (on Gitea, where the permission belongs to the team, any access).
    Granted,
}

/// A deploy key registered on the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgeKey {
    pub id: u64,
    pub title: String,
    /// As the forge returns it (`<type> <base64>`, maybe with a comment).
    pub key: String,
    pub read_only: bool,
}

/// A project deploy token (GitLab), as the forge lists it: its secret is never listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgeDeployToken {
    pub id: u64,
    pub name: String,
    /// The user name Git authenticates with (GitLab: `gitlab+deploy-token-<n>`).
    pub username: String,
    pub scopes: Vec<String>,
}

/// The scope of the deploy tokens bootstrap creates: clone and fetch (as flux).
pub const DEPLOY_TOKEN_SCOPE: &str = "read_repository";

/// A deploy key to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    pub title: String,
    pub key: String,
    pub read_only: bool,
}

/// The REST calls bootstrap makes on one forge. Every method maps 401 to
/// [`Error::BadToken`]; "not found" is `Ok(None)`/`Ok(false)` where the flow needs to tell it
/// apart, and [`Error::Api`] with status 404 elsewhere. Lists are complete: the client follows
/// the forge's pagination. Boxed futures, as [`RepositoryHost`], so hosts are `dyn`.
pub trait ForgeApi: Send + Sync {
    fn kind(&self) -> &'static ForgeKind;

    /// Host (and port) of the API, for messages.
    fn host(&self) -> String;

    /// The login of the token's user.
    fn current_user(&self) -> BoxFuture<'_, Result<String>>;

    /// Whether the organisation (GitLab: group) exists and the token's user can see it.
    fn organisation_exists<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool>>;

    fn get_repository<'a>(
        &'a self,
        repo: &'a RepoRef,
    ) -> BoxFuture<'a, Result<Option<RepositoryInfo>>>;

    /// Creates the repository empty (no README, no initial commit).
    fn create_repository<'a>(
        &'a self,
        repo: &'a RepoRef,
        owner: OwnerKind,
        settings: &'a RepositorySettings,
    ) -> BoxFuture<'a, Result<RepositoryInfo>>;

    /// `--reconcile`: sets visibility and default branch.
    fn update_repository<'a>(
        &'a self,
        repo: &'a RepoRef,
        settings: &'a RepositorySettings,
    ) -> BoxFuture<'a, Result<()>>;

    fn branch_exists<'a>(
        &'a self,
        repo: &'a RepoRef,
        branch: &'a str,
    ) -> BoxFuture<'a, Result<bool>>;

    fn team_access<'a>(
        &'a self,
        repo: &'a RepoRef,
        team: &'a TeamGrant,
    ) -> BoxFuture<'a, Result<TeamAccess>>;

    /// Gives the team its access (adds it, or changes its permission).
    fn grant_team<'a>(
        &'a self,
        repo: &'a RepoRef,
        team: &'a TeamGrant,
    ) -> BoxFuture<'a, Result<()>>;

    fn list_deploy_keys<'a>(&'a self, repo: &'a RepoRef) -> BoxFuture<'a, Result<Vec<ForgeKey>>>;

    fn add_deploy_key<'a>(
        &'a self,
        repo: &'a RepoRef,
        key: &'a NewKey,
    ) -> BoxFuture<'a, Result<ForgeKey>>;

    fn delete_deploy_key<'a>(&'a self, repo: &'a RepoRef, id: u64) -> BoxFuture<'a, Result<()>>;

    /// The active (neither revoked nor expired) deploy tokens of the repository. Only GitLab
    /// has them; the others answer [`Error::NoDeployTokens`].
    fn list_deploy_tokens<'a>(
        &'a self,
        _repo: &'a RepoRef,
    ) -> BoxFuture<'a, Result<Vec<ForgeDeployToken>>> {
        let forge = self.kind().name;
        async move { Err(Error::NoDeployTokens { forge }) }.boxed()
    }

    /// Creates a deploy token with [`DEPLOY_TOKEN_SCOPE`] and no expiry; its secret comes only
    /// in this answer.
    fn create_deploy_token<'a>(
        &'a self,
        _repo: &'a RepoRef,
        _name: &'a str,
    ) -> BoxFuture<'a, Result<(ForgeDeployToken, SecretString)>> {
        let forge = self.kind().name;
        async move { Err(Error::NoDeployTokens { forge }) }.boxed()
    }

    /// Revokes a deploy token.
    fn revoke_deploy_token<'a>(
        &'a self,
        _repo: &'a RepoRef,
        _id: u64,
    ) -> BoxFuture<'a, Result<()>> {
        let forge = self.kind().name;
        async move { Err(Error::NoDeployTokens { forge }) }.boxed()
    }
}

/// What the forge flags ask for.
#[derive(Debug, Clone)]
pub struct ForgeSettings {
    pub repository: RepoRef,
    pub owner: OwnerKind,
    pub visibility: Visibility,
    pub branch: String,
    pub teams: Vec<TeamGrant>,
    pub read_write_key: bool,
    /// Bring settings and team permissions of an existing repository to what the flags say.
    pub reconcile: bool,
}

/// A forge bootstrap as the command line asks for it.
pub struct ForgeRequest {
    pub kind: &'static ForgeKind,
    /// `--hostname` (the forge's default when not given).
    pub hostname: Option<String>,
    pub settings: ForgeSettings,
    /// `--token-auth`: the cluster syncs over HTTPS with the token instead of a deploy key.
    pub token_auth: bool,
    /// GitLab's `--deploy-token-auth`: the cluster syncs over HTTPS with a project deploy
    /// token that bootstrap creates.
    pub deploy_token_auth: bool,
    /// `--ssh-hostname`: `host[:port]` of the SSH server when it differs from `--hostname`.
    pub ssh_hostname: Option<String>,
    pub ca_file: Option<PathBuf>,
}

impl ForgeRequest {
    pub fn endpoints(&self) -> Result<Endpoints> {
        (self.kind.endpoints)(
            self.hostname
                .as_deref()
                .unwrap_or(self.kind.default_hostname),
        )
    }

    /// The URL the cluster syncs from: SSH (a deploy key), or HTTPS with `--token-auth` or
    /// `--deploy-token-auth`.
    pub fn sync_url(&self) -> Result<String> {
        let endpoints = self.endpoints()?;
        let repo = &self.settings.repository;
        Ok(if self.token_auth || self.deploy_token_auth {
            endpoints.https_url(repo)
        } else {
            endpoints.ssh_url(self.ssh_hostname.as_deref(), repo)
        })
    }

    /// The host for bootstrap, with its API client.
    pub fn host(&self, token: SecretString, timeout: Duration) -> Result<ForgeHost> {
        let endpoints = self.endpoints()?;
        let api = (self.kind.connect)(ClientOptions {
            endpoints: &endpoints,
            token: &token,
            ca_file: self.ca_file.as_deref(),
            timeout,
        })?;
        Ok(ForgeHost::new(
            api,
            endpoints,
            self.settings.clone(),
            token,
            self.ca_file.clone(),
        ))
    }
}

/// Parses `--team name[:permission]` (permission `maintain` when not given, as flux).
pub fn parse_team(value: &str) -> std::result::Result<TeamGrant, String> {
    let (name, permission) = match value.split_once(':') {
        Some((name, permission)) => (name.trim(), permission.trim()),
        None => (value.trim(), "maintain"),
    };
    if name.is_empty() || permission.is_empty() {
        return Err("expected <team>[:<permission>], e.g. platform:maintain".to_string());
    }
    Ok(TeamGrant {
        name: name.to_string(),
        permission: permission.to_string(),
    })
}

/// A repository on a forge, reached through its API with a token.
pub struct ForgeHost {
    api: Box<dyn ForgeApi>,
    /// What this run changed on the forge, for the report.
    changes: std::sync::Mutex<Vec<String>>,
    endpoints: Endpoints,
    settings: ForgeSettings,
    token: SecretString,
    ca_file: Option<PathBuf>,
}

impl ForgeHost {
    pub fn new(
        api: Box<dyn ForgeApi>,
        endpoints: Endpoints,
        settings: ForgeSettings,
        token: SecretString,
        ca_file: Option<PathBuf>,
    ) -> ForgeHost {
        ForgeHost {
            api,
            changes: std::sync::Mutex::default(),
            endpoints,
            settings,
            token,
            ca_file,
        }
    }

    /// The remote bootstrap clones and pushes with: HTTPS with the token (as flux), whatever
    /// the source-controller then uses.
    pub fn push_remote(&self) -> Remote {
        Remote {
            url: self.endpoints.https_url(&self.settings.repository),
            auth: Auth::Basic {
                username: "git".to_string(),
                password: self.token.clone(),
            },
            ca_file: self.ca_file.clone(),
            insecure_http: false,
        }
    }

    pub fn settings(&self) -> &ForgeSettings {
        &self.settings
    }

    fn note(&self, change: String) {
        self.changes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(change);
    }

    fn repository_name(&self) -> String {
        self.settings.repository.to_string()
    }

    /// Step 1 and 2 of the module documentation.
    async fn reconcile_repository(&self, ui: &Ui) -> crate::error::Result<Repository> {
        let repo = &self.settings.repository;
        let wanted = RepositorySettings {
            visibility: self.settings.visibility,
            default_branch: self.settings.branch.clone(),
        };
        let kind = self.api.kind();
        let found = match self.api.get_repository(repo).await? {
            Some(info) => {
                ui.progress()
                    .success(format!("repository {repo} exists on {}", kind.name));
                if self.settings.reconcile {
                    self.reconcile_settings(&info, &wanted, ui).await?;
                }
                self.check_branch(&info).await?;
                Repository::Existing
            }
            None => {
                self.check_owner().await?;
                ui.progress().action(format!(
                    "creating {} repository {repo} on {}",
                    wanted.visibility.as_str(),
                    kind.name
                ));
                self.api
                    .create_repository(repo, self.settings.owner, &wanted)
                    .await?;
                ui.progress().success(format!("repository {repo} created"));
                self.note(format!("created repository {repo}"));
                Repository::Created
            }
        };
        self.reconcile_teams(ui).await;
        Ok(found)
    }

    /// Before creating: the owner must be the token's user (`--personal`) or an existing
    /// organisation.
    async fn check_owner(&self) -> Result<()> {
        let owner = &self.settings.repository.owner;
        match self.settings.owner {
            OwnerKind::User => {
                let login = self.api.current_user().await?;
                if !login.eq_ignore_ascii_case(owner) {
                    return Err(Error::OwnerMismatch {
                        owner: owner.clone(),
                        login,
                    });
                }
            }
            OwnerKind::Organisation => {
                if !self.api.organisation_exists(owner).await? {
                    return Err(Error::OrganisationNotFound {
                        forge: self.api.kind().name,
                        organisation: owner.clone(),
                        host: self.api.host(),
                    });
                }
            }
        }
        Ok(())
    }

    async fn reconcile_settings(
        &self,
        info: &RepositoryInfo,
        wanted: &RepositorySettings,
        ui: &Ui,
    ) -> Result<()> {
        let branch_differs =
            !info.empty && info.default_branch.as_deref() != Some(wanted.default_branch.as_str());
        if info.visibility == wanted.visibility && !branch_differs {
            return Ok(());
        }
        // The default branch can only name an existing branch: before the first push it
        // is left as it is.
        let mut settings = wanted.clone();
        if info.empty
            || !self
                .api
                .branch_exists(&self.settings.repository, &wanted.default_branch)
                .await?
        {
            settings.default_branch = info.default_branch.clone().unwrap_or_default();
            if info.visibility == wanted.visibility {
                return Ok(());
            }
        }
        ui.progress().action(format!(
            "updating repository {}: {}, default branch {}",
            self.settings.repository,
            settings.visibility.as_str(),
            settings.default_branch
        ));
        self.api
            .update_repository(&self.settings.repository, &settings)
            .await?;
        ui.progress().success("repository settings reconciled");
        self.note(format!(
            "updated repository {}: {}, default branch {}",
            self.settings.repository,
            settings.visibility.as_str(),
            settings.default_branch
        ));
        Ok(())
    }

    /// A repository with history must have `--branch` (an unrelated new branch would not be
    /// what the user meant).
    async fn check_branch(&self, info: &RepositoryInfo) -> Result<()> {
        let branch = &self.settings.branch;
        if info.empty || info.default_branch.as_deref() == Some(branch.as_str()) {
            return Ok(());
        }
        if self
            .api
            .branch_exists(&self.settings.repository, branch)
            .await?
        {
            return Ok(());
        }
        Err(Error::BranchMissing {
            repository: self.repository_name(),
            branch: branch.clone(),
            default_branch: info.default_branch.clone().unwrap_or_default(),
        })
    }

    /// Teams of an organisation's repository; each failure is a warning, as in flux.
    async fn reconcile_teams(&self, ui: &Ui) {
        if self.settings.teams.is_empty() {
            return;
        }
        if self.settings.owner == OwnerKind::User {
            ui.progress()
                .warning("--team applies to organisation repositories; ignored with --personal");
            return;
        }
        let repo = &self.settings.repository;
        for team in &self.settings.teams {
            let outcome = async {
                match self.api.team_access(repo, team).await? {
                    TeamAccess::Granted => Ok(false),
                    TeamAccess::Other(_) if !self.settings.reconcile => Ok(false),
                    TeamAccess::Missing | TeamAccess::Other(_) => {
                        self.api.grant_team(repo, team).await.map(|()| true)
                    }
                }
            }
            .await;
            match outcome {
                Ok(true) => {
                    let change = format!(
                        "granted {} permissions to team {}",
                        team.permission, team.name
                    );
                    ui.progress().success(&change);
                    self.note(change);
                }
                Ok(false) => {}
                Err(err) => ui.progress().warning(format!(
                    "failed to grant {} permissions to team {}: {err}",
                    team.permission, team.name
                )),
            }
        }
    }

    /// Step 3: the deploy key, created, kept or replaced.
    async fn reconcile_deploy_key(
        &self,
        title: &str,
        public_key: &str,
        ui: &Ui,
    ) -> crate::error::Result<()> {
        let repo = &self.settings.repository;
        let read_only = !self.settings.read_write_key;
        let access = if read_only { "read-only" } else { "read-write" };
        let existing = self
            .api
            .list_deploy_keys(repo)
            .await
            .map_err(|err| self.no_access(err, "listing deploy keys"))?;
        let same_title: Vec<&ForgeKey> = existing.iter().filter(|k| k.title == title).collect();
        if let [only] = same_title.as_slice()
            && same_key(&only.key, public_key)
            && only.read_only == read_only
        {
            ui.progress()
                .success(format!("deploy key \"{title}\" is registered ({access})"));
            return Ok(());
        }
        for old in &same_title {
            ui.progress()
                .action(format!("replacing deploy key \"{title}\" (id {})", old.id));
            self.api
                .delete_deploy_key(repo, old.id)
                .await
                .map_err(|err| self.no_access(err, "deleting a deploy key"))?;
        }
        let new = NewKey {
            title: title.to_string(),
            key: normalized_key(public_key),
            read_only,
        };
        self.api
            .add_deploy_key(repo, &new)
            .await
            .map_err(|err| match err.status() {
                Some(422) | Some(400) => Error::KeyRejected {
                    forge: self.api.kind().name,
                    repository: self.repository_name(),
                    message: match err {
                        Error::Api { message, .. } => message,
                        other => other.to_string(),
                    },
                    rsa: public_key.starts_with("ssh-rsa"),
                },
                _ => self.no_access(err, "adding a deploy key"),
            })?;
        let change = format!(
            "{} deploy key \"{title}\" ({access})",
            if same_title.is_empty() {
                "registered"
            } else {
                "replaced"
            }
        );
        ui.progress().success(&change);
        self.note(change);
        Ok(())
    }

    /// `--deploy-token-auth`: the deploy token named `name`, kept when the source Secret's
    /// `kept` user name and password are those of an active token of that name with
    /// [`DEPLOY_TOKEN_SCOPE`]; otherwise tokens of that name are revoked (their secrets are
    /// lost: GitLab shows a secret only once) and a new one is created. Returns the user name
    /// and secret for the source Secret.
    async fn reconcile_deploy_token(
        &self,
        name: &str,
        kept: Option<(String, SecretString)>,
        ui: &Ui,
    ) -> crate::error::Result<(String, SecretString)> {
        let repo = &self.settings.repository;
        let tokens = self
            .api
            .list_deploy_tokens(repo)
            .await
            .map_err(|err| self.no_access(err, "listing deploy tokens"))?;
        let same_name: Vec<&ForgeDeployToken> = tokens.iter().filter(|t| t.name == name).collect();
        if let Some((username, password)) = kept
            && same_name
                .iter()
                .any(|t| t.username == username && t.scopes.iter().any(|s| s == DEPLOY_TOKEN_SCOPE))
        {
            ui.progress().success(format!(
                "deploy token \"{name}\" is registered (user {username})"
            ));
            return Ok((username, password));
        }
        for old in &same_name {
            ui.progress().action(format!(
                "revoking deploy token \"{name}\" (id {}): the source Secret does not hold it",
                old.id
            ));
            self.api
                .revoke_deploy_token(repo, old.id)
                .await
                .map_err(|err| self.no_access(err, "revoking a deploy token"))?;
        }
        let (token, secret) = self
            .api
            .create_deploy_token(repo, name)
            .await
            .map_err(|err| self.no_access(err, "creating a deploy token"))?;
        let change = format!(
            "{} deploy token \"{name}\" (user {}, scope {DEPLOY_TOKEN_SCOPE})",
            if same_name.is_empty() {
                "created"
            } else {
                "replaced"
            },
            token.username
        );
        ui.progress().success(&change);
        self.note(change);
        Ok((token.username, secret))
    }

    /// 403 and 404 on key operations mean missing scope or admin rights.
    fn no_access(&self, err: Error, operation: &str) -> Error {
        match err.status() {
            Some(status @ (403 | 404)) => Error::NoAccess {
                forge: self.api.kind().name,
                status,
                operation: operation.to_string(),
                repository: self.repository_name(),
                scopes: self.api.kind().token_scopes,
            },
            _ => err,
        }
    }
}

/// `<type> <base64>` of an authorized_keys line (forges drop or add comments).
fn normalized_key(key: &str) -> String {
    key.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

fn same_key(a: &str, b: &str) -> bool {
    normalized_key(a) == normalized_key(b)
}

impl RepositoryHost for ForgeHost {
    fn ensure_repository<'a>(
        &'a self,
        ui: &'a Ui,
    ) -> BoxFuture<'a, crate::error::Result<Repository>> {
        self.reconcile_repository(ui).boxed()
    }

    fn authorize_deploy_key<'a>(
        &'a self,
        grant: KeyGrant<'a>,
        ui: &'a Ui,
    ) -> BoxFuture<'a, crate::error::Result<()>> {
        async move {
            self.reconcile_deploy_key(&grant.title, &grant.key.public_key, ui)
                .await
        }
        .boxed()
    }

    fn changes(&self) -> Vec<String> {
        self.changes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn key_access(&self) -> KeyAccess {
        if self.settings.read_write_key {
            KeyAccess::ReadWrite
        } else {
            KeyAccess::ReadOnly
        }
    }

    fn sync_token<'a>(
        &'a self,
        name: String,
        kept: Option<(String, SecretString)>,
        ui: &'a Ui,
    ) -> BoxFuture<'a, crate::error::Result<(String, SecretString)>> {
        async move { self.reconcile_deploy_token(&name, kept, ui).await }.boxed()
    }

    fn check_kept_key<'a>(
        &'a self,
        title: String,
        public_key: String,
        ui: &'a Ui,
    ) -> BoxFuture<'a, crate::error::Result<()>> {
        async move {
            if public_key.is_empty() {
                ui.progress().warning(
                    "the source Secret has no identity.pub: its deploy key on the forge is not checked",
                );
                return Ok(());
            }
            self.reconcile_deploy_key(&title, &public_key, ui).await
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests;
