//! The user's own deploy keys on the real source-controller: a passphrase-protected OpenSSH
//! key (the Secret holds it encrypted, with `password`, and source-controller decrypts it),
//! then a PEM (PKCS#1 RSA) key, each the only key the SSH server accepts; and a bearer token
//! (`--with-bearer-token`) on a path of the HTTPS server that takes nothing else.

use std::process::Command;
use std::time::Duration;

use crate::bootstrap::assert_synced_by_the_controllers;
use crate::support::git_servers::{GitHttpServer, GitSshServer};
use crate::support::processes::temp_dir;
use crate::support::{run, stderr, stdout};
use crate::{LiveFlux, NS, RECONCILE_ROOT, eventually, head, push};

/// A key written by the real ssh-keygen (`-N` passphrase), authorized on `server`.
fn user_key(server: &GitSshServer, args: &[&str], passphrase: &str) -> String {
    let key = temp_dir("user-key-").join("deploy");
    let out = run(Command::new("ssh-keygen")
        .args(["-q", "-N", passphrase, "-f"])
        .arg(&key)
        .args(args));
    assert!(out.status.success(), "{}", stderr(&out));
    server.authorize(&std::fs::read_to_string(key.with_extension("pub")).unwrap());
    key.display().to_string()
}

fn with(args: &[String; 6]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_controller_clones_with_a_protected_key_and_with_a_pem_key() {
    let flux = LiveFlux::start().await;
    let server = GitSshServer::start();
    let url = server.create_repo("fleet");
    let bare = server.bare_path("fleet");
    let passphrase = "from the vault";
    let protected = user_key(&server, &["-t", "ed25519"], passphrase);

    let args = |key: &str| {
        [
            "--url",
            &url,
            "--path",
            "clusters/dev",
            "--private-key-file",
            key,
        ]
        .map(str::to_string)
    };
    flux.bootstrap_ok(&with(&args(&protected)), &[("GIT_PASSWORD", passphrase)])
        .await;
    // source-controller decrypted the key with the Secret's `password` and cloned.
    let revision = format!("main@sha1:{}", head(&bare));
    assert_synced_by_the_controllers(&flux, &revision).await;
    let secret = flux.get("secret", NS, NS).expect("Secret");
    let keys: Vec<&String> = secret["data"].as_object().expect("data").keys().collect();
    assert_eq!(
        keys,
        ["identity", "identity.pub", "known_hosts", "password"]
    );

    // Another key, in PEM form, now the only one the server accepts: bootstrap replaces the
    // Secret and source-controller fetches with the new key.
    server.revoke_all_keys();
    let pem = user_key(&server, &["-t", "rsa", "-m", "PEM"], "");
    assert!(
        std::fs::read_to_string(&pem)
            .unwrap()
            .starts_with("-----BEGIN RSA PRIVATE KEY-----")
    );
    let out = flux.bootstrap_ok(&with(&args(&pem)), &[]).await;
    assert!(
        stdout(&out).contains("0 commits pushed"),
        "{}",
        stdout(&out)
    );
    let secret = flux.get("secret", NS, NS).expect("Secret");
    let keys: Vec<&String> = secret["data"].as_object().expect("data").keys().collect();
    assert_eq!(keys, ["identity", "identity.pub", "known_hosts"]);

    // A new commit, fetched by source-controller with the PEM key only.
    let (_, ssh_command) = server.user_ssh_setup();
    let user_env = [("GIT_SSH_COMMAND".to_string(), ssh_command)];
    let pushed = push(
        &url,
        &user_env,
        "Add a ConfigMap",
        &[("clusters/dev/app.yaml", Some(CONFIG_MAP))],
    );
    let out = flux.gitops_ok(&RECONCILE_ROOT).await;
    assert!(stdout(&out).contains(&pushed), "{}", stdout(&out));
    eventually(&flux, "ConfigMap applied", Duration::from_secs(30), || {
        flux.get("configmap", "default", "from-pem").is_some()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_controller_fetches_with_a_bearer_token() {
    let flux = LiveFlux::start().await;
    let server = GitHttpServer::start();
    server.create_repo("fleet");
    // This path answers only `Authorization: Bearer <token>`: no basic auth, no anonymous.
    let url = server.bearer_url("fleet");
    let bare = server.bare_path("fleet");
    let ca_file = server.ca_file.display().to_string();
    let args = [
        "--url",
        &url,
        "--with-bearer-token",
        "--ca-file",
        &ca_file,
        "--path",
        "clusters/dev",
    ];
    flux.bootstrap_ok(&args, &[("GIT_PASSWORD", server.bearer_token.as_str())])
        .await;
    let secret = flux.get("secret", NS, NS).expect("Secret");
    let keys: Vec<&String> = secret["data"].as_object().expect("data").keys().collect();
    assert_eq!(keys, ["bearerToken", "ca.crt"]);
    // source-controller fetched the pushed revision with the token, and kustomize-controller
    // applied it.
    let revision = format!("main@sha1:{}", head(&bare));
    assert_synced_by_the_controllers(&flux, &revision).await;
}

const CONFIG_MAP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-pem\n  namespace: default\ndata:\n  via: pem\n";
