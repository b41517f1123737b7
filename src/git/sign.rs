//! Signed commits, made by the tools the user already trusts: `gpg` for OpenPGP signatures and
//! `ssh-keygen -Y sign -n git` for SSH signatures, exactly as `git commit -S` runs them. The
//! signature covers the commit object without its `gpgsig` header and is then stored in that
//! header, so `git verify-commit` and every forge check it like one made by git.
//!
//! Passphrases never reach a command line: gpg reads it from its stdin (`--passphrase-fd 0`,
//! loopback pinentry; the data to sign is a file), ssh-keygen from a private askpass helper
//! that prints it from its own environment. The OpenPGP key ring is imported into a private,
//! temporary GnuPG home whose agent caches nothing and is stopped when the [`Signer`] drops, so
//! the user's own keyring is neither read nor changed. See docs/yaml-and-git.md.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use secrecy::{ExposeSecret, SecretString};

use super::error::{Error, Result};
use super::scratch::ScratchDir;

/// The environment variable the askpass helper prints the SSH key's passphrase from.
const ASKPASS_VARIABLE: &str = "KUBECTL_GITOPS_SIGNING_PASSPHRASE";

/// The key that signs commits, as the flux CLI's `--gpg-*` and `--ssh-signing-*` flags name it.
#[derive(Debug, Clone)]
pub enum SigningKey {
    /// An OpenPGP key from an exported key ring (`gpg --export-secret-keys`, binary or
    /// armored); `key_id` (16 hex digits, flux's `--gpg-key-id`) picks one of several keys.
    OpenPgp {
        key_ring: PathBuf,
        key_id: Option<String>,
        passphrase: Option<SecretString>,
    },
    /// An SSH private key file (any format ssh-keygen reads).
    Ssh {
        key_file: PathBuf,
        passphrase: Option<SecretString>,
    },
}

impl SigningKey {
    /// Checks what needs no tool: the key ID's form, and that the file is there.
    pub fn check(&self) -> Result<()> {
        if let SigningKey::OpenPgp {
            key_id: Some(id), ..
        } = self
        {
            normalized_key_id(id)?;
        }
        let (flag, path) = self.file();
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_file() => Ok(()),
            Ok(_) => Err(Error::InvalidFlag {
                flag,
                value: path.display().to_string(),
                reason: "not a file".to_string(),
            }),
            Err(err) => Err(Error::InvalidFlag {
                flag,
                value: path.display().to_string(),
                reason: format!("cannot read it: {err}"),
            }),
        }
    }

    /// Whether a passphrase came with the key.
    pub fn has_passphrase(&self) -> bool {
        match self {
            SigningKey::OpenPgp { passphrase, .. } | SigningKey::Ssh { passphrase, .. } => {
                passphrase.is_some()
            }
        }
    }

    /// The same key with `passphrase` (typed at a prompt).
    pub fn with_passphrase(&self, passphrase: SecretString) -> SigningKey {
        let mut key = self.clone();
        match &mut key {
            SigningKey::OpenPgp { passphrase: p, .. } | SigningKey::Ssh { passphrase: p, .. } => {
                *p = Some(passphrase)
            }
        }
        key
    }

    /// The flag naming the key's file, and the file.
    fn file(&self) -> (&'static str, &Path) {
        match self {
            SigningKey::OpenPgp { key_ring, .. } => ("--gpg-key-ring", key_ring),
            SigningKey::Ssh { key_file, .. } => ("--ssh-signing-key-file", key_file),
        }
    }
}

/// flux's rule for `--gpg-key-id`: 16 hex digits (the long key ID), `0x` allowed.
fn normalized_key_id(id: &str) -> Result<String> {
    let hex = id.strip_prefix("0x").unwrap_or(id);
    if hex.len() != 16 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Error::InvalidFlag {
            flag: "--gpg-key-id",
            value: id.to_string(),
            reason: "expected the 16 hex digits of a long key ID (gpg --list-secret-keys --keyid-format long shows it)".to_string(),
        });
    }
    Ok(hex.to_ascii_uppercase())
}

/// A key ready to sign: loaded, unlocked once as a test, so a wrong passphrase is found before
/// anything is committed or pushed.
pub struct Signer {
    method: Method,
    passphrase: Option<SecretString>,
    /// The private GnuPG home, or the askpass helper's folder.
    dir: ScratchDir,
}

enum Method {
    Gpg { key_id: String },
    Ssh { key_file: PathBuf, askpass: PathBuf },
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.method {
            Method::Gpg { .. } => "Signer(OpenPGP)",
            Method::Ssh { .. } => "Signer(SSH)",
        })
    }
}

impl Signer {
    /// Loads `key` and signs a test message with it. A key that needs a passphrase and came
    /// without one gives [`Error::SigningPassphraseNeeded`] (the caller may ask for it and try
    /// again); a wrong one gives [`Error::SigningPassphraseWrong`].
    pub fn new(key: &SigningKey) -> Result<Signer> {
        key.check()?;
        let signer = match key {
            SigningKey::OpenPgp {
                key_ring,
                key_id,
                passphrase,
            } => {
                let dir = ScratchDir::in_temp("kubectl-gitops-gpg-")?;
                // Every signature asks for the passphrase: a wrong one is never hidden by the
                // agent's memory of a right one.
                dir.write_private("gpg-agent.conf", b"default-cache-ttl 0\nmax-cache-ttl 0\n")?;
                let mut signer = Signer {
                    method: Method::Gpg {
                        key_id: String::new(),
                    },
                    passphrase: passphrase.clone(),
                    dir,
                };
                let key_id = signer.import_key_ring(key_ring, key_id.as_deref())?;
                signer.method = Method::Gpg { key_id };
                signer
            }
            SigningKey::Ssh {
                key_file,
                passphrase,
            } => {
                let dir = ScratchDir::in_temp("kubectl-gitops-sign-")?;
                let askpass = askpass_helper(&dir)?;
                Signer {
                    method: Method::Ssh {
                        key_file: key_file.clone(),
                        askpass,
                    },
                    passphrase: passphrase.clone(),
                    dir,
                }
            }
        };
        signer.sign(b"kubectl-gitops: test of the commit signing key\n")?;
        Ok(signer)
    }

    /// The armored signature of `payload` (a commit object without its signature header).
    pub fn sign(&self, payload: &[u8]) -> Result<String> {
        match &self.method {
            Method::Gpg { key_id } => self.sign_gpg(key_id, payload),
            Method::Ssh { key_file, askpass } => self.sign_ssh(key_file, askpass, payload),
        }
    }

    /// Imports the key ring into the private home; returns the long ID of the signing key.
    fn import_key_ring(&self, key_ring: &Path, key_id: Option<&str>) -> Result<String> {
        let unusable = |cause: String, next_step: &'static str| Error::SigningKey {
            flag: "--gpg-key-ring",
            path: key_ring.to_path_buf(),
            cause,
            next_step,
        };
        let import = run(self.gpg().arg("--import").arg(key_ring), "gpg", None)?;
        if !import.status.success() {
            return Err(unusable(
                last_gpg_line(&import.stderr),
                "export it with gpg --export-secret-keys <key id> > <file>",
            ));
        }
        let listing = run(
            self.gpg().args(["--with-colons", "--list-secret-keys"]),
            "gpg",
            None,
        )?;
        // `sec:<validity>:<length>:<algorithm>:<long key id>:...`, one per secret key.
        let secret_keys: Vec<String> = String::from_utf8_lossy(&listing.stdout)
            .lines()
            .filter(|line| line.starts_with("sec:"))
            .filter_map(|line| line.split(':').nth(4).map(str::to_string))
            .collect();
        match key_id {
            Some(id) => {
                let id = normalized_key_id(id)?;
                if secret_keys.contains(&id) {
                    Ok(id)
                } else {
                    Err(unusable(
                        format!(
                            "it holds no secret key with ID {id} (secret keys: {})",
                            list_or_none(&secret_keys)
                        ),
                        "check --gpg-key-id, or export that key's secret part with gpg --export-secret-keys",
                    ))
                }
            }
            None => secret_keys.first().cloned().ok_or_else(|| {
                unusable(
                    "it holds no secret key".to_string(),
                    "export the secret key with gpg --export-secret-keys <key id> > <file>",
                )
            }),
        }
    }

    fn sign_gpg(&self, key_id: &str, payload: &[u8]) -> Result<String> {
        // The data is a file, so stdin carries only the passphrase.
        let data = self.dir.path().join("payload");
        let _ = std::fs::remove_file(&data);
        self.dir.write_private("payload", payload)?;
        let passphrase = self
            .passphrase
            .as_ref()
            .map(|p| format!("{}\n", p.expose_secret()))
            .unwrap_or_default();
        let output = run(
            self.gpg()
                .args(["--status-fd", "2", "--pinentry-mode", "loopback"])
                .args(["--passphrase-fd", "0", "--detach-sign", "--armor"])
                .args(["--local-user", key_id, "--output", "-"])
                .arg(&data),
            "gpg",
            Some(passphrase.as_bytes()),
        )?;
        let status = String::from_utf8_lossy(&output.stderr);
        if output.status.success() && status.contains("[GNUPG:] SIG_CREATED ") {
            return Ok(signature_text(&output.stdout));
        }
        if status.contains("Bad passphrase") || status.contains("No passphrase given") {
            return Err(self.passphrase_error("--gpg-key-ring"));
        }
        Err(Error::SigningFailed {
            program: "gpg",
            cause: last_gpg_line(&output.stderr),
        })
    }

    fn sign_ssh(&self, key_file: &Path, askpass: &Path, payload: &[u8]) -> Result<String> {
        let mut command = Command::new("ssh-keygen");
        command
            .args(["-Y", "sign", "-n", "git", "-f"])
            .arg(key_file)
            // The key file alone signs: not a key the user's agent happens to hold.
            .env_remove("SSH_AUTH_SOCK")
            .env("SSH_ASKPASS", askpass)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env(
                ASKPASS_VARIABLE,
                self.passphrase
                    .as_ref()
                    .map(|p| p.expose_secret())
                    .unwrap_or_default(),
            );
        let output = run(&mut command, "ssh-keygen", Some(payload))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.success() {
            return Ok(signature_text(&output.stdout));
        }
        if stderr.contains("incorrect passphrase") {
            return Err(self.passphrase_error("--ssh-signing-key-file"));
        }
        let cause = stderr
            .lines()
            .filter(|line| !line.trim().is_empty() && !line.starts_with("Signing data"))
            .collect::<Vec<_>>()
            .join("; ");
        Err(Error::SigningKey {
            flag: "--ssh-signing-key-file",
            path: key_file.to_path_buf(),
            cause,
            next_step: "pass an SSH private key file (OpenSSH or PEM format) that ssh-keygen can read",
        })
    }

    fn passphrase_error(&self, flag: &'static str) -> Error {
        if self.passphrase.is_some() {
            Error::SigningPassphraseWrong { flag }
        } else {
            Error::SigningPassphraseNeeded { flag }
        }
    }

    /// gpg on the private home, never asking on a terminal.
    fn gpg(&self) -> Command {
        let mut command = Command::new("gpg");
        command
            .arg("--homedir")
            .arg(self.dir.path())
            .args(["--batch", "--no-tty", "--quiet"]);
        command
    }
}

impl Drop for Signer {
    /// Stops the private home's gpg-agent (started by gpg on first use); the folder goes next.
    fn drop(&mut self) {
        if let Method::Gpg { .. } = self.method {
            let _ = Command::new("gpgconf")
                .arg("--homedir")
                .arg(self.dir.path())
                .args(["--kill", "gpg-agent"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// A script that prints the passphrase from its environment (set only for ssh-keygen).
#[cfg(unix)]
fn askpass_helper(dir: &ScratchDir) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let script = format!("#!/bin/sh\nprintf '%s\\n' \"${ASKPASS_VARIABLE}\"\n");
    let path = dir.write_private("askpass.sh", script.as_bytes())?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).map_err(|source| {
        Error::GitTempFiles {
            path: path.clone(),
            source,
        }
    })?;
    Ok(path)
}

/// Windows' OpenSSH runs SSH_ASKPASS as a program: a batch file that echoes the variable.
#[cfg(not(unix))]
fn askpass_helper(dir: &ScratchDir) -> Result<PathBuf> {
    let script = format!("@echo off\r\necho %{ASKPASS_VARIABLE}%\r\n");
    dir.write_private("askpass.cmd", script.as_bytes())
}

/// Runs `command` with `stdin` (or none), capturing its output.
fn run(
    command: &mut Command,
    program: &'static str,
    stdin: Option<&[u8]>,
) -> Result<std::process::Output> {
    let missing = |err: std::io::Error| Error::SigningToolMissing {
        program,
        cause: err.to_string(),
    };
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(missing)?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A tool that stops reading early (a key without passphrase) closes the pipe: fine.
        let _ = pipe.write_all(input);
    }
    child
        .wait_with_output()
        .map_err(|err| Error::SigningFailed {
            program,
            cause: err.to_string(),
        })
}

/// The signature as stored in the header: LF line ends, one final newline.
fn signature_text(stdout: &[u8]) -> String {
    let text = String::from_utf8_lossy(stdout).replace("\r\n", "\n");
    format!("{}\n", text.trim_end())
}

/// gpg's last human-readable line (status lines left out).
fn last_gpg_line(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        .rfind(|line| !line.starts_with("[GNUPG:]") && !line.trim().is_empty())
        .unwrap_or("no message")
        .trim_start_matches("gpg: ")
        .to_string()
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::Signature;
    use crate::git::repo::LocalRepo;
    use std::process::Command;

    /// Runs `program` and returns its stdout; a failure fails the test with its stderr.
    fn ok(command: &mut Command) -> String {
        let out = command.output().unwrap();
        assert!(
            out.status.success(),
            "{command:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Two commits signed by `signer` in a fresh repository; returns it and the commits.
    fn two_signed_commits(dir: &Path, signer: &Signer) -> (PathBuf, Vec<ObjectIdString>) {
        let git_dir = dir.join("repo.git");
        let repo = LocalRepo {
            git_dir: &git_dir,
            url: "file:///test",
        };
        repo.init().unwrap();
        let author = Signature::default();
        let mut parent = None;
        let mut commits = Vec::new();
        for (file, message) in [
            ("a.yaml", "Add Flux v2.9.4 component manifests"),
            ("b.yaml", "Add Flux sync manifests"),
        ] {
            let id = repo
                .commit(
                    "main",
                    parent,
                    &[(file.to_string(), b"x: 1\n".to_vec())],
                    message,
                    &author,
                    Some(signer),
                )
                .unwrap()
                .unwrap();
            parent = Some(id);
            commits.push(id.to_string());
        }
        (git_dir, commits)
    }

    type ObjectIdString = String;

    /// A throwaway GnuPG home with one ed25519 key (passphrase `right`), and the key ring file
    /// `gpg --export-secret-keys` makes of it.
    fn gpg_key(dir: &Path) -> (PathBuf, PathBuf, String) {
        let home = dir.join("gnupg");
        std::fs::create_dir(&home).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        let gpg = || {
            let mut command = Command::new("gpg");
            command.arg("--homedir").arg(&home).args([
                "--batch",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "right",
            ]);
            command
        };
        ok(gpg().args([
            "--quick-gen-key",
            "Flux Test <flux@example.com>",
            "ed25519",
            "sign",
            "never",
        ]));
        let listing = ok(gpg().args(["--with-colons", "--list-secret-keys"]));
        let key_id = listing
            .lines()
            .find(|l| l.starts_with("sec:"))
            .and_then(|l| l.split(':').nth(4))
            .unwrap()
            .to_string();
        let ring = dir.join("ring.gpg");
        let exported = Command::new("gpg")
            .arg("--homedir")
            .arg(&home)
            .args([
                "--batch",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "right",
                "--export-secret-keys",
            ])
            .output()
            .unwrap();
        std::fs::write(&ring, exported.stdout).unwrap();
        (home, ring, key_id)
    }

    #[test]
    fn gpg_signed_commits_pass_git_verify_commit_and_a_wrong_passphrase_is_found_first() {
        let dir = tempfile::tempdir().unwrap();
        let (home, ring, key_id) = gpg_key(dir.path());
        let key = |passphrase: Option<&str>, key_id: Option<&str>| SigningKey::OpenPgp {
            key_ring: ring.clone(),
            key_id: key_id.map(str::to_string),
            passphrase: passphrase.map(SecretString::from),
        };
        let err = Signer::new(&key(None, None)).unwrap_err();
        assert!(
            matches!(
                err,
                Error::SigningPassphraseNeeded {
                    flag: "--gpg-key-ring"
                }
            ),
            "{err}"
        );
        let err = Signer::new(&key(Some("wrong"), None)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the passphrase of the commit signing key (--gpg-key-ring) is wrong; nothing was committed or pushed: give it in GPG_PASSPHRASE (or type it at the prompt on a terminal)"
        );
        let err = Signer::new(&key(Some("right"), Some("0123456789ABCDEF"))).unwrap_err();
        assert!(
            err.to_string().contains(&format!(
                "it holds no secret key with ID 0123456789ABCDEF (secret keys: {key_id})"
            )),
            "{err}"
        );
        let err = Signer::new(&key(Some("right"), Some("1234"))).unwrap_err();
        assert!(err.is_usage(), "{err}");

        let signer = Signer::new(&key(
            Some("right"),
            Some(&format!("0x{}", key_id.to_lowercase())),
        ))
        .unwrap();
        let (git_dir, commits) = two_signed_commits(dir.path(), &signer);
        for commit in &commits {
            let raw = ok(Command::new("git")
                .arg("--git-dir")
                .arg(&git_dir)
                .args(["cat-file", "commit", commit]));
            assert!(
                raw.contains("\ngpgsig -----BEGIN PGP SIGNATURE-----\n"),
                "{raw}"
            );
            let out = ok(Command::new("git")
                .arg("--git-dir")
                .arg(&git_dir)
                .env("GNUPGHOME", &home)
                .args(["log", "-1", "--format=%G?|%GK|%an|%s", commit]));
            assert!(out.starts_with(&format!("G|{key_id}|Flux|")), "{out}");
            ok(Command::new("git")
                .arg("--git-dir")
                .arg(&git_dir)
                .env("GNUPGHOME", &home)
                .args(["verify-commit", commit]));
        }
        // The private home's agent is stopped and the folder removed.
        let private_home = signer.dir.path().to_path_buf();
        drop(signer);
        assert!(!private_home.exists());
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(&home)
            .args(["--kill", "gpg-agent"])
            .status();
    }

    #[test]
    fn ssh_signed_commits_pass_git_verify_commit_with_an_allowed_signers_file() {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("signing_key");
        ok(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "right", "-C", "signing", "-f"])
            .arg(&key_file));
        let key = |passphrase: Option<&str>| SigningKey::Ssh {
            key_file: key_file.clone(),
            passphrase: passphrase.map(SecretString::from),
        };
        let err = Signer::new(&key(None)).unwrap_err();
        assert!(
            matches!(
                err,
                Error::SigningPassphraseNeeded {
                    flag: "--ssh-signing-key-file"
                }
            ),
            "{err}"
        );
        let err = Signer::new(&key(Some("wrong"))).unwrap_err();
        assert!(matches!(err, Error::SigningPassphraseWrong { .. }), "{err}");
        let not_a_key = dir.path().join("not-a-key");
        std::fs::write(&not_a_key, "hello\n").unwrap();
        let err = Signer::new(&SigningKey::Ssh {
            key_file: not_a_key,
            passphrase: None,
        })
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot sign commits with --ssh-signing-key-file "),
            "{err}"
        );

        let signer = Signer::new(&key(Some("right"))).unwrap();
        let (git_dir, commits) = two_signed_commits(dir.path(), &signer);
        let public = std::fs::read_to_string(key_file.with_extension("pub")).unwrap();
        let allowed = dir.path().join("allowed_signers");
        std::fs::write(&allowed, format!("flux@example.com {public}")).unwrap();
        for commit in &commits {
            let raw = ok(Command::new("git")
                .arg("--git-dir")
                .arg(&git_dir)
                .args(["cat-file", "commit", commit]));
            assert!(
                raw.contains("\ngpgsig -----BEGIN SSH SIGNATURE-----\n"),
                "{raw}"
            );
            ok(Command::new("git")
                .arg("--git-dir")
                .arg(&git_dir)
                .arg("-c")
                .arg(format!("gpg.ssh.allowedSignersFile={}", allowed.display()))
                .args(["verify-commit", commit]));
        }
    }
}
