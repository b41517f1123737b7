//! `kubectl gitops bootstrap git`: Flux's components and sync configuration committed to the
//! Git repository that will drive the cluster, applied to the cluster, and waited for, in the
//! steps and with the files, commit messages and Secret of flux2's `pkg/bootstrap`.
//!
//! Everything that can fail without touching anything (flags, manifests download, Git clone,
//! credentials, the path of an existing root Kustomization) is done before the first change,
//! so a failure leaves both the repository and the cluster as they were.
//!
//! See docs/bootstrap.md for the files, the Secret, the steps and the interop with flux.

pub mod error;
pub mod host;
mod plan;
pub mod preflight;
mod push;
pub mod secret;
pub mod sync;
pub mod wait;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::SecretString;

use crate::cluster::apply::{Applied, Change, apply_all};
use crate::cluster::connection::Connection;
use crate::error::{Error, Result};
use crate::flux::discovery::FluxApis;
use crate::flux::install::RootKustomization;
use crate::flux::{GIT_REPOSITORY, KUSTOMIZATION};
use crate::git::{self, Auth, KeyOptions, Remote, Signature};
use crate::manifests::{self, InstallOptions};
use crate::ui::Ui;
use error::Error as BootstrapError;
use host::{PlainGit, RepositoryHost};

pub use plan::{Plan, plan, sync_url};

/// How the source-controller (and bootstrap itself) authenticates to the repository.
pub enum Credentials {
    /// SSH: the key in `private_key_file` (decrypted with `passphrase` when protected), or a
    /// generated deploy key of kind `key` (kept in the cluster's Secret; bootstrap itself then
    /// uses the user's own ssh setup). Only host keys of `host_key_algorithms` (all when empty)
    /// are scanned and trusted.
    Ssh {
        private_key_file: Option<PathBuf>,
        passphrase: Option<SecretString>,
        key: KeyOptions,
        host_key_algorithms: Vec<String>,
    },
    /// HTTPS with a user name and password or token (`--token-auth`), or with the password
    /// sent as a bearer token (`--with-bearer-token`).
    Token {
        username: String,
        password: SecretString,
        ca_file: Option<PathBuf>,
        bearer: bool,
    },
    /// HTTPS with a deploy token the forge issues for this cluster (GitLab's
    /// `--deploy-token-auth`); bootstrap itself pushes with the forge's access token.
    DeployToken { ca_file: Option<PathBuf> },
}

pub struct BootstrapOptions {
    pub install: InstallOptions,
    pub url: String,
    pub branch: String,
    /// The cluster's folder in the repository (normalised, no leading `./`).
    pub path: String,
    pub interval: Duration,
    pub secret_name: String,
    pub author: Signature,
    pub commit_message_appendix: Option<String>,
    pub credentials: Credentials,
    /// `host[:port]` the cluster syncs from over SSH when it differs from `url`'s
    /// (`--ssh-hostname`): the sync URL and the Secret's `known_hosts` name it; bootstrap
    /// itself still pushes to `url`.
    pub ssh_hostname: Option<String>,
    /// Allow a plain `http://` URL, credentials included (`--allow-insecure-http`): bootstrap
    /// pushes and the cluster syncs over it.
    pub allow_insecure_http: bool,
    /// The GitRepository's `spec.recurseSubmodules` (`--recurse-submodules`).
    pub recurse_submodules: bool,
    /// The GitRepository's `spec.sparseCheckout` folders (`--sparse-checkout`), as given.
    pub sparse_checkout: Vec<String>,
    /// For the whole run, waits included (flux: 5m).
    pub timeout: Duration,
    /// Do not ask whether a generated deploy key was given access (`--silent`, `--yes`).
    pub assume_yes: bool,
    /// Take over a Flux install another tool manages without asking (`--force`, `--yes`).
    pub force: bool,
    /// Sign both commits with this key (`--gpg-key-ring` or `--ssh-signing-key-file`).
    pub signing: Option<git::SigningKey>,
    /// The forge whose API creates the repository and registers the deploy key (`bootstrap
    /// gitea|github|gitlab`); `None` for any Git server by URL (`bootstrap git`). Bootstrap
    /// then pushes over HTTPS with the forge's token, and `url` is what the cluster syncs from.
    pub forge: Option<host::forge::ForgeHost>,
}

/// What a bootstrap run did.
#[derive(Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Commits pushed, oldest first.
    pub commits: Vec<String>,
    /// `<branch>@sha1:<commit>` the cluster is synced to.
    pub revision: String,
    /// Objects that server-side apply created or changed.
    pub changed_objects: Vec<String>,
    /// Whether the source Secret was created or changed.
    pub secret_changed: bool,
    /// What bootstrap changed on the forge (repository, settings, teams, deploy key), in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub forge_changes: Vec<String>,
    /// The generated deploy key's public half, when one was generated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deploy_key: Option<String>,
    /// Seconds spent in each phase, for users and the benchmark.
    pub seconds: Phases,
}

/// Wall time of bootstrap's phases, in seconds.
#[derive(Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Phases {
    /// Manifests loaded (download or cache) and generated.
    pub generate: f64,
    /// Clone, commits and push (retries included).
    pub git: f64,
    /// Components, Secrets and sync objects applied to the cluster.
    pub apply: f64,
    /// Waiting for the controllers to reconcile and become available.
    pub wait: f64,
}

impl Report {
    pub fn nothing_changed(&self) -> bool {
        self.commits.is_empty()
            && self.changed_objects.is_empty()
            && !self.secret_changed
            && self.forge_changes.is_empty()
    }
}

/// Runs bootstrap. Progress goes to `ui` step by step, and questions are asked through it.
pub async fn bootstrap(
    connection: &Connection,
    options: &BootstrapOptions,
    ui: &Ui,
) -> Result<Report> {
    let deadline = Instant::now() + options.timeout;
    crate::interrupt::step("checking the cluster");
    let git_version = blocking(git::git_version).await?;
    tracing::debug!("using {git_version}");
    // Everything that may refuse comes before any change.
    let signer = signer(options, ui).await?;
    let root = check_cluster(connection, options, ui).await?;
    let mut report = Report::default();
    let phase = Instant::now();
    let plan = generate(options, ui).await?;
    report.seconds.generate = phase.elapsed().as_secs_f64();
    // The cluster's host keys: of the host it syncs from (`--ssh-hostname`'s, if given).
    let known_hosts = scan_host_keys(options, &plan.sync.url, ui).await?;
    let remote = bootstrap_remote(
        options,
        push_host_keys(options, &plan, &known_hosts, ui).await?,
    )?;
    let plain_git;
    let host: &dyn RepositoryHost = match &options.forge {
        Some(forge) => forge,
        None => {
            plain_git = plain_git_host(options, &plan.sync.url, known_hosts.as_deref());
            &plain_git
        }
    };

    let phase = Instant::now();
    let repository = host.ensure_repository(ui).await?;
    tracing::debug!("repository {}: {repository:?}", options.url);
    let revision = push::commit_and_push(&remote, options, &plan, signer, ui, &mut report).await?;
    report.revision = format!("{}@sha1:{revision}", options.branch);
    report.seconds.git = phase.elapsed().as_secs_f64();

    // The cluster: components (first install only), credentials, sync objects.
    let phase = Instant::now();
    let first_install = root.as_ref().is_none_or(|r| !r.applied);
    install_components(connection, options, &plan, first_install, ui, &mut report).await?;
    secret::reconcile(connection, options, host, known_hosts, ui, &mut report).await?;
    report.forge_changes = host.changes();
    ui.progress().action("applying sync manifests");
    let applied = apply_all(connection, &sync::sync_objects(&plan.sync)).await?;
    note_changes(&mut report, &applied);
    ui.progress().success("reconciled sync configuration");
    report.seconds.apply = phase.elapsed().as_secs_f64();

    let phase = Instant::now();
    wait_for_sync(connection, options, &report, ui, deadline).await?;
    wait_for_components(connection, options, &plan, ui, deadline).await?;
    report.seconds.wait = phase.elapsed().as_secs_f64();
    Ok(report)
}

/// Refuses a cluster synced from another folder of the repository, and asks before taking
/// over a Flux that another tool manages. Returns the root Kustomization, if there is one.
async fn check_cluster(
    connection: &Connection,
    options: &BootstrapOptions,
    ui: &Ui,
) -> Result<Option<RootKustomization>> {
    let namespace = options.install.namespace.as_str();
    let apis = FluxApis::discover(connection).await?;
    let root = crate::flux::install::root_kustomization(connection, &apis, namespace).await?;
    if let Some(existing) = root.as_ref().and_then(|r| r.path.clone())
        && sync::kustomization_path(&existing) != sync::kustomization_path(&options.path)
    {
        return Err(BootstrapError::OtherPath {
            namespace: namespace.to_string(),
            existing,
            requested: sync::kustomization_path(&options.path),
        }
        .into());
    }
    // As flux: no label, or `flux`, is Flux's own install.
    if let Some(install) = crate::flux::installed(connection).await?
        && let Some(tool) = install
            .managed_by
            .filter(|t| t != crate::FIELD_MANAGER && t != "flux")
    {
        ui.confirm(
            &format!(
                "Flux in this cluster is managed by {tool}; bootstrap would take it over (--force does so without asking). Go ahead?"
            ),
            options.force,
        )?;
    }
    Ok(root)
}

/// The commit signer, its key unlocked with a test signature: a missing passphrase is asked
/// for on a terminal, and a wrong one stops bootstrap here, before anything changes.
async fn signer(options: &BootstrapOptions, ui: &Ui) -> Result<Option<Arc<git::Signer>>> {
    let Some(key) = options.signing.clone() else {
        return Ok(None);
    };
    let first = key.clone();
    let signer = match blocking(move || git::Signer::new(&first)).await {
        Err(Error::Git(git::Error::SigningPassphraseNeeded { flag })) if ui.can_ask() => {
            let passphrase = ui.password(
                "Passphrase of the commit signing key",
                match flag {
                    "--gpg-key-ring" => "the --gpg-key-ring key needs a passphrase: set GPG_PASSPHRASE",
                    _ => "the --ssh-signing-key-file key needs a passphrase: set SSH_SIGNING_PASSWORD",
                },
            )?;
            let key = key.with_passphrase(passphrase);
            blocking(move || git::Signer::new(&key)).await?
        }
        other => other?,
    };
    ui.progress().success(format!(
        "commits will be signed ({})",
        match key {
            git::SigningKey::OpenPgp { .. } => "OpenPGP, with gpg",
            git::SigningKey::Ssh { .. } => "SSH, with ssh-keygen",
        }
    ));
    Ok(Some(Arc::new(signer)))
}

/// The plan, with progress lines.
async fn generate(options: &BootstrapOptions, ui: &Ui) -> Result<Plan> {
    ui.progress().action("generating component manifests");
    let plan = plan(options).await?;
    ui.progress().success(format!(
        "generated component manifests for Flux {} ({})",
        plan.manifests.version,
        plan.manifests.components.join(", ")
    ));
    Ok(plan)
}

/// For SSH, the keys of `url`'s host (known_hosts lines), each fingerprint shown to the user.
async fn scan_host_keys(options: &BootstrapOptions, url: &str, ui: &Ui) -> Result<Option<String>> {
    match &options.credentials {
        Credentials::Ssh {
            host_key_algorithms,
            ..
        } => {
            crate::interrupt::step(format!("scanning the SSH host keys of \"{url}\""));
            let url = url.to_string();
            let algorithms = host_key_algorithms.clone();
            let scanned = blocking(move || git::scan_known_hosts_for(&url, &algorithms)).await?;
            for fingerprint in &scanned.fingerprints {
                ui.progress()
                    .success(format!("Git host key: {fingerprint}"));
            }
            Ok(Some(scanned.lines))
        }
        Credentials::Token { .. } | Credentials::DeployToken { .. } => Ok(None),
    }
}

/// The keys bootstrap's own ssh trusts when it pushes with `--private-key-file`: those of
/// `--url`'s host, scanned too when the cluster syncs from another (`--ssh-hostname`).
async fn push_host_keys(
    options: &BootstrapOptions,
    plan: &Plan,
    sync_host_keys: &Option<String>,
    ui: &Ui,
) -> Result<Option<String>> {
    let pushes_with_key_file = options.forge.is_none()
        && matches!(
            options.credentials,
            Credentials::Ssh {
                private_key_file: Some(_),
                ..
            }
        );
    let same_host = git::GitUrl::parse(&options.url)?.known_hosts_name()
        == git::GitUrl::parse(&plan.sync.url)?.known_hosts_name();
    if !pushes_with_key_file || same_host {
        return Ok(sync_host_keys.clone());
    }
    scan_host_keys(options, &options.url, ui).await
}

/// The host of a repository on any Git server by URL; a generated key is tried on the URL
/// the cluster syncs from (`sync_url`), with the host keys it will trust.
fn plain_git_host(
    options: &BootstrapOptions,
    sync_url: &str,
    known_hosts: Option<&str>,
) -> PlainGit {
    PlainGit {
        url: sync_url.to_string(),
        branch: options.branch.clone(),
        known_hosts: known_hosts.unwrap_or_default().to_string(),
        assume_yes: options.assume_yes,
        timeout: options.timeout,
    }
}

/// The remote bootstrap itself clones and pushes with.
fn bootstrap_remote(options: &BootstrapOptions, known_hosts: Option<String>) -> Result<Remote> {
    if let Some(forge) = &options.forge {
        return Ok(forge.push_remote());
    }
    let (auth, ca_file) = match &options.credentials {
        Credentials::Token {
            password,
            ca_file,
            bearer: true,
            ..
        } => (
            Auth::Bearer {
                token: password.clone(),
            },
            ca_file.clone(),
        ),
        Credentials::Token {
            username,
            password,
            ca_file,
            bearer: false,
        } => (
            Auth::Basic {
                username: username.clone(),
                password: password.clone(),
            },
            ca_file.clone(),
        ),
        Credentials::Ssh {
            private_key_file: Some(file),
            passphrase,
            ..
        } => (
            Auth::SshKey {
                // Decrypted in memory; git's ssh gets it the way every SSH key is handed over.
                private_key: git::load_key_file(file, passphrase.as_ref())?
                    .key
                    .private_key,
                known_hosts: known_hosts.unwrap_or_default(),
            },
            None,
        ),
        // A generated key is not authorised yet: bootstrap uses the user's own ssh setup.
        Credentials::Ssh { .. } => (Auth::None, None),
        // Only a forge issues deploy tokens, and a forge pushes with its own token (above).
        Credentials::DeployToken { ca_file } => (Auth::None, ca_file.clone()),
    };
    Ok(Remote {
        url: options.url.clone(),
        auth,
        ca_file,
        insecure_http: options.allow_insecure_http,
    })
}

/// Applies the components (on a first install only: later, Flux upgrades itself from Git) and
/// the registry pull Secret, if any.
async fn install_components(
    connection: &Connection,
    options: &BootstrapOptions,
    plan: &Plan,
    first_install: bool,
    ui: &Ui,
    report: &mut Report,
) -> Result<()> {
    if first_install {
        ui.progress().action(format!(
            "installing components in namespace {}",
            options.install.namespace
        ));
        let applied = apply_all(connection, &plan.manifests.objects).await?;
        note_changes(report, &applied);
        ui.progress().success("installed components");
    }
    if let Some(pull_secret) = manifests::registry_credentials_secret(&options.install) {
        let applied = apply_all(connection, &[pull_secret]).await?;
        note_changes(report, &applied);
    }
    Ok(())
}

fn note_changes(report: &mut Report, applied: &[Applied]) {
    report.changed_objects.extend(
        applied
            .iter()
            .filter(|a| a.change != Change::Unchanged)
            .map(Applied::to_string),
    );
}

/// Waits for the GitRepository, then the root Kustomization, to be Ready at the pushed
/// revision. After a change, each is asked to reconcile now (no waiting for its interval).
async fn wait_for_sync(
    connection: &Connection,
    options: &BootstrapOptions,
    report: &Report,
    ui: &Ui,
    deadline: Instant,
) -> Result<()> {
    let namespace = options.install.namespace.as_str();
    let apis = FluxApis::discover(connection).await?;
    for kind in [&GIT_REPOSITORY, &KUSTOMIZATION] {
        let served = apis.require(kind)?;
        let token = if report.nothing_changed() {
            None
        } else {
            let token = crate::flux::reconcile::new_token();
            crate::flux::reconcile::merge_patch(
                connection,
                served,
                namespace,
                namespace,
                &crate::flux::reconcile::request_patch(&token, &[]),
            )
            .await?;
            Some(token)
        };
        ui.progress().waiting(format!(
            "waiting for {} {namespace}/{namespace} to be reconciled at {}",
            kind.kind, report.revision
        ));
        wait::wait_ready_at(
            connection,
            served,
            namespace,
            namespace,
            &report.revision,
            token.as_deref(),
            deadline,
            &|explanation| explanation.show(ui.progress()),
        )
        .await?;
        ui.progress()
            .success(format!("{} reconciled successfully", kind.kind));
    }
    Ok(())
}

/// Waits for the controllers' Deployments to be available.
async fn wait_for_components(
    connection: &Connection,
    options: &BootstrapOptions,
    plan: &Plan,
    ui: &Ui,
    deadline: Instant,
) -> Result<()> {
    ui.progress()
        .waiting("waiting for the Flux controllers to be available");
    crate::lifecycle::rollout::wait_available(
        connection,
        &options.install.namespace,
        &plan.manifests.components,
        deadline,
        &|explanation| explanation.show(ui.progress()),
    )
    .await?;
    ui.progress().success("all components are healthy");
    Ok(())
}

/// Runs blocking Git work off the async runtime's threads.
async fn blocking<T: Send + 'static, E: Into<Error> + Send + 'static>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|source| BootstrapError::GitTask { source })?
        .map_err(Into::into)
}
