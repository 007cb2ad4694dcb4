//! Generic CRUD over `EntityKind`: the top-level collection (`/services`) and entity
//! (`/services/{services}`) endpoints, listing and rendering. Nested and foreign-entity
//! endpoints (`admin::nested`) and targets (`admin::targets`) reuse these pieces.

pub mod lookup;
pub mod write;

use axum::http::Method;
use common::model::EntityKind;
use serde_json::{Value, json};

use self::lookup::{UrlKey, find_by_segment, id_of, not_found};
use self::write::{Mode, bind_url_key};
use super::context::Ctx;
use super::error::ApiError;
use super::paging::{self, Paging, page_body, top_level_next};
use super::query::QueryValue;
use super::reply::Reply;
use super::routes::collection_segment;
use super::state::AdminState;
use crate::store::{Entity, FieldFilter, ListQuery, Scope};

/// The field reported when a URL key of `kind` is not valid UTF-8.
pub fn key_field(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Certificate => "name",
        other => other.endpoint_key().unwrap_or("id"),
    }
}

/// An entity as the Admin API shows it: certificates carry their SNI names, credentials
/// with a ttl the seconds remaining.
pub async fn render(
    state: &AdminState,
    kind: EntityKind,
    entity: Entity,
) -> Result<Value, ApiError> {
    let mut entity = super::ttl::shown(entity);
    if kind == EntityKind::Certificate {
        let names = state.store().sni_names(id_of(&entity)?).await?;
        entity.insert("snis".into(), json!(names));
    }
    Ok(Value::Object(entity))
}

/// Where a listing's `next` link points.
pub enum NextLink {
    /// `/<collection>?offset=..[&tags=..][&size=..]`
    TopLevel(String),
    /// `/<parent>/<key>/<children>?offset=..`
    Nested(String),
}

/// One page of `kind`, optionally within `scope`. Tag filters apply to top-level listings
/// only (Kong ignores them on nested collections).
pub async fn list(
    ctx: &Ctx,
    kind: EntityKind,
    scope: Option<Scope>,
    link: NextLink,
) -> Result<Reply, ApiError> {
    let top_level = matches!(link, NextLink::TopLevel(_));
    let paging_args: Paging = paging::paging(&ctx.query, top_level)?;
    let query = ListQuery {
        size: paging_args.size,
        offset: paging_args.offset.clone(),
        tags: paging_args.tags.clone(),
        scope,
        field: None,
    };
    let page = ctx.state.store().list(kind, &query).await?;
    let mut data = Vec::with_capacity(page.data.len());
    for entity in page.data {
        if !super::ttl::expired(&entity) {
            data.push(render(&ctx.state, kind, entity).await?);
        }
    }
    let next = page.next.map(|offset| {
        let token = offset.token();
        let link = match &link {
            NextLink::TopLevel(path) => top_level_next(path, &token, &paging_args),
            NextLink::Nested(prefix) => paging::nested_next(prefix, &token),
        };
        (token, link)
    });
    Ok(Reply::ok(page_body(data, next)))
}

/// `/{collection}`: GET lists, POST creates.
pub async fn collection(ctx: &Ctx, kind: EntityKind) -> Result<Reply, ApiError> {
    match ctx.method {
        Method::GET => {
            if kind == EntityKind::Consumer && ctx.query.first("custom_id").is_some() {
                return consumers_by_custom_id(ctx).await;
            }
            let path = format!("/{}", collection_segment(kind));
            list(ctx, kind, None, NextLink::TopLevel(path)).await
        }
        _ => {
            let input = ctx.input(kind)?;
            let entity = write::write(&ctx.state, kind, input, Mode::Insert).await?;
            Ok(Reply::created(entity))
        }
    }
}

/// `GET /consumers?custom_id=x`: exactly the matching consumer (or none).
async fn consumers_by_custom_id(ctx: &Ctx) -> Result<Reply, ApiError> {
    let custom_id = match ctx.query.first("custom_id") {
        Some(QueryValue::Text(value)) if !value.is_empty() && ctx.query.count("custom_id") == 1 => {
            value.clone()
        }
        _ => {
            return Err(ApiError::BadRequest(
                "custom_id must be an unempty string".into(),
            ));
        }
    };
    let query = ListQuery {
        size: 1,
        offset: None,
        tags: None,
        scope: None,
        field: Some(FieldFilter {
            field: "custom_id".into(),
            value: custom_id,
        }),
    };
    let page = ctx.state.store().list(EntityKind::Consumer, &query).await?;
    let mut data = Vec::new();
    for entity in page.data {
        data.push(render(&ctx.state, EntityKind::Consumer, entity).await?);
    }
    Ok(Reply::ok(json!({"data": data, "next": null})))
}

/// `/{collection}/{key}`.
pub async fn entity(ctx: &Ctx, kind: EntityKind) -> Result<Reply, ApiError> {
    let segment = ctx.param(0, key_field(kind))?;
    if kind == EntityKind::Certificate {
        return super::certificates::entity(ctx, segment).await;
    }
    let (key, found) = find_by_segment(&ctx.state, kind, segment, None).await?;
    match ctx.method {
        Method::GET => match found {
            Some(entity) => Ok(Reply::ok(render(&ctx.state, kind, entity).await?)),
            None => Err(not_found(kind, &key)),
        },
        Method::PUT => {
            let input = ctx.input(kind)?;
            put(&ctx.state, kind, input, &key, found.as_ref(), None).await
        }
        Method::PATCH => {
            let existing = found.ok_or_else(|| not_found(kind, &key))?;
            let input = patch_input(ctx, kind, &existing)?;
            let entity = write::write(&ctx.state, kind, input, Mode::Update(&existing)).await?;
            Ok(Reply::ok(entity))
        }
        _ => {
            if let Some(existing) = found {
                ctx.state.store().delete(kind, id_of(&existing)?).await?;
            }
            Ok(Reply::no_content())
        }
    }
}

/// A PATCH body as input: plugin form bodies are converted by the stored plugin's schema.
pub fn patch_input(
    ctx: &Ctx,
    kind: EntityKind,
    existing: &Entity,
) -> Result<serde_json::Map<String, Value>, ApiError> {
    match (kind, existing.get("name").and_then(Value::as_str)) {
        (EntityKind::Plugin, Some(name)) => ctx.plugin_patch_input(name),
        _ => ctx.input(kind),
    }
}

/// How often a PUT by endpoint key that lost a creation race looks again (see [`put`]).
const PUT_RACE_RETRIES: usize = 3;

/// PUT: creates or replaces the entity `key` names, with the key from the URL. `scope` is
/// the lookup scope `existing` was found with.
///
/// A PUT by id is one `INSERT .. ON CONFLICT (id)`, so concurrent ones cannot collide. A
/// PUT by endpoint key that found nothing creates the entity with a fresh id; when another
/// request created it in between, the database refuses the second row (unique violation on
/// the key). Kong's `upsert_by_<key>` replaces in that case (`ON CONFLICT (name) DO
/// UPDATE`), so the PUT looks the entity up again and replaces it rather than answering 409.
pub async fn put(
    state: &AdminState,
    kind: EntityKind,
    mut input: serde_json::Map<String, Value>,
    key: &UrlKey,
    existing: Option<&Entity>,
    scope: Option<Scope>,
) -> Result<Reply, ApiError> {
    match key {
        UrlKey::Id(id) => bind_url_key(&mut input, "id", Value::String(id.to_string()))?,
        UrlKey::Field(field, value) => {
            bind_url_key(&mut input, field, Value::String(value.clone()))?
        }
    }
    let mut existing = existing.cloned();
    let mut retries = PUT_RACE_RETRIES;
    loop {
        let result =
            write::write(state, kind, input.clone(), Mode::Upsert(existing.as_ref())).await;
        match result {
            Err(ApiError::UniqueViolation { fields })
                if retries > 0 && existing.is_none() && lost_creation_race(key, &fields) =>
            {
                retries -= 1;
                existing = lookup::find(state, kind, key, scope).await?;
                if existing.is_none() {
                    return Err(ApiError::UniqueViolation { fields });
                }
            }
            result => return result.map(Reply::ok),
        }
    }
}

/// Whether a unique violation is on the endpoint key the PUT's URL names.
fn lost_creation_race(key: &UrlKey, fields: &serde_json::Map<String, Value>) -> bool {
    matches!(key, UrlKey::Field(field, _) if fields.contains_key(*field))
}
