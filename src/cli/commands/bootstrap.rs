//! `kubectl gitops bootstrap git`.

use std::path::PathBuf;

use secrecy::SecretString;

use super::bootstrap_forge::{ForgeArgs, GitLabArgs};
use crate::bootstrap::host::forge::{ForgeHost, GITEA, GITHUB};
use crate::bootstrap::{self, BootstrapOptions, Credentials};
use crate::cli::args::{flux_namespace, json_or_yaml, parse_duration};
use crate::cluster::connection::ConnectionFlags;
use crate::error::Result;
use crate::git::{KeyAlgorithm, Signature};
use crate::manifests::InstallFlags;
use crate::ui::Ui;
use crate::ui::output::OutputFormat;

#[derive(clap::Args)]
pub struct BootstrapArgs {
    #[command(subcommand)]
    provider: Provider,
}

#[derive(clap::Subcommand)]
enum Provider {
    /// Bootstrap from any Git server, over SSH (a deploy key) or HTTPS (a token)
    Git(Box<GitArgs>),
    /// Bootstrap from a Gitea repository, created and given a deploy key through Gitea's API
    Gitea(Box<ForgeArgs>),
    /// Bootstrap from a GitHub (or GitHub Enterprise) repository, created and given a deploy key through GitHub's API
    Github(Box<ForgeArgs>),
    /// Bootstrap from a GitLab project, created and given a deploy key through GitLab's API
    Gitlab(Box<GitLabArgs>),
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum SshKeyAlgorithm {
    Ecdsa,
    Ed25519,
    Rsa,
}

/// Commit Flux's components and sync configuration to a Git repository, install them in the
/// cluster, and wait until the cluster follows the repository. Re-running it with the same
/// options changes nothing; with a new --version it upgrades Flux through Git.
///
/// The files go to <path>/<namespace>/ (gotk-components.yaml, gotk-sync.yaml, and
/// kustomization.yaml when absent), as the flux CLI writes them.
#[derive(clap::Args)]
struct GitArgs {
    /// Repository URL: ssh://user@host[:port]/path (deploy key) or https://host/path with --token-auth
    #[arg(long, value_name = "URL")]
    url: String,
    #[command(flatten)]
    common: CommonArgs,
    /// An SSH private key (OpenSSH format) to use instead of a generated deploy key
    #[arg(long, value_name = "FILE")]
    private_key_file: Option<PathBuf>,
    /// Authenticate over HTTPS with --username and --password (a token) instead of SSH
    #[arg(long)]
    token_auth: bool,
    /// User name for --token-auth
    #[arg(short = 'u', long, default_value = "git")]
    username: String,
    /// Password or token for --token-auth; better from GIT_PASSWORD or the prompt (a flag shows in the process list)
    #[arg(short = 'p', long, env = "GIT_PASSWORD", hide_env_values = true, value_parser = parse_secret)]
    password: Option<SecretString>,
    /// PEM file of the certificate authorities of a Git server with a private CA
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
}

/// The flags every bootstrap subcommand shares: what goes into the repository and the
/// cluster, and how the run behaves.
#[derive(clap::Args)]
pub(super) struct CommonArgs {
    /// Branch to commit to and sync from
    #[arg(long, default_value = "main")]
    branch: String,
    /// The cluster's folder in the repository (e.g. clusters/production)
    #[arg(long, value_name = "PATH", default_value = "")]
    path: String,
    /// How often the source-controller fetches the repository
    #[arg(long, value_name = "DURATION", default_value = "1m")]
    interval: String,
    /// Name of the Secret holding the repository credentials
    #[arg(long, value_name = "NAME", default_value = "flux-system")]
    secret_name: String,
    /// Author of the commits
    #[arg(long, value_name = "NAME", default_value = "Flux")]
    author_name: String,
    /// Email of the commits' author
    #[arg(long, value_name = "EMAIL", default_value = "")]
    author_email: String,
    /// Text appended to the commit messages (e.g. "[skip ci]")
    #[arg(long, value_name = "TEXT")]
    commit_message_appendix: Option<String>,
    /// Algorithm of the generated SSH deploy key
    #[arg(long, value_enum, default_value = "ecdsa")]
    ssh_key_algorithm: SshKeyAlgorithm,
    /// How long the whole bootstrap may take, waits included
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    timeout: String,
    /// Print the files bootstrap would commit and the objects it would apply; touch nothing
    #[arg(long, alias = "export")]
    dry_run: bool,
    /// Do not ask for confirmation (another tool's install, a new deploy key)
    #[arg(short = 'y', long, alias = "silent")]
    yes: bool,
    /// Print the result as JSON or YAML
    #[arg(short = 'o', long, value_name = "FORMAT", value_parser = json_or_yaml())]
    output: Option<OutputFormat>,
    #[command(flatten)]
    install: InstallFlags,
    #[command(flatten)]
    connection: ConnectionFlags,
}

impl CommonArgs {
    pub(super) fn dry_run(&self) -> bool {
        self.dry_run
    }

    pub(super) fn branch(&self) -> &str {
        &self.branch
    }

    pub(super) fn timeout(&self) -> Result<std::time::Duration> {
        parse_duration("--timeout", &self.timeout)
    }

    pub(super) fn key_algorithm(&self) -> KeyAlgorithm {
        match self.ssh_key_algorithm {
            SshKeyAlgorithm::Ecdsa => KeyAlgorithm::Ecdsa,
            SshKeyAlgorithm::Ed25519 => KeyAlgorithm::Ed25519,
            SshKeyAlgorithm::Rsa => KeyAlgorithm::Rsa,
        }
    }

    /// The library's options for these flags, the repository `url` and `credentials`.
    pub(super) fn options(
        &self,
        url: String,
        credentials: Credentials,
        forge: Option<ForgeHost>,
    ) -> Result<BootstrapOptions> {
        let namespace = flux_namespace(&self.connection);
        Ok(BootstrapOptions {
            install: self.install.options(&namespace)?,
            url,
            branch: self.branch.clone(),
            path: self.path.clone(),
            interval: parse_duration("--interval", &self.interval)?,
            secret_name: self.secret_name.clone(),
            author: Signature {
                name: self.author_name.clone(),
                email: self.author_email.clone(),
            },
            commit_message_appendix: self.commit_message_appendix.clone(),
            credentials,
            timeout: self.timeout()?,
            assume_yes: self.yes,
            forge,
        })
    }

    /// Refuses flags that cannot go together, before anything else.
    pub(super) fn check_usage(&self) -> Result<()> {
        if self.dry_run && self.output.is_some() {
            return Err(crate::Error::InvalidUsage(
                "--dry-run prints the files as they would be committed; -o formats the report of a real bootstrap: drop one of them".to_string(),
            ));
        }
        Ok(())
    }

    /// Runs bootstrap (or prints the dry run) and reports.
    pub(super) async fn execute(&self, options: BootstrapOptions, ui: &Ui) -> Result<()> {
        // Everything the command line alone can get wrong is found before any network call.
        bootstrap::preflight::check(&options)?;
        if self.dry_run {
            let plan = bootstrap::plan(&options).await?;
            let mut text = String::new();
            for (path, content) in &plan.files {
                text += &format!("# {path}\n{content}");
            }
            text += &format!(
                "# Besides the objects above, bootstrap would apply the Secret {}/{} (credentials, never written to Git).\n# kustomization.yaml is written only where the folder has none.\n",
                options.install.namespace, options.secret_name
            );
            return ui.out(&text);
        }
        let connection = self.connection.connect().await?;
        let report = bootstrap::bootstrap(&connection, &options, ui).await?;
        ui.report(self.output, &report, |report| {
            if report.nothing_changed() {
                format!(
                    "✔ bootstrap finished: nothing changed, the cluster is synced to {}\n",
                    report.revision
                )
            } else {
                let forge = match report.forge_changes.len() {
                    0 => String::new(),
                    1 => ", 1 change on the forge".to_string(),
                    n => format!(", {n} changes on the forge"),
                };
                format!(
                    "✔ bootstrap finished: the cluster is synced to {} ({} commits pushed, {} objects changed{forge})\n",
                    report.revision,
                    report.commits.len(),
                    report.changed_objects.len() + usize::from(report.secret_changed)
                )
            }
        })
    }
}

fn parse_secret(value: &str) -> std::result::Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(value))
}

pub async fn run(args: BootstrapArgs, ui: &Ui) -> Result<()> {
    match args.provider {
        Provider::Git(args) => {
            args.common.check_usage()?;
            let options = git_options(&args, ui)?;
            args.common.execute(options, ui).await
        }
        Provider::Gitea(args) => super::bootstrap_forge::run(&GITEA, &args, ui).await,
        Provider::Github(args) => super::bootstrap_forge::run(&GITHUB, &args, ui).await,
        Provider::Gitlab(args) => args.run(ui).await,
    }
}

/// The library's options from `bootstrap git`'s flags; the password is asked for here when
/// needed.
fn git_options(args: &GitArgs, ui: &Ui) -> Result<BootstrapOptions> {
    let credentials = if args.token_auth {
        Credentials::Token {
            username: args.username.clone(),
            password: match args.password.clone() {
                Some(password) => password,
                None => ui.password(
                    "Git password or token",
                    "--token-auth needs a password or token: set GIT_PASSWORD (or pass --password)",
                )?,
            },
            ca_file: args.ca_file.clone(),
        }
    } else {
        Credentials::Ssh {
            private_key_file: args.private_key_file.clone(),
            algorithm: args.common.key_algorithm(),
        }
    };
    args.common.options(args.url.clone(), credentials, None)
}
