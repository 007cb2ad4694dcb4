//! The schema engine: Kong's declarative entity schemas as data, the operations the
//! Admin API and the declarative loader perform with them, and Kong's error shapes.
//!
//! Entities travel as JSON objects (`serde_json::Map`). A write goes through the
//! [`Catalog`] (usually the shared [`catalog()`]: the bundled plugins, plus a build's
//! custom plugins when its `main` called [`register_plugins`] first):
//!
//! - [`Catalog::insert`] (POST), [`Catalog::upsert`] (PUT), [`Catalog::update`] (PATCH)
//!   return the complete entity (every field present, `null` where unset) or a
//!   [`SchemaViolation`] that renders Kong's error body with [`SchemaViolation::to_json`].
//! - [`Catalog::coerce_form`] converts a decoded form/multipart tree by the schema first.
//! - [`Catalog::foreign_lookups`] lists references given by name (`service: {name}`) that
//!   the store resolves to ids before the write ([`ForeignKeysUnresolved`] when it can't).
//! - [`Catalog::render_entity_schema`] / [`Catalog::render_plugin_schema`] produce the
//!   `/schemas` bodies.
//!
//! After validation an entity deserialises into the typed structs of [`crate::model`].
//!
//! How it works (as in Kong's `kong/db/schema/init.lua`): a write first runs
//! `process_auto_fields` (shorthands such as the service `url` are expanded, ids and
//! timestamps generated, defaults applied, sets de-duplicated), PATCH then merges the
//! result over the stored entity (records field by field), and `validate` checks every
//! field, the required fields and the entity checks, collecting all errors.

mod catalog;
mod checks;
pub mod entities;
mod errors;
mod field;
mod foreign;
mod form;
mod lua_pattern;
pub mod net;
pub mod pem;
pub mod plugins;
mod process;
mod record;
mod render;
pub mod typedefs;
mod validate;
mod values;

pub use catalog::{Catalog, EntitySchema, RegisterError, catalog, register_plugins};
pub use errors::{ErrorNode, Errors, SchemaViolation, lua_compact, lua_number};
pub use field::{CustomValidator, Field, FieldType, MatchAny, PatternRule};
pub use foreign::{ForeignKeysUnresolved, ForeignLookup};
pub use form::lua_tonumber;
pub use lua_pattern::is_match as lua_pattern_match;
pub use plugins::PluginDef;
pub use process::{Op, random_string};
pub use record::{EntityCheck, EntityCheckFn, Match, MatchAttr, Schema, Shorthand, ShorthandFn};
pub use render::{render_field, render_schema};
pub use validate::{SchemaLookup, is_uuid};

#[cfg(test)]
mod tests;
