//! Table-driven tests of the engine and the entity schemas against the behaviours Kong's
//! own test suite asserts (`shared/reference/kong-behaviours.md`, cited as #N).

#![allow(clippy::unwrap_used)]

use serde_json::{Map, Value, json};

use super::{SchemaViolation, catalog};
use crate::model::EntityKind;

mod bundled_plugins;
mod certificates;
mod credentials;
mod custom_plugins;
mod engine;
mod foreign;
mod form;
mod mtls_auth;
mod plugins;
mod render;
mod routes;
mod services;
mod typed;
mod upstreams;

fn obj(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn insert(kind: EntityKind, input: Value) -> Result<Map<String, Value>, SchemaViolation> {
    catalog().insert(kind, obj(input))
}

fn insert_ok(kind: EntityKind, input: Value) -> Map<String, Value> {
    insert(kind, input).unwrap_or_else(|e| panic!("{}", e.to_json()))
}

fn insert_err(kind: EntityKind, input: Value) -> SchemaViolation {
    match insert(kind, input) {
        Ok(entity) => panic!("accepted: {}", Value::Object(entity)),
        Err(e) => e,
    }
}

fn update(
    kind: EntityKind,
    patch: Value,
    existing: &Map<String, Value>,
) -> Result<Map<String, Value>, SchemaViolation> {
    catalog().update(kind, obj(patch), existing)
}

fn fields(e: &SchemaViolation) -> Value {
    e.errors.to_json()
}

/// A consumer reference with a fixed id.
fn consumer_ref() -> Value {
    json!({"id": "8a388226-80e8-4027-a486-25e4f7db5d21"})
}
