//! kong-behaviours.md §1.4: consumers (cases 61–79).

use axum::http::Method;
use serde_json::{Value, json};

use crate::admin_tests;
use crate::support::{Api, Encoding, id, send_encoded};

const AT_LEAST_ONE: &str =
    "at least one of these fields must be non-empty: 'custom_id', 'username'";

/// #61, #62, #63: create, required fields, duplicates.
async fn create_consumers(api: &Api) {
    for (i, encoding) in Encoding::ALL.into_iter().enumerate() {
        let username = format!("abc def {i}");
        let res = send_encoded(
            api,
            encoding,
            Method::POST,
            "/consumers",
            json!({"username": username}),
            &[("username", &username)],
        )
        .await;
        let body = res.expect(201);
        assert_eq!(body["username"], username.as_str());
        assert!(body["created_at"].is_number());
        assert!(body["id"].is_string());
    }
    assert_eq!(
        api.post("/consumers", json!({})).await.expect(400)["fields"]["@entity"],
        json!([AT_LEAST_ONE])
    );
    let body = api
        .post("/consumers", json!({"username": "abc def 0"}))
        .await
        .expect(409)
        .clone();
    assert_eq!(body["name"], "unique constraint violation");
    assert_eq!(
        body["message"],
        "UNIQUE violation detected on '{username=\"abc def 0\"}'"
    );
    api.create("/consumers", json!({"custom_id": "c1"})).await;
    let body = api
        .post("/consumers", json!({"custom_id": "c1"}))
        .await
        .expect(409)
        .clone();
    assert_eq!(
        body["message"],
        "UNIQUE violation detected on '{custom_id=\"c1\"}'"
    );
}

/// #64, #65: content types and empty bodies.
async fn content_types_and_empty_bodies(api: &Api) {
    let res = api
        .send(
            Method::POST,
            "/consumers",
            &[("content-type", "invalid")],
            "username=x",
        )
        .await;
    assert_eq!(res.status, 415);
    let res = api
        .send(Method::POST, "/consumers", &[], "username=x")
        .await;
    assert_eq!(res.status, 415);
    let res = api
        .send(
            Method::POST,
            "/consumers",
            &[("content-type", "application/json")],
            "",
        )
        .await;
    assert_eq!(
        res.expect(400),
        &json!({"message": "Cannot parse JSON body"})
    );
    for content_type in [
        Some("multipart/form-data; boundary=x"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let headers: Vec<(&str, &str)> = content_type
            .map(|c| vec![("content-type", c)])
            .unwrap_or_default();
        let res = api.send(Method::POST, "/consumers", &headers, "").await;
        assert_eq!(
            res.expect(400)["fields"]["@entity"],
            json!([AT_LEAST_ONE]),
            "{content_type:?}"
        );
    }
}

/// #66, #67, #68, #69: custom_id and tag filters, collection methods.
async fn filters(api: &Api) {
    let uuid_like = uuid::Uuid::new_v4().to_string();
    let a = api
        .create("/consumers", json!({"username": "a", "custom_id": "cid-a"}))
        .await;
    let b = api
        .create(
            "/consumers",
            json!({"username": "b", "custom_id": uuid_like}),
        )
        .await;
    assert_eq!(
        api.get("/consumers?custom_id=cid-a").await.expect(200),
        &json!({"data": [a], "next": null})
    );
    assert_eq!(
        api.get(&format!("/consumers?custom_id={uuid_like}"))
            .await
            .expect(200)["data"],
        json!([b])
    );
    let res = api.get("/consumers?custom_id=nothing").await;
    assert!(res.text.contains("\"data\":[]"));
    for query in ["custom_id=", "custom_id", "custom_id=a&custom_id=b"] {
        let body = api
            .get(&format!("/consumers?{query}"))
            .await
            .expect(400)
            .clone();
        assert!(body["message"].is_string(), "{query}: {body}");
    }
    assert_eq!(
        api.get("/consumers?tags=").await.expect(400)["message"],
        "invalid option (tags: cannot be null)"
    );
    for method in [Method::DELETE, Method::PATCH] {
        api.send(method, "/consumers", &[], "").await.expect(405);
    }
}

/// #70, #71: URL-encoded usernames; PATCH bumps updated_at.
async fn encoded_usernames_and_patch(api: &Api) {
    let spaced = api
        .create("/consumers", json!({"username": "abc def"}))
        .await;
    assert_eq!(api.get("/consumers/abc%20def").await.expect(200), &spaced);
    let utf8 = api.create("/consumers", json!({"username": "円"})).await;
    assert_eq!(api.get("/consumers/%E5%86%86").await.expect(200), &utf8);

    // Stored a while ago, so that "greater" does not depend on the clock ticking.
    let mut old = common::schema::catalog()
        .insert(
            common::model::EntityKind::Consumer,
            json!({"username": "old"}).as_object().cloned().unwrap(),
        )
        .unwrap();
    old.insert("created_at".into(), json!(1_600_000_000));
    old.insert("updated_at".into(), json!(1_600_000_000));
    api.store
        .store
        .insert(common::model::EntityKind::Consumer, &old)
        .await
        .unwrap();
    let consumer = Value::Object(old);
    let body = api
        .patch(
            &format!("/consumers/{}", id(&consumer)),
            json!({"username": "new"}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(body["username"], "new");
    assert!(
        body["updated_at"].as_i64() > consumer["updated_at"].as_i64(),
        "{consumer} -> {body}"
    );
}

/// #72, #73, #74: PUT.
async fn put_consumers(api: &Api) {
    let cid = uuid::Uuid::new_v4();
    let body = api
        .put(&format!("/consumers/{cid}"), json!({"custom_id": "x"}))
        .await
        .expect(200)
        .clone();
    assert_eq!(body["id"], cid.to_string());
    let body = api
        .put("/consumers/alice%20smith", json!({}))
        .await
        .expect(200)
        .clone();
    assert_eq!(body["username"], "alice smith");
    assert_eq!(body["custom_id"], Value::Null);
    api.patch("/consumers/alice%20smith", json!({"custom_id": "kept?"}))
        .await
        .expect(200);
    let again = api
        .put("/consumers/alice%20smith", json!({}))
        .await
        .expect(200)
        .clone();
    assert_eq!(again["id"], body["id"]);
    assert_eq!(
        again["custom_id"],
        Value::Null,
        "PUT replaces the whole entity"
    );
    assert_eq!(
        api.put(&format!("/consumers/{}", uuid::Uuid::new_v4()), json!({}))
            .await
            .expect(400),
        &json!({"code": 2, "name": "schema violation",
                "message": format!("schema violation ({AT_LEAST_ONE})"),
                "fields": {"@entity": [AT_LEAST_ONE]}})
    );
}

/// #75, #76, #77, #78, #79: consumer plugins.
async fn consumer_plugins(api: &Api) {
    let bob = api.create("/consumers", json!({"username": "bob"})).await;
    let alice = api.create("/consumers", json!({"username": "alice"})).await;
    let bid = id(&bob);
    let plugin = api
        .post(
            "/consumers/bob/plugins",
            json!({"name": "rate-limiting", "config": {"minute": 10, "hour": 100}}),
        )
        .await
        .expect(201)
        .clone();
    assert_eq!(plugin["consumer"], json!({"id": bid}));
    let body = api
        .post(
            "/consumers/bob/plugins",
            json!({"name": "rate-limiting", "config": {"minute": 5}}),
        )
        .await
        .expect(409)
        .clone();
    assert_eq!(
        body["fields"],
        json!({"name": "rate-limiting", "consumer": {"id": bid}, "route": null, "service": null})
    );
    assert_eq!(
        body["message"],
        format!(
            "UNIQUE violation detected on '{{consumer={{id=\"{bid}\"}},name=\"rate-limiting\",route=null,service=null}}'"
        )
    );
    let pid = id(&plugin);
    api.get(&format!("/consumers/{}/plugins/{pid}", id(&alice)))
        .await
        .expect(404);
    let body = api
        .patch(
            &format!("/consumers/bob/plugins/{pid}"),
            json!({"config": {"minute": 20}}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(body["config"]["minute"], 20);
    assert_eq!(body["config"]["hour"], 100, "config merges partially");
    // The same through a form body that does not repeat the plugin name.
    let body = api
        .form(
            Method::PATCH,
            &format!("/consumers/bob/plugins/{pid}"),
            "config.minute=30",
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(body["config"]["minute"], 30);
    assert_eq!(body["config"]["hour"], 100);
    assert_eq!(
        api.patch(
            &format!("/consumers/bob/plugins/{pid}"),
            json!({"name": "foo"})
        )
        .await
        .expect(400)["fields"]["name"],
        "plugin 'foo' not enabled; add it to the 'plugins' configuration property"
    );
    api.delete(&format!("/consumers/bob/plugins/{}", uuid::Uuid::new_v4()))
        .await
        .expect(404);
    // §0: a nested PATCH or DELETE under a parent that does not exist is a 404 too.
    api.patch(
        &format!("/consumers/nobody/plugins/{pid}"),
        json!({"config": {"minute": 1}}),
    )
    .await
    .expect(404);
    api.delete(&format!("/consumers/nobody/plugins/{pid}"))
        .await
        .expect(404);
    api.get(&format!("/plugins/{pid}")).await.expect(200);
    assert_eq!(
        api.delete(&format!("/consumers/bob/plugins/{pid}"))
            .await
            .status,
        204
    );
    // Deleting a consumer takes its plugins along.
    let other = api
        .post(
            "/consumers/alice/plugins",
            json!({"name": "request-transformer"}),
        )
        .await
        .expect(201)
        .clone();
    assert_eq!(api.delete("/consumers/alice").await.status, 204);
    api.get(&format!("/plugins/{}", id(&other)))
        .await
        .expect(404);
}

admin_tests!(
    create_consumers,
    content_types_and_empty_bodies,
    filters,
    encoded_usernames_and_patch,
    put_consumers,
    consumer_plugins,
);
