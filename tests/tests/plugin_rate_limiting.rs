//! rate-limiting against the real data plane: Kong's headers, limits per period and
//! identifier, the local and redis policies (redis at 127.0.0.1:6379), fault tolerance.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use data_plane::runtime::ConfigSet;
use http_body_util::Full;
use portico_tests::client::{self, get};
use portico_tests::entities::{
    PluginScope, consumer, key_credential, plugin, route_paths, service,
};
use portico_tests::process::eventually;
use portico_tests::proxy::{TestProxy, rejected};
use portico_tests::upstream::Upstream;
use serde_json::{Value, json};

fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

/// Waits (polling) until the current minute has at least 15 s left, so a test's requests
/// fall into one window.
async fn fresh_minute() {
    eventually(Duration::from_secs(20), "a fresh minute window", || async {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        (now % 60 < 45).then_some(())
    })
    .await;
}

struct Setup {
    proxy: TestProxy,
    _upstream: Upstream,
}

/// One route per `(path, rate-limiting config)`.
async fn setup(cases: &[(&str, Value)]) -> Setup {
    let upstream = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let mut config = ConfigSet::default();
    for (path, conf) in cases {
        let route = route_paths(Some(&svc), &[path]);
        config
            .plugins
            .push(plugin("rate-limiting", conf.clone()).on_route(&route));
        config.routes.push(route);
    }
    config.services.push(svc);
    Setup {
        proxy: TestProxy::start(config).await,
        _upstream: upstream,
    }
}

async fn hit(proxy: &TestProxy, req: http::request::Builder) -> client::Resp {
    client::send(proxy.http, req.body(empty()).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn the_sixth_request_of_five_per_minute_gets_429_with_kongs_headers() {
    fresh_minute().await;
    let s = setup(&[("/rl", json!({"minute": 5}))]).await;
    for i in 1..=5 {
        let resp = hit(&s.proxy, get("/rl", "rl.test")).await;
        assert_eq!(resp.status, 200, "request {i}");
        assert_eq!(resp.header("x-ratelimit-limit-minute"), "5");
        assert_eq!(
            resp.header("x-ratelimit-remaining-minute"),
            (5 - i).to_string()
        );
        assert_eq!(resp.header("ratelimit-limit"), "5");
        assert_eq!(resp.header("ratelimit-remaining"), (5 - i).to_string());
        let reset: u64 = resp.header("ratelimit-reset").parse().unwrap();
        assert!((1..=60).contains(&reset), "{reset}");
        assert!(resp.headers.get("retry-after").is_none());
    }
    let resp = hit(&s.proxy, get("/rl", "rl.test")).await;
    assert_eq!(resp.status, 429);
    assert_eq!(resp.json()["message"], "API rate limit exceeded");
    assert_eq!(resp.header("x-ratelimit-remaining-minute"), "0");
    assert_eq!(resp.header("ratelimit-remaining"), "0");
    let retry: u64 = resp.header("retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
}

#[tokio::test]
async fn several_limits_headers_options_and_identifiers() {
    fresh_minute().await;
    let s = setup(&[
        ("/multi", json!({"second": 2, "minute": 5})),
        ("/hidden", json!({"minute": 1, "hide_client_headers": true})),
        (
            "/custom",
            json!({"minute": 1, "error_code": 503, "error_message": "slow down"}),
        ),
        (
            "/by-header",
            json!({"minute": 1, "limit_by": "header", "header_name": "x-tenant"}),
        ),
    ])
    .await;
    let resp = hit(&s.proxy, get("/multi", "rl.test")).await;
    assert_eq!(resp.header("x-ratelimit-limit-second"), "2");
    assert_eq!(resp.header("x-ratelimit-limit-minute"), "5");
    assert_eq!(resp.header("x-ratelimit-remaining-minute"), "4");
    // The most restrictive limit (fewest remaining) drives RateLimit-*.
    assert_eq!(resp.header("ratelimit-limit"), "2");
    assert_eq!(resp.header("ratelimit-remaining"), "1");
    assert_eq!(resp.header("ratelimit-reset"), "1");

    let resp = hit(&s.proxy, get("/hidden", "rl.test")).await;
    assert_eq!(resp.status, 200);
    assert!(resp.headers.get("ratelimit-limit").is_none());
    let resp = hit(&s.proxy, get("/hidden", "rl.test")).await;
    assert_eq!(resp.status, 429);
    assert!(resp.headers.get("retry-after").is_none());
    assert!(resp.headers.get("x-ratelimit-remaining-minute").is_none());

    assert_eq!(hit(&s.proxy, get("/custom", "rl.test")).await.status, 200);
    let resp = hit(&s.proxy, get("/custom", "rl.test")).await;
    assert_eq!(resp.status, 503);
    assert_eq!(resp.json()["message"], "slow down");

    // Each header value has its own counter.
    for tenant in ["a", "b"] {
        let resp = hit(
            &s.proxy,
            get("/by-header", "rl.test").header("x-tenant", tenant),
        )
        .await;
        assert_eq!(resp.status, 200, "{tenant}");
    }
    let resp = hit(
        &s.proxy,
        get("/by-header", "rl.test").header("x-tenant", "a"),
    )
    .await;
    assert_eq!(resp.status, 429);
}

#[tokio::test]
async fn limits_by_consumer_follow_authentication_and_the_most_specific_instance() {
    fresh_minute().await;
    let upstream = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let route = route_paths(Some(&svc), &["/c"]);
    let alice = consumer("alice");
    let bob = consumer("bob");
    let config = ConfigSet {
        plugins: vec![
            plugin("key-auth", json!({})).on_route(&route),
            // Everyone: 1 per minute; alice (consumer-scoped, more specific): 3.
            plugin("rate-limiting", json!({"minute": 1})).on_route(&route),
            plugin("rate-limiting", json!({"minute": 3})).on_consumer(&alice),
        ],
        keyauth_credentials: vec![key_credential(&alice, "ka"), key_credential(&bob, "kb")],
        consumers: vec![alice, bob],
        routes: vec![route],
        services: vec![svc],
        ..Default::default()
    };
    let proxy = TestProxy::start(config).await;
    let req = |key: &str| get("/c", "rl.test").header("apikey", key);
    for _ in 0..3 {
        assert_eq!(hit(&proxy, req("ka")).await.status, 200);
    }
    assert_eq!(hit(&proxy, req("ka")).await.status, 429);
    // bob has his own counter and the route's limit of 1.
    let resp = hit(&proxy, req("kb")).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("x-ratelimit-limit-minute"), "1");
    assert_eq!(hit(&proxy, req("kb")).await.status, 429);
}

fn redis_config(minute: u32, port: u16, fault_tolerant: bool) -> Value {
    json!({
        "minute": minute,
        "policy": "redis",
        "redis": {"host": "127.0.0.1", "port": port, "timeout": 500},
        "fault_tolerant": fault_tolerant,
    })
}

#[tokio::test]
async fn the_redis_policy_counts_across_nodes() {
    fresh_minute().await;
    let upstream = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let route = route_paths(Some(&svc), &["/shared"]);
    let config = ConfigSet {
        plugins: vec![plugin("rate-limiting", redis_config(4, 6379, false)).on_route(&route)],
        routes: vec![route],
        services: vec![svc],
        ..Default::default()
    };
    let a = TestProxy::start(config.clone()).await;
    let b = TestProxy::start(config).await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        let node = if i % 2 == 0 { &a } else { &b };
        statuses.push(hit(node, get("/shared", "rl.test")).await.status.as_u16());
    }
    assert_eq!(statuses, vec![200, 200, 200, 200, 429, 429]);
}

#[tokio::test]
async fn an_unreachable_redis_is_tolerated_or_an_error_as_configured() {
    let s = setup(&[
        ("/tolerant", redis_config(1, 1, true)),
        ("/strict", redis_config(1, 1, false)),
    ])
    .await;
    let resp = hit(&s.proxy, get("/tolerant", "rl.test")).await;
    assert_eq!(resp.status, 200);
    assert!(resp.headers.get("ratelimit-limit").is_none());
    let resp = hit(&s.proxy, get("/strict", "rl.test")).await;
    assert_eq!(resp.status, 500);
    assert_eq!(resp.json()["message"], "An unexpected error occurred");
}

#[test]
fn the_schema_rejects_bad_configs() {
    let bad = [
        (json!({}), "at least one of these fields must be non-empty"),
        (
            json!({"second": 10, "minute": 5}),
            "The limit for minute(5.0) cannot be lower than the limit for second(10.0)",
        ),
        (json!({"minute": 5, "limit_by": "header"}), "header_name"),
        (
            json!({"minute": 5, "policy": "cluster"}),
            "expected one of: local, redis",
        ),
    ];
    for (conf, message) in bad {
        let config = ConfigSet {
            plugins: vec![plugin("rate-limiting", conf.clone())],
            ..Default::default()
        };
        let err = rejected(&config);
        assert!(err.contains(message), "{conf}: {err}");
    }
}
