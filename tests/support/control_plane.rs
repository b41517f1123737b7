//! A real etcd and kube-apiserver (RBAC on, client-certificate and token auth) on free
//! loopback ports, shared by all tests of one test binary.
//!
//! Binaries come from `tests/env/prepare.sh` (pinned versions, cached outside the clone, or
//! KUBEBUILDER_ASSETS). Nothing is skipped: a missing component fails the tests loudly.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::certs::Pki;
use super::processes::{free_port, log_tail, spawn, stop, temp_dir};

/// Where the prepared components are.
pub struct Assets {
    pub bin_dir: PathBuf,
    pub flux_crds: PathBuf,
    pub flux_version: String,
    pub k8s_version: String,
    /// Folder with `kubectl-krew` and `validate-krew-manifest`.
    pub krew_dir: PathBuf,
    /// A Flux release's assets (install.yaml, manifests.tar.gz, checksums), built offline.
    pub flux_release: PathBuf,
    /// The real flux CLI of the pinned version, its manifests built from `flux_release`.
    pub flux_cli: PathBuf,
    /// Folder with the Flux controllers' binaries (source-controller, kustomize-controller, ..).
    pub flux_controllers: PathBuf,
    /// kube-controller-manager, for tests that need namespace deletion or garbage collection.
    pub kube_controller_manager: PathBuf,
    /// Gitea's binary, its `static/options` beside it (tests/support/gitea.rs).
    pub gitea: PathBuf,
}

impl Assets {
    /// Runs `tests/env/prepare.sh` (seconds when cached) unless its variables are already set.
    pub fn locate() -> Assets {
        let from_env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let mut values: Vec<(String, String)> = Vec::new();
        if from_env("KUBECTL_GITOPS_TEST_BIN_DIR").is_none() {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/env/prepare.sh");
            let output = Command::new("bash")
                .arg(&script)
                .stderr(std::process::Stdio::inherit())
                .output()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
            assert!(
                output.status.success(),
                "{} failed (see its messages above): the test control plane cannot be provided",
                script.display()
            );
            for line in String::from_utf8_lossy(&output.stdout).lines() {
                if let Some((key, value)) =
                    line.strip_prefix("export ").and_then(|l| l.split_once('='))
                {
                    values.push((key.to_string(), value.trim_matches('\'').to_string()));
                }
            }
        }
        let get = |name: &str| {
            from_env(name)
                .or_else(|| {
                    values
                        .iter()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.clone())
                })
                .unwrap_or_else(|| {
                    panic!("{name} is not set and tests/env/prepare.sh did not provide it")
                })
        };
        Assets {
            bin_dir: PathBuf::from(get("KUBECTL_GITOPS_TEST_BIN_DIR")),
            flux_crds: PathBuf::from(get("KUBECTL_GITOPS_TEST_FLUX_CRDS")),
            flux_version: get("KUBECTL_GITOPS_TEST_FLUX_VERSION"),
            k8s_version: get("KUBECTL_GITOPS_TEST_K8S_VERSION"),
            krew_dir: PathBuf::from(get("KUBECTL_GITOPS_TEST_KREW_DIR")),
            flux_release: PathBuf::from(get("KUBECTL_GITOPS_TEST_FLUX_RELEASE")),
            flux_cli: PathBuf::from(get("KUBECTL_GITOPS_TEST_FLUX_CLI")),
            flux_controllers: PathBuf::from(get("KUBECTL_GITOPS_TEST_FLUX_CONTROLLERS")),
            kube_controller_manager: PathBuf::from(get(
                "KUBECTL_GITOPS_TEST_KUBE_CONTROLLER_MANAGER",
            )),
            gitea: PathBuf::from(get("KUBECTL_GITOPS_TEST_GITEA")),
        }
    }

    pub fn kubectl(&self) -> PathBuf {
        self.bin_dir.join("kubectl")
    }

    /// `PATH` with this environment's kubectl first, for running the plugin: `build`, `diff`
    /// and `rollback` use the kustomize of the kubectl they find there, so results do not
    /// depend on the machine's own kubectl.
    pub fn path_with_kubectl(&self) -> std::ffi::OsString {
        let mut folders = vec![self.bin_dir.clone()];
        folders.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        std::env::join_paths(folders).expect("PATH")
    }
}

pub struct ControlPlane {
    pub dir: PathBuf,
    pub assets: Assets,
    pub server: String,
    /// Kubeconfig of `admin` (group system:masters, client certificate).
    pub kubeconfig: PathBuf,
    /// A bearer token of a system:masters user (from the API server's token file).
    pub admin_token: String,
    pub pki: Pki,
    processes: Mutex<Vec<Child>>,
    flux_crds: OnceLock<()>,
    controller_manager: OnceLock<()>,
    /// What the API server is started again with (fault tests): the same etcd, port and
    /// certificates, and its place in `processes`.
    etcd_url: String,
    tokens: PathBuf,
    apiserver_port: u16,
    apiserver_index: usize,
}

static SHARED: OnceLock<Result<ControlPlane, String>> = OnceLock::new();

/// The control plane of this test binary, started on first use. A start that fails is
/// reported by every test that needs it, without starting again.
pub fn control_plane() -> &'static ControlPlane {
    let started = SHARED.get_or_init(|| {
        std::panic::catch_unwind(ControlPlane::start).map_err(|panic| {
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown failure".to_string())
        })
    });
    match started {
        Ok(plane) => plane,
        Err(why) => panic!("the test control plane could not start: {why}"),
    }
}

impl ControlPlane {
    /// A control plane of the caller's own, for tests that change cluster-wide state (install,
    /// uninstall, bootstrap); stopped when dropped.
    pub fn start_private() -> ControlPlane {
        Self::start()
    }

    fn start() -> ControlPlane {
        let assets = Assets::locate();
        let dir = temp_dir("kubectl-gitops-testenv-");
        let pki = Pki::generate(&dir.join("pki"));
        let admin_token = format!("admin-{}", random_hex());
        let tokens = dir.join("tokens.csv");
        std::fs::write(
            &tokens,
            format!("{admin_token},token-admin,token-admin-uid,system:masters\n"),
        )
        .expect("write token file");

        let mut processes = Vec::new();
        let etcd_url = start_with_retries("etcd", || start_etcd(&assets, &dir), &mut processes);
        let port = start_with_retries(
            "kube-apiserver",
            || start_apiserver(&assets, &dir, &pki, &etcd_url, &tokens, free_port()),
            &mut processes,
        );
        let apiserver_index = processes.len() - 1;
        let server = format!("https://127.0.0.1:{port}");
        let (cert, key) = pki.client_cert("admin", Some("system:masters"));
        let kubeconfig = dir.join("admin.kubeconfig");
        write_kubeconfig(
            &kubeconfig,
            &server,
            &pki.serving_ca,
            &cert,
            &key,
            "default",
        );

        let plane = ControlPlane {
            dir,
            assets,
            server,
            kubeconfig,
            admin_token,
            pki,
            processes: Mutex::new(processes),
            flux_crds: OnceLock::new(),
            controller_manager: OnceLock::new(),
            etcd_url,
            tokens,
            apiserver_port: port,
            apiserver_index,
        };
        plane.wait_ready();
        plane
    }

    /// Waits until `/readyz` answers ok through the real kubectl.
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let out = self
                .kubectl()
                .args(["get", "--raw=/readyz", "--request-timeout=5s"])
                .output();
            if let Ok(out) = &out
                && out.status.success()
                && String::from_utf8_lossy(&out.stdout).trim() == "ok"
            {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "kube-apiserver at {} did not become ready within 90s; last kubectl answer: {:?}\napiserver log:\n{}",
                    self.server,
                    out.map(|o| String::from_utf8_lossy(&o.stderr).into_owned()),
                    log_tail(&self.dir.join("kube-apiserver.log"), 40)
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The real kubectl, as the admin user.
    pub fn kubectl(&self) -> Command {
        let mut command = Command::new(self.assets.kubectl());
        command.arg("--kubeconfig").arg(&self.kubeconfig);
        command
    }

    /// Runs kubectl as admin and returns stdout; panics with stderr when it fails.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl().args(args).output().expect("run kubectl");
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Server-side applies a file as admin. Retried when the API server itself answers
    /// "Timeout: request did not complete" (on a loaded machine the first apply of custom
    /// resources right after their CRDs can outlast the server's 60 s request deadline while
    /// it builds the CRDs' schemas); a server-side apply is idempotent, so a retry is safe.
    pub fn apply_server_side(&self, path: &Path) {
        let path = path.display().to_string();
        let args = ["apply", "--server-side", "-f", path.as_str()];
        let mut last = String::new();
        for _ in 0..3 {
            let out = self.kubectl().args(args).output().expect("run kubectl");
            if out.status.success() {
                return;
            }
            last = String::from_utf8_lossy(&out.stderr).into_owned();
            if !last.contains("Timeout: request did not complete") {
                break;
            }
        }
        panic!("kubectl {args:?} failed: {last}");
    }

    /// A kubeconfig for a client-certificate user, in a folder of its own.
    pub fn kubeconfig_for(&self, user: &str, group: Option<&str>, namespace: &str) -> PathBuf {
        let (cert, key) = self.pki.client_cert(user, group);
        let dir = temp_dir("kubeconfig-");
        let path = dir.join("config");
        write_kubeconfig(
            &path,
            &self.server,
            &self.pki.serving_ca,
            &cert,
            &key,
            namespace,
        );
        path
    }

    /// Installs the real Flux CRDs (once per test binary), labelled as a Flux install labels
    /// them, and waits until they are Established.
    pub fn install_flux_crds(&self) {
        self.flux_crds.get_or_init(|| {
            let mut items = Vec::new();
            let mut files: Vec<PathBuf> = std::fs::read_dir(&self.assets.flux_crds)
                .expect("read Flux CRD folder")
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
                .collect();
            files.sort();
            assert!(
                !files.is_empty(),
                "no Flux CRDs in {}",
                self.assets.flux_crds.display()
            );
            for file in files {
                let name = file
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                let component = name.split("--").next().unwrap_or_default().to_string();
                let text = std::fs::read_to_string(&file).expect("read CRD");
                let mut crd: serde_json::Value = serde_saphyr::from_str(&text)
                    .unwrap_or_else(|e| panic!("parse {}: {e}", file.display()));
                let labels = crd["metadata"]
                    .as_object_mut()
                    .expect("CRD metadata")
                    .entry("labels")
                    .or_insert_with(|| serde_json::json!({}));
                for (key, value) in [
                    ("app.kubernetes.io/part-of", "flux"),
                    ("app.kubernetes.io/instance", "flux-system"),
                    (
                        "app.kubernetes.io/version",
                        self.assets.flux_version.as_str(),
                    ),
                    ("app.kubernetes.io/component", component.as_str()),
                ] {
                    labels[key] = serde_json::Value::String(value.to_string());
                }
                items.push(crd);
            }
            let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
            let path = self.dir.join("flux-crds.json");
            std::fs::write(&path, serde_json::to_vec(&list).expect("serialise CRDs"))
                .expect("write CRDs");
            let path = path.to_string_lossy().into_owned();
            self.kubectl_ok(&[
                "apply",
                "--server-side",
                "--field-manager=flux",
                "-f",
                &path,
            ]);
            self.wait_flux_crds_established();
        });
    }

    /// Waits until every Flux CRD (label part-of=flux) is Established.
    pub fn wait_flux_crds_established(&self) {
        self.kubectl_ok(&[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd",
            "-l",
            "app.kubernetes.io/part-of=flux",
        ]);
    }

    /// Installs Flux as the flux CLI does (`flux install --export` of the real flux CLI, all
    /// components, applied server-side with flux's field manager), and waits for its CRDs.
    pub fn install_flux_with_cli(&self) {
        let out = Command::new(&self.assets.flux_cli)
            .args(["install", "--export", "--components-extra=image-reflector-controller,image-automation-controller,source-watcher"])
            .output()
            .expect("run the flux CLI");
        assert!(
            out.status.success(),
            "flux install --export failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let file = self.dir.join(format!("flux-install-{}.yaml", random_hex()));
        std::fs::write(&file, &out.stdout).expect("write flux install manifests");
        self.kubectl_ok(&[
            "apply",
            "--server-side",
            "--field-manager=flux",
            "-f",
            &file.display().to_string(),
        ]);
        self.wait_flux_crds_established();
    }

    /// Starts kube-controller-manager with only its namespace and garbage-collector
    /// controllers (once per test binary; it then serves every test of the binary), for tests
    /// that delete namespaces or rely on owner references. No deployment controller: it would
    /// fight the kubelet stand-in. Returns once a namespace deletion has really completed.
    pub fn start_controller_manager(&self) {
        self.controller_manager.get_or_init(|| {
            let log = self.dir.join("kube-controller-manager.log");
            let mut command = Command::new(&self.assets.kube_controller_manager);
            command
                .arg(format!("--kubeconfig={}", self.kubeconfig.display()))
                .arg("--controllers=namespace-controller,garbage-collector-controller")
                .arg("--leader-elect=false")
                // No HTTPS endpoint: nothing here needs its metrics or health, and no port
                // can collide. Readiness is proved by a namespace deletion instead.
                .arg("--secure-port=0");
            let mut child = spawn(command, &log);
            let probe = format!("kcm-probe-{}", &random_hex()[..8]);
            self.kubectl_ok(&["create", "namespace", &probe]);
            self.kubectl_ok(&["delete", "namespace", &probe, "--wait=false"]);
            let gone = wait_until(&mut child, &log, Duration::from_secs(90), || {
                self.kubectl()
                    .args([
                        "get",
                        "namespace",
                        &probe,
                        "--ignore-not-found",
                        "-o",
                        "name",
                    ])
                    .output()
                    .is_ok_and(|out| out.status.success() && out.stdout.is_empty())
            });
            if let Err(why) = gone {
                stop(&mut child, Duration::from_secs(1));
                panic!("kube-controller-manager did not delete namespace {probe}: {why}");
            }
            self.processes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(child);
        });
    }

    /// Stops the API server (SIGTERM, as a node restart would), leaving etcd and its data: for
    /// fault tests, on a control plane of the test's own.
    pub fn stop_apiserver(&self) {
        let mut processes = self.processes.lock().unwrap_or_else(|p| p.into_inner());
        stop(
            &mut processes[self.apiserver_index],
            Duration::from_secs(10),
        );
    }

    /// Starts the API server stopped by [`ControlPlane::stop_apiserver`] again, on the same
    /// port, with the same etcd data, certificates and tokens, and waits until it is ready.
    pub fn start_apiserver_again(&self) {
        let started = start_apiserver(
            &self.assets,
            &self.dir,
            &self.pki,
            &self.etcd_url,
            &self.tokens,
            self.apiserver_port,
        );
        let (_, child) = started.unwrap_or_else(|err| {
            panic!(
                "kube-apiserver did not start again on port {}: {err}",
                self.apiserver_port
            )
        });
        self.processes.lock().unwrap_or_else(|p| p.into_inner())[self.apiserver_index] = child;
        self.wait_ready();
    }

    /// Stops etcd and the API server now (normally left to the exit handler).
    pub fn stop(&self) {
        for child in self
            .processes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter_mut()
            .rev()
        {
            stop(child, Duration::from_secs(5));
        }
    }
}

/// Starts a component on fresh ports, retrying when a port was taken meanwhile (parallel test
/// binaries pick ports independently).
fn start_with_retries<T>(
    name: &str,
    mut start: impl FnMut() -> Result<(T, Child), String>,
    processes: &mut Vec<Child>,
) -> T {
    let mut last = String::new();
    for _ in 0..3 {
        match start() {
            Ok((value, child)) => {
                processes.push(child);
                return value;
            }
            Err(err) => last = err,
        }
    }
    panic!("{name} did not start after 3 attempts: {last}");
}

/// Waits for a process to pass `ready`, failing early if it exits.
fn wait_until(
    child: &mut Child,
    log: &Path,
    limit: Duration,
    mut ready: impl FnMut() -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited with {status}:\n{}", log_tail(log, 30)));
        }
        if ready() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!(
        "not ready within {limit:?}:\n{}",
        log_tail(log, 30)
    ))
}

fn start_etcd(assets: &Assets, dir: &Path) -> Result<(String, Child), String> {
    let (client, peer) = (free_port(), free_port());
    let data = dir.join(format!("etcd-{client}"));
    let log = dir.join("etcd.log");
    let client_url = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let mut command = Command::new(assets.bin_dir.join("etcd"));
    command
        .arg(format!("--data-dir={}", data.display()))
        .arg(format!("--listen-client-urls={client_url}"))
        .arg(format!("--advertise-client-urls={client_url}"))
        .arg(format!("--listen-peer-urls={peer_url}"))
        .arg(format!("--initial-advertise-peer-urls={peer_url}"))
        .arg(format!("--initial-cluster=default={peer_url}"))
        .arg("--unsafe-no-fsync=true")
        .arg("--log-level=warn");
    let mut child = spawn(command, &log);
    match wait_until(&mut child, &log, Duration::from_secs(30), || {
        http_get_ok(client, "/health")
    }) {
        Ok(()) => Ok((client_url, child)),
        Err(err) => {
            stop(&mut child, Duration::from_secs(1));
            Err(err)
        }
    }
}

fn start_apiserver(
    assets: &Assets,
    dir: &Path,
    pki: &Pki,
    etcd_url: &str,
    tokens: &Path,
    port: u16,
) -> Result<(u16, Child), String> {
    let log = dir.join("kube-apiserver.log");
    let mut command = Command::new(assets.bin_dir.join("kube-apiserver"));
    command
        .arg(format!("--etcd-servers={etcd_url}"))
        .arg(format!("--etcd-prefix=/registry-{port}"))
        .arg(format!(
            "--cert-dir={}",
            dir.join("apiserver-certs").display()
        ))
        .arg(format!("--tls-cert-file={}", pki.serving_cert.display()))
        .arg(format!(
            "--tls-private-key-file={}",
            pki.serving_key.display()
        ))
        .arg(format!("--client-ca-file={}", pki.client_ca.display()))
        .arg(format!("--token-auth-file={}", tokens.display()))
        .arg(format!("--secure-port={port}"))
        .arg("--bind-address=127.0.0.1")
        .arg("--advertise-address=127.0.0.1")
        .arg("--service-cluster-ip-range=10.0.0.0/24")
        .arg("--allow-privileged=true")
        .arg("--disable-admission-plugins=ServiceAccount")
        .arg("--authorization-mode=RBAC")
        .arg(format!(
            "--service-account-issuer=https://127.0.0.1:{port}/"
        ))
        .arg(format!(
            "--service-account-key-file={}",
            pki.service_account_public_key.display()
        ))
        .arg(format!(
            "--service-account-signing-key-file={}",
            pki.service_account_key.display()
        ))
        .arg("--enable-garbage-collector=false")
        .arg("--enable-priority-and-fairness=false");
    let mut child = spawn(command, &log);
    // The port listening is enough here; readiness (/readyz) is checked with kubectl afterwards.
    match wait_until(&mut child, &log, Duration::from_secs(60), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    }) {
        Ok(()) => Ok((port, child)),
        Err(err) => {
            stop(&mut child, Duration::from_secs(1));
            Err(err)
        }
    }
}

/// A plain-HTTP GET on loopback that reports whether the answer was 200 (etcd's /health, a
/// Flux controller's /readyz).
pub fn http_get_ok(port: u16, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200")
}

pub fn write_kubeconfig(
    path: &Path,
    server: &str,
    ca: &Path,
    cert: &Path,
    key: &Path,
    namespace: &str,
) {
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: testenv\n  cluster:\n    server: {server}\n    certificate-authority: {ca}\nusers:\n- name: user\n  user:\n    client-certificate: {cert}\n    client-key: {key}\ncontexts:\n- name: testenv\n  context:\n    cluster: testenv\n    user: user\n    namespace: {namespace}\ncurrent-context: testenv\n",
        ca = ca.display(),
        cert = cert.display(),
        key = key.display(),
    );
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// 16 random hex characters from the OS, for tokens that must not be guessable across runs.
pub fn random_hex() -> String {
    let mut bytes = [0u8; 8];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("read /dev/urandom");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.stop();
    }
}
