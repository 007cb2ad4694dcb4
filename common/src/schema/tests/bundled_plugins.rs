//! The other bundled plugins: minimal configurations get Kong's defaults, and each
//! plugin's own rules reject what Kong rejects.

use serde_json::{Value, json};

use super::*;
use crate::model::EntityKind::Plugin;

fn config_of(name: &str, config: Value) -> Result<Value, String> {
    insert(Plugin, json!({"name": name, "config": config}))
        .map(|p| p["config"].clone())
        .map_err(|e| e.message())
}

#[test]
fn defaults() {
    let cases = vec![
        (
            "basic-auth",
            json!({}),
            json!({"anonymous": null, "hide_credentials": false, "realm": "service"}),
        ),
        (
            "hmac-auth",
            json!({}),
            json!({"hide_credentials": false, "clock_skew": 300, "anonymous": null,
            "validate_request_body": false, "enforce_headers": [],
            "algorithms": ["hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512"], "realm": null}),
        ),
        (
            "acl",
            json!({"allow": ["g"]}),
            json!({"allow": ["g"], "deny": null, "hide_groups_header": false,
            "always_use_authenticated_groups": false}),
        ),
        (
            "jwt",
            json!({}),
            json!({"uri_param_names": ["jwt"], "cookie_names": [], "key_claim_name": "iss",
            "secret_is_base64": false, "claims_to_verify": null, "anonymous": null, "run_on_preflight": true,
            "maximum_expiration": 0, "header_names": ["authorization"], "realm": null}),
        ),
        (
            "cors",
            json!({}),
            json!({"origins": null, "headers": null, "exposed_headers": null,
            "methods": ["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT"],
            "max_age": null, "credentials": false, "private_network": false, "preflight_continue": false,
            "allow_origin_absent": true}),
        ),
        (
            "ip-restriction",
            json!({"allow": ["10.0.0.0/8"]}),
            json!({"allow": ["10.0.0.0/8"], "deny": null, "status": null, "message": null}),
        ),
        (
            "request-size-limiting",
            json!({}),
            json!({"allowed_payload_size": 128, "size_unit": "megabytes", "require_content_length": false}),
        ),
        (
            "request-termination",
            json!({}),
            json!({"status_code": 503, "message": null, "content_type": null, "body": null, "echo": false, "trigger": null}),
        ),
        (
            "correlation-id",
            json!({}),
            json!({"header_name": "Kong-Request-ID", "generator": "uuid#counter", "echo_downstream": false}),
        ),
        // The deck "expected310" prometheus defaults.
        (
            "prometheus",
            json!({}),
            json!({"per_consumer": false, "status_code_metrics": false, "ai_metrics": false,
            "latency_metrics": false, "bandwidth_metrics": false, "upstream_health_metrics": false, "wasm_metrics": false}),
        ),
        (
            "file-log",
            json!({"path": "/tmp/x.log"}),
            json!({"path": "/tmp/x.log", "reopen": false, "custom_fields_by_lua": null}),
        ),
        (
            "request-transformer",
            json!({}),
            json!({"http_method": null,
            "remove": {"body": [], "headers": [], "querystring": []},
            "rename": {"body": [], "headers": [], "querystring": []},
            "replace": {"body": [], "headers": [], "querystring": [], "uri": null},
            "add": {"body": [], "headers": [], "querystring": []},
            "append": {"body": [], "headers": [], "querystring": []}}),
        ),
        (
            "response-transformer",
            json!({}),
            json!({
            "remove": {"json": [], "headers": []}, "rename": {"json": [], "headers": []},
            "replace": {"json": [], "json_types": [], "headers": []},
            "add": {"json": [], "json_types": [], "headers": []},
            "append": {"json": [], "json_types": [], "headers": []}}),
        ),
    ];
    for (name, config, expected) in cases {
        assert_eq!(config_of(name, config), Ok(expected), "{name}");
    }
    let http_log = config_of("http-log", json!({"http_endpoint": "http://logs.test/x"})).unwrap();
    assert_eq!(http_log["method"], json!("POST"));
    assert_eq!(http_log["queue"]["max_batch_size"], json!(1));
    assert_eq!(http_log["queue"]["initial_retry_delay"], json!(0.01));
    let cache = config_of("proxy-cache", json!({"strategy": "memory"})).unwrap();
    assert_eq!(cache["response_code"], json!([200, 301, 404]));
    assert_eq!(cache["memory"], json!({"dictionary_name": "kong_db_cache"}));
    assert_eq!(
        cache["response_headers"],
        json!({"age": true, "X-Cache-Status": true, "X-Cache-Key": true})
    );
    let ip = insert_ok(
        Plugin,
        json!({"name": "ip-restriction", "config": {"deny": ["1.2.3.4"]}}),
    );
    assert_eq!(
        ip["protocols"],
        json!(["http", "https", "tcp", "tls", "grpc", "grpcs"])
    );
}

#[test]
fn rules() {
    let cases = vec![
        (
            "acl",
            json!({}),
            "2 schema violations (exactly one of these fields must be non-empty: 'config.allow', 'config.deny'; at least one of these fields must be non-empty: 'config.allow', 'config.deny')",
        ),
        (
            "acl",
            json!({"allow": ["a"], "deny": ["b"]}),
            "schema violation (exactly one of these fields must be non-empty: 'config.allow', 'config.deny')",
        ),
        (
            "jwt",
            json!({"maximum_expiration": 10, "claims_to_verify": ["nbf"]}),
            "2 schema violations (failed conditional validation given value of field 'config.maximum_expiration'; config.claims_to_verify: expected to contain: exp)",
        ),
        (
            "jwt",
            json!({"claims_to_verify": ["iat"]}),
            "schema violation (config.claims_to_verify: {\n  \"expected one of: exp, nbf\"\n})",
        ),
        (
            "cors",
            json!({"origins": ["("]}),
            "schema violation (config.origins: {\n  \"'(' is not a valid regex\"\n})",
        ),
        (
            "cors",
            json!({"methods": ["FOO"]}),
            "schema violation (config.methods: {\n  \"expected one of: GET, HEAD, PUT, PATCH, POST, DELETE, OPTIONS, TRACE, CONNECT\"\n})",
        ),
        (
            "ip-restriction",
            json!({}),
            "schema violation (at least one of these fields must be non-empty: 'config.allow', 'config.deny')",
        ),
        (
            "ip-restriction",
            json!({"allow": ["nope"]}),
            "schema violation (config.allow: {\n  \"invalid ip or cidr range: 'nope'\"\n})",
        ),
        (
            "request-size-limiting",
            json!({"size_unit": "gigabytes"}),
            "schema violation (config.size_unit: expected one of: megabytes, kilobytes, bytes)",
        ),
        (
            "request-termination",
            json!({"status_code": 600}),
            "schema violation (config.status_code: value should be between 100 and 599)",
        ),
        (
            "request-termination",
            json!({"message": "m", "body": "b"}),
            "schema violation (config: message cannot be used with content_type or body)",
        ),
        (
            "request-termination",
            json!({"content_type": "text/plain"}),
            "schema violation (config: content_type requires a body)",
        ),
        (
            "request-termination",
            json!({"echo": true, "body": "b"}),
            "schema violation (config: echo cannot be used with content_type and body)",
        ),
        (
            "correlation-id",
            json!({"generator": "x"}),
            "schema violation (config.generator: expected one of: uuid, uuid#counter, tracker)",
        ),
        (
            "file-log",
            json!({}),
            "schema violation (config.path: required field missing)",
        ),
        (
            "file-log",
            json!({"path": "/tmp/a*b"}),
            "schema violation (config.path: not a valid filename)",
        ),
        (
            "http-log",
            json!({}),
            "schema violation (config.http_endpoint: required field missing)",
        ),
        (
            "http-log",
            json!({"http_endpoint": "logs.test"}),
            "schema violation (config.http_endpoint: missing host in url)",
        ),
        (
            "http-log",
            json!({"http_endpoint": "http://u:p@logs.test/", "headers": {"Authorization": "x"}}),
            "schema violation (config: specifying both an 'Authorization' header and user info in 'http_endpoint' is not allowed)",
        ),
        (
            "http-log",
            json!({"http_endpoint": "http://logs.test/", "headers": {"Host": "x"}}),
            "schema violation (config.headers: cannot contain 'Host' header)",
        ),
        (
            "http-log",
            json!({"http_endpoint": "http://logs.test/", "queue": {"concurrency_limit": 2}}),
            "schema violation (config.queue: {\n  concurrency_limit = \"expected one of: -1, 1\"\n})",
        ),
        (
            "proxy-cache",
            json!({}),
            "schema violation (config.strategy: required field missing)",
        ),
        (
            "proxy-cache",
            json!({"strategy": "memory", "response_code": []}),
            "schema violation (config.response_code: length must be at least 1)",
        ),
        (
            "request-transformer",
            json!({"add": {"headers": ["x"]}}),
            "schema violation (config.add: {\n  headers = {\n    \"invalid value: x\"\n  }\n})",
        ),
        (
            "request-transformer",
            json!({"add": {"body": ["k:"]}}),
            "schema violation (config.add: {\n  body = {\n    \"key 'k' has no value\"\n  }\n})",
        ),
        (
            "request-transformer",
            json!({"add": {"body": ["k:$(x"]}}),
            "schema violation (config.add: {\n  body = {\n    \"value '$(x' is not in supported format, error:unfinished template expression\"\n  }\n})",
        ),
        (
            "request-transformer",
            json!({"rename": {"headers": ["a:b c"]}}),
            "schema violation (config.rename: {\n  headers = {\n    \"'b c' is not a valid header\"\n  }\n})",
        ),
        (
            "response-transformer",
            json!({"add": {"json_types": ["object"]}}),
            "schema violation (config.add: {\n  json_types = {\n    \"expected one of: boolean, number, string\"\n  }\n})",
        ),
    ];
    for (name, config, expected) in cases {
        assert_eq!(
            config_of(name, config.clone()),
            Err(expected.to_string()),
            "{name} {config}"
        );
    }
    for (name, config) in [
        (
            "request-transformer",
            json!({"add": {"headers": ["x-a:$(headers.host)"], "body": ["k:v"]}, "http_method": "POST"}),
        ),
        (
            "response-transformer",
            json!({"add": {"json": ["a:1"], "json_types": ["number"]}}),
        ),
        (
            "cors",
            json!({"origins": ["*", "https://(.*)\\.example\\.test"]}),
        ),
        (
            "jwt",
            json!({"maximum_expiration": 10, "claims_to_verify": ["exp"]}),
        ),
    ] {
        assert!(config_of(name, config.clone()).is_ok(), "{name} {config}");
    }
}

#[test]
fn every_bundled_plugin_is_registered_with_its_priority() {
    let expected = [
        ("acl", 950),
        ("basic-auth", 1100),
        ("correlation-id", 100001),
        ("cors", 2000),
        ("file-log", 9),
        ("hmac-auth", 1030),
        ("http-log", 12),
        ("ip-restriction", 990),
        ("jwt", 1450),
        ("key-auth", 1250),
        ("mtls-auth", 1600),
        ("prometheus", 13),
        ("proxy-cache", 100),
        ("rate-limiting", 910),
        ("request-size-limiting", 951),
        ("request-termination", 2),
        ("request-transformer", 801),
        ("response-transformer", 800),
    ];
    let names: Vec<(&str, i32)> = catalog().plugins().map(|p| (p.name, p.priority)).collect();
    assert_eq!(names, expected);
}
