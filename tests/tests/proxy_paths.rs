//! Behaviour catalogue §2.3: the upstream request URI through the running proxy — all 212
//! path-handling cases of Kong's fixture (v0 and v1, prefix and regex route paths), URI
//! normalisation, and untouched query strings.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use common::model::PathHandling;
use data_plane::runtime::ConfigSet;
use http_body_util::Full;
use portico_tests::client::{self, get};
use portico_tests::entities::{route, route_paths, service};
use portico_tests::proxy::TestProxy;
use portico_tests::upstream::Upstream;
use serde::Deserialize;

fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

#[derive(Debug, Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    row: u32,
    service_path: String,
    route_path: Option<String>,
    strip_path: bool,
    path_handling: String,
    request_path: String,
    expected_upstream_path: String,
}

fn cases() -> Vec<Case> {
    let fixture: Fixture = serde_json::from_str(include_str!(
        "../../data-plane/src/router/tests/fixtures/kong-path-handling-cases.json"
    ))
    .unwrap();
    fixture.cases
}

/// Kong's regex form of a route path: `~/[0]?<rest>`.
fn regex_form(path: &str) -> String {
    format!("~/[0]?{}", path.trim_start_matches('/'))
}

#[tokio::test]
async fn all_path_handling_cases_reach_the_upstream_as_kong_sends_them() {
    let upstream = Upstream::echo().await;
    let cases = cases();
    assert_eq!(cases.len(), 212);
    let mut config = ConfigSet::default();
    // One service and route per case (and per route-path form), told apart by Host.
    let mut requests = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let mut forms = vec![("prefix", case.route_path.clone())];
        if let Some(p) = &case.route_path {
            forms.push(("regex", Some(regex_form(p))));
        }
        for (form, route_path) in forms {
            let host = format!("case-{i}-{form}.test");
            let svc = service(&format!(
                "http://127.0.0.1:{}{}",
                upstream.port(),
                case.service_path
            ));
            let mut r = route(Some(&svc));
            r.hosts = Some(vec![host.clone()]);
            r.paths = route_path.map(|p| vec![p]);
            r.strip_path = case.strip_path;
            r.path_handling = if case.path_handling == "v1" {
                PathHandling::V1
            } else {
                PathHandling::V0
            };
            config.services.push(svc);
            config.routes.push(r);
            requests.push((host, form, i));
        }
    }
    let proxy = TestProxy::start(config).await;
    let mut failures = Vec::new();
    for (host, form, i) in requests {
        let case = &cases[i];
        let resp = client::send(
            proxy.http,
            get(&case.request_path, &host).body(empty()).unwrap(),
        )
        .await
        .unwrap();
        let got = if resp.status == 200 {
            resp.json()["request_uri"]
                .as_str()
                .unwrap_or("")
                .to_string()
        } else {
            format!("status {}", resp.status)
        };
        if got != case.expected_upstream_path {
            failures.push(format!(
                "row {} ({form}, {}, strip {}): service {:?} route {:?} request {:?} -> {got:?}, expected {:?}",
                case.row,
                case.path_handling,
                case.strip_path,
                case.service_path,
                case.route_path,
                case.request_path,
                case.expected_upstream_path
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

async fn echo_proxy(routes: Vec<(&str, bool)>, service_path: &str) -> (TestProxy, Upstream) {
    let upstream = Upstream::echo().await;
    let svc = service(&format!(
        "http://127.0.0.1:{}{service_path}",
        upstream.port()
    ));
    let mut config = ConfigSet::default();
    for (path, strip) in routes {
        let mut r = route_paths(Some(&svc), &[path]);
        r.strip_path = strip;
        config.routes.push(r);
    }
    config.services.push(svc);
    (TestProxy::start(config).await, upstream)
}

async fn upstream_uri(proxy: &TestProxy, path: &str) -> String {
    let resp = client::send(proxy.http, get(path, "paths.test").body(empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status, 200, "{path}: {}", resp.text());
    resp.json()["request_uri"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn query_strings_pass_through_untouched() {
    let (proxy, _up) = echo_proxy(vec![("/", false)], "").await;
    for (sent, expected) in [
        ("/get?foo=bar&hello=world", "/get?foo=bar&hello=world"),
        ("/get?hello", "/get?hello"),
        ("/request?", "/request?"),
        (
            "/get?where=%7B%22a%22%3A1%7D",
            "/get?where=%7B%22a%22%3A1%7D",
        ),
        ("/get?param=abc%7Cdef", "/get?param=abc%7Cdef"),
        ("/request/foo%2Fbar", "/request/foo%2Fbar"),
        ("/request/auth%2F123", "/request/auth%2F123"),
    ] {
        assert_eq!(upstream_uri(&proxy, sent).await, expected, "{sent}");
    }
}

#[tokio::test]
async fn normalised_paths_are_routed_and_sent_upstream() {
    let (proxy, _up) = echo_proxy(vec![("/hello", true), ("/anything", false)], "").await;
    assert_eq!(
        upstream_uri(&proxy, "/h%65llo/anything/a/../b").await,
        "/anything/b"
    );
    assert_eq!(
        upstream_uri(&proxy, "/anything/./a/../wor%6cd/a/../b").await,
        "/anything/world/b"
    );
    assert_eq!(
        upstream_uri(&proxy, "/anything/world/cat%20and%20dog").await,
        "/anything/world/cat%20and%20dog"
    );
    let resp = client::send(
        proxy.http,
        get("/anything/a/../x", "paths.test").body(empty()).unwrap(),
    )
    .await
    .unwrap();
    // X-Forwarded-Path carries the raw request path.
    assert_eq!(
        resp.json()["headers"]["x-forwarded-path"],
        "/anything/a/../x"
    );
}

#[tokio::test]
async fn strip_path_with_service_paths() {
    let (proxy, _up) = echo_proxy(vec![("/mock_upstream", true)], "/status").await;
    let resp = client::send(
        proxy.http,
        get("/mock_upstream/201", "paths.test")
            .body(empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 201);
    assert_eq!(resp.json()["request_uri"], "/status/201");
    let (proxy, _up) = echo_proxy(vec![("/private", false)], "/basic-auth/").await;
    assert_eq!(
        upstream_uri(&proxy, "/private/passwd").await,
        "/basic-auth/private/passwd"
    );
}
