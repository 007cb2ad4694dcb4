//! kong-behaviours.md §0: conventions that apply to every endpoint (CORS and `OPTIONS`,
//! headers, unknown query arguments, argument limits, the admin token, a database that
//! went away).

use axum::http::Method;
use control_plane::admin::AdminConfig;
use serde_json::json;

use crate::admin_tests;
use crate::support::Api;

/// OPTIONS: 204, sorted `Allow`, CORS headers, latency header.
async fn options_and_cors(api: &Api) {
    let res = api.send(Method::OPTIONS, "/routes", &[], "").await;
    assert_eq!(res.status, 204);
    assert!(res.text.is_empty());
    assert_eq!(res.header("allow"), Some("GET, HEAD, OPTIONS, POST"));
    assert_eq!(
        res.header("access-control-allow-methods"),
        Some("GET, HEAD, OPTIONS, POST")
    );
    assert_eq!(
        res.header("access-control-allow-headers"),
        Some("Content-Type")
    );
    assert_eq!(res.header("access-control-allow-origin"), Some("*"));
    assert!(res.header("x-kong-admin-latency").is_some());
    let res = api.send(Method::OPTIONS, "/services/x", &[], "").await;
    assert_eq!(
        res.header("allow"),
        Some("DELETE, GET, HEAD, OPTIONS, PATCH, PUT")
    );
    let res = api
        .send(
            Method::OPTIONS,
            "/services",
            &[(
                "access-control-request-headers",
                "Kong-Admin-Token, Content-Type",
            )],
            "",
        )
        .await;
    assert_eq!(
        res.header("access-control-allow-headers"),
        Some("Kong-Admin-Token, Content-Type")
    );
    let res = api.get("/services").await;
    assert_eq!(res.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        res.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert!(res.header("x-kong-admin-latency").is_some());
}

/// Query arguments: unknown ones are ignored; more than 1000 are refused.
async fn query_arguments(api: &Api) {
    api.get("/upstreams?foo=bar&size=10").await.expect(200);
    let many = vec!["a=1"; 1001].join("&");
    assert_eq!(
        api.get(&format!("/services?{many}")).await.expect(400),
        &json!({"message": "Too many arguments"})
    );
    let many = vec!["tags=a"; 1000].join("&");
    api.get(&format!("/services?{many}")).await.expect(200);
}

/// Several Content-Type headers are refused.
async fn multiple_content_types(api: &Api) {
    let res = api
        .send(
            Method::POST,
            "/services",
            &[
                ("content-type", "application/json"),
                ("content-type", "application/json"),
            ],
            "{}",
        )
        .await;
    assert_eq!(
        res.expect(400),
        &json!({"message": "Multiple Content-Type headers not allowed"})
    );
}

/// The store is closed under the API: every request that needs it answers 503 JSON.
async fn database_gone(api: &Api) {
    api.create("/services", json!({"name": "s", "host": "x.test"}))
        .await;
    api.store.store.close().await;
    for res in [
        api.get("/services").await,
        api.get("/services/s").await,
        api.post("/services", json!({"host": "y.test"})).await,
        api.delete("/services/s").await,
        api.get("/").await,
    ] {
        let body = res.expect(503);
        assert!(body["message"].is_string(), "{body}");
    }
    let status = api.get("/status").await.expect(200).clone();
    assert_eq!(status["database"]["reachable"], false);
    // Endpoints that need no database keep answering.
    api.get("/schemas/services").await.expect(200);
    api.get("/endpoints").await.expect(200);
}

/// `--admin-token`: 401 JSON without the header (or with a wrong one), normal answers with
/// it; `OPTIONS` needs none (browsers send preflights without custom headers).
async fn admin_token(api: &Api) {
    let api = api.with_config(AdminConfig {
        admin_token: Some("s3cret".into()),
        ..AdminConfig::default()
    });
    let res = api.get("/services").await;
    assert_eq!(res.status, 401);
    assert!(res.json["message"].is_string(), "{}", res.text);
    let res = api
        .send(
            Method::GET,
            "/services",
            &[("kong-admin-token", "wrong")],
            "",
        )
        .await;
    assert_eq!(res.status, 401);
    let res = api
        .send(
            Method::POST,
            "/services",
            &[("content-type", "application/json")],
            json!({"host": "x.test"}).to_string(),
        )
        .await;
    assert_eq!(res.status, 401);
    let res = api.send(Method::GET, "/nothing", &[], "").await;
    assert_eq!(res.status, 401, "no route discovery without the token");
    let res = api
        .send(
            Method::GET,
            "/services",
            &[("kong-admin-token", "s3cret")],
            "",
        )
        .await;
    assert_eq!(
        res.expect(200)["data"],
        json!([]),
        "the refused POST wrote nothing"
    );
    let res = api.send(Method::OPTIONS, "/services", &[], "").await;
    assert_eq!(res.status, 204);
}

/// Bodies over the limit: 413 JSON, whether the length is declared or not, in every
/// encoding; nothing is written. The default limit is 10 MiB.
async fn body_limit(api: &Api) {
    let limited = api.with_config(AdminConfig {
        body_limit: 1024,
        ..AdminConfig::default()
    });
    let big = json!({"host": "x.test", "tags": vec!["t".repeat(50); 40]}).to_string();
    assert!(big.len() > 1024);
    let res = limited
        .send(
            Method::POST,
            "/services",
            &[("content-type", "application/json")],
            big.clone(),
        )
        .await;
    assert_eq!(res.status, 413);
    assert!(res.json["message"].is_string());
    let declared = big.len().to_string();
    let res = limited
        .send(
            Method::POST,
            "/services",
            &[
                ("content-type", "application/json"),
                ("content-length", &declared),
            ],
            big,
        )
        .await;
    assert_eq!(res.status, 413);
    let form = format!("host=x.test&tags={}", "t".repeat(2000));
    let res = limited.form(Method::POST, "/services", &form).await;
    assert_eq!(res.status, 413);
    let tags = "t".repeat(2000);
    let res = limited
        .multipart(
            Method::POST,
            "/services",
            &[("host", "x.test"), ("tags", &tags)],
        )
        .await;
    assert_eq!(res.status, 413);
    assert_eq!(limited.get("/services").await.json["data"], json!([]));
    limited
        .post("/services", json!({"host": "x.test"}))
        .await
        .expect(201);

    // The default: 10 MiB.
    let tags = "t".repeat(control_plane::admin::DEFAULT_BODY_LIMIT);
    let res = api
        .form(
            Method::POST,
            "/services",
            &format!("host=y.test&tags={tags}"),
        )
        .await;
    assert_eq!(res.status, 413);
    assert_eq!(
        api.get("/services").await.json["data"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

admin_tests!(
    options_and_cors,
    query_arguments,
    multiple_content_types,
    database_gone,
    admin_token,
    body_limit,
);
