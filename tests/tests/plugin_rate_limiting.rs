//! rate-limiting against the real data plane: Kong's headers, limits per period and
//! identifier, the local and redis policies (redis at 127.0.0.1:6379; realtime and with a
//! sync rate), fault tolerance.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use common::model::Route;
use data_plane::runtime::ConfigSet;
use http_body_util::Full;
use portico_tests::client::{self, get};
use portico_tests::entities::{
    PluginScope, consumer, key_credential, plugin, route_paths, service,
};
use portico_tests::forwarder::Forwarder;
use portico_tests::process::eventually;
use portico_tests::proxy::{TestProxy, rejected, to_kong_yml};
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

#[tokio::test]
async fn a_broken_redis_is_not_retried_within_a_request() {
    // A "Redis" that accepts connections and closes them at once, counting them.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    let mut conf = redis_config(5, port, true);
    conf["redis"]["timeout"] = json!(10_000);
    let s = setup(&[("/tolerant", conf)]).await;
    let resp = hit(&s.proxy, get("/tolerant", "rl.test")).await;
    assert_eq!(resp.status, 200);
    assert!(resp.headers.get("ratelimit-limit").is_none());
    // Kong connects once per request and fails; reconnecting with backoff would hold
    // every request for seconds while Redis is away.
    let attempts = accepted.load(Ordering::SeqCst);
    assert!(
        (1..=2).contains(&attempts),
        "{attempts} connection attempts"
    );
}

/// A redis config counting locally and syncing every 0.1 s.
fn synced_config(minute: u32, port: u16, fault_tolerant: bool) -> Value {
    let mut config = redis_config(minute, port, fault_tolerant);
    config["sync_rate"] = json!(0.1);
    config
}

struct Nodes {
    nodes: Vec<TestProxy>,
    route: Route,
    config: ConfigSet,
    _upstream: Upstream,
}

/// One route with a rate-limiting instance, served by `nodes` data planes.
async fn nodes_with(conf: Value, nodes: usize) -> Nodes {
    let upstream = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let route = route_paths(Some(&svc), &["/synced"]);
    let config = ConfigSet {
        plugins: vec![plugin("rate-limiting", conf).on_route(&route)],
        routes: vec![route.clone()],
        services: vec![svc],
        ..Default::default()
    };
    let mut proxies = Vec::new();
    for _ in 0..nodes {
        proxies.push(TestProxy::start(config.clone()).await);
    }
    Nodes {
        nodes: proxies,
        route,
        config,
        _upstream: upstream,
    }
}

/// The minute counter of `route` in Redis (its keys are the route's own: no other test
/// shares them).
async fn redis_minute_count(route: &Route) -> i64 {
    let client = redis::Client::open("redis://127.0.0.1:6379/0").unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("ratelimit:{}:*:minute", route.id))
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut total = 0;
    for key in keys {
        let value: Option<i64> = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        total += value.unwrap_or(0);
    }
    total
}

async fn until_redis_counts(route: &Route, expected: i64) {
    eventually(
        Duration::from_secs(10),
        &format!("{expected} counted in Redis"),
        || async { (redis_minute_count(route).await == expected).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn with_a_sync_rate_nodes_count_locally_and_limit_the_total_after_syncs() {
    fresh_minute().await;
    let n = nodes_with(synced_config(6, 6379, false), 2).await;
    let (a, b, route) = (&n.nodes[0], &n.nodes[1], &n.route);
    for remaining in [5, 4, 3] {
        let resp = hit(a, get("/synced", "rl.test")).await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("x-ratelimit-limit-minute"), "6");
        assert_eq!(
            resp.header("x-ratelimit-remaining-minute"),
            remaining.to_string()
        );
        assert_eq!(resp.header("ratelimit-limit"), "6");
        assert_eq!(resp.header("ratelimit-remaining"), remaining.to_string());
    }
    // a's counts reach Redis by its sync ...
    until_redis_counts(route, 3).await;
    // ... where b, which has counted nothing yet, finds them.
    for remaining in [2, 1, 0] {
        let resp = hit(b, get("/synced", "rl.test")).await;
        assert_eq!(resp.status, 200);
        assert_eq!(
            resp.header("x-ratelimit-remaining-minute"),
            remaining.to_string()
        );
    }
    let resp = hit(b, get("/synced", "rl.test")).await;
    assert_eq!(resp.status, 429);
    assert_eq!(resp.json()["message"], "API rate limit exceeded");
    assert_eq!(resp.header("ratelimit-remaining"), "0");
    let retry: u64 = resp.header("retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    until_redis_counts(route, 6).await;
    // a's own sync refreshed its view: it sees b's counts and refuses too.
    let resp = hit(a, get("/synced", "rl.test")).await;
    assert_eq!(resp.status, 429);
    assert_eq!(resp.header("x-ratelimit-remaining-minute"), "0");
    // Refused requests are not counted.
    until_redis_counts(route, 6).await;
}

#[tokio::test]
async fn with_a_sync_rate_concurrent_nodes_stay_within_one_sync_of_the_limit() {
    fresh_minute().await;
    let limit = 20;
    let n = nodes_with(synced_config(limit, 6379, false), 2).await;
    let addrs = [n.nodes[0].http, n.nodes[1].http];
    let mut allowed = 0;
    // Bursts of 10 at once over both nodes until a burst is refused everywhere: each node
    // refuses once its view (its own counts and what it last read from Redis) is at the
    // limit, so the total is at least the limit and at most the limit on each node.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        assert!(std::time::Instant::now() < deadline, "both nodes refusing");
        let mut tasks = Vec::new();
        for i in 0..10 {
            let addr = addrs[i % 2];
            tasks.push(tokio::spawn(async move {
                let req = get("/synced", "rl.test").body(empty()).unwrap();
                client::send(addr, req).await.unwrap().status.as_u16()
            }));
        }
        let mut refused = 0;
        for task in tasks {
            match task.await.unwrap() {
                200 => allowed += 1,
                429 => refused += 1,
                other => panic!("unexpected status {other}"),
            }
        }
        if refused == 10 {
            break;
        }
    }
    let limit = i64::from(limit);
    assert!((limit..=2 * limit).contains(&allowed), "{allowed} allowed");
    // Every request let through, and only those, ends up counted in Redis.
    until_redis_counts(&n.route, allowed).await;
}

#[tokio::test]
async fn with_a_sync_rate_requests_are_served_while_redis_is_down() {
    fresh_minute().await;
    let redis = Forwarder::start("127.0.0.1:6379".parse().unwrap()).await;
    let port = redis.addr.port();
    let s = setup(&[
        ("/tolerant", synced_config(100, port, true)),
        ("/strict", synced_config(100, port, false)),
    ])
    .await;
    for path in ["/tolerant", "/strict"] {
        let resp = hit(&s.proxy, get(path, "rl.test")).await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("x-ratelimit-remaining-minute"), "99");
    }
    redis.cut();
    // Once a sync fails the local view is dropped and Redis cannot be read: a
    // fault-tolerant instance lets requests through without headers (Kong logs the
    // error), a strict one answers 500.
    eventually(Duration::from_secs(20), "Redis seen down", || async {
        let resp = hit(&s.proxy, get("/tolerant", "rl.test")).await;
        assert_eq!(resp.status, 200);
        resp.headers.get("ratelimit-limit").is_none().then_some(())
    })
    .await;
    eventually(Duration::from_secs(20), "a strict refusal", || async {
        let resp = hit(&s.proxy, get("/strict", "rl.test")).await;
        (resp.status == 500).then_some(())
    })
    .await;
    let resp = hit(&s.proxy, get("/strict", "rl.test")).await;
    assert_eq!(resp.json()["message"], "An unexpected error occurred");
    redis.restore();
    eventually(Duration::from_secs(20), "limits applied again", || async {
        let resp = hit(&s.proxy, get("/tolerant", "rl.test")).await;
        assert_eq!(resp.status, 200);
        resp.headers.get("ratelimit-limit").is_some().then_some(())
    })
    .await;
}

#[tokio::test]
async fn with_a_sync_rate_counts_carry_over_a_configuration_change() {
    fresh_minute().await;
    let n = nodes_with(synced_config(5, 6379, false), 1).await;
    let node = &n.nodes[0];
    for _ in 0..3 {
        assert_eq!(hit(node, get("/synced", "rl.test")).await.status, 200);
    }
    // The same instance in a new configuration (a new error message): a new compiled
    // instance, the same counters.
    let mut config = n.config.clone();
    config.plugins[0].config["error_message"] = json!("slow down");
    // With the schema's defaults, as a control plane or kong.yml would give it.
    let config = common::declarative::parse(&to_kong_yml(&config))
        .unwrap()
        .config;
    node.publish(config).await;
    for remaining in [1, 0] {
        let resp = hit(node, get("/synced", "rl.test")).await;
        assert_eq!(resp.status, 200);
        assert_eq!(
            resp.header("x-ratelimit-remaining-minute"),
            remaining.to_string()
        );
    }
    let resp = hit(node, get("/synced", "rl.test")).await;
    assert_eq!(resp.status, 429);
    assert_eq!(resp.json()["message"], "slow down");
    until_redis_counts(&n.route, 5).await;
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
