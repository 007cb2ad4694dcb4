//! The catalog: every entity schema plus the plugin registry, and the write operations
//! the Admin API and the declarative loader call (insert, upsert, update, validate).

use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};

use super::entities;
use super::errors::{Errors, SchemaViolation};
use super::plugins::{self, PluginDef};
use super::process::{Context, Op, merge_values, process_auto_fields};
use super::record::Schema;
use super::validate::{SchemaLookup, ValidationCtx, validate};
use crate::model::EntityKind;

/// Adjusts the raw input of a write before it is processed (Kong's DAO overrides: target
/// normalisation, certificate SNI de-duplication). Errors become a schema violation.
pub(crate) type BeforeHook = fn(&mut Map<String, Value>, Op) -> Result<(), Errors>;

/// Rewrites a validated entity given the original input (Kong's `transformations`: the
/// CA certificate digest, the basic-auth password hash).
pub(crate) type AfterHook =
    fn(&mut Map<String, Value>, &Map<String, Value>, Op) -> Result<(), Errors>;

/// An entity kind's schema and the per-kind behaviour around it.
pub struct EntitySchema {
    pub kind: EntityKind,
    pub schema: Schema,
    pub(crate) before: Option<BeforeHook>,
    pub(crate) after: Option<AfterHook>,
}

impl EntitySchema {
    pub(crate) fn new(kind: EntityKind, mut schema: Schema) -> EntitySchema {
        schema.make_records_required();
        EntitySchema {
            kind,
            schema,
            before: None,
            after: None,
        }
    }

    pub(crate) fn before(mut self, hook: BeforeHook) -> EntitySchema {
        self.before = Some(hook);
        self
    }

    pub(crate) fn after(mut self, hook: AfterHook) -> EntitySchema {
        self.after = Some(hook);
        self
    }

    /// Fields that are part of the entity's input and output but not stored with it
    /// (certificate `snis`, kept in the `snis` table).
    pub fn transient_fields(&self) -> Vec<&'static str> {
        self.schema
            .fields
            .iter()
            .filter(|(_, f)| f.transient)
            .map(|(n, _)| *n)
            .collect()
    }
}

/// All schemas: entities by kind and plugins by name.
pub struct Catalog {
    entities: Vec<EntitySchema>,
    plugins: Vec<Arc<PluginDef>>,
}

impl SchemaLookup for Catalog {
    fn entity_schema(&self, name: &str) -> Option<&Schema> {
        self.entities
            .iter()
            .find(|e| e.kind.name() == name)
            .map(|e| &e.schema)
    }
}

/// The catalog with every bundled plugin enabled.
pub fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(Catalog::bundled)
}

impl Catalog {
    /// Every entity and every bundled plugin.
    pub fn bundled() -> Catalog {
        Catalog::with_plugins(plugins::bundled())
    }

    /// Every entity, with only the given plugins enabled (others are rejected with
    /// Kong's "plugin 'x' not enabled" error).
    pub fn with_plugins(plugins: Vec<PluginDef>) -> Catalog {
        let plugins: Vec<Arc<PluginDef>> = plugins.into_iter().map(Arc::new).collect();
        let entities = entities::all(&plugins);
        Catalog { entities, plugins }
    }

    pub fn entity(&self, kind: EntityKind) -> &EntitySchema {
        // Every kind is registered by `entities::all`; a missing one is a programming
        // error caught by the catalog tests.
        self.entities
            .iter()
            .find(|e| e.kind == kind)
            .unwrap_or_else(|| &self.entities[0])
    }

    /// An entity schema by Kong's schema name (`"services"`, `"keyauth_credentials"`).
    pub fn entity_by_name(&self, name: &str) -> Option<&EntitySchema> {
        self.entities.iter().find(|e| e.kind.name() == name)
    }

    /// A plugin by name, if enabled.
    pub fn plugin(&self, name: &str) -> Option<&PluginDef> {
        self.plugins
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.as_ref())
    }

    /// The enabled plugins, in registration order.
    pub fn plugins(&self) -> impl Iterator<Item = &PluginDef> {
        self.plugins.iter().map(|p| p.as_ref())
    }

    fn ctx(&self, updating: bool) -> ValidationCtx<'_> {
        ValidationCtx {
            lookup: self,
            updating,
        }
    }

    /// POST: fills `id`, timestamps, generated values and defaults, then validates.
    /// Returns the complete entity (every field present, `null` where unset).
    pub fn insert(
        &self,
        kind: EntityKind,
        mut input: Map<String, Value>,
    ) -> Result<Map<String, Value>, SchemaViolation> {
        let entity = self.entity(kind);
        if let Some(before) = entity.before {
            before(&mut input, Op::Insert).map_err(SchemaViolation::new)?;
        }
        let ctx = Context::new(Op::Insert);
        let mut out = process_auto_fields(&entity.schema, &input, &ctx, self)
            .map_err(SchemaViolation::new)?;
        validate(&entity.schema, &out, true, self.ctx(false)).map_err(SchemaViolation::new)?;
        if let Some(after) = entity.after {
            after(&mut out, &input, Op::Insert).map_err(SchemaViolation::new)?;
        }
        Ok(out)
    }

    /// PUT: a full replacement. Absent fields get their defaults again (or `null`). When
    /// `existing` is the entity being replaced, its `id` and `created_at` are kept.
    /// The caller puts the URL's id or endpoint key into `input` first.
    pub fn upsert(
        &self,
        kind: EntityKind,
        mut input: Map<String, Value>,
        existing: Option<&Map<String, Value>>,
    ) -> Result<Map<String, Value>, SchemaViolation> {
        let entity = self.entity(kind);
        if let Some(before) = entity.before {
            before(&mut input, Op::Upsert).map_err(SchemaViolation::new)?;
        }
        if let Some(existing) = existing {
            for key in ["id", "created_at"] {
                if let Some(v) = existing.get(key)
                    && entity.schema.get(key).is_some()
                {
                    input.insert(key.to_string(), v.clone());
                }
            }
        }
        let ctx = Context::new(Op::Upsert);
        let mut out = process_auto_fields(&entity.schema, &input, &ctx, self)
            .map_err(SchemaViolation::new)?;
        validate(&entity.schema, &out, true, self.ctx(false)).map_err(SchemaViolation::new)?;
        if let Some(after) = entity.after {
            after(&mut out, &input, Op::Upsert).map_err(SchemaViolation::new)?;
        }
        Ok(out)
    }

    /// PATCH: merges `patch` into `existing`. `null` clears a field; records (plugin
    /// `config`, upstream `healthchecks`) merge field by field; arrays are replaced;
    /// `updated_at` is bumped; `id` never changes. Validates the merged entity.
    pub fn update(
        &self,
        kind: EntityKind,
        mut patch: Map<String, Value>,
        existing: &Map<String, Value>,
    ) -> Result<Map<String, Value>, SchemaViolation> {
        let entity = self.entity(kind);
        if let Some(before) = entity.before {
            before(&mut patch, Op::Update).map_err(SchemaViolation::new)?;
        }
        let ctx = Context::new(Op::Update);
        let processed = process_auto_fields(&entity.schema, &patch, &ctx, self)
            .map_err(SchemaViolation::new)?;
        let mut merged = merge_values(&entity.schema, &processed, existing);
        if let Some(id) = existing.get("id") {
            merged.insert("id".to_string(), id.clone());
        }
        validate(&entity.schema, &merged, false, self.ctx(true)).map_err(SchemaViolation::new)?;
        if let Some(after) = entity.after {
            after(&mut merged, &patch, Op::Update).map_err(SchemaViolation::new)?;
        }
        Ok(merged)
    }

    /// Validates one value of field `field` of `kind` (Kong's `validate_field`, which the
    /// Admin API runs on an endpoint key taken from the URL, e.g. `PUT /upstreams/1.2.3.4`).
    /// The error is Kong's message for that field. An unknown field is accepted.
    pub fn validate_field_value(
        &self,
        kind: EntityKind,
        field: &str,
        value: &Value,
    ) -> Result<(), String> {
        let Some(definition) = self.entity(kind).schema.get(field) else {
            return Ok(());
        };
        crate::schema::validate::validate_field(definition, value, self.ctx(false)).map_err(
            |node| match node {
                crate::schema::ErrorNode::Message(message) => message,
                other => other.to_json().to_string(),
            },
        )
    }

    /// `POST /schemas/{entity}/validate`: validates as an insert would, storing nothing.
    pub fn validate(
        &self,
        kind: EntityKind,
        input: Map<String, Value>,
    ) -> Result<(), SchemaViolation> {
        self.insert(kind, input).map(|_| ())
    }
}
