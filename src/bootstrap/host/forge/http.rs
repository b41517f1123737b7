//! The HTTP side every forge client shares: one reqwest client (rustls, the platform's
//! certificate authorities plus `--ca-file`), the token in a header marked sensitive (so it is
//! never logged or shown), JSON bodies, the mapping of 401 and rate limits, waiting out a rate
//! limit within the run's deadline, and following `Link: rel="next"` pages on the same origin.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

use super::ForgeKind;
use super::error::{Error, Result};

/// One request's limit, so a server that stops answering does not hold bootstrap forever.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Pages followed at most when listing (100 keys per page on every forge is far beyond use).
const MAX_PAGES: usize = 100;

/// A forge's REST API at one base URL, authenticated with the token.
pub struct ApiClient {
    kind: &'static ForgeKind,
    http: reqwest::Client,
    /// Ends with `/`, so relative paths join below it.
    base: Url,
    auth: (HeaderName, HeaderValue),
    /// Waiting for a rate limit to lift stops here.
    deadline: Instant,
}

/// An answer with a success status.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl ApiClient {
    /// `auth_scheme` is the header and the text before the token: ("authorization", "token ")
    /// for Gitea, ("authorization", "Bearer ") for GitHub, ("private-token", "") for GitLab.
    pub fn new(
        kind: &'static ForgeKind,
        base: Url,
        auth_header: &'static str,
        auth_prefix: &str,
        token: &SecretString,
        ca_file: Option<&Path>,
        timeout: Duration,
    ) -> Result<ApiClient> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(15))
            .user_agent(concat!("kubectl-gitops/", env!("CARGO_PKG_VERSION")))
            // Redirects could carry the token to another host.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(path) = ca_file {
            let ca_error = |reason: String| Error::CaFile {
                path: path.display().to_string(),
                reason,
            };
            let pem = std::fs::read(path).map_err(|err| ca_error(err.to_string()))?;
            let certificates = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|err| ca_error(err.to_string()))?;
            if certificates.is_empty() {
                return Err(ca_error("it holds no PEM certificate".to_string()));
            }
            builder = builder.tls_certs_merge(certificates);
        }
        let http = builder.build().map_err(|err| Error::Unreachable {
            forge: kind.name,
            url: base.to_string(),
            reason: err.to_string(),
        })?;
        let mut value = HeaderValue::from_str(&format!("{auth_prefix}{}", token.expose_secret()))
            .map_err(|_| Error::TokenFile {
            path: "(token)".to_string(),
            reason: "the token holds characters an HTTP header cannot carry".to_string(),
        })?;
        value.set_sensitive(true);
        Ok(ApiClient {
            kind,
            http,
            base,
            auth: (HeaderName::from_static(auth_header), value),
            deadline: Instant::now() + timeout,
        })
    }

    pub fn kind(&self) -> &'static ForgeKind {
        self.kind
    }

    /// The API's base URL (ends with `/`).
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// Host (and port) of the API, for messages.
    pub fn host(&self) -> String {
        match self.base.port() {
            Some(port) => format!("{}:{port}", self.base.host_str().unwrap_or_default()),
            None => self.base.host_str().unwrap_or_default().to_string(),
        }
    }

    /// Sends one request (`path` relative to the base) and returns a success answer. 401 is
    /// [`Error::BadToken`]; a rate limit is waited out when it lifts before the deadline;
    /// other failures are [`Error::Api`] with the forge's message.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer> {
        let url = self.url(path)?;
        self.send_url(method, url, body).await
    }

    /// GET of a JSON document, `None` on 404.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>> {
        match self.send(Method::GET, path, None).await {
            Ok(answer) => self.decode(&format!("GET {path}"), &answer.body).map(Some),
            Err(err) if err.status() == Some(404) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Whether a GET of `path` finds something (anything but 404).
    pub async fn exists(&self, path: &str) -> Result<bool> {
        Ok(self.get_json::<serde_json::Value>(path).await?.is_some())
    }

    /// A write whose answer is a JSON document, decoded (`POST` of a repository or a key).
    pub async fn send_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T> {
        let operation = format!("{method} {path}");
        let answer = self.send(method, path, Some(body)).await?;
        self.decode(&operation, &answer.body)
    }

    /// A write whose answer is not needed (settings, team access, deleting a key).
    pub async fn send_only(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<()> {
        self.send(method, path, body).await.map(drop)
    }

    /// Every item of a paginated list: the first page at `path`, then each `Link: rel="next"`
    /// page, as long as it stays on the API's origin (the token goes nowhere else).
    pub async fn get_all_pages<T: DeserializeOwned>(&self, path: &str) -> Result<Vec<T>> {
        let operation = format!("GET {path}");
        let mut url = self.url(path)?;
        let mut items = Vec::new();
        for _ in 0..MAX_PAGES {
            let answer = self.send_url(Method::GET, url.clone(), None).await?;
            let mut page: Vec<T> = self.decode(&operation, &answer.body)?;
            let empty = page.is_empty();
            items.append(&mut page);
            match next_page(&answer.headers, &url) {
                Some(_) if empty => return Ok(items),
                Some(next) if next.origin() == self.base.origin() => url = next,
                // A forge behind a proxy that links to its own address: following the link
                // would send the token elsewhere, stopping would miss items.
                Some(next) => {
                    return Err(Error::BadAnswer {
                        forge: self.kind.name,
                        operation,
                        reason: format!(
                            "its next page is at {}, another address than --hostname's {}; set the forge's own URL (Gitea: ROOT_URL) to the address it is reached at, or pass that address as --hostname",
                            next.origin().ascii_serialization(),
                            self.base.origin().ascii_serialization()
                        ),
                    });
                }
                None => return Ok(items),
            }
        }
        Ok(items)
    }

    pub fn decode<T: DeserializeOwned>(&self, operation: &str, body: &str) -> Result<T> {
        serde_json::from_str(body).map_err(|err| Error::BadAnswer {
            forge: self.kind.name,
            operation: operation.to_string(),
            reason: err.to_string(),
        })
    }

    fn url(&self, path: &str) -> Result<Url> {
        self.base
            .join(path.trim_start_matches('/'))
            .map_err(|err| Error::BadHostname {
                hostname: self.base.to_string(),
                reason: format!("cannot form the URL of {path}: {err}"),
            })
    }

    async fn send_url(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer> {
        let operation = format!("{method} {}", url.path());
        let started = Instant::now();
        loop {
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .header(self.auth.0.clone(), self.auth.1.clone())
                .header(reqwest::header::ACCEPT, "application/json");
            if let Some(body) = body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.to_string());
            }
            tracing::debug!("{} API: {operation}", self.kind.name);
            let response = request.send().await.map_err(|err| Error::Unreachable {
                forge: self.kind.name,
                url: url_without_query(&url),
                reason: error_chain(&err),
            })?;
            let status = response.status();
            let headers = response.headers().clone();
            let text = response.text().await.unwrap_or_default();
            if status.is_success() {
                return Ok(Answer {
                    status,
                    headers,
                    body: text,
                });
            }
            if status == StatusCode::UNAUTHORIZED {
                return Err(Error::BadToken {
                    forge: self.kind.name,
                    host: self.host(),
                    operation,
                    scopes: self.kind.token_scopes,
                    env: self.kind.token_env,
                });
            }
            if let Some(wait) = rate_limit_wait(status, &headers, SystemTime::now()) {
                let now = Instant::now();
                if now + wait <= self.deadline {
                    tracing::warn!(
                        "{} rate limit on {operation}: waiting {}s before trying again",
                        self.kind.name,
                        wait.as_secs()
                    );
                    tokio::time::sleep(wait).await;
                    continue;
                }
                let waited = started.elapsed();
                return Err(Error::RateLimited {
                    forge: self.kind.name,
                    status: status.as_u16(),
                    operation,
                    waited: if waited >= Duration::from_secs(1) {
                        format!(", waited {}s", waited.as_secs())
                    } else {
                        String::new()
                    },
                    reset: format!("in {}s", wait.as_secs()),
                });
            }
            return Err(Error::Api {
                forge: self.kind.name,
                status: status.as_u16(),
                operation,
                message: api_message(&text),
            });
        }
    }
}

/// How long to wait before trying again, when the answer is a rate limit: 429, or 403 with
/// `x-ratelimit-remaining: 0` (GitHub's primary limit) or `retry-after` (its secondary one).
/// Uses `retry-after` seconds, else `x-ratelimit-reset` (epoch seconds; GitLab's
/// `ratelimit-reset` too), else a minute.
pub fn rate_limit_wait(
    status: StatusCode,
    headers: &HeaderMap,
    now: SystemTime,
) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let limited = status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN
            && (header("x-ratelimit-remaining") == Some("0") || header("retry-after").is_some()));
    if !limited {
        return None;
    }
    if let Some(seconds) = header("retry-after").and_then(|v| v.parse::<u64>().ok()) {
        return Some(Duration::from_secs(seconds.max(1)));
    }
    let reset = header("x-ratelimit-reset")
        .or_else(|| header("ratelimit-reset"))
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(reset) = reset {
        let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        return Some(Duration::from_secs(reset.saturating_sub(now).max(1)));
    }
    Some(Duration::from_secs(60))
}

/// One path segment, percent-encoded (owner, repository, team and branch names go into URL
/// paths; a `/` in a branch name must not start another segment).
pub fn segment(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// The `rel="next"` URL of a `Link` header, resolved against the page's URL.
pub fn next_page(headers: &HeaderMap, current: &Url) -> Option<Url> {
    for value in headers.get_all(reqwest::header::LINK) {
        let Ok(value) = value.to_str() else { continue };
        for link in value.split(',') {
            let mut parts = link.split(';');
            let target = parts.next()?.trim();
            let is_next = parts.any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            });
            if is_next && target.starts_with('<') && target.ends_with('>') {
                return current.join(&target[1..target.len() - 1]).ok();
            }
        }
    }
    None
}

/// The forge's own message from an error body (`message`, GitLab's `message`/`error`, or
/// the text itself), on one line and short.
fn api_message(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| v.get("message").or_else(|| v.get("error")))
        .map(|m| match m {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_else(|| body.trim().to_string());
    let mut line: String = message.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        line = "(no message)".to_string();
    }
    if line.chars().count() > 300 {
        line = line.chars().take(300).collect::<String>() + "…";
    }
    line
}

fn url_without_query(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.to_string()
}

/// An error with its sources, the way users need it ("connection refused" sits deep).
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn rate_limits_are_recognised_and_timed() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(
            rate_limit_wait(StatusCode::FORBIDDEN, &headers(&[]), now),
            None
        );
        assert_eq!(
            rate_limit_wait(StatusCode::NOT_FOUND, &headers(&[]), now),
            None
        );
        assert_eq!(
            rate_limit_wait(
                StatusCode::FORBIDDEN,
                &headers(&[
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "1030")
                ]),
                now
            ),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            rate_limit_wait(
                StatusCode::TOO_MANY_REQUESTS,
                &headers(&[("retry-after", "7")]),
                now
            ),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            rate_limit_wait(StatusCode::TOO_MANY_REQUESTS, &headers(&[]), now),
            Some(Duration::from_secs(60))
        );
    }

    #[test]
    fn next_pages_follow_the_link_header() {
        let current = Url::parse("https://h.example/api/v1/repos/o/r/keys").unwrap();
        let link = headers(&[(
            "link",
            "<https://h.example/api/v1/repos/o/r/keys?page=2>; rel=\"next\", <https://h.example/api/v1/repos/o/r/keys?page=5>; rel=\"last\"",
        )]);
        assert_eq!(
            next_page(&link, &current).unwrap().as_str(),
            "https://h.example/api/v1/repos/o/r/keys?page=2"
        );
        let last = headers(&[("link", "<https://h.example/x?page=1>; rel=\"first\"")]);
        assert_eq!(next_page(&last, &current), None);
        assert_eq!(next_page(&headers(&[]), &current), None);
    }

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(segment("feature/x y"), "feature%2Fx%20y");
        assert_eq!(segment("my-org_1.x~"), "my-org_1.x~");
    }

    #[test]
    fn api_messages_are_short_single_lines() {
        assert_eq!(api_message("{\"message\":\"key\\nlength\"}"), "key length");
        assert_eq!(api_message(""), "(no message)");
        assert_eq!(api_message("plain text"), "plain text");
        assert_eq!(api_message(&"x".repeat(400)).chars().count(), 301);
    }
}
