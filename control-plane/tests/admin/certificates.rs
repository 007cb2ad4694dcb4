//! kong-behaviours.md §1.8: certificates, SNIs and CA certificates (cases 109–122).

use axum::http::Method;
use serde_json::{Value, json};

use crate::admin_tests;
use crate::fixtures::{self, Pair};
use crate::support::{Api, id};

fn cert_body(pair: &Pair, snis: Option<&[&str]>) -> Value {
    let mut body = json!({"cert": pair.cert, "key": pair.key});
    if let Some(snis) = snis {
        body["snis"] = json!(snis);
    }
    body
}

/// #109: creation with and without SNIs, in every encoding.
async fn create_certificates(api: &Api) {
    let rsa = fixtures::rsa();
    let created = api
        .create(
            "/certificates",
            cert_body(&rsa, Some(&["n1.test", "n2.test"])),
        )
        .await;
    assert_eq!(created["snis"], json!(["n1.test", "n2.test"]));
    assert_eq!(created["cert_alt"], Value::Null);
    assert_eq!(created["key_alt"], Value::Null);
    let res = api.post("/certificates", cert_body(&rsa, None)).await;
    res.expect(201);
    assert!(res.text.contains("\"snis\":[]"), "{}", res.text);

    let form = format!(
        "cert={}&key={}&snis=f1.test&snis=f2.test",
        crate::support::encode(&rsa.cert),
        crate::support::encode(&rsa.key)
    );
    let body = api
        .form(Method::POST, "/certificates", &form)
        .await
        .expect(201)
        .clone();
    assert_eq!(body["snis"], json!(["f1.test", "f2.test"]));
    let body = api
        .multipart(
            Method::POST,
            "/certificates",
            &[
                ("cert", &rsa.cert),
                ("key", &rsa.key),
                ("snis[1]", "m1.test"),
                ("snis[2]", "m2.test"),
            ],
        )
        .await
        .expect(201)
        .clone();
    assert_eq!(body["snis"], json!(["m1.test", "m2.test"]));
    // The SNIs are entities of their own.
    let snis = api.get("/snis").await.expect(200).clone();
    assert_eq!(snis["data"].as_array().map(Vec::len), Some(6));
}

/// #110, #111: SNI conflicts; lookups by id and by SNI name.
async fn sni_conflicts_and_lookups(api: &Api) {
    let rsa = fixtures::rsa();
    let body = api
        .post(
            "/certificates",
            cert_body(&rsa, Some(&["d.test", "d.test"])),
        )
        .await
        .expect(400)
        .clone();
    assert_eq!(
        body["message"],
        "schema violation (snis: d.test is duplicated)"
    );
    assert_eq!(api.get("/certificates").await.json["data"], json!([]));

    let first = api
        .create("/certificates", cert_body(&rsa, Some(&["owned.test"])))
        .await;
    let body = api
        .post(
            "/certificates",
            cert_body(&rsa, Some(&["owned.test", "new.test"])),
        )
        .await
        .expect(400)
        .clone();
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("snis: owned.test already associated with existing certificate"),
        "{message}"
    );
    assert_eq!(
        api.get("/certificates").await.json["data"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    api.get("/snis/new.test").await.expect(404);

    assert_eq!(
        api.get(&format!("/certificates/{}", id(&first)))
            .await
            .expect(200),
        &first
    );
    assert_eq!(
        api.get("/certificates/owned.test").await.expect(200),
        &first
    );
    api.get(&format!("/certificates/{}", uuid::Uuid::new_v4()))
        .await
        .expect(404);
    api.get("/certificates/unknown.test").await.expect(404);
}

/// #112, #113, #114, #115: PUT and certificate checks.
async fn put_certificates(api: &Api) {
    let rsa = fixtures::rsa();
    let body = api
        .put("/certificates/n1.test", cert_body(&rsa, Some(&["n2.test"])))
        .await
        .expect(200)
        .clone();
    assert_eq!(body["snis"], json!(["n1.test", "n2.test"]));
    assert_eq!(
        api.get("/certificates/n2.test").await.expect(200)["id"],
        body["id"]
    );
    let replaced = api
        .put(
            &format!("/certificates/{}", id(&body)),
            body_without_snis(&rsa),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(replaced["snis"], json!([]));
    api.get("/snis/n1.test").await.expect(404);
    assert_eq!(
        api.put(
            &format!("/certificates/{}", uuid::Uuid::new_v4()),
            json!({})
        )
        .await
        .expect(400)["message"],
        "2 schema violations (cert: required field missing; key: required field missing)"
    );

    let ecdsa = fixtures::ecdsa();
    let other_ecdsa = fixtures::ecdsa();
    let fields = api
        .post(
            "/certificates",
            json!({"cert": rsa.cert, "key": rsa.key, "cert_alt": ecdsa.cert}),
        )
        .await
        .expect(400)["fields"]
        .clone();
    assert_eq!(
        fields["@entity"],
        json!(["all or none of these fields must be set: 'cert_alt', 'key_alt'"])
    );
    assert_eq!(
        api.post("/certificates", json!({"cert": rsa.cert, "key": ecdsa.key}))
            .await
            .expect(400)["fields"]["@entity"],
        json!(["certificate does not match key"])
    );
    let fields = api
        .post(
            "/certificates",
            json!({"cert": ecdsa.cert, "key": ecdsa.key,
                   "cert_alt": other_ecdsa.cert, "key_alt": other_ecdsa.key}),
        )
        .await
        .expect(400)["fields"]
        .clone();
    assert!(
        fields["@entity"][0]
            .as_str()
            .unwrap_or_default()
            .starts_with("certificate and alternative certificate need to have different type"),
        "{fields}"
    );
    let dual = api
        .create(
            "/certificates",
            json!({"cert": rsa.cert, "key": rsa.key, "cert_alt": ecdsa.cert, "key_alt": ecdsa.key}),
        )
        .await;
    assert_eq!(dual["cert_alt"], json!(ecdsa.cert));
}

fn body_without_snis(pair: &Pair) -> Value {
    cert_body(pair, None)
}

/// #116, #117: PATCH of the SNI list; DELETE cascades.
async fn patch_and_delete(api: &Api) {
    let rsa = fixtures::rsa();
    let a = api
        .create(
            "/certificates",
            cert_body(&rsa, Some(&["a1.test", "a2.test"])),
        )
        .await;
    let b = api
        .create("/certificates", cert_body(&rsa, Some(&["b1.test"])))
        .await;
    let path = format!("/certificates/{}", id(&a));
    let body = api
        .patch(&path, json!({"snis": ["a1.test"]}))
        .await
        .expect(200)
        .clone();
    assert_eq!(body["snis"], json!(["a1.test"]));
    assert_eq!(
        api.get(&format!("/certificates/{}", id(&b)))
            .await
            .expect(200),
        &b
    );
    let body = api
        .patch(&path, json!({"cert": rsa.cert, "key": rsa.key}))
        .await
        .expect(200)
        .clone();
    assert_eq!(body["snis"], json!(["a1.test"]), "SNIs are kept");
    let body = api
        .patch(&path, json!({"snis": null}))
        .await
        .expect(200)
        .clone();
    assert_eq!(body["snis"], json!([]));
    api.get("/snis/a1.test").await.expect(404);

    assert_eq!(api.delete("/certificates/b1.test").await.status, 204);
    api.get(&format!("/certificates/{}", id(&b)))
        .await
        .expect(404);
    api.get("/snis/b1.test").await.expect(404);
    assert_eq!(api.delete(&path).await.status, 204);
    assert_eq!(api.get("/snis").await.json["data"], json!([]));
}

/// #118, #119, #120: nested and top-level SNIs.
async fn snis(api: &Api) {
    let rsa = fixtures::rsa();
    assert_eq!(
        api.post(
            &format!("/certificates/{}/snis", uuid::Uuid::new_v4()),
            json!({"name": "x.test"})
        )
        .await
        .expect(404),
        &json!({"message": "Not found"})
    );
    let c1 = api
        .create("/certificates", cert_body(&rsa, Some(&["c1.test"])))
        .await;
    let c2 = api
        .create("/certificates", cert_body(&rsa, Some(&["c2.test"])))
        .await;
    let sni = api
        .post(
            &format!("/certificates/{}/snis", id(&c1)),
            json!({"name": "by-id.test"}),
        )
        .await
        .expect(201)
        .clone();
    assert_eq!(sni["certificate"], json!({"id": id(&c1)}));
    let sni = api
        .post("/certificates/c1.test/snis", json!({"name": "by-sni.test"}))
        .await
        .expect(201)
        .clone();
    assert_eq!(sni["certificate"]["id"], c1["id"]);
    assert_eq!(
        api.post("/certificates/c1.test/snis", json!({"name": "c2.test"}))
            .await
            .expect(409)["name"],
        "unique constraint violation"
    );
    let listed = api
        .get("/certificates/c1.test/snis")
        .await
        .expect(200)
        .clone();
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(3));

    api.create(
        "/snis",
        json!({"name": "*.x.test", "certificate": {"id": id(&c1)}}),
    )
    .await;
    api.create(
        "/snis",
        json!({"name": "x.test.*", "certificate": {"id": id(&c1)}}),
    )
    .await;
    assert_eq!(
        api.post(
            "/snis",
            json!({"name": "*.wildcard.*", "certificate": {"id": id(&c1)}})
        )
        .await
        .expect(400)["fields"]["name"],
        "only one wildcard must be specified"
    );
    api.create(
        "/snis",
        json!({"name": "*.wildcard.test", "certificate": {"id": id(&c1)}}),
    )
    .await;
    api.get("/snis/%2A.wildcard.test").await.expect(200);

    assert_eq!(
        api.put(&format!("/snis/{}", uuid::Uuid::new_v4()), json!({}))
            .await
            .expect(400)["message"],
        "2 schema violations (certificate: required field missing; name: required field missing)"
    );
    api.patch("/snis/by-id.test", json!({"certificate": {"id": id(&c2)}}))
        .await
        .expect(200);
    let c2_now = api
        .get(&format!("/certificates/{}", id(&c2)))
        .await
        .expect(200)
        .clone();
    assert_eq!(c2_now["snis"], json!(["by-id.test", "c2.test"]));
}

/// #121, #122: CA certificates.
async fn ca_certificates(api: &Api) {
    assert_eq!(
        api.post("/ca_certificates", json!({"cert": fixtures::leaf()}))
            .await
            .expect(400)["message"],
        "schema violation (certificate does not appear to be a CA because it is missing the \"CA\" basic constraint)"
    );
    assert_eq!(
        api.post("/ca_certificates", json!({"cert": fixtures::expired_ca()}))
            .await
            .expect(400)["message"],
        "schema violation (certificate expired, \"Not After\" time is in the past)"
    );
    let two = format!("{}{}", fixtures::ca(), fixtures::ca());
    assert_eq!(
        api.post("/ca_certificates", json!({"cert": two}))
            .await
            .expect(400)["message"],
        "schema violation (please submit only one certificate at a time)"
    );
    let ca = api
        .create("/ca_certificates", json!({"cert": fixtures::ca()}))
        .await;
    assert!(ca["cert_digest"].is_string());
    let svc = api
        .create(
            "/services",
            json!({"url": "https://example.test", "ca_certificates": [id(&ca)]}),
        )
        .await;
    assert_eq!(
        api.delete(&format!("/ca_certificates/{}", id(&ca)))
            .await
            .expect(400),
        &json!({"code": 19, "name": "referenced by others",
        "message": format!(
            "ca certificate {} is still referenced by services (id = {})",
            id(&ca),
            id(&svc)
        )})
    );
    // CA certificates have no endpoint key: a non-UUID is an invalid primary key.
    assert_eq!(
        api.get("/ca_certificates/not-a-uuid").await.expect(400)["code"],
        1
    );
    assert_eq!(
        api.delete(&format!("/services/{}", id(&svc))).await.status,
        204
    );
    assert_eq!(
        api.delete(&format!("/ca_certificates/{}", id(&ca)))
            .await
            .status,
        204
    );
    // A service cannot trust a CA certificate that does not exist.
    let ghost = uuid::Uuid::new_v4();
    let body = api
        .post(
            "/services",
            json!({"url": "https://example.test", "ca_certificates": [ghost]}),
        )
        .await
        .expect(400)
        .clone();
    assert_eq!(body["code"], 4);
}

admin_tests!(
    create_certificates,
    sni_conflicts_and_lookups,
    put_certificates,
    patch_and_delete,
    snis,
    ca_certificates,
);
