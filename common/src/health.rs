//! The `health` commands of both binaries: ask a running node over its own HTTP listener
//! whether it is healthy, and turn the answer into an exit code.
//!
//! Container images ship no shell and no HTTP client, so Docker `HEALTHCHECK`s and
//! Kubernetes `exec` probes run the binary itself (`portico-dp health`,
//! `portico-cp health`). The probe speaks plain HTTP/1.0 to our own servers (hyper and axum
//! both answer it with a close-delimited or sized body), which keeps it to the standard
//! library: no async runtime is started for one request.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Largest response read; the status endpoints answer a few hundred bytes.
const MAX_RESPONSE: u64 = 64 * 1024;

/// Why a probe got no HTTP answer.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot connect to {addr}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("no answer from {addr}")]
    Io {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{addr} did not answer with HTTP")]
    NotHttp { addr: SocketAddr },
}

/// An HTTP answer: status code and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResponse {
    pub status: u16,
    pub body: String,
}

/// The address to dial for a listener bound to `listen`: a wildcard bind (`0.0.0.0`,
/// `[::]`) is reached on the loopback address of the same family.
pub fn dial_address(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// `GET path` on the listener bound to `listen`, with extra request `headers`, within
/// `timeout` overall.
pub fn get(
    listen: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> Result<ProbeResponse, ProbeError> {
    let addr = dial_address(listen);
    let deadline = Instant::now() + timeout;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|source| ProbeError::Connect { addr, source })?;
    let io = |source| ProbeError::Io { addr, source };
    let remaining = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    stream.set_read_timeout(Some(remaining)).map_err(io)?;
    stream.set_write_timeout(Some(remaining)).map_err(io)?;
    let mut request =
        format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: application/json\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).map_err(io)?;
    let mut raw = Vec::new();
    stream
        .take(MAX_RESPONSE)
        .read_to_end(&mut raw)
        .map_err(io)?;
    parse_response(&raw).ok_or(ProbeError::NotHttp { addr })
}

/// Status line and body of an HTTP/1.x response read to its end.
fn parse_response(raw: &[u8]) -> Option<ProbeResponse> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status_line = head.lines().next()?;
    let mut parts = status_line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let status = parts.next()?.parse().ok()?;
    Some(ProbeResponse {
        status,
        body: body.to_string(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn wildcard_binds_are_dialed_on_loopback() {
        let v4: SocketAddr = "0.0.0.0:8100".parse().unwrap();
        assert_eq!(dial_address(v4).to_string(), "127.0.0.1:8100");
        let v6: SocketAddr = "[::]:8001".parse().unwrap();
        assert_eq!(dial_address(v6).to_string(), "[::1]:8001");
        let exact: SocketAddr = "10.1.2.3:1".parse().unwrap();
        assert_eq!(dial_address(exact), exact);
    }

    #[test]
    fn responses_are_parsed_and_garbage_is_refused() {
        let ok = parse_response(b"HTTP/1.0 503 Service Unavailable\r\nA: b\r\n\r\n{\"x\":1}");
        assert_eq!(
            ok,
            Some(ProbeResponse {
                status: 503,
                body: "{\"x\":1}".into()
            })
        );
        assert_eq!(parse_response(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(parse_response(b""), None);
    }

    #[test]
    fn get_sends_headers_and_reads_the_answer() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = conn.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
            }
            let _ = conn.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
            String::from_utf8_lossy(&request).into_owned()
        });
        let resp = get(addr, "/status", &[("X-Token", "t")], Duration::from_secs(5)).unwrap();
        assert_eq!((resp.status, resp.body.as_str()), (200, "ok"));
        let request = server.join().unwrap();
        assert!(request.starts_with("GET /status HTTP/1.0\r\n"), "{request}");
        assert!(request.contains("X-Token: t\r\n"), "{request}");
    }

    #[test]
    fn a_closed_port_is_a_connect_error() {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap();
        let err = get(port, "/", &[], Duration::from_secs(2)).expect_err("nothing listens");
        assert!(matches!(err, ProbeError::Connect { .. }), "{err}");
    }
}
