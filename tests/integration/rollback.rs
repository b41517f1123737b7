//! `rollback` refusals and retries against the real API server and the loopback HTTPS Git
//! server; the Kustomization and its GitRepository are answered by the fake controller (the
//! real controllers are in tests/e2e/rollback.rs).

use std::path::Path;
use std::time::Duration;

use kubectl_gitops::flux::KUSTOMIZATION;

use crate::flux_objects::{create, kind, set_status};
use crate::git_remote::https_env;
use crate::support::fake_flux_controller::{Behaviour, FakeFluxController, fake_flux_controller};
use crate::support::git_servers::GitHttpServer;
use crate::support::processes::temp_dir;
use crate::support::{
    admin_client, control_plane, fresh_namespace, git_command, plugin_command, run, run_async,
    stderr, stdout,
};

fn git(cwd: &Path, args: &[&str], env: &[(&str, String)]) -> String {
    let mut command = git_command(cwd, "Someone", "someone@example.com");
    command.args(args).envs(env.iter().map(|(k, v)| (k, v)));
    let out = run(&mut command);
    assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    stdout(&out).trim().to_string()
}

/// A repository with two commits changing apps/ (values a, then b) and a GitRepository and
/// Kustomization `apps` in a fresh namespace that applied the second.
pub(crate) struct Fixture {
    pub(crate) server: GitHttpServer,
    pub(crate) ns: String,
    work: std::path::PathBuf,
    pub(crate) v1: String,
    pub(crate) v2: String,
}

impl Fixture {
    pub(crate) async fn new(prefix: &str) -> Fixture {
        let server = GitHttpServer::start();
        let url = server.create_repo("fleet");
        let env = https_env(&server);
        let dir = temp_dir("rollback-git-");
        git(&dir, &["clone", "--quiet", &url, "work"], &env);
        let work = dir.join("work");
        git(&work, &["checkout", "-q", "-B", "main"], &env);
        let commit = |value: &str| {
            std::fs::create_dir_all(work.join("apps")).expect("mkdir");
            std::fs::write(
                work.join("apps/settings.yaml"),
                format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: default\ndata:\n  value: {value}\n"),
            )
            .expect("write");
            git(&work, &["add", "-A"], &env);
            git(
                &work,
                &["commit", "-q", "-m", &format!("value {value}")],
                &env,
            );
            git(&work, &["push", "-q", "origin", "main"], &env);
            git(&work, &["rev-parse", "HEAD"], &env)
        };
        let v1 = commit("a");
        let v2 = commit("b");
        let ns = fresh_namespace(prefix);
        create(&[
            serde_json::json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                "metadata": {"name": "source", "namespace": ns},
                "spec": {"interval": "1m", "url": url, "ref": {"branch": "main"}}}),
            serde_json::json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                "metadata": {"name": "apps", "namespace": ns},
                "spec": {"interval": "10m", "path": "./apps", "prune": true,
                         "sourceRef": {"kind": "GitRepository", "name": "source"}}}),
        ]);
        let revision = format!("main@sha1:{v2}");
        set_status(
            "ks",
            &ns,
            "apps",
            Behaviour::Succeed {
                revision: revision.clone(),
            },
        )
        .await;
        set_status("gitrepo", &ns, "source", Behaviour::Succeed { revision }).await;
        Fixture {
            server,
            ns,
            work,
            v1,
            v2,
        }
    }

    async fn rollback(&self, args: &[&str]) -> std::process::Output {
        self.run_as(control_plane(), "rollback", args).await
    }

    /// `kubectl gitops <command> ks/apps -n <ns> <args>` as the user of `kubeconfig`, with
    /// the Git server's credentials.
    pub(crate) async fn run_as(
        &self,
        kubeconfig: impl AsRef<Path>,
        command: &str,
        args: &[&str],
    ) -> std::process::Output {
        let ca_file = self.server.ca_file.display().to_string();
        let mut full = vec![command, "ks/apps", "-n", &self.ns, "--ca-file", &ca_file];
        full.extend_from_slice(&["--git-username", &self.server.username]);
        full.extend_from_slice(args);
        let mut command = plugin_command(kubeconfig, &full);
        command
            .env("PATH", control_plane().assets.path_with_kubectl())
            .env("GIT_PASSWORD", &self.server.password);
        run_async(command).await
    }

    /// Stand-ins for kustomize- and source-controller that answer every reconcile request of
    /// `apps` and `source` as Ready at the head of the repository's main branch.
    pub(crate) async fn controllers_at_branch_head(&self) -> [FakeFluxController; 2] {
        let bare = self.server.bare_path("fleet");
        let branch_head = || Behaviour::SucceedAtBranchHead {
            bare_repo: bare.clone(),
            branch: "main".into(),
        };
        let client = admin_client().await;
        let ks = fake_flux_controller(
            client.clone(),
            &KUSTOMIZATION,
            &self.ns,
            "apps",
            branch_head(),
            Duration::from_millis(200),
        );
        let source = fake_flux_controller(
            client,
            kind("gitrepo"),
            &self.ns,
            "source",
            branch_head(),
            Duration::from_millis(200),
        );
        [ks, source]
    }

    pub(crate) fn head(&self) -> String {
        let bare = self.server.bare_path("fleet");
        git(
            &self.work,
            &[
                "--git-dir",
                &bare.display().to_string(),
                "rev-parse",
                "refs/heads/main",
            ],
            &[],
        )
    }

    fn tree(&self, commit: &str, path: &str) -> String {
        let bare = self.server.bare_path("fleet");
        git(
            &self.work,
            &[
                "--git-dir",
                &bare.display().to_string(),
                "rev-parse",
                &format!("{commit}:{path}"),
            ],
            &[],
        )
    }
}

#[tokio::test]
async fn a_branch_moved_during_rollback_is_retried_on_a_fresh_clone() {
    let f = Fixture::new("rollback-moved").await;
    let bare = f.server.bare_path("fleet");
    let _controllers = f.controllers_at_branch_head().await;
    f.server.move_branch_after_next_fetch("fleet", "main");
    let out = f
        .rollback(&["--to", &f.v1, "--yes", "--timeout", "60s"])
        .await;
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("warning: branch main moved while rolling back; the commit was made again on a fresh clone"),
        "{}",
        stderr(&out)
    );
    let head = f.head();
    let parent = git(
        &f.work,
        &[
            "--git-dir",
            &bare.display().to_string(),
            "rev-parse",
            &format!("{head}^"),
        ],
        &[],
    );
    assert_ne!(
        parent, f.v2,
        "made on top of the commit someone else pushed meanwhile"
    );
    assert_eq!(f.tree(&head, "apps"), f.tree(&f.v1, "apps"));
}

#[tokio::test]
async fn a_suspended_kustomization_and_a_foreign_commit_are_refused_with_nothing_pushed() {
    let f = Fixture::new("rollback-refused").await;
    let env = https_env(&f.server);
    // A commit of another branch: not in main's history.
    git(&f.work, &["checkout", "-q", "-b", "other"], &env);
    std::fs::write(
        f.work.join("apps/other.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n  namespace: default\n",
    )
    .expect("write");
    git(&f.work, &["add", "-A"], &env);
    git(&f.work, &["commit", "-q", "-m", "other"], &env);
    git(&f.work, &["push", "-q", "origin", "other"], &env);
    let foreign = git(&f.work, &["rev-parse", "HEAD"], &env);
    let out = f.rollback(&["--to", &foreign, "--yes"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "error: commit {foreign} is not in branch main: give a commit of its history (kubectl gitops history lists them)\n"
        ),
        "refused before anything is written"
    );
    assert_eq!(f.head(), f.v2, "nothing pushed");

    control_plane().kubectl_ok(&[
        "patch",
        "ks",
        "apps",
        "-n",
        &f.ns,
        "--type=merge",
        "-p",
        r#"{"spec":{"suspend":true}}"#,
    ]);
    let out = f.rollback(&["--to", &f.v1, "--yes"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "error: Kustomization/{ns}/apps is suspended, so a rollback commit would not be applied; resume it first (kubectl gitops resume ks apps -n {ns}), then roll back\n",
            ns = f.ns
        )
    );
    assert_eq!(f.head(), f.v2, "nothing pushed");
}
