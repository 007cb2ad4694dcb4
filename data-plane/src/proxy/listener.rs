//! Accepting downstream connections and serving them with hyper.
//!
//! The plain listener speaks HTTP/1.1 and h2c (detected from the connection preface).
//! The TLS listener reads the ClientHello first, takes the certificate table of the
//! runtime current at that moment, and serves HTTP/2 or HTTP/1.1 as ALPN decided.
//! Every connection is registered with a graceful-shutdown watcher: on shutdown, idle
//! keep-alive connections close, HTTP/2 connections get GOAWAY, and requests in flight
//! finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use super::Shared;
use super::context::ConnInfo;
use super::handler;

/// Largest request head hyper buffers. Kong's own limits (8 KiB per header line, 32 KiB
/// in total) are enforced by the handler so that it can answer with Kong's error body;
/// heads beyond this are refused by hyper itself (431).
const MAX_HEAD_BUFFER: usize = 64 * 1024;

/// Shutdown signalling shared by listeners and connections. Every connection holds a
/// clone; [`Drain::finished`] waits until all of them are gone.
#[derive(Clone)]
pub struct Drain {
    shutdown: watch::Receiver<bool>,
    _alive: mpsc::Sender<()>,
}

/// The node's side of [`Drain`]: triggers shutdown and waits for connections to finish.
pub struct DrainController {
    shutdown: watch::Sender<bool>,
    done: mpsc::Receiver<()>,
    drain: Option<Drain>,
}

impl DrainController {
    pub fn new() -> DrainController {
        let (shutdown, rx) = watch::channel(false);
        let (alive, done) = mpsc::channel(1);
        DrainController {
            shutdown,
            done,
            drain: Some(Drain {
                shutdown: rx,
                _alive: alive,
            }),
        }
    }

    /// A handle for a listener or connection.
    pub fn drain(&self) -> Option<Drain> {
        self.drain.clone()
    }

    /// Stops accepting, asks connections to finish their requests and close, and waits for
    /// them up to `grace`. Returns whether every connection finished in time.
    pub async fn shutdown(mut self, grace: Duration) -> bool {
        let _ = self.shutdown.send(true);
        self.drain = None;
        tokio::time::timeout(grace, self.done.recv()).await.is_ok()
    }
}

impl Default for DrainController {
    fn default() -> Self {
        Self::new()
    }
}

impl Drain {
    pub async fn stopping(&mut self) {
        while !*self.shutdown.borrow_and_update() {
            if self.shutdown.changed().await.is_err() {
                return;
            }
        }
    }
}

/// Builds the connection builders the listeners share.
fn builder(shared: &Shared) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(shared.settings.client_header_timeout)
        .max_buf_size(MAX_HEAD_BUFFER)
        .max_headers(512)
        // One buffer, one write: cheaper than a queue of buffers for the small heads and
        // bodies of most API traffic (the buffer stays bounded for large bodies).
        .writev(false)
        .keep_alive(true);
    b.http2()
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_HEAD_BUFFER as u32)
        .keep_alive_interval(Some(Duration::from_secs(60)));
    b
}

/// Runs the plain HTTP accept loop until `shutdown` flips.
pub async fn serve_plain(listener: TcpListener, shared: Arc<Shared>, mut drain: Drain) {
    let builder = builder(&shared);
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
        serve_connection(stream, info, &shared, &builder, drain.clone());
    }
}

/// Runs the TLS accept loop until `shutdown` flips.
pub async fn serve_tls(listener: TcpListener, shared: Arc<Shared>, mut drain: Drain) {
    let builder = builder(&shared);
    let h1_only = builder.clone().http1_only();
    let h2_only = builder.http2_only();
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
        let h1_only = h1_only.clone();
        let h2_only = h2_only.clone();
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
            let builder = if h2 { &h2_only } else { &h1_only };
            serve_connection(stream, info, &shared, builder, conn_drain);
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
    builder: &auto::Builder<TokioExecutor>,
    mut drain: Drain,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let stats = shared.metrics.connections.clone();
    stats.accepted.fetch_add(1, Ordering::Relaxed);
    stats.active.fetch_add(1, Ordering::Relaxed);
    let service_shared = shared.clone();
    let service = service_fn(move |req| handler::handle(req, info.clone(), service_shared.clone()));
    let conn = builder
        .serve_connection_with_upgrades(TokioIo::new(stream), service)
        .into_owned();
    tokio::spawn(async move {
        let mut conn = std::pin::pin!(conn);
        let result = tokio::select! {
            // The connection first, and no random draw at every wake-up (two per request).
            biased;
            r = conn.as_mut() => r,
            _ = drain.stopping() => {
                // Finish the request in flight, then close (GOAWAY for HTTP/2).
                conn.as_mut().graceful_shutdown();
                conn.as_mut().await
            }
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "connection ended with an error");
        }
        stats.active.fetch_sub(1, Ordering::Relaxed);
        drop(drain);
    });
}
