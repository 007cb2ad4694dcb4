//! Behaviour catalogue §2.4–§2.6: Host, X-Forwarded-*, Via, hop-by-hop headers, Kong's
//! response headers and the `headers` setting.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use data_plane::runtime::ConfigSet;
use http::{Request, Response};
use http_body_util::Full;
use portico_tests::client::{self, get};
use portico_tests::entities::{route_hosts, route_paths, service};
use portico_tests::proxy::TestProxy;
use portico_tests::upstream::{Upstream, full};
use serde_json::Value;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

/// An echo upstream behind a route on host `headers.test` (and path `/prefix` stripped).
async fn setup(flags: &[&str]) -> (TestProxy, Upstream) {
    let upstream = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let by_host = route_hosts(Some(&svc), &["headers.test"]);
    let mut by_prefix = route_paths(Some(&svc), &["/prefix"]);
    by_prefix.hosts = Some(vec!["prefix.test".into()]);
    let config = ConfigSet {
        routes: vec![by_host, by_prefix],
        services: vec![svc],
        ..Default::default()
    };
    (TestProxy::start_with(config, flags).await, upstream)
}

async fn echo(proxy: &TestProxy, req: Request<Full<Bytes>>) -> (client::Resp, Value) {
    let resp = client::send(proxy.http, req).await.unwrap();
    assert_eq!(resp.status, 200, "{}", resp.text());
    let json = resp.json();
    (resp, json)
}

fn h<'a>(json: &'a Value, name: &str) -> &'a Value {
    &json["headers"][name]
}

#[tokio::test]
async fn untrusted_clients_get_kong_forwarded_headers() {
    let (proxy, _up) = setup(&[]).await;
    let port = proxy.http.port().to_string();
    let (_, json) = echo(
        &proxy,
        get("/some/path?x=1", "headers.test")
            .header("x-real-ip", "10.0.0.9")
            .header("x-forwarded-for", "10.0.0.1")
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "evil.test")
            .header("x-forwarded-port", "1")
            .header("x-forwarded-path", "/evil")
            .header("x-forwarded-prefix", "/evil")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(h(&json, "x-real-ip"), "127.0.0.1");
    assert_eq!(h(&json, "x-forwarded-for"), "10.0.0.1, 127.0.0.1");
    assert_eq!(h(&json, "x-forwarded-proto"), "http");
    assert_eq!(h(&json, "x-forwarded-host"), "headers.test");
    assert_eq!(h(&json, "x-forwarded-port"), port.as_str());
    assert_eq!(h(&json, "x-forwarded-path"), "/some/path");
    assert!(h(&json, "x-forwarded-prefix").is_null(), "{json}");
    assert_eq!(h(&json, "connection"), "keep-alive");
    assert_eq!(h(&json, "via"), format!("1.1 portico/{VERSION}").as_str());
    assert_eq!(h(&json, "x-kong-request-id").as_str().unwrap().len(), 32);
}

#[tokio::test]
async fn x_forwarded_for_is_set_and_prefix_follows_strip_path() {
    let (proxy, _up) = setup(&[]).await;
    let (_, json) = echo(&proxy, get("/", "headers.test").body(empty()).unwrap()).await;
    assert_eq!(h(&json, "x-forwarded-for"), "127.0.0.1");
    assert_eq!(h(&json, "x-forwarded-path"), "/");

    let (_, json) = echo(
        &proxy,
        get("/prefix/status/200", "prefix.test")
            .header("x-forwarded-prefix", "/client")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(h(&json, "x-forwarded-prefix"), "/prefix");
    assert_eq!(json["request_uri"], "/status/200");
}

#[tokio::test]
async fn trusted_clients_keep_their_forwarded_headers() {
    let (proxy, _up) = setup(&["--trusted-ips", "127.0.0.1"]).await;
    let (_, json) = echo(
        &proxy,
        get("/", "headers.test")
            .header("x-real-ip", "10.0.0.9")
            .header("x-forwarded-for", "10.0.0.1")
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "client.test")
            .header("x-forwarded-port", "14")
            .header("x-forwarded-path", "/client")
            .header("x-forwarded-prefix", "/pre")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(h(&json, "x-real-ip"), "10.0.0.9");
    assert_eq!(h(&json, "x-forwarded-for"), "10.0.0.1, 127.0.0.1");
    assert_eq!(h(&json, "x-forwarded-proto"), "https");
    assert_eq!(h(&json, "x-forwarded-host"), "client.test");
    assert_eq!(h(&json, "x-forwarded-port"), "14");
    assert_eq!(h(&json, "x-forwarded-path"), "/client");
    assert_eq!(h(&json, "x-forwarded-prefix"), "/pre");
}

#[tokio::test]
async fn recursive_real_ip_from_x_forwarded_for() {
    let (proxy, _up) = setup(&[
        "--trusted-ips",
        "127.0.0.1,172.16.0.1,192.168.0.1",
        "--real-ip-header",
        "X-Forwarded-For",
        "--real-ip-recursive",
        "on",
    ])
    .await;
    let (_, json) = echo(
        &proxy,
        get("/", "headers.test")
            .header(
                "x-forwarded-for",
                "127.0.0.1, 10.0.0.1, 192.168.0.1, 127.0.0.1, 172.16.0.1",
            )
            .header("x-forwarded-port", "14")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(h(&json, "x-real-ip"), "10.0.0.1");
    assert_eq!(
        h(&json, "x-forwarded-for"),
        "127.0.0.1, 10.0.0.1, 192.168.0.1, 127.0.0.1, 172.16.0.1, 127.0.0.1"
    );
    assert_eq!(h(&json, "x-forwarded-port"), "14");
}

#[tokio::test]
async fn port_maps_set_the_announced_port() {
    let upstream = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let config = ConfigSet {
        routes: vec![route_hosts(Some(&svc), &["headers.test"])],
        services: vec![svc],
        ..Default::default()
    };
    let port = portico_tests::process::free_port();
    let listen = format!("127.0.0.1:{port}");
    let maps = format!("80:{port}");
    let proxy =
        TestProxy::start_with(config, &["--proxy-listen", &listen, "--port-maps", &maps]).await;
    let (_, json) = echo(
        &proxy,
        get("/", "headers.test")
            .header("x-forwarded-port", "1")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(h(&json, "x-forwarded-port"), "80");
}

#[tokio::test]
async fn hop_by_hop_request_headers_are_removed() {
    let (proxy, _up) = setup(&[]).await;
    let (_, json) = echo(
        &proxy,
        get("/", "headers.test")
            .header("connection", "X-Foo, X-Bar")
            .header("x-foo", "1")
            .header("x-bar", "1")
            .header("keep-alive", "timeout=5")
            .header("proxy", "x")
            .header("proxy-connection", "close")
            .header("te", "trailers, deflate")
            .header("proxy-authenticate", "x")
            .header("proxy-authorization", "x")
            .header("close", "x")
            .header("x-foo-bar", "x")
            .body(empty())
            .unwrap(),
    )
    .await;
    for gone in [
        "x-foo",
        "x-bar",
        "keep-alive",
        "proxy",
        "proxy-connection",
        "upgrade",
    ] {
        assert!(h(&json, gone).is_null(), "{gone} forwarded: {json}");
    }
    assert_eq!(h(&json, "te"), "trailers");
    for kept in [
        "proxy-authenticate",
        "proxy-authorization",
        "close",
        "x-foo-bar",
    ] {
        assert_eq!(h(&json, kept), "x", "{kept} missing: {json}");
    }
}

#[tokio::test]
async fn via_is_appended_in_both_directions() {
    let (proxy, _up) = setup(&[]).await;
    let (resp, json) = echo(
        &proxy,
        get("/", "headers.test")
            .header("via", "1.1 dev")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        h(&json, "via"),
        format!("1.1 dev, 1.1 portico/{VERSION}").as_str()
    );
    assert_eq!(resp.header("via"), format!("1.1 portico/{VERSION}"));

    // Over HTTP/2 the inbound token is `2`.
    let req = Request::get(format!("http://headers.test:{}/", proxy.http.port()))
        .header("via", "1.1 dev")
        .body(empty())
        .unwrap();
    let resp = client::send_h2(proxy.http, req).await.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.json()["headers"]["via"],
        format!("1.1 dev, 2 portico/{VERSION}").as_str()
    );
}

/// An upstream answering with the given headers and status.
async fn custom_upstream(
    status: u16,
    headers: &'static [(&'static str, &'static str)],
) -> Upstream {
    Upstream::start(move |_req, _conn| async move {
        let mut resp = Response::new(full("custom"));
        *resp.status_mut() = http::StatusCode::from_u16(status).unwrap();
        for (k, v) in headers {
            resp.headers_mut().append(*k, v.parse().unwrap());
        }
        resp
    })
    .await
}

async fn proxy_to(upstream: &Upstream, flags: &[&str]) -> TestProxy {
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let config = ConfigSet {
        routes: vec![route_hosts(Some(&svc), &["custom.test"])],
        services: vec![svc],
        ..Default::default()
    };
    TestProxy::start_with(config, flags).await
}

#[tokio::test]
async fn upstream_via_and_server_are_kept_and_extended() {
    let upstream = custom_upstream(
        200,
        &[
            ("via", "2 nginx, HTTP/1.1 http_mock"),
            ("server", "mock-server/1"),
        ],
    )
    .await;
    let proxy = proxy_to(&upstream, &[]).await;
    let resp = client::send(proxy.http, get("/", "custom.test").body(empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(
        resp.header("via"),
        format!("2 nginx, HTTP/1.1 http_mock, 1.1 portico/{VERSION}")
    );
    assert_eq!(resp.header("server"), "mock-server/1");
    assert!(resp.headers.contains_key("x-kong-upstream-latency"));
    assert!(resp.headers.contains_key("x-kong-proxy-latency"));
    assert!(!resp.headers.contains_key("x-kong-response-latency"));
    assert!(!resp.headers.contains_key("x-kong-upstream-status"));
}

#[tokio::test]
async fn upstream_error_statuses_keep_proxied_latency_headers() {
    let upstream = custom_upstream(503, &[]).await;
    let proxy = proxy_to(&upstream, &[]).await;
    let resp = client::send(proxy.http, get("/", "custom.test").body(empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status, 503);
    assert_eq!(resp.text(), "custom");
    assert!(resp.headers.contains_key("x-kong-upstream-latency"));
    assert!(resp.headers.contains_key("x-kong-proxy-latency"));
    assert_eq!(resp.header("server"), format!("portico/{VERSION}"));
}

#[tokio::test]
async fn hop_by_hop_response_headers_are_removed() {
    let upstream = custom_upstream(
        200,
        &[
            ("keep-alive", "timeout=5"),
            ("trailer", "x-checksum"),
            ("upgrade", "h2c"),
            ("connection", "x-private"),
            ("x-private", "secret"),
            ("content-type", "text/plain"),
        ],
    )
    .await;
    let proxy = proxy_to(&upstream, &[]).await;
    let resp = client::send(proxy.http, get("/", "custom.test").body(empty()).unwrap())
        .await
        .unwrap();
    for gone in ["keep-alive", "trailer", "upgrade", "x-private"] {
        assert!(!resp.headers.contains_key(gone), "{gone} kept");
    }
    assert_eq!(
        resp.header("content-type"),
        "text/plain",
        "no charset added"
    );

    // A client asking for trailers keeps the Trailer header.
    let resp = client::send(
        proxy.http,
        get("/", "custom.test")
            .header("te", "trailers")
            .body(empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.header("trailer"), "x-checksum");
}

#[tokio::test]
async fn headers_off_adds_nothing() {
    let upstream = custom_upstream(200, &[("server", "mock-server/1")]).await;
    let proxy = proxy_to(&upstream, &["--headers", "off"]).await;
    let resp = client::send(proxy.http, get("/", "custom.test").body(empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.header("server"), "mock-server/1");
    for absent in [
        "via",
        "x-kong-upstream-latency",
        "x-kong-proxy-latency",
        "x-kong-request-id",
    ] {
        assert!(!resp.headers.contains_key(absent), "{absent}");
    }
    let resp = client::send(proxy.http, get("/", "nothing.test").body(empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status, 404);
    assert!(!resp.headers.contains_key("server"));
    assert!(!resp.headers.contains_key("x-kong-response-latency"));
}

#[tokio::test]
async fn headers_setting_selects_individual_headers() {
    let upstream = custom_upstream(200, &[]).await;

    let proxy = proxy_to(&upstream, &["--headers", "VIA, off"]).await;
    let resp = client::send(proxy.http, get("/", "custom.test").body(empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.header("via"), format!("1.1 portico/{VERSION}"));
    assert!(!resp.headers.contains_key("server"));
    assert!(!resp.headers.contains_key("x-kong-proxy-latency"));

    let proxy = proxy_to(&upstream, &["--headers", "Server"]).await;
    let resp = client::send(proxy.http, get("/", "nothing.test").body(empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.header("server"), format!("portico/{VERSION}"));
    assert!(!resp.headers.contains_key("via"));

    let proxy = proxy_to(&upstream, &["--headers", "X-Kong-Upstream-Latency"]).await;
    let resp = client::send(proxy.http, get("/", "custom.test").body(empty()).unwrap())
        .await
        .unwrap();
    assert!(resp.headers.contains_key("x-kong-upstream-latency"));
    assert!(!resp.headers.contains_key("x-kong-proxy-latency"));
    let resp = client::send(proxy.http, get("/", "nothing.test").body(empty()).unwrap())
        .await
        .unwrap();
    assert!(!resp.headers.contains_key("x-kong-response-latency"));
    assert!(!resp.headers.contains_key("x-kong-upstream-latency"));

    let proxy = proxy_to(&upstream, &["--headers", "X-Kong-Response-Latency"]).await;
    let resp = client::send(proxy.http, get("/", "custom.test").body(empty()).unwrap())
        .await
        .unwrap();
    assert!(!resp.headers.contains_key("x-kong-response-latency"));
    let resp = client::send(proxy.http, get("/", "nothing.test").body(empty()).unwrap())
        .await
        .unwrap();
    assert!(resp.headers.contains_key("x-kong-response-latency"));
}

#[tokio::test]
async fn upstream_status_header_when_enabled() {
    let upstream = custom_upstream(201, &[]).await;
    let proxy = proxy_to(
        &upstream,
        &[
            "--headers",
            "server_tokens,latency_tokens,x-kong-upstream-status",
        ],
    )
    .await;
    let resp = client::send(proxy.http, get("/", "custom.test").body(empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.header("x-kong-upstream-status"), "201");
}

#[tokio::test]
async fn preserve_host_and_service_host_headers() {
    let upstream = Upstream::echo().await;
    let port = upstream.port();
    let svc = service(&format!("http://127.0.0.1:{port}"));
    let plain = route_hosts(Some(&svc), &["plain.test"]);
    let mut preserved = route_paths(Some(&svc), &["/preserved"]);
    preserved.preserve_host = true;
    let config = ConfigSet {
        routes: vec![plain, preserved],
        services: vec![svc],
        ..Default::default()
    };
    let proxy = TestProxy::start(config).await;
    let (_, json) = echo(&proxy, get("/", "plain.test").body(empty()).unwrap()).await;
    assert_eq!(h(&json, "host"), format!("127.0.0.1:{port}").as_str());
    for host in ["preserved.com", "preserved.com:123", "preserved.com:80"] {
        let (_, json) = echo(&proxy, get("/preserved", host).body(empty()).unwrap()).await;
        assert_eq!(h(&json, "host"), host);
    }
}

#[tokio::test]
async fn debug_headers_only_when_allowed_and_asked() {
    let upstream = Upstream::echo().await;
    let mut svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    svc.name = Some("debug-svc".into());
    let mut r = route_hosts(Some(&svc), &["debug.test"]);
    r.name = Some("debug-route".into());
    let config = ConfigSet {
        routes: vec![r.clone()],
        services: vec![svc.clone()],
        ..Default::default()
    };
    let proxy = TestProxy::start(config.clone()).await;
    let req = || {
        get("/", "debug.test")
            .header("kong-debug", "1")
            .body(empty())
            .unwrap()
    };
    let resp = client::send(proxy.http, req()).await.unwrap();
    assert!(!resp.headers.contains_key("kong-route-id"));

    let proxy = TestProxy::start_with(config, &["--allow-debug-header", "on"]).await;
    let resp = client::send(proxy.http, req()).await.unwrap();
    assert_eq!(resp.header("kong-route-id"), r.id.to_string());
    assert_eq!(resp.header("kong-route-name"), "debug-route");
    assert_eq!(resp.header("kong-service-id"), svc.id.to_string());
    assert_eq!(resp.header("kong-service-name"), "debug-svc");
    let resp = client::send(proxy.http, get("/", "debug.test").body(empty()).unwrap())
        .await
        .unwrap();
    assert!(!resp.headers.contains_key("kong-route-id"));
}

#[tokio::test]
async fn request_id_matches_the_upstream_and_error_bodies() {
    let (proxy, _up) = setup(&[]).await;
    let (resp, json) = echo(&proxy, get("/", "headers.test").body(empty()).unwrap()).await;
    assert_eq!(
        resp.header("x-kong-request-id"),
        h(&json, "x-kong-request-id").as_str().unwrap()
    );
}
