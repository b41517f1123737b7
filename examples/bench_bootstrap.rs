//! Benchmark of `kubectl gitops bootstrap git` into an empty repository on the loopback HTTPS
//! Git server and a fresh local control plane, phase by phase (generate, Git, apply, wait),
//! next to the real `flux bootstrap git` in the same run with the same stand-ins (the kubelet
//! stand-in and the fake Flux controller, which answer at once). Run with
//! `tests/bench_bootstrap.sh`; prints a Markdown table.

#[path = "common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use common::median;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kubectl_gitops::flux::FluxKind;
use support::control_plane::ControlPlane;
use support::fake_flux_controller::{Behaviour, FakeFluxController, fake_flux_controller_with};
use support::git_servers::GitHttpServer;
use support::kubelet_stand_in::KubeletStandIn;

const NS: &str = "flux-system";

struct Setup {
    plane: ControlPlane,
    server: GitHttpServer,
    url: String,
    _stand_ins: (KubeletStandIn, FakeFluxController, FakeFluxController),
}

async fn setup() -> Setup {
    let plane = ControlPlane::start_private();
    let server = GitHttpServer::start();
    let url = server.create_repo("fleet");
    let client = support::admin_client_for(&plane.kubeconfig).await;
    let head = || Behaviour::SucceedAtBranchHead {
        bare_repo: server.bare_path("fleet"),
        branch: "main".into(),
    };
    let fake = |kind: &str| {
        fake_flux_controller_with(
            client.clone(),
            FluxKind::lookup(kind).expect("kind"),
            NS,
            NS,
            head(),
            Duration::ZERO,
            true,
        )
    };
    let stand_ins = (
        KubeletStandIn::start(client.clone(), NS, Arc::new(|_: &str| true)),
        fake("GitRepository"),
        fake("Kustomization"),
    );
    Setup {
        plane,
        server,
        url,
        _stand_ins: stand_ins,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let cache = support::processes::temp_dir("bench-cache-");
    let (mut generate, mut git, mut apply, mut wait, mut ours, mut flux) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for run in 0..runs {
        let s = setup().await;
        let mut command = Command::new(support::plugin_exe("kubectl-gitops"));
        command
            .args([
                "bootstrap",
                "git",
                "--token-auth",
                "--path=clusters/dev",
                "-o",
                "json",
            ])
            .arg(format!("--url={}", s.url))
            .arg(format!("--username={}", s.server.username))
            .arg(format!("--ca-file={}", s.server.ca_file.display()))
            .arg("--manifests")
            .arg(s.plane.assets.flux_release.join("install.yaml"))
            .arg("--kubeconfig")
            .arg(&s.plane.kubeconfig)
            .env("GIT_PASSWORD", &s.server.password)
            .env("XDG_CACHE_HOME", &cache);
        let started = Instant::now();
        let out = tokio::task::block_in_place(|| command.output()).expect("run bootstrap");
        let total = started.elapsed().as_secs_f64();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report");
        let phase = |name: &str| report["seconds"][name].as_f64().unwrap_or_default();
        generate.push(phase("generate"));
        git.push(phase("git"));
        apply.push(phase("apply"));
        wait.push(phase("wait"));
        ours.push(total);
        drop(s);

        let s = setup().await;
        let mut command = Command::new(&s.plane.assets.flux_cli);
        command
            .args([
                "bootstrap",
                "git",
                "--silent",
                "--token-auth",
                "--path=clusters/dev",
            ])
            .arg(format!("--url={}", s.url))
            .arg(format!("--username={}", s.server.username))
            .arg(format!("--ca-file={}", s.server.ca_file.display()))
            .arg(format!("--kubeconfig={}", s.plane.kubeconfig.display()))
            .env("GIT_PASSWORD", &s.server.password);
        let started = Instant::now();
        let out = tokio::task::block_in_place(|| command.output()).expect("run flux");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        flux.push(started.elapsed().as_secs_f64());
        eprintln!(
            "run {}: kubectl-gitops {:.2} s (git {:.2}, apply {:.2}), flux {:.2} s",
            run + 1,
            ours[run],
            git[run],
            apply[run],
            flux[run]
        );
    }
    let (git, apply) = (median(git), median(apply));
    let (ours, flux) = (median(ours), median(flux));
    println!("| bootstrap git into an empty repository (median of {runs}) | seconds |");
    println!("|---|---|");
    println!(
        "| kubectl-gitops: generate manifests | {:.3} |",
        median(generate)
    );
    println!("| kubectl-gitops: Git (clone, 2 commits, push) | {git:.3} |");
    println!("| kubectl-gitops: apply (CRDs, controllers, Secret, sync) | {apply:.3} |");
    println!("| kubectl-gitops: Git + apply | {:.3} |", git + apply);
    println!(
        "| kubectl-gitops: wait (stand-ins answer at once) | {:.3} |",
        median(wait)
    );
    println!("| kubectl-gitops: whole command | {ours:.3} |");
    println!("| flux bootstrap git: whole command | {flux:.3} |");
    println!("| ratio kubectl-gitops / flux | {:.2} |", ours / flux);
}
