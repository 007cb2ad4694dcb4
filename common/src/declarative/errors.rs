//! Kong's `invalid declarative configuration` error (code 14) and its two shapes:
//!
//! - `fields`: a table shaped like the input. Schema errors sit at the entity's position
//!   (`services[1].routes[2]`), arrays keep `null` for entries without errors
//!   (`"services": [null, "uniqueness violation: ..."]`); reference and unique-field errors
//!   are keyed by the entity's endpoint key or id (`"routes": {"r1": ["invalid reference
//!   ..."]}`). The message renders that table in Lua syntax
//!   (`declarative config is invalid: {services={[2]="..."}}`).
//! - `flattened_errors` (`?flatten_errors=1`): one entry per entity with errors, with the
//!   entity as given and each error as `{type: "field", field: "a.b", message}` or
//!   `{type: "entity", message}`.
//!
//! [`InvalidConfig::report`] lists the same errors entity by entity for the command line.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use serde_json::{Map, Value, json};

use crate::model::EntityKind;
use crate::schema::{ErrorNode, Errors, is_uuid};

/// Why a declarative configuration was not loaded.
#[derive(Debug, thiserror::Error)]
pub enum DeclarativeError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", .0.message())]
    Invalid(Box<InvalidConfig>),
}

impl DeclarativeError {
    /// The invalid-configuration details, unless the file could not be read.
    pub fn invalid(&self) -> Option<&InvalidConfig> {
        match self {
            DeclarativeError::Invalid(invalid) => Some(invalid),
            DeclarativeError::Read { .. } => None,
        }
    }

    /// A multi-line description for people: every error, entity by entity.
    pub fn report(&self) -> String {
        match self {
            DeclarativeError::Invalid(invalid) => invalid.report(),
            other => other.to_string(),
        }
    }
}

/// Every error found in a declarative configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct InvalidConfig {
    fields: Errors,
    entities: Vec<EntityErrors>,
    /// The errors that are not about one entity (Kong leaves them in `fields` when it
    /// flattens the rest).
    general: Errors,
}

/// The errors of one entity of the input.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityErrors {
    pub kind: EntityKind,
    /// Where the entity is in the input: `services[1].routes[2]` (1-based, as in Kong's
    /// error tables).
    pub path: String,
    /// The entity as given, without its nested lists, plus the reference to the entity it
    /// was nested in (`"service": {"id": ...}`) when that one has an id.
    pub entity: Map<String, Value>,
    pub errors: Vec<FieldError>,
}

/// One error of an entity: about a field (`field` is a dotted path such as
/// `healthchecks.active.concurrency`) or about the entity as a whole (`field` is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: Option<String>,
    pub message: String,
}

impl InvalidConfig {
    pub const CODE: u32 = 14;
    pub const NAME: &'static str = "invalid declarative configuration";

    /// A configuration that is not a declarative document at all (Kong: `fields.error`).
    pub(crate) fn unparsable(reason: &str) -> InvalidConfig {
        let fields = Errors::field(
            "error",
            format!("failed parsing declarative configuration: {reason}"),
        );
        InvalidConfig {
            general: fields.clone(),
            fields,
            entities: Vec::new(),
        }
    }

    /// A configuration that passed validation but not the final consistency check
    /// (`ConfigSet::verify`); reported under `fields.error`.
    pub(crate) fn inconsistent(reason: &str) -> InvalidConfig {
        let fields = Errors::field("error", reason);
        InvalidConfig {
            general: fields.clone(),
            fields,
            entities: Vec::new(),
        }
    }

    /// Kong's `fields`: the error table shaped like the input.
    pub fn fields(&self) -> &Errors {
        &self.fields
    }

    /// Kong's `flattened_errors`, in input order.
    pub fn entities(&self) -> &[EntityErrors] {
        &self.entities
    }

    /// `declarative config is invalid: {...}` (the table in Lua syntax).
    pub fn message(&self) -> String {
        format!(
            "declarative config is invalid: {}",
            self.fields.to_lua_compact()
        )
    }

    /// Kong's error body: `{code: 14, name, message, fields}`.
    pub fn to_json(&self) -> Value {
        json!({
            "code": Self::CODE,
            "name": Self::NAME,
            "message": self.message(),
            "fields": self.fields.to_json(),
        })
    }

    /// Kong's body with `flatten_errors`: per-entity errors in `flattened_errors`, and only
    /// what is not about one entity left in `fields` and the message.
    pub fn to_json_flattened(&self) -> Value {
        json!({
            "code": Self::CODE,
            "name": Self::NAME,
            "message": format!("declarative config is invalid: {}", self.general.to_lua_compact()),
            "fields": self.general.to_json(),
            "flattened_errors": self.entities.iter().map(EntityErrors::to_json).collect::<Vec<_>>(),
        })
    }

    /// Every error, one line each, grouped by entity.
    pub fn report(&self) -> String {
        let mut general = Vec::new();
        flatten_errors(&self.general, "", &mut general);
        let count = general.len() + self.entities.iter().map(|e| e.errors.len()).sum::<usize>();
        let mut out = format!(
            "declarative config is invalid: {count} error{}",
            if count == 1 { "" } else { "s" }
        );
        for error in general {
            let _ = write!(out, "\n  {}", error.text());
        }
        for entity in &self.entities {
            let _ = write!(out, "\n  {}{}:", entity.path, entity.label());
            for error in &entity.errors {
                let _ = write!(out, "\n    {}", error.text());
            }
        }
        out
    }
}

impl FieldError {
    fn text(&self) -> String {
        match &self.field {
            Some(field) => format!("{field}: {}", self.message),
            None => self.message.clone(),
        }
    }

    fn to_json(&self) -> Value {
        match &self.field {
            Some(field) => json!({"type": "field", "field": field, "message": self.message}),
            None => json!({"type": "entity", "message": self.message}),
        }
    }
}

impl EntityErrors {
    /// Kong's `entity_type`: the schema name made singular.
    pub fn entity_type(&self) -> &'static str {
        let name = self.kind.name();
        name.strip_suffix('s').unwrap_or(name)
    }

    fn name(&self) -> Option<&str> {
        self.entity
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
    }

    fn id(&self) -> Option<&str> {
        self.entity
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| is_uuid(id))
    }

    fn tags(&self) -> Option<&Vec<Value>> {
        self.entity
            .get("tags")
            .and_then(Value::as_array)
            .filter(|tags| tags.iter().all(Value::is_string))
    }

    /// ` (service 'svc1')`: how the report names the entity.
    fn label(&self) -> String {
        let key = self.name().or_else(|| {
            self.kind
                .endpoint_key()
                .and_then(|k| self.entity.get(k))
                .and_then(Value::as_str)
        });
        match key.or_else(|| self.id()) {
            Some(key) => format!(" ({} '{key}')", self.entity_type()),
            None => format!(" ({})", self.entity_type()),
        }
    }

    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("entity_type".into(), json!(self.entity_type()));
        if let Some(name) = self.name() {
            out.insert("entity_name".into(), json!(name));
        }
        if let Some(id) = self.id() {
            out.insert("entity_id".into(), json!(id));
        }
        if let Some(tags) = self.tags() {
            out.insert("entity_tags".into(), Value::Array(tags.clone()));
        }
        out.insert("entity".into(), Value::Object(self.entity.clone()));
        out.insert(
            "errors".into(),
            Value::Array(self.errors.iter().map(FieldError::to_json).collect()),
        );
        Value::Object(out)
    }
}

/// Kong's `categorize_errors`: entity-check messages, then fields in sorted order with
/// nested records and array positions joined by dots.
fn flatten_errors(errors: &Errors, prefix: &str, out: &mut Vec<FieldError>) {
    for message in &errors.entity {
        out.push(FieldError {
            field: None,
            message: message.clone(),
        });
    }
    for (name, node) in &errors.fields {
        flatten_node(&join(prefix, name), node, out);
    }
}

fn flatten_node(field: &str, node: &ErrorNode, out: &mut Vec<FieldError>) {
    match node {
        ErrorNode::Message(message) => out.push(FieldError {
            field: Some(field.to_string()),
            message: message.clone(),
        }),
        ErrorNode::Elements(items) => {
            for (i, item) in items {
                flatten_node(&join(field, &i.to_string()), item, out);
            }
        }
        ErrorNode::Nested(inner) => flatten_errors(inner, field, out),
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// A key of the error table: an array position (1-based) or a name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Key {
    Pos(usize),
    Name(String),
}

impl Key {
    pub(crate) fn name(name: &str) -> Key {
        Key::Name(name.to_string())
    }
}

#[derive(Debug, Clone)]
enum Node {
    Msg(String),
    Table(Table),
}

#[derive(Debug, Clone, Default)]
struct Table {
    entity: Vec<String>,
    entries: BTreeMap<Key, Node>,
}

impl Table {
    /// The table at `path`, created as needed; `None` when a message already occupies a
    /// step of the path (Kong replaces a whole entry by its uniqueness message).
    fn at(&mut self, path: &[Key]) -> Option<&mut Table> {
        let Some((first, rest)) = path.split_first() else {
            return Some(self);
        };
        let node = self
            .entries
            .entry(first.clone())
            .or_insert_with(|| Node::Table(Table::default()));
        match node {
            Node::Table(table) => table.at(rest),
            Node::Msg(_) => None,
        }
    }

    fn set(&mut self, path: &[Key], message: String) {
        if let Some((last, parent)) = path.split_last()
            && let Some(table) = self.at(parent)
        {
            table.entries.insert(last.clone(), Node::Msg(message));
        }
    }

    fn push(&mut self, path: &[Key], message: String) {
        if let Some(table) = self.at(path) {
            let next = table.entries.len() + 1;
            table.entries.insert(Key::Pos(next), Node::Msg(message));
        }
    }

    fn merge(&mut self, path: &[Key], errors: &Errors) {
        if let Some(table) = self.at(path) {
            table.merge_errors(errors);
        }
    }

    fn merge_errors(&mut self, errors: &Errors) {
        self.entity.extend(errors.entity.iter().cloned());
        for (name, node) in &errors.fields {
            self.merge_node(Key::name(name), node);
        }
    }

    fn merge_node(&mut self, key: Key, node: &ErrorNode) {
        match node {
            ErrorNode::Message(m) => {
                self.entries.insert(key, Node::Msg(m.clone()));
            }
            ErrorNode::Elements(items) => {
                if let Some(table) = self.at(std::slice::from_ref(&key)) {
                    for (i, item) in items {
                        table.merge_node(Key::Pos(*i), item);
                    }
                }
            }
            ErrorNode::Nested(inner) => {
                if let Some(table) = self.at(std::slice::from_ref(&key)) {
                    table.merge_errors(inner);
                }
            }
        }
    }

    fn to_errors(&self) -> Errors {
        let mut errors = Errors::new();
        errors.entity = self.entity.clone();
        for (key, node) in &self.entries {
            let name = match key {
                Key::Pos(i) => i.to_string(),
                Key::Name(n) => n.clone(),
            };
            errors.set(&name, node.to_error_node());
        }
        errors
    }
}

impl Node {
    fn to_error_node(&self) -> ErrorNode {
        match self {
            Node::Msg(m) => ErrorNode::Message(m.clone()),
            Node::Table(t)
                if t.entity.is_empty() && t.entries.keys().all(|k| matches!(k, Key::Pos(_))) =>
            {
                ErrorNode::Elements(
                    t.entries
                        .iter()
                        .filter_map(|(k, n)| match k {
                            Key::Pos(i) => Some((*i, n.to_error_node())),
                            Key::Name(_) => None,
                        })
                        .collect(),
                )
            }
            Node::Table(t) => ErrorNode::Nested(t.to_errors()),
        }
    }
}

/// Where an entity is in the input, for placing its errors.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    pub kind: EntityKind,
    /// The positional path: `[services, 1, routes, 2]`.
    pub path: Vec<Key>,
    /// The entity as given (see [`EntityErrors::entity`]).
    pub entity: Map<String, Value>,
}

impl Origin {
    fn display_path(&self) -> String {
        let mut out = String::new();
        for key in &self.path {
            match key {
                Key::Name(n) if out.is_empty() => out.push_str(n),
                Key::Name(n) => {
                    out.push('.');
                    out.push_str(n);
                }
                Key::Pos(i) => {
                    let _ = write!(out, "[{i}]");
                }
            }
        }
        out
    }
}

/// Collects the errors of one validation phase.
#[derive(Default)]
pub(crate) struct Collector {
    fields: Table,
    general: Table,
    /// By entity index, so each entity gets one entry, in input order.
    entities: BTreeMap<usize, EntityErrors>,
}

impl Collector {
    pub(crate) fn is_empty(&self) -> bool {
        self.fields.entity.is_empty() && self.fields.entries.is_empty()
    }

    /// An error that is not about one entity (a top-level key, a list that is not a list,
    /// an entry that is not an object).
    pub(crate) fn general(&mut self, path: &[Key], message: impl Into<String>) {
        let message = message.into();
        self.fields.set(path, message.clone());
        self.general.set(path, message);
    }

    fn entity_entry(&mut self, index: usize, origin: &Origin) -> &mut EntityErrors {
        self.entities.entry(index).or_insert_with(|| EntityErrors {
            kind: origin.kind,
            path: origin.display_path(),
            entity: origin.entity.clone(),
            errors: Vec::new(),
        })
    }

    /// Schema errors of an entity, placed at its position.
    pub(crate) fn schema(&mut self, index: usize, origin: &Origin, errors: &Errors) {
        self.fields.merge(&origin.path, errors);
        let entry = self.entity_entry(index, origin);
        flatten_errors(errors, "", &mut entry.errors);
    }

    /// A message replacing an entity's entry (uniqueness violations).
    pub(crate) fn at_position(&mut self, index: usize, origin: &Origin, message: String) {
        self.fields.set(&origin.path, message.clone());
        self.entity_entry(index, origin).errors.push(FieldError {
            field: None,
            message,
        });
    }

    /// A message listed under `errs[<kind>][<key>]` (Kong's reference checks).
    pub(crate) fn keyed_list(&mut self, index: usize, origin: &Origin, key: &str, message: String) {
        self.fields.push(
            &[Key::name(origin.kind.name()), Key::name(key)],
            message.clone(),
        );
        self.entity_entry(index, origin).errors.push(FieldError {
            field: None,
            message,
        });
    }

    /// A message set as `errs[<kind>][<key>]` (Kong's unique-field checks).
    pub(crate) fn keyed(&mut self, index: usize, origin: &Origin, key: &str, message: String) {
        self.fields.set(
            &[Key::name(origin.kind.name()), Key::name(key)],
            message.clone(),
        );
        self.entity_entry(index, origin).errors.push(FieldError {
            field: None,
            message,
        });
    }

    pub(crate) fn finish(self) -> InvalidConfig {
        InvalidConfig {
            fields: self.fields.to_errors(),
            general: self.general.to_errors(),
            entities: self.entities.into_values().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn origin(path: Vec<Key>) -> Origin {
        Origin {
            kind: EntityKind::Service,
            path,
            entity: Map::new(),
        }
    }

    #[test]
    fn positional_errors_render_as_arrays_and_sparse_lua_tables() {
        let mut c = Collector::default();
        c.at_position(
            1,
            &origin(vec![Key::name("services"), Key::Pos(2)]),
            "dup".into(),
        );
        let invalid = c.finish();
        assert_eq!(invalid.fields.to_json(), json!({"services": [null, "dup"]}));
        assert_eq!(
            invalid.message(),
            r#"declarative config is invalid: {services={[2]="dup"}}"#
        );
    }

    #[test]
    fn nested_schema_errors_merge_under_their_parent() {
        let mut c = Collector::default();
        let mut route = Errors::new();
        route.set("paths", ErrorNode::msg("bad"));
        c.schema(
            1,
            &origin(vec![
                Key::name("services"),
                Key::Pos(1),
                Key::name("routes"),
                Key::Pos(2),
            ]),
            &route,
        );
        let mut service = Errors::new();
        service.set("host", ErrorNode::msg("required field missing"));
        c.schema(
            0,
            &origin(vec![Key::name("services"), Key::Pos(1)]),
            &service,
        );
        let invalid = c.finish();
        assert_eq!(
            invalid.fields.to_json(),
            json!({"services": [{"host": "required field missing", "routes": [null, {"paths": "bad"}]}]})
        );
        assert_eq!(invalid.entities.len(), 2);
        assert_eq!(invalid.entities[0].path, "services[1]");
        assert_eq!(invalid.entities[1].path, "services[1].routes[2]");
    }
}
