//! OpenSSH ECDSA private keys whose private scalar OpenSSH wrote in its shortest form.
//!
//! OpenSSH stores the scalar as an SSH `mpint`, which drops leading zero bytes: about half of
//! the P-521 keys `ssh-keygen` makes (their 66-byte scalar starts with 0x00 or 0x01) and one in
//! 256 P-256/P-384 keys get a shorter scalar. The ssh-key crate reads only the full width and
//! calls the others "length invalid". Here the scalar is widened (zeros in front: the same
//! number) and the key handed on unencrypted, in memory only; a protected key is decrypted
//! first, as its encrypted bytes cannot be edited. The layout is OpenSSH's PROTOCOL.key.
//!
//! See docs/yaml-and-git.md.

use ssh_key::PrivateKey;
use zeroize::Zeroizing;

const MAGIC: &[u8] = b"openssh-key-v1\0";

/// The key in `text` (an OpenSSH private key file) with its ECDSA scalar widened to its
/// curve's size, decrypted with `passphrase` when protected. `None` when `text` holds no
/// ECDSA key in a layout read here, or a protected one and no passphrase: the caller's own
/// error then stands. A wrong passphrase is `Err(ssh_key::Error::Crypto)`, as ssh-key says it.
pub(super) fn widened(
    text: &str,
    passphrase: Option<&[u8]>,
) -> Option<ssh_key::Result<PrivateKey>> {
    let blob = dearmor(text)?;
    let parts = Parts::split(&blob)?;
    let width = scalar_width(parts.public)?;
    let section = if parts.cipher == b"none" {
        Zeroizing::new(parts.private.to_vec())
    } else {
        match decrypt(&blob, &parts, passphrase?) {
            Ok(section) => section,
            Err(err) => return Some(Err(err)),
        }
    };
    let section = match widen_section(&section, width) {
        Ok(section) => section?,
        Err(err) => return Some(Err(err)),
    };
    let mut unencrypted = Zeroizing::new(MAGIC.to_vec());
    for field in [&b"none"[..], b"none", b""] {
        put_string(&mut unencrypted, field);
    }
    unencrypted.extend_from_slice(&1u32.to_be_bytes());
    put_string(&mut unencrypted, parts.public);
    put_string(&mut unencrypted, &section);
    Some(PrivateKey::from_bytes(&unencrypted))
}

/// The binary key between the `-----BEGIN/END OPENSSH PRIVATE KEY-----` lines.
fn dearmor(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    use base64::Engine;
    let body: Zeroizing<String> = Zeroizing::new(
        text.lines()
            .map(str::trim)
            .filter(|line| !line.starts_with("-----"))
            .collect(),
    );
    base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .ok()
        .map(Zeroizing::new)
}

/// The fields of a one-key file that matter here.
struct Parts<'a> {
    cipher: &'a [u8],
    /// The public key blob: algorithm, curve, point.
    public: &'a [u8],
    /// The private section: plaintext for cipher `none`, else ciphertext.
    private: &'a [u8],
    /// What follows the private section: the authentication tag of AEAD ciphers.
    tag: &'a [u8],
}

impl<'a> Parts<'a> {
    fn split(blob: &'a [u8]) -> Option<Self> {
        let mut reader = Reader(blob.strip_prefix(MAGIC)?);
        let cipher = reader.string()?;
        let _kdf = reader.string()?;
        let _kdf_options = reader.string()?;
        if reader.u32()? != 1 {
            return None;
        }
        let public = reader.string()?;
        let private = reader.string()?;
        Some(Parts {
            cipher,
            public,
            private,
            tag: reader.0,
        })
    }
}

/// The scalar's full width in bytes for an ECDSA public key blob, `None` for other keys.
fn scalar_width(public: &[u8]) -> Option<usize> {
    let mut reader = Reader(public);
    let algorithm = reader.string()?;
    match algorithm {
        b"ecdsa-sha2-nistp256" => Some(32),
        b"ecdsa-sha2-nistp384" => Some(48),
        b"ecdsa-sha2-nistp521" => Some(66),
        _ => None,
    }
}

/// The private section decrypted with the file's own KDF and cipher, as ssh-key reads them.
fn decrypt(
    blob: &[u8],
    parts: &Parts<'_>,
    passphrase: &[u8],
) -> ssh_key::Result<Zeroizing<Vec<u8>>> {
    // The private half stays opaque here, so a short scalar does not stop this parse.
    let key = PrivateKey::from_bytes(blob)?;
    let cipher = key.cipher();
    let (secret, iv) = key.kdf().derive_key_and_iv(cipher, passphrase)?;
    let tag = if cipher.has_tag() {
        Some(<[u8; 16]>::try_from(parts.tag).map_err(|_| ssh_key::Error::Crypto)?)
    } else {
        None
    };
    let mut section = Zeroizing::new(parts.private.to_vec());
    cipher.decrypt(&secret, &iv, &mut section, tag)?;
    Ok(section)
}

/// The plaintext private section with its scalar at full `width`, padded anew (PROTOCOL.key:
/// checkint, checkint, algorithm, curve, point, scalar, comment, padding 1, 2, 3...).
/// `Ok(None)` when its layout is not that of one ECDSA key.
fn widen_section(section: &[u8], width: usize) -> ssh_key::Result<Option<Zeroizing<Vec<u8>>>> {
    let mut reader = Reader(section);
    let (Some(check1), Some(check2)) = (reader.u32(), reader.u32()) else {
        return Ok(None);
    };
    // Unequal check values: the passphrase did not decrypt the section.
    if check1 != check2 {
        return Err(ssh_key::Error::Crypto);
    }
    let fields = (|| {
        Some([
            reader.string()?,
            reader.string()?,
            reader.string()?,
            reader.string()?,
            reader.string()?,
        ])
    })();
    let Some([algorithm, curve, point, scalar, comment]) = fields else {
        return Ok(None);
    };
    let significant = &scalar[scalar.iter().take_while(|b| **b == 0).count()..];
    if significant.len() > width {
        return Ok(None);
    }
    let mut wide = Zeroizing::new(vec![0u8; width + 1 - significant.len()]);
    wide.extend_from_slice(significant);
    // An mpint's sign bit: a leading zero stays only in front of a high bit.
    let start = usize::from(wide[1] < 0x80);
    let mut out = Zeroizing::new(Vec::with_capacity(section.len() + width));
    out.extend_from_slice(&check1.to_be_bytes());
    out.extend_from_slice(&check2.to_be_bytes());
    for field in [algorithm, curve, point, &wide[start..], comment] {
        put_string(&mut out, field);
    }
    let mut pad = 1u8;
    while !out.len().is_multiple_of(8) {
        out.push(pad);
        pad += 1;
    }
    Ok(Some(out))
}

fn put_string(out: &mut Vec<u8>, field: &[u8]) {
    // Fields come from a file whose own lengths are u32: they fit.
    out.extend_from_slice(&u32::try_from(field.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(field);
}

/// Reads SSH wire fields (big-endian u32, length-prefixed strings) from the front.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u32(&mut self) -> Option<u32> {
        let (head, rest) = self.0.split_first_chunk::<4>()?;
        self.0 = rest;
        Some(u32::from_be_bytes(*head))
    }

    fn string(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.u32()?).ok()?;
        if len > self.0.len() {
            return None;
        }
        let (field, rest) = self.0.split_at(len);
        self.0 = rest;
        Some(field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use secrecy::{ExposeSecret, SecretString};

    use crate::git::key_file::load_key_file;
    use crate::git::scratch::ScratchDir;

    fn run(args: &[&str]) -> String {
        let out = Command::new("ssh-keygen").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "ssh-keygen {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn path(file: &Path) -> &str {
        file.to_str().unwrap()
    }

    /// The length of the scalar as the (unencrypted) file stores it.
    fn stored_scalar_len(text: &str) -> usize {
        let blob = dearmor(text).unwrap();
        let parts = Parts::split(&blob).unwrap();
        let mut reader = Reader(parts.private);
        reader.u32().unwrap();
        reader.u32().unwrap();
        for _ in 0..3 {
            reader.string().unwrap();
        }
        reader.string().unwrap().len()
    }

    /// A P-521 key from the real ssh-keygen whose scalar it wrote in 65 bytes: each key has
    /// one with probability 1/2, so 64 tries miss with probability 2^-64.
    fn short_p521_key(dir: &Path) -> PathBuf {
        for attempt in 0..64 {
            let file = dir.join(format!("p521-{attempt}"));
            run(&[
                "-q",
                "-t",
                "ecdsa",
                "-b",
                "521",
                "-C",
                "someone@laptop",
                "-N",
                "",
                "-f",
                path(&file),
            ]);
            let text = std::fs::read_to_string(&file).unwrap();
            match stored_scalar_len(&text) {
                65 => return file,
                66 => {}
                other => panic!("ssh-keygen wrote a {other}-byte P-521 scalar"),
            }
        }
        panic!("64 P-521 keys from ssh-keygen, none with a 65-byte scalar");
    }

    /// The loaded key is the file's key: ssh-keygen derives the same public key from the file
    /// (`-y`), and a signature made with the key we hand to ssh verifies against it.
    fn assert_same_key(
        dir: &ScratchDir,
        loaded: &crate::git::KeyFile,
        original: &Path,
        passphrase: &str,
    ) {
        let theirs = run(&["-y", "-P", passphrase, "-f", path(original)]);
        let theirs: Vec<&str> = theirs.split_whitespace().take(2).collect();
        assert_eq!(loaded.key.public_key, theirs.join(" "));
        let ours = dir
            .write_private("ours", loaded.key.private_key.expose_secret().as_bytes())
            .unwrap();
        let message = dir
            .write_private("message", b"signed by the widened key")
            .unwrap();
        run(&[
            "-Y",
            "sign",
            "-q",
            "-n",
            "test",
            "-f",
            path(&ours),
            path(&message),
        ]);
        let signers = dir
            .write_private(
                "allowed_signers",
                format!("someone {}\n", theirs.join(" ")).as_bytes(),
            )
            .unwrap();
        let verified = Command::new("ssh-keygen")
            .args([
                "-Y",
                "verify",
                "-n",
                "test",
                "-I",
                "someone",
                "-f",
                path(&signers),
            ])
            .args(["-s", &format!("{}.sig", path(&message))])
            .stdin(std::fs::File::open(&message).unwrap())
            .output()
            .unwrap();
        assert!(
            verified.status.success(),
            "{}",
            String::from_utf8_lossy(&verified.stderr)
        );
        for file in [
            ours,
            signers,
            message.clone(),
            message.with_extension("sig"),
        ] {
            std::fs::remove_file(file).unwrap();
        }
    }

    #[test]
    fn a_p521_key_with_a_65_byte_scalar_loads_with_and_without_a_passphrase() {
        let dir = ScratchDir::in_temp("kubectl-gitops-test-p521-").unwrap();
        let plain = short_p521_key(dir.path());
        let text = std::fs::read_to_string(&plain).unwrap();
        // What this works around: ssh-key alone refuses the file.
        assert!(PrivateKey::from_openssh(&text).is_err());

        let loaded = load_key_file(&plain, None).unwrap();
        assert!(loaded.passphrase.is_none());
        assert_eq!(loaded.as_given.expose_secret(), text);
        assert_same_key(&dir, &loaded, &plain, "");

        let passphrase = SecretString::from("pass phrase");
        for cipher in [
            "aes256-ctr",
            "aes256-gcm@openssh.com",
            "chacha20-poly1305@openssh.com",
        ] {
            let protected = dir.path().join(cipher);
            std::fs::copy(&plain, &protected).unwrap();
            run(&[
                "-q",
                "-p",
                "-P",
                "",
                "-N",
                "pass phrase",
                "-Z",
                cipher,
                "-f",
                path(&protected),
            ]);
            let given = std::fs::read_to_string(&protected).unwrap();
            let encrypted = PrivateKey::from_openssh(&given).unwrap();
            assert!(encrypted.is_encrypted(), "{cipher}");
            // Still the short scalar inside: ssh-key alone cannot decrypt it.
            assert!(encrypted.decrypt("pass phrase").is_err(), "{cipher}");

            let loaded = load_key_file(&protected, Some(&passphrase)).unwrap();
            assert_eq!(loaded.as_given.expose_secret(), given);
            assert!(loaded.passphrase.is_some());
            assert_same_key(&dir, &loaded, &protected, "pass phrase");

            let wrong = SecretString::from("wrong");
            let err = load_key_file(&protected, Some(&wrong))
                .err()
                .unwrap()
                .to_string();
            assert!(
                err.contains("passphrase does not decrypt"),
                "{cipher}: {err}"
            );
        }
    }

    #[test]
    fn scalars_are_widened_to_the_curve_size_and_keep_their_sign_byte() {
        let section = |scalar: &[u8]| {
            let mut out = vec![0, 0, 0, 7, 0, 0, 0, 7];
            for field in [
                &b"ecdsa-sha2-nistp256"[..],
                b"nistp256",
                b"\x04point",
                scalar,
                b"c",
            ] {
                put_string(&mut out, field);
            }
            out
        };
        let scalar_of = |section: &[u8]| {
            let mut reader = Reader(&section[8..]);
            for _ in 0..3 {
                reader.string().unwrap();
            }
            let scalar = reader.string().unwrap().to_vec();
            assert_eq!(reader.string(), Some(&b"c"[..]));
            assert!(
                section.len().is_multiple_of(8)
                    && reader.0 == &[1u8, 2, 3, 4, 5, 6, 7][..reader.0.len()]
            );
            scalar
        };
        let short = [0x12u8; 31];
        let widened = widen_section(&section(&short), 32).unwrap().unwrap();
        assert_eq!(scalar_of(&widened), [&[0u8][..], &short].concat());
        let high = [0x92u8; 32];
        let widened = widen_section(&section(&[&[0u8][..], &high].concat()), 32)
            .unwrap()
            .unwrap();
        assert_eq!(scalar_of(&widened), [&[0u8][..], &high].concat());
        assert!(widen_section(&section(&[1u8; 33]), 32).unwrap().is_none());
        let mut mismatched = section(&short);
        mismatched[7] = 8;
        assert!(matches!(
            widen_section(&mismatched, 32),
            Err(ssh_key::Error::Crypto)
        ));
    }
}
