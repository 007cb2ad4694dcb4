//! Accepting downstream connections and serving them: HTTP/1.x with the proxy's own
//! server ([`super::server`]), HTTP/2 with hyper's.
//!
//! The plain listener speaks HTTP/1.x and h2c (detected from the connection preface).
//! The TLS listener reads the ClientHello first, takes the certificate table of the
//! runtime current at that moment, and serves HTTP/2 or HTTP/1.1 as ALPN decided.
//! Every connection is registered with a graceful-shutdown watcher: on shutdown, idle
//! keep-alive connections close, HTTP/2 connections get GOAWAY, and requests in flight
//! finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use http::Request;
use hyper::body::Incoming;
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};

use super::Shared;
use super::context::ConnInfo;
use super::drain::ShutdownSignal;
pub use super::drain::{Drain, DrainController};
use super::handler;
use super::server::{self, DownstreamBody, Served};

/// Largest HTTP/2 header list accepted (as the HTTP/1.x server's head limit).
const MAX_HEADER_LIST: u32 = 64 * 1024;

/// The HTTP/2 connection builder the listeners share (HTTP/1.x is served by
/// [`server`]).
fn h2_builder() -> http2::Builder<TokioExecutor> {
    let mut b = http2::Builder::new(TokioExecutor::new());
    b.timer(TokioTimer::new())
        .max_header_list_size(MAX_HEADER_LIST)
        .keep_alive_interval(Some(Duration::from_secs(60)));
    b
}

/// What a connection speaks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// TLS with ALPN `http/1.1` (or none).
    Http1,
    /// TLS with ALPN `h2`.
    Http2,
    /// Plain: HTTP/1.x, or HTTP/2 from the first byte (h2c with prior knowledge).
    Plain,
}

/// Runs the plain HTTP accept loop until `shutdown` flips.
pub async fn serve_plain(listener: TcpListener, shared: Arc<Shared>, mut drain: Drain) {
    let h2 = h2_builder();
    loop {
        let accepted = tokio::select! {
            _ = drain.stopping() => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                accept_error(e).await;
                continue;
            }
        };
        let Some(local) = prepare(&stream) else {
            continue;
        };
        let info = Arc::new(ConnInfo {
            peer,
            peer_ip: peer_ip_value(peer),
            local,
            forwarded_port: forwarded_port(&shared, local),
            tls: false,
            sni: None,
            client_certificates: None,
            tls_version: None,
            tls_cipher: None,
        });
        serve_connection(stream, info, &shared, &h2, Protocol::Plain, drain.clone());
    }
}

/// Runs the TLS accept loop until `shutdown` flips.
pub async fn serve_tls(listener: TcpListener, shared: Arc<Shared>, mut drain: Drain) {
    let h2 = h2_builder();
    loop {
        let accepted = tokio::select! {
            _ = drain.stopping() => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                accept_error(e).await;
                continue;
            }
        };
        let Some(local) = prepare(&stream) else {
            continue;
        };
        let shared = shared.clone();
        let conn_drain = drain.clone();
        let h2_builder = h2.clone();
        let handshake_timeout = shared.settings.client_header_timeout;
        tokio::spawn(async move {
            let _in_handshake = conn_drain.clone();
            let acceptor =
                tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream);
            let handshake = async {
                let start = acceptor.await?;
                let sni = start
                    .client_hello()
                    .server_name()
                    .map(str::to_ascii_lowercase);
                // The certificate table of the runtime current when the client said hello,
                // and the plugins' certificate phase (client certificate, session reuse).
                let config = shared.runtime.load().tls_server_config_for(sni.as_deref());
                let stream = start.into_stream(config).await?;
                Ok::<_, std::io::Error>((stream, sni))
            };
            let (stream, sni) = match tokio::time::timeout(handshake_timeout, handshake).await {
                Ok(Ok(pair)) => pair,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let (_, conn) = stream.get_ref();
            let h2 = conn.alpn_protocol() == Some(b"h2");
            let client_certificates = conn
                .peer_certificates()
                .map(|certs| certs.iter().map(|c| c.clone().into_owned()).collect());
            let tls_version = match conn.protocol_version() {
                Some(rustls::ProtocolVersion::TLSv1_3) => Some("TLSv1.3"),
                Some(rustls::ProtocolVersion::TLSv1_2) => Some("TLSv1.2"),
                _ => None,
            };
            let tls_cipher = conn
                .negotiated_cipher_suite()
                .and_then(|s| s.suite().as_str());
            let info = Arc::new(ConnInfo {
                peer,
                peer_ip: peer_ip_value(peer),
                local,
                forwarded_port: forwarded_port(&shared, local),
                tls: true,
                sni,
                client_certificates,
                tls_version,
                tls_cipher,
            });
            let protocol = if h2 { Protocol::Http2 } else { Protocol::Http1 };
            serve_connection(stream, info, &shared, &h2_builder, protocol, conn_drain);
        });
    }
}

fn peer_ip_value(peer: SocketAddr) -> http::HeaderValue {
    super::headers::ip_value(super::settings::canonical_ip(peer.ip()))
}

fn forwarded_port(shared: &Shared, local: SocketAddr) -> http::HeaderValue {
    let port = local.port();
    http::HeaderValue::from(
        shared
            .settings
            .port_maps
            .get(&port)
            .copied()
            .unwrap_or(port),
    )
}

fn prepare(stream: &TcpStream) -> Option<SocketAddr> {
    let _ = stream.set_nodelay(true);
    stream.local_addr().ok()
}

async fn accept_error(e: std::io::Error) {
    // Out of file descriptors and similar: back off briefly instead of spinning.
    tracing::warn!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

fn serve_connection<S>(
    stream: S,
    info: Arc<ConnInfo>,
    shared: &Arc<Shared>,
    h2: &http2::Builder<TokioExecutor>,
    protocol: Protocol,
    drain: Drain,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let stats = shared.metrics.connections.clone();
    stats.accepted.fetch_add(1, Ordering::Relaxed);
    stats.active.fetch_add(1, Ordering::Relaxed);
    let shared = shared.clone();
    let h2 = h2.clone();
    tokio::spawn(async move {
        let mut shutdown = ShutdownSignal::new(drain);
        if protocol == Protocol::Http2 {
            serve_h2(stream, info, shared, &h2, &mut shutdown).await;
        } else {
            let plain = protocol == Protocol::Plain;
            let served = server::serve(stream, info.clone(), shared.clone(), &mut shutdown, plain);
            if let Served::H2c(stream) = served.await {
                serve_h2(stream, info, shared, &h2, &mut shutdown).await;
            }
        }
        stats.active.fetch_sub(1, Ordering::Relaxed);
        drop(shutdown);
    });
}

/// Serves an HTTP/2 connection with hyper until it closes; on shutdown, GOAWAY and the
/// streams in flight finish.
async fn serve_h2<S>(
    stream: S,
    info: Arc<ConnInfo>,
    shared: Arc<Shared>,
    builder: &http2::Builder<TokioExecutor>,
    shutdown: &mut ShutdownSignal,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req: Request<Incoming>| {
        let (parts, body) = req.into_parts();
        handler::handle(
            parts,
            DownstreamBody::Right(body),
            info.clone(),
            shared.clone(),
        )
    });
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        // The connection first, and no random draw at every wake-up.
        biased;
        r = conn.as_mut() => r,
        _ = &mut *shutdown => {
            conn.as_mut().graceful_shutdown();
            conn.as_mut().await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}
