//! Flat entities back to a declarative document (`portico-cp config export`).
//!
//! The document is `_format_version: "3.0"` with `_transform: false`, as Kong's
//! `kong config db_export` writes it: values are exported as stored (a basic-auth password
//! is already hashed), so importing the file must not transform them again. Entities are
//! nested the way decK nests them: SNIs in their certificate, routes in their service,
//! targets in their upstream, credentials in their consumer, and a plugin scoped to exactly
//! one route, service or consumer in that entity; everything else is listed at the top
//! level with references as ids. Ids are kept, timestamps dropped, `null` fields omitted
//! (unless importing the file would turn the omitted null into a non-null default), object
//! keys sorted. Lists are ordered by creation time, then endpoint key, then id: importing
//! into an empty database gives every entity the same timestamp, so routes that Kong
//! orders by age keep their relative order through the file's order.
//!
//! Importing the rendered document gives back the same entities, with the same ids.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};

use super::ids::sort_keys;
use crate::model::EntityKind;
use crate::schema::{Field, Schema, catalog};

/// Renders entities as declarative YAML.
pub fn render(entities: &[(EntityKind, Map<String, Value>)]) -> String {
    let document = render_value(entities);
    serde_yaml_ng::to_string(&document)
        // JSON is YAML too; serialising a JSON value to YAML does not fail in practice.
        .unwrap_or_else(|_| serde_json::to_string_pretty(&document).unwrap_or_default())
}

type EntityKey = (EntityKind, String);

/// An entity's place in a list: its kind, sort key and id.
#[derive(Debug, Clone)]
struct Listed {
    kind: EntityKind,
    order: (f64, String, String),
    id: String,
}

type Children = HashMap<EntityKey, Vec<Listed>>;

/// Where an entity is listed: in another entity (its kind, id and the field of the child
/// that points at it), or at the top level.
fn parent_of(
    kind: EntityKind,
    entity: &Map<String, Value>,
    present: &HashSet<EntityKey>,
) -> Option<(EntityKey, &'static str)> {
    let reference = |field: &str| {
        entity
            .get(field)
            .and_then(|v| v.get("id"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let candidates: Vec<(&'static str, EntityKind)> = match kind {
        EntityKind::Sni => vec![("certificate", EntityKind::Certificate)],
        EntityKind::Route => vec![("service", EntityKind::Service)],
        EntityKind::Target => vec![("upstream", EntityKind::Upstream)],
        k if k.is_credential() => vec![("consumer", EntityKind::Consumer)],
        EntityKind::Plugin => {
            let scopes: Vec<(&'static str, EntityKind)> = [
                ("route", EntityKind::Route),
                ("service", EntityKind::Service),
                ("consumer", EntityKind::Consumer),
            ]
            .into_iter()
            .filter(|(field, _)| reference(field).is_some())
            .collect();
            if scopes.len() == 1 {
                scopes
            } else {
                Vec::new()
            }
        }
        _ => Vec::new(),
    };
    candidates.into_iter().find_map(|(field, parent_kind)| {
        let key = (parent_kind, reference(field)?);
        present.contains(&key).then_some((key, field))
    })
}

/// The order of a list: creation time, endpoint key, id.
fn order_key(kind: EntityKind, entity: &Map<String, Value>) -> (f64, String, String) {
    let text = |field: &str| {
        entity
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let created = entity
        .get("created_at")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    (
        created,
        kind.endpoint_key().map(text).unwrap_or_default(),
        text("id"),
    )
}

/// Whether importing an entity without this field gives it `null` again: no default (or
/// a null one) and not required (`process_auto_fields` fills an absent field with its
/// default, else null when optional).
fn null_by_default(field: &Field) -> bool {
    matches!(field.default, None | Some(Value::Null)) && !field.is_required()
}

/// `map` without the nulls that importing would restore, recursively through records
/// (plugin `config` through the plugin's subschema). Nulls of unknown fields, inside
/// arrays, or of fields with a non-null default are kept.
fn strip_nulls(schema: &Schema, map: &Map<String, Value>) -> Map<String, Value> {
    let subschema = schema.subschema_for(map);
    let mut out = Map::with_capacity(map.len());
    for (key, value) in map {
        let field = subschema
            .and_then(|s| s.get(key))
            .or_else(|| schema.get(key));
        match (value, field) {
            (Value::Null, Some(field)) if null_by_default(field) => {}
            (Value::Object(inner), Some(field)) if field.record_schema().is_some() => {
                let record = field.record_schema().map(|r| strip_nulls(r, inner));
                out.insert(key.clone(), Value::Object(record.unwrap_or_default()));
            }
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    out
}

/// The entity as exported: without timestamps, transient fields and the nulls importing
/// would restore.
fn clean(kind: EntityKind, entity: &Map<String, Value>) -> Map<String, Value> {
    let schema = catalog().entity(kind);
    let mut entity = strip_nulls(&schema.schema, entity);
    for field in ["created_at", "updated_at"]
        .into_iter()
        .chain(schema.transient_fields())
    {
        entity.remove(field);
    }
    entity
}

/// Renders entities as a declarative document (see the module docs).
pub fn render_value(entities: &[(EntityKind, Map<String, Value>)]) -> Value {
    let present: HashSet<EntityKey> = entities
        .iter()
        .filter_map(|(kind, e)| Some((*kind, e.get("id")?.as_str()?.to_string())))
        .collect();
    let mut rendered: HashMap<EntityKey, Map<String, Value>> = HashMap::new();
    let mut children: Children = HashMap::new();
    let mut top: Vec<Listed> = Vec::new();
    for (index, (kind, entity)) in entities.iter().enumerate() {
        // Entities without a string id cannot be referenced; key them by position.
        let id = entity
            .get("id")
            .and_then(Value::as_str)
            .map_or_else(|| format!("#{index}"), str::to_string);
        let mut value = clean(*kind, entity);
        let order = order_key(*kind, entity);
        // Every reference but the one nesting expresses is written as a plain id (a nested
        // mtls-auth credential's `ca_certificate`, a top-level route's `service`).
        for fk in kind.foreign_keys() {
            if let Some(Value::String(id)) = value.get(fk.field).and_then(|v| v.get("id")) {
                let id = id.clone();
                value.insert(fk.field.into(), Value::String(id));
            }
        }
        match parent_of(*kind, entity, &present) {
            Some((parent, field)) => {
                value.remove(field);
                children.entry(parent).or_default().push(Listed {
                    kind: *kind,
                    order,
                    id: id.clone(),
                });
            }
            None => {
                top.push(Listed {
                    kind: *kind,
                    order,
                    id: id.clone(),
                });
            }
        }
        rendered.insert((*kind, id), value);
    }

    let mut document = Map::new();
    document.insert("_format_version".into(), json!("3.0"));
    document.insert("_transform".into(), json!(false));
    let mut kinds: Vec<EntityKind> = EntityKind::ALL.to_vec();
    kinds.sort_by_key(|k| k.name());
    for kind in kinds {
        let mut list: Vec<&Listed> = top.iter().filter(|l| l.kind == kind).collect();
        if list.is_empty() {
            continue;
        }
        list.sort_by(|a, b| a.order.partial_cmp(&b.order).unwrap_or(Ordering::Equal));
        let values = list
            .into_iter()
            .map(|l| build(l.kind, &l.id, &mut rendered, &children))
            .collect();
        document.insert(kind.name().into(), Value::Array(values));
    }
    Value::Object(document)
}

/// An entity with its nested lists, keys sorted.
fn build(
    kind: EntityKind,
    id: &str,
    rendered: &mut HashMap<EntityKey, Map<String, Value>>,
    children: &Children,
) -> Value {
    let key = (kind, id.to_string());
    let mut value = rendered.remove(&key).unwrap_or_default();
    if let Some(kids) = children.get(&key) {
        let mut kids: Vec<&Listed> = kids.iter().collect();
        kids.sort_by(|a, b| {
            (a.kind, &a.order)
                .partial_cmp(&(b.kind, &b.order))
                .unwrap_or(Ordering::Equal)
        });
        for kid in kids {
            let child_kind = kid.kind;
            let child = build(child_kind, &kid.id, rendered, children);
            let list = value
                .entry(child_kind.name())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(items) = list {
                items.push(child);
            }
        }
    }
    sort_keys(&Value::Object(value))
}
