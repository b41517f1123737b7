//! Which clusters make the fleet: `--contexts` (names and shell-style patterns), `--all-contexts`
//! or a `--fleet` file, resolved against the same kubeconfig as a single-cluster run.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::{Error, Result};
use crate::cluster::connection::ConnectionFlags;

/// The fleet flags: without any of them a command works on one cluster, as before.
#[derive(clap::Args, Clone, Default, Debug)]
#[command(next_help_heading = "Fleet (many clusters at once)")]
pub struct FleetFlags {
    /// Run on these kubeconfig contexts, concurrently: names or shell-style patterns such as
    /// 'prod-*' (comma-separated or repeated); with --fleet, only the file's clusters that match
    #[arg(
        long,
        value_name = "NAMES",
        value_delimiter = ',',
        conflicts_with_all = ["context", "cluster", "server", "user", "all_contexts"]
    )]
    pub contexts: Vec<String>,
    /// Run on every context of the kubeconfig, concurrently
    #[arg(long, conflicts_with_all = ["context", "cluster", "server", "user", "fleet"])]
    pub all_contexts: bool,
    /// Run on the clusters a fleet file lists (YAML: contexts, optionally a kubeconfig and a
    /// namespace each; see docs/fleet.md)
    #[arg(long, value_name = "PATH", conflicts_with_all = ["context", "cluster", "server", "user"])]
    pub fleet: Option<PathBuf>,
    /// In fleet mode, how many clusters to talk to at the same time
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub max_concurrency: usize,
}

impl FleetFlags {
    /// Whether any fleet flag was given (fleet mode).
    pub fn is_fleet(&self) -> bool {
        !self.contexts.is_empty() || self.all_contexts || self.fleet.is_some()
    }
}

/// One cluster of the fleet: the name shown for it, and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The CLUSTER column: the fleet file's `name`, else the context's name.
    pub name: String,
    pub context: String,
    /// A kubeconfig of its own (fleet file), else the command's kubeconfig resolution.
    pub kubeconfig: Option<PathBuf>,
    /// A namespace of its own (fleet file), else `-n`, else the context's.
    pub namespace: Option<String>,
}

impl Member {
    fn of_context(context: &str) -> Member {
        Member {
            name: context.to_string(),
            context: context.to_string(),
            kubeconfig: None,
            namespace: None,
        }
    }

    /// The connection flags for this cluster: the command's, pointed at its context.
    pub fn connection_flags(&self, flags: &ConnectionFlags) -> ConnectionFlags {
        ConnectionFlags {
            context: Some(self.context.clone()),
            kubeconfig: self.kubeconfig.clone().or_else(|| flags.kubeconfig.clone()),
            namespace: self.namespace.clone().or_else(|| flags.namespace.clone()),
            ..flags.clone()
        }
    }
}

/// A fleet file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FleetFile {
    clusters: Vec<FileCluster>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCluster {
    context: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    kubeconfig: Option<PathBuf>,
    #[serde(default)]
    namespace: Option<String>,
}

/// The fleet's members, in the order given: `--contexts` in the order of its values (a
/// pattern's matches in kubeconfig order), `--all-contexts` in kubeconfig order, a fleet file
/// in its order. A name given twice counts once.
pub fn members(fleet: &FleetFlags, connection: &ConnectionFlags) -> crate::Result<Vec<Member>> {
    let mut members: Vec<Member> = if let Some(path) = &fleet.fleet {
        let listed = read_fleet_file(path)?;
        if fleet.contexts.is_empty() {
            listed
        } else {
            let names: Vec<String> = listed.iter().map(|m| m.name.clone()).collect();
            let wanted = expand(&fleet.contexts, &names, &path.display().to_string())?;
            listed
                .into_iter()
                .filter(|m| wanted.contains(&m.name))
                .collect()
        }
    } else {
        let (defined, _) = connection.contexts()?;
        let wanted = if fleet.all_contexts {
            defined
        } else {
            expand(&fleet.contexts, &defined, "the kubeconfig")?
        };
        wanted.iter().map(|c| Member::of_context(c)).collect()
    };
    let mut seen = std::collections::HashSet::new();
    members.retain(|m| seen.insert(m.name.clone()));
    if members.is_empty() {
        return Err(Error::Empty {
            why: "no cluster was selected".to_string(),
        }
        .into());
    }
    Ok(members)
}

/// Names and patterns against the names defined, in the order given.
fn expand(wanted: &[String], defined: &[String], place: &str) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for pattern in wanted.iter().map(|w| w.trim()).filter(|w| !w.is_empty()) {
        let matched: Vec<&String> = defined.iter().filter(|d| matches(pattern, d)).collect();
        if matched.is_empty() {
            return Err(Error::NoMatch {
                pattern: pattern.to_string(),
                available: if defined.is_empty() {
                    format!("{place} defines none")
                } else {
                    format!("defined in {place}: {}", defined.join(", "))
                },
            });
        }
        for name in matched {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    Ok(names)
}

/// Reads a fleet file; a member's relative kubeconfig path is relative to the file.
fn read_fleet_file(path: &Path) -> Result<Vec<Member>> {
    let text = std::fs::read_to_string(path).map_err(|err| Error::FileUnreadable {
        path: path.to_path_buf(),
        cause: err.to_string(),
    })?;
    let file: FleetFile = serde_saphyr::from_str(&text).map_err(|err| Error::FileInvalid {
        path: path.to_path_buf(),
        cause: err.to_string(),
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut members = Vec::new();
    for cluster in file.clusters {
        if cluster.context.trim().is_empty() {
            return Err(Error::FileInvalid {
                path: path.to_path_buf(),
                cause: "a cluster has an empty context".to_string(),
            });
        }
        members.push(Member {
            name: cluster.name.unwrap_or_else(|| cluster.context.clone()),
            kubeconfig: cluster.kubeconfig.map(|k| resolve_path(base, &k)),
            namespace: cluster.namespace.filter(|ns| !ns.is_empty()),
            context: cluster.context,
        });
    }
    Ok(members)
}

/// `~/` is the home folder; other relative paths are relative to the fleet file's folder.
fn resolve_path(base: &Path, path: &Path) -> PathBuf {
    if let Ok(rest) = path.strip_prefix("~")
        && let Some(home) = std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE"))
    {
        return PathBuf::from(home).join(rest);
    }
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

/// Shell-style matching of a whole name: `*` any run of characters, `?` one character,
/// `[abc]`, `[a-z]` and `[!abc]` one of (or none of) a set; anything else matches itself.
pub fn matches(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    matches_from(&pattern, &name)
}

fn matches_from(pattern: &[char], name: &[char]) -> bool {
    match pattern.first() {
        None => name.is_empty(),
        Some('*') => (0..=name.len()).any(|skip| matches_from(&pattern[1..], &name[skip..])),
        Some('?') => !name.is_empty() && matches_from(&pattern[1..], &name[1..]),
        Some('[') => match (set_end(pattern), name.first()) {
            (Some(end), Some(&c)) => {
                set_contains(&pattern[1..end], c) && matches_from(&pattern[end + 1..], &name[1..])
            }
            (Some(_), None) => false,
            // An unclosed `[` is a plain character.
            (None, first) => first == Some(&'[') && matches_from(&pattern[1..], &name[1..]),
        },
        Some(&literal) => name.first() == Some(&literal) && matches_from(&pattern[1..], &name[1..]),
    }
}

/// Index of the `]` closing the set that opens at 0 (a `]` first in the set is a member).
fn set_end(pattern: &[char]) -> Option<usize> {
    let mut start = 1;
    if pattern.get(start) == Some(&'!') {
        start += 1;
    }
    if pattern.get(start) == Some(&']') {
        start += 1;
    }
    pattern[start..]
        .iter()
        .position(|&c| c == ']')
        .map(|i| i + start)
}

fn set_contains(set: &[char], c: char) -> bool {
    let (negated, set) = match set.first() {
        Some('!') => (true, &set[1..]),
        _ => (false, set),
    };
    let mut found = false;
    let mut i = 0;
    while i < set.len() {
        if i + 2 < set.len() && set[i + 1] == '-' {
            found |= set[i] <= c && c <= set[i + 2];
            i += 3;
        } else {
            found |= set[i] == c;
            i += 1;
        }
    }
    found != negated
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_like_a_shell() {
        assert!(matches("prod-*", "prod-eu-1"));
        assert!(matches("prod-*", "prod-"));
        assert!(!matches("prod-*", "staging-prod-1"));
        assert!(matches("*-eu-?", "prod-eu-3"));
        assert!(!matches("*-eu-?", "prod-eu-12"));
        assert!(matches("prod-eu-[12]", "prod-eu-2"));
        assert!(!matches("prod-eu-[12]", "prod-eu-3"));
        assert!(matches("prod-eu-[0-9]", "prod-eu-7"));
        assert!(matches("prod-eu-[!3]", "prod-eu-4"));
        assert!(!matches("prod-eu-[!3]", "prod-eu-3"));
        assert!(matches("plain", "plain"));
        assert!(!matches("plain", "plain2"));
        assert!(matches("a[b", "a[b"));
        assert!(matches("*", ""));
    }

    #[test]
    fn names_and_patterns_expand_in_the_order_given_without_repeats() {
        let defined: Vec<String> = ["dev", "prod-eu", "prod-us", "staging"]
            .map(String::from)
            .to_vec();
        let wanted: Vec<String> = ["staging", "prod-*", "prod-us"].map(String::from).to_vec();
        assert_eq!(
            expand(&wanted, &defined, "the kubeconfig").unwrap(),
            vec!["staging", "prod-eu", "prod-us"]
        );
        let err = expand(&["qa-*".to_string()], &defined, "the kubeconfig").unwrap_err();
        assert_eq!(
            err.to_string(),
            "no context matches \"qa-*\" in the kubeconfig (defined in the kubeconfig: dev, prod-eu, prod-us, staging); kubectl config get-contexts lists them"
        );
    }

    #[test]
    fn a_fleet_file_lists_contexts_with_their_own_kubeconfig_and_namespace() {
        let dir = std::env::temp_dir().join(format!("fleet-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("fleet.yaml");
        std::fs::write(
            &file,
            "clusters:\n- context: prod-eu\n- context: prod-us\n  name: us\n  kubeconfig: us.yaml\n  namespace: apps\n",
        )
        .unwrap();
        let members = read_fleet_file(&file).unwrap();
        assert_eq!(members[0], Member::of_context("prod-eu"));
        assert_eq!(
            members[1],
            Member {
                name: "us".into(),
                context: "prod-us".into(),
                kubeconfig: Some(dir.join("us.yaml")),
                namespace: Some("apps".into()),
            }
        );
        std::fs::write(&file, "clusters:\n- contxt: typo\n").unwrap();
        let err = read_fleet_file(&file).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "fleet file {} is not a valid fleet",
                file.display()
            )),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_member_points_the_command_flags_at_its_context() {
        let flags = ConnectionFlags {
            namespace: Some("flux-system".into()),
            kubeconfig: Some(PathBuf::from("/k")),
            ..ConnectionFlags::default()
        };
        let own = Member {
            name: "x".into(),
            context: "ctx".into(),
            kubeconfig: None,
            namespace: Some("apps".into()),
        };
        let pointed = own.connection_flags(&flags);
        assert_eq!(pointed.context.as_deref(), Some("ctx"));
        assert_eq!(pointed.namespace.as_deref(), Some("apps"));
        assert_eq!(pointed.kubeconfig, Some(PathBuf::from("/k")));
    }
}
