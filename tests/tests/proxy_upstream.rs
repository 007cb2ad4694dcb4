//! Behaviour catalogue §2.1 (#6–#9) and §2.8 (#80): reaching the upstream — retries,
//! timeouts, DNS, balancing, keep-alive pooling, streaming and buffering of bodies.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use data_plane::runtime::ConfigSet;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use portico_tests::client::{self, get};
use portico_tests::entities::{
    one_host_route, route_hosts, route_paths, service, target, upstream,
};
use portico_tests::proxy::TestProxy;
use portico_tests::upstream::{Chunks, Upstream, full};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

async fn single_route(svc: common::model::Service) -> TestProxy {
    TestProxy::start(one_host_route(svc, "up.test")).await
}

async fn send(proxy: &TestProxy, path: &str) -> client::Resp {
    client::send(proxy.http, get(path, "up.test").body(empty()).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn retries_then_502_when_the_upstream_closes_connections() {
    // Accepts and immediately closes every connection.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    let mut svc = service(&format!("http://127.0.0.1:{port}"));
    svc.retries = 3;
    let proxy = single_route(svc).await;
    let resp = send(&proxy, "/").await;
    assert_eq!(resp.status, 502);
    assert_eq!(accepted.load(Ordering::SeqCst), 4, "1 try + 3 retries");
}

#[tokio::test]
async fn unresolvable_service_host_is_503() {
    let svc = service("http://does-not-exist.invalid:80");
    let proxy = single_route(svc).await;
    let resp = send(&proxy, "/").await;
    assert_eq!(resp.status, 503);
    assert_eq!(resp.json()["message"], "name resolution failed");
}

#[tokio::test]
async fn hostname_services_resolve() {
    let up = Upstream::echo().await;
    let svc = service(&format!("http://localhost:{}", up.port()));
    let proxy = single_route(svc).await;
    let resp = send(&proxy, "/").await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.json()["headers"]["host"],
        format!("localhost:{}", up.port()).as_str()
    );
}

#[tokio::test]
async fn upstreams_without_usable_targets_are_503() {
    let empty_up = upstream("empty.upstream");
    let zero_up = upstream("zero.upstream");
    let zero_target = target(&zero_up, "127.0.0.1:1", 0);
    let svc_empty = service("http://empty.upstream");
    let svc_zero = service("http://zero.upstream");
    let config = ConfigSet {
        routes: vec![
            route_paths(Some(&svc_empty), &["/empty"]),
            route_paths(Some(&svc_zero), &["/zero"]),
        ],
        services: vec![svc_empty, svc_zero],
        upstreams: vec![empty_up, zero_up],
        targets: vec![zero_target],
        ..Default::default()
    };
    let proxy = TestProxy::start(config).await;
    for path in ["/empty", "/zero"] {
        let resp = send(&proxy, path).await;
        assert_eq!(resp.status, 503, "{path}");
        assert_eq!(
            resp.json()["message"],
            "failure to get a peer from the ring-balancer"
        );
    }
}

/// Counts requests per upstream over `n` requests.
async fn distribution(proxy: &TestProxy, ups: &[&Upstream], n: usize) -> Vec<usize> {
    for _ in 0..n {
        let resp = send(proxy, "/").await;
        assert_eq!(resp.status, 200);
    }
    ups.iter().map(|u| u.requests()).collect()
}

#[tokio::test]
async fn round_robin_splits_exactly_by_weight() {
    let a = Upstream::echo().await;
    let b = Upstream::echo().await;
    let up = upstream("balanced.upstream");
    let mut config = ConfigSet {
        targets: vec![
            target(&up, &format!("127.0.0.1:{}", a.port()), 100),
            target(&up, &format!("127.0.0.1:{}", b.port()), 100),
        ],
        ..Default::default()
    };
    let svc = service("http://balanced.upstream");
    config.routes.push(route_hosts(Some(&svc), &["up.test"]));
    config.services.push(svc);
    config.upstreams.push(up.clone());
    let proxy = TestProxy::start(config.clone()).await;
    assert_eq!(distribution(&proxy, &[&a, &b], 20).await, vec![10, 10]);

    // 10/10/5 -> 40/40/20.
    let (a, b, c) = (
        Upstream::echo().await,
        Upstream::echo().await,
        Upstream::echo().await,
    );
    config.targets = vec![
        target(&up, &format!("127.0.0.1:{}", a.port()), 10),
        target(&up, &format!("127.0.0.1:{}", b.port()), 10),
        target(&up, &format!("127.0.0.1:{}", c.port()), 5),
    ];
    proxy.publish(config.clone()).await;
    assert_eq!(
        distribution(&proxy, &[&a, &b, &c], 50).await,
        vec![20, 20, 10]
    );

    // Weight 0: no traffic; weight back: traffic again.
    let (a, b) = (Upstream::echo().await, Upstream::echo().await);
    config.targets = vec![
        target(&up, &format!("127.0.0.1:{}", a.port()), 10),
        target(&up, &format!("127.0.0.1:{}", b.port()), 0),
    ];
    proxy.publish(config.clone()).await;
    assert_eq!(distribution(&proxy, &[&a, &b], 10).await, vec![10, 0]);
    config.targets[1].weight = 10;
    proxy.publish(config).await;
    let before = (a.requests(), b.requests());
    distribution(&proxy, &[&a, &b], 10).await;
    assert_eq!((a.requests() - before.0, b.requests() - before.1), (5, 5));
}

#[tokio::test]
async fn balancer_host_header_is_the_target_or_host_header() {
    let a = Upstream::echo().await;
    let mut up = upstream("hosted.upstream");
    let t = target(&up, &format!("127.0.0.1:{}", a.port()), 100);
    let svc = service("http://hosted.upstream");
    let mut config = ConfigSet {
        routes: vec![route_hosts(Some(&svc), &["up.test"])],
        services: vec![svc],
        upstreams: vec![up.clone()],
        targets: vec![t],
        ..Default::default()
    };
    let proxy = TestProxy::start(config.clone()).await;
    let resp = send(&proxy, "/").await;
    assert_eq!(
        resp.json()["headers"]["host"],
        format!("127.0.0.1:{}", a.port()).as_str()
    );
    up.host_header = Some("foo.com".into());
    config.upstreams = vec![up];
    proxy.publish(config).await;
    let resp = send(&proxy, "/").await;
    assert_eq!(
        resp.json()["headers"]["host"],
        format!("foo.com:{}", a.port()).as_str()
    );
}

#[tokio::test]
async fn keepalive_connections_are_reused() {
    let up = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", up.port()));
    let proxy = single_route(svc).await;
    for _ in 0..10 {
        assert_eq!(send(&proxy, "/").await.status, 200);
    }
    assert_eq!(up.requests(), 10);
    assert_eq!(
        up.connections(),
        1,
        "one pooled connection serves all requests"
    );
}

#[tokio::test]
async fn idle_connections_closed_by_the_upstream_are_replaced() {
    // Serves one request per connection and closes it right after replying, without
    // announcing it (no `Connection: close`), like an upstream whose keep-alive timeout
    // expired: the proxy pools the connection and finds it dead on reuse.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none")
                    .await;
            });
        }
    });
    let mut svc = service(&format!("http://127.0.0.1:{port}"));
    svc.retries = 0;
    let proxy = single_route(svc).await;
    for _ in 0..5 {
        let resp = send(&proxy, "/").await;
        assert_eq!(resp.status, 200, "{}", resp.text());
    }
    assert_eq!(connections.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn read_timeout_is_504_and_every_try_times_out() {
    let up = Upstream::echo().await;
    let mut svc = service(&format!("http://127.0.0.1:{}", up.port()));
    svc.read_timeout = 100;
    svc.retries = 1;
    let proxy = single_route(svc).await;
    let resp = send(&proxy, "/delay/2000").await;
    assert_eq!(resp.status, 504);
    assert!(resp.text().starts_with("The upstream server is timing out"));
    assert_eq!(up.requests(), 2, "the timed-out GET is retried once");
    // A fast request on the same service still works.
    assert_eq!(send(&proxy, "/").await.status, 200);
}

#[tokio::test]
async fn connect_timeout_is_504() {
    // A listener whose accept queue is full drops further SYNs, so connects hang.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..8 {
        if let Ok(Ok(s)) = tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            fillers.push(s);
        }
    }
    let mut svc = service(&format!("http://127.0.0.1:{}", addr.port()));
    svc.connect_timeout = 100;
    svc.retries = 0;
    let proxy = single_route(svc).await;
    let resp = send(&proxy, "/").await;
    assert_eq!(resp.status, 504, "{}", resp.text());
    drop(listener);
}

#[tokio::test]
async fn write_timeout_is_504_when_the_upstream_does_not_read() {
    // Accepts connections and never reads from them.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            keep.lock().await.push(stream);
        }
    });
    let mut svc = service(&format!("http://127.0.0.1:{port}"));
    svc.write_timeout = 200;
    svc.retries = 0;
    let proxy = single_route(svc).await;
    let body = Bytes::from(vec![b'x'; 32 * 1024 * 1024]);
    let req = Request::post("/")
        .header("host", "up.test")
        .body(Full::new(body))
        .unwrap();
    let resp = client::send(proxy.http, req).await.unwrap();
    assert_eq!(resp.status, 504);
}

/// An upstream that reports how much body it received and whether it was chunked.
async fn body_inspector() -> Upstream {
    Upstream::start(|req, _conn| async move {
        let chunked = req.headers().contains_key("transfer-encoding");
        let length = req
            .headers()
            .get("content-length")
            .map(|v| v.to_str().unwrap_or("").to_string());
        let size = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes().len())
            .unwrap_or(0);
        Response::new(full(
            serde_json::json!({"size": size, "chunked": chunked, "content_length": length})
                .to_string(),
        ))
    })
    .await
}

async fn post_stream(proxy: &TestProxy, host: &str, total: usize) -> serde_json::Value {
    let stream = tokio::net::TcpStream::connect(proxy.http).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = Request::post("/")
        .header("host", host)
        .body(Chunks::new(total, 64 * 1024))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn request_buffering_sends_a_length_and_unbuffered_routes_stream() {
    let up = body_inspector().await;
    let svc = service(&format!("http://127.0.0.1:{}", up.port()));
    let buffered = route_hosts(Some(&svc), &["buffered.test"]);
    let mut streamed = route_hosts(Some(&svc), &["streamed.test"]);
    streamed.request_buffering = false;
    let config = ConfigSet {
        routes: vec![buffered, streamed],
        services: vec![svc],
        ..Default::default()
    };
    let proxy = TestProxy::start(config).await;
    let json = post_stream(&proxy, "buffered.test", 1_000_000).await;
    assert_eq!(json["size"], 1_000_000);
    assert_eq!(json["content_length"], "1000000");
    assert_eq!(json["chunked"], false);
    let json = post_stream(&proxy, "streamed.test", 1_000_000).await;
    assert_eq!(json["size"], 1_000_000);
    assert_eq!(json["chunked"], true);
    // Larger than the buffering limit: streamed even with buffering on.
    let json = post_stream(&proxy, "buffered.test", 20 * 1024 * 1024).await;
    assert_eq!(json["size"], 20 * 1024 * 1024);
}

#[tokio::test]
async fn large_responses_stream_through() {
    const SIZE: usize = 64 * 1024 * 1024;
    let up = Upstream::start(|_req, _conn| async move {
        let body = Chunks::new(SIZE, 256 * 1024)
            .map_err(|never| match never {})
            .boxed();
        Response::new(body)
    })
    .await;
    let svc = service(&format!("http://127.0.0.1:{}", up.port()));
    let proxy = single_route(svc).await;
    let stream = tokio::net::TcpStream::connect(proxy.http).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let resp = sender
        .send_request(get("/", "up.test").body(empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["transfer-encoding"], "chunked");
    let mut body = resp.into_body();
    let mut total = 0;
    while let Some(frame) = body.frame().await {
        total += frame.unwrap().into_data().map(|d| d.len()).unwrap_or(0);
    }
    assert_eq!(total, SIZE);
}

#[tokio::test]
async fn an_upstream_reset_mid_body_does_not_hurt_the_proxy() {
    // Announces 1000 bytes, sends 10, then closes.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")
                    .await;
            });
        }
    });
    let svc = service(&format!("http://127.0.0.1:{port}"));
    let proxy = single_route(svc).await;
    let result = client::send(proxy.http, get("/", "up.test").body(empty()).unwrap()).await;
    assert!(result.is_err(), "a truncated body must not look complete");
    // The proxy still serves.
    let resp = client::send(proxy.http, get("/", "nothing.test").body(empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status, 404);
}

#[tokio::test]
async fn upstream_statuses_and_bodies_pass_through() {
    let up = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", up.port()));
    let proxy = single_route(svc).await;
    let mut seen = HashMap::new();
    for code in [200, 201, 204, 301, 400, 404, 500, 503] {
        let resp = send(&proxy, &format!("/status/{code}")).await;
        seen.insert(code, resp.status.as_u16());
    }
    assert!(seen.iter().all(|(k, v)| k == v), "{seen:?}");
}
