//! kong-behaviours.md §1.3: routes (cases 36–60).

use axum::http::Method;
use serde_json::{Value, json};

use crate::admin_tests;
use crate::support::{Api, Encoding, id, send_encoded};

const PROTOCOLS: &str = "expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp";

/// #36, #37, #38: creation in every encoding, gRPC defaults, service-less routes.
async fn create_routes(api: &Api) {
    let svc = api.create("/services", json!({"host": "x.test"})).await;
    let sid = id(&svc);
    for encoding in Encoding::ALL {
        let res = send_encoded(
            api,
            encoding,
            Method::POST,
            "/routes",
            json!({"protocols": ["http"], "hosts": ["my.route.test"],
                   "headers": {"location": ["my-location"]}, "service": {"id": sid}}),
            &[
                ("protocols[1]", "http"),
                ("hosts[1]", "my.route.test"),
                ("headers.location[1]", "my-location"),
                ("service.id", &sid),
            ],
        )
        .await;
        let body = res.expect(201);
        assert_eq!(body["hosts"], json!(["my.route.test"]), "{encoding:?}");
        assert_eq!(body["headers"], json!({"location": ["my-location"]}));
        assert_eq!(body["regex_priority"], 0);
        assert_eq!(body["name"], Value::Null);
        assert_eq!(body["paths"], Value::Null);
        assert_eq!(body["preserve_host"], false);
        assert_eq!(body["strip_path"], true);
        assert_eq!(body["service"], json!({"id": sid}));
    }
    let body = api
        .create(
            "/routes",
            json!({"protocols": ["grpc", "grpcs"], "hosts": ["grpc.test"]}),
        )
        .await;
    assert_eq!(body["strip_path"], false);
    let body = api.create("/routes", json!({"hosts": ["x.test"]})).await;
    assert_eq!(body["service"], Value::Null);
}

/// #39, #43, #44: foreign keys by endpoint key.
async fn service_by_name(api: &Api) {
    let svc = api
        .create("/services", json!({"name": "svc-name", "host": "x.test"}))
        .await;
    let body = api
        .create(
            "/routes",
            json!({"paths": ["/"], "service": {"name": "svc-name"}}),
        )
        .await;
    assert_eq!(body["service"], json!({"id": id(&svc)}));
    let body = api
        .post(
            "/routes",
            json!({"methods": ["GET"], "service": {"name": "non-existing"}}),
        )
        .await
        .expect(400)
        .clone();
    let text = "the foreign key cannot be resolved with '{name=\"non-existing\"}' for an existing 'services' entity";
    assert_eq!(
        body,
        json!({"code": 13, "name": "foreign keys unresolved",
               "message": format!("foreign key unresolved (service.name: {text})"),
               "fields": {"service": {"name": text}}})
    );
    let body = api
        .post(
            "/routes",
            json!({"methods": ["GET"], "service": {"protocol": "http"}}),
        )
        .await
        .expect(400)
        .clone();
    assert_eq!(
        body["message"],
        "schema violation (service.id: missing primary key)"
    );
    assert_eq!(body["fields"]["service"]["id"], "missing primary key");
    // A foreign key to a missing entity.
    let ghost = uuid::Uuid::new_v4();
    let body = api
        .post("/routes", json!({"paths": ["/"], "service": {"id": ghost}}))
        .await
        .expect(400)
        .clone();
    assert_eq!(body["code"], 4);
    assert_eq!(body["fields"], json!({"service": {"id": ghost}}));
    assert_eq!(
        body["message"],
        format!(
            "the foreign key '{{id=\"{ghost}\"}}' does not reference an existing 'services' entity."
        )
    );
}

/// #40, #41, #42, #45: schema violations.
async fn invalid_routes(api: &Api) {
    let message = "must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https'";
    assert_eq!(
        api.post("/routes", json!({})).await.expect(400),
        &json!({"code": 2, "name": "schema violation",
                "message": format!("schema violation ({message})"),
                "fields": {"@entity": [message]}})
    );
    let body = api
        .post(
            "/routes",
            json!({"methods": ["GET"], "protocols": ["foo", "http"]}),
        )
        .await
        .expect(400)
        .clone();
    assert_eq!(
        body["message"],
        format!("schema violation (protocols.1: {PROTOCOLS})")
    );
    assert_eq!(body["fields"]["protocols"], json!([PROTOCOLS]));
    let body = api
        .post(
            "/routes",
            json!({"methods": ["GET"], "protocols": ["foo", "http"], "service": {"protocol": "foo"}}),
        )
        .await
        .expect(400)
        .clone();
    assert_eq!(
        body["message"],
        format!("2 schema violations (protocols.1: {PROTOCOLS}; service.protocol: {PROTOCOLS})")
    );
    assert_eq!(body["fields"]["service"], json!({"protocol": PROTOCOLS}));
    assert_eq!(body["fields"]["protocols"], json!([PROTOCOLS]));
    let body = api
        .post("/routes", json!({"protocols": ["grpc", "grpcs"]}))
        .await
        .expect(400)
        .clone();
    assert_eq!(
        body["fields"]["@entity"],
        json!(["must set one of 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'grpcs'"])
    );
    let body = api
        .post(
            "/routes",
            json!({"protocols": ["grpc"], "paths": ["/"], "strip_path": true, "methods": ["GET"]}),
        )
        .await
        .expect(400)
        .clone();
    let text = body.to_string();
    assert!(
        text.contains("cannot set 'strip_path' when 'protocols' is 'grpc' or 'grpcs'"),
        "{text}"
    );
    assert!(
        text.contains("cannot set 'methods' when 'protocols' is 'grpc' or 'grpcs'"),
        "{text}"
    );
}

/// #46, #47, #48: listing arguments and collection methods.
async fn listing_errors_and_collection_methods(api: &Api) {
    assert_eq!(
        api.get("/routes?size=x").await.expect(400),
        &json!({"code": 9, "name": "invalid size", "message": "size must be a number"})
    );
    assert_eq!(
        api.get("/routes?offset=x").await.expect(400),
        &json!({"code": 7, "name": "invalid offset",
                "message": "'x' is not a valid offset: bad base64 encoding"})
    );
    for method in [Method::DELETE, Method::PUT, Method::PATCH] {
        assert_eq!(
            api.send(method, "/routes", &[], "").await.expect(405),
            &json!({"message": "Method not allowed"})
        );
    }
    // Unknown query arguments are ignored.
    api.get("/routes?unknown=1").await.expect(200);
}

/// #49, #50, #51: PUT by id and by name.
async fn put_routes(api: &Api) {
    let svc = api.create("/services", json!({"host": "x.test"})).await;
    let rid = uuid::Uuid::new_v4();
    let body = api
        .put(
            &format!("/routes/{rid}"),
            json!({"paths": ["/updated-paths"], "service": {"id": id(&svc)}}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(body["id"], rid.to_string());
    assert_eq!(body["hosts"], Value::Null);
    assert_eq!(body["methods"], Value::Null);

    let body = api
        .put("/routes/my-route", json!({"paths": ["/my-route"]}))
        .await
        .expect(200)
        .clone();
    assert_eq!(body["name"], "my-route");
    let again = api
        .put("/routes/my-route", json!({"paths": ["/updated-paths"]}))
        .await
        .expect(200)
        .clone();
    assert_eq!(again["id"], body["id"]);
    assert_eq!(again["paths"], json!(["/updated-paths"]));
    assert_eq!(again["created_at"], body["created_at"]);

    let message = "must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https'";
    assert_eq!(
        api.put(&format!("/routes/{}", uuid::Uuid::new_v4()), json!({}))
            .await
            .expect(400)["fields"]["@entity"],
        json!([message])
    );
    assert_eq!(
        api.put(
            &format!("/routes/{}", uuid::Uuid::new_v4()),
            json!({"paths": ["/"], "regex_priority": "foobar"})
        )
        .await
        .expect(400)["message"],
        "schema violation (regex_priority: expected an integer)"
    );
    // A name in the body that differs from the one in the URL is refused.
    let body = api
        .put("/routes/my-route", json!({"name": "other", "paths": ["/"]}))
        .await
        .expect(400)
        .clone();
    assert_eq!(body["code"], 2);
    assert!(body["fields"]["name"].is_string());
    api.get("/routes/other").await.expect(404);
    // Malformed JSON on PUT.
    let res = api
        .send(
            Method::PUT,
            "/routes/my-route",
            &[("content-type", "application/json")],
            "{\"hello\": \"world\"",
        )
        .await;
    assert_eq!(res.text, "{\"message\":\"Cannot parse JSON body\"}");
}

/// #52, #53, #54, #55: PATCH.
async fn patch_routes(api: &Api) {
    let svc = api.create("/services", json!({"host": "x.test"})).await;
    let route = api
        .create(
            "/routes",
            json!({"name": "r", "methods": ["GET"], "hosts": ["a.test"], "paths": ["/a"],
                   "service": {"id": id(&svc)}}),
        )
        .await;
    let path = format!("/routes/{}", id(&route));
    let body = api
        .patch(
            &path,
            json!({"methods": null, "hosts": null, "paths": ["/updated-paths"]}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(body["methods"], Value::Null);
    assert_eq!(body["hosts"], Value::Null);
    assert_eq!(body["paths"], json!(["/updated-paths"]));

    let res = api
        .patch(&path, json!({"methods": [], "paths": [], "hosts": ["x"]}))
        .await;
    res.expect(200);
    assert!(res.text.contains("\"methods\":[]"), "{}", res.text);
    assert!(res.text.contains("\"paths\":[]"), "{}", res.text);

    let body = api
        .patch("/routes/r", json!({"service": null}))
        .await
        .expect(200)
        .clone();
    assert_eq!(body["service"], Value::Null);
    api.patch(
        &format!("/routes/{}", uuid::Uuid::new_v4()),
        json!({"paths": ["/"]}),
    )
    .await
    .expect(404);
}

/// #56, #57, #58, #59, #60: `/routes/{route}/service`.
async fn route_service_endpoint(api: &Api) {
    let svc = api
        .create(
            "/services",
            json!({"name": "edited", "host": "edited.test"}),
        )
        .await;
    let route = api
        .create(
            "/routes",
            json!({"name": "r", "paths": ["/"], "service": {"id": id(&svc)}}),
        )
        .await;
    let rid = id(&route);
    assert_eq!(
        api.get(&format!("/routes/{rid}/service")).await.expect(200),
        &svc
    );
    assert_eq!(api.get("/routes/r/service").await.expect(200), &svc);
    api.get(&format!("/routes/{}/service", uuid::Uuid::new_v4()))
        .await
        .expect(404);

    let body = api
        .patch(
            &format!("/routes/{rid}/service"),
            json!({"url": "http://edited2.test:1234/foo"}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(
        (&body["host"], &body["port"], &body["path"]),
        (&json!("edited2.test"), &json!(1234), &json!("/foo"))
    );
    assert_eq!(body["id"], svc["id"]);

    assert_eq!(
        api.put(
            &format!("/routes/{rid}/service"),
            json!({"connect_timeout": "foobar"})
        )
        .await
        .expect(400)["message"],
        "2 schema violations (connect_timeout: expected an integer; host: required field missing)"
    );

    assert_eq!(
        api.delete(&format!("/routes/{rid}/service"))
            .await
            .expect(405),
        &json!({"message": "Method not allowed"})
    );
    api.delete(&format!("/routes/{}/service", uuid::Uuid::new_v4()))
        .await
        .expect(404);

    let lonely = api.create("/routes", json!({"paths": ["/lonely"]})).await;
    let lid = id(&lonely);
    api.get(&format!("/routes/{lid}/service")).await.expect(404);
    let created = api
        .put(
            &format!("/routes/{lid}/service"),
            json!({"url": "http://konghq.test"}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(created["host"], "konghq.test");
    let route = api.get(&format!("/routes/{lid}")).await.expect(200).clone();
    assert_eq!(route["service"], json!({"id": id(&created)}));
    assert_eq!(
        api.get(&format!("/routes/{lid}/service")).await.expect(200),
        &created
    );
}

/// Nested routes: only a service's own routes are found under it.
async fn nested_routes(api: &Api) {
    let a = api
        .create("/services", json!({"name": "a", "host": "a.test"}))
        .await;
    let b = api
        .create("/services", json!({"name": "b", "host": "b.test"}))
        .await;
    let route = api
        .create("/services/a/routes", json!({"name": "ra", "paths": ["/a"]}))
        .await;
    assert_eq!(route["service"], json!({"id": id(&a)}));
    api.get("/services/a/routes/ra").await.expect(200);
    api.get("/services/b/routes/ra").await.expect(404);
    api.patch("/services/b/routes/ra", json!({"paths": ["/x"]}))
        .await
        .expect(404);
    api.delete("/services/b/routes/ra").await.expect(404);
    // §0 nested next links carry neither size nor tags.
    api.create("/services/a/routes", json!({"paths": ["/a2"]}))
        .await;
    let page = api
        .get("/services/a/routes?size=1&tags=ignored")
        .await
        .expect(200)
        .clone();
    assert_eq!(page["data"].as_array().map(Vec::len), Some(1));
    let offset = page["offset"].as_str().unwrap_or_default();
    assert_eq!(
        page["next"],
        format!(
            "/services/a/routes?offset={}",
            crate::support::encode(offset)
        )
    );
    let rest = api
        .get(&format!(
            "{}&size=1",
            page["next"].as_str().unwrap_or_default()
        ))
        .await
        .expect(200)
        .clone();
    assert_eq!(rest["data"].as_array().map(Vec::len), Some(1));
    assert_ne!(rest["data"][0]["id"], page["data"][0]["id"]);
    assert_eq!(rest["next"], Value::Null);
    api.get("/services/missing/routes").await.expect(404);
    api.post("/services/missing/routes", json!({"paths": ["/"]}))
        .await
        .expect(404);
    // PUT under another service moves the route there (Kong sets the parent).
    let moved = api
        .put("/services/b/routes/ra", json!({"paths": ["/b"]}))
        .await
        .expect(200)
        .clone();
    assert_eq!(moved["service"], json!({"id": id(&b)}));
    assert_eq!(moved["id"], route["id"]);
    assert_eq!(api.delete("/services/b/routes/ra").await.status, 204);
    api.get("/routes/ra").await.expect(404);
}

admin_tests!(
    create_routes,
    service_by_name,
    invalid_routes,
    listing_errors_and_collection_methods,
    put_routes,
    patch_routes,
    route_service_endpoint,
    nested_routes,
);
