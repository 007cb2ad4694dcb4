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

/// The process-wide catalog the control plane (Admin API, declarative import, snapshot
/// publisher) validates with. Initialised on first use with the bundled plugins, or earlier
/// by [`register_plugins`] with the bundled plugins plus a build's custom ones.
static CATALOG: OnceLock<Catalog> = OnceLock::new();

/// The process-wide catalog: every bundled plugin, plus the custom plugins given to
/// [`register_plugins`] if that ran first.
pub fn catalog() -> &'static Catalog {
    CATALOG.get_or_init(Catalog::bundled)
}

/// Why custom plugins could not be added to the process-wide catalog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// Something already validated with the catalog; adding plugins now would let two
    /// parts of the process disagree on what is valid.
    #[error(
        "custom plugins must be registered before the schema catalog is first used (call register_plugins at the start of main)"
    )]
    CatalogInUse,
    #[error("plugin '{0}' is a bundled plugin; a custom plugin needs a name of its own")]
    Bundled(&'static str),
    #[error("plugin '{0}' is registered twice")]
    Duplicate(&'static str),
}

/// Makes the process-wide [`catalog()`] the bundled plugins plus `custom` (Kong's
/// `plugins = bundled,<name>` in `kong.conf`): a control plane built with custom plugins
/// calls this once, before anything validates (see `docs/custom-plugins.md`). Fails when
/// the catalog is already in use, or when a name is bundled or given twice.
pub fn register_plugins(custom: Vec<PluginDef>) -> Result<(), RegisterError> {
    register_into(&CATALOG, custom)
}

pub(super) fn register_into(
    cell: &OnceLock<Catalog>,
    custom: Vec<PluginDef>,
) -> Result<(), RegisterError> {
    if cell.get().is_some() {
        return Err(RegisterError::CatalogInUse);
    }
    let catalog = Catalog::bundled_and(custom)?;
    // A concurrent first use between the check and here loses nothing: `set` refuses.
    cell.set(catalog).map_err(|_| RegisterError::CatalogInUse)
}

impl Catalog {
    /// Every entity and every bundled plugin.
    pub fn bundled() -> Catalog {
        Catalog::with_plugins(plugins::bundled())
    }

    /// Every entity, every bundled plugin and the custom plugins `custom` (after the
    /// bundled ones, in the given order). Refuses a bundled name or a name given twice.
    pub fn bundled_and(custom: Vec<PluginDef>) -> Result<Catalog, RegisterError> {
        let mut all = plugins::bundled();
        let bundled = all.len();
        for def in custom {
            if let Some(existing) = all.iter().position(|p| p.name == def.name) {
                return Err(if existing < bundled {
                    RegisterError::Bundled(def.name)
                } else {
                    RegisterError::Duplicate(def.name)
                });
            }
            all.push(def);
        }
        Ok(Catalog::with_plugins(all))
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
