//! Walking the document: every entity, wherever it is nested, becomes one [`Item`] with
//! its own fields, its place in the input (for errors) and the entity it was nested in.
//! Ids are assigned here too, parents first, since a child's id may depend on its
//! parent's.
//!
//! Nesting follows Kong's rule: an entity kind may be listed inside any kind it has a
//! foreign key to, under its own schema name (`routes` and `plugins` in a service,
//! `plugins` in a route, credentials and `plugins` in a consumer, `targets` in an upstream,
//! `snis` in a certificate, and so on recursively). A nested entity's foreign key to its
//! parent is filled in from the parent.

use serde_json::{Map, Value, json};

use super::errors::{Collector, Key, Origin};
use super::ids::{ContentIds, ParentRef, kong_key, kong_uuid};
use crate::model::EntityKind;
use crate::schema::{Catalog, ErrorNode, Errors, is_uuid};

/// The entity an item is nested in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ParentLink {
    /// Index of the parent item.
    pub index: usize,
    /// The child's foreign-key field that points at the parent.
    pub field: &'static str,
}

/// One entity of the document.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub kind: EntityKind,
    /// The entity's own fields as given (no nested lists or annotations), plus its id.
    pub input: Map<String, Value>,
    pub origin: Origin,
    pub parent: Option<ParentLink>,
    /// The id as a string: as given, or generated. `None` when the given id is not a
    /// string (validation reports it).
    pub id: Option<String>,
    /// Errors found while walking (`_comment` / `_ignore` of the wrong type).
    pub errors: Errors,
}

/// Kong entity types Portico does not implement: an empty list of them is accepted (tools
/// emit `vaults: []`), anything else is refused with a clear message.
const UNSUPPORTED_KINDS: &[&str] = &["workspaces", "vaults", "key_sets", "keys", "filter_chains"];

/// The kinds that may be nested in `parent`, with the foreign field that points back.
pub(crate) fn nested_kinds(parent: EntityKind) -> Vec<(EntityKind, &'static str)> {
    EntityKind::ALL
        .into_iter()
        .flat_map(|child| {
            child
                .foreign_keys()
                .iter()
                .filter(move |fk| fk.references == parent)
                .map(move |fk| (child, fk.field))
        })
        .collect()
}

pub(crate) struct Collect<'a> {
    catalog: &'a Catalog,
    pub items: Vec<Item>,
    pub errors: Collector,
}

impl<'a> Collect<'a> {
    pub(crate) fn new(catalog: &'a Catalog) -> Collect<'a> {
        Collect {
            catalog,
            items: Vec::new(),
            errors: Collector::default(),
        }
    }

    /// Collects the entity lists of the document (keys that are not metadata).
    pub(crate) fn document(&mut self, doc: &Map<String, Value>) {
        for (key, value) in doc {
            // `parameters` holds Kong's node parameters (`cluster_id`), which
            // `kong config db_export` writes; they are not configuration.
            if key.starts_with('_') || key == "parameters" || EntityKind::from_name(key).is_some() {
                continue;
            }
            let empty = value.is_null() || value.as_array().is_some_and(Vec::is_empty);
            if UNSUPPORTED_KINDS.contains(&key.as_str()) {
                if !empty {
                    self.errors.general(
                        &[Key::name(key)],
                        format!("'{key}' entities are not supported by Portico"),
                    );
                }
            } else {
                self.errors.general(&[Key::name(key)], "unknown field");
            }
        }
        for kind in EntityKind::ALL {
            if let Some(list) = doc.get(kind.name()) {
                self.list(kind, list, vec![Key::name(kind.name())], None);
            }
        }
        self.assign_ids();
    }

    fn list(&mut self, kind: EntityKind, list: &Value, path: Vec<Key>, parent: Option<ParentLink>) {
        let items = match list {
            Value::Null => return,
            Value::Array(items) => items,
            // An empty YAML/Lua table decodes as an empty object.
            Value::Object(map) if map.is_empty() => return,
            _ => {
                self.errors.general(&path, "expected an array");
                return;
            }
        };
        for (i, value) in items.iter().enumerate() {
            let mut item_path = path.clone();
            item_path.push(Key::Pos(i + 1));
            match value {
                Value::Object(map) => self.entity(kind, map, item_path, parent),
                _ => self.errors.general(&item_path, "expected a record"),
            }
        }
    }

    fn entity(
        &mut self,
        kind: EntityKind,
        map: &Map<String, Value>,
        path: Vec<Key>,
        parent: Option<ParentLink>,
    ) {
        let mut input = map.clone();
        let mut errors = Errors::new();
        match input.remove("_comment") {
            None | Some(Value::String(_)) => {}
            Some(_) => errors.set("_comment", ErrorNode::msg("expected a string")),
        }
        match input.remove("_ignore") {
            None | Some(Value::Array(_)) => {}
            Some(_) => errors.set("_ignore", ErrorNode::msg("expected an array")),
        }
        let mut nested = Vec::new();
        for (child, field) in nested_kinds(kind) {
            if let Some(list) = input.remove(child.name()) {
                nested.push((child, field, list));
            }
        }
        let mut original = map.clone();
        for (child, _, _) in &nested {
            original.remove(child.name());
        }
        if let Some(link) = parent
            && let Some(Value::String(parent_id)) = self.items[link.index].input.get("id")
            && is_uuid(parent_id)
        {
            original
                .entry(link.field)
                .or_insert_with(|| json!({ "id": parent_id }));
        }
        let index = self.items.len();
        self.items.push(Item {
            kind,
            input,
            origin: Origin {
                kind,
                path: path.clone(),
                entity: original,
            },
            parent,
            id: None,
            errors,
        });
        for (child, field, list) in nested {
            let list = if kind == EntityKind::Certificate && child == EntityKind::Sni {
                snis_as_records(list)
            } else {
                list
            };
            let mut child_path = path.clone();
            child_path.push(Key::name(child.name()));
            self.list(child, &list, child_path, Some(ParentLink { index, field }));
        }
    }

    /// Gives every item without an id Kong's deterministic id (or a content-derived one,
    /// see `ids`). Items come parents first, so a parent's id is known before its children.
    fn assign_ids(&mut self) {
        let mut content_ids = ContentIds::default();
        for i in 0..self.items.len() {
            match self.items[i].input.get("id") {
                Some(Value::String(id)) => {
                    self.items[i].id = Some(id.clone());
                    continue;
                }
                Some(Value::Null) | None => {}
                // Not a string: validation says what is wrong with it.
                Some(_) => continue,
            }
            let parent = self.items[i].parent.map(|link| {
                (
                    link.field,
                    self.items[link.index].id.clone().filter(|id| is_uuid(id)),
                )
            });
            let item = &self.items[i];
            let schema = &self.catalog.entity(item.kind).schema;
            let parent_ref = parent.as_ref().map(|(field, id)| ParentRef {
                field,
                id: id.as_deref(),
            });
            let id = match kong_key(item.kind, schema, &item.input, parent_ref) {
                Some(key) => kong_uuid(item.kind, &key),
                None => content_ids.id(
                    item.kind,
                    &item.input,
                    parent.as_ref().and_then(|(_, id)| id.as_deref()),
                ),
            };
            let id = id.to_string();
            let item = &mut self.items[i];
            item.input.insert("id".into(), Value::String(id.clone()));
            item.id = Some(id);
        }
    }
}

/// `snis` of a certificate may be names or SNI objects (`{name, tags}`).
fn snis_as_records(list: Value) -> Value {
    match list {
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| match item {
                    Value::String(name) => json!({ "name": name }),
                    other => other,
                })
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_follows_foreign_keys() {
        let names = |kind| {
            nested_kinds(kind)
                .into_iter()
                .map(|(k, f)| format!("{}.{f}", k.name()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(EntityKind::Service),
            ["routes.service", "plugins.service"]
        );
        assert_eq!(names(EntityKind::Route), ["plugins.route"]);
        assert_eq!(
            names(EntityKind::Consumer),
            [
                "plugins.consumer",
                "keyauth_credentials.consumer",
                "basicauth_credentials.consumer",
                "hmacauth_credentials.consumer",
                "acls.consumer",
                "jwt_secrets.consumer",
                "mtls_auth_credentials.consumer"
            ]
        );
        assert_eq!(
            names(EntityKind::CaCertificate),
            ["mtls_auth_credentials.ca_certificate"]
        );
        assert_eq!(names(EntityKind::Upstream), ["targets.upstream"]);
        assert_eq!(
            names(EntityKind::Certificate),
            [
                "snis.certificate",
                "services.client_certificate",
                "upstreams.client_certificate"
            ]
        );
        assert!(names(EntityKind::Target).is_empty());
    }
}
