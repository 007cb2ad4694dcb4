//! cors (`kong/plugins/cors/schema.lua`, PRIORITY 2000).

use serde_json::Value;

use super::PluginDef;
use crate::schema::field::Field;
use crate::schema::record::Schema;
use crate::schema::typedefs as t;

const METHODS: &[&str] = &[
    "GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT",
];

/// An origin is `*` or a regular expression (Kong checks it compiles as PCRE).
fn validate_asterisk_or_regex(value: &Value) -> Result<(), String> {
    let origin = value.as_str().unwrap_or_default();
    if origin == "*" || regex::Regex::new(origin).is_ok() {
        Ok(())
    } else {
        Err(format!("'{origin}' is not a valid regex"))
    }
}

pub(super) fn definition() -> PluginDef {
    let config = Schema::record(vec![
        (
            "origins",
            Field::array(Field::string().custom(validate_asterisk_or_regex)),
        ),
        ("headers", Field::array(Field::string())),
        ("exposed_headers", Field::array(Field::string())),
        (
            "methods",
            Field::array(Field::string().one_of(METHODS)).default(METHODS),
        ),
        ("max_age", Field::number()),
        ("credentials", Field::boolean().required().default(false)),
        (
            "private_network",
            Field::boolean().required().default(false),
        ),
        (
            "preflight_continue",
            Field::boolean().required().default(false),
        ),
        (
            "allow_origin_absent",
            Field::boolean().required().default(true),
        ),
    ]);
    PluginDef::new(
        "cors",
        2000,
        Schema::new("cors")
            .field("consumer", t::no_consumer())
            .field("protocols", t::protocols_http())
            .field("config", Field::record(config)),
    )
}
