//! The example plugin on an in-process data plane (`TestProxy::with_plugins`).
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use data_plane::runtime::ConfigSet;
use http_body_util::Full;
use portico_tests::client::{self, get};
use portico_tests::entities::{PluginScope, plugin, route_paths, service};
use portico_tests::proxy::TestProxy;
use portico_tests::upstream::Upstream;
use serde_json::json;

async fn setup(config: serde_json::Value) -> (TestProxy, Upstream) {
    let upstream = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let route = route_paths(Some(&svc), &["/api"]);
    let set = ConfigSet {
        plugins: vec![plugin("api-version", config).on_route(&route)],
        routes: vec![route],
        services: vec![svc],
        ..Default::default()
    };
    // As `portico-dp-example` would load it: validated (defaults filled) by the
    // plugin's schema, then compiled with the example's registry.
    let yml = portico_tests::proxy::to_kong_yml(&set);
    let registry = portico_example_plugin::registry();
    let parsed = common::declarative::parse_with(&yml, registry.catalog())
        .unwrap()
        .config;
    (TestProxy::with_plugins(parsed, registry).await, upstream)
}

async fn send(proxy: &TestProxy, version: Option<&str>) -> client::Resp {
    let mut req = get("/api", "example.test");
    if let Some(v) = version {
        req = req.header("x-api-version", v);
    }
    client::send(proxy.http, req.body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn allowed_versions_pass_and_others_are_refused() {
    let (proxy, upstream) = setup(json!({"allowed": ["v1", "v2"], "default": "v1"})).await;
    let resp = send(&proxy, Some("v2")).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["headers"]["x-api-version-accepted"], "v2");
    assert_eq!(resp.header("x-api-version"), "v2");
    // No header: the default.
    assert_eq!(send(&proxy, None).await.header("x-api-version"), "v1");
    let resp = send(&proxy, Some("v3")).await;
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json()["message"], "Unsupported API version");
    assert_eq!(upstream.requests(), 2);
}

#[test]
fn invalid_configurations_are_refused() {
    let registry = portico_example_plugin::registry();
    // The schema: `allowed` is required.
    let set = ConfigSet {
        plugins: vec![plugin("api-version", json!({}))],
        ..Default::default()
    };
    let yml = portico_tests::proxy::to_kong_yml(&set);
    let err = common::declarative::parse_with(&yml, registry.catalog())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("allowed"), "{err}");
    // The factory: a default that is not allowed.
    let set = ConfigSet {
        plugins: vec![plugin(
            "api-version",
            json!({"allowed": ["v1"], "default": "v9"}),
        )],
        ..Default::default()
    };
    let yml = portico_tests::proxy::to_kong_yml(&set);
    let parsed = common::declarative::parse_with(&yml, registry.catalog())
        .unwrap()
        .config;
    let env = data_plane::runtime::CompileEnv::with_plugins(&Default::default(), registry).unwrap();
    let handle = data_plane::runtime::RuntimeHandle::new(env).unwrap();
    let err = handle.compile(parsed).err().unwrap().to_string();
    assert!(err.contains("default version 'v9' is not allowed"), "{err}");
}
