//! request-transformer (`kong/plugins/request-transformer/schema.lua`, PRIORITY 801) and
//! response-transformer (`kong/plugins/response-transformer/schema.lua`, PRIORITY 800).

use serde_json::Value;

use super::PluginDef;
use crate::schema::field::Field;
use crate::schema::record::Schema;
use crate::schema::typedefs::{self as t, validate_header_name};

/// `name:value` split as Kong does (`^([^:]+):*(.-)$`).
fn split_pair(pair: &str) -> (&str, &str) {
    let (name, rest) = pair.split_once(':').unwrap_or((pair, ""));
    (name, rest.trim_start_matches(':'))
}

fn check_header(name: &str) -> Result<(), String> {
    validate_header_name(&Value::from(name)).map_err(|_| format!("'{name}' is not a valid header"))
}

fn validate_headers(value: &Value) -> Result<(), String> {
    check_header(split_pair(value.as_str().unwrap_or_default()).0)
}

fn validate_colon_headers(value: &Value) -> Result<(), String> {
    let (name, new_name) = split_pair(value.as_str().unwrap_or_default());
    check_header(name)?;
    check_header(new_name)
}

/// A `key:value` entry; the value is a template whose `$(...)` placeholders must close.
fn check_for_value(value: &Value) -> Result<(), String> {
    let (name, value) = split_pair(value.as_str().unwrap_or_default());
    if name.is_empty() || value.is_empty() {
        return Err(format!("key '{name}' has no value"));
    }
    let mut depth = 0i32;
    let bytes = value.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if depth == 0 && bytes[i] == b'$' && bytes.get(i + 1) == Some(&b'(') {
            depth = 1;
            i += 2;
            continue;
        }
        if depth > 0 {
            match bytes[i] {
                b'(' => depth += 1,
                b')' => depth -= 1,
                _ => {}
            }
        }
        i += 1;
    }
    if depth != 0 {
        return Err(format!(
            "value '{value}' is not in supported format, error:unfinished template expression"
        ));
    }
    Ok(())
}

fn array_of(elements: Field) -> Field {
    Field::array(elements)
        .default(Vec::<String>::new())
        .required()
}

fn strings() -> Field {
    array_of(Field::string())
}

fn colon_strings() -> Field {
    array_of(Field::string().custom(check_for_value))
}

fn colon_header_values() -> Field {
    array_of(
        Field::string()
            .matches("^[^:]+:.*$")
            .custom(validate_headers),
    )
}

fn colon_headers() -> Field {
    array_of(
        Field::string()
            .matches("^[^:]+:.*$")
            .custom(validate_colon_headers),
    )
}

fn record(fields: Vec<(&'static str, Field)>) -> Field {
    Field::record(Schema::record(fields))
}

pub(super) fn request_transformer() -> PluginDef {
    let colon_record = |with_uri: bool| {
        let mut fields = vec![
            ("body", colon_strings()),
            ("headers", colon_header_values()),
            ("querystring", colon_strings()),
        ];
        if with_uri {
            fields.push(("uri", Field::string()));
        }
        record(fields)
    };
    let config = Schema::record(vec![
        ("http_method", t::http_method()),
        (
            "remove",
            record(vec![
                ("body", strings()),
                (
                    "headers",
                    array_of(Field::string().custom(validate_headers)),
                ),
                ("querystring", strings()),
            ]),
        ),
        (
            "rename",
            record(vec![
                ("body", colon_strings()),
                ("headers", colon_headers()),
                ("querystring", colon_strings()),
            ]),
        ),
        ("replace", colon_record(true)),
        ("add", colon_record(false)),
        ("append", colon_record(false)),
    ]);
    PluginDef::new(
        "request-transformer",
        801,
        Schema::new("request-transformer")
            .field("protocols", t::protocols())
            .field("config", Field::record(config)),
    )
}

pub(super) fn response_transformer() -> PluginDef {
    let colon_strings = || array_of(Field::string().matches("^[^:]+:.*$"));
    let colon_record = || {
        record(vec![
            ("json", colon_strings()),
            (
                "json_types",
                array_of(Field::string().one_of(&["boolean", "number", "string"])),
            ),
            ("headers", colon_strings()),
        ])
    };
    let config = Schema::record(vec![
        (
            "remove",
            record(vec![("json", strings()), ("headers", strings())]),
        ),
        (
            "rename",
            record(vec![
                ("json", colon_strings()),
                ("headers", colon_headers()),
            ]),
        ),
        ("replace", colon_record()),
        ("add", colon_record()),
        ("append", colon_record()),
    ]);
    PluginDef::new(
        "response-transformer",
        800,
        Schema::new("response-transformer")
            .field("protocols", t::protocols_http())
            .field("config", Field::record(config)),
    )
}
