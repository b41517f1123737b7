//! Benchmark of install-manifest generation: `generate()` for all seven components from a
//! release bundle (default: the test environment's Flux release layout), median of 50 runs, plus
//! the YAML writing of the result. Goal: under 50 ms for generation.
//!
//!   cargo run --release --example bench_manifests [-- <manifests folder or file> [--print]]
//!
//! `--print` writes the generated gotk-components.yaml to stdout instead (for diffing against
//! `flux install --export`).

#[path = "common/mod.rs"]
mod common;

use common::median;
use std::path::PathBuf;
use std::time::Instant;

use kubectl_gitops::manifests::{self, EXTRA_COMPONENTS, InstallOptions, ManifestSource};

const RUNS: usize = 50;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let print = args.iter().any(|a| a == "--print");
    let path = match args.iter().find(|a| !a.starts_with("--")) {
        Some(path) => PathBuf::from(path),
        None => unpacked_release()?,
    };
    let flags = <Flags as clap::Parser>::parse_from(["bench"]);
    let mut options: InstallOptions = flags.install.options("flux-system")?;
    options
        .components
        .extend(EXTRA_COMPONENTS.map(String::from));
    options.source = ManifestSource::Local(path.clone());
    let bundle = manifests::load_bundle(&options).await;
    if !args.iter().any(|a| !a.starts_with("--")) {
        let _ = std::fs::remove_dir_all(&path);
    }
    let bundle = bundle?;
    if print {
        print!(
            "{}",
            manifests::generate(&bundle, &options)?.components_file()?
        );
        return Ok(());
    }

    let mut generate_times = Vec::new();
    let mut yaml_times = Vec::new();
    let mut objects = 0;
    for _ in 0..RUNS {
        let started = Instant::now();
        let generated = manifests::generate(&bundle, &options)?;
        generate_times.push(started.elapsed());
        let started = Instant::now();
        let text = generated.components_file()?;
        yaml_times.push(started.elapsed());
        objects = generated.objects.len();
        std::hint::black_box(text);
    }
    let text = manifests::generate(&bundle, &options)?.to_yaml()?;
    let started = Instant::now();
    std::hint::black_box(parse_documents(&text));
    let parse = started.elapsed();
    println!("| step (all 7 components, {objects} objects, median of {RUNS}) | time |");
    println!("|---|---|");
    println!(
        "| parsing the whole YAML back (once; as a Local bundle load does) | {:.1} ms |",
        parse.as_secs_f64() * 1e3
    );
    println!(
        "| generate() | {:.2} ms |",
        median(generate_times).as_secs_f64() * 1e3
    );
    println!(
        "| components_file() (YAML) | {:.2} ms |",
        median(yaml_times).as_secs_f64() * 1e3
    );
    Ok(())
}

fn parse_documents(text: &str) -> usize {
    serde_saphyr::from_multiple::<serde_json::Value>(text).map_or(0, |docs| docs.len())
}

#[derive(clap::Parser)]
struct Flags {
    #[command(flatten)]
    install: manifests::InstallFlags,
}

/// The test environment's release bundle, unpacked into a temporary folder.
fn unpacked_release() -> anyhow::Result<PathBuf> {
    let release = std::env::var("KUBECTL_GITOPS_TEST_FLUX_RELEASE").map_err(|_| {
        anyhow::anyhow!("pass a manifests folder, or run eval \"$(tests/env/prepare.sh)\" first")
    })?;
    let dir = std::env::temp_dir().join(format!("bench-manifests-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let status = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(PathBuf::from(release).join("manifests.tar.gz"))
        .arg("-C")
        .arg(&dir)
        .status()?;
    anyhow::ensure!(status.success(), "tar failed");
    Ok(dir)
}
