//! basic-auth against the real data plane.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use data_plane::runtime::ConfigSet;
use http_body_util::Full;
use portico_tests::client::{self, get};
use portico_tests::entities::{
    PluginScope, basic_credential, consumer, plugin, route_paths, service,
};
use portico_tests::proxy::{TestProxy, rejected};
use portico_tests::upstream::Upstream;
use serde_json::json;

fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

/// `Basic base64(user:password)`.
fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

async fn setup() -> (TestProxy, Upstream) {
    let upstream = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let plain = route_paths(Some(&svc), &["/plain"]);
    let hidden = route_paths(Some(&svc), &["/hidden"]);
    let anon = route_paths(Some(&svc), &["/anon"]);
    let alice = consumer("alice");
    let guest = consumer("guest");
    let config = ConfigSet {
        plugins: vec![
            plugin("basic-auth", json!({"realm": "portico"})),
            plugin("basic-auth", json!({"hide_credentials": true})).on_route(&hidden),
            plugin("basic-auth", json!({"anonymous": guest.id.to_string()})).on_route(&anon),
        ],
        basicauth_credentials: vec![basic_credential(&alice, "alice", "s3cret")],
        consumers: vec![alice, guest],
        routes: vec![plain, hidden, anon],
        services: vec![svc],
        ..Default::default()
    };
    (TestProxy::start(config).await, upstream)
}

async fn send(proxy: &TestProxy, req: http::request::Builder) -> client::Resp {
    client::send(proxy.http, req.body(empty()).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn credentials_are_checked_with_kongs_errors() {
    let (proxy, upstream) = setup().await;
    for req in [
        get("/plain", "b.test"),
        get("/plain", "b.test").header("authorization", basic("alice", "wrong")),
        get("/plain", "b.test").header("authorization", basic("nobody", "s3cret")),
        get("/plain", "b.test").header("authorization", "Bearer x"),
    ] {
        let resp = send(&proxy, req).await;
        assert_eq!(resp.status, 401);
        assert_eq!(resp.json()["message"], "Unauthorized");
        assert_eq!(resp.header("www-authenticate"), "Basic realm=\"portico\"");
    }
    assert_eq!(upstream.requests(), 0);
    for header in ["authorization", "proxy-authorization"] {
        let resp = send(
            &proxy,
            get("/plain", "b.test").header(header, basic("alice", "s3cret")),
        )
        .await;
        assert_eq!(resp.status, 200, "{header}");
        let headers = &resp.json()["headers"];
        assert_eq!(headers["x-consumer-username"], "alice");
        assert_eq!(headers["x-credential-identifier"], "alice");
        // Not hidden by default.
        assert!(!headers[header].is_null());
    }
}

#[tokio::test]
async fn hide_credentials_and_anonymous_on_more_specific_instances() {
    let (proxy, _upstream) = setup().await;
    let resp = send(
        &proxy,
        get("/hidden", "b.test").header("authorization", basic("alice", "s3cret")),
    )
    .await;
    assert_eq!(resp.status, 200);
    assert!(resp.json()["headers"]["authorization"].is_null());
    // The route's instance has the default realm.
    let resp = send(&proxy, get("/hidden", "b.test")).await;
    assert_eq!(resp.header("www-authenticate"), "Basic realm=\"service\"");
    let resp = send(&proxy, get("/anon", "b.test")).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["headers"]["x-consumer-username"], "guest");
    assert_eq!(resp.json()["headers"]["x-anonymous-consumer"], "true");
}

#[test]
fn the_schema_rejects_bad_configs() {
    for (conf, message) in [
        (json!({"hide_credentials": "maybe"}), "expected a boolean"),
        (json!({"realm": 5}), "expected a string"),
    ] {
        let config = ConfigSet {
            plugins: vec![plugin("basic-auth", conf.clone())],
            ..Default::default()
        };
        let err = rejected(&config);
        assert!(err.contains(message), "{conf}: {err}");
    }
}
