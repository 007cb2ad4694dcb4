//! `GET /tags` and `GET /tags/{tag}`: every (tag, entity) pair, or the entities carrying
//! one tag. A `tags` query argument is ignored here, as in Kong.

use serde_json::{Value, json};

use super::context::Ctx;
use super::error::ApiError;
use super::paging::{self, nested_next, page_body, top_level_next};
use super::reply::Reply;

/// Kong's tag characters: printable ASCII but `,` and `/`, or any non-ASCII character.
fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag
            .chars()
            .all(|c| (matches!(c, ' '..='~') && c != ',' && c != '/') || !c.is_ascii())
}

pub async fn list(ctx: &Ctx, by_tag: bool) -> Result<Reply, ApiError> {
    let tag = if by_tag {
        let tag = ctx.param(0, "tag")?;
        if !valid_tag(tag) {
            return Err(ApiError::InvalidUnique {
                field: "tag".into(),
                message: format!(
                    "invalid tag '{tag}': expected printable ascii (except `,` and `/`) or valid utf-8 sequences"
                ),
            });
        }
        Some(tag)
    } else {
        None
    };
    let paging = paging::paging(&ctx.query, false)?;
    let page = ctx
        .state
        .store()
        .list_tags(tag, paging.size, paging.offset.as_ref())
        .await?;
    let data: Vec<Value> = page
        .data
        .iter()
        .map(|row| {
            json!({
                "tag": row.tag,
                "entity_name": row.kind.name(),
                "entity_id": row.entity_id,
            })
        })
        .collect();
    let raw_tag = if by_tag { ctx.raw_param(0)? } else { "" };
    let next = page.next.map(|offset| {
        let token = offset.token();
        let link = if by_tag {
            nested_next(&format!("/tags/{raw_tag}"), &token)
        } else {
            top_level_next("/tags", &token, &paging)
        };
        (token, link)
    });
    Ok(Reply::ok(page_body(data, next)))
}
