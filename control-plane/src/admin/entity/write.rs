//! The write pipeline shared by every endpoint that creates, replaces or updates an entity:
//!
//! input (already coerced) → resolve foreign keys given by endpoint key → schema
//! (`insert` / `upsert` / `update`: defaults, shorthands, validation) → checks that need the
//! database (plugin protocols against the route's, SNIs owned by another certificate) →
//! store operations (one transaction) → the entity as the response shows it.
//!
//! Preparing and committing are separate so that an endpoint can commit several writes in
//! one transaction (`PUT /routes/{r}/service` creates a service and points the route at it).

use common::model::EntityKind;
use common::schema::SchemaViolation;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::lookup::{foreign_id, id_of, list_all, reference, resolve_foreign};
use crate::admin::error::ApiError;
use crate::admin::state::AdminState;
use crate::admin::ttl;
use crate::store::{Entity, Scope, WriteOp};

/// Which write.
#[derive(Debug, Clone, Copy)]
pub enum Mode<'a> {
    /// POST: a new entity.
    Insert,
    /// PUT: a full replacement of `existing`, or a creation.
    Upsert(Option<&'a Entity>),
    /// PATCH: `input` merged into `existing`.
    Update(&'a Entity),
}

/// A validated write, ready to commit.
#[derive(Debug)]
pub struct Prepared {
    /// The entity as the response shows it (with pseudo-fields such as certificate `snis`).
    pub entity: Entity,
    pub ops: Vec<WriteOp>,
}

impl Prepared {
    pub fn response(&self) -> Value {
        Value::Object(ttl::shown(self.entity.clone()))
    }
}

/// Validates a write of `kind` and works out the store operations.
pub async fn prepare(
    state: &AdminState,
    kind: EntityKind,
    mut input: Map<String, Value>,
    mode: Mode<'_>,
) -> Result<Prepared, ApiError> {
    let ttl = ttl::take(state, kind, &mut input)?;
    resolve_foreign(state, kind, &mut input).await?;
    let catalog = state.catalog();
    let mut entity = match mode {
        Mode::Insert => catalog.insert(kind, input.clone())?,
        Mode::Upsert(existing) => catalog.upsert(kind, input.clone(), existing)?,
        Mode::Update(existing) => {
            let mut current = existing.clone();
            if kind == EntityKind::Certificate {
                let names = state.store().sni_names(id_of(existing)?).await?;
                current.insert("snis".into(), json!(names));
            }
            catalog.update(kind, input.clone(), &current)?
        }
    };
    ttl::apply(&mut entity, ttl, matches!(mode, Mode::Update(_)));
    match kind {
        EntityKind::Plugin => check_plugin_protocols(state, &input, &entity, mode).await?,
        EntityKind::Certificate => check_snis_are_free(state, &entity).await?,
        _ => {}
    }
    let ops = operations(state, kind, &entity, mode).await?;
    Ok(Prepared { entity, ops })
}

/// Commits prepared writes in one transaction.
pub async fn commit(state: &AdminState, writes: &[&Prepared]) -> Result<(), ApiError> {
    let ops: Vec<WriteOp> = writes.iter().flat_map(|w| w.ops.iter().cloned()).collect();
    state.store().write_batch(&ops).await?;
    Ok(())
}

/// Prepares and commits one write; returns the entity as the response shows it.
pub async fn write(
    state: &AdminState,
    kind: EntityKind,
    input: Map<String, Value>,
    mode: Mode<'_>,
) -> Result<Value, ApiError> {
    let prepared = prepare(state, kind, input, mode).await?;
    commit(state, &[&prepared]).await?;
    Ok(prepared.response())
}

async fn operations(
    state: &AdminState,
    kind: EntityKind,
    entity: &Entity,
    mode: Mode<'_>,
) -> Result<Vec<WriteOp>, ApiError> {
    let mut stored = entity.clone();
    for field in state.catalog().entity(kind).transient_fields() {
        stored.remove(field);
    }
    let main = match mode {
        Mode::Insert => WriteOp::Insert {
            kind,
            entity: stored,
        },
        Mode::Upsert(_) => WriteOp::Upsert {
            kind,
            entity: stored,
        },
        Mode::Update(_) => WriteOp::Update {
            kind,
            entity: stored,
        },
    };
    let mut ops = vec![main];
    if kind == EntityKind::Certificate {
        ops.extend(sni_operations(state, entity, matches!(mode, Mode::Insert)).await?);
    }
    Ok(ops)
}

fn sni_names(certificate: &Entity) -> Vec<String> {
    certificate
        .get("snis")
        .and_then(Value::as_array)
        .map(|names| {
            names
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Makes the certificate's SNI rows match its `snis` list: names no longer listed are
/// deleted, new ones inserted, unchanged ones kept (with their ids).
async fn sni_operations(
    state: &AdminState,
    certificate: &Entity,
    new: bool,
) -> Result<Vec<WriteOp>, ApiError> {
    let id = id_of(certificate)?;
    let wanted = sni_names(certificate);
    let current = if new {
        Vec::new()
    } else {
        list_all(
            state.store(),
            EntityKind::Sni,
            Some(Scope {
                field: "certificate",
                id,
            }),
        )
        .await?
    };
    let mut ops = Vec::new();
    let current_names: Vec<&str> = current
        .iter()
        .filter_map(|s| s.get("name").and_then(Value::as_str))
        .collect();
    for sni in &current {
        let name = sni.get("name").and_then(Value::as_str).unwrap_or_default();
        if !wanted.iter().any(|w| w == name) {
            ops.push(WriteOp::Delete {
                kind: EntityKind::Sni,
                id: id_of(sni)?,
            });
        }
    }
    for name in &wanted {
        if current_names.contains(&name.as_str()) {
            continue;
        }
        let mut input = Map::new();
        input.insert("name".into(), Value::String(name.clone()));
        input.insert("certificate".into(), reference(id));
        let sni = state.catalog().insert(EntityKind::Sni, input)?;
        ops.push(WriteOp::Insert {
            kind: EntityKind::Sni,
            entity: sni,
        });
    }
    Ok(ops)
}

/// Kong's certificates DAO: an SNI name served by another certificate is refused.
async fn check_snis_are_free(state: &AdminState, certificate: &Entity) -> Result<(), ApiError> {
    let id = id_of(certificate)?;
    for name in sni_names(certificate) {
        let Some(sni) = state
            .store()
            .get_by_field(EntityKind::Sni, "name", &name, None)
            .await?
        else {
            continue;
        };
        match foreign_id(&sni, "certificate") {
            Some(owner) if owner == id => {}
            owner => {
                let owner = owner.map_or_else(String::new, |o| o.to_string());
                return Err(SchemaViolation::field(
                    "snis",
                    format!("{name} already associated with existing certificate '{owner}'"),
                )
                .into());
            }
        }
    }
    Ok(())
}

fn protocols(entity: &Entity) -> Vec<&str> {
    entity
        .get("protocols")
        .and_then(Value::as_array)
        .map(|p| p.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn share_a_protocol(a: &[&str], b: &Entity) -> bool {
    let b = protocols(b);
    a.iter().any(|p| b.contains(p))
}

/// Kong's plugins DAO: a plugin's protocols must overlap with its route's, or with those of
/// at least one route of its service. Checked when a write names the protocols (or, for a
/// PATCH, the protocols, route or service).
async fn check_plugin_protocols(
    state: &AdminState,
    input: &Map<String, Value>,
    plugin: &Entity,
    mode: Mode<'_>,
) -> Result<(), ApiError> {
    let applies = match mode {
        Mode::Update(_) => ["protocols", "service", "route"]
            .iter()
            .any(|f| input.contains_key(*f)),
        _ => input.get("protocols").is_some_and(Value::is_array),
    };
    if !applies {
        return Ok(());
    }
    let wanted = protocols(plugin);
    if let Some(route_id) = foreign_id(plugin, "route") {
        if let Some(route) = state.store().get(EntityKind::Route, route_id).await?
            && !share_a_protocol(&wanted, &route)
        {
            return Err(SchemaViolation::field(
                "protocols",
                "must match the associated route's protocols",
            )
            .into());
        }
    } else if let Some(service_id) = foreign_id(plugin, "service") {
        let routes = list_all(
            state.store(),
            EntityKind::Route,
            Some(Scope {
                field: "service",
                id: service_id,
            }),
        )
        .await?;
        if !routes.is_empty() && !routes.iter().any(|r| share_a_protocol(&wanted, r)) {
            return Err(SchemaViolation::field(
                "protocols",
                "must match the protocols of at least one route pointing to this Plugin's service",
            )
            .into());
        }
    }
    Ok(())
}

/// Puts the URL's id or endpoint key into a PUT's input. A body naming a different one is
/// refused: "specifying a name in the URL and a different one in the request body is not
/// allowed" (Kong's Admin API reference).
pub fn bind_url_key(
    input: &mut Map<String, Value>,
    field: &str,
    value: Value,
) -> Result<(), ApiError> {
    if let Some(given) = input.get(field)
        && !given.is_null()
        && *given != value
    {
        let shown = match &value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        return Err(SchemaViolation::field(
            field,
            format!("must match the value given in the URL ('{shown}')"),
        )
        .into());
    }
    input.insert(field.to_owned(), value);
    Ok(())
}

/// A fresh id for an entity created by PUT on a key that names nothing yet.
pub fn new_id() -> Uuid {
    Uuid::new_v4()
}
