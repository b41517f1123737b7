//! The kustomize build itself, done by the kustomize that ships inside kubectl
//! (`kubectl kustomize`), never by hand-written code: the same engine generation as
//! kustomize-controller's, and the one a kubectl user already has.
//!
//! kubectl is found as a shell would find it (the first `kubectl` on `PATH`; `kubectl.exe` on
//! Windows), which is also the kubectl that runs this plugin. Its kustomize must be v5 or newer
//! (kubectl 1.27+): older ones read patches and components differently from Flux.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::error::{Error, Result};

/// The oldest kustomize major version whose builds match kustomize-controller's.
const MIN_KUSTOMIZE_MAJOR: u64 = 5;

/// A kubectl executable with a new enough kustomize.
#[derive(Debug, Clone)]
pub struct Kubectl {
    path: PathBuf,
}

impl Kubectl {
    /// Finds kubectl on `PATH` and checks its kustomize version.
    pub fn find() -> Result<Kubectl> {
        let path =
            find_on_path(std::env::var_os("PATH").as_deref()).ok_or(Error::KubectlMissing)?;
        let kubectl = Kubectl { path };
        kubectl.check_version()?;
        Ok(kubectl)
    }

    /// Runs `kubectl kustomize --load-restrictor LoadRestrictionsNone <folder>` (plugins and
    /// Helm stay off, as in kustomize-controller) and returns the YAML stream it prints.
    pub fn kustomize(&self, folder: &Path) -> Result<String> {
        let mut args: Vec<&std::ffi::OsStr> =
            ["kustomize", "--load-restrictor", "LoadRestrictionsNone"]
                .iter()
                .map(std::ffi::OsStr::new)
                .collect();
        args.push(folder.as_os_str());
        let output = self.run(&args)?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let message = stderr.trim().trim_start_matches("error: ").to_string();
            return Err(Error::KustomizeFailed {
                folder: folder.to_path_buf(),
                message,
            });
        }
        String::from_utf8(output.stdout).map_err(|_| Error::BuildOutput {
            reason: "kustomize printed text that is not UTF-8".to_string(),
        })
    }

    /// Runs kubectl with `args`, stdin closed, and returns what it printed.
    fn run(&self, args: &[&std::ffi::OsStr]) -> Result<std::process::Output> {
        crate::interrupt::output(
            Command::new(&self.path)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
            crate::interrupt::Terminal::NotNeeded,
        )
        .map_err(|source| Error::KubectlUnusable {
            kubectl: self.path.clone(),
            source,
        })
    }

    fn check_version(&self) -> Result<()> {
        let args = ["version", "--client", "-o", "json"].map(std::ffi::OsStr::new);
        let output = self.run(&args)?;
        let version: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
        let found = version["kustomizeVersion"].as_str().unwrap_or_default();
        match major_version(found) {
            Some(major) if major >= MIN_KUSTOMIZE_MAJOR => Ok(()),
            _ => Err(Error::KustomizeTooOld {
                kubectl: self.path.clone(),
                found: if found.is_empty() {
                    "of unknown version".to_string()
                } else {
                    found.to_string()
                },
            }),
        }
    }
}

/// The first executable named kubectl in the `PATH` folders, as a shell finds it.
fn find_on_path(path: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    let name = if cfg!(windows) {
        "kubectl.exe"
    } else {
        "kubectl"
    };
    std::env::split_paths(path?)
        .filter(|folder| !folder.as_os_str().is_empty())
        .map(|folder| folder.join(name))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// The major version of `v5.8.1` (or `5.8.1`).
fn major_version(version: &str) -> Option<u64> {
    version
        .trim_start_matches('v')
        .split('.')
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kustomize_versions_are_read_by_their_major() {
        assert_eq!(major_version("v5.8.1"), Some(5));
        assert_eq!(major_version("4.5.7"), Some(4));
        assert_eq!(major_version(""), None);
        assert_eq!(major_version("unknown"), None);
    }

    #[cfg(unix)]
    #[test]
    fn kubectl_is_the_first_executable_on_path() {
        use std::os::unix::fs::PermissionsExt;
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        // Not executable: skipped, as a shell would.
        std::fs::write(first.path().join("kubectl"), "").unwrap();
        let real = second.path().join("kubectl");
        std::fs::write(&real, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::join_paths([first.path(), second.path()]).unwrap();
        assert_eq!(find_on_path(Some(&path)), Some(real));
        assert_eq!(find_on_path(Some(first.path().as_os_str())), None);
        assert_eq!(find_on_path(None), None);
    }
}
