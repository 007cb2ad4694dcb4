//! Workloads for Portico's benchmarks.
//!
//! [`route_mix`] builds a route table shaped like a real multi-tenant gateway: exact hosts with
//! prefix paths (the bulk), exact hosts with regex paths, wildcard hosts, host-less prefix and
//! regex paths, and header-routed paths. [`probes`] gives requests that hit a known route and
//! requests that match nothing (unknown hosts, and known hosts with unknown paths), so the
//! benchmark measures both outcomes; a test checks that each probe gets the route it expects.

use std::sync::Arc;

use common::model::{Protocol, Route, Service};
use data_plane::router::{RequestView, RouteMatch, Router};
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};
use uuid::Uuid;

/// The kinds of routes in the mix, by `index % 20`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 35%: `api-N.example.com` with two prefix paths (a third also restrict methods).
    ExactPrefix,
    /// 10%: `api-N.example.com` with a regex path.
    ExactRegex,
    /// 15%: `*.tenant-N.example.net` (or `tenant-N.*`) with a prefix path.
    Wildcard,
    /// 20%: no host, two prefix paths.
    HostlessPrefix,
    /// 10%: no host, a regex path.
    HostlessRegex,
    /// 10%: no host, a prefix path and an `x-tenant` header.
    Header,
}

pub fn kind(i: usize) -> Kind {
    match i % 20 {
        0..7 => Kind::ExactPrefix,
        7..9 => Kind::ExactRegex,
        9..12 => Kind::Wildcard,
        12..16 => Kind::HostlessPrefix,
        16..18 => Kind::HostlessRegex,
        _ => Kind::Header,
    }
}

fn route(i: usize, fields: Value) -> Arc<Route> {
    let mut base = json!({
        "id": Uuid::from_u128(i as u128 + 1),
        "name": format!("route-{i}"),
        "protocols": ["http", "https"],
        "https_redirect_status_code": 426,
        "regex_priority": 0,
        "strip_path": i.is_multiple_of(2),
        "path_handling": "v0",
        "preserve_host": false,
        "request_buffering": true,
        "response_buffering": true,
        "created_at": 1_700_000_000 + i as i64,
    });
    if let (Value::Object(b), Value::Object(f)) = (&mut base, fields) {
        b.extend(f);
    }
    #[allow(clippy::expect_used)]
    Arc::new(serde_json::from_value(base).expect("generated route is valid"))
}

fn service(i: usize) -> Arc<Service> {
    #[allow(clippy::expect_used)]
    Arc::new(
        serde_json::from_value(json!({
            "id": Uuid::from_u128((1 << 64) + i as u128),
            "name": format!("service-{i}"),
            "protocol": "http",
            "host": format!("upstream-{i}.internal"),
            "port": 8080,
            "path": if i.is_multiple_of(2) { Value::from("/base") } else { Value::Null },
            "retries": 5,
            "connect_timeout": 60000,
            "write_timeout": 60000,
            "read_timeout": 60000,
            "enabled": true,
        }))
        .expect("generated service is valid"),
    )
}

/// `n` routes of the mix, each with a service (one service per 10 routes).
pub fn route_mix(n: usize) -> Vec<(Arc<Route>, Option<Arc<Service>>)> {
    let services: Vec<Arc<Service>> = (0..n.div_ceil(10)).map(service).collect();
    (0..n)
        .map(|i| {
            let fields = match kind(i) {
                Kind::ExactPrefix => {
                    let mut f = json!({
                        "hosts": [format!("api-{i}.example.com")],
                        "paths": [format!("/v1/orders-{i}"), format!("/v1/users-{i}")],
                    });
                    if i.is_multiple_of(3) {
                        f["methods"] = json!(["GET", "POST"]);
                    }
                    f
                }
                Kind::ExactRegex => json!({
                    "hosts": [format!("api-{i}.example.com")],
                    "paths": [format!("~/accounts/(?<account>\\d+)/items-{i}$")],
                }),
                Kind::Wildcard if i.is_multiple_of(2) => json!({
                    "hosts": [format!("*.tenant-{i}.example.net")],
                    "paths": [format!("/app-{i}")],
                }),
                Kind::Wildcard => json!({
                    "hosts": [format!("tenant-{i}.*")],
                    "paths": [format!("/app-{i}")],
                }),
                Kind::HostlessPrefix => json!({
                    "paths": [format!("/svc-{i}/api"), format!("/svc-{i}/admin")],
                }),
                Kind::HostlessRegex => json!({
                    "paths": [format!("~/svc-{i}/items/\\d+$")],
                    "regex_priority": i % 3,
                }),
                Kind::Header => json!({
                    "paths": [format!("/h-{i}")],
                    "headers": { "x-tenant": [format!("t-{i}")] },
                }),
            };
            (route(i, fields), Some(services[i / 10].clone()))
        })
        .collect()
}

/// A prepared request and the route it should match.
#[derive(Debug, Clone)]
pub struct Probe {
    pub method: &'static str,
    pub path: String,
    pub host: Option<String>,
    pub headers: HeaderMap,
    /// The route id it must match, or `None` for a miss.
    pub expect: Option<Uuid>,
}

impl Probe {
    pub fn view(&self) -> RequestView<'_> {
        RequestView {
            method: self.method,
            scheme: Protocol::Http,
            host: self.host.as_deref(),
            path: &self.path,
            headers: &self.headers,
            sni: None,
        }
    }

    pub fn find<'r>(&self, router: &'r Router) -> Option<RouteMatch<'r>> {
        router.find(&self.view())
    }
}

/// A request that matches route `i` of a mix.
pub fn hit(i: usize) -> Probe {
    let mut headers = HeaderMap::new();
    headers.insert(
        HeaderName::from_static("user-agent"),
        HeaderValue::from_static("bench/1.0"),
    );
    let (path, host) = match kind(i) {
        Kind::ExactPrefix => (
            format!("/v1/orders-{i}/12345/lines"),
            Some(format!("api-{i}.example.com")),
        ),
        Kind::ExactRegex => (
            format!("/accounts/9876/items-{i}"),
            Some(format!("api-{i}.example.com:8000")),
        ),
        Kind::Wildcard if i.is_multiple_of(2) => (
            format!("/app-{i}/dashboard"),
            Some(format!("eu.tenant-{i}.example.net")),
        ),
        Kind::Wildcard => (format!("/app-{i}/home"), Some(format!("tenant-{i}.io"))),
        Kind::HostlessPrefix => (
            format!("/svc-{i}/api/things/42"),
            Some("www.example.org".to_string()),
        ),
        Kind::HostlessRegex => (
            format!("/svc-{i}/items/31337"),
            Some("www.example.org".to_string()),
        ),
        Kind::Header => {
            if let Ok(v) = HeaderValue::from_str(&format!("t-{i}")) {
                headers.insert(HeaderName::from_static("x-tenant"), v);
            }
            (format!("/h-{i}/x"), Some("www.example.org".to_string()))
        }
    };
    Probe {
        method: "GET",
        path,
        host,
        headers,
        expect: Some(Uuid::from_u128(i as u128 + 1)),
    }
}

/// A request that matches nothing: alternately an unknown host, and a known host with an
/// unknown path.
pub fn miss(k: usize, n: usize) -> Probe {
    let (path, host) = if k.is_multiple_of(2) {
        (
            format!("/nothing/{k}/here"),
            format!("unknown-{k}.example.com"),
        )
    } else {
        // A host of the mix (ExactPrefix kind) with a path it does not serve.
        let i = (k * 20) % n.max(20);
        (format!("/v3/missing-{k}"), format!("api-{i}.example.com"))
    };
    Probe {
        method: "GET",
        path,
        host: Some(host),
        headers: HeaderMap::new(),
        expect: None,
    }
}

/// The calling thread's CPU time in nanoseconds (`CLOCK_THREAD_CPUTIME_ID`). On a shared,
/// loaded machine this is the figure that stays meaningful, while wall-clock time also counts
/// the time other processes held the CPU.
pub fn thread_cpu_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(t.tv_nsec).unwrap_or(0)
}

/// `count` hit probes spread over the routes of a mix of `n`, and `count` miss probes.
pub fn probes(n: usize, count: usize) -> (Vec<Probe>, Vec<Probe>) {
    let stride = (n / count.max(1)).max(1);
    let hits = (0..count).map(|k| hit((k * stride + k % 7) % n)).collect();
    let misses = (0..count).map(|k| miss(k, n)).collect();
    (hits, misses)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn thread_cpu_time_advances_with_work() {
        let before = thread_cpu_ns();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        assert!(thread_cpu_ns() > before, "{x}");
    }

    // The benchmark measures what it says: hits hit their own route, misses match nothing.
    #[test]
    fn probes_get_the_expected_route() {
        for n in [100, 2_000] {
            let router = Router::build(route_mix(n)).unwrap();
            assert_eq!(router.len(), n);
            let (hits, misses) = probes(n, 500);
            for p in hits.iter().chain(&misses) {
                let got = p.find(&router).map(|m| m.route.id);
                assert_eq!(got, p.expect, "{p:?}");
            }
            // Every kind is represented among the hits.
            for i in 0..20 {
                let p = hit(i);
                assert_eq!(p.find(&router).map(|m| m.route.id), p.expect, "{p:?}");
            }
        }
    }
}
