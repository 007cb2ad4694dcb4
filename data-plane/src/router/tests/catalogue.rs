//! The router cases of the behaviour catalogue (`shared/reference/kong-behaviours.md` §2.1-§2.4,
//! §2.7), one test per case number. These mirror Kong's integration tests, whose routes are
//! created through the Admin API: `strip_path` defaults to true there, so it is set explicitly.

use common::model::Protocol;
use serde_json::json;

use super::{assert_route, req, route, router, service};
use crate::router::Router;

fn upstream(router: &Router, r: &super::Req) -> Option<String> {
    r.find(router).map(|m| m.upstream_path)
}

#[test]
fn case_02_route_without_service_matches_with_no_service() {
    let r = route(json!({ "paths": ["/serviceless"] }));
    let router = Router::build(vec![(r.clone(), None)]).unwrap();
    let m = req("GET", "/serviceless", Some("x.test"))
        .find(&router)
        .unwrap();
    assert_eq!(m.route.id, r.id);
    assert!(m.service.is_none());
    let m = req("GET", "/serviceless", Some("x.test"))
        .https(None)
        .find(&router)
        .unwrap();
    assert!(m.service.is_none());
}

#[test]
fn case_03_routes_of_disabled_services_are_ignored() {
    let disabled = route(json!({ "paths": ["/disabled/longer/prefix"] }));
    let regex = route(json!({ "paths": ["~/disabled/.*"] }));
    let router = Router::build(vec![
        (disabled.clone(), Some(service(json!({ "enabled": false })))),
        (regex.clone(), Some(service(json!({})))),
    ])
    .unwrap();
    assert_eq!(router.len(), 1);
    let m = req("GET", "/disabled/longer/prefix/x", None)
        .find(&router)
        .unwrap();
    assert_eq!(m.route.id, regex.id);

    let only_disabled = Router::build(vec![(disabled, Some(service(json!({ "enabled": false }))))]);
    let only_disabled = only_disabled.unwrap();
    assert!(only_disabled.is_empty());
    assert!(
        req("GET", "/disabled/longer/prefix", None)
            .find(&only_disabled)
            .is_none()
    );
}

#[test]
fn case_04_request_without_host_matches_hostless_routes_only() {
    let routes = [
        route(json!({ "hosts": ["mock_upstream"] })),
        route(json!({ "paths": ["/get"] })),
    ];
    let router = router(&routes);
    assert_route(&router, &routes, &req("GET", "/get", None), Some(1));
    assert_route(&router, &routes, &req("GET", "/other", None), None);
}

#[test]
fn case_13_methods_and_paths() {
    let routes = [route(
        json!({ "methods": ["POST", "PUT"], "paths": ["/post", "/put"] }),
    )];
    let router = router(&routes);
    assert_route(&router, &routes, &req("POST", "/post", Some("x")), Some(0));
    assert_route(&router, &routes, &req("PUT", "/put", Some("x")), Some(0));
    assert_route(&router, &routes, &req("DELETE", "/post", Some("x")), None);
}

#[test]
fn case_14_method_only_route_catches_the_rest() {
    let routes = [
        route(json!({ "methods": ["GET"] })),
        route(json!({ "hosts": ["other.test"], "paths": ["/x"] })),
    ];
    let router = router(&routes);
    assert_route(
        &router,
        &routes,
        &req("GET", "/get", Some("any.test")),
        Some(0),
    );
    assert_route(
        &router,
        &routes,
        &req("POST", "/get", Some("any.test")),
        None,
    );
}

#[test]
fn case_15_regex_with_strip_path_and_service_path() {
    let r = route(json!({ "paths": ["~/users/\\d+/profile"], "strip_path": true }));
    let router = Router::build(vec![(r, Some(service(json!({ "path": "/anything" }))))]).unwrap();
    assert!(
        req("GET", "/users/foo/profile", None)
            .find(&router)
            .is_none()
    );
    let m = req("GET", "/users/123/profile", None)
        .find(&router)
        .unwrap();
    assert_eq!(m.upstream_path, "/anything");
}

#[test]
fn case_16_regex_is_anchored_at_the_start() {
    let routes = [route(json!({ "paths": ["~/prefix/[0-9]+"] }))];
    let router = router(&routes);
    assert_route(
        &router,
        &routes,
        &req("GET", "/prefix/123", Some("d")),
        Some(0),
    );
    assert_route(
        &router,
        &routes,
        &req("GET", "/extra/prefix/123", Some("d")),
        None,
    );
}

#[test]
fn case_17_regex_beats_prefix_even_an_exact_one() {
    let routes = [
        route(json!({ "paths": ["/route/persons"] })),
        route(json!({ "paths": ["~/route/persons/\\d+/profile"] })),
    ];
    let router = router(&routes);
    assert_route(
        &router,
        &routes,
        &req("GET", "/route/persons/123/profile", Some("d")),
        Some(1),
    );
    assert_route(
        &router,
        &routes,
        &req("GET", "/route/persons/x", Some("d")),
        Some(0),
    );

    let routes = [
        route(json!({ "paths": ["/route/fixture"] })),
        route(json!({ "paths": ["~/route/(fixture)"] })),
    ];
    let router = super::router(&routes);
    assert_route(
        &router,
        &routes,
        &req("GET", "/route/fixture", Some("d")),
        Some(1),
    );
}

#[test]
fn case_18_higher_regex_priority_wins() {
    let routes = [
        route(json!({ "paths": ["~/status/(?P<foo>re)"], "regex_priority": 0 })),
        route(json!({ "paths": ["~/status/(re)"], "regex_priority": 4 })),
    ];
    let router = router(&routes);
    assert_route(&router, &routes, &req("GET", "/status/re", None), Some(1));
}

#[test]
fn case_19_equal_regex_priority_older_created_at_wins() {
    // [PX/02-router:775]: regexes before the prefix, then by age.
    let routes = [
        route(json!({ "created_at": 1_234_567_890, "paths": ["~/status/(re)"] })),
        route(json!({ "created_at": 1_234_567_891, "paths": ["~/status/(r)"] })),
        route(json!({ "created_at": 1_234_567_892, "paths": ["/status"] })),
    ];
    for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0]] {
        let shuffled: Vec<_> = order.iter().map(|&i| routes[i].clone()).collect();
        let router = router(&shuffled);
        assert_route(&router, &routes, &req("GET", "/status/r", None), Some(1));
        assert_route(&router, &routes, &req("GET", "/status/re", None), Some(0));
    }
    // [PX/02-router:866]
    let routes = [
        route(json!({ "created_at": 1_234_567_891, "paths": ["~/status/(ab)c?"] })),
        route(json!({ "created_at": 1_234_567_890, "paths": ["~/status/(ab)"] })),
    ];
    let router = super::router(&routes);
    assert_route(&router, &routes, &req("GET", "/status/ab", None), Some(1));
}

#[test]
fn case_20_prefix_paths_ignore_regex_priority() {
    let routes = [
        route(json!({ "hosts": ["domain-1.org"], "paths": ["/.*"] })),
        route(json!({ "hosts": ["domain-2.org"], "paths": ["/"], "regex_priority": 5 })),
        route(json!({ "hosts": ["domain-2.org"], "paths": ["/v1"] })),
    ];
    let router = router(&routes);
    assert_route(
        &router,
        &routes,
        &req("GET", "/v1", Some("domain-2.org")),
        Some(2),
    );
}

#[test]
fn case_21_longer_prefix_wins() {
    let routes = [
        route(json!({ "paths": ["/my-route/hello"] })),
        route(json!({ "paths": ["/my-route"] })),
    ];
    let router = router(&routes);
    assert_route(
        &router,
        &routes,
        &req("GET", "/my-route/hello/world", Some("d")),
        Some(0),
    );
    assert_route(
        &router,
        &routes,
        &req("GET", "/my-route/hello", Some("d")),
        Some(0),
    );
    assert_route(
        &router,
        &routes,
        &req("GET", "/my-route/world", Some("d")),
        Some(1),
    );
    assert_route(
        &router,
        &routes,
        &req("GET", "/my-route", Some("d")),
        Some(1),
    );

    // [trad-only] [PX/02-router:2287]: a route's other, longer path does not lend it priority.
    let routes = [
        route(json!({
            "strip_path": true,
            "hosts": ["route.com"],
            "paths": ["/root/fixture", "/root/fixture/non-matching-but-longer"],
        })),
        route(
            json!({ "strip_path": true, "hosts": ["route.com"], "paths": ["/root/fixture/get"] }),
        ),
    ];
    let router = super::router(&routes);
    assert_route(
        &router,
        &routes,
        &req("GET", "/root/fixture/get", Some("route.com")),
        Some(1),
    );
    assert_route(
        &router,
        &routes,
        &req("GET", "/root/fixture/x", Some("route.com")),
        Some(0),
    );
}

#[test]
fn case_22_prefixes_are_anchored() {
    let routes = [route(json!({ "paths": ["/my-route"] }))];
    let router = router(&routes);
    assert_route(
        &router,
        &routes,
        &req("GET", "/some-other-prefix/my-route", Some("d")),
        None,
    );

    let routes = [
        route(json!({ "paths": ["/something/my-route"] })),
        route(json!({ "hosts": ["example.com"], "paths": ["/my-route"] })),
    ];
    let router = super::router(&routes);
    assert_route(
        &router,
        &routes,
        &req("GET", "/something/my-route", Some("example.com")),
        Some(0),
    );
}

/// The `[paths] + [methods]` table of [PX/02-router:2048], used by cases 21, 23 and 24.
fn paths_and_methods_table() -> Vec<std::sync::Arc<common::model::Route>> {
    let r = |methods: bool, paths: &[&str], host: &str| {
        let mut f = json!({ "strip_path": true, "paths": paths, "hosts": [host] });
        if methods {
            f["methods"] = json!(["GET"]);
        }
        route(f)
    };
    vec![
        r(
            true,
            &[
                "/unrelated/longer/uri/that/should/not/match",
                "/root/fixture",
            ],
            "ahost.test",
        ),
        r(true, &["/root/fixture/get"], "ahost.test"),
        r(true, &["/root/fixture/get"], "anotherhost.test"),
        r(true, &["/root/fixture/get"], "onemorehost.test"),
        r(
            false,
            &["/rest/devportal/api/v1", "/rest/devportal"],
            "api.local",
        ),
        r(false, &["/rest/devportal/aux"], "api.local"),
        r(false, &["/rest/devportal/aux"], "test-api.local"),
        r(false, &["/rest/devportal/aux"], "atest-api.local"),
        r(false, &["/rest/devportal"], "atest-api.local"),
        r(
            false,
            &["/concat_test/devportal/api/v1", "/concat_test/devportal"],
            "api.local",
        ),
        r(false, &["/concat_test/devportal/aux"], "api.local"),
        r(false, &["/concat_test/devportal/aux"], "test-api.local"),
        r(false, &["/concat_test/devportal/aux"], "atest-api.local"),
        r(false, &["/concat_test/devportal"], "atest-api.local"),
    ]
}

#[test]
fn case_23_host_plus_path_beats_longer_path_alone() {
    let routes = paths_and_methods_table();
    let router = router(&routes);
    // [trad-only] prioritizes longer URIs; host over longer URIs.
    let get = |host| req("GET", "/root/fixture/get", Some(host));
    assert_route(&router, &routes, &get("ahost.test"), Some(1));
    assert_route(&router, &routes, &get("anotherhost.test"), Some(2));
    assert_route(&router, &routes, &get("onemorehost.test"), Some(3));
    // [trad-only] regression test for Kong #5438: every path of every route reaches it.
    for (i, r) in routes.iter().enumerate().take(14) {
        for p in r.paths.as_ref().unwrap() {
            let host = &r.hosts.as_ref().unwrap()[0];
            assert_route(&router, &routes, &req("GET", p, Some(host)), Some(i));
            if i >= 9 {
                let deeper = format!("{p}/status/418");
                assert_route(&router, &routes, &req("GET", &deeper, Some(host)), Some(i));
            }
        }
    }
    // [trad-only] #5438 part 2.
    assert_route(
        &router,
        &routes,
        &req("GET", "/rest/devportal", Some("atest-api.local")),
        Some(8),
    );
}

#[test]
fn case_24_host_route_needs_its_path() {
    let routes = paths_and_methods_table();
    let router = router(&routes);
    assert_route(&router, &routes, &req("GET", "/", Some("ahost.test")), None);
}

#[test]
fn case_25_root_path_is_a_catch_all_that_strips_nothing() {
    let routes = [
        route(json!({ "paths": ["/"], "strip_path": true })),
        route(json!({ "paths": ["/foobar"], "strip_path": true })),
    ];
    let router = router(&routes);
    assert_route(&router, &routes, &req("GET", "/foobar/get", None), Some(1));
    let m = req("GET", "/my-route/hello/world", None)
        .find(&router)
        .unwrap();
    assert_eq!(m.route.id, routes[0].id);
    assert_eq!(m.upstream_path, "/my-route/hello/world");
    assert_eq!(m.stripped_prefix, None);
}

#[test]
fn case_26_host_and_uri_outrank_method() {
    let routes = [
        route(json!({ "hosts": ["domain-1.org", "domain-2.org"] })),
        route(json!({ "methods": ["TRACE"] })),
        route(json!({ "paths": ["/my-route"] })),
    ];
    let router = router(&routes);
    assert_route(
        &router,
        &routes,
        &req("TRACE", "/", Some("domain-2.org")),
        Some(0),
    );
    assert_route(
        &router,
        &routes,
        &req("TRACE", "/my-route", Some("domain.org")),
        Some(2),
    );
    assert_route(
        &router,
        &routes,
        &req("TRACE", "/", Some("domain.org")),
        Some(1),
    );
}

#[test]
fn case_27_half_matches_do_not_shadow() {
    let routes = [
        route(json!({ "hosts": ["host1.com"], "paths": ["/v1/path"] })),
        route(json!({ "hosts": ["host2.com"], "paths": ["/"] })),
    ];
    let router = router(&routes);
    assert_route(
        &router,
        &routes,
        &req("GET", "/v1/path", Some("host1.com")),
        Some(0),
    );
    assert_route(
        &router,
        &routes,
        &req("GET", "/v1/path", Some("host2.com")),
        Some(1),
    );
}

#[test]
fn case_28_wildcard_hosts_match_any_port() {
    let routes = [
        route(json!({ "hosts": ["*.route.com"] })),
        route(json!({ "hosts": ["route.*"] })),
        route(json!({ "hosts": ["*.grpc.com"], "protocols": ["grpc", "grpcs"] })),
    ];
    let router = router(&routes);
    assert_route(
        &router,
        &routes,
        &req("GET", "/", Some("foo.route.com")),
        Some(0),
    );
    assert_route(
        &router,
        &routes,
        &req("GET", "/", Some("foo.route.com:123")),
        Some(0),
    );
    assert_route(
        &router,
        &routes,
        &req("GET", "/", Some("route.org")),
        Some(1),
    );
    assert_route(
        &router,
        &routes,
        &req("GET", "/", Some("route.org:123")),
        Some(1),
    );
    let mut grpc = req(
        "POST",
        "/hello.HelloService/SayHello",
        Some("service1.grpc.com"),
    );
    grpc.scheme = Protocol::Grpc;
    assert_route(&router, &routes, &grpc, Some(2));
}

#[test]
fn case_29_plain_host_beats_wildcard() {
    let routes = [
        route(json!({ "hosts": ["plain.route.com"] })),
        route(json!({ "hosts": ["*.route.com"] })),
        route(json!({ "hosts": ["route.*"] })),
        route(json!({ "hosts": ["route.com"] })),
    ];
    for order in [[0, 1, 2, 3], [3, 2, 1, 0]] {
        let shuffled: Vec<_> = order.iter().map(|&i| routes[i].clone()).collect();
        let router = router(&shuffled);
        assert_route(
            &router,
            &routes,
            &req("GET", "/", Some("route.com")),
            Some(3),
        );
        assert_route(
            &router,
            &routes,
            &req("GET", "/", Some("route.org")),
            Some(2),
        );
        assert_route(
            &router,
            &routes,
            &req("GET", "/", Some("plain.route.com")),
            Some(0),
        );
        assert_route(
            &router,
            &routes,
            &req("GET", "/", Some("foo.route.com")),
            Some(1),
        );
    }
}

#[test]
fn case_30_host_ports() {
    let routes = [
        route(json!({ "hosts": ["domain-1.org", "domain-2.org"] })),
        route(json!({ "hosts": ["domain-1.org:321", "domain-2.org"] })),
        route(json!({ "hosts": ["domain-3.org:321"] })),
    ];
    let router = router(&routes);
    assert_route(
        &router,
        &routes,
        &req("GET", "/", Some("domain-1.org:80")),
        Some(0),
    );
    assert_route(
        &router,
        &routes,
        &req("GET", "/", Some("domain-1.org:321")),
        Some(1),
    );
    // [trad-only] a port-less route host matches any port.
    assert_route(
        &router,
        &routes,
        &req("GET", "/", Some("domain-1.org:123")),
        Some(0),
    );
    assert_route(
        &router,
        &routes,
        &req("GET", "/", Some("domain-3.org:321")),
        Some(2),
    );
    assert_route(
        &router,
        &routes,
        &req("GET", "/", Some("domain-3.org:123")),
        None,
    );
}

fn header_routes() -> Vec<std::sync::Arc<common::model::Route>> {
    vec![
        route(json!({ "headers": { "version": ["v1", "v2"] } })),
        route(json!({ "headers": { "version": ["v3"] } })),
        route(json!({ "headers": { "version": ["v3"], "location": ["us-east"] } })),
    ]
}

#[test]
fn case_31_header_names_and_values_are_case_insensitive() {
    let routes = header_routes();
    let router = router(&routes);
    assert_route(
        &router,
        &routes,
        &req("GET", "/", None).header("version", "v1"),
        Some(0),
    );
    assert_route(
        &router,
        &routes,
        &req("GET", "/", None).header("version", "v2"),
        Some(0),
    );
    assert_route(
        &router,
        &routes,
        &req("GET", "/", None).header("Version", "V3"),
        Some(1),
    );
    assert_route(
        &router,
        &routes,
        &req("GET", "/", None).header("version", "v4"),
        None,
    );
    // Any of several header lines may match.
    let r = req("GET", "/", None)
        .header("version", "x")
        .header("version", "v2");
    assert_route(&router, &routes, &r, Some(0));
}

#[test]
fn case_32_more_matching_headers_win() {
    let routes = header_routes();
    let router = router(&routes);
    let r = req("GET", "/", None)
        .header("version", "v3")
        .header("location", "us-east");
    assert_route(&router, &routes, &r, Some(2));
    let r = req("GET", "/", None)
        .header("version", "v3")
        .header("location", "us-west");
    assert_route(&router, &routes, &r, Some(1));
}

#[test]
fn case_33_more_headers_beat_longer_path() {
    let routes = [
        route(json!({ "paths": ["/root/fixture"], "headers": { "version": ["v1"] } })),
        route(
            json!({ "paths": ["/root"], "headers": { "version": ["v1"], "location": ["east"] } }),
        ),
        route(json!({ "paths": ["/root/fixture/get"], "headers": { "version": ["v1"] } })),
    ];
    let router = router(&routes);
    let both = req("GET", "/root/fixture/get", None)
        .header("version", "v1")
        .header("location", "east");
    assert_route(&router, &routes, &both, Some(1));
    let one = req("GET", "/root/fixture/get", None).header("version", "v1");
    assert_route(&router, &routes, &one, Some(2));
    let one = req("GET", "/root/fixture/x", None).header("version", "v1");
    assert_route(&router, &routes, &one, Some(0));
}

#[test]
fn case_34_repeated_lookups_take_headers_into_account() {
    let routes = [
        route(json!({ "hosts": ["h.test"], "paths": ["/p"], "headers": { "x-req": ["yes"] } })),
        route(json!({ "hosts": ["h.test"], "paths": ["/p"] })),
    ];
    let router = router(&routes);
    for _ in 0..3 {
        let with = req("GET", "/p", Some("h.test")).header("x-req", "yes");
        assert_route(&router, &routes, &with, Some(0));
        assert_route(&router, &routes, &req("GET", "/p", Some("h.test")), Some(1));
    }
}

#[test]
fn case_35_sni_routing_over_tls() {
    let routes = [
        route(json!({ "snis": ["www.example.org"], "protocols": ["https"] })),
        route(json!({ "snis": ["example.org."], "protocols": ["https"] })),
    ];
    let router = router(&routes);
    let tls = |sni| req("GET", "/", Some("x.test")).https(Some(sni));
    assert_route(&router, &routes, &tls("www.example.org"), Some(0));
    assert_route(&router, &routes, &tls("example.org"), Some(1));
    assert_route(&router, &routes, &tls("EXAMPLE.org."), Some(1));
    assert_route(&router, &routes, &tls("other.org"), None);
    let mut grpcs = tls("www.example.org");
    grpcs.scheme = Protocol::Grpcs;
    assert_route(&router, &routes, &grpcs, Some(0));
}

#[test]
fn case_35_wildcard_snis_match_like_kongs_other_flavors() {
    // Kong's traditional router never matches a wildcard SNI (it looks SNIs up verbatim); we
    // match them as the 3.x default flavor does, which no traditional configuration relies on.
    let routes = [
        route(json!({ "snis": ["*.foo.test"], "protocols": ["https"] })),
        route(json!({ "snis": ["bar.*"], "protocols": ["https"] })),
    ];
    let router = router(&routes);
    let tls = |sni| req("GET", "/", Some("any.test")).https(Some(sni));
    assert_route(&router, &routes, &tls("a.foo.test"), Some(0));
    assert_route(&router, &routes, &tls("a.b.foo.test"), Some(0));
    assert_route(&router, &routes, &tls("bar.x"), Some(1));
    assert_route(&router, &routes, &tls("bar.y.z"), Some(1));
    assert_route(&router, &routes, &tls("bar.foo.x.y"), Some(1));
    assert_route(&router, &routes, &tls("foo.test"), None);
}

#[test]
fn case_37_named_groups_and_serviceless_routes_coexist() {
    let routes = [
        route(json!({ "paths": ["~/delay/(?<delay>[^\\/]+)$"] })),
        route(json!({ "paths": ["/foo"] })),
    ];
    let router = Router::build(vec![
        (routes[0].clone(), Some(service(json!({})))),
        (routes[1].clone(), None),
    ])
    .unwrap();
    let m = req("GET", "/delay/2", None).find(&router).unwrap();
    assert_eq!(
        m.captures,
        vec![(Some("delay".to_string()), "2".to_string())]
    );
    let m = req("GET", "/foo", None).find(&router).unwrap();
    assert!(m.service.is_none());
}

#[test]
fn case_39_strip_path_with_service_path() {
    let r = route(json!({ "paths": ["/mock_upstream"], "strip_path": true }));
    let router = Router::build(vec![(r, Some(service(json!({ "path": "/status" }))))]).unwrap();
    assert_eq!(
        upstream(&router, &req("GET", "/mock_upstream/201", None)).as_deref(),
        Some("/status/201")
    );
}

#[test]
fn case_40_no_strip_with_service_path() {
    let r = route(json!({ "paths": ["/private"], "strip_path": false }));
    let router =
        Router::build(vec![(r, Some(service(json!({ "path": "/basic-auth/" }))))]).unwrap();
    assert_eq!(
        upstream(&router, &req("GET", "/private/passwd", None)).as_deref(),
        Some("/basic-auth/private/passwd")
    );
}

#[test]
fn case_41_each_path_of_a_route_is_stripped() {
    let r = route(json!({ "paths": ["/x/y/z", "/z/y/x"], "strip_path": true }));
    let router = Router::build(vec![(r, Some(service(json!({}))))]).unwrap();
    for _ in 0..2 {
        for p in ["/x/y/z/get", "/z/y/x/get"] {
            let m = req("GET", p, None).find(&router).unwrap();
            assert_eq!(m.upstream_path, "/get");
            assert_eq!(m.stripped_prefix.as_deref(), Some(&p[..6]));
        }
    }
}

#[test]
fn case_42_regex_strip_with_and_without_groups() {
    for pattern in ["~/users/\\d+/profile", "~/users/(\\d+)/profile"] {
        let r = route(json!({ "paths": [pattern], "strip_path": true }));
        let router = Router::build(vec![(r, Some(service(json!({}))))]).unwrap();
        let m = req("GET", "/users/123/profile/hello/world", None)
            .find(&router)
            .unwrap();
        assert_eq!(m.stripped_prefix.as_deref(), Some("/users/123/profile"));
        assert_eq!(m.upstream_path, "/hello/world");
    }
}

#[test]
fn case_43_encoded_route_path_strips_to_root() {
    let r = route(json!({ "paths": ["/endel%2Fst"], "strip_path": true }));
    let router = Router::build(vec![(r.clone(), Some(service(json!({}))))]).unwrap();
    let m = req("GET", "/endel%2Fst", None).find(&router).unwrap();
    assert_eq!(m.route.id, r.id);
    assert_eq!(m.stripped_prefix.as_deref(), Some("/endel%2Fst"));
    assert_eq!(m.upstream_path, "/");
    // Without strip, the encoded slash is forwarded as it came.
    let r = route(json!({ "paths": ["/endel%2Fst"], "strip_path": false }));
    let router = Router::build(vec![(r, Some(service(json!({}))))]).unwrap();
    assert_eq!(
        upstream(&router, &req("GET", "/endel%2fst", None)).as_deref(),
        Some("/endel%2Fst")
    );
}

#[test]
fn case_45_paths_are_normalised_before_matching() {
    let routes = [
        route(json!({ "paths": ["/foo/bar"] })),
        route(json!({ "paths": ["/hello"] })),
    ];
    let router = router(&routes);
    for p in ["/foo/a/../bar", "/foo//bar", "/foo/./bar"] {
        assert_route(&router, &routes, &req("GET", p, None), Some(0));
    }
    assert_route(&router, &routes, &req("GET", "/h%65llo", None), Some(1));
}

#[test]
fn case_46_upstream_gets_the_normalised_path() {
    let strip = route(json!({ "paths": ["/hello"], "strip_path": true }));
    let no_strip = route(json!({ "paths": ["/anything"], "strip_path": false }));
    let router = router(&[strip, no_strip]);
    assert_eq!(
        upstream(&router, &req("GET", "/h%65llo/anything/a/../b", None)).as_deref(),
        Some("/anything/b")
    );
    assert_eq!(
        upstream(
            &router,
            &req("GET", "/anything/./a/../wor%6cd/a/../b", None)
        )
        .as_deref(),
        Some("/anything/world/b")
    );
}

#[test]
fn case_47_special_characters_are_reencoded() {
    let routes = [route(
        json!({ "paths": ["/anything"], "strip_path": false }),
    )];
    let router = router(&routes);
    assert_eq!(
        upstream(
            &router,
            &req("GET", "/anything/world/cat%20and%20dog", None)
        )
        .as_deref(),
        Some("/anything/world/cat%20and%20dog")
    );
}

#[test]
fn case_48_reserved_escapes_are_forwarded_as_is() {
    let routes = [
        route(json!({ "paths": ["/request"], "strip_path": false })),
        route(json!({ "paths": ["/strip"], "strip_path": true })),
    ];
    let router = router(&routes);
    for (path, expected) in [
        ("/request/foo%2Fbar", "/request/foo%2Fbar"),
        ("/request/auth%2F123", "/request/auth%2F123"),
        ("/strip/foo%2Fbar", "/foo%2Fbar"),
        ("/request", "/request"),
    ] {
        assert_eq!(
            upstream(&router, &req("GET", path, None)).as_deref(),
            Some(expected)
        );
    }
}

#[test]
fn case_50_preserve_host_keeps_the_clients_host() {
    let routes = [
        route(json!({ "hosts": ["preserved.com"], "preserve_host": true })),
        route(json!({ "paths": ["/nohost"], "preserve_host": true })),
        route(json!({ "hosts": ["discard.com"], "preserve_host": false })),
    ];
    let router = router(&routes);
    let host_of = |r: super::Req| r.find(&router).unwrap().upstream_host;
    assert_eq!(
        host_of(req("GET", "/", Some("preserved.com"))).as_deref(),
        Some("preserved.com")
    );
    assert_eq!(
        host_of(req("GET", "/", Some("preserved.com:123"))).as_deref(),
        Some("preserved.com:123")
    );
    // [trad-only] the default port stays.
    assert_eq!(
        host_of(req("GET", "/", Some("preserved.com:80"))).as_deref(),
        Some("preserved.com:80")
    );
    // The route's host list does not limit it; the client's spelling is kept.
    assert_eq!(
        host_of(req("GET", "/nohost", Some("Domain1.com"))).as_deref(),
        Some("Domain1.com")
    );
    assert_eq!(host_of(req("GET", "/", Some("discard.com"))), None);
}

#[test]
fn case_57_stripped_prefix_for_x_forwarded_prefix() {
    let routes = [
        route(json!({ "paths": ["/foo"], "strip_path": true })),
        route(json!({ "paths": ["/bar"], "strip_path": false })),
        route(json!({ "paths": ["/"], "strip_path": true })),
    ];
    let router = router(&routes);
    let prefix = |p: &str| req("GET", p, None).find(&router).unwrap().stripped_prefix;
    assert_eq!(prefix("/foo/status/200").as_deref(), Some("/foo"));
    assert_eq!(prefix("/bar/status/200"), None);
    assert_eq!(prefix("/status/200"), None);
}

#[test]
fn case_74_https_only_routes_are_matched_over_http() {
    // The router ignores `protocols`; the proxy answers 426 from the matched route. The SNI
    // route is reached over plain HTTP because a "/" route puts the request in the host+path
    // category, above it (see Kong #6425 and [PX/06-ssl:361]).
    let routes = [
        route(json!({ "protocols": ["https"], "hosts": ["example.com", "ssl1.com"] })),
        route(
            json!({ "protocols": ["https"], "hosts": ["sni.example.com"], "snis": ["sni.example.com"] }),
        ),
        route(json!({ "protocols": ["https"], "hosts": ["global.com"] })),
        route(json!({ "protocols": ["http"], "hosts": ["example-clear.com"], "paths": ["/"] })),
    ];
    let router = router(&routes);
    assert_route(
        &router,
        &routes,
        &req("GET", "/", Some("example.com")),
        Some(0),
    );
    assert_route(
        &router,
        &routes,
        &req("GET", "/", Some("sni.example.com")),
        Some(1),
    );
    // An http-only route serves https too in the traditional router.
    let tls = req("GET", "/", Some("example-clear.com")).https(Some("example-clear.com"));
    assert_route(&router, &routes, &tls, Some(3));
}

#[test]
fn case_77_grpc_routes_are_matched_for_any_request() {
    let routes = [route(
        json!({ "protocols": ["grpc"], "paths": ["/hello.HelloService/"] }),
    )];
    let router = router(&routes);
    // HTTP/1 or non-gRPC requests still find the route; the proxy answers 426/415.
    assert_route(
        &router,
        &routes,
        &req("GET", "/hello.HelloService/SayHello", Some("h")),
        Some(0),
    );
}

#[test]
fn stream_only_routes_are_left_out() {
    let routes = [
        route(json!({ "protocols": ["tcp", "tls"], "snis": ["x.test"] })),
        route(json!({ "protocols": ["tls_passthrough"], "snis": ["x.test"] })),
        route(json!({ "paths": ["/"] })),
    ];
    let router = router(&routes);
    assert_eq!(router.len(), 1);
    let tls = req("GET", "/", Some("x.test")).https(Some("x.test"));
    assert_route(&router, &routes, &tls, Some(2));
}

#[test]
fn stream_service_behind_http_route_is_dropped() {
    let r = route(json!({ "paths": ["/"] }));
    let tcp = service(json!({ "protocol": "tcp" }));
    let router = Router::build(vec![(r, Some(tcp))]).unwrap();
    assert!(
        req("GET", "/", None)
            .find(&router)
            .unwrap()
            .service
            .is_none()
    );
}
