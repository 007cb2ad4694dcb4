//! Schema-directed conversion of form-encoded and multipart bodies (Kong's
//! `kong.api.arguments` `infer`). The Admin API tokenizes `a[1]=x&b.c=y` into a tree whose
//! leaves are strings; this converts the leaves by the schema: numbers, booleans, a scalar
//! into a one-element array, `""` into null. What cannot be converted stays as it is, so
//! validation reports it with the right message.

use serde_json::{Map, Value};

use super::catalog::Catalog;
use super::field::{Field, FieldType};
use super::record::Schema;
use super::validate::SchemaLookup;
use super::values::number_value;
use crate::model::EntityKind;

impl Catalog {
    /// Converts a decoded form tree for an entity of `kind` (plugins pick their config
    /// schema from the `name` in the tree). Objects whose keys are all integers (`a[1]`,
    /// `a[2]`) count as arrays, in index order.
    pub fn coerce_form(&self, kind: EntityKind, tree: Value) -> Value {
        match tree {
            Value::Object(map) => Value::Object(infer(&self.entity(kind).schema, map, self)),
            other => other,
        }
    }

    /// The type of the field at a dotted path of an entity (`config.key_names`), if the
    /// schema has one; plugin `config` paths resolve through the plugin named `plugin`.
    pub fn field_type_at(
        &self,
        kind: EntityKind,
        path: &str,
        plugin: Option<&str>,
    ) -> Option<&'static str> {
        let schema = &self.entity(kind).schema;
        let subschema = plugin.and_then(|name| {
            schema
                .subschemas
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, s)| s)
        });
        schema.resolve_path(path, subschema).map(|f| f.kind.name())
    }
}

fn infer(
    schema: &Schema,
    mut args: Map<String, Value>,
    lookup: &dyn SchemaLookup,
) -> Map<String, Value> {
    let subschema = schema.subschema_for(&args).cloned();
    for (name, field) in schema.fields_for(subschema.as_ref()) {
        if let Some(value) = args.remove(name) {
            args.insert(name.to_string(), infer_value(value, field, lookup));
        }
    }
    for shorthand in &schema.shorthand_fields {
        if let Some(value) = args.remove(shorthand.name) {
            args.insert(
                shorthand.name.to_string(),
                infer_value(value, &shorthand.field, lookup),
            );
        }
    }
    if schema.ttl
        && let Some(Value::String(ttl)) = args.get("ttl")
        && let Some(n) = lua_tonumber(ttl)
    {
        args.insert("ttl".into(), number_value(n));
    }
    args
}

/// Lua's `tonumber` on a string: decimal (with exponent) or `0x` hex, surrounding
/// whitespace allowed.
pub fn lua_tonumber(s: &str) -> Option<f64> {
    let t = s.trim();
    let (negative, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        let n = u64::from_str_radix(hex, 16).ok()? as f64;
        return Some(if negative { -n } else { n });
    }
    let valid = !t.is_empty()
        && t.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'));
    if !valid {
        return None;
    }
    t.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// An object with only integer keys, as an array ordered by index.
fn index_map_to_array(map: &Map<String, Value>) -> Option<Vec<Value>> {
    let mut items: Vec<(u64, &Value)> = Vec::with_capacity(map.len());
    for (k, v) in map {
        items.push((k.parse().ok()?, v));
    }
    items.sort_by_key(|(i, _)| *i);
    Some(items.into_iter().map(|(_, v)| v.clone()).collect())
}

fn infer_value(value: Value, field: &Field, lookup: &dyn SchemaLookup) -> Value {
    if matches!(&value, Value::String(s) if s.is_empty()) || value.is_null() {
        return Value::Null;
    }
    match &field.kind {
        FieldType::Number | FieldType::Integer => match &value {
            Value::String(s) => lua_tonumber(s).map_or(value, number_value),
            _ => value,
        },
        FieldType::Boolean => match value.as_str() {
            Some("true") => Value::Bool(true),
            Some("false") => Value::Bool(false),
            _ => value,
        },
        FieldType::Array(elements) | FieldType::Set(elements) => {
            let items = match value {
                Value::Array(items) => items,
                Value::Object(map) if !map.is_empty() => match index_map_to_array(&map) {
                    Some(items) => items,
                    None => return Value::Object(map),
                },
                Value::Object(_) => Vec::new(),
                scalar => vec![scalar],
            };
            Value::Array(
                items
                    .into_iter()
                    .map(|item| infer_value(item, elements, lookup))
                    .collect(),
            )
        }
        FieldType::Foreign(reference) => match value {
            Value::Object(map) => match lookup.entity_schema(reference) {
                Some(schema) => Value::Object(infer(schema, map, lookup)),
                None => Value::Object(map),
            },
            other => other,
        },
        FieldType::Map { values, .. } => match value {
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| (k, infer_value(v, values, lookup)))
                    .collect(),
            ),
            other => other,
        },
        FieldType::Record(schema) if !field.abstract_ => match value {
            Value::Object(map) => Value::Object(infer_record(schema, map, lookup)),
            other => other,
        },
        _ => value,
    }
}

fn infer_record(
    schema: &Schema,
    map: Map<String, Value>,
    lookup: &dyn SchemaLookup,
) -> Map<String, Value> {
    map.into_iter()
        .map(|(k, v)| {
            let field = schema.get(&k).or_else(|| {
                schema
                    .shorthand_fields
                    .iter()
                    .find(|s| s.name == k)
                    .map(|s| &s.field)
            });
            let v = match field {
                Some(field) => infer_value(v, field, lookup),
                None => v,
            };
            (k, v)
        })
        .collect()
}
