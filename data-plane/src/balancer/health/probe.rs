//! One active health probe, as lua-resty-healthcheck (3.1, the version Kong bundles) sends
//! it: connect (a `tcp` probe ends here), TLS for `https` (SNI `https_sni`, else the Host),
//! then `GET <http_path> HTTP/1.0` with the configured headers and `Host: <host>`, and read
//! the status line. Every step is bounded by `healthchecks.active.timeout`. A failed connect,
//! handshake, write or read counts as a TCP failure, a step that runs out of time as a
//! timeout, and a reply whose first line is not `HTTP/x.y NNN` as status 0 (unhealthy).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::config::{ActiveSettings, ProbeKind, ProbeResult};
use super::state::AddressState;
use crate::tls::client::server_name;

/// Longest status line read before giving up on the reply.
const MAX_STATUS_LINE: usize = 8192;

/// An address to probe.
pub struct ProbeTarget {
    pub addr: SocketAddr,
    /// The `Host` header (and default SNI): the upstream's `host_header`, else the target's
    /// host.
    pub host: String,
    pub state: Arc<AddressState>,
    /// `host:port` of the target, for logs.
    pub target: Arc<str>,
}

enum StepError {
    Timeout,
    Failed,
}

async fn step<T, E>(
    limit: Duration,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, StepError> {
    match tokio::time::timeout(limit, fut).await {
        Err(_) => Err(StepError::Timeout),
        Ok(Err(_)) => Err(StepError::Failed),
        Ok(Ok(v)) => Ok(v),
    }
}

fn failure(e: StepError) -> ProbeResult {
    match e {
        StepError::Timeout => ProbeResult::Timeout,
        StepError::Failed => ProbeResult::TcpFailure,
    }
}

pub async fn probe(
    target: &ProbeTarget,
    kind: ProbeKind,
    settings: &ActiveSettings,
    tls: Option<Arc<ClientConfig>>,
) -> ProbeResult {
    let limit = settings.timeout;
    let tcp = match step(limit, TcpStream::connect(target.addr)).await {
        Ok(s) => s,
        Err(e) => return failure(e),
    };
    match kind {
        ProbeKind::Tcp => ProbeResult::Connected,
        ProbeKind::Http => http_status(tcp, target, settings).await,
        ProbeKind::Https => {
            let Some(config) = tls else {
                return ProbeResult::TcpFailure;
            };
            let sni = settings.https_sni.as_deref().unwrap_or(&target.host);
            let name =
                server_name(sni).unwrap_or_else(|| ServerName::IpAddress(target.addr.ip().into()));
            let connector = tokio_rustls::TlsConnector::from(config);
            match tokio::time::timeout(limit, connector.connect(name, tcp)).await {
                Ok(Ok(stream)) => http_status(stream, target, settings).await,
                Ok(Err(e)) => {
                    tracing::warn!(address = %target.addr, sni, error = %e, "health check TLS handshake failed");
                    ProbeResult::TcpFailure
                }
                // The checker does not tell a slow handshake from a failed one.
                Err(_) => ProbeResult::TcpFailure,
            }
        }
    }
}

/// Sends the probe request on `stream` and parses the reply's status line.
async fn http_status<S>(
    mut stream: S,
    target: &ProbeTarget,
    settings: &ActiveSettings,
) -> ProbeResult
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let request = format!(
        "GET {} HTTP/1.0\r\n{}Host: {}\r\n\r\n",
        settings.http_path, settings.header_lines, target.host
    );
    if let Err(e) = step(settings.timeout, stream.write_all(request.as_bytes())).await {
        return failure(e);
    }
    let mut line = Vec::with_capacity(64);
    let mut buf = [0u8; 512];
    loop {
        let n = match step(settings.timeout, stream.read(&mut buf)).await {
            Ok(0) if line.is_empty() => return ProbeResult::TcpFailure,
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => return failure(e),
        };
        line.extend_from_slice(&buf[..n]);
        if line.contains(&b'\n') || line.len() >= MAX_STATUS_LINE {
            break;
        }
    }
    let end = line.iter().position(|&b| b == b'\n').unwrap_or(line.len());
    ProbeResult::Status(parse_status_line(&line[..end]))
}

/// The status of `HTTP/<d>.<d> <status>` (case-insensitive), else 0.
fn parse_status_line(line: &[u8]) -> u16 {
    let Some(rest) = line
        .get(..5)
        .filter(|p| p.eq_ignore_ascii_case(b"HTTP/"))
        .and_then(|_| line.get(5..))
    else {
        return 0;
    };
    let digits = |s: &[u8]| s.iter().take_while(|b| b.is_ascii_digit()).count();
    let major = digits(rest);
    if major == 0 || rest.get(major) != Some(&b'.') {
        return 0;
    }
    let rest = &rest[major + 1..];
    let minor = digits(rest);
    let rest = &rest[minor..];
    let spaces = rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
    if minor == 0 || spaces == 0 {
        return 0;
    }
    let rest = &rest[spaces..];
    let code = &rest[..digits(rest)];
    std::str::from_utf8(code)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_parse_like_the_checker() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK\r"), 200);
        assert_eq!(parse_status_line(b"http/1.0 503"), 503);
        assert_eq!(parse_status_line(b"HTTP/2.0   404 Not Found"), 404);
        assert_eq!(parse_status_line(b"SSH-2.0-OpenSSH"), 0);
        assert_eq!(parse_status_line(b"HTTP/1.1200 OK"), 0);
        assert_eq!(parse_status_line(b"HTTP/x.1 200"), 0);
        assert_eq!(parse_status_line(b""), 0);
    }
}
