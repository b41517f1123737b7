//! The local demo: a real Kubernetes control plane on loopback (the one the tests use), the
//! Flux CRDs installed into it, and kubectl-gitops run through the real kubectl against it.
//!
//! Run it with `tests/demo.sh`. Pass `--keep` to leave the cluster running until Enter is
//! pressed, with the commands to try it printed.

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::Command;

const PLUGINS: [&str; 5] = [
    "kubectl-gitops",
    "kubectl-gitops-version",
    "kubectl-gitops-status",
    "kubectl-gitops-reconcile",
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
