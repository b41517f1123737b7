//! `--private-key-file` in every form users have: OpenSSH (with or without a passphrase) and
//! PEM (PKCS#1 RSA, SEC1 EC, PKCS#8 RSA/EC/Ed25519), as `ssh-keygen` and `openssl` write them.
//!
//! The file's text goes to the cluster's Secret as given (`identity`), with the passphrase as
//! `password`, as the flux CLI stores it: source-controller reads every one of these forms and
//! decrypts with `password`. Bootstrap's own ssh gets the key decrypted, in OpenSSH form, in
//! memory only (zeroized when dropped); it is never written anywhere decrypted by this module.
//!
//! See docs/yaml-and-git.md.

use std::path::Path;

use pkcs8::der::{Decode, pem};
use secrecy::{ExposeSecret, SecretString};
use ssh_key::PrivateKey;
use ssh_key::private::{EcdsaKeypair, Ed25519Keypair, KeypairData, RsaKeypair};
use zeroize::Zeroizing;

use super::error::{Error, Result};
use super::ssh::{DeployKey, deploy_key};

/// A private key read from a file.
pub struct KeyFile {
    /// The file's text as given: the Secret's `identity`.
    pub as_given: SecretString,
    /// The passphrase that decrypted it (the Secret's `password`), None for an unprotected key.
    pub passphrase: Option<SecretString>,
    /// The key, decrypted, in OpenSSH form, and its public half: for bootstrap's own ssh.
    pub key: DeployKey,
}

/// OIDs of the PKCS#8 key algorithms and SEC1 curves read here.
const RSA_ENCRYPTION: pkcs8::ObjectIdentifier =
    pkcs8::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: pkcs8::ObjectIdentifier =
    pkcs8::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const ED25519: pkcs8::ObjectIdentifier = pkcs8::ObjectIdentifier::new_unwrap("1.3.101.112");
const P256: pkcs8::ObjectIdentifier = pkcs8::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: pkcs8::ObjectIdentifier = pkcs8::ObjectIdentifier::new_unwrap("1.3.132.0.34");
const P521: pkcs8::ObjectIdentifier = pkcs8::ObjectIdentifier::new_unwrap("1.3.132.0.35");

/// Converts a protected PEM key (which source-controller cannot decrypt) to OpenSSH form with
/// the same passphrase.
const CONVERT_PROTECTED_PEM: &str = "convert a copy to OpenSSH form, keeping its passphrase, with: ssh-keygen -p -f <copy> (then pass the copy and the passphrase)";

/// Whether the key in `path` is protected by a passphrase (so one must be asked for).
pub fn key_file_is_encrypted(path: &Path) -> Result<bool> {
    let text = read(path)?;
    if text.contains("BEGIN OPENSSH PRIVATE KEY") {
        return Ok(PrivateKey::from_openssh(text.trim_start()).is_ok_and(|k| k.is_encrypted()));
    }
    Ok(false)
}

/// Reads the private key in `path`; `passphrase` decrypts a protected OpenSSH key (and is
/// ignored for a key without one, which source-controller would refuse with a `password`).
pub fn load_key_file(path: &Path, passphrase: Option<&SecretString>) -> Result<KeyFile> {
    let unusable = |cause: String, next_step: &'static str| Error::SshKeyFile {
        path: path.to_path_buf(),
        cause,
        next_step,
    };
    let text = read(path)?;
    let trimmed = text.trim_start();
    let (key, used_passphrase) = if trimmed.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----") {
        openssh(trimmed, passphrase).map_err(|(cause, next)| unusable(cause, next))?
    } else if trimmed.starts_with("-----BEGIN ") {
        (
            pem_key(trimmed).map_err(|(cause, next)| unusable(cause, next))?,
            None,
        )
    } else {
        return Err(unusable(
            "it is not a private key file (no \"-----BEGIN ... PRIVATE KEY-----\" line)"
                .to_string(),
            "pass an OpenSSH or PEM private key file (ssh-keygen writes one)",
        ));
    };
    let key = deploy_key(&key)
        .map_err(|err| unusable(err.to_string(), "pass an OpenSSH or PEM private key file"))?;
    Ok(KeyFile {
        as_given: SecretString::from(text.as_str()),
        passphrase: used_passphrase,
        key,
    })
}

fn read(path: &Path) -> Result<Zeroizing<String>> {
    std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|err| Error::SshKeyFile {
            path: path.to_path_buf(),
            cause: err.to_string(),
            next_step: "pass a readable private key file",
        })
}

type Refusal = (String, &'static str);

/// An OpenSSH key, decrypted with `passphrase` when it is protected.
fn openssh(
    text: &str,
    passphrase: Option<&SecretString>,
) -> std::result::Result<(PrivateKey, Option<SecretString>), Refusal> {
    let key = match PrivateKey::from_openssh(text) {
        Ok(key) => key,
        // An ECDSA key whose scalar OpenSSH wrote short (half of all P-521 keys).
        Err(err) => match super::openssh_ecdsa::widened(text, None) {
            Some(Ok(key)) => key,
            _ => {
                return Err((
                    format!("it is not a complete OpenSSH private key ({err})"),
                    "check the file is the whole private key, as ssh-keygen wrote it",
                ));
            }
        },
    };
    if !key.is_encrypted() {
        return Ok((key, None));
    }
    let Some(passphrase) = passphrase else {
        return Err((
            "it is protected by a passphrase and none was given".to_string(),
            "set GIT_PASSWORD to the passphrase (or pass --password, or run on a terminal to be asked)",
        ));
    };
    let secret = passphrase.expose_secret().as_bytes();
    let decrypted = key
        .decrypt(secret)
        .or_else(|err| match err {
            ssh_key::Error::Crypto => Err(err),
            // An ECDSA key whose scalar OpenSSH wrote short: widened once decrypted.
            other => super::openssh_ecdsa::widened(text, Some(secret)).unwrap_or(Err(other)),
        })
        .map_err(|err| match err {
            ssh_key::Error::Crypto => (
                "the passphrase does not decrypt it".to_string(),
                "check the passphrase (GIT_PASSWORD or --password)",
            ),
            other => (
                format!("cannot decrypt it ({other})"),
                "convert a copy with: ssh-keygen -p -f <copy>",
            ),
        })?;
    Ok((decrypted, Some(passphrase.clone())))
}

/// A PEM key: PKCS#1 (`RSA PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`) or PKCS#8 (`PRIVATE KEY`).
fn pem_key(text: &str) -> std::result::Result<PrivateKey, Refusal> {
    if text.contains("Proc-Type: 4,ENCRYPTED") || text.contains("BEGIN ENCRYPTED PRIVATE KEY") {
        return Err((
            "it is a passphrase-protected PEM key, a form source-controller does not decrypt"
                .to_string(),
            CONVERT_PROTECTED_PEM,
        ));
    }
    let unreadable = |what: &str, err: &dyn std::fmt::Display| {
        (
            format!("it is not a readable {what} ({err})"),
            "check the file is the whole private key, as ssh-keygen or openssl wrote it",
        )
    };
    let (label, der) = pem::decode_vec(text.trim_end().as_bytes())
        .map_err(|err| unreadable("PEM private key", &err))?;
    let der = Zeroizing::new(der);
    let data: KeypairData = match label {
        "RSA PRIVATE KEY" => {
            use rsa::pkcs1::DecodeRsaPrivateKey;
            let key = rsa::RsaPrivateKey::from_pkcs1_der(&der)
                .map_err(|err| unreadable("PKCS#1 RSA key", &err))?;
            rsa_keypair(&key).map_err(|err| unreadable("PKCS#1 RSA key", &err))?
        }
        "EC PRIVATE KEY" => {
            let key = sec1::EcPrivateKey::from_der(&der)
                .map_err(|err| unreadable("SEC1 EC key", &err))?;
            let curve = key.parameters.and_then(|p| p.named_curve());
            ec_keypair(curve, &der, Form::Sec1).map_err(|err| unreadable("SEC1 EC key", &err))?
        }
        "PRIVATE KEY" => {
            let info = pkcs8::PrivateKeyInfo::from_der(&der)
                .map_err(|err| unreadable("PKCS#8 key", &err))?;
            let oid = info.algorithm.oid;
            if oid == RSA_ENCRYPTION {
                use rsa::pkcs8::DecodePrivateKey;
                let key = rsa::RsaPrivateKey::from_pkcs8_der(&der)
                    .map_err(|err| unreadable("PKCS#8 RSA key", &err))?;
                rsa_keypair(&key).map_err(|err| unreadable("PKCS#8 RSA key", &err))?
            } else if oid == EC_PUBLIC_KEY {
                let curve = info.algorithm.parameters_oid().ok();
                ec_keypair(curve, &der, Form::Pkcs8)
                    .map_err(|err| unreadable("PKCS#8 EC key", &err))?
            } else if oid == ED25519 {
                // The private key is an OCTET STRING holding the 32-byte seed (RFC 8410).
                let seed = pkcs8::der::asn1::OctetStringRef::from_der(info.private_key)
                    .map_err(|err| unreadable("PKCS#8 Ed25519 key", &err))?;
                let private = ssh_key::private::Ed25519PrivateKey::try_from(seed.as_bytes())
                    .map_err(|err| unreadable("PKCS#8 Ed25519 key", &err))?;
                KeypairData::Ed25519(Ed25519Keypair::from(private))
            } else {
                return Err((
                    format!("its PKCS#8 key algorithm ({oid}) is not one SSH uses here"),
                    "pass an RSA, ECDSA (P-256, P-384, P-521) or Ed25519 key",
                ));
            }
        }
        other => {
            return Err((
                format!("a PEM \"{other}\" block is not a private key read here"),
                "pass an OpenSSH, PKCS#1, SEC1 or PKCS#8 private key",
            ));
        }
    };
    PrivateKey::new(data, "").map_err(|err| unreadable("private key", &err))
}

#[derive(Clone, Copy)]
enum Form {
    Sec1,
    Pkcs8,
}

/// An ECDSA key pair on the named `curve`, from its SEC1 or PKCS#8 DER.
fn ec_keypair(
    curve: Option<pkcs8::ObjectIdentifier>,
    der: &[u8],
    form: Form,
) -> std::result::Result<KeypairData, String> {
    macro_rules! keypair {
        ($curve:ident, $variant:ident) => {{
            use $curve::pkcs8::DecodePrivateKey;
            let secret = match form {
                Form::Sec1 => $curve::SecretKey::from_sec1_der(der).map_err(|e| e.to_string())?,
                Form::Pkcs8 => $curve::SecretKey::from_pkcs8_der(der).map_err(|e| e.to_string())?,
            };
            let public = secret.public_key();
            EcdsaKeypair::$variant {
                public: public.into(),
                private: secret.into(),
            }
        }};
    }
    let keypair = match curve {
        Some(oid) if oid == P256 => keypair!(p256, NistP256),
        Some(oid) if oid == P384 => keypair!(p384, NistP384),
        Some(oid) if oid == P521 => keypair!(p521, NistP521),
        Some(oid) => return Err(format!("curve {oid} is not P-256, P-384 or P-521")),
        None => return Err("it names no curve".to_string()),
    };
    Ok(KeypairData::Ecdsa(keypair))
}

/// ssh-key's RSA key pair from the rsa crate's key, of any size (ssh-key's own conversion
/// refuses keys under 2048 bits, which flux accepts from 1024).
pub(super) fn rsa_keypair(key: &rsa::RsaPrivateKey) -> ssh_key::Result<KeypairData> {
    use rsa::traits::{PrivateKeyParts, PublicKeyParts};
    use ssh_key::Mpint;
    let [p, q] = key.primes() else {
        return Err(ssh_key::Error::Crypto); // multi-prime keys have no SSH form
    };
    let iqmp = key.crt_coefficient().ok_or(ssh_key::Error::Crypto)?;
    Ok(KeypairData::Rsa(RsaKeypair {
        public: ssh_key::public::RsaPublicKey {
            e: Mpint::try_from(key.e())?,
            n: Mpint::try_from(key.n())?,
        },
        private: ssh_key::private::RsaPrivateKey {
            d: Mpint::try_from(key.d())?,
            iqmp: Mpint::try_from(&iqmp)?,
            p: Mpint::try_from(p)?,
            q: Mpint::try_from(q)?,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::process::Command;

    use crate::git::scratch::ScratchDir;

    fn run(program: &str, args: &[&str]) -> String {
        let out = Command::new(program).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A key file written by the real ssh-keygen (`-m` format, `-N` passphrase).
    fn ssh_keygen(dir: &Path, name: &str, args: &[&str], passphrase: &str) -> PathBuf {
        let file = dir.join(name);
        let path = file.to_str().unwrap();
        let mut all = vec!["-q", "-C", "someone@laptop", "-N", passphrase, "-f", path];
        all.extend(args);
        run("ssh-keygen", &all);
        file
    }

    /// `SHA256:...` of a key file (private or public), as OpenSSH computes it.
    fn fingerprint(file: &Path) -> String {
        run(
            "ssh-keygen",
            &["-l", "-E", "sha256", "-f", file.to_str().unwrap()],
        )
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
    }

    /// The decrypted OpenSSH key we hand to ssh is one ssh-keygen reads, and derives our
    /// public key and the original file's fingerprint from.
    fn assert_usable(dir: &ScratchDir, loaded: &KeyFile, original: &Path) {
        if original.extension().is_some_and(|e| e == "ed25519") {
            // ssh-keygen does not read Ed25519 PKCS#8: compare with openssl's public key.
            let der = Command::new("openssl")
                .args(["pkey", "-pubout", "-outform", "DER", "-in"])
                .arg(original)
                .output()
                .unwrap()
                .stdout;
            use base64::Engine;
            let blob = base64::engine::general_purpose::STANDARD
                .decode(loaded.key.public_key.split_whitespace().nth(1).unwrap())
                .unwrap();
            assert_eq!(blob[blob.len() - 32..], der[der.len() - 32..]);
        } else {
            assert_eq!(
                loaded.key.fingerprint,
                fingerprint(original),
                "{original:?}"
            );
        }
        let ours = dir
            .write_private(
                "decrypted",
                loaded.key.private_key.expose_secret().as_bytes(),
            )
            .unwrap();
        let derived = run("ssh-keygen", &["-y", "-f", ours.to_str().unwrap()]);
        let derived: Vec<&str> = derived.split_whitespace().take(2).collect();
        assert_eq!(derived.join(" "), loaded.key.public_key);
        assert!(!loaded.key.public_key.contains("someone@laptop"));
        std::fs::remove_file(ours).unwrap();
    }

    #[test]
    fn a_passphrase_protected_openssh_key_is_decrypted_in_memory_and_stored_as_given() {
        let dir = ScratchDir::in_temp("kubectl-gitops-test-keys-").unwrap();
        let passphrase = SecretString::from("correct horse");
        let file = ssh_keygen(dir.path(), "protected", &["-t", "ed25519"], "correct horse");
        assert!(key_file_is_encrypted(&file).unwrap());
        let loaded = load_key_file(&file, Some(&passphrase)).unwrap();
        assert_usable(&dir, &loaded, &file);
        // The Secret gets the file as it is (still encrypted) and the passphrase, as flux.
        assert_eq!(
            loaded.as_given.expose_secret(),
            std::fs::read_to_string(&file).unwrap()
        );
        assert_eq!(
            loaded
                .passphrase
                .as_ref()
                .map(|p| p.expose_secret().to_string()),
            Some("correct horse".to_string())
        );

        let err = load_key_file(&file, None).err().unwrap().to_string();
        assert!(
            err.contains("protected by a passphrase") && err.contains("GIT_PASSWORD"),
            "{err}"
        );
        let wrong = SecretString::from("wrong");
        let err = load_key_file(&file, Some(&wrong))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("passphrase does not decrypt"), "{err}");
        assert!(!err.contains("wrong\""), "{err}");
    }

    #[test]
    fn an_unprotected_key_ignores_a_passphrase() {
        // source-controller refuses a `password` for a key that has none.
        let dir = ScratchDir::in_temp("kubectl-gitops-test-keys-").unwrap();
        // P-521: half of ssh-keygen's keys store a short scalar (see openssh_ecdsa.rs).
        let file = ssh_keygen(dir.path(), "plain", &["-t", "ecdsa", "-b", "521"], "");
        assert!(!key_file_is_encrypted(&file).unwrap());
        let loaded = load_key_file(&file, Some(&SecretString::from("unused"))).unwrap();
        assert!(loaded.passphrase.is_none());
        assert_usable(&dir, &loaded, &file);
    }

    #[test]
    fn pem_keys_of_every_form_load_with_ssh_keygens_fingerprint() {
        let dir = ScratchDir::in_temp("kubectl-gitops-test-keys-").unwrap();
        let d = dir.path();
        let mut files = vec![
            (
                ssh_keygen(d, "rsa.pem", &["-t", "rsa", "-b", "2048", "-m", "PEM"], ""),
                "RSA PRIVATE KEY",
            ),
            (
                ssh_keygen(
                    d,
                    "p256.pem",
                    &["-t", "ecdsa", "-b", "256", "-m", "PEM"],
                    "",
                ),
                "EC PRIVATE KEY",
            ),
            (
                ssh_keygen(
                    d,
                    "p384.pem",
                    &["-t", "ecdsa", "-b", "384", "-m", "PEM"],
                    "",
                ),
                "EC PRIVATE KEY",
            ),
            (
                ssh_keygen(
                    d,
                    "p521.pem",
                    &["-t", "ecdsa", "-b", "521", "-m", "PEM"],
                    "",
                ),
                "EC PRIVATE KEY",
            ),
            (
                ssh_keygen(d, "rsa.p8", &["-t", "rsa", "-b", "3072", "-m", "PKCS8"], ""),
                "BEGIN PRIVATE KEY",
            ),
            (
                ssh_keygen(
                    d,
                    "ecdsa.p8",
                    &["-t", "ecdsa", "-b", "384", "-m", "PKCS8"],
                    "",
                ),
                "BEGIN PRIVATE KEY",
            ),
        ];
        // openssl writes Ed25519 PKCS#8 (ssh-keygen keeps Ed25519 in OpenSSH form), and the
        // 1024-bit RSA keys flux still accepts.
        let ed25519 = d.join("p8.ed25519");
        run(
            "openssl",
            &[
                "genpkey",
                "-algorithm",
                "ed25519",
                "-out",
                ed25519.to_str().unwrap(),
            ],
        );
        files.push((ed25519, "BEGIN PRIVATE KEY"));
        let small = d.join("rsa1024.pem");
        run(
            "openssl",
            &[
                "genrsa",
                "-traditional",
                "-out",
                small.to_str().unwrap(),
                "1024",
            ],
        );
        files.push((small, "RSA PRIVATE KEY"));
        for (file, label) in files {
            let text = std::fs::read_to_string(&file).unwrap();
            assert!(text.contains(label), "{file:?}: {text}");
            let loaded = load_key_file(&file, None)
                .unwrap_or_else(|err| panic!("{}: {err}", file.display()));
            assert!(loaded.passphrase.is_none());
            assert_eq!(loaded.as_given.expose_secret(), text);
            assert_usable(&dir, &loaded, &file);
        }
    }

    #[test]
    fn protected_pem_keys_are_refused_with_a_conversion_that_works() {
        let dir = ScratchDir::in_temp("kubectl-gitops-test-keys-").unwrap();
        let d = dir.path();
        let legacy = ssh_keygen(d, "legacy.pem", &["-t", "rsa", "-m", "PEM"], "pass phrase");
        let pkcs8 = ssh_keygen(d, "enc.p8", &["-t", "ecdsa", "-m", "PKCS8"], "pass phrase");
        let passphrase = SecretString::from("pass phrase");
        for file in [&legacy, &pkcs8] {
            let err = load_key_file(file, Some(&passphrase))
                .err()
                .unwrap()
                .to_string();
            assert!(
                err.contains("passphrase-protected PEM") && err.contains("ssh-keygen -p -f"),
                "{err}"
            );
            // The step the message gives: an OpenSSH copy with the same passphrase loads.
            run(
                "ssh-keygen",
                &[
                    "-q",
                    "-p",
                    "-P",
                    "pass phrase",
                    "-N",
                    "pass phrase",
                    "-f",
                    file.to_str().unwrap(),
                ],
            );
            let loaded = load_key_file(file, Some(&passphrase)).unwrap();
            assert!(loaded.passphrase.is_some());
            assert_usable(&dir, &loaded, file);
        }
    }

    #[test]
    fn files_that_are_no_private_key_are_clear_errors() {
        let dir = ScratchDir::in_temp("kubectl-gitops-test-keys-").unwrap();
        let d = dir.path();
        let key = ssh_keygen(d, "k", &["-t", "ed25519"], "");
        let cases = [
            (
                "public",
                std::fs::read_to_string(key.with_extension("pub")).unwrap(),
                "not a private key file",
            ),
            (
                "cert",
                "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".to_string(),
                "CERTIFICATE",
            ),
            (
                "cut",
                std::fs::read_to_string(&key).unwrap()[..120].to_string(),
                "not a complete OpenSSH private key",
            ),
        ];
        for (name, text, expected) in cases {
            let file = dir.write_private(name, text.as_bytes()).unwrap();
            let err = load_key_file(&file, None).err().unwrap().to_string();
            assert!(err.contains(expected) && err.contains(name), "{err}");
        }
        let err = load_key_file(&d.join("absent"), None)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("absent"), "{err}");
    }
}
