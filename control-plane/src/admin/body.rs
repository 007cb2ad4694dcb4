//! Request bodies: reading them (with a size limit), checking their content type, and
//! turning them into entity input. Kong accepts JSON, `application/x-www-form-urlencoded`
//! and `multipart/form-data`; form values are decoded with Kong's argument syntax
//! (`admin::args`) and then converted by the entity's schema (`Catalog::coerce_form`).

use axum::body::Body;
use axum::extract::{FromRequest, Multipart};
use axum::http::{HeaderMap, Request, header};
use common::model::EntityKind;
use common::schema::Catalog;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::{Map, Value};

use super::args::{self, ArgsError, Brackets, MAX_ARGS};
use super::error::ApiError;

/// The default request body limit (Kong's Admin API allows 10 MiB).
pub const DEFAULT_BODY_LIMIT: usize = 10 * 1024 * 1024;

pub const CANNOT_PARSE_JSON: &str = "Cannot parse JSON body";

/// A request body, parsed but not yet interpreted for an entity.
#[derive(Debug, Clone, PartialEq)]
pub enum RequestBody {
    /// No body (or an empty one without a content type).
    Empty,
    /// A JSON object (a JSON array is kept as an object keyed `"1"`, `"2"`, ... as Lua
    /// would see it, so validation reports its keys as unknown fields).
    Json(Map<String, Value>),
    /// Decoded form or multipart arguments, in order.
    Form(Vec<(String, String)>),
}

enum Kind {
    Json,
    Form,
    Multipart,
}

fn content_kind(content_type: &str) -> Option<Kind> {
    let lower = content_type.trim_start().to_ascii_lowercase();
    if lower.starts_with("application/json") {
        Some(Kind::Json)
    } else if lower.starts_with("application/x-www-form-urlencoded") {
        Some(Kind::Form)
    } else if lower.starts_with("multipart/form-data") {
        Some(Kind::Multipart)
    } else {
        None
    }
}

fn args_error(e: ArgsError) -> ApiError {
    ApiError::BadRequest(e.to_string())
}

/// Reads and parses the body of a write request.
pub async fn read(headers: &HeaderMap, body: Body, limit: usize) -> Result<RequestBody, ApiError> {
    let mut types = headers.get_all(header::CONTENT_TYPE).iter();
    let content_type = types.next();
    if types.next().is_some() {
        return Err(ApiError::BadRequest(
            "Multiple Content-Type headers not allowed".into(),
        ));
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        Err(e) => {
            tracing::debug!(error = %e, "could not read a request body");
            return Err(ApiError::BadRequest(
                "Could not read the request body".into(),
            ));
        }
    };
    let Some(content_type) = content_type else {
        return if bytes.is_empty() {
            Ok(RequestBody::Empty)
        } else {
            Err(ApiError::UnsupportedMediaType)
        };
    };
    let content_type = content_type
        .to_str()
        .map_err(|_| ApiError::UnsupportedMediaType)?;
    match content_kind(content_type).ok_or(ApiError::UnsupportedMediaType)? {
        Kind::Json => parse_json(&bytes),
        Kind::Form => Ok(RequestBody::Form(
            args::parse_urlencoded(&bytes).map_err(args_error)?,
        )),
        Kind::Multipart => parse_multipart(content_type, bytes).await,
    }
}

fn parse_json(bytes: &[u8]) -> Result<RequestBody, ApiError> {
    let bad = || ApiError::BadRequest(CANNOT_PARSE_JSON.into());
    let value: Value = serde_json::from_slice(bytes).map_err(|_| bad())?;
    match value {
        Value::Object(map) => Ok(RequestBody::Json(map)),
        Value::Array(items) => Ok(RequestBody::Json(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| ((i + 1).to_string(), v))
                .collect(),
        )),
        _ => Err(bad()),
    }
}

/// A part whose name cannot be read: a name that is not UTF-8 is refused like one in a
/// form-encoded body; a part without a name is not an argument at all.
fn nameless_part(headers: &HeaderMap) -> ApiError {
    let disposition = headers
        .get(header::CONTENT_DISPOSITION)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if std::str::from_utf8(disposition).is_err() {
        args_error(ArgsError::InvalidUtf8("name"))
    } else {
        ApiError::BadRequest("Cannot parse multipart body".into())
    }
}

async fn parse_multipart(content_type: &str, bytes: bytes::Bytes) -> Result<RequestBody, ApiError> {
    if bytes.is_empty() {
        return Ok(RequestBody::Form(Vec::new()));
    }
    let invalid = |detail: String| {
        tracing::debug!(error = %detail, "invalid multipart body");
        ApiError::BadRequest("Cannot parse multipart body".into())
    };
    let request = Request::builder()
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(bytes))
        .map_err(|e| invalid(e.to_string()))?;
    let mut multipart = Multipart::from_request(request, &())
        .await
        .map_err(|e| invalid(e.body_text()))?;
    let mut pairs = Vec::new();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| invalid(e.body_text()))?
    {
        if pairs.len() == MAX_ARGS {
            return Err(args_error(ArgsError::TooManyArguments));
        }
        let name = match field.name() {
            Some(name) => name.to_owned(),
            None => return Err(nameless_part(field.headers())),
        };
        let data = field.bytes().await.map_err(|e| invalid(e.body_text()))?;
        let value = String::from_utf8(data.to_vec())
            .map_err(|_| args_error(ArgsError::InvalidUtf8("value")))?;
        pairs.push((name, value));
    }
    Ok(RequestBody::Form(pairs))
}

impl RequestBody {
    /// The entity input of a write of `kind`: the JSON object as is, or the form arguments
    /// decoded into a tree and converted by the schema. `plugin_name` names the plugin whose
    /// config schema converts a form PATCH that does not repeat `name` (Kong reads it from
    /// the stored plugin first).
    pub fn input(
        &self,
        catalog: &Catalog,
        kind: EntityKind,
        plugin_name: Option<&str>,
    ) -> Result<Map<String, Value>, ApiError> {
        match self {
            RequestBody::Empty => Ok(Map::new()),
            RequestBody::Json(map) => Ok(map.clone()),
            RequestBody::Form(pairs) => {
                let tree = form_tree(pairs)?;
                let Value::Object(mut tree) = tree else {
                    return Ok(Map::new());
                };
                let borrowed_name = match (plugin_name, tree.contains_key("name")) {
                    (Some(name), false) => {
                        tree.insert("name".into(), Value::String(name.to_owned()));
                        true
                    }
                    _ => false,
                };
                let coerced = catalog.coerce_form(kind, Value::Object(tree));
                let Value::Object(mut map) = coerced else {
                    return Ok(Map::new());
                };
                if borrowed_name {
                    map.remove("name");
                }
                Ok(map)
            }
        }
    }

    /// The form arguments as a tree of strings (no schema conversion), or the JSON object.
    pub fn raw_tree(&self) -> Result<Map<String, Value>, ApiError> {
        match self {
            RequestBody::Empty => Ok(Map::new()),
            RequestBody::Json(map) => Ok(map.clone()),
            RequestBody::Form(pairs) => match form_tree(pairs)? {
                Value::Object(map) => Ok(map),
                _ => Ok(Map::new()),
            },
        }
    }

    /// Whether the body came form-encoded or as multipart.
    pub fn is_form(&self) -> bool {
        matches!(self, RequestBody::Form(_))
    }
}

fn form_tree(pairs: &[(String, String)]) -> Result<Value, ApiError> {
    args::decode_pairs(pairs.to_vec(), Brackets::MapsAllowed).map_err(args_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(content_type: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(ct) = content_type {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_str(ct).expect("header"),
            );
        }
        h
    }

    async fn parse(
        content_type: Option<&str>,
        body: &'static str,
    ) -> Result<RequestBody, ApiError> {
        read(&headers(content_type), Body::from(body), 1024).await
    }

    #[tokio::test]
    async fn content_types() {
        assert_eq!(parse(None, "").await.ok(), Some(RequestBody::Empty));
        assert!(matches!(
            parse(None, "a=b").await,
            Err(ApiError::UnsupportedMediaType)
        ));
        assert!(matches!(
            parse(Some("invalid"), "a=b").await,
            Err(ApiError::UnsupportedMediaType)
        ));
        assert!(matches!(
            parse(Some("application/json"), "").await,
            Err(ApiError::BadRequest(m)) if m == CANNOT_PARSE_JSON
        ));
        assert!(matches!(
            parse(Some("application/json"), "{\"hello\": \"world\"").await,
            Err(ApiError::BadRequest(m)) if m == CANNOT_PARSE_JSON
        ));
        assert!(matches!(
            parse(Some("application/json; charset=utf-8"), "\"text\"").await,
            Err(ApiError::BadRequest(_))
        ));
        assert_eq!(
            parse(Some("application/x-www-form-urlencoded"), "")
                .await
                .ok(),
            Some(RequestBody::Form(Vec::new()))
        );
    }

    #[tokio::test]
    async fn size_limit() {
        let big = "x".repeat(2000);
        let r = read(&headers(Some("application/json")), Body::from(big), 1024).await;
        assert!(matches!(r, Err(ApiError::PayloadTooLarge { limit: 1024 })));
    }

    #[tokio::test]
    async fn multipart_fields_become_pairs() {
        let body = "--XX\r\nContent-Disposition: form-data; name=\"snis[1]\"\r\n\r\na.test\r\n--XX\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nx\r\n--XX--\r\n";
        let r = parse(Some("multipart/form-data; boundary=XX"), body).await;
        assert_eq!(
            r.ok(),
            Some(RequestBody::Form(vec![
                ("snis[1]".into(), "a.test".into()),
                ("name".into(), "x".into())
            ]))
        );
        assert!(matches!(
            parse(Some("multipart/form-data"), "garbage").await,
            Err(ApiError::BadRequest(_))
        ));
    }

    #[tokio::test]
    async fn multipart_parts_need_a_utf8_name() {
        let content_type = headers(Some("multipart/form-data; boundary=XX"));
        let invalid =
            b"--XX\r\nContent-Disposition: form-data; name=\"user\xffname\"\r\n\r\nx\r\n--XX--\r\n";
        let r = read(&content_type, Body::from(invalid.to_vec()), 1024).await;
        assert!(
            matches!(&r, Err(ApiError::BadRequest(m)) if m == "invalid utf-8 in argument name"),
            "{r:?}"
        );
        let nameless = "--XX\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XX--\r\n";
        let r = read(&content_type, Body::from(nameless), 1024).await;
        assert!(
            matches!(&r, Err(ApiError::BadRequest(m)) if m == "Cannot parse multipart body"),
            "{r:?}"
        );
    }
}
