//! `bootstrap git` with signed commits against a branch that requires them (the loopback HTTPS
//! Git server with a pre-receive hook, as a protected branch), real gpg and ssh-keygen, and
//! `git verify-commit` as the judge; and taking over a Flux install another tool manages.

use crate::bootstrap::{bootstrap, git, https_args, stand_ins, strs};
use crate::support::control_plane::ControlPlane;
use crate::support::git_servers::{GitHttpServer, UNSIGNED_COMMIT_MESSAGE, require_signed_commits};
use crate::support::signing_keys::{GpgKey, SshSigningKey};
use crate::support::{stderr, stdout};
use crate::{assert_failed_after_progress as assert_clean_failure, names};

const NS: &str = "flux-system";
const GPG_PASSPHRASE: &str = "gpg-passphrase-4711";
const SSH_PASSPHRASE: &str = "ssh-passphrase-0815";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_commits_land_on_a_protected_branch_and_unsigned_ones_are_refused() {
    let plane = ControlPlane::start_private();
    let server = GitHttpServer::start();
    let url = server.create_repo("fleet");
    let bare = server.bare_path("fleet");
    require_signed_commits(&bare);
    let _stand_ins = stand_ins(&plane, &bare).await;
    let gpg = GpgKey::generate(GPG_PASSPHRASE);
    let args = https_args(&server, &url);
    let password = ("GIT_PASSWORD", server.password.as_str());
    let nothing_applied = |plane: &ControlPlane| {
        assert_eq!(names(plane, &["namespace", NS]), Vec::<String>::new());
        assert_eq!(
            names(plane, &["crd", "-l", "app.kubernetes.io/part-of=flux"]),
            Vec::<String>::new()
        );
    };

    // Unsigned: the server refuses the push with its message, and the cluster is untouched.
    let out = bootstrap(&plane, &strs(&args), &[password]).await;
    let err = assert_clean_failure(&out);
    assert!(
        err.contains("refused the push to branch \"main\"")
            && err.contains(&format!(
                "the server said: {UNSIGNED_COMMIT_MESSAGE} (refs/heads/main, commit "
            )),
        "{err}"
    );
    nothing_applied(&plane);
    assert_eq!(git(&bare, &["branch", "--list"]), "");

    // A wrong passphrase: found before the clone, nothing pushed.
    let mut signed = args.clone();
    signed.extend(["--gpg-key-ring".into(), gpg.key_ring.display().to_string()]);
    let out = bootstrap(
        &plane,
        &strs(&signed),
        &[password, ("GPG_PASSPHRASE", "not-the-passphrase")],
    )
    .await;
    let err = assert_clean_failure(&out);
    assert_eq!(
        err,
        "error: the passphrase of the commit signing key (--gpg-key-ring) is wrong; nothing was committed or pushed: give it in GPG_PASSPHRASE (or type it at the prompt on a terminal)"
    );
    assert!(!stderr(&out).contains("cloning"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("not-the-passphrase"));
    nothing_applied(&plane);

    // No passphrase and no terminal: asked for by name.
    let err = assert_clean_failure(&bootstrap(&plane, &strs(&signed), &[password]).await);
    assert!(
        err.contains("protected by a passphrase: give it in GPG_PASSPHRASE"),
        "{err}"
    );

    // Signed with OpenPGP: both commits land and verify.
    signed.extend(["--gpg-key-id".into(), gpg.key_id.clone()]);
    let out = bootstrap(
        &plane,
        &strs(&signed),
        &[password, ("GPG_PASSPHRASE", GPG_PASSPHRASE)],
    )
    .await;
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("✔ commits will be signed (OpenPGP, with gpg)\n"),
        "{}",
        stderr(&out)
    );
    for output in [stdout(&out), stderr(&out)] {
        assert!(!output.contains(GPG_PASSPHRASE), "passphrase in output");
    }
    let commits = git(&bare, &["rev-list", "main"]);
    let commits: Vec<&str> = commits.lines().collect();
    assert_eq!(commits.len(), 2);
    for commit in &commits {
        let said = gpg.verify_commit(&bare, commit);
        assert!(
            said.contains("Good signature from \"Flux Test <flux@example.com>\""),
            "{said}"
        );
    }
    assert_eq!(
        git(&bare, &["log", "--format=%an <%ae>|%s", "main"]),
        "Flux <>|Add Flux sync manifests\nFlux <>|Add Flux v2.9.4 component manifests"
    );

    use base64::Engine;
    // A re-run signed with an SSH key and new --interval, --author-email and --secret-name: one sync commit,
    // signed, by that author, and the interval and --secret-name in Git and in the cluster.
    let ssh = SshSigningKey::generate(SSH_PASSPHRASE);
    let mut ssh_signed = args.clone();
    ssh_signed.extend([
        "--ssh-signing-key-file".into(),
        ssh.key_file.display().to_string(),
        "--interval".into(),
        "2m".into(),
        "--author-email".into(),
        "flux@example.com".into(),
        "--secret-name".into(),
        "fleet-credentials".into(),
    ]);
    let out = bootstrap(
        &plane,
        &strs(&ssh_signed),
        &[password, ("SSH_SIGNING_PASSWORD", SSH_PASSPHRASE)],
    )
    .await;
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("(1 commits pushed, "),
        "{}",
        stdout(&out)
    );
    let head = git(&bare, &["rev-parse", "main"]);
    ssh.verify_commit(&bare, &head);
    assert_eq!(
        git(&bare, &["log", "-1", "--format=%an <%ae>|%s", "main"]),
        "Flux <flux@example.com>|Add Flux sync manifests"
    );
    let sync = git(
        &bare,
        &["show", "main:clusters/dev/flux-system/gotk-sync.yaml"],
    );
    assert!(sync.contains("  interval: 2m0s\n"), "{sync}");
    assert!(sync.contains("    name: fleet-credentials\n"), "{sync}");
    assert_eq!(
        plane.kubectl_ok(&[
            "get",
            "secret",
            "fleet-credentials",
            "-n",
            NS,
            "-o",
            "jsonpath={.data.username}"
        ]),
        base64::engine::general_purpose::STANDARD.encode(&server.username)
    );
    assert_eq!(
        plane.kubectl_ok(&[
            "get",
            "gitrepository",
            NS,
            "-n",
            NS,
            "-o",
            "jsonpath={.spec.interval} {.spec.secretRef.name}"
        ]),
        "2m0s fleet-credentials"
    );

    // One signing format at a time, refused as a usage error before anything runs.
    let mut both = ssh_signed.clone();
    both.extend(["--gpg-key-ring".into(), gpg.key_ring.display().to_string()]);
    let out = bootstrap(&plane, &strs(&both), &[password]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot be used with"),
        "{}",
        stderr(&out)
    );
    assert_eq!(git(&bare, &["rev-parse", "main"]), head);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_install_another_tool_manages_is_taken_over_only_with_force() {
    let plane = ControlPlane::start_private();
    let server = GitHttpServer::start();
    let url = server.create_repo("fleet");
    let bare = server.bare_path("fleet");
    // Another tool's install: the release's manifests, labelled as flux-operator labels them.
    let install = plane.assets.flux_release.join("install.yaml");
    plane.kubectl_ok(&["apply", "--server-side", "-f", install.to_str().unwrap()]);
    plane.kubectl_ok(&[
        "label",
        "crd",
        "gitrepositories.source.toolkit.fluxcd.io",
        "app.kubernetes.io/managed-by=flux-operator",
    ]);
    let _stand_ins = stand_ins(&plane, &bare).await;
    let args = https_args(&server, &url);
    let password = ("GIT_PASSWORD", server.password.as_str());

    // Without --force and without a terminal: refused, nothing committed.
    let err = assert_clean_failure(&bootstrap(&plane, &strs(&args), &[password]).await);
    assert!(
        err.contains("Flux in this cluster is managed by flux-operator; bootstrap would take it over (--force does so without asking)"),
        "{err}"
    );
    assert_eq!(git(&bare, &["branch", "--list"]), "");
    assert_eq!(
        names(&plane, &["gitrepository", "-n", NS]),
        Vec::<String>::new()
    );

    // With --force: bootstrapped, and the cluster follows the repository.
    let mut forced = args.clone();
    forced.push("--force".into());
    let out = bootstrap(&plane, &strs(&forced), &[password]).await;
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let head = git(&bare, &["rev-parse", "main"]);
    assert!(
        stdout(&out).starts_with(&format!(
            "✔ bootstrap finished: the cluster is synced to main@sha1:{head} (2 commits pushed, "
        )),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        names(&plane, &["gitrepository", "-n", NS]),
        ["gitrepository.source.toolkit.fluxcd.io/flux-system"]
    );
}
