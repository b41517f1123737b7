//! The HTTP client under every connection: HTTP/2 to the API server when it offers it.
//!
//! kube's own client speaks HTTP/1.1 only, so every request in flight needs a TCP connection
//! and a TLS handshake of its own: `status -A` lists about ten kinds at once and so opened ten
//! connections per cluster, and in fleet mode the handshakes and their round trips were a large
//! share of the run. kubectl (Go) speaks HTTP/2 and sends all of a command's requests over one
//! connection; this client does the same. TLS offers `h2` and `http/1.1` (ALPN); a server that
//! picks HTTP/1.1, and every plain-`http` server, is served as before.
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
