//! Fleet mode on the real controllers: two clusters bootstrapped from two paths of one
//! repository; one push, one `reconcile --all-contexts` brings both to the new revision, and
//! `status --all-contexts --summary` shows both at it.

use crate::bootstrap::{https_args, https_git_env};
use crate::support::git_servers::GitHttpServer;
use crate::support::processes::temp_dir;
use crate::support::{plugin_command, run_async, stderr, stdout, write_fleet_kubeconfig};
use crate::{LiveFlux, NS, TIMEOUT, push};

fn config_map(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\ndata:\n  greeting: hello from the fleet\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_push_and_one_fleet_reconcile_bring_both_clusters_to_the_new_revision() {
    let (a, b) = tokio::join!(LiveFlux::start(), LiveFlux::start());
    let server = GitHttpServer::start();
    let url = server.create_repo("fleet");
    // One after the other: both push to the same repository.
    for (flux, path) in [(&a, "clusters/a"), (&b, "clusters/b")] {
        let mut args = https_args(&server, &url);
        let at = args.iter().position(|a| a == "--path").expect("--path");
        args[at + 1] = path.to_string();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        flux.bootstrap_ok(&args, &[("GIT_PASSWORD", server.password.as_str())])
            .await;
    }
    let kubeconfig = temp_dir("fleet-e2e-").join("config");
    write_fleet_kubeconfig(
        &kubeconfig,
        &[
            ("a", a.plane.server.as_str(), &a.plane),
            ("b", b.plane.server.as_str(), &b.plane),
        ],
    );

    let pushed = push(
        &url,
        &https_git_env(&server),
        "Add a ConfigMap to every cluster",
        &[
            ("clusters/a/app.yaml", Some(&config_map("fleet-a"))),
            ("clusters/b/app.yaml", Some(&config_map("fleet-b"))),
        ],
    );
    let revision = format!("main@sha1:{pushed}");

    let out = run_async(plugin_command(
        &kubeconfig,
        &[
            "reconcile",
            "ks",
            NS,
            "-n",
            NS,
            "--with-source",
            "--all-contexts",
            "--timeout",
            TIMEOUT,
        ],
    ))
    .await;
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "{text}\n{}\n{}\n{}",
        stderr(&out),
        a.logs(),
        b.logs()
    );
    for cluster in ["a", "b"] {
        assert!(
            text.contains(&format!(
                "{cluster}: ✔ Kustomization/flux-system in namespace flux-system: applied revision {revision}"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!("{cluster}: 1 of 1 reconciled, 0 failed")),
            "{text}"
        );
    }
    assert!(text.contains("2 clusters: 2 reconciled\n"), "{text}");
    // Applied by each cluster's kustomize-controller from its own path.
    assert!(a.get("configmap", "default", "fleet-a").is_some());
    assert!(b.get("configmap", "default", "fleet-b").is_some());
    assert!(a.get("configmap", "default", "fleet-b").is_none());

    let summary = |format: &'static [&'static str]| {
        let mut args = vec!["status", "--all-contexts", "--summary", "-n", NS];
        args.extend_from_slice(format);
        run_async(plugin_command(&kubeconfig, &args))
    };
    let out = summary(&[]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows[0], "2 clusters: 2 reachable", "{text}");
    for (row, cluster) in rows[2..].iter().zip(["a", "b"]) {
        let words: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(words[0], cluster, "{text}");
        assert_eq!(words[2], "4/4", "controllers ready: {text}");
        assert_eq!(
            words[6],
            format!("main@sha1:{}", &pushed[..12]),
            "root revision: {text}"
        );
    }
    let out = summary(&["-o", "json"]).await;
    let list: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    let roots: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["rootRevision"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(roots, vec![revision.as_str(), revision.as_str()]);
}
