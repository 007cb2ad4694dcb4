//! `/schemas/{entity}`, `/schemas/plugins/{name}` and the `validate` endpoints.

use common::model::EntityKind;
use serde_json::json;

use super::context::Ctx;
use super::error::ApiError;
use super::reply::Reply;

/// `GET /schemas/{name}`
pub fn entity_schema(ctx: &Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0, "name")?;
    let schema = ctx
        .state
        .catalog()
        .entity_by_name(name)
        .ok_or_else(|| ApiError::NotFoundMessage(format!("No entity named '{name}'")))?;
    Ok(Reply::ok(
        ctx.state.catalog().render_entity_schema(schema.kind),
    ))
}

/// `GET /schemas/plugins/{name}`
pub fn plugin_schema(ctx: &Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0, "name")?;
    ctx.state
        .catalog()
        .render_plugin_schema(name)
        .map(Reply::ok)
        .ok_or_else(|| ApiError::NotFoundMessage(format!("No plugin named '{name}'")))
}

/// `POST /schemas/{entity}/validate` and `POST /schemas/plugins/validate`: validates the
/// body as an insert would, storing nothing.
pub fn validate(ctx: &Ctx) -> Result<Reply, ApiError> {
    let kind = match ctx.params.first() {
        None => EntityKind::Plugin,
        Some(_) => {
            let name = ctx.param(0, "name")?;
            ctx.state
                .catalog()
                .entity_by_name(name)
                .map(|s| s.kind)
                .ok_or_else(|| ApiError::NotFoundMessage(format!("No entity named '{name}'")))?
        }
    };
    let input = ctx.input(kind)?;
    ctx.state.catalog().validate(kind, input)?;
    Ok(Reply::ok(
        json!({"message": "schema validation successful"}),
    ))
}
