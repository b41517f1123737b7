//! Stand-in for a remote kube-apiserver, for the fleet benchmark only.
//!
//! On this machine every control plane's API server and etcd share the two cores with the
//! plugin, so a fleet of N loopback planes makes the machine do N times the server work: the
//! wall time then measures the servers' CPU, not the plugin. Real fleets are remote; their
//! servers' work happens elsewhere. This stand-in answers each request with the bytes one real
//! kube-apiserver answered for the same method, path, query and Accept header (asked once, on the
//! first miss, then kept in memory), over TLS with HTTP/1.1 and HTTP/2 as the real one does; put behind the delay proxy,
//! it is a cluster at a network distance whose server costs this machine almost nothing. Only
//! the plugin's own work and its concurrency remain in the measurement.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};

/// One recorded answer: status, content type and body.
#[derive(Clone)]
struct Answer {
    status: http::StatusCode,
    content_type: Option<http::HeaderValue>,
    body: Bytes,
}

/// A running stand-in: its address and the CA that signed its serving certificate.
pub struct RemoteApiStandIn {
    pub address: SocketAddr,
    pub ca: PathBuf,
}

/// Starts answering on a loopback port, on the current tokio runtime, with what `upstream`
/// (an admin client of a real API server) answers. Serves until the process exits.
pub fn start(upstream: kube::Client, dir: &Path) -> RemoteApiStandIn {
    let (ca, cert, key) = crate::support::certs::loopback_server_cert(dir, "remote-api-stand-in");
    // Both HTTP versions, as kube-apiserver offers them (ALPN).
    let mut tls = (*crate::support::certs::server_tls_config(&cert, &key)).clone();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let tls = Arc::new(tls);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the stand-in");
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    let address = listener.local_addr().expect("stand-in address");
    let answers: Arc<Mutex<HashMap<String, Answer>>> = Arc::default();
    tokio::spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let (acceptor, upstream, answers) =
                (acceptor.clone(), upstream.clone(), answers.clone());
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(stream).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |request| {
                    let (upstream, answers) = (upstream.clone(), answers.clone());
                    async move {
                        Ok::<_, std::convert::Infallible>(
                            answer(&upstream, &answers, request).await,
                        )
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
            });
        }
    });
    RemoteApiStandIn { address, ca }
}

/// The recorded answer for `request`, asking the real server on the first miss.
async fn answer(
    upstream: &kube::Client,
    answers: &Mutex<HashMap<String, Answer>>,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let accept = request
        .headers()
        .get(http::header::ACCEPT)
        .cloned()
        .unwrap_or_else(|| http::HeaderValue::from_static("application/json"));
    let target = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let key = format!("{} {target} {accept:?}", request.method());
    let known = answers.lock().expect("answers").get(&key).cloned();
    let recorded = match known {
        Some(recorded) => recorded,
        None => {
            let asked = http::Request::builder()
                .method(request.method().clone())
                .uri(&target)
                .header(http::header::ACCEPT, accept)
                .body(kube::client::Body::empty())
                .expect("request");
            let response = upstream
                .send(asked)
                .await
                .expect("the real API server answers");
            let status = response.status();
            let content_type = response.headers().get(http::header::CONTENT_TYPE).cloned();
            let body = response
                .into_body()
                .collect()
                .await
                .expect("the real API server's body")
                .to_bytes();
            let recorded = Answer {
                status,
                content_type,
                body,
            };
            answers
                .lock()
                .expect("answers")
                .insert(key, recorded.clone());
            recorded
        }
    };
    let mut response = Response::builder().status(recorded.status);
    if let Some(content_type) = recorded.content_type {
        response = response.header(http::header::CONTENT_TYPE, content_type);
    }
    response.body(Full::new(recorded.body)).expect("a response")
}
