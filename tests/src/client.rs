//! Test clients: one-shot HTTP/1.1, HTTP/2 (h2c and TLS), and raw TCP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response read completely.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub trailers: Option<HeaderMap>,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A response header as text ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// A request builder preset: `GET path` with `Host: host`.
pub fn get(path: &str, host: &str) -> http::request::Builder {
    Request::get(path).header("host", host)
}

const TIMEOUT: Duration = Duration::from_secs(20);

async fn read_response(resp: http::Response<hyper::body::Incoming>) -> anyhow::Result<Resp> {
    let (parts, body) = resp.into_parts();
    let collected = tokio::time::timeout(TIMEOUT, body.collect()).await??;
    let trailers = collected.trailers().cloned();
    Ok(Resp {
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        body: collected.to_bytes(),
        trailers,
    })
}

/// One request over a fresh HTTP/1.1 connection.
pub async fn send(addr: SocketAddr, req: Request<Full<Bytes>>) -> anyhow::Result<Resp> {
    let stream = TcpStream::connect(addr).await?;
    send_on(stream, req).await
}

/// One request over an established stream (plain or TLS), HTTP/1.1.
pub async fn send_on<S>(stream: S, req: Request<Full<Bytes>>) -> anyhow::Result<Resp>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let resp = tokio::time::timeout(TIMEOUT, sender.send_request(req)).await??;
    read_response(resp).await
}

/// One request over a fresh h2c (prior knowledge) connection. The URI must be absolute
/// (`http://host/path`) so it carries `:authority`.
pub async fn send_h2(addr: SocketAddr, req: Request<Full<Bytes>>) -> anyhow::Result<Resp> {
    let stream = TcpStream::connect(addr).await?;
    send_h2_on(stream, req).await
}

pub async fn send_h2_on<S>(stream: S, req: Request<Full<Bytes>>) -> anyhow::Result<Resp>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let resp = tokio::time::timeout(TIMEOUT, sender.send_request(req)).await??;
    read_response(resp).await
}

/// A TLS client configuration that accepts any server certificate (tests inspect the
/// certificate themselves).
pub fn insecure_tls(alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(crate::certs::AcceptAll))
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// A TLS connection to `addr` sending `sni` (None: no SNI), with the server's leaf
/// certificate and the negotiated ALPN protocol.
pub async fn connect_tls(
    addr: SocketAddr,
    sni: Option<&str>,
    alpn: &[&[u8]],
) -> anyhow::Result<(
    tokio_rustls::client::TlsStream<TcpStream>,
    CertificateDer<'static>,
    Option<Vec<u8>>,
)> {
    let mut config = (*insecure_tls(alpn)).clone();
    let name = match sni {
        Some(s) => ServerName::try_from(s.to_string())?,
        None => {
            config.enable_sni = false;
            ServerName::try_from("unused.invalid")?
        }
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await?;
    let stream = connector.connect(name, tcp).await?;
    let (_, conn) = stream.get_ref();
    let leaf = conn
        .peer_certificates()
        .and_then(|c| c.first().cloned())
        .ok_or_else(|| anyhow::anyhow!("no server certificate"))?
        .into_owned();
    let alpn = conn.alpn_protocol().map(<[u8]>::to_vec);
    Ok((stream, leaf, alpn))
}

/// Writes `bytes` and reads until the server closes or `wait` passes without data.
pub async fn raw(addr: SocketAddr, bytes: &[u8], wait: Duration) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(bytes).await?;
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match tokio::time::timeout(wait, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Err(_) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Ok(Err(_)) => break,
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The status code of a raw HTTP/1.x response ("HTTP/1.1 400 Bad Request" -> 400).
pub fn raw_status(response: &str) -> Option<u16> {
    response
        .lines()
        .next()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
