//! `routes` (Kong `kong/db/schema/entities/routes.lua` and `routes_subschemas.lua`): the
//! traditional router's fields, with subschemas selected by the first known protocol.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::schema::field::Field;
use crate::schema::record::{EntityCheck, Match, Schema};
use crate::schema::typedefs as t;

fn no_path_handling_error(_: &Map<String, Value>) -> Result<(), String> {
    // Kong only logs a deprecation warning for `path_handling = "v1"`.
    Ok(())
}

pub(crate) fn schema() -> Schema {
    let mut schema = Schema::new("routes")
        .field("id", t::uuid())
        .field("created_at", t::auto_timestamp_s())
        .field("updated_at", t::auto_timestamp_s())
        .field("name", t::utf8_name())
        .field(
            "protocols",
            Field::set(t::protocol())
                .len_min(1)
                .required()
                .mutually_exclusive_subsets(&[
                    &["http", "https"],
                    &["tcp", "tls", "udp"],
                    &["tls_passthrough"],
                    &["grpc", "grpcs"],
                ])
                .default(["http", "https"]),
        )
        .field(
            "https_redirect_status_code",
            Field::integer()
                .one_of(&[426, 301, 302, 307, 308])
                .default(426)
                .required(),
        )
        .field("strip_path", Field::boolean().required().default(true))
        .field("preserve_host", Field::boolean().required().default(false))
        .field("request_buffering", Field::boolean().required().default(true))
        .field("response_buffering", Field::boolean().required().default(true))
        .field("tags", t::tags())
        .field("service", Field::foreign("services"))
        .field("snis", Field::set(t::wildcard_host()))
        .field("sources", t::sources())
        .field("destinations", t::destinations())
        .field("methods", t::methods())
        .field("hosts", t::hosts())
        .field("paths", t::router_paths())
        .field(
            "headers",
            Field::map(
                t::header_name().match_none(
                    "^[Hh][Oo][Ss][Tt]$",
                    "cannot contain 'host' header, which must be specified in the 'hosts' attribute",
                ),
                Field::array(Field::string()),
            ),
        )
        .field("regex_priority", Field::integer().default(0))
        .field(
            "path_handling",
            Field::string().default("v0").one_of(&["v0", "v1"]),
        )
        .check(EntityCheck::Conditional {
            if_field: "protocols",
            if_match: Match::new().elements(
                Field::string().not_one_of(&["grpcs", "https", "tls", "tls_passthrough"]),
            ),
            then_field: "snis",
            then_match: Match::new().len_eq(0),
            then_err: Some(
                "'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or 'tls_passthrough'",
            ),
        })
        .check(EntityCheck::custom(&["path_handling"], no_path_handling_error));
    schema.subschema_key = Some("protocols");
    let http = Arc::new(http_subschema());
    let stream = Arc::new(stream_subschema());
    let grpc = Arc::new(grpc_subschema());
    for (name, sub) in [
        ("http", &http),
        ("https", &http),
        ("tcp", &stream),
        ("tls", &stream),
        ("udp", &stream),
        ("tls_passthrough", &stream),
        ("grpc", &grpc),
        ("grpcs", &grpc),
    ] {
        schema.subschemas.push((name.to_string(), sub.clone()));
    }
    schema
}

fn http_subschema() -> Schema {
    Schema::new("http")
        .field(
            "sources",
            t::sources()
                .eq_null()
                .err("cannot set 'sources' when 'protocols' is 'http' or 'https'"),
        )
        .field(
            "destinations",
            t::destinations()
                .eq_null()
                .err("cannot set 'destinations' when 'protocols' is 'http' or 'https'"),
        )
        .check(EntityCheck::ConditionalAtLeastOneOf {
            if_field: "protocols",
            if_match: Match::new().contains("https"),
            then_at_least_one_of: vec!["methods", "hosts", "headers", "paths", "snis"],
            then_err: Some("must set one of %s when 'protocols' is 'https'"),
            else_match: Some(Match::new().contains("http")),
            else_then_at_least_one_of: vec!["methods", "hosts", "headers", "paths"],
            else_then_err: Some("must set one of %s when 'protocols' is 'http'"),
        })
}

fn stream_subschema() -> Schema {
    Schema::new("tcp")
        .field(
            "methods",
            t::methods().eq_null().err(
                "cannot set 'methods' when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'",
            ),
        )
        .field(
            "hosts",
            t::hosts().eq_null().err(
                "cannot set 'hosts' when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'",
            ),
        )
        .field(
            "paths",
            t::router_paths().eq_null().err(
                "cannot set 'paths' when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'",
            ),
        )
        .field(
            "headers",
            t::headers().eq_null().err(
                "cannot set 'headers' when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'",
            ),
        )
        .check(EntityCheck::ConditionalAtLeastOneOf {
            if_field: "protocols",
            if_match: Match::new().elements(Field::string().one_of(&["tcp", "tls", "udp"])),
            then_at_least_one_of: vec!["sources", "destinations", "snis"],
            then_err: Some("must set one of %s when 'protocols' is 'tcp', 'tls' or 'udp'"),
            else_match: None,
            else_then_at_least_one_of: Vec::new(),
            else_then_err: None,
        })
        .check(EntityCheck::ConditionalAtLeastOneOf {
            if_field: "protocols",
            if_match: Match::new().elements(Field::string().one_of(&["tls_passthrough"])),
            then_at_least_one_of: vec!["snis"],
            then_err: Some("must set snis when 'protocols' is 'tls_passthrough'"),
            else_match: None,
            else_then_at_least_one_of: Vec::new(),
            else_then_err: None,
        })
}

fn grpc_subschema() -> Schema {
    Schema::new("grpc")
        .field(
            "strip_path",
            Field::boolean()
                .required()
                .default(false)
                .ne(true)
                .err("cannot set 'strip_path' when 'protocols' is 'grpc' or 'grpcs'"),
        )
        .field(
            "methods",
            t::methods()
                .eq_null()
                .err("cannot set 'methods' when 'protocols' is 'grpc' or 'grpcs'"),
        )
        .field(
            "sources",
            t::sources()
                .eq_null()
                .err("cannot set 'sources' when 'protocols' is 'grpc' or 'grpcs'"),
        )
        .field(
            "destinations",
            t::sources()
                .eq_null()
                .err("cannot set 'destinations' when 'protocols' is 'grpc' or 'grpcs'"),
        )
        .check(EntityCheck::ConditionalAtLeastOneOf {
            if_field: "protocols",
            if_match: Match::new().contains("grpcs"),
            then_at_least_one_of: vec!["hosts", "headers", "paths", "snis"],
            then_err: Some("must set one of %s when 'protocols' is 'grpcs'"),
            else_match: Some(Match::new().contains("grpc")),
            else_then_at_least_one_of: vec!["hosts", "headers", "paths"],
            else_then_err: Some("must set one of %s when 'protocols' is 'grpc'"),
        })
}
