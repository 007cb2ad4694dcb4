//! Behaviour catalogue §2.1: no route, no service, malformed requests, error bodies.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bytes::Bytes;
use data_plane::runtime::ConfigSet;
use http::Request;
use http_body_util::Full;
use portico_tests::client::{self, get, raw, raw_status};
use portico_tests::entities::{route_hosts, route_paths, service};
use portico_tests::proxy::TestProxy;
use portico_tests::upstream::Upstream;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

#[tokio::test]
async fn no_route_is_404_with_kong_message_and_server_header() {
    let proxy = TestProxy::start(ConfigSet::default()).await;
    let resp = client::send(
        proxy.http,
        get("/", "inexistent.com").body(empty()).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 404);
    assert_eq!(resp.json()["message"], "no Route matched with those values");
    assert_eq!(resp.header("server"), format!("portico/{VERSION}"));
    assert!(
        resp.headers.get("via").is_none(),
        "no Via on generated responses"
    );
    assert!(resp.headers.get("x-kong-response-latency").is_some());
    assert!(resp.headers.get("x-kong-upstream-latency").is_none());
    let request_id = resp.header("x-kong-request-id").to_string();
    assert_eq!(request_id.len(), 32);
    assert_eq!(resp.json()["request_id"], request_id.as_str());
}

#[tokio::test]
async fn route_without_service_is_503() {
    let config = ConfigSet {
        routes: vec![route_paths(None, &["/no-service"])],
        ..Default::default()
    };
    let proxy = TestProxy::start(config).await;
    let resp = client::send(
        proxy.http,
        get("/no-service", "x.test").body(empty()).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 503);
    assert_eq!(resp.json()["message"], "no Service found with those values");
}

#[tokio::test]
async fn routes_of_disabled_services_are_ignored() {
    let upstream = Upstream::echo().await;
    let mut disabled = service(&format!("http://127.0.0.1:{}", upstream.port()));
    disabled.enabled = false;
    let config = ConfigSet {
        routes: vec![route_paths(Some(&disabled), &["/disabled"])],
        services: vec![disabled],
        ..Default::default()
    };
    let proxy = TestProxy::start(config).await;
    let resp = client::send(
        proxy.http,
        get("/disabled", "x.test").body(empty()).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 404);
    assert_eq!(upstream.requests(), 0);
}

#[tokio::test]
async fn http10_without_host_is_routed_and_http11_without_host_is_400() {
    let upstream = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let config = ConfigSet {
        routes: vec![route_paths(Some(&svc), &["/get"])],
        services: vec![svc],
        ..Default::default()
    };
    let proxy = TestProxy::start(config).await;
    let ok = raw(
        proxy.http,
        b"GET /get HTTP/1.0\r\n\r\n",
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(raw_status(&ok), Some(200), "{ok}");
    let bad = raw(
        proxy.http,
        b"GET /get HTTP/1.1\r\n\r\n",
        Duration::from_millis(500),
    )
    .await
    .unwrap();
    assert_eq!(raw_status(&bad), Some(400), "{bad}");
    assert!(bad.contains("Bad request"), "{bad}");
    assert!(
        bad.to_ascii_lowercase()
            .contains(&format!("server: portico/{VERSION}")),
        "{bad}"
    );
}

#[tokio::test]
async fn malformed_requests_are_answered_and_the_proxy_keeps_serving() {
    let proxy = TestProxy::start(ConfigSet::default()).await;
    for garbage in [
        &b"NOT A REQUEST\r\n\r\n"[..],
        b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
        b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ] {
        let out = raw(proxy.http, garbage, Duration::from_millis(500))
            .await
            .unwrap();
        let status = raw_status(&out);
        assert!(
            status.is_none_or(|s| s >= 400),
            "{:?} -> {out}",
            String::from_utf8_lossy(garbage)
        );
    }
    let resp = client::send(proxy.http, get("/", "x.test").body(empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status, 404);
}

#[tokio::test]
async fn oversized_header_is_400_request_header_too_large() {
    let proxy = TestProxy::start(ConfigSet::default()).await;
    let req = Request::get("/")
        .header("host", "x.test")
        .header("x-big", "a".repeat(9000))
        .header("accept", "application/json")
        .body(empty())
        .unwrap();
    let resp = client::send(proxy.http, req).await.unwrap();
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json()["message"], "Request header or cookie too large");
}

#[tokio::test]
async fn overlong_uri_is_414() {
    let proxy = TestProxy::start(ConfigSet::default()).await;
    let path = format!("/{}", "a".repeat(9000));
    let resp = client::send(proxy.http, get(&path, "x.test").body(empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status, 414);
    assert!(resp.text().starts_with("URI too long"), "{}", resp.text());
}

/// A proxy whose only route points at a closed port, so requests end in 502.
async fn proxy_to_closed_port(flags: &[&str]) -> TestProxy {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut svc = service(&format!("http://127.0.0.1:{port}"));
    svc.retries = 0;
    let config = ConfigSet {
        routes: vec![route_hosts(Some(&svc), &["closed.test"])],
        services: vec![svc],
        ..Default::default()
    };
    TestProxy::start_with(config, flags).await
}

#[tokio::test]
async fn proxy_errors_negotiate_the_body_type() {
    let proxy = proxy_to_closed_port(&[]).await;
    let message = "An invalid response was received from the upstream server";
    let send = |accept: Option<&'static str>| {
        let mut b = get("/", "closed.test");
        if let Some(a) = accept {
            b = b.header("accept", a);
        }
        client::send(proxy.http, b.body(empty()).unwrap())
    };

    // No Accept: error_default_type (text/plain).
    let resp = send(None).await.unwrap();
    assert_eq!(resp.status, 502);
    let id = resp.header("x-kong-request-id").to_string();
    assert_eq!(resp.header("content-type"), "text/plain; charset=utf-8");
    assert_eq!(resp.text(), format!("{message}\nrequest_id: {id}\n"));
    // 502 while proxying still carries upstream and proxy latency (Kong's KONG_PROXIED).
    assert!(resp.headers.contains_key("x-kong-upstream-latency"));
    assert!(resp.headers.contains_key("x-kong-proxy-latency"));

    let resp = send(Some("application/json")).await.unwrap();
    let id = resp.header("x-kong-request-id").to_string();
    assert_eq!(resp.json()["message"], message);
    assert_eq!(resp.json()["request_id"], id.as_str());

    let resp = send(Some("text/html")).await.unwrap();
    assert!(
        resp.text().contains(&format!("<p>{message}.</p>")),
        "{}",
        resp.text()
    );
    assert!(resp.text().contains("request_id: "));

    let resp = send(Some("application/xml")).await.unwrap();
    let id = resp.header("x-kong-request-id").to_string();
    assert!(
        resp.text()
            .contains(&format!("<message>{message}</message>"))
    );
    assert!(
        resp.text()
            .contains(&format!("<requestid>{id}</requestid>"))
    );

    let resp = send(Some("application/json;q=0.9,text/html,text/plain;q=0.9"))
        .await
        .unwrap();
    assert!(resp.header("content-type").starts_with("text/html"));
    let resp = send(Some(
        "text/plain;q=0.7,application/json;q=0.8,text/html;q=0.5",
    ))
    .await
    .unwrap();
    assert!(resp.header("content-type").starts_with("application/json"));

    // HEAD: same status, no body.
    let resp = client::send(
        proxy.http,
        Request::head("/")
            .header("host", "closed.test")
            .body(empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 502);
    assert!(resp.body.is_empty());
}

#[tokio::test]
async fn error_default_type_setting_applies_without_accept() {
    let proxy = proxy_to_closed_port(&["--error-default-type", "application/json"]).await;
    let resp = client::send(proxy.http, get("/", "closed.test").body(empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status, 502);
    assert_eq!(
        resp.json()["message"],
        "An invalid response was received from the upstream server"
    );
}

/// Reads until the server closes the connection (true) or `deadline` passes (false).
async fn closed_within(stream: &mut tokio::net::TcpStream, deadline: Duration) -> (bool, String) {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let result = tokio::time::timeout(deadline, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    (result.is_ok(), String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test]
async fn slow_clients_are_timed_out() {
    use tokio::io::AsyncWriteExt;
    let upstream = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let config = ConfigSet {
        routes: vec![route_paths(Some(&svc), &["/"])],
        services: vec![svc],
        ..Default::default()
    };
    let proxy = TestProxy::start_with(
        config,
        &[
            "--nginx-http-client-header-timeout",
            "300ms",
            "--nginx-http-client-body-timeout",
            "300ms",
        ],
    )
    .await;

    // Headers that never finish: the connection is closed.
    let mut stream = tokio::net::TcpStream::connect(proxy.http).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: slow.test\r\n")
        .await
        .unwrap();
    let (closed, _) = closed_within(&mut stream, Duration::from_secs(10)).await;
    assert!(
        closed,
        "a client that never finishes its headers is disconnected"
    );

    // A body that stops arriving: 408 Request timeout.
    let mut stream = tokio::net::TcpStream::connect(proxy.http).await.unwrap();
    stream
        .write_all(b"POST / HTTP/1.1\r\nHost: slow.test\r\nContent-Length: 10\r\n\r\nabc")
        .await
        .unwrap();
    let (closed, response) = closed_within(&mut stream, Duration::from_secs(10)).await;
    assert!(closed || !response.is_empty());
    assert_eq!(raw_status(&response), Some(408), "{response}");
    assert!(response.contains("Request timeout"), "{response}");
    assert_eq!(upstream.requests(), 0);
}

#[tokio::test]
async fn conflicting_framing_cannot_smuggle_a_request() {
    let upstream = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let mut streamed = route_paths(Some(&svc), &["/"]);
    streamed.request_buffering = false;
    let config = ConfigSet {
        routes: vec![streamed],
        services: vec![svc],
        ..Default::default()
    };
    let proxy = TestProxy::start(config).await;
    // Content-Length says 4, chunked says empty: a proxy and an upstream that disagree
    // would see "GET /smuggled" as a second request.
    let out = raw(
        proxy.http,
        b"POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n\
          0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_millis(500),
    )
    .await
    .unwrap();
    assert!(!out.contains("/smuggled"), "{out}");
    assert_eq!(upstream.requests(), 1, "{out}");
    assert_eq!(raw_status(&out), Some(200), "{out}");
    let body = &out[out.find("\r\n\r\n").unwrap() + 4..];
    let json_start = body.find('{').unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&body[json_start..=body.rfind('}').unwrap()]).unwrap();
    assert_eq!(json["request_uri"], "/first");
    assert!(
        json["headers"]["content-length"].is_null() || json["headers"]["content-length"] == "0"
    );
}
