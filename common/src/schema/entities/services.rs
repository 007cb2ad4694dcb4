//! `services` (Kong `kong/db/schema/entities/services.lua`), with the `url` shorthand.

use serde_json::{Map, Value};

use crate::schema::field::Field;
use crate::schema::net::parse_url;
use crate::schema::record::{EntityCheck, Match, Schema, Shorthand};
use crate::schema::typedefs as t;

fn nonzero_timeout() -> Field {
    Field::integer().between(1, 2_147_483_646)
}

fn protocol_conditional(
    if_match: Match,
    then_field: &'static str,
    then_match: Match,
) -> EntityCheck {
    EntityCheck::conditional("protocol", if_match, then_field, then_match)
}

pub(crate) fn schema() -> Schema {
    let tls_only = || Match::new().not_one_of(&["https", "tls"]);
    Schema::new("services")
        .field("id", t::uuid())
        .field("created_at", t::auto_timestamp_s())
        .field("updated_at", t::auto_timestamp_s())
        .field("name", t::utf8_name())
        .field("retries", Field::integer().default(5).between(0, 32767))
        .field("protocol", t::protocol().required().default("http"))
        .field("host", t::host().required())
        .field("port", t::port().required().default(80))
        .field("path", t::path())
        .field("connect_timeout", nonzero_timeout().default(60000))
        .field("write_timeout", nonzero_timeout().default(60000))
        .field("read_timeout", nonzero_timeout().default(60000))
        .field("tags", t::tags())
        .field("client_certificate", Field::foreign("certificates"))
        .field("tls_verify", Field::boolean())
        .field(
            "tls_verify_depth",
            Field::integer().default_null().between(0, 64),
        )
        .field("ca_certificates", Field::array(Field::string().uuid()))
        .field("enabled", Field::boolean().required().default(true))
        .check(protocol_conditional(
            Match::new().one_of(&["tcp", "tls", "udp", "grpc", "grpcs"]),
            "path",
            Match::new().eq_null(),
        ))
        .check(protocol_conditional(
            tls_only(),
            "client_certificate",
            Match::new().eq_null(),
        ))
        .check(protocol_conditional(
            tls_only(),
            "tls_verify",
            Match::new().eq_null(),
        ))
        .check(protocol_conditional(
            tls_only(),
            "tls_verify_depth",
            Match::new().eq_null(),
        ))
        .check(protocol_conditional(
            tls_only(),
            "ca_certificates",
            Match::new().eq_null(),
        ))
        .shorthand(Shorthand {
            name: "url",
            field: Field::string(),
            expand: expand_url,
            deprecated: false,
        })
}

/// `url` → `protocol`, `host`, `port`, `path`. A URL without a path sets `path` to null,
/// which is how a PATCH with a new `url` resets an old path.
fn expand_url(value: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(parsed) = value.as_str().and_then(parse_url) else {
        return out;
    };
    let port: Option<i64> = parsed.port.as_deref().and_then(|p| p.trim().parse().ok());
    let default_for_port = match port {
        Some(80) => Some("http"),
        Some(443) => Some("https"),
        _ => None,
    };
    let protocol = parsed
        .scheme
        .clone()
        .or_else(|| default_for_port.map(str::to_string))
        .unwrap_or_else(|| "http".to_string());
    let port_value = match (port, &parsed.port) {
        (Some(p), _) => Value::from(p),
        (None, Some(raw)) => Value::String(raw.clone()),
        (None, None) => Value::from(match protocol.as_str() {
            "https" => 443,
            _ => 80,
        }),
    };
    out.insert("protocol".into(), Value::String(protocol));
    out.insert(
        "host".into(),
        parsed.host.map_or(Value::Null, Value::String),
    );
    out.insert("port".into(), port_value);
    out.insert(
        "path".into(),
        parsed.path.map_or(Value::Null, Value::String),
    );
    out
}
