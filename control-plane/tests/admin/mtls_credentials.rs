//! Kong Enterprise's mtls-auth subject-name mappings (`mtls_auth_credentials`):
//! `/consumers/{c}/mtls-auth[/{id}]` and `/mtls-auths`, with the optional CA restriction.

use axum::http::Method;
use serde_json::json;

use crate::admin_tests;
use crate::fixtures;
use crate::support::{Api, id};

/// Create, read, list, update, replace and delete through the nested and top-level
/// endpoints; `ca_certificate` by id; mappings have no endpoint key.
async fn mtls_auth_crud(api: &Api) {
    let bob = api.create("/consumers", json!({"username": "bob"})).await;
    api.create("/consumers", json!({"username": "alice"})).await;
    let ca = api
        .create("/ca_certificates", json!({"cert": fixtures::ca()}))
        .await;

    let any_ca = api
        .post(
            "/consumers/bob/mtls-auth",
            json!({"subject_name": "bob@example.com"}),
        )
        .await
        .expect(201)
        .clone();
    assert_eq!(any_ca["consumer"], json!({"id": id(&bob)}));
    assert_eq!(any_ca["subject_name"], "bob@example.com");
    assert_eq!(any_ca["ca_certificate"], json!(null));
    assert!(any_ca["created_at"].is_i64(), "{any_ca}");
    let form = format!("subject_name=bob.example.com&ca_certificate.id={}", id(&ca));
    let with_ca = api
        .form(Method::POST, "/consumers/bob/mtls-auth", &form)
        .await
        .expect(201)
        .clone();
    assert_eq!(with_ca["ca_certificate"], json!({"id": id(&ca)}));

    let path = format!("/consumers/bob/mtls-auth/{}", id(&any_ca));
    assert_eq!(api.get(&path).await.expect(200), &any_ca);
    api.get(&format!("/consumers/alice/mtls-auth/{}", id(&any_ca)))
        .await
        .expect(404);
    // No endpoint key: only ids name a mapping.
    api.get("/consumers/bob/mtls-auth/bob@example.com")
        .await
        .expect(400);
    let listed = api
        .get("/consumers/bob/mtls-auth")
        .await
        .expect(200)
        .clone();
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        api.get("/consumers/alice/mtls-auth").await.expect(200)["data"],
        json!([])
    );
    let all = api.get("/mtls-auths").await.expect(200).clone();
    assert_eq!(all["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        api.get(&format!("/mtls-auths/{}", id(&with_ca)))
            .await
            .expect(200),
        &with_ca
    );
    assert_eq!(
        api.get(&format!("/mtls-auths/{}/consumer", id(&with_ca)))
            .await
            .expect(200),
        &bob
    );

    let patched = api
        .patch(
            &path,
            json!({"subject_name": "bob@example.org", "tags": ["t"]}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(patched["subject_name"], "bob@example.org");
    assert_eq!(patched["tags"], json!(["t"]));
    assert_eq!(patched["id"], any_ca["id"]);
    assert_eq!(
        api.patch(&path, json!({"subject_name": null}))
            .await
            .expect(400)["message"],
        "schema violation (subject_name: required field missing)"
    );

    // PUT creates under the consumer of the URL.
    let new_id = uuid::Uuid::new_v4();
    let put = api
        .put(
            &format!("/consumers/alice/mtls-auth/{new_id}"),
            json!({"subject_name": "alice@example.com"}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(put["id"], new_id.to_string());
    let alice = api.get("/consumers/alice").await.expect(200).clone();
    assert_eq!(put["consumer"], json!({"id": id(&alice)}));
    let replaced = api
        .put(
            &format!("/consumers/alice/mtls-auth/{new_id}"),
            json!({"subject_name": "alice.example.com", "ca_certificate": {"id": id(&ca)}}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(replaced["ca_certificate"], json!({"id": id(&ca)}));
    assert_eq!(replaced["created_at"], put["created_at"]);

    assert_eq!(api.delete(&path).await.status, 204);
    api.get(&path).await.expect(404);
    api.delete(&format!("/consumers/alice/mtls-auth/{}", id(&with_ca)))
        .await
        .expect(404);
}

/// A subject name is unique per CA (an absent CA counting as one), across consumers;
/// required fields and references are checked with Kong's errors; deleting the consumer
/// or the CA deletes the mappings.
async fn mtls_auth_constraints(api: &Api) {
    let bob = api.create("/consumers", json!({"username": "bob"})).await;
    api.create("/consumers", json!({"username": "alice"})).await;
    let ca = api
        .create("/ca_certificates", json!({"cert": fixtures::ca()}))
        .await;

    assert_eq!(
        api.post("/consumers/bob/mtls-auth", json!({}))
            .await
            .expect(400)["message"],
        "schema violation (subject_name: required field missing)"
    );
    assert_eq!(
        api.post("/mtls-auths", json!({"subject_name": "x"}))
            .await
            .expect(400)["message"],
        "schema violation (consumer: required field missing)"
    );
    let ghost = uuid::Uuid::new_v4();
    let body = api
        .post(
            "/mtls-auths",
            json!({"subject_name": "x", "consumer": {"id": ghost}}),
        )
        .await
        .expect(400)
        .clone();
    assert_eq!(body["code"], 4);
    assert_eq!(
        body["message"],
        format!(
            "the foreign key '{{id=\"{ghost}\"}}' does not reference an existing 'consumers' entity."
        )
    );
    api.post("/consumers/nobody/mtls-auth", json!({"subject_name": "x"}))
        .await
        .expect(404);
    let body = api
        .post(
            "/consumers/bob/mtls-auth",
            json!({"subject_name": "x", "ca_certificate": {"id": ghost}}),
        )
        .await
        .expect(400)
        .clone();
    assert_eq!(body["code"], 4);

    let plain = api
        .post(
            "/consumers/bob/mtls-auth",
            json!({"subject_name": "shared"}),
        )
        .await
        .expect(201)
        .clone();
    let conflict = api
        .post(
            "/consumers/alice/mtls-auth",
            json!({"subject_name": "shared"}),
        )
        .await
        .expect(409)
        .clone();
    assert_eq!(conflict["code"], 5);
    // The same name under a CA is another mapping.
    let scoped = api
        .post(
            "/consumers/alice/mtls-auth",
            json!({"subject_name": "shared", "ca_certificate": {"id": id(&ca)}}),
        )
        .await
        .expect(201)
        .clone();
    api.post(
        "/consumers/bob/mtls-auth",
        json!({"subject_name": "shared", "ca_certificate": {"id": id(&ca)}}),
    )
    .await
    .expect(409);

    // Deleting the CA deletes the mappings restricted to it; the consumer's go with it.
    assert_eq!(
        api.delete(&format!("/ca_certificates/{}", id(&ca)))
            .await
            .status,
        204
    );
    api.get(&format!("/mtls-auths/{}", id(&scoped)))
        .await
        .expect(404);
    api.get(&format!("/mtls-auths/{}", id(&plain)))
        .await
        .expect(200);
    assert_eq!(
        api.delete(&format!("/consumers/{}", id(&bob))).await.status,
        204
    );
    assert_eq!(api.get("/mtls-auths").await.expect(200)["data"], json!([]));
}

admin_tests!(mtls_auth_crud, mtls_auth_constraints);
