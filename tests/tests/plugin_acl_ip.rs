//! acl and ip-restriction against the real data plane.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use data_plane::runtime::ConfigSet;
use http_body_util::Full;
use portico_tests::client::{self, get};
use portico_tests::entities::{
    PluginScope, acl_group, consumer, key_credential, plugin, route_paths, service,
};
use portico_tests::proxy::{TestProxy, rejected};
use portico_tests::upstream::Upstream;
use serde_json::{Value, json};

fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

async fn send(proxy: &TestProxy, req: http::request::Builder) -> client::Resp {
    client::send(proxy.http, req.body(empty()).unwrap())
        .await
        .unwrap()
}

fn assert_rejected(name: &str, cases: &[(Value, &str)]) {
    for (conf, message) in cases {
        let config = ConfigSet {
            plugins: vec![plugin(name, conf.clone())],
            ..Default::default()
        };
        let err = rejected(&config);
        assert!(err.contains(message), "{name} {conf}: {err}");
    }
}

#[tokio::test]
async fn acl_allows_and_denies_by_group() {
    let upstream = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let admins = route_paths(Some(&svc), &["/admins"]);
    let no_banned = route_paths(Some(&svc), &["/no-banned"]);
    let hidden = route_paths(Some(&svc), &["/hidden"]);
    let open = route_paths(Some(&svc), &["/open"]);
    let (alice, bob, carol) = (consumer("alice"), consumer("bob"), consumer("carol"));
    let config = ConfigSet {
        plugins: vec![
            plugin("key-auth", json!({})),
            plugin("acl", json!({"allow": ["admin"]})).on_route(&admins),
            plugin("acl", json!({"deny": ["banned"]})).on_route(&no_banned),
            plugin(
                "acl",
                json!({"allow": ["admin"], "hide_groups_header": true}),
            )
            .on_route(&hidden),
            plugin("acl", json!({"allow": ["admin"]})).on_route(&open),
            plugin("key-auth", json!({"anonymous": "carol"})).on_route(&open),
        ],
        keyauth_credentials: vec![key_credential(&alice, "ka"), key_credential(&bob, "kb")],
        acls: vec![
            acl_group(&alice, "admin"),
            acl_group(&alice, "dev"),
            acl_group(&bob, "banned"),
        ],
        consumers: vec![alice, bob, carol],
        routes: vec![admins, no_banned, hidden, open],
        services: vec![svc],
        ..Default::default()
    };
    let proxy = TestProxy::start(config).await;
    let with = |path: &str, key: &str| get(path, "acl.test").header("apikey", key);

    let resp = send(&proxy, with("/admins", "ka")).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["headers"]["x-consumer-groups"], "admin, dev");
    let resp = send(&proxy, with("/admins", "kb")).await;
    assert_eq!(resp.status, 403);
    assert_eq!(resp.json()["message"], "You cannot consume this service");

    assert_eq!(send(&proxy, with("/no-banned", "ka")).await.status, 200);
    assert_eq!(send(&proxy, with("/no-banned", "kb")).await.status, 403);

    let resp = send(&proxy, with("/hidden", "ka")).await;
    assert_eq!(resp.status, 200);
    assert!(resp.json()["headers"]["x-consumer-groups"].is_null());

    // The anonymous consumer has no groups and no credential: 401.
    let resp = send(&proxy, get("/open", "acl.test")).await;
    assert_eq!(resp.status, 401);
    assert_eq!(resp.json()["message"], "Unauthorized");
}

#[test]
fn acl_schema_rejects_bad_configs() {
    assert_rejected(
        "acl",
        &[
            (json!({}), "at least one of these fields must be non-empty"),
            (
                json!({"allow": ["a"], "deny": ["b"]}),
                "exactly one of these fields must be non-empty",
            ),
        ],
    );
}

#[tokio::test]
async fn ip_restriction_denies_and_allows() {
    let upstream = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let denied = route_paths(Some(&svc), &["/denied"]);
    let allowed = route_paths(Some(&svc), &["/allowed"]);
    let custom = route_paths(Some(&svc), &["/custom"]);
    let config = ConfigSet {
        plugins: vec![
            // Global: everyone but 10.0.0.0/8; loopback is allowed here.
            plugin("ip-restriction", json!({"deny": ["10.0.0.0/8"]})),
            plugin("ip-restriction", json!({"deny": ["127.0.0.1"]})).on_route(&denied),
            plugin("ip-restriction", json!({"allow": ["127.0.0.0/8", "::1"]})).on_route(&allowed),
            plugin(
                "ip-restriction",
                json!({"allow": ["192.0.2.1"], "status": 401, "message": "go away"}),
            )
            .on_route(&custom),
        ],
        routes: vec![denied, allowed, custom],
        services: vec![svc],
        ..Default::default()
    };
    let proxy = TestProxy::start(config).await;
    let resp = send(&proxy, get("/denied", "ip.test")).await;
    assert_eq!(resp.status, 403);
    assert_eq!(resp.json()["message"], "IP address not allowed: 127.0.0.1");
    assert_eq!(send(&proxy, get("/allowed", "ip.test")).await.status, 200);
    let resp = send(&proxy, get("/custom", "ip.test")).await;
    assert_eq!(resp.status, 401);
    assert_eq!(resp.json()["message"], "go away");
}

#[test]
fn ip_restriction_schema_rejects_bad_configs() {
    assert_rejected(
        "ip-restriction",
        &[
            (json!({"allow": ["not-an-ip"]}), "invalid ip or cidr range"),
            (json!({}), "at least one of these fields must be non-empty"),
        ],
    );
}
