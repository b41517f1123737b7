//! What bootstrap would commit, generated without Git or the cluster (also `--dry-run`'s
//! output): the components file, the sync file and the kustomization.yaml that lists them.

use super::sync::{self, COMPONENTS_FILE, KUSTOMIZATION_FILE, SYNC_FILE, SyncOptions};
use super::{BootstrapOptions, Credentials};
use crate::error::{Error, Result};
use crate::git::{self, Transport};
use crate::manifests::{self, Manifests};

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

    /// The repository path of one of bootstrap's files.
    pub(super) fn file(&self, name: &str) -> String {
        format!("{}/{name}", self.dir())
    }
}

/// Generates everything bootstrap would commit, without Git or the cluster.
pub async fn plan(options: &BootstrapOptions) -> Result<Plan> {
    let url = sync_url(options)?;
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
        recurse_submodules: options.recurse_submodules,
        sparse_checkout: options.sparse_checkout.clone(),
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
/// `ssh://` URL with the user (`git` when none is given) and `--ssh-hostname`'s host when
/// given, as flux writes it. Plain `http://` with a token needs `--allow-insecure-http`, as in
/// flux; a forge's `--hostname http://..` needs no flag, as flux allows (source-controller
/// sends credentials over http either way).
pub fn sync_url(options: &BootstrapOptions) -> Result<String> {
    let url = options.url.as_str();
    let parsed = git::GitUrl::parse(url)?;
    let path = parsed.path.trim_start_matches('/');
    let host = match parsed.port {
        Some(port) => format!("{}:{port}", bracket_ipv6(&parsed.host)),
        None => bracket_ipv6(&parsed.host),
    };
    match (&options.credentials, parsed.transport) {
        (Credentials::Token { .. } | Credentials::DeployToken { .. }, Transport::Https) => {
            Ok(format!("https://{host}/{path}"))
        }
        (_, Transport::Http) if options.forge.is_none() && !options.allow_insecure_http => {
            Err(Error::InvalidFlag {
                flag: "--url",
                value: url.to_string(),
                reason: "plain http:// is insecure (credentials and content travel unencrypted); use an https:// URL, or pass --allow-insecure-http to allow it".into(),
            })
        }
        (Credentials::Token { .. } | Credentials::DeployToken { .. }, Transport::Http) => {
            Ok(format!("http://{host}/{path}"))
        }
        (Credentials::Ssh { .. }, Transport::Ssh) => {
            let user = parsed.user.as_deref().unwrap_or("git");
            let host = match &options.ssh_hostname {
                Some(ssh_hostname) => checked_ssh_hostname(ssh_hostname)?,
                None => host,
            };
            Ok(format!("ssh://{user}@{host}/{path}"))
        }
        (Credentials::Token { .. } | Credentials::DeployToken { .. }, _) => {
            Err(Error::InvalidFlag {
                flag: "--url",
                value: url.to_string(),
                reason: "--token-auth needs an https:// URL".into(),
            })
        }
        (Credentials::Ssh { .. }, _) => Err(Error::InvalidFlag {
            flag: "--url",
            value: url.to_string(),
            reason: "use ssh://user@host/path for SSH, or --token-auth with an https:// URL".into(),
        }),
    }
}

/// `--ssh-hostname` as given (flux puts it into the URL verbatim), once it is known to be a
/// `host[:port]` and nothing else.
fn checked_ssh_hostname(ssh_hostname: &str) -> Result<String> {
    let refuse = || {
        Error::InvalidFlag {
        flag: "--ssh-hostname",
        value: ssh_hostname.to_string(),
        reason: "give the SSH host as host or host:port (e.g. ssh.example.com:2222), without scheme, user or path".into(),
    }
    };
    if ssh_hostname.contains(['/', '@']) || ssh_hostname.contains(char::is_whitespace) {
        return Err(refuse());
    }
    git::GitUrl::parse(&format!("ssh://git@{ssh_hostname}/repository")).map_err(|_| refuse())?;
    Ok(ssh_hostname.to_string())
}

fn bracket_ipv6(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}
