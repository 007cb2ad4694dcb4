//! kong-behaviours.md §1.6 and §1.7: upstreams (cases 86–95) and targets (96–108).

use axum::http::Method;
use serde_json::{Value, json};

use crate::admin_tests;
use crate::support::{Api, id};

/// #86, #87, #88, #89, #90, #91: creation and validation.
async fn create_upstreams(api: &Api) {
    let body = api
        .create("/upstreams", json!({"name": "my.upstream"}))
        .await;
    assert_eq!(body["slots"], 10000);
    assert_eq!(body["hash_on"], "none");
    assert_eq!(body["hash_fallback"], "none");
    assert_eq!(body["hash_on_header"], Value::Null);
    assert_eq!(body["hash_fallback_header"], Value::Null);
    api.create("/upstreams", json!({"name": "big", "slots": 65536}))
        .await;
    assert_eq!(
        api.post("/upstreams", json!({"name": "bigger", "slots": 65537}))
            .await
            .expect(400)["fields"],
        json!({"slots": "value should be between 10 and 65536"})
    );
    assert_eq!(
        api.post("/upstreams", json!({"name": "some invalid host name"}))
            .await
            .expect(400)["fields"]["name"],
        "Invalid name ('some invalid host name'); must be a valid hostname"
    );
    assert_eq!(
        api.put("/upstreams/1.2.3.4", json!({})).await.expect(400),
        &json!({"code": 10, "name": "invalid unique name",
                "message": "Invalid name ('1.2.3.4'); no ip addresses allowed"})
    );
    assert_eq!(
        api.post(
            "/upstreams",
            json!({"name": "u1", "hash_on": "something that is invalid"})
        )
        .await
        .expect(400)["fields"]["hash_on"],
        "expected one of: none, consumer, ip, header, cookie, path, query_arg, uri_capture"
    );
    assert_eq!(
        api.post(
            "/upstreams",
            json!({"name": "u2", "hash_on": "consumer", "hash_fallback": "consumer"})
        )
        .await
        .expect(400)["fields"],
        json!({"@entity": ["failed conditional validation given value of field 'hash_on'"],
               "hash_fallback": "expected one of: none, ip, header, cookie, path, query_arg, uri_capture"})
    );
    assert_eq!(
        api.post(
            "/upstreams",
            json!({"name": "u3", "hash_on": "header", "hash_fallback": "header",
                   "hash_on_header": "x", "hash_fallback_header": "x"})
        )
        .await
        .expect(400)["fields"],
        json!({"@entity": ["values of these fields must be distinct: 'hash_on_header', 'hash_fallback_header'"]})
    );
    assert_eq!(
        api.post(
            "/upstreams",
            json!({"name": "u4", "hash_on": "cookie", "hash_on_cookie": "c", "hash_fallback": "header",
                   "hash_fallback_header": "x"})
        )
        .await
        .expect(400)["fields"]["hash_fallback"],
        "expected one of: none"
    );
    assert_eq!(
        api.post(
            "/upstreams",
            json!({"name": "u5", "hash_on": "header", "hash_on_header": "not a <> valid <> header name"})
        )
        .await
        .expect(400)["fields"]["hash_on_header"],
        "bad header name 'not a <> valid <> header name', allowed characters are A-Z, a-z, 0-9, '_', and '-'"
    );
    assert_eq!(
        api.post(
            "/upstreams",
            json!({"name": "u6", "hash_on": "cookie", "hash_on_cookie": "c", "hash_on_cookie_path": "not a path"})
        )
        .await
        .expect(400)["fields"]["hash_on_cookie_path"],
        "should start with: /"
    );
}

/// #92, #93, #94, #95: duplicates, PUT, delete cascade, pagination.
async fn upstream_lifecycle(api: &Api) {
    api.create("/upstreams", json!({"name": "my.upstream"}))
        .await;
    let body = api
        .post("/upstreams", json!({"name": "my.upstream"}))
        .await
        .expect(409)
        .clone();
    assert_eq!(body["name"], "unique constraint violation");
    assert_eq!(body["fields"], json!({"name": "my.upstream"}));

    let body = api
        .put("/upstreams/my-upstream", json!({}))
        .await
        .expect(200)
        .clone();
    assert_eq!(body["name"], "my-upstream");
    assert_eq!(
        api.put(&format!("/upstreams/{}", uuid::Uuid::new_v4()), json!({}))
            .await
            .expect(400)["message"],
        "schema violation (name: required field missing)"
    );

    let target = api
        .create(
            "/upstreams/my-upstream/targets",
            json!({"target": "a.test"}),
        )
        .await;
    assert_eq!(api.delete("/upstreams/my-upstream").await.status, 204);
    api.get("/upstreams/my-upstream").await.expect(404);
    assert!(
        api.store
            .store
            .get(
                common::model::EntityKind::Target,
                uuid::Uuid::parse_str(&id(&target)).unwrap()
            )
            .await
            .unwrap()
            .is_none(),
        "targets go with their upstream"
    );
    api.send(Method::DELETE, "/upstreams", &[], "")
        .await
        .expect(405);

    api.create("/upstreams", json!({"name": "second.upstream"}))
        .await;
    let page = api.get("/upstreams?size=1").await.expect(200).clone();
    assert_eq!(page["data"].as_array().map(Vec::len), Some(1));
    let offset = page["offset"].as_str().unwrap_or_default().to_owned();
    assert!(!offset.is_empty());
    let next = api
        .get(&format!("/upstreams?size=1&offset={offset}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(next["data"].as_array().map(Vec::len), Some(1));
    assert_ne!(next["data"][0]["id"], page["data"][0]["id"]);
}

/// #96, #97, #98, #99, #100, #101, #102: targets.
async fn targets(api: &Api) {
    assert_eq!(
        api.get("/targets").await.expect(404),
        &json!({"message": "Not found"})
    );
    api.create("/upstreams", json!({"name": "u"})).await;
    let body = api
        .post("/upstreams/u/targets/", json!({"target": "konghq.test"}))
        .await
        .expect(201)
        .clone();
    assert_eq!(body["target"], "konghq.test:8000");
    assert_eq!(body["weight"], 100);
    let zero = api
        .create(
            "/upstreams/u/targets",
            json!({"target": "zero.weight.test:8080", "weight": 0}),
        )
        .await;
    assert_eq!(
        api.get("/upstreams/u/targets/zero.weight.test:8080")
            .await
            .expect(200),
        &zero
    );
    assert_eq!(
        api.post("/upstreams/u/targets", json!({}))
            .await
            .expect(400)["fields"],
        json!({"target": "required field missing"})
    );
    assert_eq!(
        api.post(
            "/upstreams/u/targets",
            json!({"target": "some invalid host name"})
        )
        .await
        .expect(400)["fields"],
        json!({"target": "Invalid target; not a valid hostname or ip address"})
    );
    assert_eq!(
        api.post(
            "/upstreams/u/targets",
            json!({"target": "w.test", "weight": 65536})
        )
        .await
        .expect(400)["fields"],
        json!({"weight": "value should be between 0 and 65535"})
    );
    for method in [Method::PUT, Method::PATCH, Method::DELETE] {
        api.send(method, "/upstreams/u/targets/", &[], "")
            .await
            .expect(405);
    }
    api.post(
        "/upstreams/u/targets",
        json!({"target": "konghq.test:8000"}),
    )
    .await
    .expect(409);
    for path in ["/upstreams/u/targets", "/upstreams/u/targets/"] {
        let body = api.get(path).await.expect(200).clone();
        assert_eq!(body["data"].as_array().map(Vec::len), Some(2), "{path}");
    }
    api.get("/upstreams/nope/targets").await.expect(404);
}

/// #103: `/targets/all` pagination and next links.
async fn targets_all(api: &Api) {
    let upstream = api.create("/upstreams", json!({"name": "all-u"})).await;
    assert_eq!(
        api.get("/upstreams/all-u/targets/all").await.expect(200),
        &json!({"data": [], "next": null})
    );
    for i in 0..4 {
        api.create(
            "/upstreams/all-u/targets",
            json!({"target": format!("t{i}.test")}),
        )
        .await;
    }
    let page = api
        .get("/upstreams/all-u/targets/all?size=3")
        .await
        .expect(200)
        .clone();
    let offset = page["offset"].as_str().unwrap_or_default().to_owned();
    assert!(!offset.is_empty());
    assert_eq!(
        page["next"],
        format!(
            "/upstreams/all-u/targets/all?offset={}",
            crate::support::encode(&offset)
        )
    );
    let by_id = api
        .get(&format!("/upstreams/{}/targets/all?size=3", id(&upstream)))
        .await
        .expect(200)
        .clone();
    assert!(
        by_id["next"]
            .as_str()
            .unwrap_or_default()
            .starts_with(&format!("/upstreams/{}/targets/all?offset=", id(&upstream)))
    );
    let rest = api
        .get(&format!(
            "/upstreams/all-u/targets/all?size=3&offset={offset}"
        ))
        .await
        .expect(200)
        .clone();
    assert_eq!(rest["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(rest["next"], Value::Null);
}

/// #104, #105, #106, #107, #108: target updates, deletes, health endpoints.
async fn target_updates(api: &Api) {
    let u = api.create("/upstreams", json!({"name": "tu"})).await;
    let other = api.create("/upstreams", json!({"name": "other"})).await;
    // Stored a while ago, so that "increases" does not depend on the clock ticking.
    let mut stored = common::schema::catalog()
        .insert(
            common::model::EntityKind::Target,
            json!({"target": "a.test:80", "upstream": {"id": id(&u)}})
                .as_object()
                .cloned()
                .unwrap(),
        )
        .unwrap();
    stored.insert("created_at".into(), json!(1_600_000_000.0));
    stored.insert("updated_at".into(), json!(1_600_000_000.0));
    api.store
        .store
        .insert(common::model::EntityKind::Target, &stored)
        .await
        .unwrap();
    let t = api
        .get("/upstreams/tu/targets/a.test:80")
        .await
        .expect(200)
        .clone();
    let body = api
        .patch("/upstreams/tu/targets/a.test:80", json!({"weight": 659}))
        .await
        .expect(200)
        .clone();
    assert_eq!(body["weight"], 659);
    assert!(
        body["updated_at"].as_f64() > t["updated_at"].as_f64(),
        "{t} -> {body}"
    );
    let body = api
        .put(
            "/upstreams/tu/targets/a.test:80",
            json!({"target": "b.test:81"}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(body["target"], "b.test:81");
    assert_eq!(body["id"], t["id"]);
    api.get("/upstreams/tu/targets/a.test:80").await.expect(404);
    api.get("/upstreams/tu/targets/b.test:81").await.expect(200);
    // A target is only found under its own upstream.
    api.get(&format!("/upstreams/{}/targets/{}", id(&other), id(&t)))
        .await
        .expect(404);
    api.put("/upstreams/tu/targets/nothing.test:1", json!({"weight": 1}))
        .await
        .expect(404);

    let second = api
        .create("/upstreams/tu/targets", json!({"target": "c.test:82"}))
        .await;
    assert_eq!(
        api.delete(&format!("/upstreams/{}/targets/{}", id(&u), id(&second)))
            .await
            .status,
        204
    );
    assert_eq!(
        api.delete("/upstreams/tu/targets/b.test:81").await.status,
        204
    );
    api.delete("/upstreams/tu/targets/b.test:81")
        .await
        .expect(404);

    // A hybrid-mode control plane has no target health setters.
    api.create("/upstreams/tu/targets", json!({"target": "d.test:83"}))
        .await;
    api.send(
        Method::PUT,
        "/upstreams/tu/targets/d.test:83/healthy",
        &[],
        "",
    )
    .await
    .expect(404);
    api.send(
        Method::PUT,
        "/upstreams/tu/targets/d.test:83/unhealthy",
        &[],
        "",
    )
    .await
    .expect(404);
    let health = api.get("/upstreams/tu/health").await.expect(200).clone();
    assert_eq!(health["node_id"], api.get("/").await.json["node_id"]);
    assert_eq!(health["data"].as_array().map(Vec::len), Some(1));
    api.get("/upstreams/nope/health").await.expect(404);
}

admin_tests!(
    create_upstreams,
    upstream_lifecycle,
    targets,
    targets_all,
    target_updates,
);
