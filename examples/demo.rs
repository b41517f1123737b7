//! The local demo: a real Kubernetes control plane on loopback (the one the tests use), the
//! Flux CRDs installed into it, and kubectl-gitops run through the real kubectl against it:
//! version, status, reconcile (with its source), suspend and resume.
//!
//! No Flux controllers run in this cluster yet (bootstrap comes with a later issue), so the
//! tests' `fake_flux_controller` stands in for them and says so.
//!
//! Run it with `tests/demo.sh`. Pass `--keep` to leave the cluster running until Enter is
//! pressed, with the commands to try it printed.

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::Command;

use support::fake_flux_controller::{Behaviour, fake_flux_controller};

const PLUGINS: [&str; 7] = [
    "kubectl-gitops",
    "kubectl-gitops-version",
    "kubectl-gitops-status",
    "kubectl-gitops-reconcile",
    "kubectl-gitops-suspend",
    "kubectl-gitops-resume",
    "kubectl-gitops-bootstrap",
];

fn main() {
    let keep = std::env::args().any(|a| a == "--keep");
    println!("==> Starting a local control plane (etcd + kube-apiserver on loopback)");
    let plane = support::control_plane();
    println!("    API server: {}", plane.server);
    println!("    kubeconfig: {}", plane.kubeconfig.display());

    println!(
        "==> Installing the Flux {} CRDs (labelled as a Flux install)",
        plane.assets.flux_version
    );
    plane.install_flux_crds();

    // kubectl discovers plugins on PATH. Install this build's executables into a folder of
    // their own (cargo's target folder also holds `.d` files kubectl would warn about).
    let plugin_dir = support::processes::temp_dir("kubectl-gitops-demo-plugins-");
    for name in PLUGINS {
        std::fs::copy(support::plugin_exe(name), plugin_dir.join(name))
            .unwrap_or_else(|e| panic!("copy {name} (run `cargo build --bins` first): {e}"));
    }
    let path = std::env::join_paths(std::iter::once(plugin_dir.clone()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .expect("PATH");
    let kubectl = plane.assets.kubectl();
    let step = |title: &str, args: &[&str]| {
        println!("\n==> {title}\n$ kubectl {}", args.join(" "));
        let status = Command::new(&kubectl)
            .args(args)
            .env("PATH", &path)
            .env("KUBECONFIG", &plane.kubeconfig)
            .status()
            .expect("run kubectl");
        if !status.success() {
            eprintln!("demo step failed: kubectl {}", args.join(" "));
            std::process::exit(1);
        }
    };
    step("kubectl finds the plugin", &["plugin", "list"]);
    step(
        "The plugin, the cluster and the Flux version",
        &["gitops", "version"],
    );
    step(
        "The same, for scripts",
        &["gitops", "version", "-o", "yaml"],
    );

    // Two Flux objects to look at, and the stand-in that answers for the controllers.
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let _entered = runtime.enter();
    plane.kubectl_ok(&["create", "namespace", "demo"]);
    support::apply_object(serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "demo-repo", "namespace": "demo"},
        "spec": {"interval": "1m", "url": "https://git.example.com/demo.git", "ref": {"branch": "main"}}
    }));
    support::apply_object(serde_json::json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "demo-apps", "namespace": "demo"},
        "spec": {"interval": "10m", "path": "./apps", "prune": true,
                 "sourceRef": {"kind": "GitRepository", "name": "demo-repo"}}
    }));
    let client = runtime.block_on(support::admin_client());
    let revision = "main@sha1:4f2a9c1e7b3d5a6f8e0c2b4d6a8f0e1c3b5d7f9a".to_string();
    let kinds = |name| kubectl_gitops::flux::FluxKind::lookup(name).expect("kind");
    let delay = std::time::Duration::from_millis(600);
    let _git = fake_flux_controller(
        client.clone(),
        kinds("gitrepo"),
        "demo",
        "demo-repo",
        Behaviour::Succeed {
            revision: revision.clone(),
        },
        delay,
    );
    let _ks = fake_flux_controller(
        client,
        kinds("ks"),
        "demo",
        "demo-apps",
        Behaviour::Succeed { revision },
        delay,
    );
    println!(
        "\n(No Flux controllers run in this local cluster yet: a stand-in, fake_flux_controller,\n answers reconcile requests for the two demo objects after 0.6 s.)"
    );

    step(
        "Two new Flux objects, not reconciled yet",
        &["gitops", "status", "-n", "demo"],
    );
    step(
        "Reconcile the Kustomization and its source; waits by watching",
        &[
            "gitops",
            "reconcile",
            "ks",
            "demo-apps",
            "--with-source",
            "-n",
            "demo",
        ],
    );
    step(
        "Both Ready, at the fetched and applied revision",
        &["gitops", "status", "-n", "demo", "-o", "wide"],
    );
    step(
        "Suspend it",
        &["gitops", "suspend", "ks", "demo-apps", "-n", "demo"],
    );
    step(
        "Suspended objects are listed as such",
        &["gitops", "status", "ks", "-n", "demo"],
    );
    step(
        "Resume it: resume also reconciles and waits",
        &["gitops", "resume", "ks", "demo-apps", "-n", "demo"],
    );
    step(
        "For scripts: JSON",
        &[
            "gitops",
            "status",
            "ks/demo-apps",
            "-n",
            "demo",
            "-o",
            "json",
        ],
    );

    if keep {
        println!(
            "\nThe cluster stays up until you press Enter. In another shell:\n  export KUBECONFIG={}\n  export PATH={}:$PATH\n  {} gitops version",
            plane.kubeconfig.display(),
            plugin_dir.display(),
            kubectl.display()
        );
        let _ = std::io::stdin().read_line(&mut String::new());
    }
    println!("\n==> Done; the control plane stops and its temporary files are removed now.");
}
