//! Nested endpoints, as Kong generates them for every foreign key:
//!
//! - `/services/{services}/routes` — the children of a parent (GET lists, POST creates with
//!   the parent filled in);
//! - `/services/{services}/routes/{routes}` — one child, which must belong to the parent
//!   (404 otherwise); PUT attaches the child to the parent;
//! - `/routes/{routes}/service` — the entity a foreign key points to. PUT on a route without
//!   a service creates one and associates it; DELETE is refused (405).

use axum::http::Method;
use common::model::EntityKind;
use serde_json::Value;

use super::context::Ctx;
use super::entity::lookup::{
    UrlKey, endpoint_key_scope, find, find_by_segment, foreign_id, id_of, not_found, reference,
    url_key,
};
use super::entity::write::{self, Mode, bind_url_key, new_id};
use super::entity::{NextLink, key_field, list, patch_input, put, render};
use super::error::ApiError;
use super::reply::Reply;
use super::routes::{collection_segment, nested_segment};
use crate::store::{Entity, Scope};

/// The parent named by the first path parameter; 404 when it does not exist.
async fn parent_entity(ctx: &Ctx, parent: EntityKind) -> Result<Entity, ApiError> {
    let segment = ctx.param(0, key_field(parent))?;
    let (key, found) = find_by_segment(&ctx.state, parent, segment, None).await?;
    found.ok_or_else(|| not_found(parent, &key))
}

fn belongs_to(child: &Entity, field: &str, parent: &Entity) -> Result<bool, ApiError> {
    Ok(foreign_id(child, field) == Some(id_of(parent)?))
}

/// `/{parent}/{p}/{children}`
pub async fn collection(
    ctx: &Ctx,
    parent: EntityKind,
    child: EntityKind,
    field: &'static str,
) -> Result<Reply, ApiError> {
    let parent_entity = parent_entity(ctx, parent).await?;
    let parent_id = id_of(&parent_entity)?;
    match ctx.method {
        Method::GET => {
            let prefix = format!(
                "/{}/{}/{}",
                collection_segment(parent),
                ctx.raw_param(0)?,
                nested_segment(child)
            );
            let scope = Scope {
                field,
                id: parent_id,
            };
            list(ctx, child, Some(scope), NextLink::Nested(prefix)).await
        }
        _ => {
            let mut input = ctx.input(child)?;
            input.insert(field.to_owned(), reference(parent_id));
            let entity = write::write(&ctx.state, child, input, Mode::Insert).await?;
            Ok(Reply::created(entity))
        }
    }
}

/// `/{parent}/{p}/{children}/{c}`
pub async fn entity(
    ctx: &Ctx,
    parent: EntityKind,
    child: EntityKind,
    field: &'static str,
) -> Result<Reply, ApiError> {
    let parent_entity = parent_entity(ctx, parent).await?;
    let parent_id = id_of(&parent_entity)?;
    let segment = ctx.param(1, key_field(child))?;
    // ACL groups are unique per consumer: look the group up under this consumer.
    let scope = (endpoint_key_scope(child) == Some(field)).then_some(Scope {
        field,
        id: parent_id,
    });
    let key = url_key(&ctx.state, child, segment, scope.is_some())?;
    let found = find(&ctx.state, child, &key, scope).await?;
    let owned = match &found {
        Some(c) if belongs_to(c, field, &parent_entity)? => Some(c),
        _ => None,
    };
    match ctx.method {
        Method::GET => {
            let child_entity = owned.cloned().ok_or(ApiError::NotFound)?;
            Ok(Reply::ok(render(&ctx.state, child, child_entity).await?))
        }
        Method::PUT => {
            let mut input = ctx.input(child)?;
            input.insert(field.to_owned(), reference(parent_id));
            put(&ctx.state, child, input, &key, found.as_ref(), scope).await
        }
        Method::PATCH => {
            let existing = owned.ok_or(ApiError::NotFound)?;
            let mut input = patch_input(ctx, child, existing)?;
            if !input.contains_key(field) {
                input.insert(field.to_owned(), reference(parent_id));
            }
            let entity = write::write(&ctx.state, child, input, Mode::Update(existing)).await?;
            Ok(Reply::ok(entity))
        }
        _ => {
            let existing = owned.ok_or(ApiError::NotFound)?;
            ctx.state.store().delete(child, id_of(existing)?).await?;
            Ok(Reply::no_content())
        }
    }
}

/// `/{kind}/{k}/{field}`: the `target` entity that `field` of entity `k` points to.
pub async fn foreign_entity(
    ctx: &Ctx,
    kind: EntityKind,
    field: &'static str,
    target: EntityKind,
) -> Result<Reply, ApiError> {
    let segment = ctx.param(0, key_field(kind))?;
    let (key, found) = find_by_segment(&ctx.state, kind, segment, None).await?;
    let owner = found.ok_or_else(|| not_found(kind, &key))?;
    let pointed = foreign_id(&owner, field);
    let state = &ctx.state;
    match (ctx.method.clone(), pointed) {
        (Method::PUT, None) => associate_new(ctx, kind, field, target, &owner).await,
        (_, None) => Err(ApiError::NotFound),
        (Method::DELETE, Some(_)) => Err(ApiError::MethodNotAllowed),
        (method, Some(target_id)) => {
            let existing = state.store().get(target, target_id).await?;
            match method {
                Method::GET => {
                    let entity = existing.ok_or(ApiError::NotFound)?;
                    Ok(Reply::ok(render(state, target, entity).await?))
                }
                Method::PATCH => {
                    let existing = existing.ok_or(ApiError::NotFound)?;
                    let input = patch_input(ctx, target, &existing)?;
                    let entity =
                        write::write(state, target, input, Mode::Update(&existing)).await?;
                    Ok(Reply::ok(entity))
                }
                _ => {
                    let input = ctx.input(target)?;
                    put(
                        state,
                        target,
                        input,
                        &UrlKey::Id(target_id),
                        existing.as_ref(),
                        None,
                    )
                    .await
                }
            }
        }
    }
}

/// PUT on a foreign-entity endpoint whose foreign key is unset: creates the entity and
/// points the owner at it, in one transaction.
async fn associate_new(
    ctx: &Ctx,
    kind: EntityKind,
    field: &'static str,
    target: EntityKind,
    owner: &Entity,
) -> Result<Reply, ApiError> {
    let state = &ctx.state;
    let id = new_id();
    let mut input = ctx.input(target)?;
    bind_url_key(&mut input, "id", Value::String(id.to_string()))?;
    let created = write::prepare(state, target, input, Mode::Upsert(None)).await?;
    let mut link = serde_json::Map::new();
    link.insert(field.to_owned(), reference(id));
    let updated = write::prepare(state, kind, link, Mode::Update(owner)).await?;
    write::commit(state, &[&created, &updated]).await?;
    Ok(Reply::ok(created.response()))
}
