//! Kong's `ttl` for entities whose schema allows one (key-auth credentials): a write may
//! give `ttl` (seconds, 0 = never expires), which is not a field but an option of the
//! write. The credential expires `ttl` seconds after it is created (or, for a PATCH,
//! after the PATCH); a write without `ttl` leaves it without expiry, as in Kong.
//!
//! The stored entity keeps `ttl` as seconds after its `created_at` (so a data plane can
//! tell when it expires from the entity alone); the Admin API shows the seconds remaining,
//! and treats an expired entity as absent. Expired entities are deleted by
//! [`purge_expired`], which `portico-cp serve` runs periodically.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::model::EntityKind;
use serde_json::{Map, Value};

use super::entity::lookup::{id_of, list_all};
use super::error::ApiError;
use super::state::AdminState;
use crate::store::{Entity, Store};

/// Kong's `DAO_MAX_TTL` (1e8 seconds).
pub const MAX_TTL: f64 = 1e8;

/// How often `serve` deletes expired entities.
pub const PURGE_INTERVAL: Duration = Duration::from_secs(60);

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn has_ttl(state: &AdminState, kind: EntityKind) -> bool {
    state.catalog().entity(kind).schema.ttl
}

/// Takes `ttl` out of a write's input. `Some(0)` and `None` both mean "no expiry".
pub fn take(
    state: &AdminState,
    kind: EntityKind,
    input: &mut Map<String, Value>,
) -> Result<Option<i64>, ApiError> {
    if !has_ttl(state, kind) {
        return Ok(None);
    }
    match input.remove("ttl") {
        None | Some(Value::Null) => Ok(None),
        Some(value) => match value.as_f64() {
            Some(n) if n.fract() == 0.0 && (0.0..=MAX_TTL).contains(&n) => Ok(Some(n as i64)),
            _ => Err(ApiError::InvalidOption {
                option: "ttl",
                // Kong prints its limit with Lua's `tostring(1e8)`.
                message: "must be an integer between 0 and 1e+08".into(),
            }),
        },
    }
}

fn created_at(entity: &Entity) -> i64 {
    entity
        .get("created_at")
        .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
        .unwrap_or(0)
}

/// Records the expiry of a written entity (`update`: counted from now, else from creation).
pub fn apply(entity: &mut Entity, ttl: Option<i64>, update: bool) {
    entity.remove("ttl");
    if let Some(ttl) = ttl.filter(|t| *t > 0) {
        let offset = if update {
            (now() - created_at(entity)).max(0)
        } else {
            0
        };
        entity.insert("ttl".into(), Value::from(offset + ttl));
    }
}

fn remaining(entity: &Entity) -> Option<i64> {
    let stored = entity.get("ttl").and_then(Value::as_i64)?;
    Some(created_at(entity) + stored - now())
}

/// Whether the entity's ttl has run out (the Admin API then treats it as absent).
pub fn expired(entity: &Entity) -> bool {
    remaining(entity).is_some_and(|r| r <= 0)
}

/// The entity as the Admin API shows it: `ttl` as the seconds remaining.
pub fn shown(mut entity: Entity) -> Entity {
    if let Some(left) = remaining(&entity) {
        entity.insert("ttl".into(), Value::from(left.max(0)));
    }
    entity
}

/// Deletes every expired entity; returns how many.
pub async fn purge_expired(store: &Store) -> Result<usize, ApiError> {
    let catalog = common::schema::catalog();
    let mut purged = 0;
    for kind in EntityKind::ALL {
        if !catalog.entity(kind).schema.ttl {
            continue;
        }
        for entity in list_all(store, kind, None).await? {
            if expired(&entity) {
                store.delete(kind, id_of(&entity)?).await?;
                purged += 1;
            }
        }
    }
    Ok(purged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entity(v: Value) -> Entity {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn remaining_seconds_and_expiry() {
        let mut e = entity(json!({"created_at": now() - 100}));
        apply(&mut e, Some(300), false);
        assert_eq!(e["ttl"], 300);
        assert!(matches!(shown(e.clone())["ttl"].as_i64(), Some(199..=200)));
        let mut updated = e.clone();
        apply(&mut updated, Some(50), true);
        assert!(matches!(updated["ttl"].as_i64(), Some(150..=151)));
        let mut expired = entity(json!({"created_at": now() - 100}));
        apply(&mut expired, Some(10), false);
        assert!(self::expired(&expired));
        let mut forever = entity(json!({"created_at": 0, "ttl": 5}));
        apply(&mut forever, Some(0), false);
        assert!(forever.get("ttl").is_none());
        assert!(!self::expired(&forever));
    }
}
