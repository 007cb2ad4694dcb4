//! request-transformer and response-transformer against the real data plane.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use data_plane::runtime::ConfigSet;
use http::{Request, Response};
use http_body_util::Full;
use portico_tests::client::{self, get};
use portico_tests::entities::{PluginScope, plugin, route_paths, service};
use portico_tests::proxy::{TestProxy, rejected};
use portico_tests::upstream::{Upstream, full};
use serde_json::{Value, json};

fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

async fn setup(upstream: &Upstream, name: &str, cases: &[(&str, Value)]) -> TestProxy {
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let mut config = ConfigSet::default();
    for (path, conf) in cases {
        let mut route = route_paths(Some(&svc), &[path]);
        if path.starts_with("~") {
            route.paths = Some(vec![path.to_string()]);
        }
        config
            .plugins
            .push(plugin(name, conf.clone()).on_route(&route));
        config.routes.push(route);
    }
    config.services.push(svc);
    TestProxy::start(config).await
}

#[tokio::test]
async fn request_transformer_changes_headers_query_body_method_and_path() {
    let upstream = Upstream::echo().await;
    let proxy = setup(
        &upstream,
        "request-transformer",
        &[
            (
                "/headers",
                json!({
                    "remove": {"headers": ["x-remove"]},
                    "rename": {"headers": ["x-old:x-new"]},
                    "replace": {"headers": ["x-replace:replaced"]},
                    "add": {"headers": ["x-add:added", "x-keep:not-used", "x-from:$(headers[\"x-source\"])"]},
                    "append": {"headers": ["x-append:appended"]},
                }),
            ),
            (
                "/query",
                json!({
                    "remove": {"querystring": ["drop"]},
                    "rename": {"querystring": ["old:new"]},
                    "replace": {"querystring": ["swap:done"]},
                    "add": {"querystring": ["extra:1"]},
                    "append": {"querystring": ["multi:b"]},
                }),
            ),
            (
                "/body",
                json!({
                    "remove": {"body": ["secret"]},
                    "add": {"body": ["added:yes"]},
                    "replace": {"body": ["name:changed"]},
                }),
            ),
            (
                "/host",
                json!({
                    "replace": {"headers": ["host:rewritten.example"]},
                    "add": {"headers": ["x-added:yes"]},
                }),
            ),
            (
                "/host-add",
                json!({"add": {"headers": ["host:ignored.example"]}}),
            ),
            (
                "~/users/(?<id>\\d+)$",
                json!({"http_method": "POST", "replace": {"uri": "/v2/accounts/$(uri_captures.id)"}}),
            ),
        ],
    )
    .await;
    let resp = client::send(
        proxy.http,
        get("/headers", "t.test")
            .header("x-remove", "1")
            .header("x-old", "moved")
            .header("x-replace", "original")
            .header("x-keep", "mine")
            .header("x-append", "first")
            .header("x-source", "templated")
            .body(empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 200);
    let h = &resp.json()["headers"];
    assert!(h["x-remove"].is_null());
    assert!(h["x-old"].is_null());
    assert_eq!(h["x-new"], "moved");
    assert_eq!(h["x-replace"], "replaced");
    assert_eq!(h["x-add"], "added");
    assert_eq!(h["x-keep"], "mine");
    assert_eq!(h["x-from"], "templated");
    assert_eq!(h["x-append"], json!(["first", "appended"]));

    let resp = client::send(
        proxy.http,
        get("/query?drop=1&old=v&swap=x&multi=a&keep=k", "t.test")
            .body(empty())
            .unwrap(),
    )
    .await
    .unwrap();
    // Sorted by name, as Kong's set_query encodes.
    assert_eq!(
        resp.json()["query"],
        "extra=1&keep=k&multi=a&multi=b&new=v&swap=done"
    );

    let resp = client::send(
        proxy.http,
        Request::post("/body")
            .header("host", "t.test")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(
                r#"{"name":"n","secret":"s","other":1}"#,
            )))
            .unwrap(),
    )
    .await
    .unwrap();
    let body: Value = serde_json::from_str(resp.json()["body"].as_str().unwrap()).unwrap();
    assert_eq!(body, json!({"name": "changed", "other": 1, "added": "yes"}));
    assert_eq!(
        resp.json()["headers"]["content-length"],
        body.to_string().len().to_string()
    );

    // Kong's replace of Host sets the Host sent upstream; adding one does nothing.
    let resp = client::send(proxy.http, get("/host", "t.test").body(empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.json()["headers"]["host"], "rewritten.example");
    assert_eq!(resp.json()["headers"]["x-added"], "yes");
    let resp = client::send(
        proxy.http,
        get("/host-add", "t.test").body(empty()).unwrap(),
    )
    .await
    .unwrap();
    let upstream_host = format!("127.0.0.1:{}", upstream.port());
    assert_eq!(resp.json()["headers"]["host"], upstream_host.as_str());

    let resp = client::send(
        proxy.http,
        get("/users/42", "t.test").body(empty()).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.json()["method"], "POST");
    assert_eq!(resp.json()["path"], "/v2/accounts/42");
}

#[tokio::test]
async fn response_transformer_changes_headers_and_json() {
    let upstream = Upstream::start(|_req, _conn| async {
        let mut resp = Response::new(full(r#"{"id":1,"secret":"x","name":"n","list":"a"}"#));
        let h = resp.headers_mut();
        h.insert("content-type", "application/json".parse().unwrap());
        h.insert("x-remove", "1".parse().unwrap());
        h.insert("x-old", "moved".parse().unwrap());
        h.insert("x-replace", "before".parse().unwrap());
        resp
    })
    .await;
    let proxy = setup(
        &upstream,
        "response-transformer",
        &[(
            "/r",
            json!({
                "remove": {"headers": ["x-remove"], "json": ["secret"]},
                "rename": {"headers": ["x-old:x-new"], "json": ["name:title"]},
                "replace": {"headers": ["x-replace:after"], "json": ["id:2"], "json_types": ["number"]},
                "add": {"headers": ["x-add:added"], "json": ["flag:true", "id:99"], "json_types": ["boolean", "number"]},
                "append": {"headers": ["x-add:more"], "json": ["list:b"]},
            }),
        )],
    )
    .await;
    let resp = client::send(proxy.http, get("/r", "t.test").body(empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    assert!(resp.headers.get("x-remove").is_none());
    assert_eq!(resp.header("x-new"), "moved");
    assert_eq!(resp.header("x-replace"), "after");
    let added: Vec<&str> = resp
        .headers
        .get_all("x-add")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(added, vec!["added", "more"]);
    assert_eq!(
        resp.json(),
        json!({"id": 2, "title": "n", "flag": true, "list": ["a", "b"]})
    );
}

#[test]
fn the_schemas_reject_bad_configs() {
    for (name, conf, message) in [
        (
            "request-transformer",
            json!({"add": {"headers": ["no-colon"]}}),
            "invalid value",
        ),
        (
            "request-transformer",
            json!({"add": {"querystring": ["k:$(unclosed"]}}),
            "unfinished template expression",
        ),
        (
            "response-transformer",
            json!({"add": {"json_types": ["date"]}}),
            "expected one of",
        ),
    ] {
        let config = ConfigSet {
            plugins: vec![plugin(name, conf.clone())],
            ..Default::default()
        };
        let err = rejected(&config);
        assert!(err.contains(message), "{name} {conf}: {err}");
    }
}

#[tokio::test]
async fn request_transformer_edits_multipart_bodies_as_kong() {
    let upstream = Upstream::echo().await;
    let proxy = setup(
        &upstream,
        "request-transformer",
        &[(
            "/multipart",
            json!({
                "rename": {"body": ["old:new"]},
                "remove": {"body": ["secret"]},
                "replace": {"body": ["name:changed", "absent:x"]},
                "add": {"body": ["added:yes", "keep:not-used"]},
                "append": {"body": ["ignored:1"]},
            }),
        )],
    )
    .await;
    let body = "--XyZ\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nn\r\n\
        --XyZ\r\nContent-Disposition: form-data; name=\"secret\"\r\n\r\ns\r\n\
        --XyZ\r\nContent-Disposition: form-data; name=\"keep\"; filename=\"k.txt\"\r\n\
        Content-Type: text/plain\r\n\r\nmine\r\n\
        --XyZ\r\nContent-Disposition: form-data; name=\"old\"\r\n\r\nmoved\r\n--XyZ--\r\n";
    let resp = client::send(
        proxy.http,
        Request::post("/multipart")
            .header("host", "t.test")
            .header("content-type", "multipart/form-data; boundary=XyZ")
            .body(Full::new(Bytes::from(body)))
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 200);
    // Kong's library: a file part keeps its headers, a replaced or renamed part moves to
    // the end with a plain Content-Disposition, an added part comes last; no append.
    let expected = "--XyZ\r\nContent-Disposition: form-data; name=\"keep\"; filename=\"k.txt\"\r\n\
        Content-Type: text/plain\r\n\r\nmine\r\n\
        --XyZ\r\nContent-Disposition: form-data; name=\"new\"\r\n\r\nmoved\r\n\
        --XyZ\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nchanged\r\n\
        --XyZ\r\nContent-Disposition: form-data; name=\"added\"\r\n\r\nyes\r\n--XyZ--\r\n";
    assert_eq!(resp.json()["body"], expected);
    assert_eq!(
        resp.json()["headers"]["content-length"],
        expected.len().to_string()
    );
}
