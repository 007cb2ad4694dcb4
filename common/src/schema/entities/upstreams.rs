//! `upstreams` (Kong `kong/db/schema/entities/upstreams.lua`): balancing settings and the
//! full health-check record with Kong's defaults.

use serde_json::{Map, Value, json};

use crate::schema::field::Field;
use crate::schema::net::{HostKind, normalize_ip};
use crate::schema::record::{EntityCheck, Match, Schema, Shorthand};
use crate::schema::typedefs as t;

const HASH_ON: &[&str] = &[
    "none",
    "consumer",
    "ip",
    "header",
    "cookie",
    "path",
    "query_arg",
    "uri_capture",
];

fn hash_on() -> Field {
    Field::string().default("none").one_of(HASH_ON)
}

fn validate_name(value: &Value) -> Result<(), String> {
    let name = value.as_str().unwrap_or_default();
    let shown = format!("Invalid name ('{name}')");
    match normalize_ip(name) {
        Err(_) => Err(format!("{shown}; must be a valid hostname")),
        Ok(h) if h.kind != HostKind::Name => Err(format!("{shown}; no ip addresses allowed")),
        Ok(h) if h.port.is_some() => Err(format!("{shown}; no port allowed")),
        Ok(_) => Ok(()),
    }
}

fn http_statuses(default: &[u16]) -> Field {
    Field::array(Field::integer().between(100, 999)).default(default)
}
fn seconds(default: u32) -> Field {
    Field::number().between(0, 65535).default(default)
}
fn one_byte(default: u32) -> Field {
    Field::integer().between(0, 255).default(default)
}
fn check_type() -> Field {
    Field::string()
        .one_of(&["tcp", "http", "https", "grpc", "grpcs"])
        .default("http")
}

/// Kong's healthcheck defaults (`healthchecks_config` in upstreams.lua).
pub fn healthchecks_default() -> Value {
    json!({
        "active": {
            "type": "http",
            "timeout": 1,
            "concurrency": 10,
            "http_path": "/",
            "https_verify_certificate": true,
            "healthy": {"interval": 0, "http_statuses": [200, 302], "successes": 0},
            "unhealthy": {
                "interval": 0,
                "http_statuses": [429, 404, 500, 501, 502, 503, 504, 505],
                "tcp_failures": 0, "timeouts": 0, "http_failures": 0
            }
        },
        "passive": {
            "type": "http",
            "healthy": {
                "http_statuses": [200, 201, 202, 203, 204, 205, 206, 207, 208, 226,
                                  300, 301, 302, 303, 304, 305, 306, 307, 308],
                "successes": 0
            },
            "unhealthy": {
                "http_statuses": [429, 500, 503],
                "tcp_failures": 0, "timeouts": 0, "http_failures": 0
            }
        },
        "threshold": 0
    })
}

fn record_with_default(schema: Schema, default: &Value) -> Field {
    Field::record(schema).default(default.clone())
}

fn healthchecks() -> Field {
    let defaults = healthchecks_default();
    let active = Schema::record(vec![
        ("type", check_type()),
        ("timeout", seconds(1)),
        (
            "concurrency",
            Field::integer().between(1, 2_147_483_648_u32).default(10),
        ),
        ("http_path", t::path().default("/")),
        ("https_sni", t::sni().optional()),
        (
            "https_verify_certificate",
            Field::boolean().required().default(true),
        ),
        ("headers", t::headers().optional()),
        (
            "healthy",
            record_with_default(
                Schema::record(vec![
                    ("interval", seconds(0)),
                    ("http_statuses", http_statuses(&[200, 302])),
                    ("successes", one_byte(0)),
                ]),
                &defaults["active"]["healthy"],
            ),
        ),
        (
            "unhealthy",
            record_with_default(
                Schema::record(vec![
                    ("interval", seconds(0)),
                    (
                        "http_statuses",
                        http_statuses(&[429, 404, 500, 501, 502, 503, 504, 505]),
                    ),
                    ("tcp_failures", one_byte(0)),
                    ("timeouts", one_byte(0)),
                    ("http_failures", one_byte(0)),
                ]),
                &defaults["active"]["unhealthy"],
            ),
        ),
    ]);
    let passive = Schema::record(vec![
        ("type", check_type()),
        (
            "healthy",
            record_with_default(
                Schema::record(vec![
                    (
                        "http_statuses",
                        http_statuses(&[
                            200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303,
                            304, 305, 306, 307, 308,
                        ]),
                    ),
                    ("successes", one_byte(0)),
                ]),
                &defaults["passive"]["healthy"],
            ),
        ),
        (
            "unhealthy",
            record_with_default(
                Schema::record(vec![
                    ("http_statuses", http_statuses(&[429, 500, 503])),
                    ("tcp_failures", one_byte(0)),
                    ("timeouts", one_byte(0)),
                    ("http_failures", one_byte(0)),
                ]),
                &defaults["passive"]["unhealthy"],
            ),
        ),
    ]);
    let record = Schema::record(vec![
        ("active", record_with_default(active, &defaults["active"])),
        (
            "passive",
            record_with_default(passive, &defaults["passive"]),
        ),
        ("threshold", Field::number().default(0).between(0, 100)),
    ]);
    record_with_default(record, &defaults)
}

fn simple_param() -> Field {
    Field::string().len_min(1)
}

fn hash_conditional(
    if_field: &'static str,
    pattern: &'static str,
    then_field: &'static str,
    then_match: Match,
) -> EntityCheck {
    EntityCheck::conditional(
        if_field,
        Match::new().matches(pattern),
        then_field,
        then_match,
    )
}

pub(crate) fn schema() -> Schema {
    Schema::new("upstreams")
        .field("id", t::uuid())
        .field("created_at", t::auto_timestamp_s())
        .field(
            "name",
            Field::string().required().unique().custom(validate_name),
        )
        .field("updated_at", t::auto_timestamp_s())
        .field(
            "algorithm",
            Field::string().default("round-robin").one_of(&[
                "consistent-hashing",
                "least-connections",
                "round-robin",
                "latency",
            ]),
        )
        .field("hash_on", hash_on())
        .field("hash_fallback", hash_on())
        .field("hash_on_header", t::header_name())
        .field("hash_fallback_header", t::header_name())
        .field("hash_on_cookie", t::cookie_name())
        .field("hash_on_cookie_path", t::path().default("/"))
        .field("hash_on_query_arg", simple_param())
        .field("hash_fallback_query_arg", simple_param())
        .field("hash_on_uri_capture", simple_param())
        .field("hash_fallback_uri_capture", simple_param())
        .field("slots", Field::integer().default(10000).between(10, 65536))
        .field("healthchecks", healthchecks())
        .field("tags", t::tags())
        .field("host_header", t::host_with_optional_port())
        .field("client_certificate", Field::foreign("certificates"))
        .field("use_srv_name", Field::boolean().default(false))
        .check(hash_conditional(
            "hash_on",
            "^header$",
            "hash_on_header",
            Match::new().required(),
        ))
        .check(hash_conditional(
            "hash_fallback",
            "^header$",
            "hash_fallback_header",
            Match::new().required(),
        ))
        .check(hash_conditional(
            "hash_on",
            "^cookie$",
            "hash_on_cookie",
            Match::new().required(),
        ))
        .check(hash_conditional(
            "hash_fallback",
            "^cookie$",
            "hash_on_cookie",
            Match::new().required(),
        ))
        .check(hash_conditional(
            "hash_on",
            "^none$",
            "hash_fallback",
            Match::new().one_of(&["none"]),
        ))
        .check(hash_conditional(
            "hash_on",
            "^cookie$",
            "hash_fallback",
            Match::new().one_of(&["none"]),
        ))
        .check(hash_conditional(
            "hash_on",
            "^consumer$",
            "hash_fallback",
            Match::new().one_of(&[
                "none",
                "ip",
                "header",
                "cookie",
                "path",
                "query_arg",
                "uri_capture",
            ]),
        ))
        .check(hash_conditional(
            "hash_on",
            "^ip$",
            "hash_fallback",
            Match::new().one_of(&[
                "none",
                "consumer",
                "header",
                "cookie",
                "path",
                "query_arg",
                "uri_capture",
            ]),
        ))
        .check(hash_conditional(
            "hash_on",
            "^path$",
            "hash_fallback",
            Match::new().one_of(&[
                "none",
                "consumer",
                "header",
                "cookie",
                "query_arg",
                "ip",
                "uri_capture",
            ]),
        ))
        .check(EntityCheck::distinct(&[
            "hash_on_header",
            "hash_fallback_header",
        ]))
        .check(hash_conditional(
            "hash_on",
            "^query_arg$",
            "hash_on_query_arg",
            Match::new().required(),
        ))
        .check(hash_conditional(
            "hash_fallback",
            "^query_arg$",
            "hash_fallback_query_arg",
            Match::new().required(),
        ))
        .check(EntityCheck::distinct(&[
            "hash_on_query_arg",
            "hash_fallback_query_arg",
        ]))
        .check(hash_conditional(
            "hash_on",
            "^uri_capture$",
            "hash_on_uri_capture",
            Match::new().required(),
        ))
        .check(hash_conditional(
            "hash_fallback",
            "^uri_capture$",
            "hash_fallback_uri_capture",
            Match::new().required(),
        ))
        .check(EntityCheck::distinct(&[
            "hash_on_uri_capture",
            "hash_fallback_uri_capture",
        ]))
        .shorthand(Shorthand {
            name: "algorithm",
            field: Field::string(),
            expand: expand_algorithm,
            deprecated: false,
        })
        .shorthand(Shorthand {
            name: "hash_on",
            field: Field::string(),
            expand: expand_hash_on,
            deprecated: false,
        })
}

/// Kong keeps `algorithm` and `hash_on` consistent through two shorthands: the balancing
/// algorithms that do not hash clear `hash_on`...
fn expand_algorithm(value: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("algorithm".into(), value.clone());
    if matches!(value.as_str(), Some("least-connections" | "latency")) {
        out.insert("hash_on".into(), Value::Null);
    }
    out
}

/// ...and a `hash_on` other than `none` switches the algorithm to consistent hashing.
fn expand_hash_on(value: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    match value {
        Value::Null => {
            out.insert("hash_on".into(), Value::from("none"));
        }
        Value::String(s) if s == "none" => {
            out.insert("hash_on".into(), value.clone());
            out.insert("algorithm".into(), Value::from("round-robin"));
        }
        other => {
            out.insert("hash_on".into(), other.clone());
            out.insert("algorithm".into(), Value::from("consistent-hashing"));
        }
    }
    out
}
