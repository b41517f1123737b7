//! SSH material for Git over SSH: deploy keys (generated or read from a file) and the Git
//! host's known_hosts, scanned live, with the SHA256 fingerprints users compare against what
//! their Git host shows.
//!
//! See docs/yaml-and-git.md.

use std::path::Path;
use std::process::{Command, Stdio};
use std::str::FromStr;

use secrecy::SecretString;
use ssh_key::private::RsaKeypair;
use ssh_key::rand_core::OsRng;
use ssh_key::{Algorithm, EcdsaCurve, HashAlg, LineEnding, PrivateKey, PublicKey};

use super::error::{Error, Result};
use super::url::{GitUrl, Transport};

/// RSA key size, as the flux CLI's `--ssh-rsa-bits` default.
pub const RSA_BITS: usize = 2048;

/// Seconds ssh-keyscan waits for a host before giving up.
const KEYSCAN_TIMEOUT_SECONDS: &str = "10";

/// The algorithm of a generated deploy key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-384, the flux CLI's default for generic Git servers.
    #[default]
    Ecdsa,
    Ed25519,
    /// RSA with [`RSA_BITS`] bits.
    Rsa,
}

/// An SSH key pair for Git: the private half goes into the cluster's Secret (`identity`), the
/// public half to the Git host as a deploy key (`identity.pub`).
#[derive(Debug, Clone)]
pub struct DeployKey {
    /// The private key in OpenSSH format, unencrypted (source-controller needs it usable).
    pub private_key: SecretString,
    /// One authorized_keys line: `<type> <base64>`.
    pub public_key: String,
    /// `SHA256:<base64>`, as `ssh-keygen -l` and Git hosts show it.
    pub fingerprint: String,
}

/// Generates a new deploy key.
pub fn generate_deploy_key(algorithm: KeyAlgorithm) -> Result<DeployKey> {
    let failed = |source: ssh_key::Error| Error::SshKeyGeneration {
        algorithm: format!("{algorithm:?}"),
        source,
    };
    let key = match algorithm {
        KeyAlgorithm::Ecdsa => PrivateKey::random(
            &mut OsRng,
            Algorithm::Ecdsa {
                curve: EcdsaCurve::NistP384,
            },
        ),
        KeyAlgorithm::Ed25519 => PrivateKey::random(&mut OsRng, Algorithm::Ed25519),
        KeyAlgorithm::Rsa => RsaKeypair::random(&mut OsRng, RSA_BITS).map(PrivateKey::from),
    }
    .map_err(failed)?;
    deploy_key(&key).map_err(failed)
}

/// Reads a deploy key from an OpenSSH private key file (`--private-key-file`).
pub fn load_deploy_key(path: &Path) -> Result<DeployKey> {
    let unusable = |cause: String, next_step: &'static str| Error::SshKeyFile {
        path: path.to_path_buf(),
        cause,
        next_step,
    };
    let text = std::fs::read_to_string(path)
        .map_err(|err| unusable(err.to_string(), "pass a readable private key file"))?;
    let key = PrivateKey::from_openssh(text.trim_start()).map_err(|err| {
        if text.contains("BEGIN OPENSSH PRIVATE KEY") {
            unusable(
                err.to_string(),
                "check the file is a complete OpenSSH private key",
            )
        } else {
            unusable(
                "it is not an OpenSSH private key (PEM and PKCS#8 keys are not read)".to_string(),
                "convert a copy with: ssh-keygen -p -m OpenSSH -f <copy>",
            )
        }
    })?;
    if key.is_encrypted() {
        return Err(unusable(
            "it is protected by a passphrase, and Flux's source-controller needs it without one"
                .to_string(),
            "remove the passphrase from a copy with: ssh-keygen -p -N '' -f <copy>",
        ));
    }
    deploy_key(&key).map_err(|err| unusable(err.to_string(), "pass an OpenSSH private key file"))
}

fn deploy_key(key: &PrivateKey) -> ssh_key::Result<DeployKey> {
    let private_key = key.to_openssh(LineEnding::LF)?;
    let public = key.public_key();
    Ok(DeployKey {
        private_key: SecretString::from(private_key.as_str()),
        public_key: authorized_key_line(public)?,
        fingerprint: public.fingerprint(HashAlg::Sha256).to_string(),
    })
}

/// `<type> <base64>` without the comment (a generated key has none; a loaded key's comment
/// often names a person's machine, which does not belong on a deploy key).
fn authorized_key_line(public: &PublicKey) -> ssh_key::Result<String> {
    let mut public = public.clone();
    public.set_comment("");
    Ok(public.to_openssh()?.trim().to_string())
}

/// The Git host's public keys, as Flux stores them in the Secret's `known_hosts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownHosts {
    /// known_hosts lines (`[host]:port <type> <base64>` for ports other than 22), one per key.
    pub lines: String,
    /// `<type> SHA256:<base64>` for each key, to show the user.
    pub fingerprints: Vec<String>,
}

/// Scans the SSH host keys of the Git host of an SSH `url` (`ssh-keyscan -p <port> <host>`).
pub fn scan_known_hosts(url: &str) -> Result<KnownHosts> {
    let parsed = GitUrl::parse(url)?;
    if parsed.transport != Transport::Ssh {
        return Err(Error::GitUrl {
            url: url.to_string(),
            reason: "host keys can only be scanned for SSH URLs (ssh://user@host[:port]/path)"
                .to_string(),
        });
    }
    let port = parsed.port.unwrap_or(22);
    let failed = |cause: String| Error::SshKeyScan {
        host: parsed.host.clone(),
        port,
        cause,
    };
    let output = crate::interrupt::output(
        Command::new("ssh-keyscan")
            .args(["-T", KEYSCAN_TIMEOUT_SECONDS, "-p", &port.to_string(), "--"])
            .arg(&parsed.host)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("LC_ALL", "C"),
        crate::interrupt::Terminal::NotNeeded,
    )
    .map_err(|err| match err.kind() {
            std::io::ErrorKind::NotFound => failed(
                "ssh-keyscan is not installed; install OpenSSH's client (e.g. apt-get install openssh-client)"
                    .to_string(),
            ),
            _ => failed(format!("cannot run ssh-keyscan: {err}")),
        })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut lines: Vec<&str> = stdout
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    // One order whatever order the server answered in, so re-runs write identical Secrets.
    lines.sort_unstable();
    lines.dedup();
    if lines.is_empty() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let detail = stderr
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(failed(if detail.is_empty() {
            "no host keys received (nothing listens there, or it is not an SSH server)".to_string()
        } else {
            detail
        }));
    }
    let text = lines.join("\n") + "\n";
    let fingerprints = known_hosts_fingerprints(&text);
    if fingerprints.len() != lines.len() {
        return Err(failed(
            "ssh-keyscan printed lines that are not known_hosts entries".to_string(),
        ));
    }
    Ok(KnownHosts {
        lines: text,
        fingerprints,
    })
}

/// `<type> SHA256:<base64>` for every parseable entry of a known_hosts text.
pub fn known_hosts_fingerprints(known_hosts: &str) -> Vec<String> {
    known_hosts
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| ssh_key::known_hosts::Entry::from_str(line).ok())
        .map(|entry| {
            let key = entry.public_key();
            format!(
                "{} {}",
                key.algorithm().as_str(),
                key.fingerprint(HashAlg::Sha256)
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    use crate::git::scratch::ScratchDir;

    /// `ssh-keygen -l -E sha256 -f <file>`: the fingerprint OpenSSH computes for a key file.
    fn ssh_keygen_fingerprint(file: &Path) -> String {
        let out = Command::new("ssh-keygen")
            .args(["-l", "-E", "sha256", "-f"])
            .arg(file)
            .output()
            .expect("run ssh-keygen");
        assert!(
            out.status.success(),
            "ssh-keygen -l refused {}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .nth(1)
            .expect("fingerprint field")
            .to_string()
    }

    #[test]
    fn generated_keys_are_accepted_by_ssh_keygen_with_our_fingerprint() {
        // ssh-keygen refuses a private key file others may read: a private scratch folder.
        let scratch = ScratchDir::in_temp("kubectl-gitops-test-keys-").unwrap();
        let dir = scratch.path();
        for (algorithm, key_type) in [
            (KeyAlgorithm::Ecdsa, "ecdsa-sha2-nistp384"),
            (KeyAlgorithm::Ed25519, "ssh-ed25519"),
            (KeyAlgorithm::Rsa, "ssh-rsa"),
        ] {
            let key = generate_deploy_key(algorithm).unwrap();
            assert!(
                key.public_key.starts_with(&format!("{key_type} ")),
                "{}",
                key.public_key
            );
            assert!(
                key.fingerprint.starts_with("SHA256:"),
                "{}",
                key.fingerprint
            );
            let name = format!("{algorithm:?}");
            let private = scratch
                .write_private(&name, key.private_key.expose_secret().as_bytes())
                .unwrap();
            let public = dir.join(format!("{name}.pub"));
            std::fs::write(&public, format!("{}\n", key.public_key)).unwrap();
            assert_eq!(
                ssh_keygen_fingerprint(&private),
                key.fingerprint,
                "{name} private"
            );
            assert_eq!(
                ssh_keygen_fingerprint(&public),
                key.fingerprint,
                "{name} public"
            );
            // ssh-keygen derives the same public key from our private key file.
            let derived = Command::new("ssh-keygen")
                .arg("-y")
                .arg("-f")
                .arg(&private)
                .output()
                .unwrap();
            assert!(
                derived.status.success(),
                "{}",
                String::from_utf8_lossy(&derived.stderr)
            );
            assert_eq!(
                String::from_utf8_lossy(&derived.stdout).trim(),
                key.public_key
            );
            // Debug output never shows the private key.
            let secret_line = key
                .private_key
                .expose_secret()
                .lines()
                .nth(1)
                .unwrap()
                .to_string();
            assert!(!format!("{key:?}").contains(&secret_line));
        }
    }

    #[test]
    fn a_key_file_written_by_ssh_keygen_loads_with_its_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("id_ed25519");
        let out = Command::new("ssh-keygen")
            .args([
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "someone@laptop",
                "-f",
            ])
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success());
        let key = load_deploy_key(&file).unwrap();
        assert_eq!(key.fingerprint, ssh_keygen_fingerprint(&file));
        assert!(
            !key.public_key.contains("someone@laptop"),
            "{}",
            key.public_key
        );
    }

    #[test]
    fn passphrase_protected_and_pem_keys_are_refused_with_the_next_step() {
        let dir = tempfile::tempdir().unwrap();
        let protected = dir.path().join("protected");
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "a passphrase", "-f"])
            .arg(&protected)
            .output()
            .unwrap();
        assert!(out.status.success());
        let err = load_deploy_key(&protected).unwrap_err().to_string();
        assert!(
            err.contains("passphrase") && err.contains("ssh-keygen -p"),
            "{err}"
        );

        let pem = dir.path().join("pem");
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", "ecdsa", "-m", "PEM", "-N", "", "-f"])
            .arg(&pem)
            .output()
            .unwrap();
        assert!(out.status.success());
        let err = load_deploy_key(&pem).unwrap_err().to_string();
        assert!(err.contains("not an OpenSSH private key"), "{err}");
        assert!(!err.contains("BEGIN"), "{err}");

        let missing = load_deploy_key(&dir.path().join("absent"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("absent"), "{missing}");
    }

    #[test]
    fn known_hosts_fingerprints_match_ssh_keygen() {
        let dir = tempfile::tempdir().unwrap();
        let key = generate_deploy_key(KeyAlgorithm::Ed25519).unwrap();
        let line = format!("[127.0.0.1]:2222 {}\n", key.public_key);
        let file = dir.path().join("known_hosts");
        std::fs::write(&file, &line).unwrap();
        assert_eq!(
            known_hosts_fingerprints(&line),
            vec![format!("ssh-ed25519 {}", ssh_keygen_fingerprint(&file))]
        );
    }

    #[test]
    fn scanning_needs_an_ssh_url_and_a_listening_host() {
        let err = scan_known_hosts("https://example.com/repo.git")
            .unwrap_err()
            .to_string();
        assert!(err.contains("SSH URLs"), "{err}");
        // Port 1 on loopback: nothing listens there.
        let err = scan_known_hosts("ssh://git@127.0.0.1:1/repo.git")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("127.0.0.1") && err.contains("no host keys"),
            "{err}"
        );
    }
}
