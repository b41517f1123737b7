//! Benchmark of fleet mode (`tests/bench_fleet.sh`, release build); prints a Markdown table.
//!
//! Starts N private control planes (default 20; `BENCH_FLEET_CLUSTERS`) with M Flux objects
//! each (default 500; `BENCH_FLEET_OBJECTS`, mixed kinds and states) as contexts `c00`.. of one
//! kubeconfig, then measures in the same run:
//! - one cluster's `status -A` (median of runs), against
//! - `status -A --all-contexts` over the N clusters (median of runs, peak RSS), and
//! - the N single-cluster runs one after the other (what a shell loop over contexts costs);
//! - the fleet plus one hung cluster (a port that accepts connections and never answers), with
//!   the default 10 s request deadline of fleet mode;
//! - the same single and fleet runs with each cluster at a network distance (round-trip times
//!   from `BENCH_FLEET_RTTS_MS`, default 20 and 100 ms), through a forwarder that delays every
//!   chunk in each direction: on loopback the 20 API servers share this machine's cores with
//!   the plugin, so the loopback ratio measures CPU contention; real fleets are remote, and the
//!   delayed runs show how the fleet's wall time compares with one cluster's when round trips
//!   dominate.
//!
//! Memory: the drop in MemAvailable while the planes are up is reported, so the note can say
//! whether N planes fit the machine.
//!
//! For work on the plugin's own speed, `BENCH_FLEET_ONLY=remote` starts one plane and runs only
//! the remote stand-in runs (N contexts, all answered as that plane answers); with
//! `BENCH_FLEET_HOLD=1` it then prints the stand-in's kubeconfig and keeps serving, for
//! profiling by hand (`perf record kubectl-gitops status -A --contexts 's0-*' ...`).

#[path = "common/mod.rs"]
mod common;
#[path = "common/remote_api_stand_in.rs"]
mod remote_api_stand_in;
#[path = "../tests/support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{flux_object, wait_measured};
use futures::StreamExt;
use futures::stream;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kubectl_gitops::flux::FluxKind;
use support::control_plane::ControlPlane;
use support::fake_flux_controller::{Behaviour, status_patch};

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// MemAvailable in MiB.
fn mem_available_mib() -> f64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// The machine's busy and total CPU time so far, in clock ticks (/proc/stat).
fn cpu_ticks() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = text
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = fields.iter().sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// Stand-in for network distance to a cluster: a TCP forwarder on loopback that delivers every
/// chunk `one_way` later in each direction (latency only, no bandwidth limit, order kept).
/// Returns the address to use instead of `upstream`; it serves until the process exits.
fn delay_proxy(upstream: SocketAddr, one_way: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the delay proxy");
    let address = listener.local_addr().expect("proxy address");
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(upstream) else {
                continue;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (Ok(client_in), Ok(server_in)) = (client.try_clone(), server.try_clone()) else {
                continue;
            };
            delayed_pump(client_in, server, one_way);
            delayed_pump(server_in, client, one_way);
        }
    });
    address
}

/// Copies `from` to `to`, each chunk written `delay` after it was read.
fn delayed_pump(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let (chunks, due) = std::sync::mpsc::channel::<(Instant, Vec<u8>)>();
    std::thread::spawn(move || {
        let mut buffer = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = from.read(&mut buffer) {
            if chunks
                .send((Instant::now() + delay, buffer[..n].to_vec()))
                .is_err()
            {
                break;
            }
        }
    });
    std::thread::spawn(move || {
        for (at, chunk) in due {
            std::thread::sleep(at.saturating_duration_since(Instant::now()));
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}

/// One run: wall time, peak RSS (MiB), the plugin's own CPU time (user + system), the share of
/// the machine's CPUs busy meanwhile (all processes: the API servers too), and the exit status.
struct Run {
    wall: Duration,
    rss: f64,
    cpu: Duration,
    busy: f64,
    code: i32,
}

fn run_once(args: &[&str]) -> Run {
    let (busy_before, total_before) = cpu_ticks();
    let started = Instant::now();
    #[allow(clippy::zombie_processes)] // reaped by wait_measured
    let child = Command::new(support::plugin_exe("kubectl-gitops"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let finished = wait_measured(child, started);
    let (busy_after, total_after) = cpu_ticks();
    Run {
        wall: finished.wall,
        rss: finished.peak_kib as f64 / 1024.0,
        cpu: finished.cpu,
        busy: (busy_after - busy_before) as f64 / (total_after - total_before).max(1) as f64,
        code: finished.code,
    }
}

/// The run of median wall time among `runs` runs (which must exit with `expected`), with the
/// highest peak RSS of them.
fn measure(args: &[&str], runs: usize, expected: i32) -> Run {
    let mut all: Vec<Run> = (0..runs).map(|_| run_once(args)).collect();
    for run in &all {
        assert_eq!(run.code, expected, "{args:?} exited with {}", run.code);
    }
    let peak = all.iter().map(|r| r.rss).fold(0.0, f64::max);
    all.sort_by_key(|r| r.wall);
    let mut median = all.swap_remove(all.len() / 2);
    median.rss = peak;
    median
}

/// M objects in 10 namespaces of one plane: half Kustomizations, 30% GitRepositories, 20%
/// HelmReleases; mostly Ready, some Failed, Stalled, suspended or never reconciled.
async fn seed(plane: &ControlPlane, total: usize) {
    let client = support::admin_client_for(&plane.kubeconfig).await;
    let (ks, git, hr) = (
        FluxKind::lookup("ks").expect("ks"),
        FluxKind::lookup("gitrepo").expect("gitrepo"),
        FluxKind::lookup("hr").expect("hr"),
    );
    let namespaces = 10;
    let mut work = Vec::new();
    for n in 0..namespaces {
        let ns = format!("bench-{n:02}");
        plane.kubectl_ok(&["create", "namespace", &ns]);
        for i in 0..total / namespaces {
            let kind = match i % 10 {
                0..=4 => ks,
                5..=7 => git,
                _ => hr,
            };
            work.push((kind, ns.clone(), format!("{}-{i}", kind.short_names[0]), i));
        }
    }
    stream::iter(work)
        .for_each_concurrent(16, |(kind, ns, name, i)| {
            let client = client.clone();
            async move {
                let api: Api<DynamicObject> =
                    Api::namespaced_with(client, &ns, &kind.api_resource());
                let created = api
                    .create(
                        &PostParams::default(),
                        &flux_object(kind, &ns, &name, i % 20 == 19),
                    )
                    .await
                    .expect("create");
                let behaviour = match i % 20 {
                    0..=13 => Some(Behaviour::Succeed {
                        revision: "main@sha1:0123456789abcdef0123456789abcdef01234567".into(),
                    }),
                    14 | 15 => Some(Behaviour::Fail {
                        reason: "BuildFailed".into(),
                        message: "kustomize build failed".into(),
                    }),
                    16 => Some(Behaviour::Stall {
                        reason: "InvalidPath".into(),
                        message: "path not found".into(),
                    }),
                    _ => None,
                };
                if let Some(behaviour) = behaviour {
                    let generation = created.metadata.generation.unwrap_or(1);
                    let patch = status_patch(kind, generation, None, &behaviour);
                    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                        .expect("status");
                }
            }
        })
        .await;
}

/// The runs on the real planes: one cluster, the fleet, one after the other, with a hung
/// cluster, and at every network distance.
struct LocalRuns {
    single: Run,
    fleet: Run,
    sequential: Duration,
    sequential_cpu: Duration,
    hung_run: Run,
    distances: Vec<(u64, Run, Run, Run)>,
}

fn measure_planes(
    planes: &[ControlPlane],
    dir: &std::path::Path,
    rtts: &[u64],
    runs: usize,
) -> LocalRuns {
    let clusters = planes.len();
    let kubeconfig = dir.join("config");
    // A port that accepts connections (the kernel's backlog) and never answers.
    let hung = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let hung_server = format!(
        "https://127.0.0.1:{}",
        hung.local_addr().expect("address").port()
    );
    let names: Vec<String> = (0..clusters).map(|i| format!("c{i:02}")).collect();
    let mut entries: Vec<(&str, &str, &ControlPlane)> = names
        .iter()
        .zip(planes)
        .map(|(name, plane)| (name.as_str(), plane.server.as_str(), plane))
        .collect();
    entries.push(("hung", hung_server.as_str(), &planes[0]));
    // Each cluster again at every network distance: contexts r<RTT>-cNN through a delay proxy.
    let mut distant: Vec<(String, String, usize)> = Vec::new();
    for rtt in rtts {
        for (index, plane) in planes.iter().enumerate() {
            let upstream: SocketAddr = plane
                .server
                .trim_start_matches("https://")
                .parse()
                .expect("the plane's address");
            let proxy = delay_proxy(upstream, Duration::from_millis(rtt / 2));
            distant.push((
                format!("r{rtt}-c{index:02}"),
                format!("https://{proxy}"),
                index,
            ));
        }
    }
    for (name, server, index) in &distant {
        entries.push((name.as_str(), server.as_str(), &planes[*index]));
    }
    support::write_fleet_kubeconfig(&kubeconfig, &entries);
    let kc = kubeconfig.display().to_string();
    let with = |extra: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = ["status", "-A", "--kubeconfig", &kc]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };

    // Warm the page cache and the API servers' watch caches once.
    for name in &names {
        run_once(
            &with(&["--context", name])
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        );
    }
    let single_args = with(&["--context", "c00"]);
    let single: Vec<&str> = single_args.iter().map(String::as_str).collect();
    let single = measure(&single, runs, 0);

    let pattern = "c*".to_string();
    let fleet_args = with(&["--contexts", &pattern]);
    let fleet: Vec<&str> = fleet_args.iter().map(String::as_str).collect();
    let fleet = measure(&fleet, runs, 0);

    let mut sequential = Duration::ZERO;
    let mut sequential_cpu = Duration::ZERO;
    for name in &names {
        let args = with(&["--context", name]);
        let run = run_once(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(run.code, 0);
        sequential += run.wall;
        sequential_cpu += run.cpu;
    }

    // The hung cluster first: it holds one of the --max-concurrency slots all along.
    let hung_args = with(&["--contexts", "hung,c*"]);
    let hung_strs: Vec<&str> = hung_args.iter().map(String::as_str).collect();
    let hung_run = measure(&hung_strs, runs.min(3), 1);
    drop(hung);

    let mut distances = Vec::new();
    // The default --max-concurrency (16) runs a fleet of 20 in two waves; this many runs it in one.
    let wave = clusters.to_string();
    for rtt in rtts {
        let first = format!("r{rtt}-c00");
        let one = with(&["--context", &first]);
        let one = measure(&one.iter().map(String::as_str).collect::<Vec<_>>(), runs, 0);
        let pattern = format!("r{rtt}-c*");
        let all = with(&["--contexts", &pattern]);
        let all = measure(&all.iter().map(String::as_str).collect::<Vec<_>>(), runs, 0);
        let one_wave = with(&["--contexts", &pattern, "--max-concurrency", &wave]);
        let one_wave = measure(
            &one_wave.iter().map(String::as_str).collect::<Vec<_>>(),
            runs,
            0,
        );
        distances.push((*rtt, one, all, one_wave));
    }

    LocalRuns {
        single,
        fleet,
        sequential,
        sequential_cpu,
        hung_run,
        distances,
    }
}

#[tokio::main]
async fn main() {
    let clusters = env_number("BENCH_FLEET_CLUSTERS", 20);
    let objects = env_number("BENCH_FLEET_OBJECTS", 500);
    let runs = env_number("BENCH_RUNS", 5);
    let available_before = mem_available_mib();
    let remote_only = std::env::var("BENCH_FLEET_ONLY").is_ok_and(|v| v == "remote");
    let planes_wanted = if remote_only { 1 } else { clusters };

    // A few at a time: each start is mostly waiting, but two cores are shared.
    let started = Instant::now();
    let mut planes: Vec<ControlPlane> = Vec::new();
    for batch in (0..planes_wanted).collect::<Vec<_>>().chunks(4) {
        let started_batch: Vec<ControlPlane> = std::thread::scope(|scope| {
            let handles: Vec<_> = batch
                .iter()
                .map(|_| {
                    scope.spawn(|| {
                        let plane = ControlPlane::start_private();
                        plane.install_flux_crds();
                        plane
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("start a plane"))
                .collect()
        });
        for plane in &started_batch {
            seed(plane, objects).await;
        }
        planes.extend(started_batch);
        eprintln!(
            "{} of {planes_wanted} planes up and seeded ({:.0}s)",
            planes.len(),
            started.elapsed().as_secs_f64()
        );
    }
    let available_after = mem_available_mib();

    let dir = support::processes::temp_dir("bench-fleet-");
    let rtts: Vec<u64> = std::env::var("BENCH_FLEET_RTTS_MS")
        .unwrap_or_else(|_| "20,100".to_string())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    let local = (!remote_only).then(|| measure_planes(&planes, &dir, &rtts, runs));

    // Remote clusters: c00's answers replayed by the stand-in at every distance (and on
    // loopback), so the servers cost this machine almost nothing and the plugin's own work is
    // what is measured. Contexts s<RTT>-NN, all answered as c00 answers.
    let stand_in =
        remote_api_stand_in::start(support::admin_client_for(&planes[0].kubeconfig).await, &dir);
    let (admin_cert, admin_key) = planes[0].pki.client_cert("admin", Some("system:masters"));
    let mut remote = Vec::new();
    let remote_config = dir.join("remote-config");
    let mut clusters_yaml = String::new();
    let mut contexts_yaml = String::new();
    for rtt in std::iter::once(0).chain(rtts.iter().copied()) {
        let address = if rtt == 0 {
            stand_in.address
        } else {
            delay_proxy(stand_in.address, Duration::from_millis(rtt / 2))
        };
        for index in 0..clusters {
            let name = format!("s{rtt}-{index:02}");
            clusters_yaml += &format!(
                "- name: {name}\n  cluster:\n    server: https://{address}\n    certificate-authority: {}\n",
                stand_in.ca.display()
            );
            contexts_yaml +=
                &format!("- name: {name}\n  context:\n    cluster: {name}\n    user: admin\n");
        }
        remote.push(rtt);
    }
    std::fs::write(
        &remote_config,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: s0-00\nclusters:\n{clusters_yaml}users:\n- name: admin\n  user:\n    client-certificate: {}\n    client-key: {}\ncontexts:\n{contexts_yaml}",
            admin_cert.display(),
            admin_key.display()
        ),
    )
    .expect("write the stand-in kubeconfig");
    let rc = remote_config.display().to_string();
    if std::env::var("BENCH_FLEET_HOLD").is_ok_and(|v| v == "1") {
        println!("stand-in kubeconfig: {rc} (contexts s<RTT>-NN); serving until killed");
        std::future::pending::<()>().await;
    }
    let mut remote_runs = Vec::new();
    for rtt in remote {
        let args = |selection: &[&str]| -> Vec<String> {
            ["status", "-A", "--kubeconfig", &rc]
                .iter()
                .chain(selection)
                .map(|s| s.to_string())
                .collect()
        };
        let first = format!("s{rtt}-00");
        let one = args(&["--context", &first]);
        let one: Vec<&str> = one.iter().map(String::as_str).collect();
        run_once(&one); // records c00's answers on the first distance
        let one = measure(&one, runs, 0);
        let pattern = format!("s{rtt}-*");
        let all = args(&["--contexts", &pattern]);
        let all = measure(&all.iter().map(String::as_str).collect::<Vec<_>>(), runs, 0);
        let wave = clusters.to_string();
        let one_wave = args(&["--contexts", &pattern, "--max-concurrency", &wave]);
        let one_wave = measure(
            &one_wave.iter().map(String::as_str).collect::<Vec<_>>(),
            runs,
            0,
        );
        remote_runs.push((rtt, one, all, one_wave));
    }

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "fleet benchmark: {clusters} control planes x {objects} Flux objects, all on this {cores}-core machine (release build, median of {runs} runs)\n"
    );
    if let Some(LocalRuns {
        single,
        fleet,
        sequential,
        sequential_cpu,
        hung_run,
        distances,
    }) = &local
    {
        println!("| command | wall time | plugin CPU | machine busy | peak RSS |");
        println!("|---|---|---|---|---|");
        let row = |what: &str, run: &Run, note: &str| {
            println!(
                "| {what} | {:.3}s{note} | {:.3}s | {:.0}% | {:.1} MiB |",
                run.wall.as_secs_f64(),
                run.cpu.as_secs_f64(),
                run.busy * 100.0,
                run.rss
            );
        };
        row("`status -A --context c00` (one cluster)", single, "");
        row(
            &format!(
                "`status -A --contexts 'c*'` ({clusters} clusters, {} objects)",
                clusters * objects
            ),
            fleet,
            &format!(
                " ({:.2}x one cluster)",
                fleet.wall.as_secs_f64() / single.wall.as_secs_f64()
            ),
        );
        println!(
            "| {clusters} x `status -A --context cNN`, one after the other | {:.3}s | {:.3}s | - | - |",
            sequential.as_secs_f64(),
            sequential_cpu.as_secs_f64()
        );
        row(
            "`status -A --contexts 'hung,c*'` (+1 cluster that accepts and never answers; 10s deadline)",
            hung_run,
            &format!(
                " (+{:.3}s)",
                hung_run.wall.as_secs_f64() - fleet.wall.as_secs_f64()
            ),
        );
        println!(
            "\nmemory: MemAvailable {:.0} MiB before, {:.0} MiB with {clusters} planes up ({:.0} MiB for the planes, {:.0} MiB each)",
            available_before,
            available_after,
            available_before - available_after,
            (available_before - available_after) / clusters as f64
        );
        if !distances.is_empty() {
            println!(
                "\nat a network distance (every byte delayed by half the round trip each way; the same planes):\n"
            );
            println!(
                "| round trip | one cluster | {clusters} clusters | ratio | with --max-concurrency {clusters} | ratio | fleet plugin CPU | fleet peak RSS |"
            );
            println!("|---|---|---|---|---|---|---|---|");
            for (rtt, one, all, one_wave) in distances {
                println!(
                    "| {rtt} ms | {:.3}s | {:.3}s | {:.2}x | {:.3}s | {:.2}x | {:.3}s | {:.1} MiB |",
                    one.wall.as_secs_f64(),
                    all.wall.as_secs_f64(),
                    all.wall.as_secs_f64() / one.wall.as_secs_f64(),
                    one_wave.wall.as_secs_f64(),
                    one_wave.wall.as_secs_f64() / one.wall.as_secs_f64(),
                    all.cpu.as_secs_f64(),
                    all.rss
                );
            }
        }
    }
    println!(
        "\nremote clusters (stand-in for remote API servers: c00's answers replayed from memory, so this machine runs only the plugin):\n"
    );
    println!(
        "| round trip | one cluster | {clusters} clusters | ratio | with --max-concurrency {clusters} | ratio | {clusters} x one cluster | fleet plugin CPU | fleet peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (rtt, one, all, one_wave) in &remote_runs {
        println!(
            "| {rtt} ms | {:.3}s | {:.3}s | {:.2}x | {:.3}s | {:.2}x | {:.3}s | {:.3}s | {:.1} MiB |",
            one.wall.as_secs_f64(),
            all.wall.as_secs_f64(),
            all.wall.as_secs_f64() / one.wall.as_secs_f64(),
            one_wave.wall.as_secs_f64(),
            one_wave.wall.as_secs_f64() / one.wall.as_secs_f64(),
            one.wall.as_secs_f64() * clusters as f64,
            all.cpu.as_secs_f64(),
            all.rss
        );
    }
}
