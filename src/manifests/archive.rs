//! Reading a release's `manifests.tar.gz` without trusting it.
//!
//! The archive comes from `--base-url` (any server the user names) or from the cache (any file
//! someone could have planted there, with a matching checksums file). It is read in memory and
//! never extracted, so no entry can write anywhere; still, an archive that a Flux release would
//! never publish is refused as a whole, naming the entry and the rule, rather than half-read:
//! paths that are absolute or climb out with `..`, links, devices and other special files, an
//! entry over [`MAX_ENTRY_BYTES`], more than [`MAX_TOTAL_BYTES`] unpacked, or a gzip stream
//! that expands more than [`MAX_EXPANSION`] times (a gzip bomb). Flux's own archive is about
//! 50 KB packed and 350 KB unpacked, far inside every limit.

use std::cell::Cell;
use std::io::Read;
use std::rc::Rc;

use super::error::{Error, Result};

/// The largest single entry accepted.
pub const MAX_ENTRY_BYTES: u64 = 20 * 1024 * 1024;

/// The most an archive may unpack to (tar headers included).
pub const MAX_TOTAL_BYTES: u64 = 200 * 1024 * 1024;

/// The largest ratio of unpacked to packed size accepted once more than [`RATIO_FLOOR`] is
/// unpacked: YAML packs about 10:1, a gzip bomb of zeros about 1000:1.
pub const MAX_EXPANSION: u64 = 200;

/// Below this many unpacked bytes the ratio is not judged: tar pads even a tiny archive to
/// 10 KB of mostly zeros, which packs very well.
const RATIO_FLOOR: u64 = 1024 * 1024;

/// One YAML file of the archive: its file name (without folders) and its text.
pub(super) struct YamlFile {
    pub name: String,
    pub text: String,
}

/// The YAML files of `archive`, or the refusal naming the archive (`origin`), the entry and the
/// rule it breaks. Files of other types are skipped, as are folders.
pub(super) fn yaml_files(archive: &[u8], origin: &str) -> Result<Vec<YamlFile>> {
    let breach: Rc<Cell<Option<Breach>>> = Rc::new(Cell::new(None));
    let unpacked = Limited {
        inner: flate2::read::GzDecoder::new(archive),
        packed: archive.len() as u64,
        read: 0,
        breach: breach.clone(),
    };
    let refused = |entry: &str, rule: String| Error::ManifestArchiveRefused {
        archive: origin.to_string(),
        entry: entry.escape_debug().to_string(),
        rule,
    };
    // A limit hit while tar reads shows as an I/O error; the breach says which one.
    let broken = |entry: &str, cause: std::io::Error| match breach.get() {
        Some(b) => refused(
            if entry.is_empty() {
                "(first entry)"
            } else {
                entry
            },
            b.rule(),
        ),
        None => Error::ManifestsUnreadable {
            origin: origin.to_string(),
            cause: if entry.is_empty() {
                format!("not a tar.gz archive: {cause}")
            } else {
                format!("{entry}: {cause}")
            },
        },
    };
    let mut tar = tar::Archive::new(unpacked);
    let entries = tar.entries().map_err(|e| broken("", e))?;
    let mut files = Vec::new();
    let mut previous = String::new();
    for entry in entries {
        let after = after_last(&previous);
        let mut entry = entry.map_err(|e| broken(&after, e))?;
        let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        check_path(&path).map_err(|rule| refused(&path, rule))?;
        let kind = entry.header().entry_type();
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {}
            tar::EntryType::Directory | tar::EntryType::XGlobalHeader => {
                previous = path;
                continue;
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_default();
                let what = if kind == tar::EntryType::Symlink {
                    "symbolic"
                } else {
                    "hard"
                };
                return Err(refused(
                    &path,
                    format!(
                        "is a {what} link to \"{}\"; a release archive holds plain files only",
                        target.escape_debug()
                    ),
                ));
            }
            other => {
                return Err(refused(
                    &path,
                    format!(
                        "is a {} entry, not a plain file; a release archive holds plain files only",
                        entry_type_name(other)
                    ),
                ));
            }
        }
        let size = entry.size();
        if size > MAX_ENTRY_BYTES {
            return Err(refused(
                &path,
                format!(
                    "is {size} bytes, over the limit of {MAX_ENTRY_BYTES} bytes (20 MiB) for one file"
                ),
            ));
        }
        let name = path
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or_default()
            .to_string();
        if !(name.ends_with(".yaml") || name.ends_with(".yml")) {
            // Read past here rather than by tar's skip, so a limit hit is blamed on this entry.
            std::io::copy(&mut entry, &mut std::io::sink()).map_err(|e| broken(&path, e))?;
            previous = path;
            continue;
        }
        let mut bytes = Vec::new();
        (&mut entry)
            .take(MAX_ENTRY_BYTES)
            .read_to_end(&mut bytes)
            .map_err(|e| broken(&path, e))?;
        let text = String::from_utf8(bytes).map_err(|e| Error::ManifestsUnreadable {
            origin: origin.to_string(),
            cause: format!("{}: not UTF-8 text: {e}", path.escape_debug()),
        })?;
        files.push(YamlFile { name, text });
        previous = path;
    }
    // A breach that tar took for the end of the archive is still a breach.
    if breach.get().is_some() {
        return Err(broken(
            &after_last(&previous),
            std::io::Error::other("limit"),
        ));
    }
    Ok(files)
}

/// How an entry whose header could not be read is named: by the one before it.
fn after_last(previous: &str) -> String {
    if previous.is_empty() {
        String::new()
    } else {
        format!("(entry after {previous})")
    }
}

/// Why an entry's path cannot be in a release archive, if it cannot.
fn check_path(path: &str) -> std::result::Result<(), String> {
    if path.is_empty() {
        return Err("has an empty path".into());
    }
    if path.starts_with(['/', '\\']) || path.as_bytes().get(1) == Some(&b':') {
        return Err("has an absolute path; a release archive holds relative paths only".into());
    }
    if path.split(['/', '\\']).any(|part| part == "..") {
        return Err(
            "climbs out of the archive's folder with \"..\"; a release archive holds relative paths only"
                .into(),
        );
    }
    if path.contains('\0') {
        return Err("has a NUL character in its path".into());
    }
    Ok(())
}

fn entry_type_name(kind: tar::EntryType) -> &'static str {
    match kind {
        tar::EntryType::Char => "character device",
        tar::EntryType::Block => "block device",
        tar::EntryType::Fifo => "named pipe (FIFO)",
        tar::EntryType::GNUSparse => "sparse file",
        _ => "special",
    }
}

/// A limit the unpacked stream went past.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Breach {
    Total,
    Expansion { packed: u64, unpacked: u64 },
}

impl Breach {
    fn rule(self) -> String {
        match self {
            Breach::Total => format!(
                "the archive unpacks to more than {MAX_TOTAL_BYTES} bytes (200 MiB), the limit for a whole release archive"
            ),
            Breach::Expansion { packed, unpacked } => format!(
                "the archive's {packed} packed bytes expand to more than {unpacked} (over {MAX_EXPANSION} times): a gzip bomb"
            ),
        }
    }
}

/// The unpacked stream, cut off (with an error) at the first limit it breaks.
struct Limited<R> {
    inner: R,
    packed: u64,
    read: u64,
    breach: Rc<Cell<Option<Breach>>>,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.breach.get().is_some() {
            return Err(std::io::Error::other("release archive limit exceeded"));
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        let breach = if self.read > MAX_TOTAL_BYTES {
            Some(Breach::Total)
        } else if self.read > RATIO_FLOOR && self.read > self.packed.saturating_mul(MAX_EXPANSION) {
            Some(Breach::Expansion {
                packed: self.packed,
                unpacked: self.read,
            })
        } else {
            None
        };
        if let Some(b) = breach {
            self.breach.set(Some(b));
            return Err(std::io::Error::other("release archive limit exceeded"));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    const YAML: &[u8] = b"kind: Deployment\nmetadata:\n  name: source-controller\n";

    /// One tar entry with a raw name (the tar crate's own setters refuse `..` and absolute
    /// paths, which is the point of these tests).
    fn entry(builder: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, name: &str, data: &[u8]) {
        entry_linked(builder, kind, name, "", data);
    }

    fn entry_linked(
        builder: &mut tar::Builder<Vec<u8>>,
        kind: tar::EntryType,
        name: &str,
        link: &str,
        data: &[u8],
    ) {
        let mut header = tar::Header::new_old();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn archive(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        entry(&mut builder, tar::EntryType::Regular, "ok.yaml", YAML);
        build(&mut builder);
        gzip(&builder.into_inner().unwrap())
    }

    fn refusal(archive: &[u8]) -> (String, String) {
        match yaml_files(archive, "test.tar.gz") {
            Err(Error::ManifestArchiveRefused { entry, rule, .. }) => (entry, rule),
            Err(other) => panic!("refused for another reason: {other}"),
            Ok(files) => panic!("accepted {} files", files.len()),
        }
    }

    #[test]
    fn plain_yaml_files_are_read_and_others_skipped() {
        let bytes = archive(|b| {
            entry(b, tar::EntryType::Directory, "sub/", b"");
            entry(b, tar::EntryType::Regular, "sub/rbac.yaml", YAML);
            entry(b, tar::EntryType::Regular, "README.md", b"# hi");
        });
        let files = yaml_files(&bytes, "x").unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["ok.yaml", "rbac.yaml"]);
        assert_eq!(files[1].text.as_bytes(), YAML);
    }

    #[test]
    fn paths_out_of_the_folder_are_refused() {
        for (name, rule) in [
            ("../evil.yaml", "\"..\""),
            ("a/../../evil.yaml", "\"..\""),
            ("/etc/evil.yaml", "absolute path"),
            ("C:/evil.yaml", "absolute path"),
        ] {
            let bytes = archive(|b| entry(b, tar::EntryType::Regular, name, YAML));
            let (entry, got) = refusal(&bytes);
            assert_eq!(entry, name);
            assert!(got.contains(rule), "{name}: {got}");
        }
    }

    #[test]
    fn links_and_special_files_are_refused() {
        for (kind, link, rule) in [
            (
                tar::EntryType::Symlink,
                "/etc/passwd",
                "symbolic link to \"/etc/passwd\"",
            ),
            (
                tar::EntryType::Symlink,
                "../../x",
                "symbolic link to \"../../x\"",
            ),
            (
                tar::EntryType::Link,
                "/etc/shadow",
                "hard link to \"/etc/shadow\"",
            ),
            (tar::EntryType::Char, "", "character device"),
            (tar::EntryType::Block, "", "block device"),
            (tar::EntryType::Fifo, "", "named pipe"),
        ] {
            let bytes = archive(|b| entry_linked(b, kind, "link.yaml", link, b""));
            let (entry, got) = refusal(&bytes);
            assert_eq!(entry, "link.yaml");
            assert!(got.contains(rule), "{kind:?}: {got}");
        }
    }

    #[test]
    fn an_entry_over_20_mib_is_refused_before_it_is_read() {
        let big = vec![b'a'; MAX_ENTRY_BYTES as usize + 1];
        let bytes = archive(|b| entry(b, tar::EntryType::Regular, "big.yaml", &big));
        let (entry, rule) = refusal(&bytes);
        assert_eq!(entry, "big.yaml");
        assert!(
            rule.contains("20971521 bytes") && rule.contains("20 MiB"),
            "{rule}"
        );
    }

    #[test]
    fn a_gzip_bomb_is_refused_early() {
        // 16 MiB of zeros in one entry packs to about 16 KB: over 200 times.
        let zeros = vec![0u8; 16 * 1024 * 1024];
        let bytes = archive(|b| entry(b, tar::EntryType::Regular, "zeros.bin", &zeros));
        assert!(bytes.len() < 100_000, "{}", bytes.len());
        let (entry, rule) = refusal(&bytes);
        assert_eq!(entry, "zeros.bin");
        assert!(rule.contains("gzip bomb"), "{rule}");
    }

    #[test]
    fn more_than_200_mib_in_all_is_refused() {
        // Random-looking content does not pack, so the ratio rule stays quiet; the total does not.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let noise: Vec<u8> = (0..MAX_ENTRY_BYTES)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let mut builder = tar::Builder::new(Vec::new());
        for i in 0..11 {
            entry(
                &mut builder,
                tar::EntryType::Regular,
                &format!("part{i}.bin"),
                &noise,
            );
        }
        let tar = builder.into_inner().unwrap();
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
        encoder.write_all(&tar).unwrap();
        let (entry, rule) = refusal(&encoder.finish().unwrap());
        assert_eq!(entry, "part9.bin");
        assert!(rule.contains("200 MiB"), "{rule}");
    }

    #[test]
    fn garbage_is_unreadable_not_refused() {
        for bytes in [&b"not gzip"[..], &gzip(b"not tar, not tar, not tar")[..]] {
            match yaml_files(bytes, "x") {
                Err(Error::ManifestsUnreadable { .. }) => {}
                Err(other) => panic!("{other}"),
                Ok(files) => assert!(files.is_empty()),
            }
        }
    }
}
