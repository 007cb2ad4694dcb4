//! Upstream targets (`kong/api/routes/upstreams.lua`). There is no top-level `/targets`;
//! targets live under their upstream and are named by id or by `host:port`, unique within
//! the upstream. PUT on a target updates it (as in Kong, it is not an upsert).
//!
//! A hybrid-mode control plane leaves out `PUT .../targets/{t}/healthy|unhealthy` (as Kong's
//! does: health is a data-plane balancer state), and `GET /upstreams/{u}/health` lists the
//! targets without health information, which only data planes have.

use axum::http::Method;
use common::model::EntityKind;
use common::schema::is_uuid;
use serde_json::{Value, json};
use uuid::Uuid;

use super::context::Ctx;
use super::entity::lookup::{find_by_segment, foreign_id, id_of, not_found, reference};
use super::entity::write::{self, Mode};
use super::entity::{NextLink, key_field, list, render};
use super::error::ApiError;
use super::paging::{self, page_body};
use super::reply::Reply;
use crate::store::{Entity, ListQuery, Scope};

async fn upstream(ctx: &Ctx) -> Result<Entity, ApiError> {
    let segment = ctx.param(0, key_field(EntityKind::Upstream))?;
    let (key, found) = find_by_segment(&ctx.state, EntityKind::Upstream, segment, None).await?;
    found.ok_or_else(|| not_found(EntityKind::Upstream, &key))
}

fn scope(upstream_id: Uuid) -> Scope {
    Scope {
        field: "upstream",
        id: upstream_id,
    }
}

/// `/upstreams/{u}/targets` and `/upstreams/{u}/targets/all`.
pub async fn collection(ctx: &Ctx, all: bool) -> Result<Reply, ApiError> {
    let upstream = upstream(ctx).await?;
    let upstream_id = id_of(&upstream)?;
    match ctx.method {
        Method::GET => {
            let suffix = if all { "targets/all" } else { "targets" };
            let prefix = format!("/upstreams/{}/{suffix}", ctx.raw_param(0)?);
            list(
                ctx,
                EntityKind::Target,
                Some(scope(upstream_id)),
                NextLink::Nested(prefix),
            )
            .await
        }
        _ => {
            let mut input = ctx.input(EntityKind::Target)?;
            input.insert("upstream".into(), reference(upstream_id));
            let entity = write::write(&ctx.state, EntityKind::Target, input, Mode::Insert).await?;
            Ok(Reply::created(entity))
        }
    }
}

/// `/upstreams/{u}/targets/{id or host:port}`.
pub async fn entity(ctx: &Ctx) -> Result<Reply, ApiError> {
    let upstream = upstream(ctx).await?;
    let upstream_id = id_of(&upstream)?;
    let key = ctx.param(1, "target")?;
    let store = ctx.state.store();
    let found = if is_uuid(key) {
        store
            .get(
                EntityKind::Target,
                Uuid::parse_str(key).map_err(ApiError::internal)?,
            )
            .await?
    } else {
        store
            .get_by_field(EntityKind::Target, "target", key, Some(scope(upstream_id)))
            .await?
    };
    let target = found
        .filter(|t| foreign_id(t, "upstream") == Some(upstream_id))
        .ok_or(ApiError::NotFound)?;
    match ctx.method {
        Method::GET => Ok(Reply::ok(
            render(&ctx.state, EntityKind::Target, target).await?,
        )),
        Method::DELETE => {
            store.delete(EntityKind::Target, id_of(&target)?).await?;
            Ok(Reply::no_content())
        }
        _ => {
            let input = ctx.input(EntityKind::Target)?;
            let entity =
                write::write(&ctx.state, EntityKind::Target, input, Mode::Update(&target)).await?;
            Ok(Reply::ok(entity))
        }
    }
}

/// `GET /upstreams/{u}/health`: the upstream's targets and this node's id. Health states
/// live in the data planes' balancers, so a control plane reports none (as Kong's does).
pub async fn health(ctx: &Ctx) -> Result<Reply, ApiError> {
    let upstream = upstream(ctx).await?;
    let upstream_id = id_of(&upstream)?;
    let node_id = ctx.state.node_id();
    if ctx.query.text("balancer_health") == Some("1") {
        return Ok(Reply::ok(
            json!({"data": null, "next": null, "node_id": node_id}),
        ));
    }
    let paging = paging::paging(&ctx.query, false)?;
    let query = ListQuery {
        size: paging.size,
        offset: paging.offset,
        tags: None,
        scope: Some(scope(upstream_id)),
        field: None,
    };
    let page = ctx.state.store().list(EntityKind::Target, &query).await?;
    let data: Vec<Value> = page.data.into_iter().map(Value::Object).collect();
    let next = page.next.map(|offset| {
        let token = offset.token();
        let link = format!(
            "/upstreams/{}/health?offset={}",
            ctx.params.first().map_or("", |p| p.raw.as_str()),
            paging::escape_uri(&token)
        );
        (token, link)
    });
    let mut body = page_body(data, next);
    body["node_id"] = json!(node_id);
    Ok(Reply::ok(body))
}
