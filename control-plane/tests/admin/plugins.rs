//! kong-behaviours.md §1.5: plugins (cases 80–85), plus the checks Kong's plugins DAO makes
//! against the database (protocols matching the route's or the service's routes').

use axum::http::Method;
use serde_json::{Value, json};

use crate::admin_tests;
use crate::support::{Api, id};

/// #80: GET by id or instance name; DELETE of an unknown plugin.
async fn get_and_delete(api: &Api) {
    let plugin = api
        .create(
            "/plugins",
            json!({"name": "key-auth", "instance_name": "ka"}),
        )
        .await;
    assert_eq!(
        api.get(&format!("/plugins/{}", id(&plugin)))
            .await
            .expect(200),
        &plugin
    );
    assert_eq!(api.get("/plugins/ka").await.expect(200), &plugin);
    api.get("/plugins/nope").await.expect(404);
    api.get(&format!("/plugins/{}", uuid::Uuid::new_v4()))
        .await
        .expect(404);
    assert_eq!(api.delete("/plugins/nope").await.status, 204);
    assert_eq!(
        api.delete(&format!("/plugins/{}", uuid::Uuid::new_v4()))
            .await
            .status,
        204
    );
    assert_eq!(api.delete("/plugins/ka").await.status, 204);
    api.get("/plugins/ka").await.expect(404);
}

/// #81: PUT by id and by instance name.
async fn put_plugins(api: &Api) {
    let svc = api.create("/services", json!({"host": "x.test"})).await;
    let pid = uuid::Uuid::new_v4();
    let body = api
        .put(
            &format!("/plugins/{pid}"),
            json!({"name": "key-auth", "service": {"id": id(&svc)}}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(body["id"], pid.to_string());
    let body = api
        .put("/plugins/my-instance", json!({"name": "key-auth"}))
        .await
        .expect(200)
        .clone();
    assert_eq!(body["instance_name"], "my-instance");
    let again = api
        .put(
            "/plugins/my-instance",
            json!({"name": "key-auth", "config": {"hide_credentials": true}}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(again["id"], body["id"]);
    assert_eq!(again["config"]["hide_credentials"], true);
}

/// #82, #83, #84: PATCH errors, tags null, collection methods.
async fn patch_plugins(api: &Api) {
    let plugin = api
        .create("/plugins", json!({"name": "key-auth", "tags": ["a"]}))
        .await;
    let path = format!("/plugins/{}", id(&plugin));
    assert_eq!(
        api.patch(&path, json!({"config": "bar"})).await.expect(400),
        &json!({"code": 2, "name": "schema violation",
                "message": "schema violation (config: expected a record)",
                "fields": {"config": "expected a record"}})
    );
    let body = api
        .patch(&path, json!({"tags": null}))
        .await
        .expect(200)
        .clone();
    assert_eq!(body["tags"], Value::Null);
    for method in [Method::DELETE, Method::PATCH] {
        api.send(method, "/plugins", &[], "").await.expect(405);
    }
}

/// #85: too many form (and multipart) arguments.
async fn too_many_arguments(api: &Api) {
    let mut body = "name=ip-restriction".to_owned();
    for i in 0..1001 {
        body.push_str(&format!("&config.allow={i}.0.0.1"));
    }
    assert_eq!(
        api.form(Method::POST, "/plugins", &body).await.expect(400),
        &json!({"message": "Too many arguments"})
    );
    let addresses: Vec<String> = (0..1001).map(|i| format!("{i}.0.0.1")).collect();
    let mut parts = vec![("name", "ip-restriction")];
    parts.extend(addresses.iter().map(|a| ("config.allow", a.as_str())));
    assert_eq!(
        api.multipart(Method::POST, "/plugins", &parts)
            .await
            .expect(400),
        &json!({"message": "Too many arguments"})
    );
    api.get("/plugins").await.expect(200);
    assert_eq!(api.get("/plugins").await.json["data"], json!([]));
}

/// Unknown plugins are refused with Kong's message.
async fn unknown_plugin(api: &Api) {
    let body = api
        .post("/plugins", json!({"name": "foo"}))
        .await
        .expect(400)
        .clone();
    assert_eq!(
        body["fields"]["name"],
        "plugin 'foo' not enabled; add it to the 'plugins' configuration property"
    );
}

/// Kong's plugins DAO: protocols must match the route's, or one route of the service's.
async fn protocols_must_match(api: &Api) {
    let svc = api.create("/services", json!({"host": "x.test"})).await;
    let route = api
        .create(
            "/routes",
            json!({"protocols": ["https"], "hosts": ["a.test"], "service": {"id": id(&svc)}}),
        )
        .await;
    let body = api
        .post(
            &format!("/routes/{}/plugins", id(&route)),
            json!({"name": "key-auth", "protocols": ["http"]}),
        )
        .await
        .expect(400)
        .clone();
    assert_eq!(
        body["fields"],
        json!({"protocols": "must match the associated route's protocols"})
    );
    let body = api
        .post(
            &format!("/services/{}/plugins", id(&svc)),
            json!({"name": "key-auth", "protocols": ["http"]}),
        )
        .await
        .expect(400)
        .clone();
    assert_eq!(
        body["fields"]["protocols"],
        "must match the protocols of at least one route pointing to this Plugin's service"
    );
    let plugin = api
        .post(
            &format!("/routes/{}/plugins", id(&route)),
            json!({"name": "key-auth", "protocols": ["https"]}),
        )
        .await
        .expect(201)
        .clone();
    api.patch(
        &format!("/plugins/{}", id(&plugin)),
        json!({"protocols": ["grpc"]}),
    )
    .await
    .expect(400);
    // Without protocols in the request nothing is checked (as in Kong).
    api.post(
        &format!("/services/{}/plugins", id(&svc)),
        json!({"name": "cors"}),
    )
    .await
    .expect(201);
}

/// Plugins nested under routes; deleting a route takes its plugins along.
async fn route_plugins(api: &Api) {
    let route = api
        .create("/routes", json!({"name": "r", "paths": ["/"]}))
        .await;
    let plugin = api
        .post("/routes/r/plugins", json!({"name": "cors"}))
        .await
        .expect(201)
        .clone();
    assert_eq!(plugin["route"], json!({"id": id(&route)}));
    let listed = api.get("/routes/r/plugins").await.expect(200).clone();
    assert_eq!(listed["data"], json!([plugin]));
    // The plugin's route, through the foreign-entity endpoint.
    assert_eq!(
        api.get(&format!("/plugins/{}/route", id(&plugin)))
            .await
            .expect(200),
        &route
    );
    api.get(&format!("/plugins/{}/service", id(&plugin)))
        .await
        .expect(404);
    assert_eq!(api.delete("/routes/r").await.status, 204);
    api.get(&format!("/plugins/{}", id(&plugin)))
        .await
        .expect(404);
}

admin_tests!(
    get_and_delete,
    put_plugins,
    patch_plugins,
    too_many_arguments,
    unknown_plugin,
    protocols_must_match,
    route_plugins,
);
