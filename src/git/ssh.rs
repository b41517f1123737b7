//! SSH material for Git over SSH: deploy keys (generated or read from a file) and the Git
//! host's known_hosts, scanned live, with the SHA256 fingerprints users compare against what
//! their Git host shows.
//!
//! See docs/yaml-and-git.md.

use std::path::Path;
use std::process::{Command, Stdio};
use std::str::FromStr;

use secrecy::SecretString;
use ssh_key::rand_core::OsRng;
use ssh_key::{Algorithm, EcdsaCurve, HashAlg, LineEnding, PrivateKey, PublicKey};

use super::error::{Error, Result};
use super::url::{GitUrl, Transport};

/// RSA key size, as the flux CLI's `--ssh-rsa-bits` default.
pub const RSA_BITS: usize = 2048;

/// Smallest RSA key size flux generates (`--ssh-rsa-bits`); larger sizes are multiples of 8.
pub const MIN_RSA_BITS: usize = 1024;

/// Largest RSA key size generated here: bigger keys take minutes to generate and gain nothing.
pub const MAX_RSA_BITS: usize = 16384;

/// Seconds ssh-keyscan waits for a host before giving up.
const KEYSCAN_TIMEOUT_SECONDS: &str = "10";

/// The algorithm of a generated deploy key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyAlgorithm {
    /// ECDSA (on NIST P-384 unless told otherwise), the flux CLI's default for generic Git
    /// servers.
    #[default]
    Ecdsa,
    Ed25519,
    /// RSA ([`RSA_BITS`] bits unless told otherwise).
    Rsa,
}

/// The NIST curve of a generated ECDSA key (`--ssh-ecdsa-curve`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Curve {
    P256,
    /// The flux CLI's default.
    #[default]
    P384,
    P521,
}

/// What kind of deploy key to generate: flux's `--ssh-key-algorithm`, `--ssh-ecdsa-curve`
/// and `--ssh-rsa-bits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyOptions {
    pub algorithm: KeyAlgorithm,
    pub curve: Curve,
    pub rsa_bits: usize,
}

impl From<KeyAlgorithm> for KeyOptions {
    /// `algorithm` with flux's defaults: P-384, 2048 bits.
    fn from(algorithm: KeyAlgorithm) -> KeyOptions {
        KeyOptions {
            algorithm,
            curve: Curve::default(),
            rsa_bits: RSA_BITS,
        }
    }
}

/// flux's rule for `--ssh-rsa-bits` (at least 1024, a multiple of 8), and a ceiling.
pub fn check_rsa_bits(bits: usize) -> Result<()> {
    let reason = if bits < MIN_RSA_BITS {
        format!("an RSA key needs at least {MIN_RSA_BITS} bits")
    } else if !bits.is_multiple_of(8) {
        "the size of an RSA key is a multiple of 8 bits".to_string()
    } else if bits > MAX_RSA_BITS {
        format!("keys larger than {MAX_RSA_BITS} bits take too long to generate")
    } else {
        return Ok(());
    };
    Err(Error::InvalidFlag {
        flag: "--ssh-rsa-bits",
        value: bits.to_string(),
        reason,
    })
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
pub fn generate_deploy_key(options: impl Into<KeyOptions>) -> Result<DeployKey> {
    let options = options.into();
    let failed = |source: ssh_key::Error| Error::SshKeyGeneration {
        algorithm: format!("{options:?}"),
        source,
    };
    let key = match options.algorithm {
        KeyAlgorithm::Ecdsa => PrivateKey::random(
            &mut OsRng,
            Algorithm::Ecdsa {
                curve: match options.curve {
                    Curve::P256 => EcdsaCurve::NistP256,
                    Curve::P384 => EcdsaCurve::NistP384,
                    Curve::P521 => EcdsaCurve::NistP521,
                },
            },
        ),
        KeyAlgorithm::Ed25519 => PrivateKey::random(&mut OsRng, Algorithm::Ed25519),
        KeyAlgorithm::Rsa => {
            check_rsa_bits(options.rsa_bits)?;
            rsa::RsaPrivateKey::new(&mut OsRng, options.rsa_bits)
                .map_err(|_| ssh_key::Error::Crypto)
                .and_then(|key| super::key_file::rsa_keypair(&key))
                .and_then(|data| PrivateKey::new(data, ""))
        }
    }
    .map_err(failed)?;
    deploy_key(&key).map_err(failed)
}

/// Reads a deploy key from an unprotected private key file (`--private-key-file`); see
/// [`super::load_key_file`] for every form and passphrases.
pub fn load_deploy_key(path: &Path) -> Result<DeployKey> {
    super::key_file::load_key_file(path, None).map(|file| file.key)
}

pub(super) fn deploy_key(key: &PrivateKey) -> ssh_key::Result<DeployKey> {
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
    scan_known_hosts_for(url, &[])
}

/// The host key types of each `--ssh-hostkey-algos` name: (the name, ssh-keyscan's `-t`
/// type, the key type known_hosts lines carry). RSA keys sign with SHA-2 under the
/// `rsa-sha2-*` names (what Azure DevOps requires) and are stored as `ssh-rsa` keys.
const HOST_KEY_ALGORITHMS: &[(&str, &str, &str)] = &[
    ("rsa-sha2-512", "rsa", "ssh-rsa"),
    ("rsa-sha2-256", "rsa", "ssh-rsa"),
    ("ssh-rsa", "rsa", "ssh-rsa"),
    ("ssh-ed25519", "ed25519", "ssh-ed25519"),
    ("ecdsa-sha2-nistp256", "ecdsa", "ecdsa-sha2-nistp256"),
    ("ecdsa-sha2-nistp384", "ecdsa", "ecdsa-sha2-nistp384"),
    ("ecdsa-sha2-nistp521", "ecdsa", "ecdsa-sha2-nistp521"),
    (
        "sk-ssh-ed25519@openssh.com",
        "ed25519-sk",
        "sk-ssh-ed25519@openssh.com",
    ),
    (
        "sk-ecdsa-sha2-nistp256@openssh.com",
        "ecdsa-sk",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    ),
];

/// Refuses a `--ssh-hostkey-algos` name that is not an SSH host key algorithm known here.
pub fn check_host_key_algorithms(algorithms: &[String]) -> Result<()> {
    for name in algorithms {
        if !HOST_KEY_ALGORITHMS.iter().any(|(known, ..)| known == name) {
            return Err(Error::InvalidFlag {
                flag: "--ssh-hostkey-algos",
                value: name.clone(),
                reason: format!(
                    "not a host key algorithm known here; use some of {}",
                    HOST_KEY_ALGORITHMS
                        .iter()
                        .map(|(name, ..)| *name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
    }
    Ok(())
}

/// Like [`scan_known_hosts`], keeping only keys of the host key `algorithms` (all when
/// empty): ssh-keyscan asks for their key types only, and any other line is dropped, so
/// bootstrap's own ssh and source-controller accept no other host key.
pub fn scan_known_hosts_for(url: &str, algorithms: &[String]) -> Result<KnownHosts> {
    check_host_key_algorithms(algorithms)?;
    let allowed: Vec<&(&str, &str, &str)> = HOST_KEY_ALGORITHMS
        .iter()
        .filter(|(name, ..)| algorithms.iter().any(|a| a == name))
        .collect();
    let mut scan_types: Vec<&str> = allowed.iter().map(|(_, scan, _)| *scan).collect();
    scan_types.dedup();
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
    let mut command = Command::new("ssh-keyscan");
    command.args(["-T", KEYSCAN_TIMEOUT_SECONDS, "-p", &port.to_string()]);
    if !scan_types.is_empty() {
        command.arg("-t").arg(scan_types.join(","));
    }
    command
        .arg("--")
        .arg(&parsed.host)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("LC_ALL", "C");
    let output = crate::interrupt::output(&mut command, crate::interrupt::Terminal::NotNeeded)
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
        .filter(|line| {
            allowed.is_empty()
                || line
                    .split_whitespace()
                    .nth(1)
                    .is_some_and(|key_type| allowed.iter().any(|(.., kept)| *kept == key_type))
        })
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
        return Err(failed(if !allowed.is_empty() && detail.is_empty() {
            format!(
                "no host key of the algorithms {} (--ssh-hostkey-algos) received: the host offers none, or nothing listens there",
                algorithms.join(",")
            )
        } else if detail.is_empty() {
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
    fn every_curve_and_rsa_size_flux_offers_is_generated_and_accepted_by_ssh_keygen() {
        let scratch = ScratchDir::in_temp("kubectl-gitops-test-keys-").unwrap();
        for (options, key_type, bits) in [
            (
                KeyOptions {
                    curve: Curve::P256,
                    ..KeyAlgorithm::Ecdsa.into()
                },
                "ecdsa-sha2-nistp256",
                "256",
            ),
            (
                KeyOptions {
                    curve: Curve::P521,
                    ..KeyAlgorithm::Ecdsa.into()
                },
                "ecdsa-sha2-nistp521",
                "521",
            ),
            (
                KeyOptions {
                    rsa_bits: 1024,
                    ..KeyAlgorithm::Rsa.into()
                },
                "ssh-rsa",
                "1024",
            ),
        ] {
            let key = generate_deploy_key(options).unwrap();
            assert!(
                key.public_key.starts_with(&format!("{key_type} ")),
                "{}",
                key.public_key
            );
            let private = scratch
                .write_private(bits, key.private_key.expose_secret().as_bytes())
                .unwrap();
            let listed = Command::new("ssh-keygen")
                .arg("-l")
                .arg("-f")
                .arg(&private)
                .output()
                .unwrap();
            let listed = String::from_utf8_lossy(&listed.stdout).to_string();
            // `<bits> SHA256:<fingerprint> <comment> (<TYPE>)`
            assert!(
                listed.starts_with(&format!("{bits} {} ", key.fingerprint)),
                "{listed}"
            );
        }
    }

    #[test]
    fn rsa_sizes_follow_fluxs_rule() {
        for ok in [1024, 2048, 2056, 4096] {
            assert!(check_rsa_bits(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            (512, "at least 1024"),
            (2047, "multiple of 8"),
            (32768, "too long"),
        ] {
            let err = check_rsa_bits(bad).unwrap_err().to_string();
            assert!(err.contains("--ssh-rsa-bits") && err.contains(why), "{err}");
        }
    }

    #[test]
    fn host_key_algorithms_must_be_known() {
        let names = |list: &[&str]| list.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        assert!(check_host_key_algorithms(&names(&["rsa-sha2-512", "rsa-sha2-256"])).is_ok());
        let err = check_host_key_algorithms(&names(&["ssh-dss"]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--ssh-hostkey-algos") && err.contains("rsa-sha2-512"),
            "{err}"
        );
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
