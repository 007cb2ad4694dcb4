//! The status API (/status, /status/ready, /metrics), runtime swaps under traffic, and
//! graceful shutdown of an in-process node.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bytes::Bytes;
use data_plane::node::NodeConfig;
use data_plane::runtime::{ConfigSet, EMPTY_CONFIG_HASH};
use http::Request;
use http_body_util::Full;
use portico_tests::client::{self, get};
use portico_tests::entities::{route_hosts, service, target, upstream};
use portico_tests::proxy::TestProxy;
use portico_tests::upstream::Upstream;

fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

async fn status_get(proxy: &TestProxy, path: &str) -> client::Resp {
    client::send(proxy.status, get(path, "localhost").body(empty()).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn ready_only_after_a_configuration_is_published() {
    let handle = TestProxy::handle();
    let proxy = TestProxy::start_handle(handle.clone(), NodeConfig::ephemeral()).await;
    let resp = status_get(&proxy, "/status/ready").await;
    assert_eq!(resp.status, 503);
    let resp = status_get(&proxy, "/status").await;
    assert_eq!(resp.json()["configuration_hash"], EMPTY_CONFIG_HASH);

    // Even an empty configuration makes the node ready.
    let runtime = handle.compile(ConfigSet::default()).unwrap();
    let hash = runtime.config_hash().to_string();
    handle.swap(runtime);
    let resp = status_get(&proxy, "/status/ready").await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["message"], "ready");
    let resp = status_get(&proxy, "/status").await;
    assert_eq!(resp.json()["configuration_hash"], hash.as_str());
    assert_eq!(hash.len(), 32);
}

#[tokio::test]
async fn status_reports_connection_counters() {
    let proxy = TestProxy::start(ConfigSet::default()).await;
    for _ in 0..3 {
        client::send(proxy.http, get("/", "x.test").body(empty()).unwrap())
            .await
            .unwrap();
    }
    let json = status_get(&proxy, "/status").await.json();
    let server = &json["server"];
    assert_eq!(server["total_requests"], 3);
    assert!(server["connections_accepted"].as_u64().unwrap() >= 3);
    assert_eq!(
        server["connections_handled"],
        server["connections_accepted"]
    );
    for key in [
        "connections_active",
        "connections_reading",
        "connections_writing",
        "connections_waiting",
    ] {
        assert!(server[key].is_u64(), "{key}");
    }
}

#[tokio::test]
async fn drain_makes_ready_fail() {
    let proxy = TestProxy::start(ConfigSet::default()).await;
    assert_eq!(status_get(&proxy, "/status/ready").await.status, 200);
    let resp = client::send(
        proxy.status,
        Request::post("/status/ready")
            .header("host", "localhost")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from_static(b"status=draining")))
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 204);
    let resp = status_get(&proxy, "/status/ready").await;
    assert_eq!(resp.status, 503);
    assert_eq!(resp.json()["message"], "draining");
}

#[tokio::test]
async fn metrics_use_kong_names() {
    let up = Upstream::echo().await;
    let mut svc = service(&format!("http://127.0.0.1:{}", up.port()));
    svc.name = Some("metrics-svc".into());
    let mut r = route_hosts(Some(&svc), &["metrics.test"]);
    r.name = Some("metrics-route".into());
    let balanced = upstream("metrics.upstream");
    let config = ConfigSet {
        routes: vec![r],
        services: vec![svc],
        targets: vec![target(&balanced, &format!("127.0.0.1:{}", up.port()), 100)],
        upstreams: vec![balanced],
        ..Default::default()
    };
    let proxy = TestProxy::start(config).await;
    for _ in 0..2 {
        let resp = client::send(proxy.http, get("/", "metrics.test").body(empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status, 200);
    }
    client::send(proxy.http, get("/", "nothing.test").body(empty()).unwrap())
        .await
        .unwrap();
    let text = status_get(&proxy, "/metrics").await.text();
    for expected in [
        r#"kong_http_requests_total{service="metrics-svc",route="metrics-route",code="200",source="service",workspace="default",consumer=""} 2"#,
        r#"kong_http_requests_total{service="",route="",code="404",source="kong",workspace="default",consumer=""} 1"#,
        r#"kong_request_latency_ms_bucket{le="25.0",service="metrics-svc",route="metrics-route",workspace="default"}"#,
        r#"kong_upstream_latency_ms_count{service="metrics-svc",route="metrics-route",workspace="default"} 2"#,
        r#"kong_kong_latency_ms_count{service="metrics-svc",route="metrics-route",workspace="default"} 2"#,
        r#"kong_bandwidth_bytes_total{service="metrics-svc",route="metrics-route",direction="egress",workspace="default",consumer=""}"#,
        r#"state="accepted"}"#,
        r#"kong_nginx_connections_total{node_id="#,
        r#"kong_nginx_requests_total{node_id="#,
        r#"kong_upstream_target_health{upstream="metrics.upstream",target="127.0.0.1:"#,
        r#"state="healthchecks_off",subsystem="http"} 1"#,
        "kong_data_plane_config_hash ",
    ] {
        assert!(text.contains(expected), "missing {expected}\n{text}");
    }
}

#[tokio::test]
async fn a_renamed_service_is_counted_under_its_new_name() {
    let up = Upstream::echo().await;
    let mut svc = service(&format!("http://127.0.0.1:{}", up.port()));
    svc.name = Some("before".into());
    let mut config = ConfigSet {
        routes: vec![route_hosts(Some(&svc), &["rename.test"])],
        services: vec![svc],
        ..Default::default()
    };
    let proxy = TestProxy::start(config.clone()).await;
    let request = || client::send(proxy.http, get("/", "rename.test").body(empty()).unwrap());
    assert_eq!(request().await.unwrap().status, 200);
    // Same ids, a new name: the series are found by id within a runtime, not across.
    config.services[0].name = Some("after".into());
    proxy.publish(config).await;
    assert_eq!(request().await.unwrap().status, 200);
    let text = status_get(&proxy, "/metrics").await.text();
    for name in ["before", "after"] {
        let line = format!(r#"kong_http_requests_total{{service="{name}","#);
        let counted = text
            .lines()
            .find(|l| l.starts_with(&line) && l.contains(r#"code="200""#));
        assert!(counted.is_some_and(|l| l.ends_with(" 1")), "{name}\n{text}");
    }
}

#[tokio::test]
async fn swapping_the_runtime_does_not_fail_requests_in_flight() {
    let up = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", up.port()));
    let config = ConfigSet {
        routes: vec![route_hosts(Some(&svc), &["swap.test"])],
        services: vec![svc.clone()],
        ..Default::default()
    };
    let proxy = TestProxy::start(config.clone()).await;
    // Slow requests started under the first runtime...
    let addr = proxy.http;
    let in_flight: Vec<_> = (0..5)
        .map(|_| {
            tokio::spawn(async move {
                client::send(addr, get("/delay/300", "swap.test").body(empty()).unwrap()).await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // ...survive a swap to a configuration without their route.
    proxy.publish(ConfigSet::default()).await;
    for handle in in_flight {
        let resp = handle.await.unwrap().unwrap();
        assert_eq!(resp.status, 200);
    }
    let resp = client::send(proxy.http, get("/", "swap.test").body(empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status, 404, "new requests see the new runtime");
}

#[tokio::test]
async fn graceful_shutdown_finishes_requests_in_flight() {
    let up = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", up.port()));
    let config = ConfigSet {
        routes: vec![route_hosts(Some(&svc), &["slow.test"])],
        services: vec![svc],
        ..Default::default()
    };
    let proxy = TestProxy::start(config).await;
    let addr = proxy.http;
    let request = tokio::spawn(async move {
        client::send(addr, get("/delay/500", "slow.test").body(empty()).unwrap()).await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    proxy.shutdown(Duration::from_secs(5)).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown waited only for the request"
    );
    let resp = request.await.unwrap().unwrap();
    assert_eq!(resp.status, 200);
    // No longer accepting.
    assert!(
        client::send(addr, get("/", "slow.test").body(empty()).unwrap())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn requests_abandoned_by_the_client_are_still_accounted() {
    let up = Upstream::echo().await;
    let mut svc = service(&format!("http://127.0.0.1:{}", up.port()));
    svc.name = Some("abandoned".into());
    let config = ConfigSet {
        routes: vec![route_hosts(Some(&svc), &["gone.test"])],
        services: vec![svc],
        ..Default::default()
    };
    let proxy = TestProxy::start(config).await;
    let addr = proxy.http;
    let request = tokio::spawn(async move {
        client::send(addr, get("/delay/2000", "gone.test").body(empty()).unwrap()).await
    });
    // Wait until the upstream has the request, then drop the client connection.
    portico_tests::process::eventually(Duration::from_secs(10), "upstream request", || async {
        (up.requests() == 1).then_some(())
    })
    .await;
    request.abort();
    let status = proxy.status;
    portico_tests::process::eventually(
        Duration::from_secs(10),
        "a 499 in the metrics",
        || async move {
            let text = client::send(status, get("/metrics", "localhost").body(empty()).unwrap())
                .await
                .ok()?
                .text();
            text.lines()
                .any(|l| {
                    l.starts_with("kong_http_requests_total")
                        && l.contains(r#"service="abandoned""#)
                        && l.contains(r#"code="499""#)
                })
                .then_some(())
        },
    )
    .await;
    let json = status_get(&proxy, "/status").await.json();
    assert_eq!(
        json["server"]["connections_writing"], 0,
        "no request left in flight"
    );
}
