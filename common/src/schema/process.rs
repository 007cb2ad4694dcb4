//! Filling an entity before validation (Kong's `process_auto_fields`): shorthand fields
//! are expanded, `auto` fields generated, defaults applied, sets de-duplicated; and the
//! schema-aware merge used by PATCH (`merge_values`).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use rand::Rng;
use serde_json::{Map, Value};

use super::errors::{ErrorNode, Errors};
use super::field::{Field, FieldType};
use super::record::Schema;
use super::validate::{SchemaLookup, ValidationCtx, validate_field};
use super::values::{lua_eq, number_value};

/// The write operation an entity is processed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// POST: everything absent gets its default.
    Insert,
    /// PUT: a full replacement, defaults re-applied.
    Upsert,
    /// PATCH: only what is given is processed; the rest comes from the stored entity.
    Update,
}

/// The operation plus the clock reading shared by all timestamps of one write.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    pub op: Op,
    /// Seconds since the epoch, with millisecond precision.
    pub now: f64,
}

impl Context {
    pub fn new(op: Op) -> Context {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as f64 / 1000.0)
            .unwrap_or(0.0);
        Context { op, now }
    }

    /// The context Kong uses when it validates a record value (a throw-away copy).
    pub(crate) fn insert_for_validation() -> Context {
        Context {
            op: Op::Insert,
            now: 0.0,
        }
    }
}

/// Expands shorthands and fills auto fields and defaults. Returns a new map with the
/// schema's fields in order, followed by any unknown keys (left for validation to report).
pub fn process_auto_fields(
    schema: &Schema,
    data: &Map<String, Value>,
    ctx: &Context,
    lookup: &dyn SchemaLookup,
) -> Result<Map<String, Value>, Errors> {
    let mut data = data.clone();
    expand_shorthands(schema, &mut data, lookup)?;

    let subschema = schema.subschema_for(&data).cloned();
    let mut out = Map::new();
    let mut errors = Errors::new();
    for (key, field) in schema.fields_for(subschema.as_ref()) {
        let mut value = data.remove(key);
        if field.auto && ctx.op != Op::Update {
            value = auto_value(key, field, value, ctx);
        } else if field.auto && key == "updated_at" {
            value = Some(timestamp(field, ctx));
        }
        match adjust_for_context(field, value, ctx, lookup) {
            Ok(Some(v)) => {
                out.insert(key.to_string(), v);
            }
            Ok(None) => {}
            Err(nested) => errors.set(key, ErrorNode::Nested(nested)),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // Unknown keys stay, so validation can report them.
    out.extend(data);
    Ok(out)
}

fn expand_shorthands(
    schema: &Schema,
    data: &mut Map<String, Value>,
    lookup: &dyn SchemaLookup,
) -> Result<(), Errors> {
    let mut errors = Errors::new();
    let vctx = ValidationCtx {
        lookup,
        updating: false,
    };
    for shorthand in &schema.shorthand_fields {
        let Some(value) = data.get(shorthand.name).cloned() else {
            continue;
        };
        if let Err(node) = validate_field(&shorthand.field, &value, vctx) {
            errors.set(shorthand.name, node);
            continue;
        }
        data.remove(shorthand.name);
        for (k, v) in (shorthand.expand)(&value) {
            let current = data.get(&k).filter(|c| !c.is_null()).cloned();
            let merged = match (v, current) {
                (Value::Object(new), Some(Value::Object(old))) => {
                    if shorthand.deprecated {
                        Value::Object(merge_preferring_non_null(new, &old))
                    } else {
                        let mut merged = old;
                        merged.extend(new);
                        Value::Object(merged)
                    }
                }
                (v, Some(current)) if shorthand.deprecated && !v.is_object() => current,
                (v, _) => v,
            };
            data.insert(k, merged);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// For deprecated shorthands the real field wins: values already set in `existing` (not
/// null) override what the shorthand produced.
fn merge_preferring_non_null(
    mut produced: Map<String, Value>,
    existing: &Map<String, Value>,
) -> Map<String, Value> {
    for (k, v) in existing {
        if !v.is_null() {
            produced.insert(k.clone(), v.clone());
        }
    }
    produced
}

fn auto_value(key: &str, field: &Field, value: Option<Value>, ctx: &Context) -> Option<Value> {
    if field.uuid {
        return value.or_else(|| Some(Value::String(uuid::Uuid::new_v4().to_string())));
    }
    if matches!(field.kind, FieldType::String) {
        return value.or_else(|| Some(Value::String(random_string())));
    }
    let stamp = match key {
        "created_at" => value.as_ref().is_none_or(Value::is_null),
        "updated_at" => true,
        _ => false,
    };
    if stamp {
        Some(timestamp(field, ctx))
    } else {
        value
    }
}

fn timestamp(field: &Field, ctx: &Context) -> Value {
    match field.kind {
        FieldType::Number => number_value(ctx.now),
        _ => Value::from(ctx.now.floor() as i64),
    }
}

/// Kong's `random_string`: 24 random bytes, base64 without padding (32 characters), with
/// `/` and `+` replaced by random letters so the result is alphanumeric.
pub fn random_string() -> String {
    let mut rng = rand::rng();
    let mut bytes = [0u8; 24];
    rng.fill(&mut bytes);
    base64::engine::general_purpose::STANDARD_NO_PAD
        .encode(bytes)
        .chars()
        .map(|c| match c {
            '/' => rng.random_range(b'A'..=b'Z') as char,
            '+' => rng.random_range(b'a'..=b'z') as char,
            c => c,
        })
        .collect()
}

fn adjust_for_context(
    field: &Field,
    value: Option<Value>,
    ctx: &Context,
    lookup: &dyn SchemaLookup,
) -> Result<Option<Value>, Errors> {
    if field.abstract_ {
        return Ok(value);
    }
    let value = match (&field.kind, value) {
        (FieldType::Record(schema), value) => {
            let recurse = match &value {
                Some(Value::Null) => false,
                Some(_) => true,
                None => ctx.op != Op::Update && field.is_required(),
            };
            if recurse {
                let value = value.or_else(|| missing_value(field, ctx, lookup));
                match value {
                    Some(Value::Object(map)) => Some(Value::Object(process_auto_fields(
                        schema, &map, ctx, lookup,
                    )?)),
                    other => other,
                }
            } else {
                value
            }
        }
        (FieldType::Array(elements), Some(value)) => {
            Some(adjust_elements(elements, value, false, ctx, lookup)?)
        }
        (FieldType::Set(elements), Some(value)) => {
            Some(adjust_elements(elements, value, true, ctx, lookup)?)
        }
        (FieldType::Map { values, .. }, Some(Value::Object(map))) => {
            let mut out = Map::new();
            for (k, v) in map {
                if let Some(v) = adjust_for_context(values, Some(v), ctx, lookup)? {
                    out.insert(k, v);
                }
            }
            Some(Value::Object(out))
        }
        (_, value) => value,
    };
    if value.is_none() && ctx.op != Op::Update {
        return Ok(missing_value(field, ctx, lookup));
    }
    Ok(value)
}

fn adjust_elements(
    elements: &Field,
    value: Value,
    dedup: bool,
    ctx: &Context,
    lookup: &dyn SchemaLookup,
) -> Result<Value, Errors> {
    let items = match value {
        Value::Array(items) => items,
        // An empty JSON object is an empty Lua table: an empty array.
        Value::Object(map) if map.is_empty() => Vec::new(),
        other => return Ok(other),
    };
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for item in items {
        if dedup && out.iter().any(|seen| lua_eq(seen, &item)) {
            continue;
        }
        if let Some(item) = adjust_for_context(elements, Some(item), ctx, lookup)? {
            out.push(item);
        }
    }
    Ok(Value::Array(out))
}

/// Kong's `handle_missing_field`: the default, else null for optional fields, else the
/// expanded structure of a required record, else nothing (validation will complain).
fn missing_value(field: &Field, ctx: &Context, lookup: &dyn SchemaLookup) -> Option<Value> {
    if let Some(default) = &field.default {
        return Some(default.clone());
    }
    if !field.is_required() {
        return Some(Value::Null);
    }
    if let FieldType::Record(schema) = &field.kind {
        let insert = Context {
            op: Op::Insert,
            now: ctx.now,
        };
        return process_auto_fields(schema, &Map::new(), &insert, lookup)
            .ok()
            .map(Value::Object);
    }
    None
}

/// Kong's `merge_values`: `top` (the processed patch) over `bottom` (the stored entity),
/// records merged field by field, everything else (arrays included) replaced.
pub fn merge_values(
    schema: &Schema,
    top: &Map<String, Value>,
    bottom: &Map<String, Value>,
) -> Map<String, Value> {
    let mut out = bottom.clone();
    for (k, v) in top {
        out.insert(k.clone(), v.clone());
    }
    let subschema: Option<&Arc<Schema>> = schema.subschema_for(bottom);
    for (key, field) in schema.fields_for(subschema) {
        let Some(top_value) = top.get(key) else {
            continue;
        };
        if let (FieldType::Record(record), false, Value::Object(top_map)) =
            (&field.kind, field.abstract_, top_value)
        {
            let empty = Map::new();
            let bottom_map = bottom.get(key).and_then(Value::as_object).unwrap_or(&empty);
            out.insert(
                key.to_string(),
                Value::Object(merge_values(record, top_map, bottom_map)),
            );
        }
    }
    out
}
