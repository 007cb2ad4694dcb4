//! `/certificates/{certificates}`: a certificate is named by its id or by one of its SNI
//! names, and `snis` is a pseudo-field kept in the `snis` table (Kong's
//! `kong/api/routes/certificates.lua`). A PUT by SNI name creates the certificate when no
//! certificate serves that name, and adds the name to the `snis` given in the body.

use axum::http::Method;
use common::model::EntityKind;
use common::schema::is_uuid;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::context::Ctx;
use super::entity::lookup::{foreign_id, id_of};
use super::entity::render;
use super::entity::write::{self, Mode, bind_url_key, new_id};
use super::error::ApiError;
use super::reply::Reply;

pub async fn entity(ctx: &Ctx, segment: &str) -> Result<Reply, ApiError> {
    let kind = EntityKind::Certificate;
    let store = ctx.state.store();
    let (id, url_name) = if is_uuid(segment) {
        (Uuid::parse_str(segment).map_err(ApiError::internal)?, None)
    } else {
        match store
            .get_by_field(EntityKind::Sni, "name", segment, None)
            .await?
        {
            Some(sni) => (
                foreign_id(&sni, "certificate")
                    .ok_or_else(|| ApiError::internal("SNI without a certificate"))?,
                Some(segment.to_owned()),
            ),
            None if ctx.method == Method::PUT => (new_id(), Some(segment.to_owned())),
            None => return Err(ApiError::NotFoundMessage("SNI not found".into())),
        }
    };
    let existing = store.get(kind, id).await?;
    match ctx.method {
        Method::GET => match existing {
            Some(certificate) => Ok(Reply::ok(render(&ctx.state, kind, certificate).await?)),
            None => Err(ApiError::NotFound),
        },
        Method::DELETE => {
            if let Some(certificate) = existing {
                store.delete(kind, id_of(&certificate)?).await?;
            }
            Ok(Reply::no_content())
        }
        Method::PUT => {
            let mut input = ctx.input(kind)?;
            prepare_snis(&mut input, url_name.as_deref(), true);
            bind_url_key(&mut input, "id", Value::String(id.to_string()))?;
            let entity =
                write::write(&ctx.state, kind, input, Mode::Upsert(existing.as_ref())).await?;
            Ok(Reply::ok(entity))
        }
        _ => {
            let existing = existing.ok_or(ApiError::NotFound)?;
            let mut input = ctx.input(kind)?;
            prepare_snis(&mut input, url_name.as_deref(), false);
            let entity = write::write(&ctx.state, kind, input, Mode::Update(&existing)).await?;
            Ok(Reply::ok(entity))
        }
    }
}

/// Kong's `prepare_args`: a single name becomes a list; on PUT the SNI name from the URL is
/// added to a given list, and a PUT without `snis` replaces them with none.
fn prepare_snis(input: &mut Map<String, Value>, url_name: Option<&str>, put: bool) {
    let list = match input.get("snis") {
        Some(Value::Array(items)) => {
            let mut items = items.clone();
            if let (Some(name), true) = (url_name, put)
                && !items.iter().any(|i| i.as_str() == Some(name))
            {
                items.push(Value::String(name.to_owned()));
            }
            Value::Array(items)
        }
        Some(Value::String(single)) => match url_name {
            Some(name) if put && name != single => Value::Array(vec![
                Value::String(single.clone()),
                Value::String(name.to_owned()),
            ]),
            _ => Value::Array(vec![Value::String(single.clone())]),
        },
        Some(other) => other.clone(),
        None if put => Value::Null,
        None => return,
    };
    input.insert("snis".into(), list);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn prepared(input: Value, url: Option<&str>, put: bool) -> Value {
        let mut map = input.as_object().cloned().unwrap_or_default();
        prepare_snis(&mut map, url, put);
        Value::Object(map)
    }

    #[test]
    fn url_name_joins_the_list_on_put() {
        assert_eq!(
            prepared(json!({"snis": ["b"]}), Some("a"), true),
            json!({"snis": ["b", "a"]})
        );
        assert_eq!(
            prepared(json!({"snis": ["a"]}), Some("a"), true),
            json!({"snis": ["a"]})
        );
        assert_eq!(
            prepared(json!({"snis": "b"}), Some("a"), true),
            json!({"snis": ["b", "a"]})
        );
        assert_eq!(prepared(json!({}), Some("a"), true), json!({"snis": null}));
        assert_eq!(prepared(json!({}), None, false), json!({}));
        assert_eq!(
            prepared(json!({"snis": "b"}), Some("a"), false),
            json!({"snis": ["b"]})
        );
    }
}
