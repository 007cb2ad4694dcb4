//! Plugins configured through the real control plane's Admin API and enforced by real data
//! planes (hybrid mode, mTLS, embedded SQLite): Kong's Get Started plugin steps, and the
//! redis rate-limiting policy counting across two data planes.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::Method;
use portico_tests::admin::ControlPlane;
use portico_tests::client::{self, get};
use portico_tests::cluster::{ClusterCerts, HybridCp, start_dp, until_status};
use portico_tests::process::{DataPlane, eventually};
use portico_tests::upstream::Upstream;

const DEADLINE: Duration = Duration::from_secs(30);

async fn post(cp: &ControlPlane, path: &str, form: &[&str]) -> serde_json::Value {
    let resp = cp.form(Method::POST, path, form).await;
    assert_eq!(resp.status, 201, "POST {path}: {}", resp.text());
    resp.json()
}

/// Deletes the (only) plugin named `name`.
async fn delete_plugin(cp: &ControlPlane, name: &str) {
    let plugins = cp.get("/plugins").await.json();
    let id = plugins["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["id"].as_str())
        .unwrap()
        .to_owned();
    let deleted = cp
        .request(
            Method::DELETE,
            &format!("/plugins/{id}"),
            None,
            bytes::Bytes::new(),
        )
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text());
}

async fn send(dp: &DataPlane, req: http::request::Builder) -> client::Resp {
    client::send(dp.proxy, req.body(Default::default()).unwrap())
        .await
        .unwrap()
}

/// The current minute since the epoch.
fn minute() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 60
}

/// Waits until the current minute has at least `left` seconds left.
async fn fresh_minute(left: u64) {
    eventually(Duration::from_secs(60), "a fresh minute window", || async {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        (now % 60 < 60 - left).then_some(())
    })
    .await;
}

/// Kong's "Get Started" guide: a service and route, then rate limiting, proxy caching,
/// key authentication and load balancing, each through the Admin API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kongs_get_started_plugin_steps() {
    let certs = ClusterCerts::shared().await;
    let cp = HybridCp::start(&certs, None, None, None, &[]).await;
    let dp = start_dp(certs.dp_args("dp1", &[cp.cluster]), &[]).await;
    let up1 = Upstream::echo().await;
    let up2 = Upstream::echo().await;
    let cp = &cp.cp;

    post(
        cp,
        "/services",
        &[
            "name=example_service",
            &format!("url=http://127.0.0.1:{}", up1.port()),
        ],
    )
    .await;
    post(
        cp,
        "/services/example_service/routes",
        &["name=example_route", "paths[]=/mock"],
    )
    .await;
    until_status(&dp, "/mock", 200, "the route").await;

    // Rate limiting: 5 per minute; the sixth request is refused.
    fresh_minute(20).await;
    post(
        cp,
        "/plugins",
        &[
            "name=rate-limiting",
            "config.minute=5",
            "config.policy=local",
        ],
    )
    .await;
    eventually(DEADLINE, "rate limiting in force", || async {
        let resp = send(&dp, get("/mock/anything", "localhost")).await;
        (resp.header("ratelimit-limit") == "5").then_some(())
    })
    .await;
    fresh_minute(20).await;
    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..6 {
        let resp = send(&dp, get("/mock/anything", "localhost")).await;
        statuses.push(resp.status.as_u16());
        last = Some(resp);
    }
    // The first response of this window may have been the probe's; at most five pass.
    assert!(
        statuses.iter().filter(|s| **s == 200).count() <= 5,
        "{statuses:?}"
    );
    let last = last.unwrap();
    assert_eq!(last.status, 429, "{statuses:?}");
    assert_eq!(last.json()["message"], "API rate limit exceeded");
    assert_eq!(last.header("x-ratelimit-limit-minute"), "5");
    assert_eq!(last.header("x-ratelimit-remaining-minute"), "0");
    assert!(!last.header("retry-after").is_empty());

    // Each step's plugin is removed before the next one, to keep the steps apart.
    let plugins = cp.get("/plugins").await.json();
    let rl_id = plugins["data"][0]["id"].as_str().unwrap().to_owned();
    let deleted = cp
        .request(
            Method::DELETE,
            &format!("/plugins/{rl_id}"),
            None,
            bytes::Bytes::new(),
        )
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text());

    // Proxy caching: Miss, then Hit.
    post(
        cp,
        "/plugins",
        &["name=proxy-cache", "config.strategy=memory"],
    )
    .await;
    eventually(DEADLINE, "proxy caching in force", || async {
        let resp = send(&dp, get("/mock/probe", "localhost")).await;
        (!resp.header("x-cache-status").is_empty()).then_some(())
    })
    .await;
    let first = send(&dp, get("/mock/cached", "localhost")).await;
    assert_eq!(first.header("x-cache-status"), "Miss");
    let second = send(&dp, get("/mock/cached", "localhost")).await;
    assert_eq!(second.header("x-cache-status"), "Hit");
    assert_eq!(second.header("x-cache-key"), first.header("x-cache-key"));
    delete_plugin(cp, "proxy-cache").await;

    post(cp, "/services/example_service/plugins", &["name=key-auth"]).await;
    post(cp, "/consumers", &["username=luka"]).await;
    post(cp, "/consumers/luka/key-auth", &["key=top-secret-key"]).await;
    until_status(&dp, "/mock", 401, "key-auth in force").await;
    let resp = send(&dp, get("/mock/anything", "localhost")).await;
    assert_eq!(resp.status, 401);
    assert_eq!(resp.json()["message"], "No API key found in request");
    eventually(DEADLINE, "the credential", || async {
        let resp = send(
            &dp,
            get("/mock/anything", "localhost").header("apikey", "top-secret-key"),
        )
        .await;
        (resp.status == 200).then_some(())
    })
    .await;

    // Load balancing: an upstream with two targets; requests alternate.
    post(cp, "/upstreams", &["name=example_upstream"]).await;
    for up in [&up1, &up2] {
        post(
            cp,
            "/upstreams/example_upstream/targets",
            &[&format!("target=127.0.0.1:{}", up.port())],
        )
        .await;
    }
    let patched = cp
        .form(
            Method::PATCH,
            "/services/example_service",
            &["host=example_upstream", "port=80"],
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text());
    eventually(DEADLINE, "both targets in use", || async {
        let before = (up1.requests(), up2.requests());
        for _ in 0..4 {
            send(
                &dp,
                get("/mock/anything", "localhost").header("apikey", "top-secret-key"),
            )
            .await;
        }
        let after = (up1.requests(), up2.requests());
        (after.0 - before.0 == 2 && after.1 - before.1 == 2).then_some(())
    })
    .await;
}

/// The redis policy limits the sum of two data planes' traffic: 100 per minute in total.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_rate_limiting_is_accurate_across_two_data_planes() {
    let certs = ClusterCerts::shared().await;
    let cp = HybridCp::start(&certs, None, None, None, &[]).await;
    let dp1 = start_dp(certs.dp_args("dp1", &[cp.cluster]), &[]).await;
    let dp2 = start_dp(certs.dp_args("dp2", &[cp.cluster]), &[]).await;
    let up = Upstream::echo().await;
    let cp = &cp.cp;
    post(
        cp,
        "/services",
        &["name=svc", &format!("url=http://127.0.0.1:{}", up.port())],
    )
    .await;
    // A distinct route per run keeps Redis keys of earlier runs out of the count.
    let route = post(
        cp,
        "/services/svc/routes",
        &["name=limited", "paths[]=/limited"],
    )
    .await;
    let route_id = route["id"].as_str().unwrap();
    post(
        cp,
        &format!("/routes/{route_id}/plugins"),
        &[
            "name=rate-limiting",
            "config.minute=100",
            "config.policy=redis",
            "config.redis.host=127.0.0.1",
            "config.redis.port=6379",
            "config.limit_by=service",
            "config.fault_tolerant=false",
        ],
    )
    .await;
    // Both data planes enforce it. The probes are counted too, so the measurement starts
    // in the next minute.
    let probed_in = minute();
    for dp in [&dp1, &dp2] {
        eventually(DEADLINE, "the plugin on every data plane", || async {
            let resp = send(dp, get("/limited", "localhost")).await;
            let got = resp.header("x-ratelimit-limit-minute") == "100";
            got.then_some(())
        })
        .await;
    }
    eventually(Duration::from_secs(70), "the next minute", || async {
        (minute() != probed_in).then_some(())
    })
    .await;
    fresh_minute(30).await;
    // A new window: send 150 requests spread over both nodes, 10 at a time.
    let mut allowed = 0;
    let mut refused = 0;
    for batch in 0..15 {
        let mut tasks = Vec::new();
        for i in 0..10 {
            let proxy = if (batch + i) % 2 == 0 {
                dp1.proxy
            } else {
                dp2.proxy
            };
            tasks.push(tokio::spawn(async move {
                let req = get("/limited", "localhost")
                    .body(Default::default())
                    .unwrap();
                client::send(proxy, req).await.map(|r| r.status.as_u16())
            }));
        }
        for t in tasks {
            match t.await.unwrap().unwrap() {
                200 => allowed += 1,
                429 => refused += 1,
                other => panic!("unexpected status {other}"),
            }
        }
    }
    assert_eq!(allowed + refused, 150);
    // Within 1% of 100 in total, not 100 per node.
    assert!(
        (99..=101).contains(&allowed),
        "allowed {allowed}, refused {refused}"
    );
}
