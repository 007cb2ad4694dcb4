//! Plugins with small configurations: request-size-limiting (PRIORITY 951),
//! request-termination (2), correlation-id (100001), prometheus (13).

use serde_json::Value;

use super::PluginDef;
use crate::schema::field::Field;
use crate::schema::record::Schema;
use crate::schema::typedefs as t;

pub(super) fn request_size_limiting() -> PluginDef {
    let config = Schema::record(vec![
        ("allowed_payload_size", Field::integer().default(128)),
        (
            "size_unit",
            Field::string().required().default("megabytes").one_of(&[
                "megabytes",
                "kilobytes",
                "bytes",
            ]),
        ),
        (
            "require_content_length",
            Field::boolean().required().default(false),
        ),
    ]);
    PluginDef::new(
        "request-size-limiting",
        951,
        Schema::new("request-size-limiting")
            .field("protocols", t::protocols_http())
            .field("config", Field::record(config)),
    )
}

fn is_present(config: &Value, key: &str) -> bool {
    config
        .get(key)
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
}

fn validate_termination(config: &Value) -> Result<(), String> {
    let (message, content_type, body) = (
        is_present(config, "message"),
        is_present(config, "content_type"),
        is_present(config, "body"),
    );
    if message && (content_type || body) {
        return Err("message cannot be used with content_type or body".to_string());
    }
    if content_type && !body {
        return Err("content_type requires a body".to_string());
    }
    if config.get("echo") == Some(&Value::Bool(true)) && (content_type || body) {
        return Err("echo cannot be used with content_type and body".to_string());
    }
    Ok(())
}

pub(super) fn request_termination() -> PluginDef {
    let config = Schema::record(vec![
        (
            "status_code",
            Field::integer().required().default(503).between(100, 599),
        ),
        ("message", Field::string()),
        ("content_type", Field::string()),
        ("body", Field::string()),
        ("echo", Field::boolean().required().default(false)),
        ("trigger", t::header_name()),
    ]);
    PluginDef::new(
        "request-termination",
        2,
        Schema::new("request-termination")
            .field("protocols", t::protocols_http())
            .field("config", Field::record(config).custom(validate_termination)),
    )
}

pub(super) fn correlation_id() -> PluginDef {
    let config = Schema::record(vec![
        ("header_name", Field::string().default("Kong-Request-ID")),
        (
            "generator",
            Field::string().default("uuid#counter").required().one_of(&[
                "uuid",
                "uuid#counter",
                "tracker",
            ]),
        ),
        (
            "echo_downstream",
            Field::boolean().required().default(false),
        ),
    ]);
    PluginDef::new(
        "correlation-id",
        100_001,
        Schema::new("correlation-id")
            .field("protocols", t::protocols_http())
            .field("config", Field::record(config)),
    )
}

pub(super) fn prometheus() -> PluginDef {
    let flag = || Field::boolean().default(false);
    let config = Schema::record(vec![
        ("per_consumer", flag()),
        ("status_code_metrics", flag()),
        ("ai_metrics", flag()),
        ("latency_metrics", flag()),
        ("bandwidth_metrics", flag()),
        ("upstream_health_metrics", flag()),
        ("wasm_metrics", flag()),
    ]);
    PluginDef::new(
        "prometheus",
        13,
        Schema::new("prometheus")
            .field("protocols", t::protocols())
            .field("config", Field::record(config)),
    )
}
