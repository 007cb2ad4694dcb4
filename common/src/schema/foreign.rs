//! Foreign references given by endpoint key (`"service": {"name": "x"}`): which lookups
//! the store must make before validation, and Kong's `foreign keys unresolved` error
//! (code 13) when they find nothing.

use serde_json::{Map, Value, json};

use super::catalog::Catalog;
use super::errors::lua_compact;
use super::validate::{ValidationCtx, is_uuid, validate_field};
use crate::model::EntityKind;

/// A foreign field whose value lacks a valid `id` but names the entity by a unique field.
#[derive(Debug, Clone, PartialEq)]
pub struct ForeignLookup {
    /// The referencing field (`"service"`).
    pub field: &'static str,
    pub references: EntityKind,
    /// Unique fields of the referenced entity with the values given, in schema order:
    /// the first one that finds an entity wins (`[("name", "my-svc")]`).
    pub candidates: Vec<(&'static str, Value)>,
}

/// Kong's `foreign keys unresolved` error.
#[derive(Debug, Clone, PartialEq)]
pub struct ForeignKeysUnresolved {
    pub lookups: Vec<ForeignLookup>,
}

impl Catalog {
    /// The foreign references of `input` that must be resolved through a lookup before
    /// the entity is processed. The store replaces each with `{"id": <found id>}`, or
    /// fails with [`ForeignKeysUnresolved`] when no candidate finds an entity.
    pub fn foreign_lookups(
        &self,
        kind: EntityKind,
        input: &Map<String, Value>,
    ) -> Vec<ForeignLookup> {
        let schema = &self.entity(kind).schema;
        let ctx = ValidationCtx {
            lookup: self,
            updating: false,
        };
        let mut out = Vec::new();
        for (name, field) in &schema.fields {
            let super::field::FieldType::Foreign(reference) = field.kind else {
                continue;
            };
            let Some(Value::Object(value)) = input.get(*name) else {
                continue;
            };
            if value.get("id").and_then(Value::as_str).is_some_and(is_uuid) {
                continue;
            }
            let Some(target) = self.entity_by_name(reference) else {
                continue;
            };
            let endpoint_key = target.kind.endpoint_key();
            let candidates: Vec<(&'static str, Value)> = target
                .schema
                .fields
                .iter()
                .filter(|(n, f)| f.unique || Some(*n) == endpoint_key)
                .filter_map(|(n, f)| {
                    let v = value.get(*n).filter(|v| !v.is_null())?;
                    validate_field(f, v, ctx).ok()?;
                    Some((*n, v.clone()))
                })
                .collect();
            if !candidates.is_empty() {
                out.push(ForeignLookup {
                    field: name,
                    references: target.kind,
                    candidates,
                });
            }
        }
        out
    }
}

impl ForeignKeysUnresolved {
    pub const CODE: u32 = 13;
    pub const NAME: &'static str = "foreign keys unresolved";

    fn entries(&self) -> Vec<(String, String, String)> {
        let mut entries = Vec::new();
        for lookup in &self.lookups {
            for (key, value) in &lookup.candidates {
                let shown = lua_compact(&json!({ *key: value }));
                entries.push((
                    lookup.field.to_string(),
                    key.to_string(),
                    format!(
                        "the foreign key cannot be resolved with '{shown}' for an existing '{}' entity",
                        lookup.references.name()
                    ),
                ));
            }
        }
        entries.sort();
        entries
    }

    /// `foreign key unresolved (service.name: ...)` or `N foreign keys unresolved (...)`.
    pub fn message(&self) -> String {
        let parts: Vec<String> = self
            .entries()
            .into_iter()
            .map(|(f, k, m)| format!("{f}.{k}: {m}"))
            .collect();
        if parts.len() == 1 {
            format!("foreign key unresolved ({})", parts[0])
        } else {
            format!(
                "{} foreign keys unresolved ({})",
                parts.len(),
                parts.join("; ")
            )
        }
    }

    pub fn to_json(&self) -> Value {
        let mut fields = Map::new();
        for (f, k, m) in self.entries() {
            let entry = fields.entry(f).or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(inner) = entry {
                inner.insert(k, Value::String(m));
            }
        }
        json!({
            "code": Self::CODE,
            "name": Self::NAME,
            "message": self.message(),
            "fields": fields,
        })
    }
}
