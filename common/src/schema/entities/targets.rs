//! `targets` (Kong `kong/db/schema/entities/targets.lua` plus the DAO's normalisation of
//! `target` to `host:port`, default port 8000).

use serde_json::{Map, Value};

use crate::schema::errors::Errors;
use crate::schema::field::Field;
use crate::schema::net::{format_host, normalize_ip};
use crate::schema::process::Op;
use crate::schema::record::Schema;
use crate::schema::typedefs as t;

/// The port a target gets when none is given.
pub const DEFAULT_TARGET_PORT: u32 = 8000;

fn validate_target(value: &Value) -> Result<(), String> {
    let target = value.as_str().unwrap_or_default();
    normalize_ip(target)
        .map(|_| ())
        .map_err(|_| format!("Invalid target ('{target}'); not a valid hostname or ip address"))
}

pub(crate) fn schema() -> Schema {
    Schema::new("targets")
        .field("id", t::uuid())
        .field("created_at", t::auto_timestamp_ms())
        .field("updated_at", t::auto_timestamp_ms())
        .field(
            "upstream",
            Field::foreign("upstreams").required().on_delete("cascade"),
        )
        .field("target", Field::string().required().custom(validate_target))
        .field("weight", Field::integer().default(100).between(0, 65535))
        .field("tags", t::tags())
}

/// `target` is stored normalised (`host:port`, IPv6 expanded in brackets), so
/// `konghq.test` and `konghq.test:8000` are the same target.
pub fn normalize_target(target: &str) -> Result<String, String> {
    normalize_ip(target)
        .map(|host| format_host(&host, Some(DEFAULT_TARGET_PORT)))
        .map_err(|_| "Invalid target; not a valid hostname or ip address".to_string())
}

pub(crate) fn before(input: &mut Map<String, Value>, _op: Op) -> Result<(), Errors> {
    if let Some(Value::String(target)) = input.get("target") {
        let formatted = normalize_target(target).map_err(|e| Errors::field("target", e))?;
        input.insert("target".into(), Value::String(formatted));
    }
    Ok(())
}
