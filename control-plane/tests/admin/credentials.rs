//! kong-behaviours.md §1.10: key-auth credentials (cases 128–131), and the other bundled
//! credentials (basic-auth, hmac-auth, acls, jwt) through the same generic endpoints.

use axum::http::Method;
use serde_json::{Value, json};

use crate::admin_tests;
use crate::support::{Api, id};

/// #128, #129, #130, #131: key-auth.
async fn key_auth(api: &Api) {
    let bob = api.create("/consumers", json!({"username": "bob"})).await;
    api.create("/consumers", json!({"username": "alice"})).await;
    let cred = api
        .post("/consumers/bob/key-auth", json!({"key": "1234"}))
        .await
        .expect(201)
        .clone();
    assert_eq!(cred["consumer"], json!({"id": id(&bob)}));
    assert_eq!(cred["key"], "1234");
    let generated = api
        .post("/consumers/bob/key-auth", json!({}))
        .await
        .expect(201)
        .clone();
    let key = generated["key"].as_str().unwrap_or_default();
    assert!(key.len() >= 16, "{generated}");
    assert_ne!(key, "1234");

    let body = api
        .put("/consumers/bob/key-auth/5678", json!({}))
        .await
        .expect(200)
        .clone();
    assert_eq!(body["key"], "5678");
    assert_eq!(body["consumer"], json!({"id": id(&bob)}));
    assert_eq!(
        api.get(&format!("/consumers/bob/key-auth/{}", id(&cred)))
            .await
            .expect(200),
        &cred
    );
    assert_eq!(
        api.get("/consumers/bob/key-auth/1234").await.expect(200),
        &cred
    );
    api.get("/consumers/alice/key-auth/1234").await.expect(404);

    assert_eq!(
        api.patch(
            &format!("/consumers/bob/key-auth/{}", id(&cred)),
            json!({"key": 123})
        )
        .await
        .expect(400)["fields"],
        json!({"key": "expected a string"})
    );
    api.delete("/consumers/bob/key-auth/blah").await.expect(404);
    assert_eq!(
        api.post("/key-auths", json!({"key": "1234"}))
            .await
            .expect(400)["message"],
        "schema violation (consumer: required field missing)"
    );
    // Top-level access by key, and the credential's consumer.
    assert_eq!(api.get("/key-auths/1234").await.expect(200), &cred);
    assert_eq!(api.get("/key-auths/1234/consumer").await.expect(200), &bob);
    let listed = api.get("/consumers/bob/key-auth").await.expect(200).clone();
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(3));
    // Keys are unique across consumers.
    api.post("/consumers/alice/key-auth", json!({"key": "1234"}))
        .await
        .expect(409);
    assert_eq!(api.delete("/consumers/bob/key-auth/1234").await.status, 204);
    api.get("/key-auths/1234").await.expect(404);
}

/// basic-auth hashes passwords; hmac-auth, jwt and acl credentials.
async fn other_credentials(api: &Api) {
    let bob = api.create("/consumers", json!({"username": "bob"})).await;
    let basic = api
        .form(
            Method::POST,
            "/consumers/bob/basic-auth",
            "username=bob&password=secret",
        )
        .await
        .expect(201)
        .clone();
    assert_ne!(basic["password"], "secret");
    assert_eq!(
        basic["password"],
        common::schema::entities::hash_basicauth_password(&id(&bob), "secret")
    );
    assert_eq!(api.get("/basic-auths/bob").await.expect(200), &basic);

    let hmac = api
        .post("/consumers/bob/hmac-auth", json!({"username": "hmac-bob"}))
        .await
        .expect(201)
        .clone();
    assert!(hmac["secret"].is_string());
    let jwt = api
        .post("/consumers/bob/jwt", json!({}))
        .await
        .expect(201)
        .clone();
    assert_eq!(jwt["algorithm"], "HS256");
    assert_eq!(
        api.get(&format!(
            "/jwts/{}",
            jwt["key"].as_str().unwrap_or_default()
        ))
        .await
        .expect(200),
        &jwt
    );

    let acl = api
        .post("/consumers/bob/acls", json!({"group": "admins"}))
        .await
        .expect(201)
        .clone();
    assert_eq!(
        api.get("/consumers/bob/acls/admins").await.expect(200),
        &acl
    );
    // ACL groups are unique per consumer, so the top-level endpoint takes ids only.
    assert_eq!(
        api.get(&format!("/acls/{}", id(&acl))).await.expect(200),
        &acl
    );
    api.get("/acls/admins").await.expect(400);
    api.post("/consumers/bob/acls", json!({"group": "admins"}))
        .await
        .expect(409);
    let alice = api.create("/consumers", json!({"username": "alice"})).await;
    api.post(
        &format!("/consumers/{}/acls", id(&alice)),
        json!({"group": "admins"}),
    )
    .await
    .expect(201);
    let put = api
        .put("/consumers/bob/acls/readers", json!({}))
        .await
        .expect(200)
        .clone();
    assert_eq!(put["group"], "readers");
    let again = api
        .put("/consumers/bob/acls/readers", json!({"tags": ["t"]}))
        .await
        .expect(200)
        .clone();
    assert_eq!(again["id"], put["id"]);

    // Deleting the consumer deletes its credentials.
    assert_eq!(api.delete("/consumers/bob").await.status, 204);
    api.get(&format!("/basic-auths/{}", id(&basic)))
        .await
        .expect(404);
    api.get(&format!("/acls/{}", id(&acl))).await.expect(404);
    assert_eq!(
        api.get("/acls").await.json["data"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(
        api.get("/hmac-auths").await.json["data"],
        Value::Array(Vec::new())
    );
}

/// key-auth `ttl`: shown as the seconds remaining; an expired credential is gone for the
/// Admin API and deleted by the purge `serve` runs; a write without `ttl` clears it.
async fn key_auth_ttl(api: &Api) {
    let bob = api.create("/consumers", json!({"username": "bob"})).await;
    let cred = api
        .post(
            "/consumers/bob/key-auth",
            json!({"key": "short-lived", "ttl": 100}),
        )
        .await
        .expect(201)
        .clone();
    assert!(matches!(cred["ttl"].as_i64(), Some(99..=100)), "{cred}");
    let fetched = api.get("/key-auths/short-lived").await.expect(200).clone();
    assert!(
        matches!(fetched["ttl"].as_i64(), Some(98..=100)),
        "{fetched}"
    );
    let form = api
        .form(
            Method::POST,
            "/consumers/bob/key-auth",
            "key=form-ttl&ttl=50",
        )
        .await
        .expect(201)
        .clone();
    assert!(matches!(form["ttl"].as_i64(), Some(49..=50)), "{form}");
    for bad in [json!(-1), json!(1.5), json!("abc"), json!(100_000_001)] {
        let body = api
            .post("/consumers/bob/key-auth", json!({"ttl": bad}))
            .await
            .expect(400)
            .clone();
        assert_eq!(
            body["message"],
            "invalid option (ttl: must be an integer between 0 and 1e+08)"
        );
    }
    // A PATCH without ttl leaves the credential without expiry (as Kong's does).
    let patched = api
        .patch("/key-auths/short-lived", json!({"tags": ["x"]}))
        .await
        .expect(200)
        .clone();
    assert!(patched.get("ttl").is_none(), "{patched}");

    // An expired credential, stored as if created a while ago.
    let mut old = common::schema::catalog()
        .insert(
            common::model::EntityKind::KeyAuthCredential,
            json!({"key": "expired", "consumer": {"id": id(&bob)}})
                .as_object()
                .cloned()
                .unwrap(),
        )
        .unwrap();
    let past = old["created_at"].as_i64().unwrap() - 1000;
    old.insert("created_at".into(), json!(past));
    old.insert("ttl".into(), json!(10));
    let kind = common::model::EntityKind::KeyAuthCredential;
    api.store.store.insert(kind, &old).await.unwrap();
    api.get("/key-auths/expired").await.expect(404);
    api.get(&format!("/key-auths/{}", old["id"].as_str().unwrap()))
        .await
        .expect(404);
    let keys: Vec<Value> = api.get("/consumers/bob/key-auth").await.json["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|c| c["key"].clone())
        .collect();
    assert!(!keys.contains(&json!("expired")), "{keys:?}");
    let purged = control_plane::admin::ttl::purge_expired(&api.store.store)
        .await
        .unwrap();
    assert_eq!(purged, 1);
    api.post("/consumers/bob/key-auth", json!({"key": "expired"}))
        .await
        .expect(201);
}

admin_tests!(key_auth, other_credentials, key_auth_ttl);
