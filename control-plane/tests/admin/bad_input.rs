//! Bad input never yields a 500 or a partial write: malformed JSON, wrong types, unknown
//! fields, invalid UTF-8, and concurrent conflicting writes (exactly one create wins;
//! concurrent PUTs of one key all succeed).

use axum::http::Method;
use serde_json::json;

use crate::admin_tests;
use crate::support::Api;

/// A matrix of malformed bodies against every collection: always a 4xx JSON answer, and
/// nothing stored.
async fn malformed_bodies_are_4xx(api: &Api) {
    let collections = [
        "/services",
        "/routes",
        "/consumers",
        "/plugins",
        "/upstreams",
        "/certificates",
        "/snis",
        "/ca_certificates",
        "/key-auths",
        "/basic-auths",
        "/hmac-auths",
        "/acls",
        "/jwts",
    ];
    let json_bodies = [
        "{",
        "[",
        "null",
        "42",
        "\"text\"",
        "[1, 2]",
        "{\"host\": 42}",
        "{\"name\": {\"nested\": true}}",
        "{\"unknown_field\": 1}",
        "{\"tags\": \"not-a-list\"}",
        "{\"id\": \"not-a-uuid\"}",
        "{\"created_at\": \"yesterday\"}",
        "{\"service\": \"abc\"}",
        "{\"consumer\": {\"id\": 12}}",
        "{\"config\": [1]}",
        "{\"port\": 1e400}",
        "{\"a\": \"\\ud800\"}",
    ];
    let form_bodies = [
        "a%FF=1",
        "name=%FF",
        "%=1",
        "a[=1",
        "a]=1&a[1][2]=x&a.b=y",
        "config.=1",
        "snis[999999999999]=x&unknown=1",
        "name[a][b][c][d]=1",
        "port=abc",
        "tags[1]=a&tags=b",
    ];
    let version = api.store.store.current_version().await.unwrap();
    for path in collections {
        for body in json_bodies {
            let res = api
                .send(
                    Method::POST,
                    path,
                    &[("content-type", "application/json")],
                    body,
                )
                .await;
            assert!(
                res.status.is_client_error(),
                "POST {path} {body}: {} {}",
                res.status,
                res.text
            );
            assert!(res.json.is_object(), "POST {path} {body}: {}", res.text);
        }
        for body in form_bodies {
            let res = api.form(Method::POST, path, body).await;
            assert!(
                res.status.is_client_error(),
                "POST {path} {body}: {} {}",
                res.status,
                res.text
            );
            assert!(res.json.is_object(), "POST {path} {body}: {}", res.text);
        }
        let res = api
            .send(
                Method::POST,
                path,
                &[("content-type", "multipart/form-data; boundary=b")],
                "--b\r\nbroken",
            )
            .await;
        assert!(
            res.status.is_client_error(),
            "multipart {path}: {}",
            res.text
        );
        let listed = api.get(path).await;
        assert_eq!(listed.expect(200)["data"], json!([]), "{path}");
    }
    assert_eq!(
        api.store.store.current_version().await.unwrap(),
        version,
        "a refused write uses no configuration version"
    );
}

/// Invalid UTF-8 in keys (JSON, form, multipart), values and path segments is a 400,
/// never a 500.
async fn invalid_utf8(api: &Api) {
    let res = api.form(Method::POST, "/services", "host%FF=x.test").await;
    assert_eq!(
        res.expect(400),
        &json!({"message": "invalid utf-8 in argument name"})
    );
    let res = api
        .send(
            Method::POST,
            "/consumers",
            &[("content-type", "application/x-www-form-urlencoded")],
            b"user\xffname=x".to_vec(),
        )
        .await;
    assert_eq!(
        res.expect(400),
        &json!({"message": "invalid utf-8 in argument name"})
    );
    let res = api
        .send(
            Method::POST,
            "/consumers",
            &[("content-type", "application/json")],
            b"{\"user\xffname\": \"x\"}".to_vec(),
        )
        .await;
    assert_eq!(
        res.expect(400),
        &json!({"message": "Cannot parse JSON body"})
    );
    let multipart = |name: &[u8], value: &[u8]| {
        [
            &b"--b\r\nContent-Disposition: form-data; name=\""[..],
            name,
            b"\"\r\n\r\n",
            value,
            b"\r\n--b--\r\n",
        ]
        .concat()
    };
    let content_type = [("content-type", "multipart/form-data; boundary=b")];
    let res = api
        .send(
            Method::POST,
            "/consumers",
            &content_type,
            multipart(b"user\xffname", b"x"),
        )
        .await;
    assert_eq!(
        res.expect(400),
        &json!({"message": "invalid utf-8 in argument name"})
    );
    let res = api
        .send(
            Method::POST,
            "/consumers",
            &content_type,
            multipart(b"username", b"bob\xff"),
        )
        .await;
    assert_eq!(
        res.expect(400),
        &json!({"message": "invalid utf-8 in argument value"})
    );
    assert_eq!(api.get("/consumers").await.json["data"], json!([]));
    let res = api.get("/services/%FF%FE").await;
    assert_eq!(res.status, 400, "{}", res.text);
    assert!(
        res.json["message"]
            .as_str()
            .unwrap_or_default()
            .contains("invalid utf-8")
    );
    let res = api.put("/consumers/%C3", json!({})).await;
    assert_eq!(res.status, 400, "{}", res.text);
    let res = api.get("/services?offset=%FF").await;
    assert_eq!(res.status, 400, "{}", res.text);
    let res = api.get("/services?size=%FF").await;
    assert_eq!(res.status, 400, "{}", res.text);
}

/// Wrong types and unknown fields give Kong's schema violations.
async fn wrong_types_and_unknown_fields(api: &Api) {
    let body = api
        .post(
            "/services",
            json!({"host": "x.test", "port": "eighty", "foo": 1}),
        )
        .await
        .expect(400)
        .clone();
    assert_eq!(
        body["fields"],
        json!({"port": "expected an integer", "foo": "unknown field"})
    );
    let body = api
        .post("/consumers", json!({"username": ["a"]}))
        .await
        .expect(400)
        .clone();
    assert_eq!(body["fields"]["username"], "expected a string");
    // Form values that cannot be converted reach validation as they are.
    let body = api
        .form(
            Method::POST,
            "/services",
            "host=x.test&retries=many&enabled=maybe",
        )
        .await
        .expect(400)
        .clone();
    assert_eq!(body["fields"]["retries"], "expected an integer");
    assert_eq!(body["fields"]["enabled"], "expected a boolean");
}

/// Concurrent POSTs of one name: exactly one 201, the others 409, one entity stored.
async fn concurrent_conflicting_creates(api: &Api) {
    let attempts = 8;
    let results = futures_util::future::join_all((0..attempts).map(|i| async move {
        api.post(
            "/services",
            json!({"name": "contested", "host": format!("h{i}.test")}),
        )
        .await
        .status
        .as_u16()
    }))
    .await;
    assert_eq!(
        results.iter().filter(|s| **s == 201).count(),
        1,
        "{results:?}"
    );
    assert_eq!(
        results.iter().filter(|s| **s == 409).count(),
        attempts - 1,
        "{results:?}"
    );
    assert_eq!(
        api.get("/services").await.json["data"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

/// Concurrent PUTs of one endpoint key that does not exist yet: each one creates or
/// replaces (Kong's upsert by name), so all answer 200 and one entity remains; the same
/// under a parent (ACL groups are unique per consumer).
async fn concurrent_puts_by_endpoint_key(api: &Api) {
    let attempts = 6;
    let results = futures_util::future::join_all((0..attempts).map(|i| async move {
        let res = api
            .put("/services/contested", json!({"host": format!("h{i}.test")}))
            .await;
        (res.status.as_u16(), res.text)
    }))
    .await;
    assert!(results.iter().all(|(s, _)| *s == 200), "{results:?}");
    let listed = api.get("/services").await.json["data"].clone();
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["name"], "contested");

    api.create("/consumers", json!({"username": "bob"})).await;
    let results = futures_util::future::join_all((0..attempts).map(|i| async move {
        let res = api
            .put(
                "/consumers/bob/acls/readers",
                json!({"tags": [format!("t{i}")]}),
            )
            .await;
        (res.status.as_u16(), res.text)
    }))
    .await;
    assert!(results.iter().all(|(s, _)| *s == 200), "{results:?}");
    assert_eq!(
        api.get("/consumers/bob/acls").await.json["data"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

/// Concurrent certificates claiming one SNI: one wins; no certificate is left without
/// its SNIs (the certificate and its SNI rows commit together).
async fn concurrent_certificates_are_all_or_nothing(api: &Api) {
    let rsa = crate::fixtures::rsa();
    let attempts = 6;
    let results = futures_util::future::join_all((0..attempts).map(|i| {
        let body = json!({"cert": rsa.cert, "key": rsa.key,
                          "snis": ["shared.test", format!("own{i}.test")]});
        async move { api.post("/certificates", body).await.status.as_u16() }
    }))
    .await;
    assert_eq!(
        results.iter().filter(|s| **s == 201).count(),
        1,
        "{results:?}"
    );
    assert!(
        results.iter().all(|s| [201, 400, 409].contains(s)),
        "{results:?}"
    );
    let certificates = api.get("/certificates").await.json["data"].clone();
    assert_eq!(certificates.as_array().map(Vec::len), Some(1));
    assert_eq!(certificates[0]["snis"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        api.get("/snis").await.json["data"].as_array().map(Vec::len),
        Some(2)
    );
}

admin_tests!(
    malformed_bodies_are_4xx,
    invalid_utf8,
    wrong_types_and_unknown_fields,
    concurrent_conflicting_creates,
    concurrent_puts_by_endpoint_key,
    concurrent_certificates_are_all_or_nothing,
);
