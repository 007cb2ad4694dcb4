//! A configuration written through the Admin API (random ids, hashed passwords, generated
//! keys, explicit nulls, certificates with SNIs, CA certificates) survives export and
//! import unchanged, on Postgres and on SQLite.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request};
use common::cluster_tls::generate::{CertAuthority, Validity};
use common::declarative;
use control_plane::admin::{AdminApi, AdminConfig, AdminState};
use control_plane::declarative::{ImportOutcome, export, import};
use control_plane::store::testing::TestStore;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

const CERT: &str = include_str!("../admin/fixtures/rsa-cert.pem");
const KEY: &str = include_str!("../admin/fixtures/rsa-key.pem");

async fn call(router: &Router, method: Method, path: &str, body: Value) -> (u16, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn created(router: &Router, path: &str, body: Value) -> Value {
    let (status, body) = call(router, Method::POST, path, body).await;
    assert_eq!(status, 201, "POST {path}: {body}");
    body
}

async fn admin_written_configuration_round_trips(t: TestStore) {
    let state = AdminState::new(t.store.clone(), Uuid::new_v4(), AdminConfig::default());
    let api = AdminApi::new(state).router();
    let ca = CertAuthority::new(Validity::default())
        .unwrap()
        .pem()
        .cert_pem;

    created(
        &api,
        "/services",
        json!({"name": "s1", "url": "http://a.internal:8080/p"}),
    )
    .await;
    created(
        &api,
        "/services/s1/routes",
        json!({"name": "r1", "paths": ["/r1"], "hosts": ["a.example.com"]}),
    )
    .await;
    created(&api, "/routes/r1/plugins", json!({"name": "key-auth"})).await;
    created(&api, "/plugins", json!({"name": "prometheus"})).await;
    created(
        &api,
        "/consumers",
        json!({"username": "alice", "custom_id": "c1"}),
    )
    .await;
    created(
        &api,
        "/consumers/alice/basic-auth",
        json!({"username": "u", "password": "secret"}),
    )
    .await;
    let key = created(&api, "/consumers/alice/key-auth", json!({})).await;
    created(&api, "/consumers/alice/acls", json!({"group": "admins"})).await;
    created(&api, "/plugins", json!({"name": "rate-limiting", "service": {"name": "s1"}, "consumer": {"username": "alice"}, "config": {"second": 5}})).await;
    created(&api, "/upstreams", json!({"name": "up"})).await;
    created(
        &api,
        "/upstreams/up/targets",
        json!({"target": "10.0.0.1:80", "weight": 50}),
    )
    .await;
    let cert = created(
        &api,
        "/certificates",
        json!({"cert": CERT, "key": KEY, "snis": ["a.example.com", "b.example.com"]}),
    )
    .await;
    let ca = created(&api, "/ca_certificates", json!({"cert": ca})).await;
    created(&api, "/services", json!({"name": "s2", "url": "https://b.internal", "tls_verify": true, "ca_certificates": [ca["id"]]})).await;
    // An explicit null where importing would otherwise give the default ("/").
    let (status, body) = call(
        &api,
        Method::PATCH,
        "/upstreams/up",
        json!({"hash_on_cookie_path": null}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["hash_on_cookie_path"], Value::Null);

    let version = t.store.current_version().await.unwrap();
    let stored = t.store.snapshot().await.unwrap();
    let text = export(&t.store).await.unwrap();
    let parsed = declarative::parse(&text).unwrap_or_else(|e| panic!("{}\n{text}", e.report()));
    assert_eq!(
        import(&t.store, &parsed).await.unwrap(),
        ImportOutcome::Unchanged { version },
        "export -> import must change nothing:\n{text}"
    );
    assert_eq!(t.store.snapshot().await.unwrap(), stored);

    // A changed import keeps the rest as the Admin API shows it.
    let changed = text.replace("host: a.internal", "host: changed.internal");
    assert_ne!(changed, text);
    let outcome = import(&t.store, &declarative::parse(&changed).unwrap())
        .await
        .unwrap();
    assert!(matches!(outcome, ImportOutcome::Replaced { version: v, .. } if v == version + 1));
    let (status, s1) = call(&api, Method::GET, "/services/s1", Value::Null).await;
    assert_eq!(status, 200);
    assert_eq!(s1["host"], "changed.internal");
    let (_, up) = call(&api, Method::GET, "/upstreams/up", Value::Null).await;
    assert_eq!(up["hash_on_cookie_path"], Value::Null);
    let path = format!("/certificates/{}", cert["id"].as_str().unwrap());
    let (status, body) = call(&api, Method::GET, &path, Value::Null).await;
    assert_eq!(status, 200);
    assert_eq!(body["snis"], json!(["a.example.com", "b.example.com"]));
    let (_, keys) = call(&api, Method::GET, "/consumers/alice/key-auth", Value::Null).await;
    assert_eq!(keys["data"][0]["key"], key["key"]);
    let (_, basic) = call(
        &api,
        Method::GET,
        "/consumers/alice/basic-auth",
        Value::Null,
    )
    .await;
    let stored_password =
        stored.of(common::model::EntityKind::BasicAuthCredential)[0]["password"].clone();
    assert_eq!(
        basic["data"][0]["password"], stored_password,
        "not hashed twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_written_configuration_round_trips_postgres() {
    admin_written_configuration_round_trips(TestStore::postgres().await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_written_configuration_round_trips_sqlite() {
    admin_written_configuration_round_trips(TestStore::sqlite().await.unwrap()).await;
}
