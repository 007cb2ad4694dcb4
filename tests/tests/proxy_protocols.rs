//! WebSocket upgrades (§2.5 #63), gRPC over HTTP/2 with trailers, unary and streaming
//! (§2.7 #77), and protocol translation between HTTP/2 clients and HTTP/1.1 upstreams.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bytes::Bytes;
use common::model::Protocol;
use data_plane::runtime::ConfigSet;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use portico_tests::client::{self, get};
use portico_tests::entities::{route_paths, service};
use portico_tests::proxy::TestProxy;
use portico_tests::upstream::{ChannelBody, Upstream, full, grpc_echo_handler};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

/// Upstream that accepts WebSocket upgrades and echoes raw bytes afterwards.
async fn websocket_upstream() -> Upstream {
    Upstream::start(
        |mut req: Request<hyper::body::Incoming>, _conn| async move {
            let seen = format!(
                "{}|{}",
                req.headers()
                    .get("connection")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or(""),
                req.headers()
                    .get("upgrade")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
            );
            let on_upgrade = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                if let Ok(upgraded) = on_upgrade.await {
                    let mut io = hyper_util::rt::TokioIo::new(upgraded);
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = io.read(&mut buf).await {
                        if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }
            });
            let mut resp = Response::new(full(Bytes::new()));
            *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            resp.headers_mut()
                .insert("upgrade", "websocket".parse().unwrap());
            resp.headers_mut()
                .insert("connection", "Upgrade".parse().unwrap());
            resp.headers_mut().insert("x-seen", seen.parse().unwrap());
            resp
        },
    )
    .await
}

#[tokio::test]
async fn websocket_upgrades_are_tunnelled() {
    let up = websocket_upstream().await;
    let svc = service(&format!("http://127.0.0.1:{}", up.port()));
    let config = ConfigSet {
        routes: vec![route_paths(Some(&svc), &["/ws"])],
        services: vec![svc],
        ..Default::default()
    };
    let proxy = TestProxy::start(config).await;
    let mut stream = tokio::net::TcpStream::connect(proxy.http).await.unwrap();
    stream
        .write_all(
            b"GET /ws HTTP/1.1\r\nHost: ws.test\r\nConnection: keep-alive, Upgrade\r\n\
              Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
              Sec-WebSocket-Version: 13\r\n\r\n",
        )
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            n,
            1,
            "closed before the response head: {}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    assert!(
        head.contains("x-seen: keep-alive, upgrade|websocket"),
        "the upstream saw both headers: {head}"
    );
    for message in [&b"hello"[..], b"second message"] {
        stream.write_all(message).await.unwrap();
        let mut buf = vec![0u8; message.len()];
        tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(buf, message);
    }
}

async fn grpc_proxy() -> (TestProxy, Upstream) {
    let up = Upstream::start(grpc_echo_handler).await;
    let svc = service(&format!("grpc://127.0.0.1:{}", up.port()));
    let mut r = route_paths(Some(&svc), &["/echo.Echo/"]);
    r.protocols = vec![Protocol::Grpc, Protocol::Grpcs];
    r.strip_path = false;
    let config = ConfigSet {
        routes: vec![r],
        services: vec![svc],
        ..Default::default()
    };
    (TestProxy::start(config).await, up)
}

#[tokio::test]
async fn grpc_unary_passes_data_and_trailers() {
    let (proxy, _up) = grpc_proxy().await;
    let req = Request::post(format!(
        "http://grpc.test:{}/echo.Echo/Say",
        proxy.http.port()
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers")
    .body(Full::new(Bytes::from_static(b"\0\0\0\0\x05hello")))
    .unwrap();
    let resp = client::send_h2(proxy.http, req).await.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(&resp.body[..], b"\0\0\0\0\x05hello");
    let trailers = resp.trailers.clone().expect("trailers");
    assert_eq!(trailers["grpc-status"], "0");
    assert_eq!(resp.header("x-request-te"), "trailers");
    assert_eq!(
        resp.header("x-authority"),
        format!("127.0.0.1:{}", _up.port())
    );
    assert_eq!(
        resp.header("via"),
        format!("2 portico/{}", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test]
async fn grpc_bidirectional_streaming_is_not_buffered() {
    let (proxy, _up) = grpc_proxy().await;
    let stream = tokio::net::TcpStream::connect(proxy.http).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let (tx, body) = ChannelBody::new();
    let req = Request::post(format!(
        "http://grpc.test:{}/echo.Echo/Chat",
        proxy.http.port()
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers")
    .body(body)
    .unwrap();
    tx.send(Bytes::from_static(b"one")).await.unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(10), sender.send_request(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    // Each message comes back before the next is sent: nothing waits for the whole body.
    for (i, next) in [&b"two"[..], b"three"].into_iter().enumerate() {
        let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let expected: &[&[u8]] = &[b"one", b"two"];
        assert_eq!(frame.into_data().unwrap(), expected[i]);
        tx.send(Bytes::copy_from_slice(next)).await.unwrap();
    }
    drop(tx);
    let rest = tokio::time::timeout(Duration::from_secs(10), body.collect())
        .await
        .unwrap()
        .unwrap();
    let trailers = rest.trailers().cloned().expect("trailers");
    assert_eq!(&rest.to_bytes()[..], b"three");
    assert_eq!(trailers["grpc-status"], "0");
}

#[tokio::test]
async fn grpc_routes_reject_http1_and_non_grpc_requests() {
    let (proxy, up) = grpc_proxy().await;
    let resp = client::send(
        proxy.http,
        Request::post("/echo.Echo/Say")
            .header("host", "grpc.test")
            .header("content-type", "application/grpc")
            .body(empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 426);
    assert_eq!(resp.json()["message"], "Please use HTTP2 protocol");
    assert_eq!(resp.header("upgrade"), "HTTP/2");

    let resp = client::send(
        proxy.http,
        get("/echo.Echo/Say", "grpc.test").body(empty()).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 415);
    assert_eq!(
        resp.json()["message"],
        "Non-gRPC request matched gRPC route"
    );
    assert_eq!(up.requests(), 0);
}

#[tokio::test]
async fn grpc_errors_use_grpc_status() {
    let proxy = TestProxy::start(ConfigSet::default()).await;
    let req = Request::post(format!(
        "http://grpc.test:{}/nothing.Here/X",
        proxy.http.port()
    ))
    .header("content-type", "application/grpc")
    .body(empty())
    .unwrap();
    let resp = client::send_h2(proxy.http, req).await.unwrap();
    assert_eq!(resp.status, 404);
    assert_eq!(resp.header("grpc-status"), "5");
    assert_eq!(
        resp.header("grpc-message"),
        "no Route matched with those values"
    );
}

#[tokio::test]
async fn http2_clients_reach_http11_upstreams() {
    let up = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", up.port()));
    let config = ConfigSet {
        routes: vec![route_paths(Some(&svc), &["/h2"])],
        services: vec![svc],
        ..Default::default()
    };
    let proxy = TestProxy::start(config).await;
    let req = Request::post(format!("http://h2.test:{}/h2/x?y=1", proxy.http.port()))
        .body(Full::new(Bytes::from_static(b"payload")))
        .unwrap();
    let resp = client::send_h2(proxy.http, req).await.unwrap();
    assert_eq!(resp.status, 200);
    let json = resp.json();
    assert_eq!(json["http_version"], "HTTP/1.1");
    assert_eq!(json["request_uri"], "/x?y=1");
    assert_eq!(json["body"], "payload");
    assert_eq!(json["headers"]["x-forwarded-host"], "h2.test");
}
