//! Scenarios of Kong's router unit tests (`spec/01-unit/08-router_spec.lua`, cited as
//! [U/router:line]) that the catalogue does not already cover, restated as tables. Kong's unit
//! tests build routes directly, so unset `strip_path`/`preserve_host` are false here.

use std::sync::Arc;

use common::model::Route;
use serde_json::json;

use super::{assert_route, req, route, router, service};
use crate::router::{RouteError, Router};

/// The 15 routes of the `select()` block [U/router:157].
fn select_use_case() -> Vec<Arc<Route>> {
    vec![
        route(json!({ "hosts": ["domain-1.org", "domain-2.org"] })),
        route(json!({ "methods": ["TRACE"] })),
        route(json!({ "paths": ["/my-route"] })),
        route(json!({ "paths": ["/route-4"], "hosts": ["domain-1.org", "domain-2.org"] })),
        route(
            json!({ "hosts": ["domain-1.org", "domain-2.org"], "methods": ["POST", "PUT", "PATCH"] }),
        ),
        route(json!({ "methods": ["POST", "PUT", "PATCH"], "paths": ["/route-6"] })),
        route(json!({
            "hosts": ["domain-with-uri-1.org", "domain-with-uri-2.org"],
            "methods": ["POST", "PUT", "PATCH"],
            "paths": ["/my-route-uri"],
        })),
        route(json!({ "paths": ["/serviceless"] })),
        route(json!({ "headers": { "location": ["my-location-1", "my-location-2"] } })),
        route(json!({ "headers": { "location": ["my-location-1"], "version": ["v1", "v2"] } })),
        route(
            json!({ "headers": { "location": ["my-location-1", "my-location-2"] }, "paths": ["/headers-uri"] }),
        ),
        route(json!({
            "hosts": ["domain-with-headers-1.org", "domain-with-headers-2.org"],
            "headers": { "location": ["my-location-1", "my-location-2"] },
            "methods": ["POST", "PUT", "PATCH"],
            "paths": ["/headers-host-uri-method"],
        })),
        route(json!({ "hosts": ["domain-1.org:321", "domain-2.org"] })),
        route(json!({ "hosts": ["domain-3.org:321"] })),
        route(
            json!({ "headers": { "user-agent": ["~*windows|linux|os\\s+x\\s*[\\d\\._]+|solaris|bsd"] } }),
        ),
    ]
}

#[test]
fn select_table() {
    let routes = select_use_case();
    let router = router(&routes);
    let cases: Vec<(super::Req, Option<usize>)> = vec![
        (req("GET", "/", Some("domain-1.org")), Some(0)),
        (req("GET", "/", Some("domain-1.org:80")), Some(0)),
        (req("GET", "/", Some("domain-1.org:123")), Some(0)),
        (req("GET", "/", Some("domain-1.org:321")), Some(12)),
        (req("GET", "/", Some("domain-3.org:321")), Some(13)),
        (req("GET", "/", Some("domain-3.org:123")), None),
        (req("GET", "/my-route", Some("domain.org")), Some(2)),
        // [uri + empty host]: HTTP/1.0 without Host.
        (req("GET", "/my-route-uri", Some("")), Some(2)),
        (req("GET", "/my-route-uri", None), Some(2)),
        (req("TRACE", "/", Some("domain.org")), Some(1)),
        (req("GET", "/route-4", Some("domain-1.org")), Some(3)),
        (req("POST", "/", Some("domain-1.org")), Some(4)),
        (req("PUT", "/route-6", Some("domain.org")), Some(5)),
        (
            req("PUT", "/my-route-uri", Some("domain-with-uri-2.org")),
            Some(6),
        ),
        (req("GET", "/serviceless", None), Some(7)),
        (
            req("GET", "/my-route/some/path", Some("domain.org")),
            Some(2),
        ),
        // Headers.
        (
            req("GET", "/", None).header("location", "my-location-1"),
            Some(8),
        ),
        (
            req("GET", "/", None).header("location", "my-location-2"),
            Some(8),
        ),
        (
            req("GET", "/", None)
                .header("location", "my-location-3")
                .header("location", "my-location-2"),
            Some(8),
        ),
        (
            req("GET", "/", None).header("location", "my-location-3"),
            None,
        ),
        (
            req("GET", "/", None)
                .header("location", "my-location-3")
                .header("location", "foo"),
            None,
        ),
        (
            req("GET", "/", None).header(
                "user-agent",
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)",
            ),
            Some(14),
        ),
        (
            req("GET", "/", None)
                .header("location", "my-location-1")
                .header("version", "v1"),
            Some(9),
        ),
        (
            req("GET", "/", None)
                .header("location", "my-location-3")
                .header("location", "my-location-1")
                .header("version", "v2"),
            Some(9),
        ),
        // Falls back to the single-header route.
        (
            req("GET", "/", None)
                .header("location", "my-location-3")
                .header("location", "my-location-2")
                .header("version", "v2"),
            Some(8),
        ),
        (
            req("GET", "/headers-uri", None).header("location", "my-location-2"),
            Some(10),
        ),
        (
            req(
                "PUT",
                "/headers-host-uri-method",
                Some("domain-with-headers-1.org"),
            )
            .header("location", "my-location-2"),
            Some(11),
        ),
        // Misses [U/router:2917].
        (req("GET", "/", Some("domain-3.org")), None),
        (req("GET", "/route-4", Some("domain-3.org")), None),
        (req("GET", "/some-uri", Some("domain-with-uri-2.org")), None),
        (
            req("PUT", "/some-uri-foo", Some("domain-with-uri-2.org")),
            None,
        ),
        (
            req("GET", "/some-other-prefix/my-route", Some("domain.org")),
            None,
        ),
        (
            req("GET", "/", None).header("location", "invalid-location"),
            None,
        ),
        (
            req("GET", "/headers-uri", None).header("location", "invalid-location"),
            None,
        ),
    ];
    for (r, expected) in &cases {
        assert_route(&router, &routes, r, *expected);
    }
}

#[test]
fn ipv6_literal_hosts() {
    // [U/router:706] (traditional only)
    let routes = [
        route(json!({ "hosts": ["::11", "[::12]"] })),
        route(json!({ "hosts": ["::21", "[::22]"] })),
        route(json!({ "hosts": ["[::31]:321", "[::32]:321"] })),
        route(json!({ "hosts": ["[::21]:321", "[::22]:321"] })),
    ];
    let router = router(&routes);
    let cases = [
        ("::11", Some(0)),
        ("[::11]", Some(0)),
        ("[::11]:654", Some(0)),
        ("[::21]:321", Some(3)),
        ("[::31]:321", Some(2)),
        ("[::21]:654", Some(1)),
        ("[::31]:654", None),
    ];
    for (host, expected) in cases {
        assert_route(&router, &routes, &req("GET", "/", Some(host)), expected);
    }
}

#[test]
fn prefix_routes_with_methods_or_hosts_prefer_longer_paths() {
    // [U/router:849,884,919]
    for extra in [
        json!({ "methods": ["POST", "PUT", "GET"] }),
        json!({ "hosts": ["domain.org"] }),
    ] {
        let mk = |path: &str| {
            let mut f = extra.clone();
            f["paths"] = json!([path]);
            route(f)
        };
        let routes = [mk("/my-route"), mk("/my-route/hello")];
        let router = router(&routes);
        let get = |p| req("GET", p, Some("domain.org"));
        assert_route(&router, &routes, &get("/my-route/hello"), Some(1));
        assert_route(&router, &routes, &get("/my-route/hello/world"), Some(1));
        assert_route(&router, &routes, &get("/my-route"), Some(0));
        assert_route(&router, &routes, &get("/my-route/world"), Some(0));
    }
    // A better path on another host does not hide this host's routes [U/router:919].
    let routes = [
        route(json!({ "hosts": ["example.com"], "paths": ["/my-route"] })),
        route(json!({ "hosts": ["example.com"], "paths": ["/my-route/hello"] })),
        route(json!({ "hosts": ["example.net"], "paths": ["/my-route/hello/world"] })),
    ];
    let router = router(&routes);
    let get = |p| req("GET", p, Some("example.com"));
    assert_route(&router, &routes, &get("/my-route/hello/world"), Some(1));
    assert_route(
        &router,
        &routes,
        &get("/my-route/hello/world/and/goodnight"),
        Some(1),
    );
}

#[test]
fn regex_cases() {
    // [U/router:1013,1122]
    let routes = [
        route(json!({ "paths": ["~/route/persons/\\d{3}"] })),
        route(json!({ "paths": ["~/route/persons/\\d{3}/following"] })),
        route(json!({ "paths": ["~/route/persons/\\d{3}/[a-z]+"] })),
    ];
    let router = router(&routes);
    assert_route(
        &router,
        &routes,
        &req("GET", "/route/persons/456", Some("d")),
        Some(0),
    );

    let routes = [
        route(json!({ "hosts": ["route.com"], "paths": ["/pat"] })),
        route(json!({ "hosts": ["route.com"], "paths": ["/path"], "methods": ["POST"] })),
        route(json!({ "hosts": ["route.com"], "paths": ["~/(path)"] })),
    ];
    let router = super::router(&routes);
    assert_route(
        &router,
        &routes,
        &req("GET", "/path", Some("route.com")),
        Some(2),
    );

    // [wildcard host] + [uri regex] [U/router:1574]
    let routes = [
        route(json!({ "hosts": ["*.example.com"], "paths": ["~/users/\\d+/profile"] })),
        route(json!({ "hosts": ["*.example.com"], "paths": ["/users"] })),
    ];
    let router = super::router(&routes);
    let get = |p| req("GET", p, Some("test.example.com"));
    assert_route(&router, &routes, &get("/users/123/profile"), Some(0));
    assert_route(&router, &routes, &get("/users"), Some(1));

    // Half [uri regex] and [method] [U/router:2648]
    let routes = [
        route(json!({ "methods": ["GET"], "paths": ["~/users/\\d+/profile"] })),
        route(json!({ "methods": ["POST"], "paths": ["~/users/\\d*/profile"] })),
    ];
    let router = super::router(&routes);
    assert_route(
        &router,
        &routes,
        &req("GET", "/users/123/profile", Some("d")),
        Some(0),
    );
    assert_route(
        &router,
        &routes,
        &req("POST", "/users/123/profile", Some("d")),
        Some(1),
    );
}

#[test]
fn wildcard_host_ports_and_submatch_weight() {
    // [U/router:1245-1330,1427-1507]
    let base = || {
        vec![
            route(json!({ "hosts": ["*.route.com"] })),
            route(json!({ "hosts": ["route.*"] })),
        ]
    };
    let mut routes = base();
    routes.push(route(json!({ "hosts": ["*.route.net:123"] })));
    routes.push(route(json!({ "hosts": ["route.*:123"] })));
    let router = router(&routes);
    assert_route(
        &router,
        &routes,
        &req("GET", "/", Some("foo.route.net:123")),
        Some(2),
    );
    assert_route(
        &router,
        &routes,
        &req("GET", "/", Some("foo.route.net:456")),
        None,
    );
    assert_route(
        &router,
        &routes,
        &req("GET", "/", Some("route.org:123")),
        Some(3),
    );

    for (port, https) in [(80, false), (443, true)] {
        let mut routes = base();
        routes.push(route(json!({ "hosts": [format!("route.*:{port}")] })));
        let router = super::router(&routes);
        assert_route(
            &router,
            &routes,
            &req("GET", "/", Some("route.org:123")),
            Some(1),
        );
        let explicit = format!("route.org:{port}");
        assert_route(&router, &routes, &req("GET", "/", Some(&explicit)), Some(2));
        // [trad-only] even with the default port implied.
        let mut implicit = req("GET", "/", Some("route.org"));
        if https {
            implicit = implicit.https(None);
        }
        assert_route(&router, &routes, &implicit, Some(2));
    }

    let routes = [
        route(json!({ "hosts": ["route.*"] })),
        route(json!({ "hosts": ["route.*:80", "route.com.*"] })),
    ];
    let router = super::router(&routes);
    assert_route(
        &router,
        &routes,
        &req("GET", "/", Some("route.org:80")),
        Some(1),
    );

    let routes = [
        route(json!({ "hosts": ["route.*"] })),
        route(json!({ "hosts": ["route.*:123"] })),
        route(json!({ "hosts": ["route.*:80"] })),
    ];
    let router = super::router(&routes);
    assert_route(
        &router,
        &routes,
        &req("GET", "/", Some("route.org:123")),
        Some(1),
    );
    assert_route(
        &router,
        &routes,
        &req("GET", "/", Some("route.org")),
        Some(2),
    );
}

#[test]
fn wildcard_and_plain_hosts_with_paths() {
    // [U/router:1397,1427]
    let routes = [
        route(json!({ "hosts": ["*.route.com"], "paths": ["/path1"] })),
        route(json!({ "hosts": ["plain.route.com"], "paths": ["/path2"] })),
    ];
    let router = router(&routes);
    assert_route(
        &router,
        &routes,
        &req("GET", "/path1", Some("plain.route.com")),
        Some(0),
    );
    assert_route(
        &router,
        &routes,
        &req("GET", "/path2", Some("plain.route.com")),
        Some(1),
    );

    // [wildcard/plain + uri + method] [U/router:1509]
    let routes = [route(json!({
        "hosts": ["*.domain.com", "example.com"],
        "paths": ["/path"],
        "methods": ["GET", "TRACE"],
    }))];
    let router = super::router(&routes);
    assert_route(
        &router,
        &routes,
        &req("POST", "/path", Some("foo.domain.com")),
        None,
    );
    assert_route(
        &router,
        &routes,
        &req("GET", "/path", Some("foo.domain.com")),
        Some(0),
    );
    assert_route(
        &router,
        &routes,
        &req("TRACE", "/path", Some("example.com")),
        Some(0),
    );

    // Half [wildcard host] and [method]; [method] vs [wildcard host] [U/router:2624,2720]
    let routes = [
        route(json!({ "hosts": ["host.*"], "methods": ["GET"] })),
        route(json!({ "hosts": ["host.*"], "methods": ["POST"] })),
        route(json!({ "methods": ["GET"] })),
        route(json!({ "hosts": ["domain.*"] })),
    ];
    let router = super::router(&routes);
    assert_route(
        &router,
        &routes,
        &req("GET", "/", Some("host.com")),
        Some(0),
    );
    assert_route(
        &router,
        &routes,
        &req("POST", "/", Some("host.com")),
        Some(1),
    );
    assert_route(
        &router,
        &routes,
        &req("GET", "/", Some("nothing.com")),
        Some(2),
    );
    assert_route(
        &router,
        &routes,
        &req("GET", "/", Some("domain.com")),
        Some(3),
    );
}

#[test]
fn header_ordering_and_case() {
    // [U/router:1613,1650,1693]
    let routes = [
        route(json!({ "headers": { "version": ["v1", "v2"], "user-agent": ["foo", "bar"] } })),
        route(json!({
            "headers": { "version": ["v1", "v2"], "user-agent": ["foo", "bar"], "location": ["east", "west"] }
        })),
    ];
    let router = router(&routes);
    let r = req("GET", "/", None)
        .header("version", "v1")
        .header("user-agent", "foo")
        .header("location", "north")
        .header("location", "west");
    assert_route(&router, &routes, &r, Some(1));

    let routes = [
        route(json!({ "headers": { "USER-AGENT": ["foo", "bar"] } })),
        route(json!({ "headers": { "user-agent": ["BAZ"] } })),
    ];
    let router = super::router(&routes);
    assert_route(
        &router,
        &routes,
        &req("GET", "/", None).header("user-agent", "FOO"),
        Some(0),
    );
    assert_route(
        &router,
        &routes,
        &req("GET", "/", None).header("User-Agent", "baz"),
        Some(1),
    );
}

#[test]
fn more_headers_beat_longer_paths() {
    // [U/router:2862]
    let routes = [
        route(json!({ "headers": { "version": ["v1"] }, "paths": ["/my-route/hello"] })),
        route(
            json!({ "headers": { "version": ["v1"], "location": ["us-east"] }, "paths": ["/my-route"] }),
        ),
    ];
    let router = router(&routes);
    for p in ["/my-route/hello", "/my-route/hello/world"] {
        let r = req("GET", p, Some("domain.org"))
            .header("version", "v1")
            .header("location", "us-east");
        assert_route(&router, &routes, &r, Some(1));
    }
}

#[test]
fn same_category_conflicting_values() {
    // [U/router:2813]: five routes share host+path, the sixth has the target path.
    let mut routes: Vec<_> = (0..5)
        .map(|_| route(json!({ "hosts": ["domain.org"], "paths": ["/my-uri"] })))
        .collect();
    routes.push(route(
        json!({ "hosts": ["domain.org"], "paths": ["/my-target-uri"] }),
    ));
    let router = router(&routes);
    assert_route(
        &router,
        &routes,
        &req("GET", "/my-target-uri", Some("domain.org")),
        Some(5),
    );
}

#[test]
fn root_route_and_multi_path_routes() {
    // [U/router:2747] [trad-only]: each path is ranked on its own.
    let routes = [
        route(json!({ "paths": ["/a", "/bbbbbbb"] })),
        route(json!({ "paths": ["/a/bb"] })),
    ];
    let router = router(&routes);
    assert_route(
        &router,
        &routes,
        &req("GET", "/a/bb/foobar", Some("domain.org")),
        Some(1),
    );

    // [U/router:2772]: a root route does not supersede others and catches the rest.
    let mut routes = select_use_case();
    routes.insert(0, route(json!({ "paths": ["/"] })));
    let router = super::router(&routes);
    assert_route(
        &router,
        &routes,
        &req("GET", "/", Some("domain.org")),
        Some(0),
    );
    assert_route(
        &router,
        &routes,
        &req("GET", "/my-route", Some("domain.org")),
        Some(3),
    );
    assert_route(
        &router,
        &routes,
        &req("GET", "/my-route/hello/world", Some("domain.org")),
        Some(3),
    );
    assert_route(
        &router,
        &routes,
        &req("GET", "/foobar/baz", Some("domain.org")),
        Some(0),
    );

    // [both regex and prefix] / [overlapping prefixes] [U/router:4955,5004]
    let routes = [
        route(json!({ "paths": ["~/some/thing/else", "/foo"], "hosts": ["domain-1.org"] })),
        route(json!({ "paths": ["/foo/bar"], "hosts": ["domain-1.org"] })),
    ];
    let router = super::router(&routes);
    assert_route(
        &router,
        &routes,
        &req("GET", "/some/thing/else", Some("domain-1.org")),
        Some(0),
    );
    assert_route(
        &router,
        &routes,
        &req("GET", "/foo/bar", Some("domain-1.org")),
        Some(1),
    );
    let routes = [
        route(json!({ "paths": ["/foo", "/foo/bar/baz"], "hosts": ["domain-1.org"] })),
        route(json!({ "paths": ["/foo/bar"], "hosts": ["domain-1.org"] })),
    ];
    let router = super::router(&routes);
    assert_route(
        &router,
        &routes,
        &req("GET", "/foo", Some("domain-1.org")),
        Some(0),
    );
    assert_route(
        &router,
        &routes,
        &req("GET", "/foo/bar", Some("domain-1.org")),
        Some(1),
    );
}

#[test]
fn sni_is_ignored_over_http_without_shadowing_http_routes() {
    // [U/router:4716] Kong #6425.
    let routes = [
        route(json!({ "snis": ["www.example.org"] })),
        route(json!({ "hosts": ["sni.example.com"], "snis": ["sni.example.com"] })),
        route(json!({ "hosts": ["sni.example.com"], "protocols": ["http"] })),
    ];
    let router = router(&routes);
    assert_route(
        &router,
        &routes,
        &req("GET", "/", Some("sni.example.com")),
        Some(2),
    );
    let only = [routes[1].clone()];
    let router = super::router(&only);
    assert_route(
        &router,
        &only,
        &req("GET", "/", Some("sni.example.com")),
        Some(0),
    );
    // Over TLS the SNI must match.
    let tls = req("GET", "/", Some("sni.example.com")).https(Some("other.com"));
    assert_route(&router, &only, &tls, None);
}

#[test]
fn uri_captures() {
    // [U/router:3478,3497,3547]
    let routes = [
        route(json!({ "paths": ["~/(people/)?1984/(?<subpath>profile)$"] })),
        route(json!({ "paths": ["~/users/(?P<user_id>\\d+)/profile/?(?P<scope>[a-z]*)"] })),
        route(
            json!({ "paths": ["~/names/(?P<fullname>[a-zA-Z\\s\\d%]+)/profile/?(?P<scope>[a-z]*)"] }),
        ),
        route(json!({ "paths": ["~/plain/\\d+/profile"] })),
        route(json!({ "paths": ["/hello"], "strip_path": true })),
    ];
    let router = router(&routes);
    let caps = |p: &str| {
        req("GET", p, Some("domain.org"))
            .find(&router)
            .unwrap()
            .captures
    };
    let s = |v: &str| v.to_string();
    assert_eq!(
        caps("/1984/profile"),
        vec![(None, s("")), (Some(s("subpath")), s("profile"))]
    );
    assert_eq!(
        caps("/users/1984/profile"),
        vec![(Some(s("user_id")), s("1984")), (Some(s("scope")), s(""))]
    );
    assert_eq!(
        caps("/users/1984/profile/email"),
        vec![
            (Some(s("user_id")), s("1984")),
            (Some(s("scope")), s("email"))
        ]
    );
    // Captures come from the normalised path (fix #7913).
    assert_eq!(
        caps("/names/%6aohn%20doe/profile"),
        vec![
            (Some(s("fullname")), s("john doe")),
            (Some(s("scope")), s(""))
        ]
    );
    assert!(caps("/plain/1984/profile").is_empty());
    let m = req("GET", "/hello/world", None).find(&router).unwrap();
    assert!(m.captures.is_empty());
    assert_eq!(m.upstream_path, "/world");
}

#[test]
fn strip_paths() {
    // [U/router:3726]
    let routes = [
        route(json!({ "paths": ["/my-route", "/xx-route"], "strip_path": true })),
        route(
            json!({ "methods": ["POST"], "paths": ["/my-route", "/xx-route"], "strip_path": false }),
        ),
    ];
    let router = router(&routes);
    let m = req("GET", "/my-route/hello/world", Some("domain.org"))
        .find(&router)
        .unwrap();
    assert_eq!(
        (m.stripped_prefix.as_deref(), m.upstream_path.as_str()),
        (Some("/my-route"), "/hello/world")
    );
    for _ in 0..2 {
        for p in ["/my-route", "/xx-route"] {
            let m = req("GET", p, Some("domain.org")).find(&router).unwrap();
            assert_eq!(
                (m.stripped_prefix.as_deref(), m.upstream_path.as_str()),
                (Some(p), "/")
            );
        }
    }
    let m = req("POST", "/my-route/hello/world", Some("domain.org"))
        .find(&router)
        .unwrap();
    assert_eq!(m.route.id, routes[1].id);
    assert_eq!(
        (m.stripped_prefix, m.upstream_path.as_str()),
        (None, "/my-route/hello/world")
    );
}

#[test]
fn special_characters_in_paths() {
    // [U/router:4330]
    let routes = [
        route(json!({ "paths": ["/\\d"] })),
        route(json!({ "paths": ["~/\\d+\""] })),
    ];
    let router = router(&routes);
    let m = req("GET", "/\\d", Some("domain.org"))
        .find(&router)
        .unwrap();
    assert_eq!(m.route.id, routes[0].id);
    assert_eq!(m.upstream_path, "/%5Cd");
    let m = req("GET", "/123\"", Some("domain.org"))
        .find(&router)
        .unwrap();
    assert_eq!(m.route.id, routes[1].id);
    assert_eq!(m.upstream_path, "/123%22");
}

#[test]
fn build_errors_name_every_bad_route() {
    // [U/router:136] "could not categorize route", plus what our regex engine rejects.
    let empty = route(json!({ "name": "empty" }));
    let bad_regex = route(json!({ "name": "lookahead", "paths": ["~/(?=x)"] }));
    let bad_host = route(json!({ "hosts": ["a.*.com"] }));
    let good = route(json!({ "paths": ["/ok"] }));
    let err = Router::build(
        [&empty, &bad_regex, &bad_host, &good]
            .into_iter()
            .map(|r| (r.clone(), Some(service(json!({})))))
            .collect(),
    )
    .unwrap_err();
    assert_eq!(err.errors.len(), 3, "{err}");
    assert!(
        matches!(&err.errors[0], RouteError::Uncategorizable { route } if route.contains("'empty'"))
    );
    assert!(
        matches!(&err.errors[1], RouteError::InvalidRegex { route, .. } if route.contains("'lookahead'"))
    );
    assert!(
        matches!(&err.errors[2], RouteError::InvalidHost { route, .. } if route.contains(&bad_host.id.to_string()))
    );
    let text = err.to_string();
    assert!(text.contains("could not categorize route"), "{text}");
    assert!(text.contains("invalid regex path '~/(?=x)'"), "{text}");
}

#[test]
fn empty_lists_still_categorize() {
    // [U/router:2261] Empty lists are "present": the route builds; `paths: []` with a method
    // matches on the method alone.
    let routes = [route(
        json!({ "methods": ["GET"], "paths": [], "hosts": [], "snis": [] }),
    )];
    let router = router(&routes);
    assert_route(&router, &routes, &req("GET", "/foo", Some("x")), Some(0));
}
