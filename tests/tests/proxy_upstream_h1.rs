//! The proxy's HTTP/1.1 client on the wire (RFC 9112), against upstreams scripted byte
//! by byte: response framings (chunked with extensions and trailers, close-delimited,
//! HTTP/1.0, HEAD), informational heads, malformed responses (502), an upstream that
//! answers before reading the request body, bytes sent right after `101`, when a
//! connection may carry another request, idle connections the upstream closed, the
//! forwarded chain, when the read timeout starts, and how the proxy's own server relays
//! trailers and bodies of unknown length to HTTP/1.1 and HTTP/1.0 clients, and lets go
//! of clients that leave mid-response or stop reading.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use portico_tests::client::{self, get};
use portico_tests::entities::{one_host_route, service};
use portico_tests::proxy::TestProxy;
use portico_tests::upstream::Upstream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What a scripted upstream does after reading a request head.
struct Reply {
    bytes: Vec<u8>,
    /// Close the connection after writing.
    close: bool,
    /// Read (and count) the request body before answering.
    read_body: bool,
}

fn reply(bytes: impl Into<Vec<u8>>) -> Reply {
    Reply {
        bytes: bytes.into(),
        close: false,
        read_body: true,
    }
}

/// An upstream answering each request head on a connection with `script(path)`.
struct Scripted {
    port: u16,
    connections: Arc<AtomicUsize>,
    /// Connections the proxy closed (or the script did).
    closed: Arc<AtomicUsize>,
}

impl Scripted {
    async fn start(script: fn(&str) -> Reply) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let closed = Arc::new(AtomicUsize::new(0));
        let (opened, ended) = (connections.clone(), closed.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                opened.fetch_add(1, Ordering::SeqCst);
                let ended = ended.clone();
                tokio::spawn(async move {
                    serve(stream, script).await;
                    ended.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        Scripted {
            port,
            connections,
            closed,
        }
    }

    fn closed(&self) -> usize {
        self.closed.load(Ordering::SeqCst)
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

async fn serve(mut stream: TcpStream, script: fn(&str) -> Reply) {
    let mut buf = Vec::new();
    loop {
        let Some(end) = read_until_head_end(&mut stream, &mut buf).await else {
            return;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        buf.drain(..end);
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        let length: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap_or(0))
            })
            .unwrap_or(0);
        let reply = script(&path);
        if reply.read_body {
            while buf.len() < length {
                let mut chunk = [0u8; 65536];
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            buf.drain(..length);
        }
        if stream.write_all(&reply.bytes).await.is_err() {
            return;
        }
        if reply.close {
            return;
        }
        if !reply.read_body {
            // Hold the connection without reading: the proxy cannot finish the body.
            tokio::time::sleep(Duration::from_secs(30)).await;
            return;
        }
    }
}

/// Reads until `buf` holds a complete head; returns its length.
async fn read_until_head_end(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(pos + 4);
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

async fn proxy_to(up: &Scripted) -> TestProxy {
    let mut svc = service(&format!("http://127.0.0.1:{}", up.port));
    svc.retries = 0;
    let config = one_host_route(svc, "up.test");
    TestProxy::start(config).await
}

async fn fetch(proxy: &TestProxy, method: &str, path: &str) -> client::Resp {
    let req = get(path, "up.test")
        .method(method)
        .body(Full::new(Bytes::new()))
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), client::send(proxy.http, req))
        .await
        .expect("answered in time")
        .unwrap()
}

#[tokio::test]
async fn chunked_bodies_with_extensions_and_trailers_keep_the_connection() {
    let up = Scripted::start(|_| {
        reply(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
             5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n",
        )
    })
    .await;
    let proxy = proxy_to(&up).await;
    for _ in 0..3 {
        let resp = fetch(&proxy, "GET", "/").await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.text(), "hello world");
    }
    assert_eq!(up.connections(), 1, "the chunked body ended in step");
}

/// What the proxy answers `request` with, read until it closes the connection.
async fn raw_answer(proxy: &TestProxy, request: &str) -> String {
    let mut stream = TcpStream::connect(proxy.http).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out))
        .await
        .expect("the proxy closes the connection")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn clients_get_trailers_only_when_they_accept_them() {
    let up = Scripted::start(|_| {
        reply(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Trailer\r\n\r\n\
             5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n",
        )
    })
    .await;
    let proxy = proxy_to(&up).await;
    let with = raw_answer(
        &proxy,
        "GET / HTTP/1.1\r\nHost: up.test\r\nTE: trailers\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        with.ends_with("5\r\nhello\r\n0\r\nx-trailer: 1\r\n\r\n"),
        "{with}"
    );
    let without = raw_answer(
        &proxy,
        "GET / HTTP/1.1\r\nHost: up.test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(without.ends_with("5\r\nhello\r\n0\r\n\r\n"), "{without}");
}

#[tokio::test]
async fn bodies_of_unknown_length_are_chunked_for_http11_and_closed_for_http10() {
    let up = Scripted::start(|_| Reply {
        close: true,
        ..reply("HTTP/1.1 200 OK\r\n\r\nuntil the end")
    })
    .await;
    let proxy = proxy_to(&up).await;
    let http11 = raw_answer(
        &proxy,
        "GET / HTTP/1.1\r\nHost: up.test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        http11
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked\r\n"),
        "{http11}"
    );
    assert!(
        http11.ends_with("d\r\nuntil the end\r\n0\r\n\r\n"),
        "{http11}"
    );
    let http10 = raw_answer(&proxy, "GET / HTTP/1.0\r\nHost: up.test\r\n\r\n").await;
    let lower = http10.to_ascii_lowercase();
    assert!(
        !lower.contains("transfer-encoding") && !lower.contains("content-length"),
        "{http10}"
    );
    assert!(lower.contains("connection: close\r\n"), "{http10}");
    assert!(http10.ends_with("\r\n\r\nuntil the end"), "{http10}");
}

#[tokio::test]
async fn a_client_leaving_mid_response_releases_the_upstream() {
    // A body that stops after 3 of its 100 bytes: only the client's going can end it.
    let up = Scripted::start(|_| reply("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")).await;
    let proxy = proxy_to(&up).await;
    let mut stream = TcpStream::connect(proxy.http).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: up.test\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.ends_with(b"abc") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("the start of the body arrives")
            .unwrap();
        assert!(n > 0, "{}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    drop(stream);
    portico_tests::process::eventually(
        Duration::from_secs(10),
        "the proxy to close the upstream connection",
        || async { (up.closed() == 1).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_let_go_after_the_send_timeout() {
    let up = Scripted::start(|_| {
        let mut bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 33554432\r\n\r\n".to_vec();
        bytes.resize(bytes.len() + 32 * 1024 * 1024, b'a');
        reply(bytes)
    })
    .await;
    let mut svc = service(&format!("http://127.0.0.1:{}", up.port));
    svc.retries = 0;
    let config = one_host_route(svc, "up.test");
    let proxy = TestProxy::start_with(config, &["--nginx-http-send-timeout", "300ms"]).await;
    let mut stream = TcpStream::connect(proxy.http).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: up.test\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 1024];
    let n = stream.read(&mut head).await.unwrap();
    assert!(head[..n].starts_with(b"HTTP/1.1 200"));
    // Read no more, keep the connection: the proxy gives up on it and on the upstream.
    portico_tests::process::eventually(
        Duration::from_secs(10),
        "the proxy to give up on a client that reads nothing",
        || async { (up.closed() == 1).then_some(()) },
    )
    .await;
    drop(stream);
}

#[tokio::test]
async fn close_delimited_and_http10_responses_are_not_reused() {
    let up = Scripted::start(|path| match path {
        "/close" => Reply {
            close: true,
            ..reply("HTTP/1.1 200 OK\r\n\r\nuntil the end")
        },
        // No keep-alive in HTTP/1.0 unless asked for; this upstream would go on serving.
        _ => reply("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nold"),
    })
    .await;
    let proxy = proxy_to(&up).await;
    for _ in 0..2 {
        let resp = fetch(&proxy, "GET", "/close").await;
        assert_eq!(
            (resp.status.as_u16(), resp.text().as_str()),
            (200, "until the end")
        );
    }
    assert_eq!(up.connections(), 2);
    for _ in 0..2 {
        let resp = fetch(&proxy, "GET", "/old").await;
        assert_eq!((resp.status.as_u16(), resp.text().as_str()), (200, "old"));
    }
    assert_eq!(up.connections(), 4, "HTTP/1.0 connections are not pooled");
}

#[tokio::test]
async fn head_responses_have_no_body_and_informational_heads_are_skipped() {
    let up = Scripted::start(|path| match path {
        "/hints" => reply(
            "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n\
             HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        ),
        // A HEAD response announces a length it does not send.
        _ => reply("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"),
    })
    .await;
    let proxy = proxy_to(&up).await;
    let resp = fetch(&proxy, "HEAD", "/").await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-length"), "5");
    let resp = fetch(&proxy, "GET", "/hints").await;
    assert_eq!((resp.status.as_u16(), resp.text().as_str()), (200, "ok"));
    assert_eq!(
        up.connections(),
        1,
        "the HEAD response left the connection in step"
    );
}

#[tokio::test]
async fn malformed_upstream_responses_are_502_and_the_proxy_keeps_serving() {
    let up = Scripted::start(|path| match path {
        "/conflict" => {
            reply("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello")
        }
        "/garbage" => reply("SPDY/3 nonsense\r\n\r\n"),
        "/huge" => reply(format!(
            "HTTP/1.1 200 OK\r\n{}\r\n",
            "X-Filler: 0123456789012345678901234567890123456789\r\n".repeat(4000)
        )),
        "/closed" => Reply {
            close: true,
            ..reply("")
        },
        _ => reply("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
    })
    .await;
    let proxy = proxy_to(&up).await;
    for path in ["/conflict", "/garbage", "/huge", "/closed"] {
        let resp = fetch(&proxy, "GET", path).await;
        assert_eq!(resp.status, 502, "{path}: {}", resp.text());
    }
    let resp = fetch(&proxy, "GET", "/fine").await;
    assert_eq!((resp.status.as_u16(), resp.text().as_str()), (200, "ok"));
}

#[tokio::test]
async fn an_upstream_answering_before_reading_the_body_is_heard() {
    // Answers as soon as the head arrives and never reads the (streamed) body: writing
    // it blocks, and only watching the socket meanwhile finds the 413.
    let up = Scripted::start(|_| Reply {
        read_body: false,
        ..reply("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\n\r\nbig!")
    })
    .await;
    let proxy = proxy_to(&up).await;
    let body = Bytes::from(vec![b'x'; 32 * 1024 * 1024]);
    let req = Request::post("/")
        .header("host", "up.test")
        .body(Full::new(body))
        .unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(20), client::send(proxy.http, req))
        .await
        .expect("answered before any timeout")
        .unwrap();
    assert_eq!(resp.status, 413);
    assert_eq!(resp.text(), "big!");
}

#[tokio::test]
async fn bytes_sent_with_the_101_head_reach_the_client() {
    let up = Scripted::start(|_| Reply {
        close: false,
        read_body: true,
        bytes: b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\n\r\nfirst frame"
            .to_vec(),
    })
    .await;
    let proxy = proxy_to(&up).await;
    let mut stream = TcpStream::connect(proxy.http).await.unwrap();
    stream
        .write_all(
            b"GET /ws HTTP/1.1\r\nHost: up.test\r\nConnection: Upgrade\r\n\
              Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
              Sec-WebSocket-Version: 13\r\n\r\n",
        )
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut chunk = [0u8; 1024];
    while !seen.ends_with(b"first frame") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .expect("data in time")
            .unwrap();
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&seen).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 101"), "{text}");
}

#[tokio::test]
async fn a_connection_header_cannot_erase_the_forwarded_chain() {
    let up = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", up.port()));
    let config = one_host_route(svc, "up.test");
    let proxy = TestProxy::start(config).await;
    let req = get("/", "up.test")
        .header("x-forwarded-for", "10.0.0.9")
        .header("via", "1.1 edge")
        .header("connection", "X-Forwarded-For, Via")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = client::send(proxy.http, req).await.unwrap();
    let json = resp.json();
    assert_eq!(json["headers"]["x-forwarded-for"], "10.0.0.9, 127.0.0.1");
    let via = json["headers"]["via"].as_str().unwrap_or("");
    assert!(via.starts_with("1.1 edge, "), "{via}");
}

#[tokio::test]
async fn idle_connections_the_upstream_closed_are_let_go() {
    // `/close` is answered on the pooled connection, which the upstream then closes
    // without saying so: the proxy must close its socket too, not hold it until the
    // connection's key is used again.
    let up = Scripted::start(|path| match path {
        "/close" => Reply {
            close: true,
            ..reply("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        },
        _ => reply("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
    })
    .await;
    let mut svc = service(&format!("http://127.0.0.1:{}", up.port));
    svc.retries = 0;
    let config = one_host_route(svc, "up.test");
    // In process: the pool is looked at directly.
    let proxy = TestProxy::in_process(config, &[]).await;
    let pool = &proxy.node().shared().pool;
    let until = |want: usize| async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while pool.idle_count() != want {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} idle connections, not {want}",
                pool.idle_count()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    assert_eq!(fetch(&proxy, "GET", "/keep").await.status, 200);
    until(1).await;
    assert_eq!(fetch(&proxy, "GET", "/close").await.status, 200);
    assert_eq!(up.connections(), 1, "the pooled connection answered");
    until(0).await;
}

#[tokio::test]
async fn the_read_timeout_starts_once_the_request_is_written() {
    // An upstream that takes a while before it reads a large body (its receive buffer
    // kept small so the body cannot all wait in socket buffers), then answers at once:
    // the upload is still going when `read_timeout` has passed, and must not be cut.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(16).unwrap();
    let port = listener.local_addr().unwrap().port();
    const BODY: usize = 7 * 1024 * 1024;
    tokio::spawn(async move {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let mut buf = Vec::new();
        let Some(end) = read_until_head_end(&mut stream, &mut buf).await else {
            return;
        };
        let mut received = buf.len() - end;
        let mut chunk = vec![0u8; 65536];
        while received < BODY {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received += n,
            }
        }
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .await;
    });
    let mut svc = service(&format!("http://127.0.0.1:{port}"));
    svc.retries = 0;
    svc.read_timeout = 300;
    let config = one_host_route(svc, "up.test");
    let proxy = TestProxy::start(config).await;
    let req = Request::post("/")
        .header("host", "up.test")
        .body(Full::new(Bytes::from(vec![b'x'; BODY])))
        .unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(20), client::send(proxy.http, req))
        .await
        .expect("answered in time")
        .unwrap();
    assert_eq!((resp.status.as_u16(), resp.text().as_str()), (200, "ok"));
}
