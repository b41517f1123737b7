//! Throwaway commit signing keys made by the real tools: an OpenPGP key in a GnuPG home of its
//! own (never the user's), exported as the key ring `--gpg-key-ring` takes, and an SSH key with
//! the allowed-signers file `git verify-commit` checks SSH signatures against.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::processes::temp_dir;

fn ok(command: &mut Command) -> Vec<u8> {
    let out = command.output().expect("run the signing tool");
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// An ed25519 OpenPGP key protected by `passphrase`.
pub struct GpgKey {
    /// The GnuPG home that made it (for GNUPGHOME when verifying).
    pub home: PathBuf,
    /// `gpg --export-secret-keys` of it.
    pub key_ring: PathBuf,
    /// Its long key ID (16 hex digits).
    pub key_id: String,
}

impl GpgKey {
    pub fn generate(passphrase: &str) -> GpgKey {
        let dir = temp_dir("gpg-key-");
        let home = dir.join("gnupg");
        std::fs::create_dir(&home).expect("create GnuPG home");
        let mut permissions = std::fs::metadata(&home).expect("home").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o700);
        std::fs::set_permissions(&home, permissions).expect("make the home private");
        let gpg = || {
            let mut command = Command::new("gpg");
            command
                .arg("--homedir")
                .arg(&home)
                .args(["--batch", "--pinentry-mode", "loopback", "--passphrase"])
                .arg(passphrase);
            command
        };
        ok(gpg().args([
            "--quick-gen-key",
            "Flux Test <flux@example.com>",
            "ed25519",
            "sign",
            "never",
        ]));
        let listing = String::from_utf8(ok(gpg().args(["--with-colons", "--list-secret-keys"])))
            .expect("listing");
        let key_id = listing
            .lines()
            .find(|line| line.starts_with("sec:"))
            .and_then(|line| line.split(':').nth(4))
            .expect("a secret key")
            .to_string();
        let key_ring = dir.join("signing-key-ring.gpg");
        std::fs::write(&key_ring, ok(gpg().arg("--export-secret-keys"))).expect("write key ring");
        GpgKey {
            home,
            key_ring,
            key_id,
        }
    }

    /// `git verify-commit <commit>` in `bare` with this key's home; returns git's stderr.
    pub fn verify_commit(&self, bare: &Path, commit: &str) -> String {
        let out = Command::new("git")
            .arg("--git-dir")
            .arg(bare)
            .env("GNUPGHOME", &self.home)
            .args(["verify-commit", commit])
            .output()
            .expect("run git verify-commit");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "git verify-commit {commit}: {stderr}");
        stderr
    }
}

impl Drop for GpgKey {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(&self.home)
            .args(["--kill", "gpg-agent"])
            .status();
    }
}

/// An ed25519 SSH key protected by `passphrase`, and an allowed-signers file listing it.
pub struct SshSigningKey {
    pub key_file: PathBuf,
    pub allowed_signers: PathBuf,
}

impl SshSigningKey {
    pub fn generate(passphrase: &str) -> SshSigningKey {
        let dir = temp_dir("ssh-signing-key-");
        let key_file = dir.join("signing_key");
        ok(Command::new("ssh-keygen")
            .args([
                "-q",
                "-t",
                "ed25519",
                "-C",
                "flux-signing",
                "-N",
                passphrase,
                "-f",
            ])
            .arg(&key_file));
        let public = std::fs::read_to_string(key_file.with_extension("pub")).expect("public key");
        let allowed_signers = dir.join("allowed_signers");
        std::fs::write(&allowed_signers, format!("flux@example.com {public}"))
            .expect("write allowed signers");
        SshSigningKey {
            key_file,
            allowed_signers,
        }
    }

    /// `git verify-commit <commit>` in `bare` against the allowed-signers file.
    pub fn verify_commit(&self, bare: &Path, commit: &str) -> String {
        let out = Command::new("git")
            .arg("--git-dir")
            .arg(bare)
            .arg("-c")
            .arg(format!(
                "gpg.ssh.allowedSignersFile={}",
                self.allowed_signers.display()
            ))
            .args(["verify-commit", commit])
            .output()
            .expect("run git verify-commit");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "git verify-commit {commit}: {stderr}");
        stderr
    }
}
