use serde_json::json;

use super::*;
use crate::model::EntityKind::{Plugin, Route, Service, Upstream};

#[test]
fn coercion_by_schema() {
    let cases = vec![
        // #36 form body: protocols[1]=http&hosts[1]=...&headers.location[1]=...&service.id=...
        (
            Route,
            json!({"protocols": {"1": "http"}, "hosts": {"1": "my.route.test"}, "headers": {"location": {"1": "my-location"}},
                "service": {"id": "x"}, "regex_priority": "5", "strip_path": "false", "paths": "/one"}),
            json!({"protocols": ["http"], "hosts": ["my.route.test"], "headers": {"location": ["my-location"]},
                "service": {"id": "x"}, "regex_priority": 5, "strip_path": false, "paths": ["/one"]}),
        ),
        (
            Route,
            json!({"paths": {"2": "/b", "1": "/a"}, "methods": ["GET", "POST"]}),
            json!({"paths": ["/a", "/b"], "methods": ["GET", "POST"]}),
        ),
        (
            Route,
            json!({"sources": {"1": {"ip": "1.2.3.4", "port": "80"}}}),
            json!({"sources": [{"ip": "1.2.3.4", "port": 80}]}),
        ),
        (
            Service,
            json!({"host": "a.test", "port": "8080", "name": "", "retries": "foobar", "url": ""}),
            json!({"host": "a.test", "port": 8080, "name": null, "retries": "foobar", "url": null}),
        ),
        (
            Service,
            json!({"connect_timeout": " 0x10 ", "enabled": "yes", "unknown": ""}),
            json!({"connect_timeout": 16, "enabled": "yes", "unknown": ""}),
        ),
        // #29: name=key-auth&config.key_names[1]=apikey&config.key_names[2]=key
        (
            Plugin,
            json!({"name": "key-auth", "config": {"key_names": {"1": "apikey", "2": "key"}, "hide_credentials": "true"}}),
            json!({"name": "key-auth", "config": {"key_names": ["apikey", "key"], "hide_credentials": true}}),
        ),
        (
            Plugin,
            json!({"name": "rate-limiting", "config": {"minute": "1.5", "redis_port": "6379", "redis": {"port": "1"}}}),
            json!({"name": "rate-limiting", "config": {"minute": 1.5, "redis_port": 6379, "redis": {"port": 1}}}),
        ),
        (
            Upstream,
            json!({"name": "u", "healthchecks": {"active": {"healthy": {"http_statuses": {"1": "200"}, "interval": "5"}}}}),
            json!({"name": "u", "healthchecks": {"active": {"healthy": {"http_statuses": [200], "interval": 5}}}}),
        ),
    ];
    for (kind, input, expected) in cases {
        assert_eq!(
            catalog().coerce_form(kind, input.clone()),
            expected,
            "{input}"
        );
    }
}

#[test]
fn unconvertible_values_fail_validation_with_the_usual_message() {
    let tree = catalog().coerce_form(Route, json!({"paths": "/", "regex_priority": "foobar"}));
    let e = catalog().insert(Route, obj(tree)).unwrap_err();
    assert_eq!(
        e.message(),
        "schema violation (regex_priority: expected an integer)"
    );
}

#[test]
fn field_types_for_the_tokenizer() {
    let c = catalog();
    assert_eq!(c.field_type_at(Route, "paths", None), Some("array"));
    assert_eq!(c.field_type_at(Route, "headers", None), Some("map"));
    assert_eq!(
        c.field_type_at(Plugin, "config.key_names", Some("key-auth")),
        Some("array")
    );
    assert_eq!(c.field_type_at(Plugin, "config.key_names", None), None);
    assert_eq!(c.field_type_at(Service, "nope", None), None);
}
