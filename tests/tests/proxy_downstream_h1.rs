//! The proxy's own HTTP/1.x server on the wire (RFC 9112), with raw client sockets:
//! pipelined requests answered in order, `Expect: 100-continue`, HTTP/1.0 keep-alive,
//! a request body the request path did not read skipped to reach the next request, and
//! heads too large for the server answered as nginx answers them.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use data_plane::runtime::ConfigSet;
use portico_tests::client::{raw, raw_status};
use portico_tests::entities::{route_paths, service};
use portico_tests::proxy::TestProxy;
use portico_tests::upstream::Upstream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn echo_proxy() -> (TestProxy, Upstream) {
    let upstream = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let config = ConfigSet {
        routes: vec![route_paths(Some(&svc), &["/echo"])],
        services: vec![svc],
        ..Default::default()
    };
    (TestProxy::start(config).await, upstream)
}

/// Reads from `stream` until `done(what was read)` or 10 s pass.
async fn read_until(stream: &mut TcpStream, done: impl Fn(&str) -> bool) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while !done(&String::from_utf8_lossy(&out)) {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    String::from_utf8_lossy(&out).into_owned()
}

fn responses(text: &str) -> usize {
    text.matches("HTTP/1.1 ").count()
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let (proxy, upstream) = echo_proxy().await;
    let mut stream = TcpStream::connect(proxy.http).await.unwrap();
    stream
        .write_all(
            b"GET /echo/first HTTP/1.1\r\nHost: p.test\r\n\r\n\
              GET /echo/second HTTP/1.1\r\nHost: p.test\r\n\r\n\
              GET /echo/third HTTP/1.1\r\nHost: p.test\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let out = read_until(&mut stream, |t| {
        responses(t) == 3 && t.contains("/echo/third\"")
    })
    .await;
    let first = out.find("/echo/first").unwrap();
    let second = out.find("/echo/second").unwrap();
    let third = out.find("/echo/third").unwrap();
    assert!(first < second && second < third, "{out}");
    assert_eq!(upstream.requests(), 3);
}

#[tokio::test]
async fn expect_100_continue_is_answered_before_the_body_is_sent() {
    let (proxy, _upstream) = echo_proxy().await;
    let mut stream = TcpStream::connect(proxy.http).await.unwrap();
    stream
        .write_all(
            b"POST /echo HTTP/1.1\r\nHost: p.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
        )
        .await
        .unwrap();
    let interim = read_until(&mut stream, |t| t.contains("\r\n\r\n")).await;
    assert!(
        interim.starts_with("HTTP/1.1 100 Continue\r\n\r\n"),
        "{interim}"
    );
    stream.write_all(b"hello").await.unwrap();
    let out = read_until(&mut stream, |t| t.contains("\"hello\"")).await;
    assert_eq!(raw_status(&out), Some(200), "{out}");
}

#[tokio::test]
async fn http10_clients_asking_for_keep_alive_keep_the_connection() {
    let (proxy, upstream) = echo_proxy().await;
    let mut stream = TcpStream::connect(proxy.http).await.unwrap();
    stream
        .write_all(b"GET /echo/a HTTP/1.0\r\nHost: p.test\r\nConnection: keep-alive\r\n\r\n")
        .await
        .unwrap();
    let first = read_until(&mut stream, |t| t.contains("/echo/a\"")).await;
    assert!(
        first
            .to_ascii_lowercase()
            .contains("connection: keep-alive\r\n"),
        "{first}"
    );
    stream
        .write_all(b"GET /echo/b HTTP/1.0\r\nHost: p.test\r\n\r\n")
        .await
        .unwrap();
    // Without keep-alive, the second answer ends with the connection.
    let second = read_until(&mut stream, |_| false).await;
    assert!(second.contains("/echo/b"), "{second}");
    assert_eq!(upstream.requests(), 2);
}

#[tokio::test]
async fn an_unread_request_body_is_skipped_to_reach_the_next_request() {
    let (proxy, upstream) = echo_proxy().await;
    let mut stream = TcpStream::connect(proxy.http).await.unwrap();
    // No route: the body is never read, yet the connection carries the next request.
    stream
        .write_all(
            b"POST /nowhere HTTP/1.1\r\nHost: p.test\r\nContent-Length: 11\r\n\r\nhello world\
              POST /nowhere HTTP/1.1\r\nHost: p.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n\
              GET /echo/after HTTP/1.1\r\nHost: p.test\r\n\r\n",
        )
        .await
        .unwrap();
    let out = read_until(&mut stream, |t| t.contains("/echo/after\"")).await;
    assert_eq!(responses(&out), 3, "{out}");
    assert_eq!(out.matches("HTTP/1.1 404").count(), 2, "{out}");
    assert_eq!(upstream.requests(), 1);
}

#[tokio::test]
async fn chunked_framing_must_use_crlf_and_content_length_must_be_single() {
    let (proxy, upstream) = echo_proxy().await;
    // A body ended by a bare LF here but not by the next hop would hide a request.
    let smuggling = b"POST /echo HTTP/1.1\r\nHost: p.test\r\nTransfer-Encoding: chunked\r\n\r\n\
        3\r\nabc\r\n0\r\n\nGET /echo/smuggled HTTP/1.1\r\nHost: p.test\r\n\r\n";
    let out = raw(proxy.http, smuggling, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(raw_status(&out), Some(400), "{out}");
    assert!(!out.contains("/echo/smuggled"), "{out}");
    // As nginx: a duplicate Content-Length, even an equal one, is 400.
    for twice in [
        &b"POST /echo HTTP/1.1\r\nHost: p.test\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc"[..],
        b"POST /echo HTTP/1.1\r\nHost: p.test\r\nContent-Length: 3, 3\r\n\r\nabc",
    ] {
        let out = raw(proxy.http, twice, Duration::from_secs(2)).await.unwrap();
        assert_eq!(raw_status(&out), Some(400), "{out}");
    }
    assert_eq!(upstream.requests(), 0);
}

#[tokio::test]
async fn heads_beyond_the_servers_buffer_get_nginxs_answers() {
    let (proxy, _upstream) = echo_proxy().await;
    let huge_field = format!(
        "GET /echo HTTP/1.1\r\nHost: p.test\r\nAccept: application/json\r\nX-Big: {}\r\n\r\n",
        "a".repeat(70_000)
    );
    let out = raw(proxy.http, huge_field.as_bytes(), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        raw_status(&out),
        Some(400),
        "{}",
        &out[..out.len().min(300)]
    );
    assert!(out.contains("Request header or cookie too large"), "{out}");
    let huge_line = format!(
        "GET /{} HTTP/1.1\r\nHost: p.test\r\n\r\n",
        "a".repeat(70_000)
    );
    let out = raw(proxy.http, huge_line.as_bytes(), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        raw_status(&out),
        Some(414),
        "{}",
        &out[..out.len().min(300)]
    );
    let out = raw(
        proxy.http,
        b"GET / HTTP/2.5\r\nHost: p.test\r\n\r\n",
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(raw_status(&out), Some(505), "{out}");
}
