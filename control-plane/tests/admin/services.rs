//! kong-behaviours.md §1.2: services (cases 13–35).

use axum::http::Method;
use serde_json::{Value, json};

use crate::admin_tests;
use crate::support::{Api, Encoding, id, send_encoded};

/// #13: POST in every encoding, with Kong's defaults.
async fn create_in_every_encoding(api: &Api) {
    for (i, encoding) in Encoding::ALL.into_iter().enumerate() {
        let host = format!("service{i}.test");
        let res = send_encoded(
            api,
            encoding,
            Method::POST,
            "/services",
            json!({"protocol": "http", "host": host}),
            &[("protocol", "http"), ("host", &host)],
        )
        .await;
        let body = res.expect(201);
        assert!(body["id"].is_string());
        assert!(body["created_at"].is_number());
        assert!(body["updated_at"].is_number());
        assert_eq!(body["name"], Value::Null);
        assert_eq!(body["port"], 80);
        assert_eq!(body["host"], host.as_str());
        for t in ["connect_timeout", "write_timeout", "read_timeout"] {
            assert_eq!(body[t], 60000, "{encoding:?} {t}");
        }
    }
}

/// #14, #15, #16, #17, #18, #19: the url shorthand and invalid input.
async fn url_shorthand_and_invalid_input(api: &Api) {
    let body = api
        .create("/services", json!({"url": "http://service.test/"}))
        .await;
    assert_eq!(body["protocol"], "http");
    assert_eq!(body["host"], "service.test");
    assert_eq!(body["path"], "/");
    assert_eq!(body["port"], 80);
    assert!(body.get("url").is_none());
    let body = api
        .create("/services", json!({"url": "https://service.test/"}))
        .await;
    assert_eq!(body["port"], 443);

    api.post("/services", json!({"url": ""})).await.expect(400);
    api.post("/services", json!({"url": " "})).await.expect(400);
    assert_eq!(
        api.post("/services", json!({"url": "invalid url"}))
            .await
            .expect(400),
        &json!({"name": "schema violation", "code": 2,
                "message": "2 schema violations (host: required field missing; path: should start with: /)",
                "fields": {"host": "required field missing", "path": "should start with: /"}})
    );
    assert_eq!(
        api.post("/services", json!({})).await.expect(400)["fields"],
        json!({"host": "required field missing"})
    );
    assert_eq!(
        api.post(
            "/services",
            json!({"host": "example.test", "protocol": "foo"})
        )
        .await
        .expect(400)["fields"]["protocol"],
        "expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp"
    );
}

/// #20: malformed JSON.
async fn malformed_json(api: &Api) {
    let res = api
        .send(
            Method::POST,
            "/services",
            &[("content-type", "application/json")],
            "{\"hello\": \"world\"",
        )
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(res.text, "{\"message\":\"Cannot parse JSON body\"}");
}

/// #21, #22, #23: pagination.
async fn pagination(api: &Api) {
    let empty = api.get("/services").await;
    assert!(empty.text.contains("\"data\":[]"));
    assert_eq!(empty.expect(200), &json!({"data": [], "next": null}));

    for i in 0..10 {
        api.create("/services", json!({"host": format!("s{i}.test")}))
            .await;
    }
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut path = "/services?size=3".to_owned();
    loop {
        let page = api.get(&path).await.expect(200).clone();
        let data = page["data"].as_array().cloned().unwrap_or_default();
        sizes.push(data.len());
        seen.extend(data.iter().map(id));
        match page["offset"].as_str() {
            Some(offset) => {
                assert_eq!(
                    page["next"],
                    format!("/services?offset={}&size=3", crate::support::encode(offset))
                );
                path = format!("/services?size=3&offset={offset}");
            }
            None => {
                assert_eq!(page["next"], Value::Null);
                break;
            }
        }
    }
    assert_eq!(sizes, [3, 3, 3, 1]);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 10);

    // §0 page size: at most 1000.
    for size in ["0", "1001", "2.5"] {
        assert_eq!(
            api.get(&format!("/services?size={size}")).await.expect(400),
            &json!({"code": 9, "name": "invalid size",
                    "message": "size must be an integer between 1 and 1000"}),
            "size={size}"
        );
    }
    let page = api.get("/services?size=1000").await.expect(200).clone();
    assert_eq!(page["data"].as_array().map(Vec::len), Some(10));
    // §0 read requests ignore bodies: a listing with an unparseable JSON body.
    let res = api
        .send(
            Method::GET,
            "/services",
            &[("content-type", "application/json")],
            "{\"hello\": \"world\"",
        )
        .await;
    assert_eq!(res.expect(200)["data"].as_array().map(Vec::len), Some(10));
}

/// #24: GET by id and by name; unknown → 404.
async fn get_by_id_or_name(api: &Api) {
    let svc = api
        .create("/services", json!({"name": "my-service", "host": "x.test"}))
        .await;
    let by_id = api
        .get(&format!("/services/{}", id(&svc)))
        .await
        .expect(200)
        .clone();
    assert_eq!(by_id, svc);
    assert_eq!(by_id["tls_verify"], Value::Null, "nulls are included");
    assert_eq!(api.get("/services/my-service").await.expect(200), &svc);
    api.get(&format!("/services/{}", uuid::Uuid::new_v4()))
        .await
        .expect(404);
    assert_eq!(
        api.get("/services/not-found").await.expect(404),
        &json!({"message": "Not found"})
    );
    // Read requests ignore bodies, even unparseable ones.
    let res = api
        .send(
            Method::GET,
            "/services/my-service",
            &[("content-type", "application/json")],
            "{\"hello\": \"world\"",
        )
        .await;
    res.expect(200);
}

/// §0 error code 3: a POST reusing an existing id is a primary key violation (400).
async fn reusing_an_id(api: &Api) {
    let svc = api.create("/services", json!({"host": "x.test"})).await;
    let sid = id(&svc);
    assert_eq!(
        api.post("/services", json!({"id": sid, "host": "y.test"}))
            .await
            .expect(400),
        &json!({"code": 3, "name": "primary key violation",
                "message": format!("primary key violation on key '{{id=\"{sid}\"}}'"),
                "fields": {"id": sid}})
    );
    assert_eq!(api.get(&format!("/services/{sid}")).await.expect(200), &svc);
}

/// #25, #26: PATCH with null and with url.
async fn patch_null_and_url(api: &Api) {
    let svc = api
        .create("/services", json!({"name": "n", "host": "x.test"}))
        .await;
    let path = format!("/services/{}", id(&svc));
    let body = api
        .patch(&path, json!({"name": null, "protocol": "https"}))
        .await
        .expect(200)
        .clone();
    assert_eq!(body["name"], Value::Null);
    assert_eq!(body["protocol"], "https");
    assert_eq!(body["id"], svc["id"]);

    let body = api
        .patch(&path, json!({"url": "http://example.test:443"}))
        .await
        .expect(200)
        .clone();
    assert_eq!(
        (
            &body["protocol"],
            &body["host"],
            &body["port"],
            &body["path"]
        ),
        (
            &json!("http"),
            &json!("example.test"),
            &json!(443),
            &Value::Null
        )
    );
    let body = api
        .patch(&path, json!({"url": "https://example2.test:80/"}))
        .await
        .expect(200)
        .clone();
    assert_eq!((&body["port"], &body["path"]), (&json!(80), &json!("/")));
    let body = api
        .patch(&path, json!({"url": "http://example2.test"}))
        .await
        .expect(200)
        .clone();
    assert_eq!((&body["port"], &body["path"]), (&json!(80), &Value::Null));
}

/// #27: DELETE is 204, also for unknown ids and names.
async fn delete_is_idempotent(api: &Api) {
    let svc = api
        .create("/services", json!({"name": "gone", "host": "x.test"}))
        .await;
    let res = api.delete(&format!("/services/{}", id(&svc))).await;
    assert_eq!(res.status, 204);
    assert!(res.text.is_empty());
    api.get(&format!("/services/{}", id(&svc)))
        .await
        .expect(404);
    let svc = api
        .create("/services", json!({"name": "gone2", "host": "x.test"}))
        .await;
    assert_eq!(api.delete("/services/gone2").await.status, 204);
    api.get(&format!("/services/{}", id(&svc)))
        .await
        .expect(404);
    assert_eq!(api.delete("/services/gone2").await.status, 204);
    assert_eq!(
        api.delete(&format!("/services/{}", uuid::Uuid::new_v4()))
            .await
            .status,
        204
    );
}

/// #28: the routes of a service.
async fn routes_of_a_service(api: &Api) {
    let a = api.create("/services", json!({"host": "a.test"})).await;
    let b = api.create("/services", json!({"host": "b.test"})).await;
    let r1 = api
        .create(
            "/routes",
            json!({"paths": ["/a"], "service": {"id": id(&a)}}),
        )
        .await;
    api.create(
        "/routes",
        json!({"paths": ["/b"], "service": {"id": id(&b)}}),
    )
    .await;
    let body = api
        .get(&format!("/services/{}/routes", id(&a)))
        .await
        .expect(200)
        .clone();
    assert_eq!(body, json!({"data": [r1], "next": null}));
}

/// #29, #30, #31: plugins of a service.
async fn service_plugins(api: &Api) {
    let svc = api
        .create("/services", json!({"name": "svc", "host": "x.test"}))
        .await;
    let sid = id(&svc);
    let body = api
        .form(
            Method::POST,
            "/services/svc/plugins",
            "name=key-auth&config.key_names[1]=apikey&config.key_names[2]=key",
        )
        .await
        .expect(201)
        .clone();
    assert_eq!(body["config"]["key_names"], json!(["apikey", "key"]));
    assert_eq!(body["service"], json!({"id": sid}));
    let svc2 = api.create("/services", json!({"host": "y.test"})).await;
    let body = api
        .post(
            &format!("/services/{}/plugins", id(&svc2)),
            json!({"name": "key-auth", "config": {"key_names": ["apikey", "key"]}}),
        )
        .await
        .expect(201)
        .clone();
    assert_eq!(body["config"]["key_names"], json!(["apikey", "key"]));

    assert_eq!(
        api.post(&format!("/services/{sid}/plugins"), json!({}))
            .await
            .expect(400),
        &json!({"code": 2, "name": "schema violation",
                "message": "schema violation (name: required field missing)",
                "fields": {"name": "required field missing"}})
    );

    api.post(
        &format!("/services/{sid}/plugins"),
        json!({"name": "basic-auth"}),
    )
    .await
    .expect(201);
    let body = api
        .post(
            &format!("/services/{sid}/plugins"),
            json!({"name": "basic-auth"}),
        )
        .await
        .expect(409)
        .clone();
    assert_eq!(
        body,
        json!({"code": 5, "name": "unique constraint violation",
               "fields": {"consumer": null, "name": "basic-auth", "route": null, "service": {"id": sid}},
               "message": format!("UNIQUE violation detected on '{{consumer=null,name=\"basic-auth\",route=null,service={{id=\"{sid}\"}}}}'")})
    );
}

/// #32, #33, #34: PATCH, detach and instance names of a service's plugin.
async fn service_plugin_updates(api: &Api) {
    let svc = api.create("/services", json!({"host": "x.test"})).await;
    let sid = id(&svc);
    let plugin = api
        .post(
            &format!("/services/{sid}/plugins"),
            json!({"name": "key-auth", "instance_name": "my-key-auth"}),
        )
        .await
        .expect(201)
        .clone();
    let pid = id(&plugin);
    let path = format!("/services/{sid}/plugins/{pid}");
    assert_eq!(
        api.patch(&path, json!({"foo": "bar"})).await.expect(400),
        &json!({"code": 2, "name": "schema violation",
                "message": "schema violation (foo: unknown field)",
                "fields": {"foo": "unknown field"}})
    );
    assert_eq!(api.get(&path).await.expect(200), &plugin);

    assert_eq!(
        api.get(&format!("/services/{sid}/plugins/my-key-auth"))
            .await
            .expect(200),
        &plugin
    );
    let body = api
        .patch(&path, json!({"service": null}))
        .await
        .expect(200)
        .clone();
    assert_eq!(body["service"], Value::Null);
    // Detached: no longer under the service.
    api.get(&path).await.expect(404);

    let other = api
        .post(
            &format!("/services/{sid}/plugins"),
            json!({"name": "cors", "instance_name": "my-cors"}),
        )
        .await
        .expect(201)
        .clone();
    assert_eq!(
        api.delete(&format!("/services/{sid}/plugins/my-cors"))
            .await
            .status,
        204
    );
    api.get(&format!("/plugins/{}", id(&other)))
        .await
        .expect(404);
}

/// #35: a service that routes still reference cannot be deleted.
async fn delete_refused_while_routes_reference(api: &Api) {
    let svc = api.create("/services", json!({"host": "x.test"})).await;
    let sid = id(&svc);
    api.create("/routes", json!({"paths": ["/"], "service": {"id": sid}}))
        .await;
    assert_eq!(
        api.delete(&format!("/services/{sid}")).await.expect(400),
        &json!({"code": 4, "name": "foreign key violation",
                "message": "an existing 'routes' entity references this 'services' entity",
                "fields": {"@referenced_by": "routes"}})
    );
    api.get(&format!("/services/{sid}")).await.expect(200);
}

/// §0 cascades and restrictions: a service takes its plugins along; a certificate that a
/// service uses as its client certificate cannot be deleted.
async fn cascades_and_restrictions(api: &Api) {
    let svc = api
        .create(
            "/services",
            json!({"name": "with-plugin", "host": "x.test"}),
        )
        .await;
    let plugin = api
        .post("/services/with-plugin/plugins", json!({"name": "cors"}))
        .await
        .expect(201)
        .clone();
    assert_eq!(api.delete("/services/with-plugin").await.status, 204);
    api.get(&format!("/plugins/{}", id(&plugin)))
        .await
        .expect(404);
    api.get(&format!("/services/{}", id(&svc)))
        .await
        .expect(404);

    let rsa = crate::fixtures::rsa();
    let cert = api
        .create("/certificates", json!({"cert": rsa.cert, "key": rsa.key}))
        .await;
    let svc = api
        .create(
            "/services",
            json!({"url": "https://x.test", "client_certificate": {"id": id(&cert)}}),
        )
        .await;
    assert_eq!(
        api.get(&format!("/services/{}/client_certificate", id(&svc)))
            .await
            .expect(200)["id"],
        cert["id"]
    );
    assert_eq!(
        api.delete(&format!("/certificates/{}", id(&cert)))
            .await
            .expect(400)["message"],
        "an existing 'services' entity references this 'certificates' entity"
    );
    assert_eq!(
        api.delete(&format!("/services/{}", id(&svc))).await.status,
        204
    );
    assert_eq!(
        api.delete(&format!("/certificates/{}", id(&cert)))
            .await
            .status,
        204
    );
}

admin_tests!(
    cascades_and_restrictions,
    create_in_every_encoding,
    url_shorthand_and_invalid_input,
    malformed_json,
    pagination,
    reusing_an_id,
    get_by_id_or_name,
    patch_null_and_url,
    delete_is_idempotent,
    routes_of_a_service,
    service_plugins,
    service_plugin_updates,
    delete_refused_while_routes_reference,
);
