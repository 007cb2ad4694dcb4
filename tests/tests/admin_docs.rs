//! Black-box: Kong's documentation pages, walked against the real `portico-cp` exactly as
//! written — `shared/reference/get-started-services-and-routes.txt` (form-encoded, as curl
//! `--data` sends it) and `admin-api-put-service.txt` (PUT upsert, including the 400 when the
//! name in the URL and in the body differ). Each runs on SQLite and on Postgres.
#![allow(clippy::unwrap_used)]

use control_plane::store::testing::TestDatabase;
use http::Method;
use portico_tests::admin::ControlPlane;
use portico_tests::client::Resp;
use serde_json::{Value, json};

fn assert_fields(body: &Value, expected: &Value) {
    for (key, value) in expected.as_object().unwrap() {
        assert_eq!(&body[key], value, "field {key} of {body}");
    }
}

fn is_uuid(v: &Value) -> bool {
    v.as_str().is_some_and(|s| uuid::Uuid::parse_str(s).is_ok())
}

#[track_caller]
fn expect(res: &Resp, status: u16) -> Value {
    assert_eq!(res.status.as_u16(), status, "{}", res.text());
    res.json()
}

async fn get_started(cp: &ControlPlane) {
    // 1. Creating services:
    //    curl -i -s -X POST http://localhost:8001/services \
    //      --data name=example_service --data url='https://httpbin.konghq.com'
    let res = cp
        .form(
            Method::POST,
            "/services",
            &["name=example_service", "url=https://httpbin.konghq.com"],
        )
        .await;
    let service = expect(&res, 201);
    // The page's sample response shows `"protocol": "http"` and `"port": 80` for this https
    // URL, which Kong itself does not produce: the url shorthand gives https and 443.
    assert_fields(
        &service,
        &json!({
            "host": "httpbin.konghq.com", "name": "example_service", "enabled": true,
            "connect_timeout": 60000, "read_timeout": 60000, "write_timeout": 60000,
            "retries": 5, "protocol": "https", "port": 443, "path": null, "tags": null,
            "client_certificate": null, "tls_verify": null, "tls_verify_depth": null,
            "ca_certificates": null,
        }),
    );
    assert!(service["created_at"].is_number() && service["updated_at"].is_number());
    assert!(is_uuid(&service["id"]));
    assert!(service.get("url").is_none());

    // 2. Viewing service configuration: curl -X GET http://localhost:8001/services/example_service
    let viewed = expect(&cp.get("/services/example_service").await, 200);
    assert_eq!(viewed, service);

    // 3. Updating services: curl --request PATCH --url localhost:8001/services/example_service --data retries=6
    let res = cp
        .form(Method::PATCH, "/services/example_service", &["retries=6"])
        .await;
    let updated = expect(&res, 200);
    assert_fields(
        &updated,
        &json!({"host": "httpbin.konghq.com", "name": "example_service", "enabled": true, "retries": 6}),
    );

    // 4. Listing services: curl -X GET http://localhost:8001/services
    let listed = expect(&cp.get("/services").await, 200);
    assert_eq!(listed["data"], json!([updated]));
    assert_eq!(listed["next"], Value::Null);

    // Managing routes 1: curl -i -X POST http://localhost:8001/services/example_service/routes \
    //   --data 'paths[]=/mock' --data name=example_route
    let res = cp
        .form(
            Method::POST,
            "/services/example_service/routes",
            &["paths[]=/mock", "name=example_route"],
        )
        .await;
    let route = expect(&res, 201);
    let route_fields = json!({
        "paths": ["/mock"], "methods": null, "sources": null, "destinations": null,
        "name": "example_route", "headers": null, "hosts": null, "preserve_host": false,
        "regex_priority": 0, "snis": null, "https_redirect_status_code": 426, "tags": null,
        "protocols": ["http", "https"], "path_handling": "v0",
        "service": {"id": service["id"]}, "response_buffering": true, "strip_path": true,
        "request_buffering": true,
    });
    assert_fields(&route, &route_fields);
    assert!(is_uuid(&route["id"]));
    assert!(route["created_at"].is_number() && route["updated_at"].is_number());

    // 2. Viewing route configuration, through the service and directly.
    let viewed = expect(
        &cp.get("/services/example_service/routes/example_route")
            .await,
        200,
    );
    assert_eq!(viewed, route);
    assert_eq!(expect(&cp.get("/routes/example_route").await, 200), route);

    // 3. Updating routes: curl --request PATCH \
    //   --url localhost:8001/services/example_service/routes/example_route --data tags="tutorial"
    let res = cp
        .form(
            Method::PATCH,
            "/services/example_service/routes/example_route",
            &["tags=tutorial"],
        )
        .await;
    let tagged = expect(&res, 200);
    assert_eq!(tagged["tags"], json!(["tutorial"]));

    // 4. Listing routes: curl http://localhost:8001/routes
    let listed = expect(&cp.get("/routes").await, 200);
    assert_eq!(listed["next"], Value::Null);
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(1));
    let mut expected = route_fields;
    expected["tags"] = json!(["tutorial"]);
    assert_fields(&listed["data"][0], &expected);
    assert_eq!(listed["data"][0]["created_at"], route["created_at"]);
}

async fn put_service(cp: &ControlPlane) {
    // PUT {{gateway}}/services/:serviceNameOrId with the page's request body.
    let body = json!({
        "host": "httpbin.org", "name": "httpbin-api", "retries": 5, "protocol": "https",
        "port": 443, "path": "/", "connect_timeout": 60000, "write_timeout": 60000,
        "read_timeout": 60000, "tags": null, "client_certificate": null,
    });
    let res = cp.json(Method::PUT, "/services/httpbin-api", &body).await;
    let created = expect(&res, 200);
    assert_fields(
        &created,
        &json!({"host": "httpbin.org", "connect_timeout": 60000, "protocol": "https",
                "name": "httpbin-api", "read_timeout": 60000, "port": 443, "path": "/",
                "retries": 5, "write_timeout": 60000, "tags": null, "client_certificate": null}),
    );
    assert!(is_uuid(&created["id"]));

    // The same PUT again replaces it in place.
    let mut changed = body.clone();
    changed["retries"] = json!(7);
    let replaced = expect(
        &cp.json(Method::PUT, "/services/httpbin-api", &changed)
            .await,
        200,
    );
    assert_eq!(replaced["id"], created["id"]);
    assert_eq!(replaced["retries"], 7);

    // Identified by id: the body may omit the name, which PUT then clears.
    let by_id = format!("/services/{}", created["id"].as_str().unwrap());
    let mut unnamed = body.clone();
    unnamed.as_object_mut().unwrap().remove("name");
    let replaced = expect(&cp.json(Method::PUT, &by_id, &unnamed).await, 200);
    assert_eq!(replaced["name"], Value::Null);
    assert_eq!(replaced["id"], created["id"]);

    // A name in the URL and a different one in the body is not allowed.
    let mut other = body.clone();
    other["name"] = json!("another-name");
    let res = cp.json(Method::PUT, "/services/httpbin-api", &other).await;
    let error = expect(&res, 400);
    assert_eq!(error["name"], "schema violation");
    assert!(error["fields"]["name"].is_string(), "{error}");
    assert_eq!(cp.get("/services/another-name").await.status, 404);

    // Created by PUT when nothing has that name yet; form-encoded works too.
    let res = cp
        .form(
            Method::PUT,
            "/services/new-by-put",
            &["host=example.test", "retries=3"],
        )
        .await;
    let fresh = expect(&res, 200);
    assert_eq!(fresh["name"], "new-by-put");
    assert_eq!(fresh["retries"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_started_tutorial_on_sqlite() {
    get_started(&ControlPlane::start(None, &[]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_started_tutorial_on_postgres() {
    let db = TestDatabase::create().await.unwrap();
    get_started(&ControlPlane::start(Some(db.url()), &[]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_service_doc_page_on_sqlite() {
    put_service(&ControlPlane::start(None, &[]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_service_doc_page_on_postgres() {
    let db = TestDatabase::create().await.unwrap();
    put_service(&ControlPlane::start(Some(db.url()), &[]).await).await;
}
