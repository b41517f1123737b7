//! Scenarios 1, 5 and 7: bootstrap over HTTPS and over SSH with a generated deploy key, on
//! the real controllers, and a re-run on the live installation.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::git_servers::{GitHttpServer, GitSshServer};
use crate::support::{stderr, stdout};
use crate::{LiveFlux, NS, RECONCILE_ROOT, eventually, head, push, ready};

/// The arguments of an HTTPS bootstrap with basic auth and the server's private CA.
pub fn https_args(server: &GitHttpServer, url: &str) -> Vec<String> {
    [
        "--url",
        url,
        "--token-auth",
        "--username",
        &server.username,
        "--ca-file",
        &server.ca_file.display().to_string(),
        "--path",
        "clusters/dev",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// git's environment for pushing to `server` as a user: its CA, basic auth in a header (the
/// password in no argv and no file).
pub fn https_git_env(server: &GitHttpServer) -> Vec<(String, String)> {
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", server.username, server.password));
    [
        ("GIT_SSL_CAINFO", server.ca_file.display().to_string()),
        ("GIT_CONFIG_COUNT", "1".into()),
        ("GIT_CONFIG_KEY_0", "http.extraHeader".into()),
        (
            "GIT_CONFIG_VALUE_0",
            format!("Authorization: Basic {token}"),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// A live Flux bootstrapped from an empty repository on a loopback HTTPS server.
pub struct Bootstrapped {
    pub flux: LiveFlux,
    pub server: GitHttpServer,
    pub url: String,
    pub bare: PathBuf,
    pub args: Vec<String>,
    /// How long bootstrap took, start to exit.
    pub took: Duration,
}

impl Bootstrapped {
    pub async fn bootstrap_again(&self) -> std::process::Output {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        self.flux
            .bootstrap(&args, &[("GIT_PASSWORD", self.server.password.as_str())])
            .await
    }

    pub fn git_env(&self) -> Vec<(String, String)> {
        https_git_env(&self.server)
    }

    /// `kubectl gitops <args> -n flux-system` as the Git server's user would run it (their
    /// password in GIT_PASSWORD, the server's CA), the test environment's kubectl first on PATH.
    pub async fn as_git_user(&self, args: &[&str]) -> std::process::Output {
        let ca_file = self.server.ca_file.display().to_string();
        let mut full: Vec<&str> = args.to_vec();
        full.extend([
            "-n",
            NS,
            "--git-username",
            &self.server.username,
            "--ca-file",
            &ca_file,
        ]);
        let mut command = crate::support::plugin_command(&self.flux.plane.kubeconfig, &full);
        command
            .env("PATH", self.flux.plane.assets.path_with_kubectl())
            .env("GIT_PASSWORD", &self.server.password);
        crate::support::run_async(command).await
    }
}

/// Scenario 1's first half, shared by the others: an empty repository, bootstrapped.
pub async fn bootstrapped() -> Bootstrapped {
    let flux = LiveFlux::start().await;
    let server = GitHttpServer::start();
    let url = server.create_repo("fleet");
    let bare = server.bare_path("fleet");
    let args = https_args(&server, &url);
    let started = Instant::now();
    let strs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = flux
        .bootstrap_ok(&strs, &[("GIT_PASSWORD", server.password.as_str())])
        .await;
    let took = started.elapsed();
    let revision = format!("main@sha1:{}", head(&bare));
    assert!(
        stdout(&out).starts_with(&format!(
            "✔ bootstrap finished: the cluster is synced to {revision} (2 commits pushed, "
        )),
        "{}",
        stdout(&out)
    );
    for output in [stdout(&out), stderr(&out)] {
        assert!(!output.contains(&server.password), "password in output");
    }
    Bootstrapped {
        flux,
        server,
        url,
        bare,
        args,
        took,
    }
}

/// The status items of the sync objects, by kind.
pub async fn status_of(flux: &LiveFlux) -> Vec<serde_json::Value> {
    let out = flux.gitops_ok(&["status", "-n", NS, "-o", "json"]).await;
    let list: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("status JSON");
    list["items"].as_array().expect("items").clone()
}

pub fn item<'a>(items: &'a [serde_json::Value], kind: &str) -> &'a serde_json::Value {
    items
        .iter()
        .find(|i| i["kind"] == kind && i["metadata"]["name"] == NS)
        .unwrap_or_else(|| panic!("{kind}/{NS} not in status: {items:?}"))
}

/// Waits until the real controllers (not a stand-in) have reconciled the sync objects at
/// `revision` and are Ready. Bootstrap returns once both were Ready at the revision; its
/// reconcile request may still be in progress (Ready Unknown, Progressing) just after.
pub async fn assert_synced_by_the_controllers(flux: &LiveFlux, revision: &str) {
    let settled = |kind: &str, field: &str| {
        flux.get(kind, NS, NS).is_some_and(|o| {
            let at = match field {
                "artifact" => o["status"]["artifact"]["revision"] == revision,
                _ => o["status"]["lastAppliedRevision"] == revision,
            };
            at && ready(&o).0 == "True"
        })
    };
    eventually(flux, "GitRepository Ready", Duration::from_secs(60), || {
        settled("gitrepository", "artifact")
    })
    .await;
    eventually(flux, "Kustomization Ready", Duration::from_secs(60), || {
        settled("kustomization", "lastAppliedRevision")
    })
    .await;
    let source = flux.get("gitrepository", NS, NS).expect("GitRepository");
    // The artifact is served by source-controller's storage server on loopback.
    let artifact_url = source["status"]["artifact"]["url"].as_str().unwrap_or("");
    assert!(
        artifact_url.starts_with("http://127.0.0.1:"),
        "{artifact_url}"
    );
    let ks = flux.get("kustomization", NS, NS).expect("Kustomization");
    assert_eq!(ready(&ks).1, "ReconciliationSucceeded");
    // kustomize-controller's inventory lists what it applied, the controllers among it.
    let inventory = ks["status"]["inventory"]["entries"].to_string();
    assert!(
        inventory.contains("flux-system_source-controller_apps_Deployment"),
        "{inventory}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_bootstrap_of_an_empty_repository_is_synced_by_the_real_controllers() {
    let b = bootstrapped().await;
    eprintln!("bootstrap on the real controllers took {:?}", b.took);
    let revision = format!("main@sha1:{}", head(&b.bare));
    // Right after bootstrap, no waiting: status shows both Ready at the pushed revision.
    let items = status_of(&b.flux).await;
    for kind in ["GitRepository", "Kustomization"] {
        let object = item(&items, kind);
        assert_eq!(object["status"]["state"], "Ready", "{object}");
        assert_eq!(object["status"]["revision"], revision.as_str(), "{object}");
    }
    assert_synced_by_the_controllers(&b.flux, &revision).await;
    let running = b.flux.running();
    for name in ["source-controller", "kustomize-controller"] {
        assert!(running.iter().any(|r| r == name), "{running:?}");
    }

    // The table, as a user reads it: the header counts the controllers ready.
    let out = b.flux.gitops_ok(&["status", "-n", NS]).await;
    let text = stdout(&out);
    let short = &revision[..revision.len() - 28];
    for kind in ["GitRepository/flux-system", "Kustomization/flux-system"] {
        let line = text
            .lines()
            .find(|l| l.starts_with(kind))
            .unwrap_or_else(|| panic!("{kind} missing:\n{text}"));
        assert!(line.contains("True") && line.contains(short), "{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_bootstrap_with_a_generated_deploy_key_is_cloned_by_source_controller() {
    let flux = LiveFlux::start().await;
    let server = GitSshServer::start();
    let url = server.create_repo("fleet");
    let bare = server.bare_path("fleet");
    let (_, ssh_command) = server.user_ssh_setup();

    let mut command = flux.bootstrap_command(
        &[
            "--url",
            &url,
            "--path",
            "clusters/dev",
            "--ssh-key-algorithm",
            "ed25519",
        ],
        &[("GIT_SSH_COMMAND", &ssh_command)],
    );
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("start bootstrap");
    // Play the user: give the printed deploy key access once bootstrap shows it.
    let (progress, deploy_key) =
        server.authorize_printed_deploy_key(child.stderr.take().expect("stderr"));
    let out = child.wait_with_output().expect("bootstrap exits");
    assert!(
        out.status.success(),
        "{}\n{progress}\n{}",
        stdout(&out),
        flux.logs()
    );
    let deploy_key = deploy_key.expect("bootstrap printed the deploy key");
    assert!(deploy_key.starts_with("ssh-ed25519 "), "{deploy_key}");
    assert!(!progress.contains("PRIVATE KEY"), "{progress}");

    // source-controller cloned over SSH: it has no key but the Secret's, and it checks the host
    // key against the Secret's known_hosts.
    let revision = format!("main@sha1:{}", head(&bare));
    assert_synced_by_the_controllers(&flux, &revision).await;
    let source = flux.get("gitrepository", NS, NS).expect("GitRepository");
    assert_eq!(source["spec"]["url"], url.as_str());
    assert_eq!(source["spec"]["secretRef"]["name"], NS);
    let secret = flux.get("secret", NS, NS).expect("Secret");
    let keys: Vec<&String> = secret["data"].as_object().expect("data").keys().collect();
    assert_eq!(keys, ["identity", "identity.pub", "known_hosts"]);

    // A new commit (pushed by the user): source-controller fetches it with the deploy key.
    let user_env = [("GIT_SSH_COMMAND".to_string(), ssh_command.clone())];
    let pushed = push(
        &url,
        &user_env,
        "Add a ConfigMap",
        &[("clusters/dev/app.yaml", Some(CONFIG_MAP))],
    );
    let out = flux.gitops_ok(&RECONCILE_ROOT).await;
    assert!(stdout(&out).contains(&pushed), "{}", stdout(&out));
    eventually(&flux, "ConfigMap applied", Duration::from_secs(30), || {
        flux.get("configmap", "default", "from-ssh").is_some()
    })
    .await;
}

const CONFIG_MAP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-ssh\n  namespace: default\ndata:\n  via: ssh\n";

/// Everything bootstrap writes to the cluster, with the resourceVersion of each object.
fn resource_versions(flux: &LiveFlux) -> String {
    let mut all = flux.plane.kubectl_ok(&[
        "get",
        "gitrepository,kustomization,secret,deployment,service,serviceaccount,networkpolicy",
        "-n",
        NS,
        "-o",
        "jsonpath={range .items[*]}{.kind}/{.metadata.name}={.metadata.resourceVersion} {end}",
    ]);
    all += &flux.plane.kubectl_ok(&[
        "get",
        "crd,clusterrole,clusterrolebinding,namespace",
        "-l",
        "app.kubernetes.io/part-of=flux",
        "-o",
        "jsonpath={range .items[*]}{.kind}/{.metadata.name}={.metadata.resourceVersion} {end}",
    ]);
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_again_on_the_live_installation_changes_nothing() {
    let b = bootstrapped().await;
    let before_head = head(&b.bare);
    // Let the controllers settle first (their status writes are not ours to count).
    let revision = format!("main@sha1:{before_head}");
    assert_synced_by_the_controllers(&b.flux, &revision).await;
    let versions = resource_versions(&b.flux);

    let out = b.bootstrap_again().await;
    assert!(
        out.status.success(),
        "{}\n{}\n{}",
        stdout(&out),
        stderr(&out),
        b.flux.logs()
    );
    assert_eq!(
        stdout(&out),
        format!("✔ bootstrap finished: nothing changed, the cluster is synced to {revision}\n")
    );
    assert_eq!(head(&b.bare), before_head, "no commit");
    assert_eq!(resource_versions(&b.flux), versions, "no change");
}
