//! Logging and caching plugins: file-log (PRIORITY 9), http-log (12), proxy-cache (100).

use serde_json::{Map, Value};

use super::PluginDef;
use crate::schema::field::Field;
use crate::schema::record::{EntityCheck, Schema};
use crate::schema::typedefs as t;

/// Kong's `typedefs.lua_code`: Lua snippets by field name. Portico stores them; the data
/// plane does not run Lua.
fn lua_code() -> Field {
    Field::map(Field::string().len_min(1), Field::string().len_min(1))
}

/// Kong's `kong.tools.queue_schema`.
fn queue() -> Field {
    Field::record(Schema::record(vec![
        (
            "max_batch_size",
            Field::integer().default(1).between(1, 1_000_000),
        ),
        (
            "max_coalescing_delay",
            Field::number().default(1).between(0, 3600),
        ),
        (
            "max_entries",
            Field::integer().default(10000).between(1, 1_000_000),
        ),
        ("max_bytes", Field::integer()),
        ("max_retry_time", Field::number().default(60)),
        (
            "initial_retry_delay",
            Field::number().default(0.01).between(0.001, 1_000_000),
        ),
        (
            "max_retry_delay",
            Field::number().default(60).between(0.001, 1_000_000),
        ),
        (
            "concurrency_limit",
            Field::integer().default(1).one_of(&[-1, 1]),
        ),
    ]))
}

pub(super) fn file_log() -> PluginDef {
    let config = Schema::record(vec![
        (
            "path",
            Field::string()
                .required()
                .matches("^[^%s*&%%\\`][^*&%%\\`]*[^%s*&%%\\`]$")
                .err("not a valid filename"),
        ),
        ("reopen", Field::boolean().required().default(false)),
        ("custom_fields_by_lua", lua_code()),
    ]);
    PluginDef::new(
        "file-log",
        9,
        Schema::new("file-log")
            .field("protocols", t::protocols())
            .field("config", Field::record(config)),
    )
}

/// `http_endpoint` with user info and an `Authorization` header would send two
/// credentials.
fn validate_http_log(config: &Value) -> Result<(), String> {
    let has_userinfo = config
        .get("http_endpoint")
        .and_then(Value::as_str)
        .and_then(|u| u.split_once("//").map(|(_, rest)| rest.to_string()))
        .is_some_and(|rest| rest.split('/').next().unwrap_or_default().contains('@'));
    let has_authorization = config
        .get("headers")
        .and_then(Value::as_object)
        .is_some_and(|h: &Map<String, Value>| {
            h.keys().any(|k| k.eq_ignore_ascii_case("authorization"))
        });
    if has_userinfo && has_authorization {
        return Err("specifying both an 'Authorization' header and user info in 'http_endpoint' is not allowed".to_string());
    }
    Ok(())
}

pub(super) fn http_log() -> PluginDef {
    let header_key = t::header_name()
        .match_none("^[Hh][Oo][Ss][Tt]$", "cannot contain 'Host' header")
        .match_none(
            "^[Cc][Oo][Nn][Tt][Ee][Nn][Tt]%-[Ll][Ee][nn][Gg][Tt][Hh]$",
            "cannot contain 'Content-Length' header",
        )
        .match_none(
            "^[Cc][Oo][Nn][Tt][Ee][Nn][Tt]%-[Tt][Yy][Pp][Ee]$",
            "cannot contain 'Content-Type' header",
        );
    let config = Schema::record(vec![
        (
            "http_endpoint",
            t::url().required().encrypted().referenceable(),
        ),
        (
            "method",
            Field::string()
                .default("POST")
                .one_of(&["POST", "PUT", "PATCH"]),
        ),
        (
            "content_type",
            Field::string()
                .default("application/json")
                .one_of(&["application/json", "application/json; charset=utf-8"]),
        ),
        ("timeout", Field::number().default(10000)),
        ("keepalive", Field::number().default(60000)),
        ("retry_count", Field::integer()),
        ("queue_size", Field::integer()),
        ("flush_timeout", Field::number()),
        (
            "headers",
            Field::map(header_key, Field::string().referenceable()),
        ),
        ("queue", queue()),
        ("custom_fields_by_lua", lua_code()),
    ]);
    PluginDef::new(
        "http-log",
        12,
        Schema::new("http-log")
            .field("protocols", t::protocols())
            .field("config", Field::record(config).custom(validate_http_log)),
    )
}

/// Kong checks that the memory strategy's shared dictionary exists; Portico's cache has no
/// shared dictionaries, so any name is accepted.
fn memory_dictionary_exists(_: &Map<String, Value>) -> Result<(), String> {
    Ok(())
}

pub(super) fn proxy_cache() -> PluginDef {
    let config = Schema::record(vec![
        (
            "response_code",
            Field::array(Field::integer().between(100, 900))
                .default([200, 301, 404])
                .len_min(1)
                .required(),
        ),
        (
            "request_method",
            Field::array(Field::string().one_of(&["HEAD", "GET", "POST", "PATCH", "PUT"]))
                .default(["GET", "HEAD"])
                .required(),
        ),
        (
            "content_type",
            Field::array(Field::string())
                .default(["text/plain", "application/json"])
                .required(),
        ),
        ("cache_ttl", Field::integer().default(300).gt(0.0)),
        ("strategy", Field::string().one_of(&["memory"]).required()),
        ("cache_control", Field::boolean().default(false).required()),
        (
            "ignore_uri_case",
            Field::boolean().default(false).optional(),
        ),
        ("storage_ttl", Field::integer()),
        (
            "memory",
            Field::record(Schema::record(vec![(
                "dictionary_name",
                Field::string().required().default("kong_db_cache"),
            )])),
        ),
        ("vary_query_params", Field::array(Field::string())),
        ("vary_headers", Field::array(Field::string())),
        (
            "response_headers",
            Field::record(Schema::record(vec![
                ("age", Field::boolean().default(true)),
                ("X-Cache-Status", Field::boolean().default(true)),
                ("X-Cache-Key", Field::boolean().default(true)),
            ])),
        ),
    ]);
    PluginDef::new(
        "proxy-cache",
        100,
        Schema::new("proxy-cache")
            .field("protocols", t::protocols())
            .field("config", Field::record(config))
            .check(EntityCheck::custom(&["config"], memory_dictionary_exists)),
    )
}
