//! prometheus against the real data plane: the plugin's switches decide which families
//! are recorded for the requests it applies to.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use data_plane::runtime::ConfigSet;
use http_body_util::Full;
use portico_tests::client::{self, get};
use portico_tests::entities::{
    PluginScope, consumer, key_credential, plugin, route_paths, service, target, upstream,
};
use portico_tests::proxy::{TestProxy, rejected};
use portico_tests::upstream::Upstream;
use serde_json::json;

async fn metrics(proxy: &TestProxy) -> String {
    let req = get("/metrics", "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap();
    client::send(proxy.status, req).await.unwrap().text()
}

#[tokio::test]
async fn the_plugin_switches_choose_the_recorded_families() {
    let upstream = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let mut counted = route_paths(Some(&svc), &["/counted"]);
    counted.name = Some("counted".into());
    let mut timed = route_paths(Some(&svc), &["/timed"]);
    timed.name = Some("timed".into());
    let mut unmeasured = route_paths(Some(&svc), &["/unmeasured"]);
    unmeasured.name = Some("unmeasured".into());
    let alice = consumer("alice");
    let config = ConfigSet {
        plugins: vec![
            plugin("key-auth", json!({})).on_route(&counted),
            plugin(
                "prometheus",
                json!({"status_code_metrics": true, "per_consumer": true}),
            )
            .on_route(&counted),
            plugin("prometheus", json!({"latency_metrics": true})).on_route(&timed),
        ],
        keyauth_credentials: vec![key_credential(&alice, "k")],
        consumers: vec![alice],
        routes: vec![counted, timed, unmeasured],
        services: vec![svc],
        ..Default::default()
    };
    let proxy = TestProxy::start(config).await;
    for req in [
        get("/counted", "p.test").header("apikey", "k"),
        get("/timed", "p.test"),
        get("/unmeasured", "p.test"),
    ] {
        let resp = client::send(proxy.http, req.body(Full::new(Bytes::new())).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status, 200);
    }
    let text = portico_tests::process::eventually(
        std::time::Duration::from_secs(10),
        "the counted request",
        || async {
            let text = metrics(&proxy).await;
            text.contains("route=\"counted\"").then_some(text)
        },
    )
    .await;
    let requests: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("kong_http_requests_total{"))
        .collect();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert!(requests[0].contains("route=\"counted\""));
    assert!(requests[0].contains("consumer=\"alice\""));
    assert!(requests[0].contains("code=\"200\""));
    let latency: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("kong_request_latency_ms_count{"))
        .collect();
    assert_eq!(latency.len(), 1, "{latency:?}");
    assert!(latency[0].contains("route=\"timed\""));
    assert!(!text.contains("route=\"unmeasured\""));
}

/// Target health is exported only when an instance asks for it (`upstream_health_metrics`,
/// off by default as in Kong); without any prometheus instance it always is.
#[tokio::test]
async fn upstream_health_metrics_follow_the_switch() {
    let backend = Upstream::echo().await;
    for (instance, exported) in [
        (None, true),
        (Some(json!({})), false),
        (Some(json!({"upstream_health_metrics": true})), true),
    ] {
        let pool = upstream("pool");
        let svc = service("http://pool");
        let config = ConfigSet {
            plugins: instance
                .clone()
                .map(|c| plugin("prometheus", c))
                .into_iter()
                .collect(),
            targets: vec![target(&pool, &format!("127.0.0.1:{}", backend.port()), 100)],
            upstreams: vec![pool],
            routes: vec![route_paths(Some(&svc), &["/"])],
            services: vec![svc],
            ..Default::default()
        };
        let proxy = TestProxy::start(config).await;
        let text = metrics(&proxy).await;
        assert_eq!(
            text.contains("kong_upstream_target_health{"),
            exported,
            "{instance:?}: {text}"
        );
    }
}

#[test]
fn the_schema_rejects_bad_configs() {
    let config = ConfigSet {
        plugins: vec![plugin("prometheus", json!({"per_consumer": "yes"}))],
        ..Default::default()
    };
    assert!(rejected(&config).contains("expected a boolean"));
}
