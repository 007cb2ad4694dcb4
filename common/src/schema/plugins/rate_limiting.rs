//! rate-limiting (`kong/plugins/rate-limiting/schema.lua`, PRIORITY 910), as a control
//! plane sees it (policies `local` and `redis`; `cluster` needs a database on the node).

use serde_json::{Map, Value};

use super::PluginDef;
use crate::schema::field::Field;
use crate::schema::record::{EntityCheck, Match, Schema, Shorthand};
use crate::schema::typedefs as t;

const ORDERED_PERIODS: [&str; 6] = ["second", "minute", "hour", "day", "month", "year"];

/// Kong formats limits with `%.1f` in this message.
fn one_decimal(n: f64) -> String {
    format!("{n:.1}")
}

/// Limits must not decrease with longer periods; `sync_rate` only makes sense with redis.
fn validate_periods_order(config: &Value) -> Result<(), String> {
    let Some(config) = config.as_object() else {
        return Ok(());
    };
    let limit = |name: &str| config.get(name).and_then(Value::as_f64);
    for (i, lower) in ORDERED_PERIODS.iter().enumerate() {
        let Some(v1) = limit(lower) else { continue };
        for upper in &ORDERED_PERIODS[i + 1..] {
            if let Some(v2) = limit(upper)
                && v2 < v1
            {
                return Err(format!(
                    "The limit for {upper}({}) cannot be lower than the limit for {lower}({})",
                    one_decimal(v2),
                    one_decimal(v1)
                ));
            }
        }
    }
    let policy = config.get("policy").and_then(Value::as_str);
    let sync_rate = config.get("sync_rate").and_then(Value::as_f64);
    if policy != Some("redis") && sync_rate != Some(-1.0) {
        return Err("sync_rate can only be used with the redis policy".to_string());
    }
    if policy == Some("redis")
        && let Some(rate) = sync_rate
        && rate != -1.0
        && rate < 0.02
    {
        return Err("sync_rate must be greater than 0.02, or -1 to disable".to_string());
    }
    Ok(())
}

/// The Redis connection record shared by the Redis-backed plugins.
pub(crate) fn redis_record() -> Field {
    Field::record(Schema::record(vec![
        ("host", t::host()),
        ("port", t::port().default(6379)),
        ("timeout", t::timeout().default(2000)),
        ("username", Field::string().referenceable()),
        (
            "password",
            Field::string().len_min(0).encrypted().referenceable(),
        ),
        ("database", Field::integer().default(0)),
        ("ssl", Field::boolean().optional().default(false)),
        ("ssl_verify", Field::boolean().optional().default(false)),
        ("server_name", t::sni().optional()),
    ]))
}

macro_rules! redis_shorthand {
    ($name:literal, $field:expr, $target:literal) => {{
        fn expand(value: &Value) -> Map<String, Value> {
            let mut redis = Map::new();
            redis.insert($target.to_string(), value.clone());
            let mut out = Map::new();
            out.insert("redis".to_string(), Value::Object(redis));
            out
        }
        Shorthand {
            name: $name,
            field: $field,
            expand,
            deprecated: true,
        }
    }};
}

/// The deprecated flat `redis_*` fields, still accepted and mapped into `redis`.
pub(crate) fn redis_shorthands() -> Vec<Shorthand> {
    vec![
        redis_shorthand!("redis_host", Field::string(), "host"),
        redis_shorthand!("redis_port", Field::integer(), "port"),
        redis_shorthand!("redis_password", Field::string().len_min(0), "password"),
        redis_shorthand!("redis_username", Field::string(), "username"),
        redis_shorthand!("redis_ssl", Field::boolean(), "ssl"),
        redis_shorthand!("redis_ssl_verify", Field::boolean(), "ssl_verify"),
        redis_shorthand!("redis_server_name", Field::string(), "server_name"),
        redis_shorthand!("redis_timeout", Field::integer(), "timeout"),
        redis_shorthand!("redis_database", Field::integer(), "database"),
    ]
}

pub(super) fn definition() -> PluginDef {
    let limit = || Field::number().gt(0.0);
    let mut config = Schema::record(vec![
        ("second", limit()),
        ("minute", limit()),
        ("hour", limit()),
        ("day", limit()),
        ("month", limit()),
        ("year", limit()),
        (
            "limit_by",
            Field::string().default("consumer").one_of(&[
                "consumer",
                "credential",
                "ip",
                "service",
                "header",
                "path",
            ]),
        ),
        ("header_name", t::header_name()),
        ("path", t::path()),
        (
            "policy",
            Field::string()
                .default("local")
                .len_min(0)
                .one_of(&["local", "redis"]),
        ),
        ("fault_tolerant", Field::boolean().required().default(true)),
        ("redis", redis_record()),
        (
            "hide_client_headers",
            Field::boolean().required().default(false),
        ),
        ("error_code", Field::number().default(429).gt(0.0)),
        (
            "error_message",
            Field::string().default("API rate limit exceeded"),
        ),
        ("sync_rate", Field::number().required().default(-1)),
    ]);
    config.shorthand_fields = redis_shorthands();
    let redis_required = |field: &'static str| {
        EntityCheck::conditional(
            "config.policy",
            Match::new().eq("redis"),
            field,
            Match::new().required(),
        )
    };
    let by_required = |by: &'static str, field: &'static str| {
        EntityCheck::conditional(
            "config.limit_by",
            Match::new().eq(by),
            field,
            Match::new().required(),
        )
    };
    PluginDef::new(
        "rate-limiting",
        910,
        Schema::new("rate-limiting")
            .field("protocols", t::protocols_http())
            .field(
                "config",
                Field::record(config).custom(validate_periods_order),
            )
            .check(EntityCheck::at_least_one_of(&[
                "config.second",
                "config.minute",
                "config.hour",
                "config.day",
                "config.month",
                "config.year",
            ]))
            .check(redis_required("config.redis.host"))
            .check(redis_required("config.redis.port"))
            .check(redis_required("config.redis.timeout"))
            .check(by_required("header", "config.header_name"))
            .check(by_required("path", "config.path")),
    )
}
