//! The real Flux controllers (built by tests/env/prepare.sh from their Go modules) as host
//! processes against the test control plane, one set per test namespace.
//!
//! Out of a cluster they read the kubeconfig from `KUBECONFIG` and the namespace they live in
//! from `RUNTIME_NAMESPACE`; every address is a free loopback port, so parallel tests never
//! collide, and source-controller advertises its artifact server on loopback so that
//! kustomize-controller can download from it. Each set watches only its own namespace
//! (`--watch-all-namespaces=false`): two sets in one test binary share the API server and must
//! not reconcile each other's objects. Leader election is off (the controllers' default).

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::control_plane::{ControlPlane, http_get_ok};
use super::kubelet_stand_in::Readiness;
use super::processes::{free_port, log_tail, process_listens_on, spawn, stop, temp_dir};

/// The controllers every Flux install has; the tests fail when they are not built.
const REQUIRED: [&str; 2] = ["source-controller", "kustomize-controller"];
/// Every controller started when built (see FLUX_CONTROLLER_BUILDS in prepare.sh), in start
/// order: notification-controller first, because the others send their events to it.
const START_ORDER: [&str; 4] = [
    "notification-controller",
    "source-controller",
    "kustomize-controller",
    "helm-controller",
];

/// How long a controller may take to answer `/readyz` (2 shared cores, cold page cache).
const READY_WITHIN: Duration = Duration::from_secs(120);

/// One running controller process.
pub struct RunningController {
    /// The controller's name, which is also the name of its Deployment in a Flux install.
    pub name: String,
    pub health_port: u16,
    pub log: PathBuf,
    child: Child,
}

impl RunningController {
    /// Whether the process answers `/readyz` with 200 right now.
    pub fn is_ready(&self) -> bool {
        http_get_ok(self.health_port, "/readyz")
    }
}

/// The controllers of one namespace, stopped when dropped (and at exit at the latest).
pub struct FluxControllers {
    pub namespace: String,
    /// `http://127.0.0.1:<port>`: where source-controller serves artifacts.
    pub storage_url: String,
    pub controllers: Vec<RunningController>,
    /// Controllers stopped by `stop_controller`, kept for their logs.
    stopped: Vec<RunningController>,
    dir: PathBuf,
}

/// The ports and arguments of one controller start, chosen fresh for each attempt.
struct Launch {
    args: Vec<String>,
    health_port: u16,
    /// Every port it must listen on itself before it counts as started.
    ports: Vec<u16>,
}

impl FluxControllers {
    /// Starts every built controller for `namespace` and waits until each answers `/readyz`.
    /// Install the Flux CRDs first: the controllers watch their kinds from the start.
    pub fn start(plane: &ControlPlane, namespace: &str) -> FluxControllers {
        let folder = &plane.assets.flux_controllers;
        for name in REQUIRED {
            assert!(
                folder.join(name).is_file(),
                "{name} is not in {}: run tests/env/prepare.sh, which builds it",
                folder.display()
            );
        }
        let dir = temp_dir(&format!("flux-controllers-{namespace}-"));
        let mut controllers = Vec::new();
        let mut storage_url = String::new();
        let mut events_url = None;
        for name in START_ORDER {
            let binary = folder.join(name);
            if !binary.is_file() {
                continue;
            }
            let (controller, extra) = start_one(plane, namespace, &dir, name, &binary, || {
                launch(name, &dir, events_url.as_deref())
            });
            match extra {
                Extra::EventsUrl(url) => events_url = Some(url),
                Extra::StorageUrl(url) => storage_url = url,
                Extra::None => {}
            }
            controllers.push(controller);
        }
        FluxControllers {
            namespace: namespace.to_string(),
            storage_url,
            controllers,
            stopped: Vec::new(),
            dir,
        }
    }

    /// The running controller called `name` (its Deployment's name), if it was started.
    pub fn controller(&self, name: &str) -> Option<&RunningController> {
        self.controllers.iter().find(|c| c.name == name)
    }

    /// A readiness predicate for the kubelet stand-in: a Deployment is ready when the host
    /// process of the same name answers `/readyz`.
    pub fn readiness(&self) -> Readiness {
        let ports: Vec<(String, u16)> = self
            .controllers
            .iter()
            .map(|c| (c.name.clone(), c.health_port))
            .collect();
        Arc::new(move |deployment: &str| {
            ports
                .iter()
                .any(|(name, port)| name == deployment && http_get_ok(*port, "/readyz"))
        })
    }

    /// The last lines of every controller's log, for failure messages.
    pub fn log_tails(&self, lines: usize) -> String {
        self.controllers
            .iter()
            .chain(&self.stopped)
            .map(|c| {
                format!(
                    "--- {} log ({}):\n{}",
                    c.name,
                    c.log.display(),
                    log_tail(&c.log, lines)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Stops the controller called `name` now, as the kubelet kills a Pod whose Deployment
    /// was deleted; returns whether it was running. Its log stays for `log_tails`.
    pub fn stop_controller(&mut self, name: &str) -> bool {
        let Some(at) = self.controllers.iter().position(|c| c.name == name) else {
            return false;
        };
        let mut controller = self.controllers.remove(at);
        stop(&mut controller.child, Duration::from_secs(5));
        self.stopped.push(controller);
        true
    }

    /// The folder of the controllers' logs and source-controller's storage.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for FluxControllers {
    fn drop(&mut self) {
        for controller in self.controllers.iter_mut().rev() {
            stop(&mut controller.child, Duration::from_secs(5));
        }
    }
}

/// What a started controller offers the next ones.
enum Extra {
    EventsUrl(String),
    StorageUrl(String),
    None,
}

/// The arguments of `name` on fresh loopback ports (all its ports; the defaults collide).
fn launch(name: &str, dir: &Path, events_url: Option<&str>) -> (Launch, Extra) {
    let health_port = free_port();
    let metrics_port = free_port();
    let mut ports = vec![health_port, metrics_port];
    let mut args = vec![
        format!("--metrics-addr=127.0.0.1:{metrics_port}"),
        format!("--health-addr=127.0.0.1:{health_port}"),
        "--watch-all-namespaces=false".to_string(),
        "--log-encoding=console".to_string(),
        "--log-level=info".to_string(),
    ];
    let mut extra = Extra::None;
    match name {
        "notification-controller" => {
            let events = free_port();
            let receiver = free_port();
            ports.extend([events, receiver]);
            // Here --events-addr is the address it listens on for the other controllers' events.
            args.push(format!("--events-addr=127.0.0.1:{events}"));
            args.push(format!("--receiverAddr=127.0.0.1:{receiver}"));
            extra = Extra::EventsUrl(format!("http://127.0.0.1:{events}/"));
        }
        _ => {
            // Elsewhere --events-addr is notification-controller's URL; empty sends none.
            if let Some(url) = events_url {
                args.push(format!("--events-addr={url}"));
            }
        }
    }
    if name == "source-controller" {
        let storage = free_port();
        ports.push(storage);
        let path = dir.join("source-controller-storage");
        // It refuses a storage path that does not exist (in a Pod, the volume does).
        if let Err(err) = std::fs::create_dir_all(&path) {
            panic!("create {}: {err}", path.display());
        }
        args.push(format!("--storage-path={}", path.display()));
        args.push(format!("--storage-addr=127.0.0.1:{storage}"));
        args.push(format!("--storage-adv-addr=127.0.0.1:{storage}"));
        extra = Extra::StorageUrl(format!("http://127.0.0.1:{storage}"));
    }
    (
        Launch {
            args,
            health_port,
            ports,
        },
        extra,
    )
}

/// Starts one controller and waits until it answers `/readyz` and listens on all its ports
/// itself, on fresh ports when it does not (another process may have taken a port between
/// free_port() and its bind: source-controller then answers `/readyz` and only logs that its
/// artifact server failed, so `/readyz` alone is not enough).
fn start_one(
    plane: &ControlPlane,
    namespace: &str,
    dir: &Path,
    name: &str,
    binary: &Path,
    mut next_launch: impl FnMut() -> (Launch, Extra),
) -> (RunningController, Extra) {
    let log = dir.join(format!("{name}.log"));
    let mut last = String::new();
    for attempt in 1..=3 {
        let (launch, extra) = next_launch();
        let mut command = Command::new(binary);
        command
            .args(&launch.args)
            .env("KUBECONFIG", &plane.kubeconfig)
            .env("RUNTIME_NAMESPACE", namespace)
            .env("TMPDIR", dir)
            .current_dir(dir);
        let mut child = spawn(command, &log);
        let deadline = Instant::now() + READY_WITHIN;
        let outcome = loop {
            if let Ok(Some(status)) = child.try_wait() {
                break Err(format!("exited with {status}"));
            }
            if http_get_ok(launch.health_port, "/readyz")
                && launch
                    .ports
                    .iter()
                    .all(|port| process_listens_on(child.id(), *port))
            {
                break Ok(());
            }
            if log_tail(&log, 40).contains("address already in use") {
                break Err("could not bind a port".to_string());
            }
            if Instant::now() > deadline {
                break Err(format!(
                    "did not answer /readyz and listen on ports {:?} within {READY_WITHIN:?}",
                    launch.ports
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        match outcome {
            Ok(()) => {
                return (
                    RunningController {
                        name: name.to_string(),
                        health_port: launch.health_port,
                        log,
                        child,
                    },
                    extra,
                );
            }
            Err(why) => {
                stop(&mut child, Duration::from_secs(2));
                last = format!("attempt {attempt} {why}:\n{}", log_tail(&log, 40));
                if !last.contains("address already in use") {
                    break;
                }
            }
        }
    }
    panic!(
        "{name} ({}) did not start for namespace {namespace}: {last}",
        binary.display()
    );
}
