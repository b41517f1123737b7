//! Private temporary folders (mode 0700) that are removed with everything in them when
//! dropped, or by the interrupt sweep ([`crate::interrupt`]) when a signal stops the command
//! first: the clone lives in one, and each SSH command's agent socket and known_hosts in
//! another (see `remote.rs`: the private key itself is never written to disk on Unix).
//!
//! On Unix the modes make them private. Windows has no modes: there the folders inherit the
//! access list of the user's own temporary folder (`%TEMP%` under the user's profile), which
//! only that user and administrators can read.

#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::{Error, Result};

/// A folder only the current user can enter, removed on drop.
pub(crate) struct ScratchDir {
    path: PathBuf,
    /// Its registration with the interrupt sweep.
    registration: u64,
}

impl ScratchDir {
    /// Creates a fresh folder named `<prefix><unique>` under `parent`.
    pub(crate) fn create(parent: &Path, prefix: &str) -> Result<ScratchDir> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.subsec_nanos())
            .unwrap_or_default();
        let mut last_error = None;
        for _ in 0..16 {
            let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = parent.join(format!("{prefix}{}-{nanos:x}-{unique}", std::process::id()));
            // create (not create_all): fails when the name exists, so nobody else's folder
            // (or a planted symlink) is ever reused.
            let created =
                crate::interrupt::create_folder(&path, |path| private_dir_builder().create(path));
            match created {
                Ok(registration) => return Ok(ScratchDir { path, registration }),
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                    last_error = Some(err)
                }
                Err(err) => return Err(temp_error(&path, err)),
            }
        }
        Err(temp_error(
            parent,
            last_error.unwrap_or_else(|| std::io::Error::other("no free name")),
        ))
    }

    /// Creates a fresh folder in the system's temporary folder (TMPDIR).
    pub(crate) fn in_temp(prefix: &str) -> Result<ScratchDir> {
        Self::create(&std::env::temp_dir(), prefix)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a file only the current user can read.
    pub(crate) fn write_private(&self, name: &str, content: &[u8]) -> Result<PathBuf> {
        use std::io::Write;
        let path = self.path.join(name);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options.mode(0o600);
        let mut file = options.open(&path).map_err(|err| temp_error(&path, err))?;
        file.write_all(content)
            .map_err(|err| temp_error(&path, err))?;
        Ok(path)
    }
}

/// Creates folders only the current user can enter (mode 0700 on Unix).
#[cfg(unix)]
fn private_dir_builder() -> std::fs::DirBuilder {
    let mut builder = std::fs::DirBuilder::new();
    builder.mode(0o700);
    builder
}

/// Creates folders that inherit the user's temporary folder's access list (see the module doc).
#[cfg(not(unix))]
fn private_dir_builder() -> std::fs::DirBuilder {
    std::fs::DirBuilder::new()
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        // Best effort: nothing sensible can be done about a failure while dropping.
        let _ = std::fs::remove_dir_all(&self.path);
        crate::interrupt::forget_folder(self.registration);
    }
}

pub(crate) fn temp_error(path: &Path, err: std::io::Error) -> Error {
    Error::GitTempFiles {
        path: path.to_path_buf(),
        source: err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Unix mode bits of `path` (Windows has none to check).
    #[cfg(unix)]
    fn assert_mode(path: &Path, expected: u32) {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, expected, "{}", path.display());
    }

    #[cfg(not(unix))]
    fn assert_mode(_path: &Path, _expected: u32) {}

    #[test]
    fn scratch_dirs_are_private_unique_and_removed_on_drop() {
        let parent = tempfile::tempdir().unwrap();
        let a = ScratchDir::create(parent.path(), "x-").unwrap();
        let b = ScratchDir::create(parent.path(), "x-").unwrap();
        assert_ne!(a.path(), b.path());
        assert_mode(a.path(), 0o700);
        let file = a.write_private("key", b"secret").unwrap();
        assert_mode(&file, 0o600);
        assert!(
            a.write_private("key", b"again").is_err(),
            "never overwrites"
        );
        let path = a.path().to_path_buf();
        drop(a);
        assert!(!path.exists());
        assert!(b.path().exists());
    }
}
