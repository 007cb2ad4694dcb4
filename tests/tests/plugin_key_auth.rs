//! key-auth against the real data plane: Kong's messages, headers and options.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use data_plane::runtime::ConfigSet;
use http::Request;
use http_body_util::Full;
use portico_tests::client::{self, get};
use portico_tests::entities::{
    PluginScope, consumer, key_credential, plugin, route_paths, service,
};
use portico_tests::proxy::{TestProxy, rejected};
use portico_tests::upstream::Upstream;
use serde_json::json;

fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

async fn setup() -> (TestProxy, Upstream, ConfigSet) {
    let upstream = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let plain = route_paths(Some(&svc), &["/plain"]);
    let hidden = route_paths(Some(&svc), &["/hidden"]);
    let anon = route_paths(Some(&svc), &["/anon"]);
    let custom = route_paths(Some(&svc), &["/custom"]);
    let alice = consumer("alice");
    let guest = consumer("guest");
    let config = ConfigSet {
        plugins: vec![
            plugin("key-auth", json!({})),
            plugin("key-auth", json!({"hide_credentials": true})).on_route(&hidden),
            plugin("key-auth", json!({"anonymous": "guest"})).on_route(&anon),
            plugin(
                "key-auth",
                json!({"key_names": ["x-token"], "realm": "portico", "run_on_preflight": false, "key_in_body": true}),
            )
            .on_route(&custom),
        ],
        keyauth_credentials: vec![key_credential(&alice, "secret-alice")],
        consumers: vec![alice, guest],
        routes: vec![plain, hidden, anon, custom],
        services: vec![svc],
        ..Default::default()
    };
    (TestProxy::start(config.clone()).await, upstream, config)
}

async fn send(proxy: &TestProxy, req: http::request::Builder) -> client::Resp {
    client::send(proxy.http, req.body(empty()).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn missing_wrong_and_duplicate_keys_get_kongs_401s() {
    let (proxy, upstream, _) = setup().await;
    let resp = send(&proxy, get("/plain", "k.test")).await;
    assert_eq!(resp.status, 401);
    assert_eq!(resp.json()["message"], "No API key found in request");
    assert_eq!(resp.header("www-authenticate"), "Key");
    let resp = send(&proxy, get("/plain", "k.test").header("apikey", "nope")).await;
    assert_eq!(resp.status, 401);
    assert_eq!(resp.json()["message"], "Unauthorized");
    let resp = send(
        &proxy,
        get("/plain", "k.test")
            .header("apikey", "secret-alice")
            .header("apikey", "other"),
    )
    .await;
    assert_eq!(resp.status, 401);
    assert_eq!(resp.json()["message"], "Duplicate API key found");
    let resp = send(&proxy, get("/plain?apikey=a&apikey=b", "k.test")).await;
    assert_eq!(resp.json()["message"], "Duplicate API key found");
    // The realm shows in the challenge.
    let resp = send(&proxy, Request::post("/custom").header("host", "k.test")).await;
    assert_eq!(resp.header("www-authenticate"), "Key realm=\"portico\"");
    assert_eq!(upstream.requests(), 0);
}

#[tokio::test]
async fn a_valid_key_identifies_the_consumer_upstream() {
    let (proxy, _upstream, config) = setup().await;
    let alice = &config.consumers[0];
    let credential = &config.keyauth_credentials[0];
    for req in [
        get("/plain", "k.test").header("apikey", "secret-alice"),
        get("/plain?apikey=secret-alice", "k.test"),
    ] {
        let resp = send(&proxy, req).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        let headers = &resp.json()["headers"];
        assert_eq!(headers["x-consumer-username"], "alice");
        assert_eq!(headers["x-consumer-id"], alice.id.to_string());
        assert_eq!(
            headers["x-credential-identifier"],
            credential.id.to_string()
        );
        assert!(headers["x-anonymous-consumer"].is_null());
        // Not hidden by default.
        assert!(
            headers["apikey"] == "secret-alice"
                || resp.json()["request_uri"]
                    .as_str()
                    .unwrap()
                    .contains("apikey")
        );
    }
}

#[tokio::test]
async fn consumer_headers_sent_by_the_client_are_replaced_or_removed() {
    let (proxy, _upstream, config) = setup().await;
    let alice = &config.consumers[0];
    let req = get("/plain", "k.test")
        .header("apikey", "secret-alice")
        .header("x-consumer-id", "spoofed")
        .header("x-consumer-custom-id", "spoofed")
        .header("x-anonymous-consumer", "true");
    let resp = send(&proxy, req).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let headers = &resp.json()["headers"];
    assert_eq!(headers["x-consumer-id"], alice.id.to_string());
    // alice has no custom_id, and a key is no anonymous consumer.
    assert!(headers["x-consumer-custom-id"].is_null(), "{headers}");
    assert!(headers["x-anonymous-consumer"].is_null(), "{headers}");
}

#[tokio::test]
async fn hide_credentials_strips_the_key() {
    let (proxy, _upstream, _) = setup().await;
    let resp = send(&proxy, get("/hidden?apikey=secret-alice&x=1", "k.test")).await;
    assert_eq!(resp.status, 200);
    // strip_path leaves "/" upstream; the key is gone from the query.
    assert_eq!(resp.json()["request_uri"], "/?x=1");
    let resp = send(
        &proxy,
        get("/hidden", "k.test").header("apikey", "secret-alice"),
    )
    .await;
    assert_eq!(resp.status, 200);
    assert!(resp.json()["headers"]["apikey"].is_null());
}

#[tokio::test]
async fn anonymous_preflight_and_body_keys() {
    let (proxy, _upstream, _) = setup().await;
    let resp = send(&proxy, get("/anon", "k.test")).await;
    assert_eq!(resp.status, 200);
    let headers = &resp.json()["headers"];
    assert_eq!(headers["x-consumer-username"], "guest");
    assert_eq!(headers["x-anonymous-consumer"], "true");
    // run_on_preflight false: OPTIONS passes without a key.
    let resp = send(&proxy, Request::options("/custom").header("host", "k.test")).await;
    assert_eq!(resp.status, 200);
    // key_in_body with a form body.
    let req = Request::post("/custom")
        .header("host", "k.test")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from("x-token=secret-alice&a=1")))
        .unwrap();
    let resp = client::send(proxy.http, req).await.unwrap();
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["headers"]["x-consumer-username"], "alice");
}

#[tokio::test]
async fn the_route_instance_wins_over_the_global_one() {
    let (proxy, _upstream, _) = setup().await;
    // /custom's instance reads x-token only; the global one's apikey does not count.
    let resp = send(
        &proxy,
        Request::get("/custom")
            .header("host", "k.test")
            .header("apikey", "secret-alice"),
    )
    .await;
    assert_eq!(resp.status, 401);
    let resp = send(
        &proxy,
        Request::get("/custom")
            .header("host", "k.test")
            .header("x-token", "secret-alice"),
    )
    .await;
    assert_eq!(resp.status, 200);
}

#[test]
fn the_schema_rejects_bad_configs() {
    let config = ConfigSet {
        plugins: vec![plugin("key-auth", json!({"key_names": ["bad key"]}))],
        ..Default::default()
    };
    let err = rejected(&config);
    assert!(err.contains("key_names"), "{err}");
    let config = ConfigSet {
        plugins: vec![plugin("key-auth", json!({"hide_credentials": "yes"}))],
        ..Default::default()
    };
    let err = rejected(&config);
    assert!(err.contains("expected a boolean"), "{err}");
}
