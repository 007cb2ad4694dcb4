//! Kong's declarative configuration (`kong.yml`): parse, validate and flatten a file into
//! entities, and render entities back into a file.
//!
//! - [`parse`] / [`parse_value`]: YAML or JSON text (or a decoded document) to a
//!   [`Declarative`]: the flat, validated entities as JSON objects (what the control
//!   plane stores) and the typed [`ConfigSet`] (what a data plane compiles). Every error
//!   is collected and reported in Kong's shapes ([`InvalidConfig`]).
//! - [`load_file`]: a file to a [`ConfigSet`] (`portico-dp serve --declarative-config`).
//! - [`render`] / [`render_value`]: flat entities to a `_format_version: "3.0"` document,
//!   nested the way decK nests them (see `render`).
//!
//! The document format (Kong's `kong/db/schema/others/declarative_config.lua`):
//! `_format_version` ("1.1", "2.1" or "3.0"; required; 1.1 and 2.1 files get their regex
//! route paths upgraded), `_transform` (default true; false stores values such as
//! basic-auth passwords as given), `_comment`, `_ignore`, decK's `_info` (ignored), and one
//! list per entity kind under its schema name. Entities may be nested in the entities
//! they reference (see `collect`); references are given by id or endpoint key
//! (`service: my-svc`, `service: {id: ...}`, `consumer: alice`). Entities without an id
//! get Kong's deterministic ids (see `ids`).

mod collect;
mod decode;
mod errors;
mod flatten;
mod ids;
mod migrate;
mod render;

#[cfg(test)]
mod tests;

use std::path::Path;

use serde_json::{Map, Value};

pub use errors::{DeclarativeError, EntityErrors, FieldError, InvalidConfig};
pub use render::{render, render_value};

use crate::model::EntityKind;
use crate::schema::{Catalog, catalog};
use crate::snapshot::ConfigSet;

/// The `_format_version` values Kong accepts.
pub const FORMAT_VERSIONS: [&str; 3] = ["1.1", "2.1", "3.0"];

/// A parsed, validated declarative configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Declarative {
    /// The file's `_format_version` (before any upgrade to 3.0).
    pub format_version: String,
    /// `_transform`.
    pub transform: bool,
    /// Every entity, flat and complete (defaults filled, references as `{"id": ...}`,
    /// timestamps of this load), grouped by kind in [`EntityKind::ALL`] order (referenced
    /// kinds first) and in input order within a kind.
    pub entities: Vec<(EntityKind, Map<String, Value>)>,
    /// The same entities, typed.
    pub config: ConfigSet,
}

/// Parses a declarative configuration (JSON or YAML) with every bundled plugin enabled.
pub fn parse(text: &str) -> Result<Declarative, DeclarativeError> {
    parse_with(text, catalog())
}

/// Parses with a given catalog (a restricted plugin set).
pub fn parse_with(text: &str, catalog: &Catalog) -> Result<Declarative, DeclarativeError> {
    let doc = decode::decode(text).map_err(|reason| invalid(InvalidConfig::unparsable(&reason)))?;
    from_document(doc, catalog)
}

/// Validates an already decoded document (a JSON body).
pub fn parse_value(value: Value) -> Result<Declarative, DeclarativeError> {
    match value {
        Value::Object(doc) => from_document(doc, catalog()),
        _ => Err(invalid(InvalidConfig::unparsable("expected an object"))),
    }
}

/// Reads and parses a declarative file: the data plane's standalone mode.
pub fn load_file(path: impl AsRef<Path>) -> Result<ConfigSet, DeclarativeError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| DeclarativeError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text).map(|declarative| declarative.config)
}

fn invalid(config: InvalidConfig) -> DeclarativeError {
    DeclarativeError::Invalid(Box::new(config))
}

fn from_document(
    doc: Map<String, Value>,
    catalog: &Catalog,
) -> Result<Declarative, DeclarativeError> {
    let flat = flatten::flatten(doc, catalog).map_err(invalid)?;
    let config =
        typed(&flat.entities).map_err(|reason| invalid(InvalidConfig::inconsistent(&reason)))?;
    Ok(Declarative {
        format_version: flat.format_version,
        transform: flat.transform,
        entities: flat.entities,
        config,
    })
}

/// The typed configuration of validated entities. Every validated entity deserialises
/// into its model type and the set passes [`ConfigSet::verify`]; a failure here is a
/// bug in the checks above, reported rather than panicking.
pub fn typed(entities: &[(EntityKind, Map<String, Value>)]) -> Result<ConfigSet, String> {
    let config = typed_from(entities.iter().map(|(kind, entity)| (*kind, entity)))?;
    config.verify().map_err(|e| e.to_string())?;
    Ok(config)
}

/// Deserialises entities into a [`ConfigSet`] without verifying it (the control plane's
/// snapshot builder verifies as part of publishing).
pub fn typed_from<'a>(
    entities: impl IntoIterator<Item = (EntityKind, &'a Map<String, Value>)>,
) -> Result<ConfigSet, String> {
    fn push<T: serde::de::DeserializeOwned>(
        list: &mut Vec<T>,
        kind: EntityKind,
        entity: &Map<String, Value>,
    ) -> Result<(), String> {
        let value = <T as serde::Deserialize>::deserialize(entity).map_err(|e| {
            format!(
                "{} {}: {e}",
                kind.name(),
                entity.get("id").and_then(Value::as_str).unwrap_or("?")
            )
        })?;
        list.push(value);
        Ok(())
    }
    let mut config = ConfigSet::default();
    for (kind, entity) in entities {
        let c = &mut config;
        match kind {
            EntityKind::Service => push(&mut c.services, kind, entity),
            EntityKind::Route => push(&mut c.routes, kind, entity),
            EntityKind::Consumer => push(&mut c.consumers, kind, entity),
            EntityKind::Plugin => push(&mut c.plugins, kind, entity),
            EntityKind::Upstream => push(&mut c.upstreams, kind, entity),
            EntityKind::Target => push(&mut c.targets, kind, entity),
            EntityKind::Certificate => push(&mut c.certificates, kind, entity),
            EntityKind::Sni => push(&mut c.snis, kind, entity),
            EntityKind::CaCertificate => push(&mut c.ca_certificates, kind, entity),
            EntityKind::KeyAuthCredential => push(&mut c.keyauth_credentials, kind, entity),
            EntityKind::BasicAuthCredential => push(&mut c.basicauth_credentials, kind, entity),
            EntityKind::HmacAuthCredential => push(&mut c.hmacauth_credentials, kind, entity),
            EntityKind::AclGroup => push(&mut c.acls, kind, entity),
            EntityKind::JwtSecret => push(&mut c.jwt_secrets, kind, entity),
            EntityKind::MtlsAuthCredential => push(&mut c.mtls_auth_credentials, kind, entity),
        }?;
    }
    Ok(config)
}
