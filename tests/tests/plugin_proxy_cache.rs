//! proxy-cache (memory strategy) against the real data plane.
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

async fn setup(cases: &[(&str, Value)]) -> (TestProxy, Upstream) {
    let upstream = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let mut config = ConfigSet::default();
    for (path, conf) in cases {
        let route = route_paths(Some(&svc), &[path]);
        config
            .plugins
            .push(plugin("proxy-cache", conf.clone()).on_route(&route));
        config.routes.push(route);
    }
    config.services.push(svc);
    (TestProxy::start(config).await, upstream)
}

async fn hit(proxy: &TestProxy, req: http::request::Builder) -> client::Resp {
    client::send(proxy.http, req.body(empty()).unwrap())
        .await
        .unwrap()
}

fn memory() -> Value {
    json!({"strategy": "memory"})
}

#[tokio::test]
async fn miss_then_hit_with_the_cache_key_and_age() {
    let (proxy, upstream) = setup(&[("/cached", memory())]).await;
    let first = hit(&proxy, get("/cached/a?x=1", "c.test")).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-cache-status"), "Miss");
    let key = first.header("x-cache-key").to_string();
    assert_eq!(key.len(), 64);
    let second = hit(&proxy, get("/cached/a?x=1", "c.test")).await;
    assert_eq!(second.status, 200);
    assert_eq!(second.header("x-cache-status"), "Hit");
    assert_eq!(second.header("x-cache-key"), key);
    assert!(second.header("age").parse::<u64>().is_ok());
    assert_eq!(second.body, first.body);
    assert_eq!(upstream.requests(), 1);
    // Another query is another entry.
    let other = hit(&proxy, get("/cached/a?x=2", "c.test")).await;
    assert_eq!(other.header("x-cache-status"), "Miss");
    assert_ne!(other.header("x-cache-key"), key);
}

#[tokio::test]
async fn uncacheable_requests_and_responses_bypass() {
    let (proxy, upstream) = setup(&[
        ("/cached", memory()),
        ("/cc", json!({"strategy": "memory", "cache_control": true})),
        ("/quiet", json!({"strategy": "memory", "response_headers": {"X-Cache-Status": false, "X-Cache-Key": false}})),
    ])
    .await;
    // POST is not in request_method.
    let resp = client::send(
        proxy.http,
        Request::post("/cached")
            .header("host", "c.test")
            .body(empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.header("x-cache-status"), "Bypass");
    // 500 is not in response_code.
    let resp = hit(&proxy, get("/cached/status/500", "c.test")).await;
    assert_eq!(resp.header("x-cache-status"), "Bypass");
    let resp = hit(&proxy, get("/cached/status/500", "c.test")).await;
    assert_eq!(resp.header("x-cache-status"), "Bypass");
    // cache_control: the client's no-cache bypasses.
    let resp = hit(
        &proxy,
        get("/cc", "c.test").header("cache-control", "no-cache"),
    )
    .await;
    assert_eq!(resp.header("x-cache-status"), "Bypass");
    // cache_control without max-age on the response: ttl 0, not stored.
    let resp = hit(&proxy, get("/cc", "c.test")).await;
    assert_eq!(resp.header("x-cache-status"), "Bypass");
    // Headers can be switched off, and come back with Kong-Debug.
    let before = upstream.requests();
    let resp = hit(&proxy, get("/quiet", "c.test")).await;
    assert!(resp.headers.get("x-cache-status").is_none());
    let resp = hit(&proxy, get("/quiet", "c.test").header("kong-debug", "1")).await;
    assert_eq!(resp.header("x-cache-status"), "Hit");
    assert_eq!(upstream.requests(), before + 1);
}

#[tokio::test]
async fn vary_headers_and_the_most_specific_instance() {
    let upstream = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let route = route_paths(Some(&svc), &["/v"]);
    let config = ConfigSet {
        plugins: vec![
            // Global: GET only. The route's instance also caches POST and varies on a header.
            plugin("proxy-cache", memory()),
            plugin(
                "proxy-cache",
                json!({"strategy": "memory", "request_method": ["GET", "POST"], "vary_headers": ["x-lang"]}),
            )
            .on_route(&route),
        ],
        routes: vec![route],
        services: vec![svc],
        ..Default::default()
    };
    let proxy = TestProxy::start(config).await;
    let en = hit(&proxy, get("/v", "c.test").header("x-lang", "en")).await;
    let fr = hit(&proxy, get("/v", "c.test").header("x-lang", "fr")).await;
    assert_eq!(en.header("x-cache-status"), "Miss");
    assert_eq!(fr.header("x-cache-status"), "Miss");
    assert_ne!(en.header("x-cache-key"), fr.header("x-cache-key"));
    let en2 = hit(&proxy, get("/v", "c.test").header("x-lang", "en")).await;
    assert_eq!(en2.header("x-cache-status"), "Hit");
    let post = client::send(
        proxy.http,
        Request::post("/v")
            .header("host", "c.test")
            .body(empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(post.header("x-cache-status"), "Miss");
}

#[test]
fn the_schema_rejects_bad_configs() {
    for (conf, message) in [
        (json!({}), "strategy"),
        (json!({"strategy": "redis"}), "expected one of: memory"),
        (
            json!({"strategy": "memory", "request_method": ["DELETE"]}),
            "expected one of",
        ),
        (
            json!({"strategy": "memory", "cache_ttl": 0}),
            "value must be greater than 0",
        ),
    ] {
        let config = ConfigSet {
            plugins: vec![plugin("proxy-cache", conf.clone())],
            ..Default::default()
        };
        let err = rejected(&config);
        assert!(err.contains(message), "{conf}: {err}");
    }
}

/// A request to the node's status API, where Kong's proxy-cache Admin API endpoints are.
async fn status_api(proxy: &TestProxy, method: http::Method, path: &str) -> client::Resp {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .body(empty())
        .unwrap();
    client::send(proxy.status, req).await.unwrap()
}

#[tokio::test]
async fn cached_entries_are_looked_up_and_purged_on_the_status_api() {
    use http::Method;
    let upstream = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let one = route_paths(Some(&svc), &["/one"]);
    let two = route_paths(Some(&svc), &["/two"]);
    let first = plugin("proxy-cache", memory()).on_route(&one);
    let second = plugin("proxy-cache", memory()).on_route(&two);
    let first_id = first.id;
    let config = ConfigSet {
        plugins: vec![first, second],
        routes: vec![one.clone(), two],
        services: vec![svc],
        ..Default::default()
    };
    let proxy = TestProxy::start_with(config.clone(), &["--proxy-cache-api"]).await;

    let miss = hit(&proxy, get("/one", "c.test")).await;
    assert_eq!(miss.header("x-cache-status"), "Miss");
    let key = miss.header("x-cache-key").to_string();
    assert_eq!(cache_status(&proxy, "/one").await, "Hit");

    // The entry, looked up in every instance and in the one that stored it.
    for path in [
        format!("/proxy-cache/{key}"),
        format!("/proxy-cache/{first_id}/caches/{key}"),
    ] {
        let resp = status_api(&proxy, Method::GET, &path).await;
        assert_eq!(resp.status, 200, "{path}: {}", resp.text());
        let entry = resp.json();
        assert_eq!(entry["status"], 200);
        assert_eq!(entry["headers"]["X-Cache-Key"], key.as_str());
        assert_eq!(entry["headers"]["X-Cache-Status"], "Miss");
        assert_eq!(entry["body"], miss.text());
        assert_eq!(entry["body_len"], miss.body.len());
        assert_eq!(entry["version"], 1);
        assert!(entry["timestamp"].is_i64() && entry["ttl"] == 300);
    }

    // Dropped from the one instance, then from whichever has it: the next request misses.
    let path = format!("/proxy-cache/{first_id}/caches/{key}");
    assert_eq!(status_api(&proxy, Method::DELETE, &path).await.status, 204);
    assert_eq!(cache_status(&proxy, "/one").await, "Miss");
    let path = format!("/proxy-cache/{key}");
    assert_eq!(status_api(&proxy, Method::DELETE, &path).await.status, 204);
    assert_eq!(cache_status(&proxy, "/one").await, "Miss");

    // Purge everything: both routes miss again.
    assert_eq!(cache_status(&proxy, "/two").await, "Miss");
    assert_eq!(cache_status(&proxy, "/one").await, "Hit");
    assert_eq!(cache_status(&proxy, "/two").await, "Hit");
    let resp = status_api(&proxy, Method::DELETE, "/proxy-cache").await;
    assert_eq!(resp.status, 204);
    assert_eq!(cache_status(&proxy, "/one").await, "Miss");
    assert_eq!(cache_status(&proxy, "/two").await, "Miss");

    // Absent entries and instances: a bare 404, as Kong's handlers answer.
    assert_eq!(
        status_api(&proxy, Method::DELETE, "/proxy-cache")
            .await
            .status,
        204
    );
    for (method, path) in [
        (Method::GET, format!("/proxy-cache/{key}")),
        (Method::DELETE, format!("/proxy-cache/{key}")),
        (Method::GET, format!("/proxy-cache/{first_id}/caches/{key}")),
        (
            Method::DELETE,
            format!("/proxy-cache/{first_id}/caches/123"),
        ),
        // A route's id is not a proxy-cache instance.
        (
            Method::DELETE,
            format!("/proxy-cache/{}/caches/123", one.id),
        ),
        (Method::GET, format!("/proxy-cache/not-a-uuid/caches/{key}")),
    ] {
        let resp = status_api(&proxy, method.clone(), &path).await;
        assert_eq!(resp.status, 404, "{method} {path}");
        assert!(resp.body.is_empty(), "{method} {path}");
    }
    let resp = status_api(&proxy, Method::POST, "/proxy-cache").await;
    assert_eq!(resp.status, 405);
    assert_eq!(resp.json(), json!({"message": "Method not allowed"}));
}

#[tokio::test]
async fn the_status_api_serves_no_cache_endpoints_unless_asked() {
    let upstream = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let one = route_paths(Some(&svc), &["/one"]);
    let config = ConfigSet {
        plugins: vec![plugin("proxy-cache", memory()).on_route(&one)],
        routes: vec![one],
        services: vec![svc],
        ..Default::default()
    };
    let proxy = TestProxy::start(config).await;
    let miss = hit(&proxy, get("/one", "c.test")).await;
    let key = miss.header("x-cache-key").to_string();
    let resp = status_api(&proxy, http::Method::GET, &format!("/proxy-cache/{key}")).await;
    assert_eq!(resp.status, 404);
    assert_eq!(resp.json(), json!({"message": "Not found"}));
    let resp = status_api(&proxy, http::Method::DELETE, "/proxy-cache").await;
    assert_eq!(resp.status, 404);
    assert_eq!(cache_status(&proxy, "/one").await, "Hit");
}

/// `X-Cache-Status` of a request for `path` on c.test.
async fn cache_status(proxy: &TestProxy, path: &str) -> String {
    hit(proxy, get(path, "c.test"))
        .await
        .header("x-cache-status")
        .to_string()
}
