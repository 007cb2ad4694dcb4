//! cors against the real data plane.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use data_plane::runtime::ConfigSet;
use http::Request;
use http_body_util::Full;
use portico_tests::client::{self, get};
use portico_tests::entities::{PluginScope, plugin, route_paths, service};
use portico_tests::proxy::{TestProxy, rejected};
use portico_tests::upstream::Upstream;
use serde_json::json;

fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

async fn send(proxy: &TestProxy, req: http::request::Builder) -> client::Resp {
    client::send(proxy.http, req.body(empty()).unwrap())
        .await
        .unwrap()
}

fn preflight(path: &str, origin: &str) -> http::request::Builder {
    Request::options(path)
        .header("host", "cors.test")
        .header("origin", origin)
        .header("access-control-request-method", "GET")
}

async fn setup() -> (TestProxy, Upstream) {
    let upstream = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let listed = route_paths(Some(&svc), &["/listed"]);
    let regex = route_paths(Some(&svc), &["/regex"]);
    let continued = route_paths(Some(&svc), &["/continue"]);
    let plain = route_paths(Some(&svc), &["/plain"]);
    let config = ConfigSet {
        plugins: vec![
            plugin("cors", json!({})),
            plugin(
                "cors",
                json!({
                    "origins": ["http://a.test", "https://b.test:8443"],
                    "headers": ["x-one", "x-two"],
                    "exposed_headers": ["x-exposed"],
                    "methods": ["GET", "POST"],
                    "max_age": 3600,
                    "credentials": true,
                }),
            )
            .on_route(&listed),
            plugin("cors", json!({"origins": [".*\\.example\\.test"]})).on_route(&regex),
            plugin("cors", json!({"preflight_continue": true})).on_route(&continued),
        ],
        routes: vec![listed, regex, continued, plain],
        services: vec![svc],
        ..Default::default()
    };
    (TestProxy::start(config).await, upstream)
}

#[tokio::test]
async fn preflights_are_answered_with_the_configured_headers() {
    let (proxy, upstream) = setup().await;
    let resp = send(&proxy, preflight("/listed", "http://a.test:80")).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("access-control-allow-origin"), "http://a.test");
    assert_eq!(resp.header("access-control-allow-headers"), "x-one,x-two");
    assert_eq!(resp.header("access-control-allow-methods"), "GET,POST");
    assert_eq!(resp.header("access-control-max-age"), "3600");
    assert_eq!(resp.header("access-control-allow-credentials"), "true");
    assert_eq!(resp.header("vary"), "Origin");
    // Not a listed origin: no Allow-Origin.
    let resp = send(&proxy, preflight("/listed", "http://evil.test")).await;
    assert_eq!(resp.status, 200);
    assert!(resp.headers.get("access-control-allow-origin").is_none());
    // The global instance: any origin, the requested headers echoed, all methods.
    let resp = send(
        &proxy,
        preflight("/plain", "http://x.test").header("access-control-request-headers", "x-asked"),
    )
    .await;
    assert_eq!(resp.header("access-control-allow-origin"), "*");
    assert_eq!(resp.header("access-control-allow-headers"), "x-asked");
    assert_eq!(
        resp.header("access-control-allow-methods"),
        "GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT"
    );
    assert_eq!(upstream.requests(), 0);
    // preflight_continue: the upstream answers, without CORS headers.
    let resp = send(&proxy, preflight("/continue", "http://x.test")).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["method"], "OPTIONS");
    assert!(resp.headers.get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn responses_get_cors_headers_for_allowed_origins() {
    let (proxy, _upstream) = setup().await;
    let resp = send(
        &proxy,
        get("/listed", "cors.test").header("origin", "https://b.test:8443"),
    )
    .await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("access-control-allow-origin"),
        "https://b.test:8443"
    );
    assert_eq!(resp.header("access-control-expose-headers"), "x-exposed");
    assert_eq!(resp.header("access-control-allow-credentials"), "true");
    let resp = send(
        &proxy,
        get("/regex", "cors.test").header("origin", "http://api.example.test"),
    )
    .await;
    assert_eq!(
        resp.header("access-control-allow-origin"),
        "http://api.example.test"
    );
    let resp = send(
        &proxy,
        get("/regex", "cors.test").header("origin", "http://example.org"),
    )
    .await;
    assert!(resp.headers.get("access-control-allow-origin").is_none());
}

#[test]
fn the_schema_rejects_bad_configs() {
    for (conf, message) in [
        (json!({"origins": ["(unclosed"]}), "is not a valid regex"),
        (json!({"methods": ["FETCH"]}), "expected one of"),
    ] {
        let config = ConfigSet {
            plugins: vec![plugin("cors", conf.clone())],
            ..Default::default()
        };
        let err = rejected(&config);
        assert!(err.contains(message), "{conf}: {err}");
    }
}
