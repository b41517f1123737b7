//! `kubectl gitops bootstrap git`.

use std::path::PathBuf;

use secrecy::SecretString;

use super::bootstrap_forge::{ForgeArgs, GitLabArgs};
use crate::bootstrap::host::forge::{ForgeHost, GITEA, GITHUB};
use crate::bootstrap::{self, BootstrapOptions, Credentials};
use crate::cli::args::{flux_namespace, json_or_yaml, parse_duration};
use crate::cluster::connection::ConnectionFlags;
use crate::error::Result;
use crate::git::{Curve, KeyAlgorithm, KeyOptions, Signature, SigningKey};
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

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum SshEcdsaCurve {
    P256,
    P384,
    P521,
}

/// Commit Flux's components and sync configuration to a Git repository, install them in the
/// cluster, and wait until the cluster follows the repository. Re-running it with the same
/// options changes nothing; with a new --version it upgrades Flux through Git.
///
/// The files go to <path>/<namespace>/ (gotk-components.yaml, gotk-sync.yaml, and
/// kustomization.yaml when absent), as the flux CLI writes them.
#[derive(clap::Args)]
struct GitArgs {
    /// Repository URL: ssh://user@host[:port]/path (deploy key) or https://host/path with --token-auth (http:// with --allow-insecure-http)
    #[arg(long, value_name = "URL")]
    url: String,
    #[command(flatten)]
    common: CommonArgs,
    /// An SSH private key to use instead of a generated deploy key: OpenSSH (with or without a passphrase, given as --password) or PEM (PKCS#1, SEC1, PKCS#8)
    #[arg(long, value_name = "FILE")]
    private_key_file: Option<PathBuf>,
    /// Authenticate over HTTPS with --username and --password (a token) instead of SSH
    #[arg(long)]
    token_auth: bool,
    /// Send --password as a bearer token (Authorization: Bearer) over HTTPS; implies --token-auth
    #[arg(long)]
    with_bearer_token: bool,
    /// User name for --token-auth
    #[arg(short = 'u', long, default_value = "git")]
    username: String,
    /// Password or token for --token-auth, or the passphrase of --private-key-file; better from GIT_PASSWORD or the prompt (a flag shows in the process list)
    #[arg(short = 'p', long, env = "GIT_PASSWORD", hide_env_values = true, value_parser = parse_secret)]
    password: Option<SecretString>,
    /// Allow a plain http:// URL (with --token-auth): the token and the content travel unencrypted
    #[arg(long)]
    allow_insecure_http: bool,
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
    /// Curve of a generated ECDSA deploy key
    #[arg(long, value_enum, default_value = "p384")]
    ssh_ecdsa_curve: SshEcdsaCurve,
    /// Size of a generated RSA deploy key (at least 1024, a multiple of 8)
    #[arg(long, value_name = "BITS", default_value_t = crate::git::RSA_BITS)]
    ssh_rsa_bits: usize,
    /// SSH host[:port] the cluster syncs from when it differs from the Git host (--url's, or the forge's --hostname with port 22)
    #[arg(long, value_name = "HOST[:PORT]")]
    ssh_hostname: Option<String>,
    /// Host key algorithms to scan and trust, comma-separated (Azure DevOps: rsa-sha2-512,rsa-sha2-256)
    #[arg(long, value_name = "ALGORITHMS", value_delimiter = ',')]
    ssh_hostkey_algos: Vec<String>,
    /// Make the GitRepository include the repository's Git submodules (with the same credentials)
    #[arg(long)]
    recurse_submodules: bool,
    /// Folders the GitRepository checks out, comma-separated; --path must be one of them
    #[arg(long, value_name = "FOLDERS", value_delimiter = ',')]
    sparse_checkout: Vec<String>,
    /// How long the whole bootstrap may take, waits included
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    timeout: String,
    /// Print the files bootstrap would commit and the objects it would apply; touch nothing
    #[arg(long, alias = "export")]
    dry_run: bool,
    /// Do not ask for confirmation (another tool's install, a new deploy key)
    #[arg(short = 'y', long)]
    yes: bool,
    /// Assume the generated deploy key is given access: do not ask (flux's --silent; -s is --server here)
    #[arg(long)]
    silent: bool,
    /// Take over a Flux install that another tool manages (Helm, flux-operator) without asking
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    signing: SigningArgs,
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

    /// How a generated deploy key is made.
    pub(super) fn key_options(&self) -> KeyOptions {
        KeyOptions {
            algorithm: match self.ssh_key_algorithm {
                SshKeyAlgorithm::Ecdsa => KeyAlgorithm::Ecdsa,
                SshKeyAlgorithm::Ed25519 => KeyAlgorithm::Ed25519,
                SshKeyAlgorithm::Rsa => KeyAlgorithm::Rsa,
            },
            curve: match self.ssh_ecdsa_curve {
                SshEcdsaCurve::P256 => Curve::P256,
                SshEcdsaCurve::P384 => Curve::P384,
                SshEcdsaCurve::P521 => Curve::P521,
            },
            rsa_bits: self.ssh_rsa_bits,
        }
    }

    /// `--ssh-hostname`.
    pub(super) fn ssh_hostname(&self) -> Option<String> {
        self.ssh_hostname.clone()
    }

    /// `--ssh-hostkey-algos`.
    pub(super) fn host_key_algorithms(&self) -> Vec<String> {
        self.ssh_hostkey_algos.clone()
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
            ssh_hostname: self.ssh_hostname.clone(),
            allow_insecure_http: false,
            recurse_submodules: self.recurse_submodules,
            sparse_checkout: self.sparse_checkout.clone(),
            timeout: self.timeout()?,
            assume_yes: self.yes || self.silent,
            force: self.yes || self.force,
            signing: self.signing.key(),
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

#[derive(clap::Args)]
struct SigningArgs {
    /// Sign the commits with the key in this OpenPGP key ring (gpg --export-secret-keys)
    #[arg(long, value_name = "FILE", conflicts_with = "ssh_signing_key_file")]
    gpg_key_ring: Option<PathBuf>,
    /// Passphrase of the --gpg-key-ring key; better from GPG_PASSPHRASE or the prompt (a flag shows in the process list)
    #[arg(long, value_name = "PASSPHRASE", env = "GPG_PASSPHRASE", hide_env_values = true, value_parser = parse_secret)]
    gpg_passphrase: Option<SecretString>,
    /// Long ID (16 hex digits) of the signing key in --gpg-key-ring; default: its first secret key
    #[arg(long, value_name = "ID", requires = "gpg_key_ring")]
    gpg_key_id: Option<String>,
    /// Sign the commits with this SSH private key (ssh-keygen -Y sign)
    #[arg(long, value_name = "FILE")]
    ssh_signing_key_file: Option<PathBuf>,
    /// Passphrase of --ssh-signing-key-file; better from SSH_SIGNING_PASSWORD or the prompt (a flag shows in the process list)
    #[arg(long, alias = "ssh-signing-passphrase", value_name = "PASSPHRASE", env = "SSH_SIGNING_PASSWORD", hide_env_values = true, value_parser = parse_secret)]
    ssh_signing_password: Option<SecretString>,
}

impl SigningArgs {
    fn key(&self) -> Option<SigningKey> {
        if let Some(key_ring) = &self.gpg_key_ring {
            return Some(SigningKey::OpenPgp {
                key_ring: key_ring.clone(),
                key_id: self.gpg_key_id.clone(),
                passphrase: self.gpg_passphrase.clone(),
            });
        }
        self.ssh_signing_key_file
            .as_ref()
            .map(|key_file| SigningKey::Ssh {
                key_file: key_file.clone(),
                passphrase: self.ssh_signing_password.clone(),
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
    let credentials = if args.token_auth || args.with_bearer_token {
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
            bearer: args.with_bearer_token,
        }
    } else {
        Credentials::Ssh {
            private_key_file: args.private_key_file.clone(),
            passphrase: key_passphrase(args, ui)?,
            key: args.common.key_options(),
            host_key_algorithms: args.common.host_key_algorithms(),
        }
    };
    let mut options = args.common.options(args.url.clone(), credentials, None)?;
    options.allow_insecure_http = args.allow_insecure_http;
    Ok(options)
}

/// The passphrase of a protected --private-key-file: --password (or GIT_PASSWORD), else asked
/// for without echo on a terminal.
fn key_passphrase(args: &GitArgs, ui: &Ui) -> Result<Option<SecretString>> {
    let Some(file) = &args.private_key_file else {
        return Ok(None);
    };
    if args.password.is_some() {
        return Ok(args.password.clone());
    }
    if !crate::git::key_file_is_encrypted(file)? {
        return Ok(None);
    }
    ui.password(
        &format!("Passphrase of {}", file.display()),
        "--private-key-file is protected by a passphrase: set GIT_PASSWORD (or pass --password)",
    )
    .map(Some)
}
