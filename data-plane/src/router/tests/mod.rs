//! Router tests: Kong's path-handling fixture, the behaviour catalogue's router cases, cases
//! ported from Kong's router unit tests, and randomised checks against a straightforward model
//! of Kong's algorithm.

#![allow(clippy::unwrap_used)]

mod catalogue;
mod kong_unit;
mod model;
mod path_handling;
mod properties;

use std::sync::Arc;

use common::model::{Protocol, Route, Service};
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{RequestView, RouteMatch, Router};

/// A route from a JSON object; missing fields take the values Kong's router sees when a test
/// leaves them out (`strip_path`/`preserve_host` false, `path_handling` v0, priority 0,
/// `created_at` 0), with `protocols` http+https. Set `strip_path` explicitly for Admin-API-like
/// routes (whose default is true).
pub fn route(fields: Value) -> Arc<Route> {
    let mut base = json!({
        "id": Uuid::new_v4(),
        "protocols": ["http", "https"],
        "https_redirect_status_code": 426,
        "regex_priority": 0,
        "strip_path": false,
        "path_handling": "v0",
        "preserve_host": false,
        "request_buffering": true,
        "response_buffering": true,
        "created_at": 0,
    });
    merge(&mut base, fields);
    Arc::new(serde_json::from_value(base).expect("valid route JSON"))
}

/// A service from a JSON object (defaults: http://example.org:80, no path, enabled).
pub fn service(fields: Value) -> Arc<Service> {
    let mut base = json!({
        "id": Uuid::new_v4(),
        "protocol": "http",
        "host": "example.org",
        "port": 80,
        "retries": 5,
        "connect_timeout": 60000,
        "write_timeout": 60000,
        "read_timeout": 60000,
        "enabled": true,
    });
    merge(&mut base, fields);
    Arc::new(serde_json::from_value(base).expect("valid service JSON"))
}

fn merge(base: &mut Value, fields: Value) {
    if let (Value::Object(b), Value::Object(f)) = (base, fields) {
        for (k, v) in f {
            b.insert(k, v);
        }
    }
}

/// Builds a router where every route has its own default service.
pub fn router(routes: &[Arc<Route>]) -> Router {
    Router::build(
        routes
            .iter()
            .map(|r| (r.clone(), Some(service(json!({})))))
            .collect(),
    )
    .expect("router builds")
}

/// A request under test.
#[derive(Clone)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub host: Option<String>,
    pub scheme: Protocol,
    pub sni: Option<String>,
    pub headers: HeaderMap,
}

pub fn req(method: &str, path: &str, host: Option<&str>) -> Req {
    Req {
        method: method.to_string(),
        path: path.to_string(),
        host: host.map(str::to_string),
        scheme: Protocol::Http,
        sni: None,
        headers: HeaderMap::new(),
    }
}

impl Req {
    pub fn header(mut self, name: &str, value: &str) -> Req {
        self.headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
        self
    }

    pub fn https(mut self, sni: Option<&str>) -> Req {
        self.scheme = Protocol::Https;
        self.sni = sni.map(str::to_string);
        self
    }

    pub fn view(&self) -> RequestView<'_> {
        RequestView {
            method: &self.method,
            scheme: self.scheme,
            host: self.host.as_deref(),
            path: &self.path,
            headers: &self.headers,
            sni: self.sni.as_deref(),
        }
    }

    pub fn find<'r>(&self, router: &'r Router) -> Option<RouteMatch<'r>> {
        router.find(&self.view())
    }
}

/// The id of the route matched for `r`, if any.
pub fn matched(router: &Router, r: &Req) -> Option<Uuid> {
    r.find(router).map(|m| m.route.id)
}

/// Asserts that `r` matches `expected` (by position in `routes`), or nothing.
#[track_caller]
pub fn assert_route(router: &Router, routes: &[Arc<Route>], r: &Req, expected: Option<usize>) {
    let got = matched(router, r);
    let want = expected.map(|i| routes[i].id);
    let pos = |id: Option<Uuid>| id.and_then(|id| routes.iter().position(|r| r.id == id));
    assert_eq!(
        pos(got),
        pos(want),
        "request {} {} host={:?} headers={:?}: expected route #{:?}, got #{:?}",
        r.method,
        r.path,
        r.host,
        r.headers,
        expected,
        pos(got)
    );
}

#[test]
fn router_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Router>();
}
