//! file-log and http-log against the real data plane: Kong's log entry, batching,
//! retries.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use data_plane::runtime::ConfigSet;
use http::Response;
use http_body_util::{BodyExt, Full};
use portico_tests::client::{self, get};
use portico_tests::entities::{PluginScope, plugin, route_paths, service};
use portico_tests::process::eventually;
use portico_tests::proxy::{TestProxy, rejected};
use portico_tests::upstream::{Upstream, full};
use serde_json::{Value, json};

fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

async fn send(proxy: &TestProxy, req: http::request::Builder) -> client::Resp {
    client::send(proxy.http, req.body(empty()).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn file_log_appends_kongs_log_entries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("requests.log");
    let upstream = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let route = route_paths(Some(&svc), &["/logged"]);
    let config = ConfigSet {
        plugins: vec![plugin(
            "file-log",
            json!({"path": path.display().to_string()}),
        )],
        routes: vec![route.clone()],
        services: vec![svc.clone()],
        ..Default::default()
    };
    let proxy = TestProxy::start(config).await;
    send(
        &proxy,
        get("/logged/a?x=1", "log.test").header("authorization", "secret"),
    )
    .await;
    send(&proxy, get("/nowhere", "log.test")).await;
    let lines = eventually(Duration::from_secs(10), "two log lines", || async {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (lines.len() >= 2).then_some(lines)
    })
    .await;
    let first = &lines[0];
    assert_eq!(first["request"]["method"], "GET");
    assert_eq!(first["request"]["uri"], "/logged/a?x=1");
    assert_eq!(first["request"]["querystring"], json!({"x": "1"}));
    assert_eq!(first["request"]["headers"]["authorization"], "REDACTED");
    assert_eq!(first["response"]["status"], 200);
    assert_eq!(first["upstream_uri"], "/a?x=1");
    assert_eq!(first["route"]["id"], route.id.to_string());
    assert_eq!(first["service"]["id"], svc.id.to_string());
    assert_eq!(first["client_ip"], "127.0.0.1");
    assert!(first["latencies"]["request"].is_number());
    assert_eq!(first["tries"][0]["port"], upstream.port());
    // The global instance also logs requests that matched no route.
    assert_eq!(lines[1]["response"]["status"], 404);
    assert!(lines[1]["route"].is_null());
}

/// A log server recording the requests it receives; answers `statuses` in turn, then 200.
struct Collector {
    upstream: Upstream,
    received: Arc<Mutex<Vec<(http::HeaderMap, Value)>>>,
}

async fn collector(statuses: Vec<u16>) -> Collector {
    let received = Arc::new(Mutex::new(Vec::new()));
    let statuses = Arc::new(Mutex::new(statuses));
    let sink = received.clone();
    let upstream = Upstream::start(move |req, _conn| {
        let sink = sink.clone();
        let statuses = statuses.clone();
        async move {
            let (parts, body) = req.into_parts();
            let bytes = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let status = {
                let mut s = statuses.lock().unwrap();
                if s.is_empty() { 200 } else { s.remove(0) }
            };
            if status == 200 {
                let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                sink.lock().unwrap().push((parts.headers, json));
            }
            let mut resp = Response::new(full("ok"));
            *resp.status_mut() = http::StatusCode::from_u16(status).unwrap();
            resp
        }
    })
    .await;
    Collector { upstream, received }
}

async fn proxied(endpoint_config: Value) -> (TestProxy, Upstream) {
    let upstream = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let route = route_paths(Some(&svc), &["/"]);
    let config = ConfigSet {
        plugins: vec![plugin("http-log", endpoint_config).on_route(&route)],
        routes: vec![route],
        services: vec![svc],
        ..Default::default()
    };
    (TestProxy::start(config).await, upstream)
}

#[tokio::test]
async fn http_log_sends_entries_with_headers_and_basic_auth() {
    let c = collector(vec![]).await;
    let endpoint = format!("http://user:pass@127.0.0.1:{}/logs", c.upstream.port());
    let (proxy, _up) = proxied(json!({
        "http_endpoint": endpoint,
        "headers": {"x-log-token": "t0k"},
    }))
    .await;
    send(&proxy, get("/one", "log.test")).await;
    let got = eventually(Duration::from_secs(10), "the log entry", || async {
        c.received.lock().unwrap().first().cloned()
    })
    .await;
    let (headers, body) = got;
    assert_eq!(body["request"]["uri"], "/one");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["x-log-token"], "t0k");
    assert_eq!(headers["authorization"], "Basic dXNlcjpwYXNz");
}

#[tokio::test]
async fn http_log_batches_and_retries() {
    // The first two attempts fail; the batch is retried until accepted.
    let c = collector(vec![500, 503]).await;
    let endpoint = format!("http://127.0.0.1:{}/logs", c.upstream.port());
    let (proxy, _up) = proxied(json!({
        "http_endpoint": endpoint,
        "queue": {"max_batch_size": 3, "max_coalescing_delay": 5, "initial_retry_delay": 0.05},
    }))
    .await;
    for path in ["/a", "/b", "/c"] {
        send(&proxy, get(path, "log.test")).await;
    }
    let got = eventually(Duration::from_secs(20), "the batch", || async {
        c.received.lock().unwrap().first().cloned()
    })
    .await;
    let uris: Vec<&str> = got
        .1
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["request"]["uri"].as_str().unwrap())
        .collect();
    assert_eq!(uris, vec!["/a", "/b", "/c"]);
    assert_eq!(c.upstream.requests(), 3);
}

/// Batches reuse the log server connection for `keepalive` ms (Kong's `set_keepalive`);
/// with `keepalive: 0` every batch opens its own.
#[tokio::test]
async fn http_log_keeps_its_connection_alive_between_batches() {
    for (keepalive, connections) in [(60_000, 1), (0, 3)] {
        let c = collector(vec![]).await;
        let endpoint = format!("http://127.0.0.1:{}/logs", c.upstream.port());
        let (proxy, _up) = proxied(json!({
            "http_endpoint": endpoint,
            "keepalive": keepalive,
            "queue": {"max_batch_size": 1, "max_coalescing_delay": 0.01},
        }))
        .await;
        for (n, path) in ["/a", "/b", "/c"].into_iter().enumerate() {
            send(&proxy, get(path, "log.test")).await;
            let c = &c;
            eventually(Duration::from_secs(10), "the entry logged", || async move {
                (c.received.lock().unwrap().len() > n).then_some(())
            })
            .await;
        }
        assert_eq!(c.upstream.requests(), 3, "keepalive {keepalive}");
        assert_eq!(
            c.upstream.connections(),
            connections,
            "keepalive {keepalive}"
        );
    }
}

#[test]
fn schemas_reject_bad_configs() {
    for (name, conf, message) in [
        (
            "file-log",
            json!({"path": "/tmp/bad*name"}),
            "not a valid filename",
        ),
        ("file-log", json!({}), "required field missing"),
        (
            "http-log",
            json!({"http_endpoint": "not a url"}),
            "http_endpoint",
        ),
        (
            "http-log",
            json!({"http_endpoint": "http://a.test", "queue": {"max_batch_size": 0}}),
            "value should be between 1 and 1000000",
        ),
    ] {
        let config = ConfigSet {
            plugins: vec![plugin(name, conf.clone())],
            ..Default::default()
        };
        let err = rejected(&config);
        assert!(err.contains(message), "{name} {conf}: {err}");
    }
}

#[test]
fn lua_custom_fields_are_refused_by_the_data_plane() {
    let config = ConfigSet {
        plugins: vec![plugin(
            "file-log",
            json!({"path": "/tmp/x.log", "custom_fields_by_lua": {"a": "return 1"}}),
        )],
        ..Default::default()
    };
    let parsed = common::declarative::parse(&portico_tests::proxy::to_kong_yml(&config))
        .unwrap()
        .config;
    let err = TestProxy::handle()
        .compile(parsed)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("custom_fields_by_lua is not supported"),
        "{err}"
    );
}
