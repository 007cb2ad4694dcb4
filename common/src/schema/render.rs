//! `/schemas` output: Kong's `schema_to_jsonable` shape. `fields` is an array of
//! single-key objects, `entity_checks` an array (never `{}`), validator functions are
//! left out, and foreign fields carry no embedded schema.

use serde_json::{Map, Value, json};

use super::catalog::Catalog;
use super::field::{Field, FieldType};
use super::record::{EntityCheck, Match, MatchAttr, Schema};
use super::values::number_value;
use crate::model::EntityKind;

impl Catalog {
    /// `GET /schemas/{entity}`.
    pub fn render_entity_schema(&self, kind: EntityKind) -> Value {
        render_schema(&self.entity(kind).schema)
    }

    /// `GET /schemas/plugins/{name}`; `None` when the plugin is not enabled.
    pub fn render_plugin_schema(&self, name: &str) -> Option<Value> {
        self.plugin(name).map(|p| render_schema(&p.schema))
    }
}

/// `{"fields": [...], "entity_checks": [...]}` for a schema.
pub fn render_schema(schema: &Schema) -> Value {
    json!({
        "fields": render_fields(&schema.fields),
        "entity_checks": schema.entity_checks.iter().map(render_check).collect::<Vec<_>>(),
    })
}

fn render_fields(fields: &[(&'static str, Field)]) -> Value {
    Value::Array(
        fields
            .iter()
            .map(|(name, field)| json!({ *name: render_field(field) }))
            .collect(),
    )
}

fn strings(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|s| Value::from(*s)).collect())
}

/// One field definition as Kong renders it.
pub fn render_field(field: &Field) -> Value {
    let mut out = Map::new();
    let mut put = |k: &str, v: Value| {
        out.insert(k.to_string(), v);
    };
    put("type", Value::from(field.kind.name()));
    if let Some(required) = field.required {
        put("required", Value::Bool(required));
    }
    if let Some(default) = &field.default {
        put("default", default.clone());
    }
    for (flag, name) in [
        (field.auto, "auto"),
        (field.unique, "unique"),
        (field.uuid, "uuid"),
        (field.timestamp, "timestamp"),
        (field.immutable, "immutable"),
        (field.transient, "transient"),
        (field.referenceable, "referenceable"),
        (field.encrypted, "encrypted"),
        (field.abstract_, "abstract"),
    ] {
        if flag {
            put(name, Value::Bool(true));
        }
    }
    if let FieldType::Foreign(reference) = field.kind {
        put("reference", Value::from(reference));
    }
    if let Some(action) = field.on_delete {
        put("on_delete", Value::from(action));
    }
    if let Some(v) = &field.eq {
        put("eq", v.clone());
    }
    if let Some(v) = &field.ne {
        put("ne", v.clone());
    }
    if let Some(v) = &field.one_of {
        put("one_of", Value::Array(v.clone()));
    }
    if let Some(v) = &field.not_one_of {
        put("not_one_of", Value::Array(v.clone()));
    }
    if let Some(v) = field.gt {
        put("gt", number_value(v));
    }
    if let Some((min, max)) = field.between {
        put("between", json!([number_value(min), number_value(max)]));
    }
    for (value, name) in [
        (field.len_eq, "len_eq"),
        (field.len_min, "len_min"),
        (field.len_max, "len_max"),
    ] {
        if let Some(n) = value {
            put(name, Value::from(n));
        }
    }
    if let Some(v) = field.starts_with {
        put("starts_with", Value::from(v));
    }
    if let Some(v) = field.match_ {
        put("match", Value::from(v));
    }
    if let Some(v) = field.not_match {
        put("not_match", Value::from(v));
    }
    let rules = |rules: &[super::field::PatternRule]| {
        Value::Array(
            rules
                .iter()
                .map(|r| json!({"pattern": r.pattern, "err": r.err}))
                .collect(),
        )
    };
    if !field.match_all.is_empty() {
        put("match_all", rules(&field.match_all));
    }
    if !field.match_none.is_empty() {
        put("match_none", rules(&field.match_none));
    }
    if let Some(any) = &field.match_any {
        put(
            "match_any",
            json!({"patterns": any.patterns, "err": any.err}),
        );
    }
    if let Some(v) = &field.contains {
        put("contains", v.clone());
    }
    if let Some(subsets) = &field.mutually_exclusive_subsets {
        put(
            "mutually_exclusive_subsets",
            Value::Array(subsets.iter().map(|s| strings(s)).collect()),
        );
    }
    if let Some(err) = field.err {
        put("err", Value::from(err));
    }
    match &field.kind {
        FieldType::Array(elements) | FieldType::Set(elements) => {
            put("elements", render_field(elements));
        }
        FieldType::Map { keys, values } => {
            put("keys", render_field(keys));
            put("values", render_field(values));
        }
        FieldType::Record(schema) => {
            put("fields", render_fields(&schema.fields));
            if !schema.entity_checks.is_empty() {
                put(
                    "entity_checks",
                    Value::Array(schema.entity_checks.iter().map(render_check).collect()),
                );
            }
        }
        _ => {}
    }
    Value::Object(out)
}

fn render_match(m: &Match) -> Value {
    let mut out = Map::new();
    for attr in &m.attrs {
        let (k, v) = match attr {
            MatchAttr::Required => ("required", Value::Bool(true)),
            MatchAttr::Eq(v) => ("eq", v.clone()),
            MatchAttr::Ne(v) => ("ne", v.clone()),
            MatchAttr::OneOf(v) => ("one_of", Value::Array(v.clone())),
            MatchAttr::NotOneOf(v) => ("not_one_of", Value::Array(v.clone())),
            MatchAttr::Pattern(p) => ("match", Value::from(*p)),
            MatchAttr::MatchAny(any) => ("match_any", json!({"patterns": any.patterns})),
            MatchAttr::Contains(v) => ("contains", v.clone()),
            MatchAttr::LenEq(n) => ("len_eq", Value::from(*n)),
            MatchAttr::Gt(n) => ("gt", number_value(*n)),
            MatchAttr::Elements(f) => ("elements", render_field(f)),
            MatchAttr::Custom(_) => continue,
        };
        out.insert(k.to_string(), v);
    }
    Value::Object(out)
}

fn render_check(check: &EntityCheck) -> Value {
    match check {
        EntityCheck::AtLeastOneOf(f) => json!({"at_least_one_of": f}),
        EntityCheck::OnlyOneOf(f) => json!({"only_one_of": f}),
        EntityCheck::Distinct(f) => json!({"distinct": f}),
        EntityCheck::MutuallyRequired(f) => json!({"mutually_required": f}),
        EntityCheck::MutuallyExclusive(f) => json!({"mutually_exclusive": f}),
        EntityCheck::MutuallyExclusiveSets { set1, set2 } => {
            json!({"mutually_exclusive_sets": {"set1": set1, "set2": set2}})
        }
        EntityCheck::Conditional {
            if_field,
            if_match,
            then_field,
            then_match,
            then_err,
        } => {
            let mut arg = Map::new();
            arg.insert("if_field".into(), Value::from(*if_field));
            arg.insert("if_match".into(), render_match(if_match));
            arg.insert("then_field".into(), Value::from(*then_field));
            arg.insert("then_match".into(), render_match(then_match));
            if let Some(e) = then_err {
                arg.insert("then_err".into(), Value::from(*e));
            }
            json!({"conditional": arg})
        }
        EntityCheck::ConditionalAtLeastOneOf {
            if_field,
            if_match,
            then_at_least_one_of,
            then_err,
            else_match,
            else_then_at_least_one_of,
            else_then_err,
        } => {
            let mut arg = Map::new();
            arg.insert("if_field".into(), Value::from(*if_field));
            arg.insert("if_match".into(), render_match(if_match));
            arg.insert("then_at_least_one_of".into(), strings(then_at_least_one_of));
            if let Some(e) = then_err {
                arg.insert("then_err".into(), Value::from(*e));
            }
            if let Some(m) = else_match {
                arg.insert("else_match".into(), render_match(m));
            }
            if !else_then_at_least_one_of.is_empty() {
                arg.insert(
                    "else_then_at_least_one_of".into(),
                    strings(else_then_at_least_one_of),
                );
            }
            if let Some(e) = else_then_err {
                arg.insert("else_then_err".into(), Value::from(*e));
            }
            json!({"conditional_at_least_one_of": arg})
        }
        EntityCheck::Custom {
            field_sources,
            run_with_missing_fields,
            ..
        } => {
            let mut arg = Map::new();
            arg.insert("field_sources".into(), strings(field_sources));
            if *run_with_missing_fields {
                arg.insert("run_with_missing_fields".into(), Value::Bool(true));
            }
            json!({"custom_entity_check": arg})
        }
    }
}
