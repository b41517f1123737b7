//! Bootstrap's key and source flags against the real Git servers (a stand-in for the
//! controllers, as in bootstrap.rs): a passphrase-protected key of the user's with RSA host
//! keys only (`--ssh-hostkey-algos`, as Azure DevOps needs), a bearer token over HTTPS, and
//! the GitRepository's `--recurse-submodules` and `--sparse-checkout`. The end-to-end tests
//! prove the real source-controller clones with such Secrets.

use std::process::Command;

use crate::assert_failed_after_progress as assert_clean_failure;
use crate::bootstrap::{bootstrap, git, source_secret, stand_ins, strs};
use crate::support::control_plane::ControlPlane;
use crate::support::git_servers::{GitHttpServer, GitSshServer};
use crate::support::processes::temp_dir;
use crate::support::{run, stderr, stdout};

const SYNC: &str = "main:clusters/dev/flux-system/gotk-sync.yaml";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protected_key_with_rsa_host_keys_only_and_sparse_submodule_sync() {
    let plane = ControlPlane::start_private();
    let server = GitSshServer::start();
    let url = server.create_repo("fleet");
    let bare = server.bare_path("fleet");
    let passphrase = "vault passphrase";
    let key = temp_dir("user-key-").join("deploy");
    let keygen = run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ecdsa", "-b", "256", "-N", passphrase, "-f"])
        .arg(&key));
    assert!(keygen.status.success(), "{}", stderr(&keygen));
    server.authorize(&std::fs::read_to_string(key.with_extension("pub")).unwrap());
    let key_file = key.display().to_string();
    let args = |sparse: &str| {
        vec![
            "--url".to_string(),
            url.clone(),
            "--path".into(),
            "clusters/dev".into(),
            "--private-key-file".into(),
            key_file.clone(),
            "--ssh-hostkey-algos".into(),
            "rsa-sha2-512,rsa-sha2-256".into(),
            "--recurse-submodules".into(),
            format!("--sparse-checkout={sparse}"),
        ]
    };
    let strs = |args: &[String]| args.iter().map(String::clone).collect::<Vec<_>>();
    let env = [("GIT_PASSWORD", passphrase)];

    // flux's rule: the cluster's folder must be checked out. Refused before anything else.
    let refused = strs(&args("infra"));
    let out = bootstrap(
        &plane,
        &refused.iter().map(String::as_str).collect::<Vec<_>>(),
        &env,
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("--path \"clusters/dev\" is not among the --sparse-checkout folders (infra)"),
        "{}",
        stderr(&out)
    );

    let _stand_ins = stand_ins(&plane, &bare).await;
    let good = strs(&args("clusters/dev,infra"));
    let good: Vec<&str> = good.iter().map(String::as_str).collect();
    // A wrong passphrase is an error before any change.
    let out = bootstrap(&plane, &good, &[("GIT_PASSWORD", "not it")]).await;
    let err = assert_clean_failure(&out);
    assert!(err.contains("the passphrase does not decrypt it"), "{err}");
    assert!(!err.contains("not it"), "{err}");
    assert_eq!(
        run(Command::new("git").arg("--git-dir").arg(&bare).args([
            "rev-parse",
            "--verify",
            "-q",
            "main"
        ]))
        .status
        .code(),
        Some(1),
        "nothing pushed"
    );

    // Bootstrap clones and pushes with the decrypted key (no ssh setup of the user's).
    let out = bootstrap(&plane, &good, &env).await;
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let progress = stderr(&out);
    let host_keys: Vec<&str> = progress
        .lines()
        .filter(|l| l.starts_with("✔ Git host key: "))
        .collect();
    assert_eq!(host_keys.len(), 1, "{progress}");
    assert!(
        host_keys[0].starts_with("✔ Git host key: ssh-rsa SHA256:"),
        "{progress}"
    );
    for output in [stdout(&out), progress] {
        assert!(!output.contains(passphrase) && !output.contains("PRIVATE KEY"));
    }

    // The Secret: the key file as given (still encrypted) and its passphrase, as flux stores
    // them, and the RSA host key only.
    let secret = source_secret(&plane);
    let keys: Vec<&String> = secret.keys().collect();
    assert_eq!(
        keys,
        ["identity", "identity.pub", "known_hosts", "password"]
    );
    assert_eq!(secret["identity"], std::fs::read_to_string(&key).unwrap());
    assert_eq!(secret["password"], passphrase);
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let public: Vec<&str> = public.split_whitespace().take(2).collect();
    assert_eq!(secret["identity.pub"].trim(), public.join(" "));
    let rsa_host_key = server
        .host_public_keys()
        .iter()
        .find(|k| k.starts_with("ssh-rsa "))
        .expect("the server's RSA host key");
    let rsa_host_key: Vec<&str> = rsa_host_key.split_whitespace().take(2).collect();
    assert_eq!(
        secret["known_hosts"],
        format!("[127.0.0.1]:{} {}\n", server.port, rsa_host_key.join(" "))
    );

    let sync = git(&bare, &["show", SYNC]);
    assert!(
        sync.contains(&format!(
            "  interval: 1m0s\n  recurseSubmodules: true\n  ref:\n    branch: main\n  secretRef:\n    name: flux-system\n  sparseCheckout:\n  - clusters/dev\n  - infra\n  url: {url}\n"
        )),
        "{sync}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bearer_token_over_https_reaches_git_and_the_secret() {
    let plane = ControlPlane::start_private();
    let server = GitHttpServer::start();
    server.create_repo("fleet");
    let url = server.bearer_url("fleet");
    let bare = server.bare_path("fleet");
    let _stand_ins = stand_ins(&plane, &bare).await;
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

    // The server refuses anything but its bearer token (basic auth's password included).
    let out = bootstrap(&plane, &args, &[("GIT_PASSWORD", server.password.as_str())]).await;
    let err = assert_clean_failure(&out);
    assert!(err.contains("403"), "{err}");

    let out = bootstrap(
        &plane,
        &args,
        &[("GIT_PASSWORD", server.bearer_token.as_str())],
    )
    .await;
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    for output in [stdout(&out), stderr(&out)] {
        assert!(!output.contains(&server.bearer_token), "token in output");
    }
    let secret = source_secret(&plane);
    let keys: Vec<&String> = secret.keys().collect();
    assert_eq!(keys, ["bearerToken", "ca.crt"]);
    assert_eq!(secret["bearerToken"], server.bearer_token);
    let sync = git(&bare, &["show", SYNC]);
    assert!(sync.contains(&format!("  url: {url}\n")), "{sync}");
}

/// The length of the private scalar in an unencrypted OpenSSH ECDSA key file (PROTOCOL.key).
fn stored_scalar_len(file: &std::path::Path) -> usize {
    use base64::Engine;
    let text = std::fs::read_to_string(file).unwrap();
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    let blob = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    // Reads the string at `at` (u32 length, bytes): returns its start and length.
    let string = |at: &mut usize| {
        let len = u32::from_be_bytes(blob[*at..*at + 4].try_into().unwrap()) as usize;
        *at += 4 + len;
        (*at - len, len)
    };
    let mut at = b"openssh-key-v1\0".len();
    for _cipher_kdf_and_options in 0..3 {
        string(&mut at);
    }
    at += 4; // the number of keys
    string(&mut at); // the public key
    let (private, _) = string(&mut at);
    at = private + 8; // after the two check values
    for _algorithm_curve_and_point in 0..3 {
        string(&mut at);
    }
    string(&mut at).1
}

/// A P-521 key of ssh-keygen's whose scalar it wrote in 65 bytes, as it does for half of them
/// (the ssh-key crate alone refuses such files): 64 tries miss with odds of 2^-64.
fn short_scalar_p521_key() -> std::path::PathBuf {
    let dir = temp_dir("user-key-");
    for attempt in 0..64 {
        let key = dir.join(format!("p521-{attempt}"));
        let keygen = run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ecdsa", "-b", "521", "-N", "", "-f"])
            .arg(&key));
        assert!(keygen.status.success(), "{}", stderr(&keygen));
        if stored_scalar_len(&key) == 65 {
            return key;
        }
    }
    panic!("64 P-521 keys from ssh-keygen, none with a 65-byte scalar");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_syncs_from_the_ssh_hostname_with_a_p521_key() {
    let plane = ControlPlane::start_private();
    let server = GitSshServer::start();
    let url = server.create_repo("fleet");
    let bare = server.bare_path("fleet");
    let key = short_scalar_p521_key();
    server.authorize(&std::fs::read_to_string(key.with_extension("pub")).unwrap());
    let key_file = key.display().to_string();
    // The same server on its second port plays the SSH host that differs from the Git host.
    let ssh_hostname = format!("127.0.0.1:{}", server.second_port);
    let with = |ssh_hostname: &str| {
        vec![
            "--url".to_string(),
            url.clone(),
            "--path".into(),
            "clusters/dev".into(),
            "--private-key-file".into(),
            key_file.clone(),
            "--ssh-hostname".into(),
            ssh_hostname.to_string(),
        ]
    };

    let out = bootstrap(&plane, &strs(&with("ssh://127.0.0.1:22")), &[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "error: invalid value \"ssh://127.0.0.1:22\" for --ssh-hostname: give the SSH host as host or host:port (e.g. ssh.example.com:2222), without scheme, user or path\n"
    );

    let _stand_ins = stand_ins(&plane, &bare).await;
    let out = bootstrap(&plane, &strs(&with(&ssh_hostname)), &[]).await;
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    // Bootstrap pushed to --url's port with that port's host keys (ssh checks them strictly),
    // after scanning both hosts: three host keys each.
    let progress = stderr(&out);
    let scanned = progress
        .lines()
        .filter(|l| l.starts_with("✔ Git host key: "))
        .count();
    assert_eq!(scanned, 6, "{progress}");
    let head = git(&bare, &["rev-parse", "refs/heads/main"]);

    let sync_url = url.replace(
        &format!(":{}/", server.port),
        &format!(":{}/", server.second_port),
    );
    let sync = git(&bare, &["show", SYNC]);
    assert!(sync.contains(&format!("  url: {sync_url}\n")), "{sync}");

    // The Secret trusts the SSH host's keys under its name, and nothing else.
    let secret = source_secret(&plane);
    let mut trusted: Vec<&str> = secret["known_hosts"].lines().collect();
    trusted.sort_unstable();
    let mut expected: Vec<String> = server
        .host_public_keys()
        .iter()
        .map(|k| {
            let k: Vec<&str> = k.split_whitespace().take(2).collect();
            format!("[127.0.0.1]:{} {}", server.second_port, k.join(" "))
        })
        .collect();
    expected.sort_unstable();
    assert_eq!(trusted, expected);
    assert_eq!(secret["identity"], std::fs::read_to_string(&key).unwrap());

    // What the source-controller will do: ssh with the Secret's key and known_hosts alone
    // reaches the sync URL, and does not trust --url's host.
    let dir = temp_dir("cluster-credentials-");
    let identity = dir.join("identity");
    std::fs::write(&identity, &secret["identity"]).unwrap();
    std::fs::set_permissions(
        &identity,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let known_hosts = dir.join("known_hosts");
    std::fs::write(&known_hosts, &secret["known_hosts"]).unwrap();
    let ls_remote = |url: &str| {
        run(Command::new("git")
            .args(["ls-remote", url, "refs/heads/main"])
            .env(
                "GIT_SSH_COMMAND",
                format!(
                    "ssh -i {} -o IdentitiesOnly=yes -o IdentityAgent=none -o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes",
                    identity.display(),
                    known_hosts.display()
                ),
            ))
    };
    let synced = ls_remote(&sync_url);
    assert!(synced.status.success(), "{}", stderr(&synced));
    assert_eq!(stdout(&synced), format!("{head}\trefs/heads/main\n"));
    let other = ls_remote(&url);
    assert!(!other.status.success());
    assert!(
        stderr(&other).contains("Host key verification failed"),
        "{}",
        stderr(&other)
    );

    // The real flux CLI with the same flags finds the sync file byte-identical to its own.
    let flux = tokio::task::block_in_place(|| {
        run(Command::new(&plane.assets.flux_cli)
            .args([
                "bootstrap",
                "git",
                "--silent",
                "--branch=main",
                "--timeout=90s",
            ])
            .args(strs(&with(&ssh_hostname)))
            .arg(format!("--kubeconfig={}", plane.kubeconfig.display())))
    });
    assert!(
        flux.status.success(),
        "flux bootstrap failed:\n{}\n{}",
        stdout(&flux),
        stderr(&flux)
    );
    let log = stderr(&flux);
    assert!(log.contains("sync manifests are up to date"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_is_refused_unless_allowed_and_then_used_throughout() {
    let plane = ControlPlane::start_private();
    let server = GitHttpServer::start_plain();
    let url = server.create_repo("fleet");
    let bare = server.bare_path("fleet");
    let mut args = vec![
        "--url",
        &url,
        "--token-auth",
        "--username",
        &server.username,
        "--path",
        "clusters/dev",
    ];
    let env = [("GIT_PASSWORD", server.password.as_str())];

    // flux's rule: http:// only with the flag, refused before anything is contacted.
    let out = bootstrap(&plane, &args, &env).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "error: invalid value \"{url}\" for --url: plain http:// is insecure (credentials and content travel unencrypted); use an https:// URL, or pass --allow-insecure-http to allow it\n"
        )
    );
    let pushed = run(Command::new("git").arg("--git-dir").arg(&bare).args([
        "rev-parse",
        "--verify",
        "-q",
        "main",
    ]));
    assert_eq!(pushed.status.code(), Some(1), "nothing pushed");

    let _stand_ins = stand_ins(&plane, &bare).await;
    args.push("--allow-insecure-http");
    let out = bootstrap(&plane, &args, &env).await;
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(!stderr(&out).contains(&server.password));
    // The cluster syncs over the same http:// URL, with the same credentials (no CA).
    let sync = git(&bare, &["show", SYNC]);
    assert!(sync.contains(&format!("  url: {url}\n")), "{sync}");
    let secret = source_secret(&plane);
    let keys: Vec<&String> = secret.keys().collect();
    assert_eq!(keys, ["password", "username"]);
    assert_eq!(secret["username"], server.username);
    assert_eq!(secret["password"], server.password);
}
