//! A small HTTP/1.1 client for plugins that call out: http-log sends its batches,
//! mtls-auth downloads certificate revocation lists. One connection at a time (the caller
//! keeps it for reuse), every step bounded by a timeout, optional forward proxy (absolute
//! URIs for `http`, `CONNECT` tunnels for `https`), TLS through rustls.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::balancer::Dns;
use crate::tls::client::{DEFAULT_VERIFY_DEPTH, UpstreamTls, client_config, server_name};

/// An open HTTP/1.1 connection.
pub type Sender = http1::SendRequest<Full<Bytes>>;

/// Where a request goes, from an `http`/`https` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub https: bool,
    pub host: String,
    pub port: u16,
    /// Path and query (`/` when the URL has none).
    pub path_and_query: String,
    /// `user:password` from the URL, sent as Basic authorization (as Kong's http-log).
    pub userinfo: Option<String>,
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, String> {
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("invalid url {url:?}: {e}"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(format!("unsupported scheme in {url:?}")),
        };
        let authority = uri
            .authority()
            .ok_or_else(|| format!("missing host in {url:?}"))?;
        let userinfo = authority
            .as_str()
            .rsplit_once('@')
            .map(|(user, _)| percent_encoding::percent_decode_str(user).decode_utf8_lossy())
            .map(|u| u.into_owned());
        Ok(Target {
            https,
            host: authority.host().to_string(),
            port: authority.port_u16().unwrap_or(if https { 443 } else { 80 }),
            path_and_query: uri
                .path_and_query()
                .map_or_else(|| "/".to_string(), |p| p.as_str().to_string()),
            userinfo,
        })
    }

    /// `Host` header value: the host, plus the port unless it is the scheme's default.
    pub fn host_header(&self) -> String {
        let default = if self.https { 443 } else { 80 };
        if self.port == default {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The absolute URI (for requests through an HTTP proxy).
    pub fn absolute(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}{}", self.host_header(), self.path_and_query)
    }
}

/// A forward proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxy {
    pub host: String,
    pub port: u16,
}

/// How to connect.
pub struct Connect<'a> {
    pub dns: &'a Arc<Dns>,
    /// Bounds the TCP connect, the proxy tunnel and the TLS handshake each.
    pub timeout: Duration,
    /// Used for `https` targets.
    pub tls: Arc<ClientConfig>,
    pub proxy: Option<&'a Proxy>,
}

/// A TLS client configuration that verifies servers against `roots` or not at all.
pub fn tls_config(verify: bool, roots: Arc<RootCertStore>) -> Result<Arc<ClientConfig>, String> {
    client_config(&UpstreamTls {
        verify,
        verify_depth: DEFAULT_VERIFY_DEPTH,
        roots,
        client_certificate: None,
        alpn_h2: false,
    })
}

async fn resolve(dns: &Arc<Dns>, host: &str, port: u16) -> Result<SocketAddr, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let ip = dns
        .host(bare)
        .pick()
        .await
        .map_err(|e| format!("{host}: {e}"))?;
    Ok(SocketAddr::new(ip, port))
}

async fn timed<T, E: std::fmt::Display>(
    timeout: Duration,
    what: &str,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(timeout, fut).await {
        Err(_) => Err(format!("{what}: timeout")),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Ok(Ok(v)) => Ok(v),
    }
}

/// Opens `CONNECT host:port` through an established proxy connection.
async fn tunnel(tcp: &mut TcpStream, target: &Target) -> std::io::Result<()> {
    let authority = format!("{}:{}", target.host, target.port);
    let request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n");
    tcp.write_all(request.as_bytes()).await?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    // Byte by byte: nothing after the proxy's head may be consumed (it is TLS).
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 || tcp.read(&mut byte).await? == 0 {
            return Err(std::io::Error::other("proxy closed the tunnel"));
        }
        head.push(byte[0]);
    }
    let status_ok = head
        .split(|b| *b == b' ')
        .nth(1)
        .is_some_and(|code| code.starts_with(b"2"));
    if status_ok {
        Ok(())
    } else {
        Err(std::io::Error::other("proxy refused the tunnel"))
    }
}

/// Connects to `target` (or to the proxy), with TLS for `https`.
pub async fn connect(target: &Target, how: &Connect<'_>) -> Result<Sender, String> {
    let (host, port) = match how.proxy {
        Some(p) => (p.host.as_str(), p.port),
        None => (target.host.as_str(), target.port),
    };
    let addr = timed(how.timeout, "resolve", resolve(how.dns, host, port)).await?;
    let mut tcp = timed(how.timeout, "connect", TcpStream::connect(addr)).await?;
    let _ = tcp.set_nodelay(true);
    if !target.https {
        return handshake(tcp).await;
    }
    if how.proxy.is_some() {
        timed(how.timeout, "proxy tunnel", tunnel(&mut tcp, target)).await?;
    }
    let name = server_name(&target.host).ok_or_else(|| format!("bad host {}", target.host))?;
    let connector = tokio_rustls::TlsConnector::from(how.tls.clone());
    let tls = timed(how.timeout, "tls handshake", connector.connect(name, tcp)).await?;
    handshake(tls).await
}

async fn handshake<S>(io: S) -> Result<Sender, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Sends `request` and reads the response body (at most `body_limit` bytes), the whole
/// exchange bounded by `timeout`.
pub async fn send(
    sender: &mut Sender,
    request: Request<Full<Bytes>>,
    timeout: Duration,
    body_limit: usize,
) -> Result<Response<Bytes>, String> {
    let exchange = async {
        sender
            .ready()
            .await
            .map_err(|e| format!("connection: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("request: {e}"))?;
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, body_limit)
            .collect()
            .await
            .map_err(|e| format!("response body: {e}"))?
            .to_bytes();
        Ok::<_, String>(Response::from_parts(parts, body))
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err("timeout".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_become_targets() {
        let t = Target::parse("https://user:p%40ss@logs.test/a/b?x=1").unwrap_or_else(|e| {
            panic!("{e}");
        });
        assert!(t.https);
        assert_eq!((t.host.as_str(), t.port), ("logs.test", 443));
        assert_eq!(t.path_and_query, "/a/b?x=1");
        assert_eq!(t.userinfo.as_deref(), Some("user:p@ss"));
        assert_eq!(t.host_header(), "logs.test");
        let t = Target::parse("http://127.0.0.1:9000").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.path_and_query, "/");
        assert_eq!(t.absolute(), "http://127.0.0.1:9000/");
        assert!(Target::parse("ftp://x").is_err());
    }
}
