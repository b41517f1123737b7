//! `kubectl gitops bootstrap git`: Flux's components and sync configuration committed to the
//! Git repository that will drive the cluster, applied to the cluster, and waited for, in the
//! steps and with the files, commit messages and Secret of flux2's `pkg/bootstrap`.
//!
//! Everything that can fail without touching anything (flags, manifests download, Git clone,
//! credentials, the path of an existing root Kustomization) is done before the first change,
//! so a failure leaves both the repository and the cluster as they were.

pub mod host;
pub mod secret;
pub mod sync;
pub mod wait;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use secrecy::SecretString;

use crate::cluster::apply::{Applied, Change, apply_all};
use crate::cluster::connection::Connection;
use crate::error::{Error, Result};
use crate::flux::FluxKind;
use crate::flux::discovery::FluxApis;
use crate::git::{self, Auth, KeyAlgorithm, PushOutcome, Remote, Signature, Transport};
use crate::manifests::{self, InstallOptions, Manifests};
use crate::ui::progress::Progress;
use host::{KeyAccess, KeyGrant, PlainGit, RepositoryHost};
use secret::SourceCredentials;
use sync::{COMPONENTS_FILE, KUSTOMIZATION_FILE, SYNC_FILE, SyncOptions};

/// Fresh clones tried when someone else pushes to the branch meanwhile.
const PUSH_ATTEMPTS: usize = 3;

/// How the source-controller (and bootstrap itself) authenticates to the repository.
pub enum Credentials {
    /// SSH: the key in `private_key_file`, or a generated deploy key of `algorithm` (kept in
    /// the cluster's Secret; bootstrap itself then uses the user's own ssh setup).
    Ssh {
        private_key_file: Option<PathBuf>,
        algorithm: KeyAlgorithm,
    },
    /// HTTPS with a user name and password or token (`--token-auth`).
    Token {
        username: String,
        password: SecretString,
        ca_file: Option<PathBuf>,
    },
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
    /// For the whole run, waits included (flux: 5m).
    pub timeout: Duration,
    /// Do not ask before replacing another tool's install or using a new deploy key.
    pub assume_yes: bool,
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
        self.commits.is_empty() && self.changed_objects.is_empty() && !self.secret_changed
    }
}

/// The files bootstrap writes (repository path, content) and, for `--dry-run`, nothing else.
pub struct Plan {
    pub manifests: Manifests,
    pub sync: SyncOptions,
    pub files: Vec<(String, String)>,
}

impl Plan {
    fn dir(&self) -> String {
        sync::manifests_dir(&self.sync.path, &self.sync.namespace)
    }

    fn file(&self, name: &str) -> String {
        format!("{}/{name}", self.dir())
    }
}

/// Generates everything bootstrap would commit, without Git or the cluster.
pub async fn plan(options: &BootstrapOptions) -> Result<Plan> {
    let url = sync_url(&options.url, &options.credentials)?;
    let bundle = manifests::load_bundle(&options.install).await?;
    let manifests = manifests::generate(&bundle, &options.install)?;
    let sync = SyncOptions {
        name: options.install.namespace.clone(),
        namespace: options.install.namespace.clone(),
        url,
        branch: options.branch.clone(),
        interval: options.interval,
        secret_name: options.secret_name.clone(),
        path: sync::normalize_path(&options.path),
    };
    let mut plan = Plan {
        manifests,
        sync,
        files: Vec::new(),
    };
    plan.files = vec![
        (
            plan.file(COMPONENTS_FILE),
            plan.manifests.components_file()?,
        ),
        (plan.file(SYNC_FILE), sync::sync_file(&plan.sync)?),
        (
            plan.file(KUSTOMIZATION_FILE),
            sync::default_kustomization_file()?,
        ),
    ];
    Ok(plan)
}

/// The URL the source-controller clones: https without user for token auth, and for SSH an
/// `ssh://` URL with the user (`git` when none is given), as flux writes it.
pub fn sync_url(url: &str, credentials: &Credentials) -> Result<String> {
    let parsed = git::GitUrl::parse(url)?;
    let path = parsed.path.trim_start_matches('/');
    let host = match parsed.port {
        Some(port) => format!("{}:{port}", bracket_ipv6(&parsed.host)),
        None => bracket_ipv6(&parsed.host),
    };
    match (credentials, parsed.transport) {
        (Credentials::Token { .. }, Transport::Https) => Ok(format!("https://{host}/{path}")),
        (Credentials::Ssh { .. }, Transport::Ssh) => {
            let user = parsed.user.as_deref().unwrap_or("git");
            Ok(format!("ssh://{user}@{host}/{path}"))
        }
        (Credentials::Token { .. }, _) => Err(Error::InvalidFlag {
            flag: "--url",
            value: url.to_string(),
            reason: "--token-auth needs an https:// URL".into(),
        }),
        (Credentials::Ssh { .. }, _) => Err(Error::InvalidFlag {
            flag: "--url",
            value: url.to_string(),
            reason: "use ssh://user@host/path for SSH, or --token-auth with an https:// URL".into(),
        }),
    }
}

fn bracket_ipv6(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// Runs bootstrap. Progress goes to `progress` step by step.
pub async fn bootstrap(
    connection: &Connection,
    options: &BootstrapOptions,
    progress: &Progress,
) -> Result<Report> {
    let deadline = Instant::now() + options.timeout;
    let namespace = options.install.namespace.as_str();
    let git_version = blocking(git::git_version).await?;
    tracing::debug!("using {git_version}");

    // Everything that may refuse comes before any change.
    let apis = FluxApis::discover(connection).await?;
    let root = crate::flux::install::root_kustomization(connection, &apis, namespace).await?;
    if let Some(existing) = root.as_ref().and_then(|r| r.path.clone())
        && sync::kustomization_path(&existing) != sync::kustomization_path(&options.path)
    {
        return Err(Error::Usage(format!(
            "the root Kustomization {namespace}/{namespace} syncs path \"{existing}\", not \"{}\": bootstrap will not move this cluster to another folder of the repository; run it again with --path={}, or uninstall Flux first",
            sync::kustomization_path(&options.path),
            existing.trim_start_matches("./")
        )));
    }
    if let Some(install) = crate::flux::installed(connection).await?
        && let Some(tool) = install.managed_by.filter(|t| t != crate::FIELD_MANAGER)
    {
        crate::ui::confirm::confirm(
            &format!(
                "Flux in this cluster is managed by {tool}; bootstrap would take it over. Go ahead?"
            ),
            options.assume_yes,
        )?;
    }

    progress.action("generating component manifests");
    let phase = Instant::now();
    let plan = plan(options).await?;
    let generate_seconds = phase.elapsed().as_secs_f64();
    progress.success(format!(
        "generated component manifests for Flux {} ({})",
        plan.manifests.version,
        plan.manifests.components.join(", ")
    ));

    let known_hosts = match &options.credentials {
        Credentials::Ssh { .. } => {
            let url = options.url.clone();
            let scanned = blocking(move || git::scan_known_hosts(&url)).await?;
            for fingerprint in &scanned.fingerprints {
                progress.success(format!("Git host key: {fingerprint}"));
            }
            Some(scanned.lines)
        }
        Credentials::Token { .. } => None,
    };
    let remote = bootstrap_remote(options, known_hosts.as_deref())?;
    let host = repository_host(options, known_hosts.as_deref());

    let mut report = Report::default();
    report.seconds.generate = generate_seconds;
    let phase = Instant::now();
    let repository = host.ensure_repository(progress).await?;
    tracing::debug!("repository {}: {repository:?}", options.url);
    let revision = commit_and_push(&remote, options, &plan, progress, &mut report).await?;
    report.revision = format!("{}@sha1:{revision}", options.branch);
    report.seconds.git = phase.elapsed().as_secs_f64();
    let phase = Instant::now();

    // The cluster: components (first install only), credentials, sync objects.
    let never_applied = root.as_ref().is_none_or(|r| !r.applied);
    if never_applied {
        progress.action(format!("installing components in namespace {namespace}"));
        let applied = apply_all(connection, &plan.manifests.objects).await?;
        note_changes(&mut report, &applied);
        progress.success("installed components");
    }
    if let Some(pull_secret) = manifests::registry_credentials_secret(&options.install) {
        let applied = apply_all(connection, &[pull_secret]).await?;
        note_changes(&mut report, &applied);
    }
    reconcile_source_secret(
        connection,
        options,
        host.as_ref(),
        known_hosts,
        progress,
        &mut report,
    )
    .await?;
    progress.action("applying sync manifests");
    let applied = apply_all(connection, &sync::sync_objects(&plan.sync)).await?;
    note_changes(&mut report, &applied);
    progress.success("reconciled sync configuration");
    report.seconds.apply = phase.elapsed().as_secs_f64();

    let phase = Instant::now();
    wait_for_sync(connection, options, &report, progress, deadline).await?;
    progress.waiting("waiting for the Flux controllers to be available");
    crate::lifecycle::rollout::wait_available(
        connection,
        namespace,
        &plan.manifests.components,
        deadline,
    )
    .await?;
    progress.success("all components are healthy");
    report.seconds.wait = phase.elapsed().as_secs_f64();
    Ok(report)
}

/// The host of the repository (today any Git server by URL; forges will be chosen here).
fn repository_host(
    options: &BootstrapOptions,
    known_hosts: Option<&str>,
) -> Box<dyn RepositoryHost> {
    Box::new(PlainGit {
        url: options.url.clone(),
        branch: options.branch.clone(),
        known_hosts: known_hosts.unwrap_or_default().to_string(),
        assume_yes: options.assume_yes,
        timeout: options.timeout,
    })
}

/// The deploy key's name on the host, unique per cluster folder and branch (as flux names it,
/// so either tool finds the other's key).
fn deploy_key_title(options: &BootstrapOptions) -> String {
    format!(
        "{}-{}-{}-{}",
        options.install.namespace,
        options.branch,
        options.secret_name,
        sync::normalize_path(&options.path)
    )
}

/// The remote bootstrap itself clones and pushes with.
fn bootstrap_remote(options: &BootstrapOptions, known_hosts: Option<&str>) -> Result<Remote> {
    let (auth, ca_file) = match &options.credentials {
        Credentials::Token {
            username,
            password,
            ca_file,
        } => (
            Auth::Basic {
                username: username.clone(),
                password: password.clone(),
            },
            ca_file.clone(),
        ),
        Credentials::Ssh {
            private_key_file: Some(file),
            ..
        } => (
            Auth::SshKey {
                private_key: git::load_deploy_key(file)?.private_key,
                known_hosts: known_hosts.unwrap_or_default().to_string(),
            },
            None,
        ),
        // A generated key is not authorised yet: bootstrap uses the user's own ssh setup.
        Credentials::Ssh { .. } => (Auth::None, None),
    };
    Ok(Remote {
        url: options.url.clone(),
        auth,
        ca_file,
    })
}

/// Clones, commits the components and the sync files (each commit only if its content
/// changed), pushes, and on a moved branch starts again from a fresh clone. Returns the
/// commit the branch points at.
async fn commit_and_push(
    remote: &Remote,
    options: &BootstrapOptions,
    plan: &Plan,
    progress: &Progress,
    report: &mut Report,
) -> Result<String> {
    let appendix = options
        .commit_message_appendix
        .as_deref()
        .filter(|a| !a.is_empty())
        .map(|a| format!("\n\n{a}"))
        .unwrap_or_default();
    let components_message = format!(
        "Add Flux {} component manifests{appendix}",
        plan.manifests.version
    );
    let sync_message = format!("Add Flux sync manifests{appendix}");
    for attempt in 1..=PUSH_ATTEMPTS {
        progress.action(format!(
            "cloning branch \"{}\" from Git repository \"{}\"",
            options.branch, options.url
        ));
        let (cloned, branch) = (remote.clone(), options.branch.clone());
        let mut workspace = blocking(move || git::clone(&cloned, &branch)).await?;
        progress.success("cloned repository");

        let components_path = plan.file(COMPONENTS_FILE);
        let existing = workspace.read_file(&components_path)?;
        let components = same_objects_or(existing, &plan.files[0].1);
        let components_commit = workspace.commit(
            &[(components_path, components)],
            &components_message,
            &options.author,
        )?;
        match &components_commit {
            Some(id) => progress.success(format!(
                "committed component manifests to \"{}\" ({id})",
                options.branch
            )),
            None => progress.success("component manifests are up to date"),
        }

        let mut sync_files = vec![(plan.file(SYNC_FILE), plan.files[1].1.clone().into_bytes())];
        let kustomization_path = plan.file(KUSTOMIZATION_FILE);
        if workspace.read_file(&kustomization_path)?.is_none() {
            sync_files.push((kustomization_path, plan.files[2].1.clone().into_bytes()));
        }
        let sync_commit = workspace.commit(&sync_files, &sync_message, &options.author)?;
        match &sync_commit {
            Some(id) => progress.success(format!(
                "committed sync manifests to \"{}\" ({id})",
                options.branch
            )),
            None => progress.success("sync manifests are up to date"),
        }

        if components_commit.is_none() && sync_commit.is_none() {
            return workspace.head().ok_or_else(|| {
                Error::Usage("the branch has no commit after bootstrap's commits".into())
            });
        }
        progress.action(format!("pushing to \"{}\"", options.url));
        let pushed = blocking(move || workspace.push().map(|outcome| (outcome, workspace))).await?;
        match pushed {
            (PushOutcome::Pushed { commit }, _) => {
                report.commits.extend(components_commit);
                report.commits.extend(sync_commit);
                progress.success(format!("pushed {commit}"));
                return Ok(commit);
            }
            (PushOutcome::UpToDate, workspace) => {
                return workspace.head().ok_or_else(|| {
                    Error::Usage("the branch has no commit after bootstrap's commits".into())
                });
            }
            (PushOutcome::BranchMoved, _) if attempt < PUSH_ATTEMPTS => {
                progress.warning("the branch moved while bootstrapping; retrying on a fresh clone");
            }
            (PushOutcome::BranchMoved, _) => {}
        }
    }
    Err(Error::Usage(format!(
        "branch \"{}\" of {} kept moving while bootstrap pushed ({PUSH_ATTEMPTS} attempts); run bootstrap again when nobody else pushes",
        options.branch, options.url
    )))
}

/// Keeps a file's existing bytes when they hold the same objects (e.g. written by the flux
/// CLI, whose YAML differs only in formatting), so re-bootstrapping makes no commit.
fn same_objects_or(existing: Option<Vec<u8>>, generated: &str) -> Vec<u8> {
    if let Some(existing) = existing
        && let Ok(text) = std::str::from_utf8(&existing)
        && let (Ok(old), Ok(new)) = (
            crate::manifests::parse_documents(text),
            crate::manifests::parse_documents(generated),
        )
        && old == new
    {
        return existing;
    }
    generated.as_bytes().to_vec()
}

/// Creates or updates the source Secret; an existing one is kept unless new credentials came
/// with this run (as flux does).
async fn reconcile_source_secret(
    connection: &Connection,
    options: &BootstrapOptions,
    host: &dyn RepositoryHost,
    known_hosts: Option<String>,
    progress: &Progress,
    report: &mut Report,
) -> Result<()> {
    let namespace = &options.install.namespace;
    let name = &options.secret_name;
    let credentials = match &options.credentials {
        Credentials::Token {
            username,
            password,
            ca_file,
        } => SourceCredentials::Basic {
            username: username.clone(),
            password: password.clone(),
            ca_certificate: match ca_file {
                Some(file) => {
                    Some(
                        std::fs::read_to_string(file).map_err(|err| Error::InvalidFlag {
                            flag: "--ca-file",
                            value: file.display().to_string(),
                            reason: format!("cannot read it: {err}"),
                        })?,
                    )
                }
                None => None,
            },
        },
        Credentials::Ssh {
            private_key_file: Some(file),
            ..
        } => {
            let key = git::load_deploy_key(file)?;
            SourceCredentials::Ssh {
                private_key: key.private_key,
                public_key: key.public_key,
                known_hosts: known_hosts.unwrap_or_default(),
            }
        }
        Credentials::Ssh {
            private_key_file: None,
            algorithm,
        } => {
            let existing = secret::existing(connection, namespace, name).await?;
            if existing
                .as_ref()
                .and_then(|s| s.data.as_ref())
                .is_some_and(|d| d.contains_key("identity"))
            {
                progress.success(format!("source secret {namespace}/{name} is kept"));
                return Ok(());
            }
            let key = git::generate_deploy_key(*algorithm)?;
            progress.success(format!("deploy key: {}", key.public_key));
            progress.success(format!("deploy key fingerprint: {}", key.fingerprint));
            report.deploy_key = Some(key.public_key.clone());
            let grant = KeyGrant {
                title: deploy_key_title(options),
                key: &key,
                access: KeyAccess::ReadOnly,
            };
            host.authorize_deploy_key(grant, progress).await?;
            SourceCredentials::Ssh {
                private_key: key.private_key,
                public_key: key.public_key,
                known_hosts: known_hosts.unwrap_or_default(),
            }
        }
    };
    progress.action(format!("applying source secret {namespace}/{name}"));
    let change = secret::apply(
        connection,
        &secret::source_secret(name, namespace, &credentials),
    )
    .await?;
    report.secret_changed = change != Change::Unchanged;
    progress.success(match change {
        Change::Unchanged => "source secret is up to date",
        _ => "reconciled source secret",
    });
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
    progress: &Progress,
    deadline: Instant,
) -> Result<()> {
    let namespace = options.install.namespace.as_str();
    let apis = FluxApis::discover(connection).await?;
    for kind_name in ["GitRepository", "Kustomization"] {
        let kind = FluxKind::lookup(kind_name).ok_or(crate::flux::Error::FluxNotInstalled)?;
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
        progress.waiting(format!(
            "waiting for {kind_name} {namespace}/{namespace} to be reconciled at {}",
            report.revision
        ));
        wait::wait_ready_at(
            connection,
            served,
            namespace,
            namespace,
            &report.revision,
            token.as_deref(),
            deadline,
        )
        .await?;
        progress.success(format!("{kind_name} reconciled successfully"));
    }
    Ok(())
}

/// Runs blocking Git work off the async runtime's threads.
async fn blocking<T: Send + 'static, E: Into<Error> + Send + 'static>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| Error::Usage(format!("a Git task failed: {err}")))?
        .map_err(Into::into)
}
