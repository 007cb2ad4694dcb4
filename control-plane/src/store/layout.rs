//! How each entity kind maps onto its table: which columns mirror which entity fields, and
//! which constraint names mean what.
//!
//! Everything here is derived from `common::model::EntityKind` with fixed naming rules that
//! the SQL migrations follow (`<table>_<columns>_key`, `<table>_<column>_fkey`,
//! `<table>_<field>` for id-array tables). The store-level tests insert conflicting and
//! dangling entities of every kind, so a migration that drifts from these rules fails them.

use std::sync::LazyLock;

use common::model::{EntityKind, ForeignKey, IdArrayReference};
use serde_json::Value;
use uuid::Uuid;

use super::Entity;
use super::error::StoreError;

/// Where the value of an extra column comes from.
#[derive(Debug, Clone)]
pub(crate) enum ColumnSource {
    /// A string field of the entity (`name`, `custom_id`, ...).
    Field(&'static str),
    /// The `id` inside a foreign field (`service` → `service_id`).
    Foreign(ForeignKey),
    /// Kong's `cache_key`: a composite unique key in which an absent value is a value of its
    /// own (so two global plugins of one name collide), stored as one text.
    CacheKey(&'static [&'static str]),
}

#[derive(Debug, Clone)]
pub(crate) struct Column {
    pub name: String,
    pub source: ColumnSource,
}

#[derive(Debug, Clone)]
pub(crate) struct UniqueConstraint {
    pub name: String,
    pub fields: &'static [&'static str],
    pub columns: Vec<String>,
}

/// A table holding the ids of an id-array field as rows (`services_ca_certificates`).
#[derive(Debug, Clone)]
pub(crate) struct IdArrayTable {
    pub table: String,
    pub reference: IdArrayReference,
    pub referenced_fkey: String,
}

#[derive(Debug)]
pub(crate) struct Layout {
    pub kind: EntityKind,
    pub table: &'static str,
    /// Columns besides `id`, `created_at` and `entity`.
    pub columns: Vec<Column>,
    pub uniques: Vec<UniqueConstraint>,
    pub id_arrays: Vec<IdArrayTable>,
}

/// What a violated constraint stands for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ConstraintMeaning {
    PrimaryKey(EntityKind),
    Unique(EntityKind, &'static [&'static str]),
    Foreign(EntityKind, ForeignKey),
    IdArray(EntityKind, IdArrayReference),
}

static LAYOUTS: LazyLock<Vec<Layout>> =
    LazyLock::new(|| EntityKind::ALL.into_iter().map(build_layout).collect());

pub(crate) fn layout(kind: EntityKind) -> &'static Layout {
    LAYOUTS
        .iter()
        .find(|l| l.kind == kind)
        .unwrap_or_else(|| unreachable!("every kind has a layout"))
}

fn fk_column(field: &str) -> String {
    format!("{field}_id")
}

fn foreign_key(kind: EntityKind, field: &str) -> Option<ForeignKey> {
    kind.foreign_keys()
        .iter()
        .copied()
        .find(|f| f.field == field)
}

/// Adds a column unless one of that name is there already (a field can be both unique and
/// part of a composite key).
fn add(columns: &mut Vec<Column>, column: Column) {
    if !columns.iter().any(|c| c.name == column.name) {
        columns.push(column);
    }
}

fn build_layout(kind: EntityKind) -> Layout {
    let table = kind.name();
    let mut columns: Vec<Column> = Vec::new();
    let mut uniques = Vec::new();
    for set in kind.unique_fields() {
        // A composite key with an optional reference compares "absent" as equal: cache_key.
        let nullable_reference = set.len() > 1
            && set
                .iter()
                .any(|f| foreign_key(kind, f).is_some_and(|fk| !fk.required));
        let set_columns: Vec<String> = if nullable_reference {
            add(
                &mut columns,
                Column {
                    name: "cache_key".into(),
                    source: ColumnSource::CacheKey(set),
                },
            );
            vec!["cache_key".into()]
        } else {
            set.iter()
                .map(|field| match foreign_key(kind, field) {
                    Some(fk) => {
                        add(
                            &mut columns,
                            Column {
                                name: fk_column(field),
                                source: ColumnSource::Foreign(fk),
                            },
                        );
                        fk_column(field)
                    }
                    None => {
                        add(
                            &mut columns,
                            Column {
                                name: (*field).to_string(),
                                source: ColumnSource::Field(field),
                            },
                        );
                        (*field).to_string()
                    }
                })
                .collect()
        };
        uniques.push(UniqueConstraint {
            name: format!("{table}_{}_key", set_columns.join("_")),
            fields: set,
            columns: set_columns,
        });
    }
    for fk in kind.foreign_keys() {
        add(
            &mut columns,
            Column {
                name: fk_column(fk.field),
                source: ColumnSource::Foreign(*fk),
            },
        );
    }
    let id_arrays = kind
        .id_array_references()
        .iter()
        .map(|reference| {
            let join = format!("{table}_{}", reference.field);
            IdArrayTable {
                referenced_fkey: format!("{join}_referenced_id_fkey"),
                table: join,
                reference: *reference,
            }
        })
        .collect();
    Layout {
        kind,
        table,
        columns,
        uniques,
        id_arrays,
    }
}

impl Layout {
    pub fn column_for_field(&self, field: &str) -> Option<&Column> {
        self.columns.iter().find(|c| match c.source {
            ColumnSource::Field(f) => f == field,
            ColumnSource::Foreign(fk) => fk.field == field,
            ColumnSource::CacheKey(_) => false,
        })
    }

    pub fn fkey_name(&self, fk: &ForeignKey) -> String {
        format!("{}_{}_fkey", self.table, fk_column(fk.field))
    }
}

/// The meaning of a constraint Postgres names in an error.
pub(crate) fn constraint_by_name(name: &str) -> Option<ConstraintMeaning> {
    for l in LAYOUTS.iter() {
        if name == format!("{}_pkey", l.table) {
            return Some(ConstraintMeaning::PrimaryKey(l.kind));
        }
        for u in &l.uniques {
            if u.name == name {
                return Some(ConstraintMeaning::Unique(l.kind, u.fields));
            }
        }
        for fk in l.kind.foreign_keys() {
            if l.fkey_name(fk) == name {
                return Some(ConstraintMeaning::Foreign(l.kind, *fk));
            }
        }
        for a in &l.id_arrays {
            if a.referenced_fkey == name {
                return Some(ConstraintMeaning::IdArray(l.kind, a.reference));
            }
        }
    }
    None
}

/// The meaning of a unique constraint SQLite reports as `table.col, table.col`.
pub(crate) fn unique_by_columns(table: &str, columns: &[&str]) -> Option<ConstraintMeaning> {
    let l = LAYOUTS.iter().find(|l| l.table == table)?;
    if columns == ["id"] {
        return Some(ConstraintMeaning::PrimaryKey(l.kind));
    }
    l.uniques
        .iter()
        .find(|u| {
            u.columns
                .iter()
                .map(String::as_str)
                .eq(columns.iter().copied())
        })
        .map(|u| ConstraintMeaning::Unique(l.kind, u.fields))
}

/// A column value extracted from an entity.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ColumnValue {
    Text(Option<String>),
    Uuid(Option<Uuid>),
}

fn invalid(kind: EntityKind, message: String) -> StoreError {
    StoreError::InvalidEntity { kind, message }
}

/// The `id` of an entity, which must be a UUID string.
pub(crate) fn entity_id(kind: EntityKind, entity: &Entity) -> Result<Uuid, StoreError> {
    entity
        .get("id")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| invalid(kind, "'id' must be a UUID string".into()))
}

/// The id inside a foreign field (`{"id": "<uuid>"}`), or `None` when the field is absent/null.
pub(crate) fn foreign_id(
    kind: EntityKind,
    entity: &Entity,
    field: &str,
) -> Result<Option<Uuid>, StoreError> {
    match entity.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(reference)) => reference
            .get("id")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
            .map(Some)
            .ok_or_else(|| invalid(kind, format!("'{field}.id' must be a UUID string"))),
        Some(_) => Err(invalid(
            kind,
            format!("'{field}' must be an object with an 'id'"),
        )),
    }
}

fn string_field(
    kind: EntityKind,
    entity: &Entity,
    field: &str,
) -> Result<Option<String>, StoreError> {
    match entity.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(kind, format!("'{field}' must be a string"))),
    }
}

pub(crate) fn column_value(
    kind: EntityKind,
    entity: &Entity,
    column: &Column,
) -> Result<ColumnValue, StoreError> {
    Ok(match &column.source {
        ColumnSource::Field(field) => ColumnValue::Text(string_field(kind, entity, field)?),
        ColumnSource::Foreign(fk) => ColumnValue::Uuid(foreign_id(kind, entity, fk.field)?),
        ColumnSource::CacheKey(fields) => {
            let mut parts = Vec::with_capacity(fields.len());
            for field in fields.iter() {
                parts.push(match foreign_key(kind, field) {
                    Some(_) => foreign_id(kind, entity, field)?
                        .map(|id| Value::String(id.to_string()))
                        .unwrap_or(Value::Null),
                    None => entity.get(*field).cloned().unwrap_or(Value::Null),
                });
            }
            // A JSON array is unambiguous whatever characters the values contain.
            ColumnValue::Text(Some(Value::Array(parts).to_string()))
        }
    })
}

/// The entity's tags, deduplicated (Kong's `tags` is a set).
pub(crate) fn entity_tags(kind: EntityKind, entity: &Entity) -> Result<Vec<String>, StoreError> {
    let mut tags: Vec<String> = match entity.get("tags") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|t| {
                t.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| invalid(kind, "'tags' must hold strings".into()))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(invalid(kind, "'tags' must be an array".into())),
    };
    tags.sort();
    tags.dedup();
    Ok(tags)
}

/// The ids of an id-array field, deduplicated.
pub(crate) fn id_array(
    kind: EntityKind,
    entity: &Entity,
    field: &str,
) -> Result<Vec<Uuid>, StoreError> {
    let mut ids: Vec<Uuid> = match entity.get(field) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .and_then(|s| Uuid::parse_str(s).ok())
                    .ok_or_else(|| invalid(kind, format!("'{field}' must hold UUID strings")))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(invalid(kind, format!("'{field}' must be an array"))),
    };
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// The values of a unique field set as Kong reports them in a unique violation.
pub(crate) fn unique_values(entity: &Entity, fields: &[&str]) -> Entity {
    fields
        .iter()
        .map(|f| {
            (
                (*f).to_string(),
                entity.get(*f).cloned().unwrap_or(Value::Null),
            )
        })
        .collect()
}

/// `created_at` as stored in its column (seconds; 0 when absent).
pub(crate) fn created_at(entity: &Entity) -> i64 {
    entity
        .get("created_at")
        .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_scope_is_a_cache_key_and_targets_a_composite() {
        let plugins = layout(EntityKind::Plugin);
        let names: Vec<&str> = plugins.uniques.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(
            names,
            ["plugins_instance_name_key", "plugins_cache_key_key"]
        );
        let targets = layout(EntityKind::Target);
        assert_eq!(targets.uniques[0].name, "targets_upstream_id_target_key");
        assert_eq!(
            layout(EntityKind::AclGroup).uniques[0].name,
            "acls_consumer_id_group_key"
        );
    }

    #[test]
    fn constraint_names_resolve() {
        assert!(matches!(
            constraint_by_name("routes_service_id_fkey"),
            Some(ConstraintMeaning::Foreign(EntityKind::Route, fk)) if fk.field == "service"
        ));
        assert!(matches!(
            constraint_by_name("services_ca_certificates_referenced_id_fkey"),
            Some(ConstraintMeaning::IdArray(EntityKind::Service, _))
        ));
        assert!(matches!(
            unique_by_columns("acls", &["consumer_id", "group"]),
            Some(ConstraintMeaning::Unique(EntityKind::AclGroup, _))
        ));
        assert!(matches!(
            unique_by_columns("services", &["id"]),
            Some(ConstraintMeaning::PrimaryKey(EntityKind::Service))
        ));
    }

    #[test]
    fn cache_key_treats_absent_scopes_as_equal() {
        let plugins = layout(EntityKind::Plugin);
        let column = plugins
            .columns
            .iter()
            .find(|c| c.name == "cache_key")
            .expect("cache_key column");
        let entity = |v: Value| v.as_object().cloned().expect("object");
        let a = column_value(
            EntityKind::Plugin,
            &entity(serde_json::json!({"name": "cors", "route": null})),
            column,
        );
        let b = column_value(
            EntityKind::Plugin,
            &entity(serde_json::json!({"name": "cors"})),
            column,
        );
        assert_eq!(a.ok(), b.ok());
    }
}
