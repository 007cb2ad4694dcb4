//! Finding the entity a URL names: `/{kind}/{x}` takes `x` as the id when it is a UUID,
//! otherwise as the kind's endpoint key (services/routes/upstreams/snis `name`, consumers
//! `username`, plugins `instance_name`, credentials `key`/`username`, certificates one of
//! their SNI names). Also resolves foreign references given by endpoint key in a body
//! (`"service": {"name": "x"}`).

use common::model::EntityKind;
use common::schema::{ForeignKeysUnresolved, is_uuid};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::admin::error::ApiError;
use crate::admin::state::AdminState;
use crate::admin::ttl;
use crate::store::{Entity, ListQuery, Scope, Store};

/// What a URL segment names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlKey {
    Id(Uuid),
    /// The endpoint key field and its value (certificates: `snis`, the SNI name).
    Field(&'static str, String),
}

/// Whether the kind's endpoint key is unique only within a parent (ACL `group` within a
/// consumer, `target` within an upstream); `Some(parent field)` then.
pub fn endpoint_key_scope(kind: EntityKind) -> Option<&'static str> {
    let key = kind.endpoint_key()?;
    kind.unique_fields()
        .iter()
        .find(|set| set.contains(&key))
        .filter(|set| set.len() > 1)
        .and_then(|set| set.iter().find(|f| **f != key).copied())
}

/// Interprets a URL segment for `kind`. `scoped`: the lookup happens under a parent that
/// scopes the endpoint key (`/consumers/{c}/acls/{group}`).
pub fn url_key(
    state: &AdminState,
    kind: EntityKind,
    key: &str,
    scoped: bool,
) -> Result<UrlKey, ApiError> {
    if is_uuid(key) {
        let id = Uuid::parse_str(key).map_err(ApiError::internal)?;
        return Ok(UrlKey::Id(id));
    }
    if kind == EntityKind::Certificate {
        return Ok(UrlKey::Field("snis", key.to_owned()));
    }
    let field = match kind.endpoint_key() {
        Some(field) if scoped || endpoint_key_scope(kind).is_none() => field,
        _ => {
            return Err(ApiError::InvalidPrimaryKey {
                message: "expected a valid UUID".into(),
            });
        }
    };
    state
        .catalog()
        .validate_field_value(kind, field, &Value::String(key.to_owned()))
        .map_err(|message| ApiError::InvalidUnique {
            field: field.to_owned(),
            message,
        })?;
    Ok(UrlKey::Field(field, key.to_owned()))
}

/// The entity a URL key names, if it exists. `scope` restricts endpoint-key lookups of
/// kinds whose key is unique only within a parent.
pub async fn find(
    state: &AdminState,
    kind: EntityKind,
    key: &UrlKey,
    scope: Option<Scope>,
) -> Result<Option<Entity>, ApiError> {
    let store = state.store();
    let found = match key {
        UrlKey::Id(id) => store.get(kind, *id).await?,
        UrlKey::Field(_, name) if kind == EntityKind::Certificate => {
            store.certificate_by_sni(name).await?
        }
        UrlKey::Field(field, value) => store.get_by_field(kind, field, value, scope).await?,
    };
    // An entity whose ttl ran out is gone as far as the Admin API is concerned.
    Ok(found.filter(|e| !ttl::expired(e)))
}

/// Parses and looks up in one step.
pub async fn find_by_segment(
    state: &AdminState,
    kind: EntityKind,
    segment: &str,
    scope: Option<Scope>,
) -> Result<(UrlKey, Option<Entity>), ApiError> {
    let key = url_key(state, kind, segment, scope.is_some())?;
    let found = find(state, kind, &key, scope).await?;
    Ok((key, found))
}

/// The 404 for a missing entity named by `key` (certificates by SNI: `SNI not found`).
pub fn not_found(kind: EntityKind, key: &UrlKey) -> ApiError {
    match (kind, key) {
        (EntityKind::Certificate, UrlKey::Field(..)) => {
            ApiError::NotFoundMessage("SNI not found".into())
        }
        _ => ApiError::NotFound,
    }
}

/// The id of an entity (stored entities always have one).
pub fn id_of(entity: &Entity) -> Result<Uuid, ApiError> {
    entity
        .get("id")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| ApiError::internal("stored entity without a UUID id"))
}

/// The id in a foreign field (`"service": {"id": ...}`), if set.
pub fn foreign_id(entity: &Entity, field: &str) -> Option<Uuid> {
    entity
        .get(field)?
        .get("id")?
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
}

/// `{"id": "<uuid>"}`
pub fn reference(id: Uuid) -> Value {
    json!({ "id": id })
}

/// Replaces foreign references given by endpoint key with `{"id": ...}`, or fails with
/// Kong's `foreign keys unresolved` (code 13).
pub async fn resolve_foreign(
    state: &AdminState,
    kind: EntityKind,
    input: &mut Map<String, Value>,
) -> Result<(), ApiError> {
    let lookups = state.catalog().foreign_lookups(kind, input);
    let mut unresolved = Vec::new();
    for lookup in lookups {
        let mut found = None;
        for (field, value) in &lookup.candidates {
            let Some(text) = value.as_str() else { continue };
            if let Some(entity) = state
                .store()
                .get_by_field(lookup.references, field, text, None)
                .await?
            {
                found = Some(id_of(&entity)?);
                break;
            }
        }
        match found {
            Some(id) => {
                input.insert(lookup.field.to_owned(), reference(id));
            }
            None => unresolved.push(lookup),
        }
    }
    if unresolved.is_empty() {
        Ok(())
    } else {
        Err(ApiError::ForeignKeysUnresolved(ForeignKeysUnresolved {
            lookups: unresolved,
        }))
    }
}

/// Every entity of `kind` (within `scope`), reading page by page.
pub async fn list_all(
    store: &Store,
    kind: EntityKind,
    scope: Option<Scope>,
) -> Result<Vec<Entity>, ApiError> {
    let mut out = Vec::new();
    let mut query = ListQuery::new(1000);
    query.scope = scope;
    loop {
        let page = store.list(kind, &query).await?;
        out.extend(page.data);
        match page.next {
            Some(next) => query.offset = Some(next),
            None => return Ok(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoped_endpoint_keys() {
        assert_eq!(endpoint_key_scope(EntityKind::AclGroup), Some("consumer"));
        assert_eq!(endpoint_key_scope(EntityKind::Target), Some("upstream"));
        assert_eq!(endpoint_key_scope(EntityKind::Service), None);
        assert_eq!(endpoint_key_scope(EntityKind::Plugin), None);
        assert_eq!(endpoint_key_scope(EntityKind::CaCertificate), None);
    }
}
