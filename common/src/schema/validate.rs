//! Validation: each field against its definition, required fields, then entity checks.
//! A port of `Schema:validate_field` / `Schema:validate` from Kong's `kong/db/schema/init.lua`,
//! messages included.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::checks::run_entity_checks;
use super::errors::{ErrorNode, Errors, lua_number};
use super::field::{Field, FieldType};
use super::lua_pattern;
use super::process::{Context, process_auto_fields};
use super::record::Schema;
use super::values::{is_integer, lua_eq, lua_tostring, quoted_list};

pub const REQUIRED: &str = "required field missing";
pub const UNKNOWN: &str = "unknown field";
pub const MISSING_PK: &str = "missing primary key";

/// Looks up entity schemas by name, for `foreign` fields.
pub trait SchemaLookup: Sync {
    fn entity_schema(&self, name: &str) -> Option<&Schema>;
}

/// What a validation run needs besides the value.
#[derive(Clone, Copy)]
pub struct ValidationCtx<'a> {
    pub lookup: &'a dyn SchemaLookup,
    /// Kong words some messages differently while validating an update.
    pub updating: bool,
}

/// Validates an entity (or record) against `schema`. With `full_check`, absent required
/// fields are errors and checks that tolerate missing fields run on complete entities.
pub fn validate(
    schema: &Schema,
    input: &Map<String, Value>,
    full_check: bool,
    ctx: ValidationCtx<'_>,
) -> Result<(), Errors> {
    let subschema = if let Some(key) = schema.subschema_key {
        match input.get(key) {
            None | Some(Value::Null) => return Err(Errors::field(key, REQUIRED)),
            Some(value) => match schema.subschema_for(input) {
                Some(s) => Some(s),
                None => {
                    let shown = match value {
                        Value::Array(items) => items.first().map(lua_tostring).unwrap_or_default(),
                        other => lua_tostring(other),
                    };
                    let message = schema
                        .subschema_error
                        .unwrap_or("unknown type: %s")
                        .replace("%s", &shown);
                    return Err(Errors::field(key, message));
                }
            },
        }
    } else {
        None
    };

    let mut errors = validate_fields(schema, subschema, input, ctx);

    for (name, field) in &schema.fields {
        if field.is_required() {
            let missing = match input.get(*name) {
                Some(Value::Null) => true,
                None => full_check,
                Some(_) => false,
            };
            if missing {
                errors.set(name, ErrorNode::msg(REQUIRED));
            }
        }
    }

    run_entity_checks(schema, subschema, input, full_check, ctx, &mut errors);

    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn validate_fields(
    schema: &Schema,
    subschema: Option<&Arc<Schema>>,
    input: &Map<String, Value>,
    ctx: ValidationCtx<'_>,
) -> Errors {
    let mut errors = Errors::new();
    for (key, value) in input {
        // Kong never validates `updated_at` (it is always regenerated) nor a TTL.
        if key == "updated_at" || (key == "ttl" && schema.ttl) {
            continue;
        }
        match schema.resolve(key, subschema) {
            Some(field) => {
                if let Err(node) = validate_field(field, value, ctx) {
                    errors.set(key, node);
                }
            }
            None => errors.set(key, ErrorNode::msg(UNKNOWN)),
        }
    }
    errors
}

/// Validates one value against a field definition (`Schema:validate_field`).
pub fn validate_field(
    field: &Field,
    value: &Value,
    ctx: ValidationCtx<'_>,
) -> Result<(), ErrorNode> {
    let fail = |message: String| Err(ErrorNode::Message(message));
    if value.is_null() {
        if field.ne == Some(Value::Null) {
            return fail(field.err.unwrap_or("value must not be null").to_string());
        }
        if let Some(eq) = &field.eq
            && !eq.is_null()
        {
            return fail(format!("value must be {}", lua_tostring(eq)));
        }
        if field.is_required() {
            return fail(REQUIRED.to_string());
        }
        return Ok(());
    }
    if field.eq == Some(Value::Null) {
        return fail(field.err.unwrap_or("value must be null").to_string());
    }

    match &field.kind {
        FieldType::Array(elements) => {
            let items = match value {
                Value::Array(items) => items.as_slice(),
                Value::Object(o) if o.is_empty() => &[],
                _ => return fail("expected an array".to_string()),
            };
            validate_elements(elements, items, ctx)?;
        }
        FieldType::Set(elements) => {
            let items = match value {
                Value::Array(items) => items.as_slice(),
                Value::Object(o) if o.is_empty() => &[],
                _ => return fail("expected a set".to_string()),
            };
            validate_elements(elements, items, ctx)?;
        }
        FieldType::Map { keys, values } => {
            let required_keys = required_copy(keys);
            let required_values = required_copy(values);
            match value {
                Value::Object(map) => {
                    for (k, v) in map {
                        validate_field(&required_keys, &Value::String(k.clone()), ctx)?;
                        validate_field(&required_values, v, ctx)?;
                    }
                }
                // A Lua table with integer keys: the first key fails the key type.
                Value::Array(items) if !items.is_empty() => {
                    validate_field(&required_keys, &Value::from(1), ctx)?;
                }
                Value::Array(_) => {}
                _ => return fail("expected a map".to_string()),
            }
        }
        FieldType::Record(schema) => {
            let map = match value {
                Value::Object(map) => map.clone(),
                Value::Array(items) if items.is_empty() => Map::new(),
                _ => return fail("expected a record".to_string()),
            };
            let context = Context::insert_for_validation();
            let copy = process_auto_fields(schema, &map, &context, ctx.lookup)
                .map_err(ErrorNode::Nested)?;
            validate(schema, &copy, true, ctx).map_err(ErrorNode::Nested)?;
        }
        FieldType::Foreign(reference) => validate_foreign(reference, value, ctx)?,
        FieldType::Integer => {
            if !is_integer(value) {
                return fail("expected an integer".to_string());
            }
        }
        FieldType::Number => {
            if !value.is_number() {
                return fail("expected a number".to_string());
            }
        }
        FieldType::Boolean => {
            if !value.is_boolean() {
                return fail("expected a boolean".to_string());
            }
        }
        FieldType::String => {
            if !value.is_string() {
                return fail("expected a string".to_string());
            }
        }
        FieldType::Json => {}
    }

    run_validators(field, value)
        .map_err(|message| ErrorNode::Message(field.err.map_or(message, str::to_string)))
}

fn required_copy(field: &Field) -> Field {
    let mut copy = field.clone();
    copy.required = Some(true);
    copy
}

fn validate_elements(
    elements: &Field,
    items: &[Value],
    ctx: ValidationCtx<'_>,
) -> Result<(), ErrorNode> {
    let elements = required_copy(elements);
    let mut errs = std::collections::BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        if let Err(node) = validate_field(&elements, item, ctx) {
            errs.insert(i + 1, node);
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ErrorNode::Elements(errs))
    }
}

/// A foreign reference must carry the referenced entity's primary key (`{"id": uuid}`).
/// When it does not, the other given fields are validated against the referenced schema
/// first, so `service: {protocol: "foo"}` reports `service.protocol`.
fn validate_foreign(
    reference: &str,
    value: &Value,
    ctx: ValidationCtx<'_>,
) -> Result<(), ErrorNode> {
    let Some(foreign) = ctx.lookup.entity_schema(reference) else {
        return Ok(());
    };
    let map = value.as_object();
    let mut pk_errors = Errors::new();
    match map.and_then(|m| m.get("id")) {
        None | Some(Value::Bool(false)) => pk_errors.set("id", ErrorNode::msg(MISSING_PK)),
        Some(Value::Null) => pk_errors.set("id", ErrorNode::msg(REQUIRED)),
        Some(id) => {
            if let Some(id_field) = foreign.get("id")
                && let Err(node) = validate_field(id_field, id, ctx)
            {
                pk_errors.set("id", node);
            }
        }
    }
    if pk_errors.is_empty() {
        return Ok(());
    }
    if let Some(map) = map
        && let Err(errors) = validate(foreign, map, false, ctx)
    {
        return Err(ErrorNode::Nested(errors));
    }
    Err(ErrorNode::Nested(pk_errors))
}

/// The single-value validators, in Kong's `validators_order`; the first failure wins.
pub fn run_validators(field: &Field, value: &Value) -> Result<(), String> {
    if let Some(wanted) = &field.eq
        && !lua_eq(value, wanted)
    {
        return Err(format!("value must be {}", lua_tostring(wanted)));
    }
    if let Some(wanted) = &field.ne
        && lua_eq(value, wanted)
    {
        return Err(format!("value must not be {}", lua_tostring(value)));
    }
    if let Some(options) = &field.not_one_of
        && options.iter().any(|o| lua_eq(value, o))
    {
        return Err(format!("must not be one of: {}", join_values(options)));
    }
    if let Some(options) = &field.one_of
        && !options.iter().any(|o| lua_eq(value, o))
    {
        return Err(format!("expected one of: {}", join_values(options)));
    }
    let number = value.as_f64();
    if let (Some(limit), Some(n)) = (field.gt, number)
        && n <= limit
    {
        return Err(format!("value must be greater than {}", lua_number(limit)));
    }
    if field.timestamp && number.is_some_and(|n| n <= 0.0) {
        return Err("expected a valid timestamp".to_string());
    }
    if field.uuid && !value.as_str().is_some_and(is_uuid) {
        return Err("expected a valid UUID".to_string());
    }
    if let (Some((min, max)), Some(n)) = (field.between, number)
        && (n < min || n > max)
    {
        return Err(format!(
            "value should be between {} and {}",
            lua_number(min.trunc()),
            lua_number(max.trunc())
        ));
    }

    let len = match value {
        Value::String(s) => Some(s.len()),
        Value::Array(a) => Some(a.len()),
        Value::Object(o) => Some(o.len()),
        _ => None,
    };
    if let Some(len) = len {
        let len_min = field
            .len_min
            .or(matches!(field.kind, FieldType::String).then_some(1));
        if let Some(n) = field.len_eq
            && len != n
        {
            return Err(format!("length must be {n}"));
        }
        if let Some(n) = len_min
            && len < n
        {
            return Err(format!("length must be at least {n}"));
        }
        if let Some(n) = field.len_max
            && len > n
        {
            return Err(format!("length must be at most {n}"));
        }
    }

    if let Value::String(s) = value {
        if let Some(prefix) = field.starts_with
            && !s.starts_with(prefix)
        {
            return Err(format!("should start with: {prefix}"));
        }
        if let Some(pattern) = field.not_match
            && lua_pattern::is_match(s, pattern)
        {
            return Err(format!("invalid value: {s}"));
        }
        for rule in &field.match_none {
            if lua_pattern::is_match(s, rule.pattern) {
                return Err(rule.err.to_string());
            }
        }
        if let Some(pattern) = field.match_
            && !lua_pattern::is_match(s, pattern)
        {
            return Err(format!("invalid value: {s}"));
        }
        for rule in &field.match_all {
            if !lua_pattern::is_match(s, rule.pattern) {
                return Err(rule.err.to_string());
            }
        }
        if let Some(any) = &field.match_any
            && !any.patterns.iter().any(|p| lua_pattern::is_match(s, p))
        {
            return Err(any.err.to_string());
        }
    }

    if let (Some(wanted), Value::Array(items)) = (&field.contains, value)
        && !items.iter().any(|i| lua_eq(i, wanted))
    {
        return Err(format!("expected to contain: {}", lua_tostring(wanted)));
    }

    if let Some(custom) = field.custom_validator {
        custom(value)?;
    }

    if let (Some(subsets), Value::Array(items)) = (&field.mutually_exclusive_subsets, value) {
        let mut member_of: Vec<&Vec<&str>> = Vec::new();
        for item in items {
            if let Some(s) = item.as_str()
                && let Some(subset) = subsets.iter().find(|set| set.contains(&s))
                && !member_of.iter().any(|m| std::ptr::eq(*m, subset))
            {
                member_of.push(subset);
            }
        }
        if member_of.len() > 1 {
            let list = member_of
                .iter()
                .map(|set| format!("({})", quoted_list(set)))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(format!("these sets are mutually exclusive: {list}"));
        }
    }
    Ok(())
}

fn join_values(values: &[Value]) -> String {
    values
        .iter()
        .map(lua_tostring)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Kong's UUID check: 36 characters, hex groups 8-4-4-4-12, any case.
pub fn is_uuid(s: &str) -> bool {
    let bytes = s.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}
