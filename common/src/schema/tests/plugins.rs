use serde_json::json;

use super::*;
use crate::model::EntityKind::Plugin;

const SID: &str = "11111111-2222-4333-8444-555555555555";

#[test]
fn key_auth_defaults() {
    let p = insert_ok(Plugin, json!({"name": "key-auth", "service": {"id": SID}}));
    assert_eq!(
        p["config"],
        json!({"key_names": ["apikey"], "hide_credentials": false, "anonymous": null,
               "key_in_header": true, "key_in_query": true, "key_in_body": false,
               "run_on_preflight": true, "realm": null})
    );
    assert_eq!(p["protocols"], json!(["grpc", "grpcs", "http", "https"]));
    assert_eq!(p["enabled"], json!(true));
    assert_eq!((&p["route"], &p["consumer"]), (&json!(null), &json!(null)));
    assert_eq!(p["service"], json!({"id": SID}));
    assert_eq!(p["instance_name"], json!(null));
}

#[test]
fn plugin_errors() {
    let cases = vec![
        // #30
        (
            json!({}),
            json!({"name": "required field missing"}),
            "schema violation (name: required field missing)",
        ),
        // #78
        (
            json!({"name": "foo"}),
            json!({"name": "plugin 'foo' not enabled; add it to the 'plugins' configuration property"}),
            "schema violation (name: plugin 'foo' not enabled; add it to the 'plugins' configuration property)",
        ),
        // #82
        (
            json!({"name": "key-auth", "config": "bar"}),
            json!({"config": "expected a record"}),
            "schema violation (config: expected a record)",
        ),
        // #11
        (
            json!({"name": "key-auth", "config": {"keys": "foo"}}),
            json!({"config": {"keys": "unknown field"}}),
            "schema violation (config.keys: unknown field)",
        ),
        (
            json!({"name": "key-auth", "consumer": {"id": SID}}),
            json!({"consumer": "value must be null"}),
            "schema violation (consumer: value must be null)",
        ),
        (
            json!({"name": "key-auth", "protocols": ["tcp"]}),
            json!({"protocols": ["expected one of: grpc, grpcs, http, https"]}),
            "schema violation (protocols.1: expected one of: grpc, grpcs, http, https)",
        ),
        (
            json!({"name": "key-auth", "config": {"key_names": ["a b"]}}),
            json!({"config": {"key_names": ["bad header name 'a b', allowed characters are A-Z, a-z, 0-9, '_', and '-'"]}}),
            "schema violation (config.key_names: {\n  \"bad header name 'a b', allowed characters are A-Z, a-z, 0-9, '_', and '-'\"\n})",
        ),
        (
            json!({"name": "key-auth", "instance_name": "a/b"}),
            json!({"instance_name": "invalid value 'a/b': the only accepted ascii characters are alphanumerics or ., -, _, and ~"}),
            "schema violation (instance_name: invalid value 'a/b': the only accepted ascii characters are alphanumerics or ., -, _, and ~)",
        ),
    ];
    for (input, expected_fields, expected_message) in cases {
        let e = insert_err(Plugin, input.clone());
        assert_eq!(fields(&e), expected_fields, "{input}");
        assert_eq!(e.message(), expected_message, "{input}");
    }
}

#[test]
fn patch_merges_config_and_rejects_unknown_fields() {
    // #77, #32, #33, #83
    let p = insert_ok(
        Plugin,
        json!({"name": "key-auth", "service": {"id": SID}, "config": {"hide_credentials": true}}),
    );
    let p2 = update(Plugin, json!({"config": {"key_names": ["k"]}}), &p).unwrap();
    assert_eq!(p2["config"]["key_names"], json!(["k"]));
    assert_eq!(p2["config"]["hide_credentials"], json!(true));
    let e = update(Plugin, json!({"foo": "bar"}), &p2).unwrap_err();
    assert_eq!(
        e.to_json(),
        json!({"code": 2, "name": "schema violation",
        "message": "schema violation (foo: unknown field)", "fields": {"foo": "unknown field"}})
    );
    let p3 = update(Plugin, json!({"service": null, "tags": null}), &p2).unwrap();
    assert_eq!(p3["service"], json!(null));
    let e = update(Plugin, json!({"name": "foo"}), &p2).unwrap_err();
    assert_eq!(
        fields(&e)["name"],
        json!("plugin 'foo' not enabled; add it to the 'plugins' configuration property")
    );
}

#[test]
fn rate_limiting_rules() {
    let ok = insert_ok(
        Plugin,
        json!({"name": "rate-limiting", "config": {"minute": 10}}),
    );
    assert_eq!(ok["config"]["policy"], json!("local"));
    assert_eq!(ok["config"]["limit_by"], json!("consumer"));
    assert_eq!(ok["config"]["sync_rate"], json!(-1));
    assert_eq!(ok["config"]["redis"]["port"], json!(6379));
    assert_eq!(ok["config"]["redis"]["timeout"], json!(2000));
    assert_eq!(ok["config"]["redis"]["host"], json!(null));
    assert_eq!(ok["config"]["second"], json!(null));
    assert_eq!(ok["protocols"], json!(["grpc", "grpcs", "http", "https"]));
    // With redis: -1 (every request in Redis) or at least 0.02 s between syncs.
    for sync_rate in [json!(-1), json!(0.02), json!(0.1), json!(10)] {
        let ok = insert_ok(
            Plugin,
            json!({"name": "rate-limiting", "config": {"minute": 10, "policy": "redis",
                "redis": {"host": "r.test"}, "sync_rate": sync_rate}}),
        );
        assert_eq!(ok["config"]["sync_rate"], sync_rate);
    }

    let cases = vec![
        (
            json!({}),
            "schema violation (at least one of these fields must be non-empty: 'config.second', 'config.minute', 'config.hour', 'config.day', 'config.month', 'config.year')",
        ),
        (
            json!({"second": 10, "minute": 5}),
            "schema violation (config: The limit for minute(5.0) cannot be lower than the limit for second(10.0))",
        ),
        (
            json!({"second": 0}),
            "schema violation (config.second: value must be greater than 0)",
        ),
        (
            json!({"minute": 1, "policy": "cluster"}),
            "schema violation (config.policy: expected one of: local, redis)",
        ),
        (
            json!({"minute": 1, "policy": "redis"}),
            "2 schema violations (failed conditional validation given value of field 'config.policy'; config.redis: {\n  host = \"required field missing\"\n})",
        ),
        (
            json!({"minute": 1, "limit_by": "header"}),
            "2 schema violations (failed conditional validation given value of field 'config.limit_by'; config.header_name: required field missing)",
        ),
        (
            json!({"minute": 1, "sync_rate": 10}),
            "schema violation (config: sync_rate can only be used with the redis policy)",
        ),
        (
            json!({"minute": 1, "sync_rate": 0}),
            "schema violation (config: sync_rate can only be used with the redis policy)",
        ),
        (
            json!({"minute": 1, "policy": "redis", "redis": {"host": "r.test"}, "sync_rate": 0}),
            "schema violation (config: sync_rate must be greater than 0.02, or -1 to disable)",
        ),
        (
            json!({"minute": 1, "policy": "redis", "redis": {"host": "r.test"}, "sync_rate": 0.01}),
            "schema violation (config: sync_rate must be greater than 0.02, or -1 to disable)",
        ),
        (
            json!({"minute": 1, "policy": "redis", "redis": {"host": "r.test"}, "sync_rate": -2}),
            "schema violation (config: sync_rate must be greater than 0.02, or -1 to disable)",
        ),
    ];
    for (config, expected) in cases {
        let e = insert_err(
            Plugin,
            json!({"name": "rate-limiting", "config": config.clone()}),
        );
        assert_eq!(e.message(), expected, "{config}");
    }
}

#[test]
fn rate_limiting_deprecated_redis_fields() {
    let p = insert_ok(
        Plugin,
        json!({"name": "rate-limiting", "config": {"minute": 1, "policy": "redis", "redis_host": "r.test", "redis_port": 6380}}),
    );
    assert_eq!(p["config"]["redis"]["host"], json!("r.test"));
    assert_eq!(p["config"]["redis"]["port"], json!(6380));
    assert!(p["config"].get("redis_host").is_none());
    // The real field wins over the deprecated one.
    let p = insert_ok(
        Plugin,
        json!({"name": "rate-limiting", "config": {"minute": 1, "redis": {"host": "new.test"}, "redis_host": "old.test"}}),
    );
    assert_eq!(p["config"]["redis"]["host"], json!("new.test"));
}

#[test]
fn registry_has_priorities_and_versions() {
    let key_auth = catalog().plugin("key-auth").unwrap();
    assert_eq!((key_auth.priority, key_auth.version), (1250, "3.10.0"));
    assert_eq!(catalog().plugin("rate-limiting").unwrap().priority, 910);
    assert!(catalog().plugin("nope").is_none());
}
