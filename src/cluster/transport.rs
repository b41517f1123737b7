//! The HTTP client under every connection: HTTP/2 to the API server when it offers it.
//!
//! kube's own client speaks HTTP/1.1 only, so every request in flight needs a TCP connection
//! and a TLS handshake of its own: `status -A` lists about ten kinds at once and so opened ten
//! connections per cluster, and in fleet mode the handshakes and their round trips were a large
//! share of the run. kubectl (Go) speaks HTTP/2 and sends all of a command's requests over one
//! connection; this client does the same. TLS offers `h2` and `http/1.1` (ALPN); a server that
//! picks HTTP/1.1, and every plain-`http` server, is served as before. Which version a server
//! speaks is known only once the first connection is up, so requests sent together before that
//! each open a connection; commands ask discovery first, and later requests share its connection.
//!
//! The layers above the connection are kube's own, in kube's order (base URI, gzip,
//! kube's server-error retry, authentication, extra headers), so credentials, exec plugins and
//! impersonation behave exactly as with kube's builder. Through a proxy kube's builder is
//! used unchanged (HTTP/1.1): proxy support stays kube's.
//!
//! Deadlines: connecting (TCP and TLS) and each write are bounded by `--request-timeout`, as
//! before. A read deadline on a shared connection would cut every request on it, and idle
//! watches with them; instead each call has its own deadline (`Connection::call`) and a
//! connection that stops answering is found by HTTP/2 pings, as client-go does.

use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use kube::client::ConfigExt;
use kube::{Client, Config};
use tower::{BoxError, ServiceBuilder};
use tower_http::ServiceExt as _;

/// Without an answer to a ping sent after this long of silence, the connection is dropped
/// (client-go's ReadIdleTimeout is 30 s and its PingTimeout 15 s).
const PING_AFTER_IDLE: Duration = Duration::from_secs(30);
const PING_TIMEOUT: Duration = Duration::from_secs(15);

/// A client for `config`, preferring HTTP/2 (see the module documentation).
pub fn client(config: Config) -> kube::Result<Client> {
    if config.proxy_url.is_some() {
        return Client::try_from(config);
    }
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    let https = https_connector(&config, tcp)?;
    let mut connector = hyper_timeout::TimeoutConnector::new(https);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_write_timeout(config.write_timeout);
    let http = hyper_util::client::legacy::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .http2_keep_alive_interval(PING_AFTER_IDLE)
        .http2_keep_alive_timeout(PING_TIMEOUT)
        .build(connector);
    let decompression = tower_http::decompression::DecompressionLayer::new()
        .no_br()
        .no_deflate()
        .no_zstd()
        .gzip(!config.disable_compression);
    let retry = config
        .default_retry
        .then(|| tower::retry::RetryLayer::new(kube::client::retry::RetryPolicy::server_retry()));
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .layer(decompression)
        .option_layer(retry)
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        // `-v` tracing of each request as kube's builder does it: a span with method and URL,
        // one line when it is sent and one with the status (never headers: no credentials).
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(|request: &http::Request<kube::client::Body>| {
                    tracing::debug_span!(
                        "HTTP",
                        http.method = %request.method(),
                        http.url = %request.uri(),
                    )
                })
                .on_request(|_: &http::Request<kube::client::Body>, _: &tracing::Span| {
                    tracing::debug!("requesting");
                })
                .on_response(
                    |response: &http::Response<_>, _: Duration, _: &tracing::Span| {
                        tracing::debug!(status = response.status().as_u16(), "answered");
                    },
                ),
        )
        .map_err(BoxError::from)
        .service(http)
        .map_response_body(|body| {
            Box::new(http_body_util::BodyExt::map_err(body, BoxError::from))
                as Box<kube::client::DynBody>
        });
    Ok(Client::new(service, config.default_namespace))
}

/// kube's TLS setup (CA, client certificate, `tls-server-name`, skip-verify) with both HTTP
/// versions offered.
fn https_connector(
    config: &Config,
    tcp: HttpConnector,
) -> kube::Result<hyper_rustls::HttpsConnector<HttpConnector>> {
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config.rustls_client_config()?)
        .https_or_http();
    let builder = match &config.tls_server_name {
        Some(name) => {
            let name = name.clone().try_into().map_err(|err| {
                kube::Error::RustlsTls(kube::client::RustlsTlsError::InvalidServerName(err))
            })?;
            builder.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
        }
        None => builder,
    };
    Ok(builder.enable_all_versions().wrap_connector(tcp))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A TLS server on loopback offering `alpn`, answering every request with its HTTP version;
    /// returns its URL, its certificate (DER) and the count of connections it accepted.
    async fn server(alpn: &[&[u8]]) -> (String, Vec<u8>, Arc<AtomicUsize>) {
        let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])
            .expect("a certificate");
        let der = certified.cert.der().to_vec();
        let key =
            rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
        let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![der.clone().into()], key)
        .expect("server TLS");
        tls.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("https://{}", listener.local_addr().expect("address"));
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(stream).await else {
                        return;
                    };
                    let service =
                        hyper::service::service_fn(|request: http::Request<_>| async move {
                            // Slow enough that concurrent requests overlap.
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            let body = format!("{{\"version\":\"{:?}\"}}", request.version());
                            Ok::<_, std::convert::Infallible>(
                                http::Response::builder()
                                    .header("content-type", "application/json")
                                    .body(http_body_util::Full::new(hyper::body::Bytes::from(body)))
                                    .expect("a response"),
                            )
                        });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (url, der, connections)
    }

    /// The HTTP version the server saw for one GET through `client`.
    async fn version_seen(client: Client) -> String {
        let request = http::Request::get("/version")
            .body(Vec::new())
            .expect("a request");
        let answer: serde_json::Value = client.request(request).await.expect("an answer");
        answer["version"].as_str().unwrap_or_default().to_string()
    }

    /// One GET, then ten concurrent ones, through a client for `url` (as commands do: discovery
    /// first, then the lists); the versions the server saw for the ten.
    async fn ten_requests(url: &str, der: Vec<u8>) -> Vec<String> {
        let mut config = Config::new(url.parse().expect("a URL"));
        config.root_cert = Some(vec![der]);
        let client = client(config).expect("a client");
        assert!(!version_seen(client.clone()).await.is_empty());
        futures::future::join_all((0..10).map(|_| version_seen(client.clone()))).await
    }

    #[tokio::test]
    async fn concurrent_requests_share_one_http2_connection() {
        let (url, der, connections) = server(&[b"h2", b"http/1.1"]).await;
        let versions = ten_requests(&url, der).await;
        assert_eq!(versions, vec!["HTTP/2.0"; 10]);
        assert_eq!(connections.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_server_without_http2_is_served_over_http1() {
        let (url, der, connections) = server(&[b"http/1.1"]).await;
        let versions = ten_requests(&url, der).await;
        assert_eq!(versions, vec!["HTTP/1.1"; 10]);
        // One connection per request in flight, as kube's own client does (the first request's
        // connection is reused by one of the ten).
        assert_eq!(connections.load(Ordering::SeqCst), 10);
    }
}
