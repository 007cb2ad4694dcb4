use serde_json::{Value, json};

use super::*;
use crate::model::EntityKind::Route;

const SID: &str = "11111111-2222-4333-8444-555555555555";
const PROTOCOLS_ERR: &str =
    "expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp";

#[test]
fn insert_defaults() {
    // #36, #38
    let r = insert_ok(
        Route,
        json!({"protocols": ["http"], "hosts": ["my.route.test"],
               "headers": {"location": ["my-location"]}, "service": {"id": SID}}),
    );
    assert_eq!(r["hosts"], json!(["my.route.test"]));
    assert_eq!(r["headers"], json!({"location": ["my-location"]}));
    for (field, expected) in [
        ("regex_priority", json!(0)),
        ("name", json!(null)),
        ("paths", json!(null)),
        ("preserve_host", json!(false)),
        ("strip_path", json!(true)),
        ("https_redirect_status_code", json!(426)),
        ("path_handling", json!("v0")),
        ("request_buffering", json!(true)),
        ("response_buffering", json!(true)),
        ("service", json!({"id": SID})),
    ] {
        assert_eq!(r[field], expected, "{field}");
    }
    let r = insert_ok(Route, json!({"paths": ["/"]}));
    assert_eq!(r["service"], json!(null));
    assert_eq!(r["protocols"], json!(["http", "https"]));
}

#[test]
fn grpc_routes_default_to_not_stripping() {
    // #37
    let r = insert_ok(
        Route,
        json!({"protocols": ["grpc", "grpcs"], "hosts": ["g.test"]}),
    );
    assert_eq!(r["strip_path"], json!(false));
}

#[test]
fn protocols_are_a_set() {
    let r = insert_ok(
        Route,
        json!({"protocols": ["http", "http"], "paths": ["/"]}),
    );
    assert_eq!(r["protocols"], json!(["http"]));
}

fn messages() -> Vec<(Value, &'static str)> {
    vec![
        // #40
        (
            json!({}),
            "schema violation (must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https')",
        ),
        (
            json!({"protocols": ["http"]}),
            "schema violation (must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http')",
        ),
        // #41
        (
            json!({"methods": ["GET"], "protocols": ["foo", "http"]}),
            "schema violation (protocols.1: expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp)",
        ),
        (
            json!({"methods": ["GET"], "protocols": ["foo"]}),
            "schema violation (protocols: unknown type: foo)",
        ),
        // #44
        (
            json!({"methods": ["GET"], "service": {"protocol": "http"}}),
            "schema violation (service.id: missing primary key)",
        ),
        (
            json!({"methods": ["GET"], "service": "x"}),
            "schema violation (service.id: missing primary key)",
        ),
        // #45
        (
            json!({"protocols": ["grpc", "grpcs"]}),
            "schema violation (must set one of 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'grpcs')",
        ),
        (
            json!({"protocols": ["grpc"]}),
            "schema violation (must set one of 'hosts', 'headers', 'paths' when 'protocols' is 'grpc')",
        ),
        (
            json!({"protocols": ["grpc"], "paths": ["/"], "strip_path": true}),
            "schema violation (strip_path: cannot set 'strip_path' when 'protocols' is 'grpc' or 'grpcs')",
        ),
        (
            json!({"protocols": ["grpc"], "paths": ["/"], "methods": ["GET"]}),
            "schema violation (methods: cannot set 'methods' when 'protocols' is 'grpc' or 'grpcs')",
        ),
        // #51
        (
            json!({"paths": ["/"], "regex_priority": "foobar"}),
            "schema violation (regex_priority: expected an integer)",
        ),
        (
            json!({"paths": ["/"], "https_redirect_status_code": 300}),
            "schema violation (https_redirect_status_code: expected one of: 426, 301, 302, 307, 308)",
        ),
        (
            json!({"paths": ["/"], "path_handling": "v2"}),
            "schema violation (path_handling: expected one of: v0, v1)",
        ),
        (
            json!({"paths": ["foo"]}),
            "schema violation (paths.1: should start with: / (fixed path) or ~/ (regex path))",
        ),
        (
            json!({"paths": ["/a", "/b//c"]}),
            "schema violation (paths.2: must not have empty segments)",
        ),
        (
            json!({"paths": ["/a/../b"]}),
            "schema violation (paths.1: non-normalized path, consider use '/b' instead)",
        ),
        (
            json!({"paths": ["/a%zz"]}),
            "schema violation (paths.1: invalid url-encoded value: '%zz')",
        ),
        (
            json!({"methods": ["get"]}),
            "schema violation (methods.1: invalid value: get)",
        ),
        (
            json!({"hosts": ["*.a.*"]}),
            "schema violation (hosts.1: invalid wildcard: must have at most one wildcard)",
        ),
        (
            json!({"hosts": ["a.*.b"]}),
            "schema violation (hosts.1: invalid wildcard: must be placed at leftmost or rightmost label)",
        ),
        (
            json!({"hosts": ["a b"]}),
            "schema violation (hosts.1: invalid hostname: a b)",
        ),
        (
            json!({"headers": {"Host": ["x"]}}),
            "schema violation (headers: cannot contain 'host' header, which must be specified in the 'hosts' attribute)",
        ),
        (
            json!({"headers": {"x-a": "b"}}),
            "schema violation (headers: expected an array)",
        ),
        (
            json!({"protocols": ["http"], "hosts": ["a.test"], "snis": ["a.test"]}),
            "2 schema violations ('snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or 'tls_passthrough'; snis: length must be 0)",
        ),
        (
            json!({"protocols": ["http", "tcp"], "paths": ["/"]}),
            "schema violation (protocols: these sets are mutually exclusive: ('http', 'https'), ('tcp', 'tls', 'udp'))",
        ),
        (
            json!({"protocols": ["tcp"]}),
            "schema violation (must set one of 'sources', 'destinations', 'snis' when 'protocols' is 'tcp', 'tls' or 'udp')",
        ),
        (
            json!({"protocols": ["tls_passthrough"]}),
            "schema violation (must set snis when 'protocols' is 'tls_passthrough')",
        ),
        (
            json!({"protocols": ["tcp"], "sources": [{"ip": "10.0.0.0/8"}], "paths": ["/"]}),
            "schema violation (paths: cannot set 'paths' when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp')",
        ),
        (
            json!({"protocols": ["tcp"], "sources": [{}]}),
            "schema violation (sources.1: {\n  [\"@entity\"] = {\n    \"at least one of these fields must be non-empty: 'ip', 'port'\"\n  }\n})",
        ),
        (
            json!({"protocols": ["tcp"], "destinations": [{"ip": "x"}]}),
            "schema violation (destinations.1: {\n  ip = \"invalid ip or cidr range: 'x'\"\n})",
        ),
        (
            json!({"paths": ["/"], "sources": [{"ip": "10.0.0.1"}]}),
            "schema violation (sources: cannot set 'sources' when 'protocols' is 'http' or 'https')",
        ),
        (
            json!({"paths": ["~/a("]}),
            "schema violation (paths.1: invalid regex: '/a(' (PCRE returned: unclosed group))",
        ),
    ]
}

#[test]
fn schema_violation_messages() {
    for (input, expected) in messages() {
        let e = insert_err(Route, input.clone());
        assert_eq!(e.message(), expected, "{input}");
    }
}

#[test]
fn error_fields_shapes() {
    // #40: entity errors are an array under "@entity"
    assert_eq!(
        fields(&insert_err(Route, json!({}))),
        json!({"@entity": ["must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https'"]})
    );
    // #41: array element errors are arrays
    assert_eq!(
        fields(&insert_err(
            Route,
            json!({"methods": ["GET"], "protocols": ["foo", "http"]})
        )),
        json!({"protocols": [PROTOCOLS_ERR]})
    );
    // #42: nested errors of a foreign reference
    let e = insert_err(
        Route,
        json!({"methods": ["GET"], "protocols": ["foo", "http"], "service": {"protocol": "foo"}}),
    );
    assert_eq!(
        e.message(),
        format!(
            "2 schema violations (protocols.1: {PROTOCOLS_ERR}; service.protocol: {PROTOCOLS_ERR})"
        )
    );
    assert_eq!(fields(&e)["service"], json!({"protocol": PROTOCOLS_ERR}));
    // #44
    assert_eq!(
        fields(&insert_err(
            Route,
            json!({"methods": ["GET"], "service": {"protocol": "http"}})
        )),
        json!({"service": {"id": "missing primary key"}})
    );
}

#[test]
fn accepted_routes() {
    for input in [
        json!({"paths": ["~/foo/\\d{3}$", "/echo/"]}),
        json!({"paths": ["/a b"]}),
        json!({"hosts": ["*.example.test", "example.*", "example.test:8080"]}),
        json!({"protocols": ["https"], "snis": ["*.example.test"]}),
        json!({"protocols": ["tls"], "snis": ["example.test"]}),
        json!({"protocols": ["tcp"], "destinations": [{"ip": "10.0.0.1", "port": 80}]}),
        json!({"protocols": ["udp"], "sources": [{"port": 53}]}),
        json!({"protocols": ["tls_passthrough"], "snis": ["example.test"]}),
        json!({"protocols": ["grpcs"], "snis": ["example.test"]}),
        json!({"headers": {"x-version": ["v1", "v2"]}}),
        json!({"methods": ["GET", "POST"], "regex_priority": -5, "path_handling": "v1"}),
        json!({"paths": ["/"], "name": "円-route_1.x~"}),
    ] {
        if let Err(e) = insert(Route, input.clone()) {
            panic!("{input}: {}", e.message());
        }
    }
}

#[test]
fn patch_semantics() {
    // #52, #53, #54
    let r = insert_ok(
        Route,
        json!({"methods": ["GET"], "hosts": ["a.test"], "service": {"id": SID}}),
    );
    let r2 = update(
        Route,
        json!({"methods": null, "hosts": null, "paths": ["/updated-paths"]}),
        &r,
    )
    .unwrap();
    assert_eq!((&r2["methods"], &r2["hosts"]), (&json!(null), &json!(null)));
    let r3 = update(
        Route,
        json!({"methods": [], "paths": [], "hosts": ["x"]}),
        &r2,
    )
    .unwrap();
    assert_eq!((&r3["methods"], &r3["paths"]), (&json!([]), &json!([])));
    let r4 = update(Route, json!({"service": null}), &r3).unwrap();
    assert_eq!(r4["service"], json!(null));
    assert!(r4["updated_at"].as_i64() >= r["updated_at"].as_i64());
    // Clearing every matching field is refused when validating the merged route.
    let e = update(
        Route,
        json!({"hosts": null, "paths": null, "methods": null}),
        &r4,
    )
    .unwrap_err();
    assert_eq!(
        e.message(),
        "schema violation (must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https')"
    );
}
