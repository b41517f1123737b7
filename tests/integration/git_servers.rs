//! The loopback Git servers are real: git clones from and pushes to them over HTTPS with basic
//! auth and over SSH with a key, and they refuse wrong credentials and unknown host keys.

use std::path::Path;
use std::process::{Command, Output};

use base64::Engine;

use crate::support::git_servers::{GitHttpServer, GitSshServer};
use crate::support::processes::temp_dir;
use crate::support::{git_command, run, stderr};

/// git as a test user, plus `env`.
fn git(cwd: &Path, args: &[&str], env: &[(&str, String)]) -> Output {
    let mut command = git_command(cwd, "Test", "test@example.com");
    command.args(args).envs(env.iter().map(|(k, v)| (k, v)));
    run(&mut command)
}

/// Clones `url`, commits one file, pushes main; returns the push's output.
fn clone_commit_push(url: &str, env: &[(&str, String)]) -> Output {
    let dir = temp_dir("git-client-");
    let clone = git(&dir, &["clone", "--quiet", url, "work"], env);
    if !clone.status.success() {
        return clone;
    }
    let work = dir.join("work");
    std::fs::write(work.join("README.md"), "hello\n").unwrap();
    assert!(
        git(&work, &["checkout", "-q", "-b", "main"], env)
            .status
            .success()
    );
    assert!(git(&work, &["add", "README.md"], env).status.success());
    assert!(
        git(&work, &["commit", "-q", "-m", "first"], env)
            .status
            .success()
    );
    git(&work, &["push", "--porcelain", "origin", "main"], env)
}

fn head_of(bare: &Path) -> String {
    let out = git(bare, &["log", "-1", "--format=%s", "main"], &[]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn basic_auth(user: &str, password: &str) -> Vec<(&'static str, String)> {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    vec![
        ("GIT_CONFIG_COUNT", "2".to_string()),
        ("GIT_CONFIG_KEY_0", "http.extraHeader".to_string()),
        ("GIT_CONFIG_VALUE_0", String::new()),
        ("GIT_CONFIG_KEY_1", "http.extraHeader".to_string()),
        (
            "GIT_CONFIG_VALUE_1",
            format!("Authorization: Basic {token}"),
        ),
    ]
}

#[test]
fn https_server_takes_pushes_with_basic_auth_and_refuses_a_wrong_password() {
    let server = GitHttpServer::start();
    let url = server.create_repo("demo");
    let mut env = basic_auth(&server.username, &server.password);
    env.push(("GIT_SSL_CAINFO", server.ca_file.display().to_string()));
    let push = clone_commit_push(&url, &env);
    assert!(
        push.status.success(),
        "push over HTTPS failed: {}",
        stderr(&push)
    );
    assert_eq!(head_of(&server.bare_path("demo")), "first");

    let mut wrong = basic_auth(&server.username, "wrong-password");
    wrong.push(("GIT_SSL_CAINFO", server.ca_file.display().to_string()));
    let refused = git(
        &temp_dir("git-client-"),
        &["clone", "--quiet", &url, "work"],
        &wrong,
    );
    assert!(!refused.status.success());
    let err = stderr(&refused);
    // A 401 makes git ask for a username, which the disabled prompt refuses.
    assert!(
        err.contains("could not read Username") || err.contains("Authentication failed"),
        "{err}"
    );

    // Without the CA, TLS verification fails: the server really speaks HTTPS with its own CA.
    let untrusted = git(
        &temp_dir("git-client-"),
        &["clone", "--quiet", &url, "work"],
        &basic_auth(&server.username, &server.password),
    );
    assert!(!untrusted.status.success());
    assert!(
        stderr(&untrusted).contains("certificate"),
        "{}",
        stderr(&untrusted)
    );
}

#[test]
fn ssh_server_takes_pushes_with_an_authorized_key_and_checks_host_keys() {
    let server = GitSshServer::start();
    let url = server.create_repo("demo");
    let dir = temp_dir("ssh-client-");
    let key = dir.join("id_ed25519");
    let keygen = run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key));
    assert!(keygen.status.success(), "{}", stderr(&keygen));
    server.authorize(&std::fs::read_to_string(key.with_extension("pub")).unwrap());

    let scan = run(Command::new("ssh-keyscan").args(["-p", &server.port.to_string(), "127.0.0.1"]));
    let known_hosts = String::from_utf8_lossy(&scan.stdout).into_owned();
    assert!(
        known_hosts.contains(&format!("[127.0.0.1]:{}", server.port)),
        "{known_hosts}"
    );
    for host_key in server.host_public_keys() {
        let base64 = host_key.split_whitespace().nth(1).unwrap();
        assert!(
            known_hosts.contains(base64),
            "scan misses {host_key}: {known_hosts}"
        );
    }
    let known_hosts_file = dir.join("known_hosts");
    std::fs::write(&known_hosts_file, &known_hosts).unwrap();

    let ssh_command = |known: &Path| {
        vec![(
            "GIT_SSH_COMMAND",
            format!(
                "ssh -i '{}' -o IdentitiesOnly=yes -o UserKnownHostsFile='{}' -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes",
                key.display(),
                known.display()
            ),
        )]
    };
    let push = clone_commit_push(&url, &ssh_command(&known_hosts_file));
    assert!(
        push.status.success(),
        "push over SSH failed: {}",
        stderr(&push)
    );
    let bare = Path::new(url.split_once(&format!(":{}", server.port)).unwrap().1);
    assert_eq!(head_of(bare), "first");

    let empty = dir.join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let unknown_host = git(
        &temp_dir("git-client-"),
        &["clone", "--quiet", &url, "work"],
        &ssh_command(&empty),
    );
    assert!(!unknown_host.status.success());
    assert!(
        stderr(&unknown_host).contains("Host key verification failed"),
        "{}",
        stderr(&unknown_host)
    );
}
