//! The flags of `kubectl gitops bootstrap gitea` (and the other forges): the repository on
//! the forge, its token and settings, plus everything `bootstrap git` shares.

use std::path::PathBuf;

use secrecy::SecretString;

use super::bootstrap::CommonArgs;
use crate::bootstrap::Credentials;
use crate::bootstrap::host::forge::{
    self, ForgeKind, ForgeRequest, ForgeSettings, OwnerKind, RepoRef, TeamGrant, Visibility,
};
use crate::error::Result;
use crate::ui::Ui;

/// Create the repository on the forge when it is missing (empty, private by default), commit
/// Flux's components and sync configuration to it, register the deploy key the cluster syncs
/// with through the forge's API, install Flux and wait until the cluster follows the
/// repository. Re-running it with the same options changes nothing and makes no API write.
///
/// The token comes from the forge's environment variable (GITHUB_TOKEN, GITLAB_TOKEN,
/// GITEA_TOKEN), --token-file, or a
/// prompt on a terminal; it is used for the API and for pushing over HTTPS, and stays out of
/// the cluster unless --token-auth makes it the sync credential.
#[derive(clap::Args)]
pub struct ForgeArgs {
    /// Owner of the repository: an organisation, or the token's user with --personal
    #[arg(long, value_name = "NAME")]
    owner: String,
    /// Name of the repository (created when missing)
    #[arg(long, value_name = "NAME")]
    repository: String,
    /// The owner is the token's user, not an organisation
    #[arg(long)]
    personal: bool,
    /// Create the repository private (--private=false: public)
    #[arg(long, value_name = "BOOL", default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    private: bool,
    /// The forge's address: a host name (https) or a base URL such as http://127.0.0.1:3000
    #[arg(long, value_name = "HOST")]
    hostname: Option<String>,
    /// PEM file of certificate authorities to trust for the forge's HTTPS (API and Git)
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// File holding the access token (instead of the environment variable or the prompt)
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Team to give access to the repository, as name[:permission] (default maintain); repeatable
    #[arg(long = "team", value_name = "NAME[:PERMISSION]", value_parser = forge::parse_team)]
    teams: Vec<TeamGrant>,
    /// Register the deploy key with write access (for image automation)
    #[arg(long)]
    read_write_key: bool,
    /// Sync over HTTPS with the token (stored in the cluster's Secret) instead of a deploy key
    #[arg(long)]
    token_auth: bool,
    /// Bring visibility and default branch of an existing repository, and team access, to what the flags say
    #[arg(long)]
    reconcile: bool,
    #[command(flatten)]
    common: CommonArgs,
}

/// `bootstrap gitlab`: the forge flags plus GitLab's project visibility and deploy tokens.
#[derive(clap::Args)]
pub struct GitLabArgs {
    /// Visibility of the project when it is created (or with --reconcile); --private=false means public
    #[arg(long, value_enum)]
    visibility: Option<VisibilityArg>,
    /// Sync over HTTPS with a project deploy token (read_repository) that bootstrap creates, instead of an SSH deploy key
    #[arg(long)]
    deploy_token_auth: bool,
    #[command(flatten)]
    forge: ForgeArgs,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum VisibilityArg {
    Private,
    Internal,
    Public,
}

impl GitLabArgs {
    pub async fn run(&self, ui: &Ui) -> Result<()> {
        let visibility = self.visibility.map(|v| match v {
            VisibilityArg::Private => Visibility::Private,
            VisibilityArg::Internal => Visibility::Internal,
            VisibilityArg::Public => Visibility::Public,
        });
        if self.deploy_token_auth && self.forge.token_auth {
            return Err(crate::Error::InvalidUsage(
                "--token-auth and --deploy-token-auth both choose what the cluster syncs with: pass one of them".to_string(),
            ));
        }
        if self.deploy_token_auth && self.forge.read_write_key {
            return Err(crate::Error::InvalidUsage(
                "--read-write-key gives the cluster write access, and a GitLab deploy token can only read (read_repository): drop --deploy-token-auth to sync with a read-write deploy key, or drop --read-write-key".to_string(),
            ));
        }
        let options = GitLabOptions {
            visibility,
            deploy_token_auth: self.deploy_token_auth,
        };
        run_with(&forge::GITLAB, &self.forge, options, ui).await
    }
}

/// What only `bootstrap gitlab` adds to the forge flags.
#[derive(Default)]
struct GitLabOptions {
    /// `--visibility`, which overrides `--private`.
    visibility: Option<Visibility>,
    deploy_token_auth: bool,
}

impl ForgeArgs {
    fn request(&self, kind: &'static ForgeKind) -> ForgeRequest {
        ForgeRequest {
            kind,
            hostname: self.hostname.clone(),
            settings: ForgeSettings {
                repository: RepoRef {
                    owner: self.owner.clone(),
                    name: self.repository.clone(),
                },
                owner: if self.personal {
                    OwnerKind::User
                } else {
                    OwnerKind::Organisation
                },
                visibility: if self.private {
                    Visibility::Private
                } else {
                    Visibility::Public
                },
                branch: self.common.branch().to_string(),
                teams: self.teams.clone(),
                read_write_key: self.read_write_key,
                reconcile: self.reconcile,
            },
            token_auth: self.token_auth,
            deploy_token_auth: false,
            ssh_hostname: self.common.ssh_hostname(),
            ca_file: self.ca_file.clone(),
        }
    }
}

pub async fn run(kind: &'static ForgeKind, args: &ForgeArgs, ui: &Ui) -> Result<()> {
    run_with(kind, args, GitLabOptions::default(), ui).await
}

/// [`run`], with GitLab's own flags.
async fn run_with(
    kind: &'static ForgeKind,
    args: &ForgeArgs,
    gitlab: GitLabOptions,
    ui: &Ui,
) -> Result<()> {
    args.common.check_usage()?;
    let mut request = args.request(kind);
    if let Some(visibility) = gitlab.visibility {
        request.settings.visibility = visibility;
    }
    request.deploy_token_auth = gitlab.deploy_token_auth;
    let url = request.sync_url()?;
    // A dry run contacts nothing, so it needs no token.
    let token = if args.common.dry_run() {
        None
    } else {
        Some(forge::token::read_token(
            kind,
            args.token_file.as_deref(),
            ui,
        )?)
    };
    let credentials = if gitlab.deploy_token_auth {
        Credentials::DeployToken {
            ca_file: args.ca_file.clone(),
        }
    } else if args.token_auth {
        Credentials::Token {
            username: "git".to_string(),
            password: token.clone().unwrap_or_else(|| SecretString::from("")),
            ca_file: args.ca_file.clone(),
            bearer: false,
        }
    } else {
        Credentials::Ssh {
            private_key_file: None,
            passphrase: None,
            key: args.common.key_options(),
            host_key_algorithms: args.common.host_key_algorithms(),
        }
    };
    let host = match token {
        Some(token) => Some(request.host(token, args.common.timeout()?)?),
        None => None,
    };
    let options = args.common.options(url, credentials, host)?;
    args.common.execute(options, ui).await
}
