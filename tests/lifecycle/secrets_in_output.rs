//! No credential reaches the output at any verbosity: `bootstrap git` over HTTPS (Git password,
//! registry password, the API server token) and over SSH (the generated deploy key), then
//! `status`, all at `-v 9` (every request traced). stdout and stderr are searched for each
//! secret and for its base64 forms (as a Secret's data or an Authorization header holds them).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::Engine;

use crate::bootstrap::{git, https_args, stand_ins, strs};
use crate::support::control_plane::ControlPlane;
use crate::support::git_servers::{GitHttpServer, GitSshServer};
use crate::support::processes::temp_dir;
use crate::support::{plugin_command, run_async, stderr, stdout};

const NS: &str = "flux-system";

/// A kubeconfig for `plane` whose user is the admin bearer token instead of a certificate.
fn token_kubeconfig(plane: &ControlPlane) -> PathBuf {
    let text = std::fs::read_to_string(&plane.kubeconfig).unwrap();
    let mut config: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    for user in config["users"].as_array_mut().expect("users") {
        user["user"] = serde_json::json!({ "token": plane.admin_token });
    }
    let path = temp_dir("token-kubeconfig-").join("config");
    std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();
    path
}

/// The texts that must not appear: the secret, its base64 (standard and URL-safe, padded or
/// not), and base64 of `user:secret` (HTTP basic auth, Docker's `auth`).
fn forms(user: &str, secret: &str) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let mut forms = vec![secret.to_string()];
    for value in [secret.to_string(), format!("{user}:{secret}")] {
        for engine in [&STANDARD, &STANDARD_NO_PAD] {
            forms.push(engine.encode(&value));
        }
        forms.push(URL_SAFE_NO_PAD.encode(&value));
    }
    forms
}

fn assert_hidden(what: &str, out: &Output, secrets: &[(&str, Vec<String>)]) {
    for (name, forms) in secrets {
        for form in forms {
            for (stream, text) in [("stdout", stdout(out)), ("stderr", stderr(out))] {
                assert!(
                    !text.contains(form.as_str()),
                    "{what}: {name} ({form}) appears on {stream}"
                );
            }
        }
    }
}

fn bootstrap_command(plane: &ControlPlane, kubeconfig: &Path, args: &[&str]) -> Command {
    let mut command = plugin_command(kubeconfig, &["bootstrap", "git", "-v", "9"]);
    command
        .args(args)
        .arg("--manifests")
        .arg(plane.assets.flux_release.join("install.yaml"))
        .args(["--timeout", "90s"])
        .env("XDG_CACHE_HOME", temp_dir("cache-"))
        .env_remove("GIT_PASSWORD");
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_bootstrap_and_status_at_v9_show_no_password_or_token() {
    let plane = ControlPlane::start_private();
    let kubeconfig = token_kubeconfig(&plane);
    let server = GitHttpServer::start();
    let url = server.create_repo("fleet");
    let _stand_ins = stand_ins(&plane, &server.bare_path("fleet")).await;
    let registry_password = "Registry-Pa55-7c1d9e";
    let mut args = https_args(&server, &url);
    args.extend(["--image-pull-secret".into(), "regcred".into()]);

    let mut command = bootstrap_command(&plane, &kubeconfig, &strs(&args));
    command.env("GIT_PASSWORD", &server.password).env(
        "KUBECTL_GITOPS_REGISTRY_CREDS",
        format!("robot:{registry_password}"),
    );
    let out = run_async(command).await;
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    // -v 9 did trace the requests, so the search below covers them.
    assert!(
        stderr(&out).contains("/api/v1/namespaces/flux-system/secrets"),
        "{}",
        stderr(&out)
    );
    let secrets = [
        ("Git password", forms(&server.username, &server.password)),
        ("registry password", forms("robot", registry_password)),
        ("API token", forms("", &plane.admin_token)),
    ];
    assert_hidden("bootstrap", &out, &secrets);

    let status = run_async(plugin_command(
        &kubeconfig,
        &["status", "-A", "-v", "9", "-o", "wide"],
    ))
    .await;
    assert!(status.status.success(), "{}", stderr(&status));
    assert_hidden("status", &status, &secrets);
    for format in ["json", "yaml"] {
        let status = run_async(plugin_command(
            &kubeconfig,
            &["status", "-A", "-v", "9", "-o", format],
        ))
        .await;
        assert_hidden(format, &status, &secrets);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_bootstrap_at_v9_shows_no_private_key() {
    let plane = ControlPlane::start_private();
    let kubeconfig = token_kubeconfig(&plane);
    let server = GitSshServer::start();
    let url = server.create_repo("fleet");
    let bare = server.bare_path("fleet");
    let _stand_ins = stand_ins(&plane, &bare).await;
    let (_known_hosts, ssh_command) = server.user_ssh_setup();

    let mut command = bootstrap_command(
        &plane,
        &kubeconfig,
        &["--url", &url, "--path", "clusters/dev"],
    );
    command
        .env("GIT_SSH_COMMAND", &ssh_command)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("start bootstrap");
    let (progress, deploy_key) =
        server.authorize_printed_deploy_key(child.stderr.take().expect("stderr"));
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(out.status.success(), "{}\n{progress}", stdout(&out));
    assert!(deploy_key.is_some(), "{progress}");
    assert!(!git(&bare, &["rev-parse", "refs/heads/main"]).is_empty());

    let secret = plane.kubectl_ok(&["get", "secret", NS, "-n", NS, "-o", "json"]);
    let secret: serde_json::Value = serde_json::from_str(&secret).unwrap();
    let encoded = secret["data"]["identity"]
        .as_str()
        .expect("identity")
        .to_string();
    let pem = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(&encoded)
            .unwrap(),
    )
    .unwrap();
    // Each base64 line of the key's body, and the whole PEM as the Secret's data holds it.
    let mut key_forms: Vec<String> = pem
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
        .map(str::to_string)
        .collect();
    assert!(!key_forms.is_empty(), "{pem}");
    key_forms.push(encoded);
    let secrets = [
        ("private key", key_forms),
        ("API token", forms("", &plane.admin_token)),
    ];
    for text in [stdout(&out), progress] {
        for (name, forms) in &secrets {
            for form in forms {
                assert!(
                    !text.contains(form.as_str()),
                    "{name} ({form}) in the output"
                );
            }
        }
        assert!(!text.contains("PRIVATE KEY"));
    }

    let status = run_async(plugin_command(
        &kubeconfig,
        &["status", "-A", "-v", "9", "-o", "yaml"],
    ))
    .await;
    assert!(status.status.success(), "{}", stderr(&status));
    assert_hidden("status", &status, &secrets);
}
