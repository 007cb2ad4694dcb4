//! kong-behaviours.md §1.1: node and meta endpoints (cases 1–12).

use axum::http::Method;
use serde_json::json;

use crate::admin_tests;
use crate::support::Api;

/// #1: `GET /`.
async fn root_reports_kongs_shape(api: &Api) {
    let res = api.get("/").await;
    let body = res.expect(200);
    assert_eq!(body["version"], "3.10.0");
    assert_eq!(body["portico_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["edition"], "community");
    assert_eq!(body["tagline"], "Welcome to kong");
    assert!(
        uuid::Uuid::parse_str(body["node_id"].as_str().unwrap_or_default()).is_ok(),
        "{body}"
    );
    assert!(body["configuration"].is_object());
    assert!(body["pids"]["master"].is_number());
    assert!(body["pids"]["workers"].is_array());
    assert_eq!(body["plugins"]["enabled_in_cluster"], json!([]));
    assert!(body.get("prng_seeds").is_none());
    assert!(body["plugins"]["available_on_server"]["key-auth"]["priority"].is_number());
    // The server header names Portico, not Kong; no Via.
    assert!(
        res.header("server")
            .unwrap_or_default()
            .starts_with("portico/")
    );
    assert!(res.header("via").is_none());

    api.create("/plugins", json!({"name": "cors"})).await;
    let body = api.get("/").await.expect(200).clone();
    assert_eq!(body["plugins"]["enabled_in_cluster"], json!(["cors"]));
}

/// #2, #3, #4: HEAD, other methods on `/`, unknown paths.
async fn root_methods_and_not_found(api: &Api) {
    let get = api.get("/").await;
    let head = api.send(Method::HEAD, "/", &[], "").await;
    assert_eq!(head.status, 200);
    assert!(head.text.is_empty());
    // The same headers as GET, apart from the latency.
    let without_latency = |res: &crate::support::Res| {
        let mut headers = res.headers.clone();
        headers.remove("x-kong-admin-latency");
        headers.remove("date");
        headers
    };
    assert_eq!(without_latency(&head), without_latency(&get));
    for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
        let res = api.send(method, "/", &[], "").await;
        assert_eq!(res.expect(405), &json!({"message": "Method not allowed"}));
    }
    for method in [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::OPTIONS,
        Method::PATCH,
    ] {
        let res = api.send(method, "/non-existing", &[], "").await;
        assert_eq!(res.expect(404), &json!({"message": "Not found"}));
    }
    let head = api.send(Method::HEAD, "/non-existing", &[], "").await;
    assert_eq!(head.status, 404);
    assert!(head.text.is_empty());
}

/// #5, #6: `/status`.
async fn status_reports_server_database_and_memory(api: &Api) {
    let body = api.get("/status").await.expect(200).clone();
    for key in [
        "connections_accepted",
        "connections_active",
        "connections_handled",
        "connections_reading",
        "connections_writing",
        "connections_waiting",
        "total_requests",
    ] {
        assert!(body["server"][key].is_number(), "{key}: {body}");
    }
    assert_eq!(body["database"]["reachable"], true);
    assert!(body.get("configuration_hash").is_none());
    let rss = body["memory"]["process"]["rss"]
        .as_str()
        .unwrap_or_default();
    assert!(rss.ends_with(" MiB"), "{rss}");

    let body = api.get("/status?unit=k").await.expect(200).clone();
    assert!(
        body["memory"]["process"]["rss"]
            .as_str()
            .unwrap_or_default()
            .ends_with(" KiB")
    );
    let body = api.get("/status?unit=b").await.expect(200).clone();
    assert!(body["memory"]["process"]["rss"].is_number());
    let body = api.get("/status?scale=3").await.expect(200).clone();
    let rss = body["memory"]["process"]["rss"]
        .as_str()
        .unwrap_or_default();
    let decimals = rss
        .split(' ')
        .next()
        .and_then(|n| n.split('.').nth(1))
        .map(str::len);
    assert_eq!(decimals, Some(3), "{rss}");
    assert_eq!(
        api.get("/status?unit=V").await.expect(400),
        &json!({"message": "invalid unit 'V' (expected 'k/K', 'm/M', or 'g/G')"})
    );
}

/// #7: `/endpoints`.
async fn endpoints_list_route_templates(api: &Api) {
    let body = api.get("/endpoints").await.expect(200).clone();
    let data: Vec<&str> = body["data"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    assert!(data.contains(&"/plugins"));
    assert!(data.contains(&"/basic-auths/{basicauth_credentials}"));
    assert!(data.contains(&"/upstreams/{upstreams}/targets/{targets}"));
    // A hybrid-mode control plane leaves out the target health setters.
    assert!(
        !data
            .iter()
            .any(|d| d.ends_with("/healthy") || d.ends_with("/unhealthy"))
    );
}

/// #8, #9: `/schemas/{entity}` and `/schemas/plugins/{name}`.
async fn schemas(api: &Api) {
    let body = api.get("/schemas/routes").await.expect(200).clone();
    assert!(body["fields"].is_array());
    assert!(body["entity_checks"].is_array());
    let service_field = body["fields"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f.get("service").is_some()))
        .cloned()
        .unwrap_or_default();
    assert_eq!(service_field["service"]["type"], "foreign");
    assert!(service_field["service"].get("schema").is_none());
    let body = api.get("/schemas/consumers").await.expect(200).clone();
    assert!(body["entity_checks"].is_array());
    assert_eq!(
        api.get("/schemas/not-present").await.expect(404),
        &json!({"message": "No entity named 'not-present'"})
    );
    let names = api.get("/plugins/enabled").await.json["enabled_plugins"].clone();
    for name in names.as_array().cloned().unwrap_or_default() {
        let name = name.as_str().unwrap_or_default();
        let body = api
            .get(&format!("/schemas/plugins/{name}"))
            .await
            .expect(200)
            .clone();
        assert!(body["fields"].is_array(), "{name}");
        assert!(body["entity_checks"].is_array(), "{name}");
    }
    let res = api.get("/schemas/plugins/request-transformer").await;
    res.expect(200);
    assert!(!res.text.contains("\"entity_checks\":{"));
    assert!(!res.text.contains("\"fields\":{"));
    assert!(res.text.contains("\"default\":[]"));
    assert!(!res.text.contains("\"default\":{}"));
    assert_eq!(
        api.get("/schemas/plugins/foobar").await.expect(404),
        &json!({"message": "No plugin named 'foobar'"})
    );
}

/// #10, #11: the validate endpoints.
async fn schema_validation(api: &Api) {
    assert_eq!(
        api.post("/schemas/services/validate", json!({"host": "example.com"}))
            .await
            .expect(200),
        &json!({"message": "schema validation successful"})
    );
    let body = api
        .post(
            "/schemas/certificates/validate",
            json!({"cert": crate::fixtures::rsa().cert, "key": crate::fixtures::rsa().key,
                   "snis": ["120.0.9.32:90"]}),
        )
        .await
        .expect(400)
        .clone();
    assert_eq!(
        body,
        json!({"code": 2, "name": "schema violation",
               "message": "schema violation (snis.1: must not be an IP)",
               "fields": {"snis": ["must not be an IP"]}})
    );
    let body = api
        .post(
            "/schemas/plugins/validate",
            json!({"name": "key-auth", "config": {"keys": "foo"}}),
        )
        .await
        .expect(400)
        .clone();
    assert_eq!(body["name"], "schema violation");
    // Nothing was stored.
    assert_eq!(api.get("/services").await.expect(200)["data"], json!([]));
    assert_eq!(
        api.post("/schemas/nothing/validate", json!({}))
            .await
            .expect(404),
        &json!({"message": "No entity named 'nothing'"})
    );
}

/// #12: `/plugins/enabled`.
async fn enabled_plugins(api: &Api) {
    let body = api.get("/plugins/enabled").await.expect(200).clone();
    let names = body["enabled_plugins"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!names.is_empty());
    assert!(names.contains(&json!("key-auth")));
}

admin_tests!(
    root_reports_kongs_shape,
    root_methods_and_not_found,
    status_reports_server_database_and_memory,
    endpoints_list_route_templates,
    schemas,
    schema_validation,
    enabled_plugins,
);
