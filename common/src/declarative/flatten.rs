//! From a decoded document to flat, validated entities (Kong's `DeclarativeConfig:flatten`),
//! in Kong's three phases, each collecting every error it finds:
//!
//! 1. Metadata and schema validation of every entity (defaults filled, shorthands
//!    expanded), with references resolved first. Errors sit at each entity's position.
//! 2. Uniqueness of endpoint keys and ids within the file (positional), and references
//!    that name nothing declared (keyed by the referencing entity's endpoint key or id).
//! 3. Unique fields across the flat result (`custom_id`, CA digests, a plugin's scope,
//!    an upstream's target, a consumer's ACL group), keyed the same way.
//!
//! A later phase only runs when the earlier ones found nothing, as in Kong.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};

use super::FORMAT_VERSIONS;
use super::collect::{Collect, Item};
use super::errors::{Collector, InvalidConfig, Key};
use super::migrate::migrate_route_paths;
use crate::model::EntityKind;
use crate::schema::{Catalog, ErrorNode, Errors, is_uuid};

/// Stands in for a reference that resolves to nothing, so schema validation still checks
/// the rest of the entity; the reference itself is reported in phase 2.
const UNRESOLVED: &str = "00000000-0000-0000-0000-000000000000";

/// The validated result.
pub(crate) struct Flat {
    pub format_version: String,
    pub transform: bool,
    /// Grouped by kind in `EntityKind::ALL` order, in input order within a kind.
    pub entities: Vec<(EntityKind, Map<String, Value>)>,
}

struct Meta {
    format_version: Option<String>,
    transform: bool,
}

fn metadata(doc: &Map<String, Value>, errors: &mut Collector) -> Meta {
    let format_version = match doc.get("_format_version") {
        None | Some(Value::Null) => {
            errors.general(&[Key::name("_format_version")], "required field missing");
            None
        }
        Some(Value::String(v)) if FORMAT_VERSIONS.contains(&v.as_str()) => Some(v.clone()),
        Some(Value::String(_)) => {
            errors.general(
                &[Key::name("_format_version")],
                format!("expected one of: {}", FORMAT_VERSIONS.join(", ")),
            );
            None
        }
        Some(_) => {
            errors.general(&[Key::name("_format_version")], "expected a string");
            None
        }
    };
    let transform = match doc.get("_transform") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            errors.general(&[Key::name("_transform")], "expected a boolean");
            true
        }
    };
    if doc.get("_comment").is_some_and(|c| !c.is_string()) {
        errors.general(&[Key::name("_comment")], "expected a string");
    }
    if doc.get("_ignore").is_some_and(|c| !c.is_array()) {
        errors.general(&[Key::name("_ignore")], "expected an array");
    }
    for key in doc.keys() {
        // `_info` is decK's (select tags, defaults); Kong never sees it, Portico ignores it.
        let known = [
            "_format_version",
            "_transform",
            "_comment",
            "_ignore",
            "_info",
        ];
        if key.starts_with('_') && !known.contains(&key.as_str()) {
            errors.general(&[Key::name(key)], "unknown field");
        }
    }
    Meta {
        format_version,
        transform,
    }
}

pub(crate) fn flatten(
    mut doc: Map<String, Value>,
    catalog: &Catalog,
) -> Result<Flat, InvalidConfig> {
    let mut collect = Collect::new(catalog);
    let meta = metadata(&doc, &mut collect.errors);
    if matches!(meta.format_version.as_deref(), Some("1.1" | "2.1")) {
        migrate_route_paths(&mut doc);
    }
    collect.document(&doc);
    let Collect { items, errors, .. } = collect;
    let index = Index::build(catalog, &items);
    let mut flattener = Flattener {
        catalog,
        items: &items,
        index: &index,
        transform: meta.transform,
    };

    // Phase 1.
    let mut phase1 = errors;
    let mut reference_errors = Vec::new();
    let mut outputs: Vec<Option<Map<String, Value>>> = Vec::with_capacity(items.len());
    for i in 0..items.len() {
        outputs.push(flattener.validate(i, &mut phase1, &mut reference_errors));
    }
    if !phase1.is_empty() {
        return Err(phase1.finish());
    }
    let Some(format_version) = meta.format_version else {
        return Err(phase1.finish());
    };

    // Phase 2.
    let mut phase2 = Collector::default();
    for (i, message) in &index.duplicates {
        phase2.at_position(*i, &items[*i].origin, message.clone());
    }
    for (i, message) in reference_errors {
        let at = flattener.error_key(i);
        phase2.keyed_list(i, &items[i].origin, &at, message);
    }
    if !phase2.is_empty() {
        return Err(phase2.finish());
    }

    // Phase 3.
    let outputs: Vec<Map<String, Value>> = outputs.into_iter().flatten().collect();
    let phase3 = flattener.unique_fields(&outputs);
    if !phase3.is_empty() {
        return Err(phase3.finish());
    }

    let mut entities: Vec<(EntityKind, Map<String, Value>)> =
        items.iter().map(|item| item.kind).zip(outputs).collect();
    let position = |k: EntityKind| EntityKind::ALL.iter().position(|x| *x == k);
    entities.sort_by_key(|(kind, _)| position(*kind));
    Ok(Flat {
        format_version,
        transform: meta.transform,
        entities,
    })
}

/// Every item by id and by unique endpoint key (first declaration wins), and the
/// duplicates found on the way.
struct Index {
    by_id: HashMap<EntityKind, HashMap<String, usize>>,
    by_key: HashMap<EntityKind, HashMap<String, usize>>,
    /// Phase-2 uniqueness violations: (item, message).
    duplicates: Vec<(usize, String)>,
}

fn uniqueness_message(kind: EntityKind, field: &str, value: &str) -> String {
    format!(
        "uniqueness violation: '{}' entity with {field} set to '{value}' already declared",
        kind.name()
    )
}

/// The endpoint key of a kind when Kong treats it as unique (lookups by it are exact).
fn unique_endpoint_key(catalog: &Catalog, kind: EntityKind) -> Option<&'static str> {
    kind.endpoint_key().filter(|key| {
        catalog
            .entity(kind)
            .schema
            .get(key)
            .is_some_and(|f| f.unique)
    })
}

impl Index {
    fn build(catalog: &Catalog, items: &[Item]) -> Index {
        let mut index = Index {
            by_id: HashMap::new(),
            by_key: HashMap::new(),
            duplicates: Vec::new(),
        };
        for (i, item) in items.iter().enumerate() {
            let mut failed = false;
            if let Some(field) = unique_endpoint_key(catalog, item.kind)
                && let Some(Value::String(key)) = item.input.get(field)
            {
                let keys = index.by_key.entry(item.kind).or_default();
                if keys.contains_key(key) {
                    index
                        .duplicates
                        .push((i, uniqueness_message(item.kind, field, key)));
                    failed = true;
                } else {
                    keys.insert(key.clone(), i);
                }
            }
            if let Some(id) = &item.id {
                let ids = index.by_id.entry(item.kind).or_default();
                if !ids.contains_key(id) {
                    ids.insert(id.clone(), i);
                } else if !failed {
                    index
                        .duplicates
                        .push((i, uniqueness_message(item.kind, "primary key", id)));
                }
            }
        }
        index
    }

    /// Kong's `find_entity`: by endpoint key first, then by id.
    fn find(&self, kind: EntityKind, key: &str) -> Option<usize> {
        self.by_key
            .get(&kind)
            .and_then(|m| m.get(key))
            .or_else(|| self.by_id.get(&kind).and_then(|m| m.get(key)))
            .copied()
    }
}

struct Flattener<'a> {
    catalog: &'a Catalog,
    items: &'a [Item],
    index: &'a Index,
    transform: bool,
}

fn merge(into: &mut Errors, from: Errors) {
    into.entity.extend(from.entity);
    into.fields.extend(from.fields);
}

fn reference_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

impl Flattener<'_> {
    /// The id of the entity a reference names: a string (endpoint key or id), `{id}`, or
    /// (Portico) an object with the endpoint key (`{name: "svc"}`).
    fn resolve(&self, kind: EntityKind, value: &Value) -> Option<String> {
        let found = match value {
            Value::String(key) => self.index.find(kind, key),
            Value::Object(map) => match map.get("id") {
                Some(Value::String(id)) => self.index.find(kind, id),
                Some(_) => None,
                None => {
                    let field = unique_endpoint_key(self.catalog, kind)?;
                    match map.get(field) {
                        Some(Value::String(key)) => self
                            .index
                            .by_key
                            .get(&kind)
                            .and_then(|m| m.get(key))
                            .copied(),
                        _ => None,
                    }
                }
            },
            _ => None,
        };
        found.and_then(|i| self.items[i].id.clone())
    }

    /// Resolves an item's references and validates it through the schema engine. Returns
    /// the complete entity, or records its errors.
    fn validate(
        &mut self,
        i: usize,
        phase1: &mut Collector,
        reference_errors: &mut Vec<(usize, String)>,
    ) -> Option<Map<String, Value>> {
        let item = &self.items[i];
        let mut input = item.input.clone();
        let mut errors = item.errors.clone();
        for fk in item.kind.foreign_keys() {
            let link = item.parent.filter(|p| p.field == fk.field);
            let from_parent = link.map(|p| {
                let id = self.items[p.index].id.clone().filter(|id| is_uuid(id));
                json!({ "id": id.unwrap_or_else(|| UNRESOLVED.to_string()) })
            });
            let given = input.get(fk.field).filter(|v| !v.is_null()).cloned();
            match given {
                None => {
                    if let Some(parent) = from_parent {
                        input.insert(fk.field.into(), parent);
                    }
                }
                Some(value) => {
                    let reference = match self.resolve(fk.references, &value) {
                        // A nested entity belongs to its parent, whatever it names (Kong).
                        Some(id) => from_parent.unwrap_or_else(|| json!({ "id": id })),
                        None => {
                            if item.parent.is_some() && value.is_string() {
                                errors.set(fk.field, ErrorNode::msg("value must be null"));
                            } else {
                                reference_errors.push((
                                    i,
                                    format!(
                                        "invalid reference '{}: {}' (no such entry in '{}')",
                                        fk.field,
                                        reference_text(&value),
                                        fk.references.name()
                                    ),
                                ));
                            }
                            json!({ "id": UNRESOLVED })
                        }
                    };
                    input.insert(fk.field.into(), reference);
                }
            }
        }
        // Ids in `services.ca_certificates` must name declared CA certificates (the store
        // enforces it; saying so here names the entity).
        for array in item.kind.id_array_references() {
            let Some(Value::Array(ids)) = input.get(array.field) else {
                continue;
            };
            for id in ids
                .iter()
                .filter_map(Value::as_str)
                .filter(|id| is_uuid(id))
            {
                let declared = self
                    .index
                    .by_id
                    .get(&array.references)
                    .is_some_and(|m| m.contains_key(id));
                if !declared {
                    reference_errors.push((
                        i,
                        format!(
                            "invalid reference '{}: {id}' (no such entry in '{}')",
                            array.field,
                            array.references.name()
                        ),
                    ));
                }
            }
        }
        match self.catalog.insert(item.kind, input.clone()) {
            Ok(mut out) if errors.is_empty() => {
                let entity = self.catalog.entity(item.kind);
                for field in entity.transient_fields() {
                    out.remove(field);
                }
                // `_transform: false`: values are stored as given (an exported basic-auth
                // password is already hashed).
                if !self.transform
                    && item.kind == EntityKind::BasicAuthCredential
                    && let Some(password) = input.get("password")
                {
                    out.insert("password".into(), password.clone());
                }
                return Some(out);
            }
            Ok(_) => {}
            Err(violation) => merge(&mut errors, violation.errors),
        }
        phase1.schema(i, &item.origin, &errors);
        None
    }

    /// Where Kong files an entity's keyed errors: its endpoint key, else its id.
    fn error_key(&self, i: usize) -> String {
        let item = &self.items[i];
        unique_endpoint_key(self.catalog, item.kind)
            .and_then(|field| item.input.get(field))
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| item.id.clone())
            .unwrap_or_else(|| i.to_string())
    }

    /// Phase 3: unique fields and unique field combinations across all entities.
    fn unique_fields(&self, outputs: &[Map<String, Value>]) -> Collector {
        let mut errors = Collector::default();
        let mut seen: HashSet<(EntityKind, String, String)> = HashSet::new();
        for (i, (item, out)) in self.items.iter().zip(outputs).enumerate() {
            let kind = item.kind;
            let schema = &self.catalog.entity(kind).schema;
            let mut sets: Vec<Vec<&str>> = schema
                .fields
                .iter()
                .filter(|(_, f)| f.unique)
                .map(|(n, _)| vec![*n])
                .collect();
            sets.extend(
                kind.unique_fields()
                    .iter()
                    .filter(|set| set.len() > 1)
                    .map(|set| set.to_vec()),
            );
            for set in sets {
                let values: Vec<Option<String>> =
                    set.iter().map(|f| unique_value(out.get(*f))).collect();
                // Null never collides, except in a plugin's scope (an absent scope is a
                // value of its own).
                let null_is_a_value = kind == EntityKind::Plugin && set.len() > 1;
                if !null_is_a_value && values.iter().any(Option::is_none) {
                    continue;
                }
                let shown: Vec<String> = values
                    .into_iter()
                    .map(|v| v.unwrap_or_else(|| "null".to_string()))
                    .collect();
                let key = shown.join(", ");
                if !seen.insert((kind, set.join(", "), key.clone())) {
                    let at = self.error_key(i);
                    errors.keyed(
                        i,
                        &item.origin,
                        &at,
                        uniqueness_message(kind, &set.join(", "), &key),
                    );
                }
            }
        }
        errors
    }
}

/// A value as compared for uniqueness: strings as they are, references by id.
fn unique_value(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Object(map) => match map.get("id") {
            Some(Value::String(id)) => Some(id.clone()),
            _ => Some(serde_json::to_string(map).unwrap_or_default()),
        },
        other => Some(other.to_string()),
    }
}
