//! A Helm chart repository on loopback, as a web server or bucket serves one: `index.yaml` and a
//! chart archive made by the test (a `Chart.yaml` and a ConfigMap template), served as static
//! files by Python's http.server. Helm repositories are nothing more than that (Helm's "chart
//! repository guide"), so source-controller fetches from it as from any real one.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use super::processes::{free_port, log_tail, spawn, stop, temp_dir};

pub struct HelmRepository {
    /// `http://127.0.0.1:<port>`, the HelmRepository's `spec.url`.
    pub url: String,
    child: Child,
    log: PathBuf,
}

impl Drop for HelmRepository {
    fn drop(&mut self) {
        stop(&mut self.child, Duration::from_secs(2));
    }
}

impl HelmRepository {
    /// Serves chart `name` at `version`, whose only template is a ConfigMap named
    /// `<release name>-settings` in the release's namespace.
    pub fn start(name: &str, version: &str) -> HelmRepository {
        Self::start_versions(name, &[version])
    }

    /// Serves chart `name` at each of `versions` (the ConfigMap records the chart version it
    /// came from, as `data.chart`).
    pub fn start_versions(name: &str, versions: &[&str]) -> HelmRepository {
        let dir = temp_dir("helm-repository-");
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let archives: Vec<(String, String)> = versions
            .iter()
            .map(|version| (version.to_string(), write_chart(&dir, name, version)))
            .collect();
        std::fs::write(dir.join("index.yaml"), index(name, &archives, &url))
            .expect("write index.yaml");
        let log = dir.join("http-server.log");
        let mut command = Command::new("python3");
        command
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .arg("--directory")
            .arg(&dir);
        let child = spawn(command, &log);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the Helm repository did not start:\n{}",
                log_tail(&log, 20)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        HelmRepository { url, child, log }
    }

    pub fn log(&self) -> String {
        log_tail(&self.log, 40)
    }
}

/// `<name>-<version>.tgz` with `<name>/Chart.yaml` and `<name>/templates/configmap.yaml`, made
/// with the system tar as `helm package` lays it out. Returns the archive's file name.
fn write_chart(dir: &Path, name: &str, version: &str) -> String {
    let chart = dir.join("src").join(name);
    std::fs::create_dir_all(chart.join("templates")).expect("chart folders");
    std::fs::write(
        chart.join("Chart.yaml"),
        format!("apiVersion: v2\nname: {name}\nversion: {version}\nappVersion: \"1.0.0\"\ntype: application\n"),
    )
    .expect("write Chart.yaml");
    std::fs::write(
        chart.join("templates").join("configmap.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\n  namespace: {{ .Release.Namespace }}\ndata:\n  greeting: hello from helm\n  chart: \"{{ .Chart.Version }}\"\n",
    )
    .expect("write the template");
    let archive = format!("{name}-{version}.tgz");
    let out = Command::new("tar")
        .arg("-czf")
        .arg(dir.join(&archive))
        .arg("-C")
        .arg(dir.join("src"))
        .arg(name)
        .output()
        .expect("run tar");
    assert!(
        out.status.success(),
        "tar: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    archive
}

fn index(name: &str, archives: &[(String, String)], url: &str) -> String {
    let mut text = format!("apiVersion: v1\nentries:\n  {name}:\n");
    for (version, archive) in archives {
        text.push_str(&format!(
            "  - apiVersion: v2\n    appVersion: \"1.0.0\"\n    created: \"2026-12-01T00:00:00Z\"\n    name: {name}\n    type: application\n    urls:\n    - {url}/{archive}\n    version: {version}\n"
        ));
    }
    text.push_str("generated: \"2026-12-01T00:00:00Z\"\n");
    text
}
