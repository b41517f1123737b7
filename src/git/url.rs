//! Git remote URLs: which transport they use, which host they name, and the refusal of
//! credentials written into them (credentials travel only through [`super::Auth`], so a URL is
//! always safe to print, log and pass to git on its command line).

use super::error::{Error, Result};

/// How git reaches the remote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Https,
    /// Plain HTTP: allowed without credentials only, because they would travel in clear text.
    Http,
    /// `ssh://user@host:port/path` or the scp-like `user@host:path`.
    Ssh,
    /// `file://` URLs, for local repositories (tests, mirrors); no authentication.
    File,
}

/// A parsed Git URL without credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitUrl {
    pub transport: Transport,
    pub user: Option<String>,
    /// Host name or address, without IPv6 brackets; empty for `file://`.
    pub host: String,
    pub port: Option<u16>,
    pub path: String,
    text: String,
}

impl GitUrl {
    /// Parses `https://`, `http://`, `ssh://`, `file://` and scp-like `user@host:path` URLs.
    /// A password in the URL is refused: pass it through `--password` instead.
    pub fn parse(url: &str) -> Result<GitUrl> {
        let invalid = |reason: &str| Error::GitUrl {
            url: redact_userinfo(url),
            reason: reason.to_string(),
        };
        if url.trim() != url || url.is_empty() {
            return Err(invalid("it is empty or has surrounding spaces"));
        }
        if url.chars().any(char::is_control) {
            return Err(invalid("it contains control characters"));
        }
        let Some((scheme, rest)) = url.split_once("://") else {
            return parse_scp_like(url).ok_or_else(|| {
                invalid("use https://host/path, ssh://user@host[:port]/path or user@host:path")
            });
        };
        let transport = match scheme.to_ascii_lowercase().as_str() {
            "https" => Transport::Https,
            "http" => Transport::Http,
            "ssh" => Transport::Ssh,
            "file" => Transport::File,
            other => {
                return Err(invalid(&format!(
                    "the scheme \"{other}\" is not supported; use https, http, ssh or file"
                )));
            }
        };
        let (authority, path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, ""),
        };
        if transport == Transport::File {
            return Ok(GitUrl {
                transport,
                user: None,
                host: authority.to_string(),
                port: None,
                path: path.to_string(),
                text: url.to_string(),
            });
        }
        let (user, host_port) = match authority.rsplit_once('@') {
            Some((userinfo, host_port)) => {
                if userinfo.contains(':') {
                    return Err(invalid(
                        "it contains a password; remove it from the URL and pass it with --username and --password (or the environment), so it never lands in logs or the Git repository",
                    ));
                }
                (Some(userinfo.to_string()), host_port)
            }
            None => (None, authority),
        };
        let (host, port) =
            split_host_port(host_port).ok_or_else(|| invalid("the port is not a number"))?;
        if host.is_empty() {
            return Err(invalid("it names no host"));
        }
        if path.len() <= 1 {
            return Err(invalid("it names no repository path"));
        }
        Ok(GitUrl {
            transport,
            user,
            host,
            port,
            path: path.to_string(),
            text: url.to_string(),
        })
    }

    /// The URL as given (it holds no credentials: [`GitUrl::parse`] refuses passwords).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The host as ssh and known_hosts name it: `host` for port 22 or none, `[host]:port`
    /// otherwise.
    pub fn known_hosts_name(&self) -> String {
        match self.port {
            Some(port) if port != 22 => format!("[{}]:{port}", self.host),
            _ => self.host.clone(),
        }
    }
}

impl std::fmt::Display for GitUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// `user@host:path` (scp-like syntax, SSH). A colon before any slash marks it; a local path
/// like `./repo:x` or `/srv/repo` is not one.
fn parse_scp_like(url: &str) -> Option<GitUrl> {
    let (before, path) = url.split_once(':')?;
    if before.contains('/') || path.is_empty() || before.is_empty() {
        return None;
    }
    let (user, host) = match before.rsplit_once('@') {
        Some((user, host)) => (Some(user.to_string()), host),
        None => (None, before),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return None;
    }
    Some(GitUrl {
        transport: Transport::Ssh,
        user,
        host: host.to_string(),
        port: None,
        path: path.to_string(),
        text: url.to_string(),
    })
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`; None when the port is not a number.
fn split_host_port(host_port: &str) -> Option<(String, Option<u16>)> {
    if let Some(rest) = host_port.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(port) => Some(port.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((host.to_string(), port));
    }
    match host_port.rsplit_once(':') {
        Some((host, "")) => Some((host.to_string(), None)),
        Some((host, port)) => Some((host.to_string(), Some(port.parse().ok()?))),
        None => Some((host_port.to_string(), None)),
    }
}

/// The URL with any `user:password@` part replaced by `***@`, for error messages about a URL
/// that could not be accepted.
pub(crate) fn redact_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_url_with_port_and_user() {
        let url = GitUrl::parse("https://git@example.com:8443/org/repo.git").unwrap();
        assert_eq!(url.transport, Transport::Https);
        assert_eq!(url.user.as_deref(), Some("git"));
        assert_eq!(url.host, "example.com");
        assert_eq!(url.port, Some(8443));
        assert_eq!(url.path, "/org/repo.git");
    }

    #[test]
    fn ssh_urls_give_the_known_hosts_name() {
        let url = GitUrl::parse("ssh://git@127.0.0.1:2222/srv/repo.git").unwrap();
        assert_eq!(url.transport, Transport::Ssh);
        assert_eq!(url.known_hosts_name(), "[127.0.0.1]:2222");
        let default_port = GitUrl::parse("ssh://git@github.com/org/repo").unwrap();
        assert_eq!(default_port.known_hosts_name(), "github.com");
        let v6 = GitUrl::parse("ssh://git@[::1]:22/repo").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", Some(22)));
        assert_eq!(v6.known_hosts_name(), "::1");
    }

    #[test]
    fn scp_like_urls_are_ssh() {
        let url = GitUrl::parse("git@github.com:org/repo.git").unwrap();
        assert_eq!(url.transport, Transport::Ssh);
        assert_eq!(url.user.as_deref(), Some("git"));
        assert_eq!(url.host, "github.com");
        assert_eq!(url.port, None);
        assert_eq!(url.path, "org/repo.git");
    }

    #[test]
    fn passwords_in_urls_are_refused_without_being_echoed() {
        let err = GitUrl::parse("https://user:s3cret-token@example.com/repo.git").unwrap_err();
        let text = err.to_string();
        assert!(!text.contains("s3cret-token"), "{text}");
        assert!(text.contains("https://***@example.com/repo.git"), "{text}");
        assert!(text.contains("--password"), "{text}");
    }

    #[test]
    fn unsupported_and_malformed_urls_are_refused() {
        for url in [
            "",
            "ftp://example.com/repo",
            "/srv/repo.git",
            "https://example.com",
            "https://example.com:port/repo",
            " https://example.com/repo",
        ] {
            assert!(GitUrl::parse(url).is_err(), "{url:?} should be refused");
        }
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn never_panics(url in any::<String>()) {
            let _ = GitUrl::parse(&url);
            let _ = redact_userinfo(&url);
        }

        #[test]
        fn never_panics_on_url_like_text(url in "(https?|ssh|file|HTTPS)?(://)?[a-z@:\\[\\]0-9./_-]{0,40}") {
            let _ = GitUrl::parse(&url);
        }

        /// The parts of a URL come back as written, and the text is kept as given.
        #[test]
        fn urls_round_trip(
            scheme in prop::sample::select(vec!["https", "http", "ssh"]),
            user in proptest::option::of("[a-z][a-z0-9_.-]{0,10}"),
            host in "[a-z0-9][a-z0-9.-]{0,20}",
            port in proptest::option::of(any::<u16>()),
            path in "(/[A-Za-z0-9._~-]{1,12}){1,4}",
        ) {
            let text = format!(
                "{scheme}://{}{host}{}{path}",
                user.as_ref().map(|u| format!("{u}@")).unwrap_or_default(),
                port.map(|p| format!(":{p}")).unwrap_or_default()
            );
            let url = GitUrl::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(url.as_str(), text.as_str());
            prop_assert_eq!(url.user, user);
            prop_assert_eq!(url.host, host);
            prop_assert_eq!(url.port, port);
            prop_assert_eq!(url.path, path);
        }

        #[test]
        fn ipv6_hosts_lose_their_brackets(port in proptest::option::of(any::<u16>()), last in 0u16..0xffff) {
            let host = format!("fd00::{last:x}");
            let text = format!("ssh://git@[{host}]{}/repo.git", port.map(|p| format!(":{p}")).unwrap_or_default());
            let url = GitUrl::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(url.host, host);
            prop_assert_eq!(url.port, port);
        }

        #[test]
        fn scp_like_urls_are_ssh(
            user in "[a-z][a-z0-9_.-]{0,10}",
            host in "[a-z0-9][a-z0-9.-]{0,20}",
            path in "[A-Za-z0-9._~-][A-Za-z0-9._~/-]{0,30}",
        ) {
            let url = GitUrl::parse(&format!("{user}@{host}:{path}")).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(url.transport, Transport::Ssh);
            prop_assert_eq!(url.user.as_deref(), Some(user.as_str()));
            prop_assert_eq!(url.host, host);
            prop_assert_eq!(url.path, path);
        }

        /// A password in the URL is refused, and the refusal does not repeat it.
        #[test]
        fn passwords_are_refused_unrepeated(
            scheme in prop::sample::select(vec!["https", "http", "ssh"]),
            user in "[a-z]{1,8}",
            password in "[A-Z][A-Z0-9!$%]{7,20}",
            host in "[a-z0-9.-]{1,20}",
        ) {
            let text = format!("{scheme}://{user}:{password}@{host}/org/repo");
            let err = GitUrl::parse(&text).err().ok_or_else(|| TestCaseError::fail("accepted"))?;
            prop_assert!(!err.to_string().contains(&password), "{err}");
            prop_assert!(!redact_userinfo(&text).contains(&password));
        }

        #[test]
        fn control_characters_are_refused(before in "[a-z/:]{0,10}", c in prop::char::range('\0', '\u{1f}'), after in "[a-z/]{0,10}") {
            let refused = GitUrl::parse(&format!("https://h/{before}{c}{after}")).is_err();
            prop_assert!(refused);
        }
    }
}
