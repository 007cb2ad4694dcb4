//! request-size-limiting, request-termination and correlation-id against the real data
//! plane.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use data_plane::runtime::ConfigSet;
use http::Request;
use http_body_util::Full;
use portico_tests::client::{self, get};
use portico_tests::entities::{PluginScope, plugin, route_paths, service};
use portico_tests::proxy::{TestProxy, rejected};
use portico_tests::upstream::Upstream;
use serde_json::{Value, json};

fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

async fn setup(name: &str, cases: &[(&str, Value)]) -> (TestProxy, Upstream) {
    let upstream = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let mut config = ConfigSet::default();
    for (path, conf) in cases {
        let route = route_paths(Some(&svc), &[path]);
        config
            .plugins
            .push(plugin(name, conf.clone()).on_route(&route));
        config.routes.push(route);
    }
    config.services.push(svc);
    (TestProxy::start(config).await, upstream)
}

fn post(path: &str, body: &'static str) -> Request<Full<Bytes>> {
    Request::post(path)
        .header("host", "r.test")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

fn assert_rejected(name: &str, cases: &[(Value, &str)]) {
    for (conf, message) in cases {
        let config = ConfigSet {
            plugins: vec![plugin(name, conf.clone())],
            ..Default::default()
        };
        let err = rejected(&config);
        assert!(err.contains(message), "{name} {conf}: {err}");
    }
}

#[tokio::test]
async fn request_size_limiting_refuses_large_bodies() {
    let (proxy, upstream) = setup(
        "request-size-limiting",
        &[
            (
                "/small",
                json!({"allowed_payload_size": 10, "size_unit": "bytes"}),
            ),
            (
                "/strict",
                json!({"allowed_payload_size": 1, "require_content_length": true}),
            ),
        ],
    )
    .await;
    let resp = client::send(proxy.http, post("/small", "0123456789"))
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    let resp = client::send(proxy.http, post("/small", "0123456789a"))
        .await
        .unwrap();
    assert_eq!(resp.status, 413);
    assert_eq!(resp.json()["message"], "Request size limit exceeded");
    let mut expecting = post("/small", "0123456789ab");
    expecting
        .headers_mut()
        .insert("expect", "100-continue".parse().unwrap());
    let resp = client::send(proxy.http, expecting).await.unwrap();
    assert_eq!(resp.status, 417);
    // No body and no Content-Length: 411 when required.
    let resp = client::send(
        proxy.http,
        Request::get("/strict")
            .header("host", "r.test")
            .body(empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 411);
    assert_eq!(
        resp.json()["message"],
        "A valid Content-Length header is required"
    );
    assert_eq!(upstream.requests(), 1);
}

#[tokio::test]
async fn request_termination_answers_instead_of_the_upstream() {
    let (proxy, upstream) = setup(
        "request-termination",
        &[
            ("/default", json!({})),
            ("/custom", json!({"status_code": 418, "message": "teapot"})),
            (
                "/body",
                json!({"status_code": 200, "body": "<p>hi</p>", "content_type": "text/html"}),
            ),
            ("/trigger", json!({"status_code": 403, "trigger": "x-stop"})),
            ("/echo", json!({"status_code": 404, "echo": true})),
        ],
    )
    .await;
    let send = |req: http::request::Builder| {
        let addr = proxy.http;
        async move {
            client::send(addr, req.body(empty()).unwrap())
                .await
                .unwrap()
        }
    };
    let resp = send(get("/default", "r.test")).await;
    assert_eq!(resp.status, 503);
    assert_eq!(resp.json(), json!({"message": "Service unavailable"}));
    let resp = send(get("/custom", "r.test")).await;
    assert_eq!(resp.status, 418);
    assert_eq!(resp.json(), json!({"message": "teapot"}));
    let resp = send(get("/body", "r.test")).await;
    assert_eq!(resp.text(), "<p>hi</p>");
    assert_eq!(resp.header("content-type"), "text/html");
    assert_eq!(send(get("/trigger", "r.test")).await.status, 200);
    assert_eq!(
        send(get("/trigger", "r.test").header("x-stop", "1"))
            .await
            .status,
        403
    );
    assert_eq!(send(get("/trigger?x-stop", "r.test")).await.status, 403);
    let resp = send(get("/echo?a=1", "r.test").header("x-hello", "world")).await;
    assert_eq!(resp.status, 404);
    let json = resp.json();
    assert_eq!(json["message"], "Not found");
    assert_eq!(json["request"]["headers"]["x-hello"], "world");
    assert_eq!(json["request"]["query"]["a"], "1");
    assert_eq!(json["request"]["method"], "GET");
    assert!(json["matched_route"]["id"].is_string());
    assert_eq!(upstream.requests(), 1);
}

#[tokio::test]
async fn correlation_id_sets_keeps_and_echoes_ids() {
    let (proxy, _upstream) = setup(
        "correlation-id",
        &[
            ("/counter", json!({})),
            ("/echo", json!({"header_name": "X-Request-Trace", "generator": "uuid", "echo_downstream": true})),
        ],
    )
    .await;
    let send = |req: http::request::Builder| {
        let addr = proxy.http;
        async move {
            client::send(addr, req.body(empty()).unwrap())
                .await
                .unwrap()
        }
    };
    let first = send(get("/counter", "r.test")).await.json()["headers"]["kong-request-id"]
        .as_str()
        .unwrap()
        .to_string();
    let second = send(get("/counter", "r.test")).await.json()["headers"]["kong-request-id"]
        .as_str()
        .unwrap()
        .to_string();
    // `uuid#counter`: the same uuid, a growing counter.
    let (u1, n1) = first.split_once('#').unwrap();
    let (u2, n2) = second.split_once('#').unwrap();
    assert_eq!(u1, u2);
    assert!(n2.parse::<u64>().unwrap() > n1.parse::<u64>().unwrap());
    // A client's id is kept.
    let resp = send(get("/counter", "r.test").header("kong-request-id", "mine")).await;
    assert_eq!(resp.json()["headers"]["kong-request-id"], "mine");
    // echo_downstream: the upstream and the client see the same uuid.
    let resp = send(get("/echo", "r.test")).await;
    let upstream_id = resp.json()["headers"]["x-request-trace"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(resp.header("x-request-trace"), upstream_id);
    assert!(uuid::Uuid::parse_str(&upstream_id).is_ok());
}

#[test]
fn schemas_reject_bad_configs() {
    assert_rejected(
        "request-size-limiting",
        &[(json!({"size_unit": "gigabytes"}), "expected one of")],
    );
    assert_rejected(
        "request-termination",
        &[
            (
                json!({"message": "x", "body": "y"}),
                "message cannot be used with content_type or body",
            ),
            (
                json!({"status_code": 99}),
                "value should be between 100 and 599",
            ),
        ],
    );
    assert_rejected(
        "correlation-id",
        &[(json!({"generator": "random"}), "expected one of")],
    );
}
