//! The Admin API's one error type. Every handler returns `Result<Reply, ApiError>`; an
//! `ApiError` renders itself as Kong renders the same failure (status and JSON body), and
//! never puts internal error text (database messages, bugs) into a response: those are
//! logged instead.

use axum::http::StatusCode;
use common::model::EntityKind;
use common::schema::{ForeignKeysUnresolved, SchemaViolation, lua_compact};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::store::StoreError;

/// Kong's DAO error codes (`kong/db/errors.lua`) that the Admin API reports.
mod code {
    pub const INVALID_PRIMARY_KEY: u32 = 1;
    pub const PRIMARY_KEY_VIOLATION: u32 = 3;
    pub const FOREIGN_KEY_VIOLATION: u32 = 4;
    pub const UNIQUE_VIOLATION: u32 = 5;
    pub const INVALID_OFFSET: u32 = 7;
    pub const INVALID_SIZE: u32 = 9;
    pub const INVALID_UNIQUE: u32 = 10;
    pub const INVALID_OPTIONS: u32 = 11;
    pub const REFERENCED_BY_OTHERS: u32 = 19;
}

#[derive(Debug)]
pub enum ApiError {
    /// 404 `{"message":"Not found"}` (HEAD: no body).
    NotFound,
    /// 404 with another message (`No entity named 'x'`, `SNI not found`).
    NotFoundMessage(String),
    /// 405 `{"message":"Method not allowed"}`.
    MethodNotAllowed,
    /// 401: `--admin-token` is set and the request did not carry it.
    Unauthorized,
    /// 415: a body with a content type the Admin API does not read.
    UnsupportedMediaType,
    /// 413: the body is larger than the configured limit.
    PayloadTooLarge { limit: usize },
    /// 400 `{"message": ...}` for malformed requests (`Cannot parse JSON body`,
    /// `Too many arguments`, invalid UTF-8, ...).
    BadRequest(String),
    /// 400, code 2.
    Schema(SchemaViolation),
    /// 400, code 13.
    ForeignKeysUnresolved(ForeignKeysUnresolved),
    /// 400, code 1: a path segment that must be a UUID is not one.
    InvalidPrimaryKey { message: String },
    /// 400, code 10: an endpoint key in the URL that its field's validation refuses.
    InvalidUnique { field: String, message: String },
    /// 400, code 9.
    InvalidSize(String),
    /// 400, code 11 (`invalid option (tags: cannot be null)`).
    InvalidOption {
        option: &'static str,
        message: String,
    },
    /// 400, code 7 (`'x' is not a valid offset: bad base64 encoding`).
    InvalidOffset(String),
    /// 409, code 5.
    UniqueViolation { fields: Map<String, Value> },
    /// 400, code 3.
    PrimaryKeyViolation { id: Uuid },
    /// 400, code 4: a reference to an entity that does not exist.
    ForeignKeyMissing {
        field: &'static str,
        references: EntityKind,
        id: Option<Uuid>,
    },
    /// 400, code 4: a delete refused because other entities reference the entity.
    ReferencedBy {
        referenced_by: EntityKind,
        kind: EntityKind,
    },
    /// 400, code 19 (Kong's wording for CA certificates still in use).
    ReferencedByOthers(String),
    /// 503: the database is unreachable or not answering in time. The detail is logged.
    Unavailable(String),
    /// 500: a bug or an unexpected database failure. The detail is logged, never sent.
    Internal(String),
}

/// An error rendered: status and JSON body.
pub struct Rendered {
    pub status: StatusCode,
    pub body: Value,
}

impl ApiError {
    pub fn internal(detail: impl std::fmt::Display) -> ApiError {
        ApiError::Internal(detail.to_string())
    }

    /// The status and body Kong would answer with. Logs what must not be sent.
    pub fn render(self) -> Rendered {
        let (status, body) = match self {
            ApiError::NotFound => (StatusCode::NOT_FOUND, message("Not found")),
            ApiError::NotFoundMessage(m) => (StatusCode::NOT_FOUND, message(&m)),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                message("Method not allowed"),
            ),
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                message("Invalid credentials. Token or User credentials required"),
            ),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                message(
                    "Unsupported Content-Type: expected application/json, application/x-www-form-urlencoded or multipart/form-data",
                ),
            ),
            ApiError::PayloadTooLarge { limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                message(&format!("Request body too large (limit: {limit} bytes)")),
            ),
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, message(&m)),
            ApiError::Schema(v) => (StatusCode::BAD_REQUEST, v.to_json()),
            ApiError::ForeignKeysUnresolved(e) => (StatusCode::BAD_REQUEST, e.to_json()),
            ApiError::InvalidPrimaryKey { message } => (
                StatusCode::BAD_REQUEST,
                json!({
                    "code": code::INVALID_PRIMARY_KEY,
                    "name": "invalid primary key",
                    "message": format!("invalid primary key: '{}'", lua_compact(&json!({"id": message}))),
                    "fields": {"id": message},
                }),
            ),
            ApiError::InvalidUnique { field, message } => (
                StatusCode::BAD_REQUEST,
                json!({
                    "code": code::INVALID_UNIQUE,
                    "name": format!("invalid unique {field}"),
                    "message": message,
                }),
            ),
            ApiError::InvalidSize(m) => (
                StatusCode::BAD_REQUEST,
                json!({"code": code::INVALID_SIZE, "name": "invalid size", "message": m}),
            ),
            ApiError::InvalidOption { option, message } => (
                StatusCode::BAD_REQUEST,
                json!({
                    "code": code::INVALID_OPTIONS,
                    "name": "invalid options",
                    "message": format!("invalid option ({option}: {message})"),
                    "options": { option: message },
                }),
            ),
            ApiError::InvalidOffset(m) => (
                StatusCode::BAD_REQUEST,
                json!({"code": code::INVALID_OFFSET, "name": "invalid offset", "message": m}),
            ),
            ApiError::UniqueViolation { fields } => {
                let fields = Value::Object(fields);
                (
                    StatusCode::CONFLICT,
                    json!({
                        "code": code::UNIQUE_VIOLATION,
                        "name": "unique constraint violation",
                        "message": format!("UNIQUE violation detected on '{}'", lua_compact(&fields)),
                        "fields": fields,
                    }),
                )
            }
            ApiError::PrimaryKeyViolation { id } => (
                StatusCode::BAD_REQUEST,
                json!({
                    "code": code::PRIMARY_KEY_VIOLATION,
                    "name": "primary key violation",
                    "message": format!("primary key violation on key '{}'", lua_compact(&json!({"id": id}))),
                    "fields": {"id": id},
                }),
            ),
            ApiError::ForeignKeyMissing {
                field,
                references,
                id,
            } => {
                let key = json!({ "id": id });
                (
                    StatusCode::BAD_REQUEST,
                    json!({
                        "code": code::FOREIGN_KEY_VIOLATION,
                        "name": "foreign key violation",
                        "message": format!(
                            "the foreign key '{}' does not reference an existing '{}' entity.",
                            lua_compact(&key),
                            references.name()
                        ),
                        "fields": { field: key },
                    }),
                )
            }
            ApiError::ReferencedBy {
                referenced_by,
                kind,
            } => (
                StatusCode::BAD_REQUEST,
                json!({
                    "code": code::FOREIGN_KEY_VIOLATION,
                    "name": "foreign key violation",
                    "message": format!(
                        "an existing '{}' entity references this '{}' entity",
                        referenced_by.name(),
                        kind.name()
                    ),
                    "fields": {"@referenced_by": referenced_by.name()},
                }),
            ),
            ApiError::ReferencedByOthers(m) => (
                StatusCode::BAD_REQUEST,
                json!({"code": code::REFERENCED_BY_OTHERS, "name": "referenced by others", "message": m}),
            ),
            ApiError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "database unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    message("Service unavailable: the database cannot be reached"),
                )
            }
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "unexpected error in the Admin API");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    message("An unexpected error occurred"),
                )
            }
        };
        Rendered { status, body }
    }
}

impl axum::response::IntoResponse for ApiError {
    /// The bare error response (status and JSON body). The Admin API's dispatcher adds its
    /// common headers; this is for handlers used outside it.
    fn into_response(self) -> axum::response::Response {
        let Rendered { status, body } = self.render();
        (status, axum::Json(body)).into_response()
    }
}

fn message(text: &str) -> Value {
    json!({ "message": text })
}

impl From<SchemaViolation> for ApiError {
    fn from(v: SchemaViolation) -> Self {
        ApiError::Schema(v)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { .. } => ApiError::NotFound,
            StoreError::PrimaryKeyViolation { id, .. } => ApiError::PrimaryKeyViolation { id },
            StoreError::UniqueViolation { fields, .. } => ApiError::UniqueViolation { fields },
            StoreError::ForeignKeyMissing {
                field,
                references,
                referenced_id,
                ..
            } => ApiError::ForeignKeyMissing {
                field,
                references,
                id: referenced_id,
            },
            StoreError::ReferencedBy {
                kind: EntityKind::CaCertificate,
                id,
                referenced_by,
                referencing_id,
                ..
            } => ApiError::ReferencedByOthers(format!(
                "ca certificate {id} is still referenced by {} (id = {})",
                referenced_by.name(),
                referencing_id.map_or_else(|| "?".to_owned(), |r| r.to_string())
            )),
            StoreError::ReferencedBy {
                kind,
                referenced_by,
                ..
            } => ApiError::ReferencedBy {
                referenced_by,
                kind,
            },
            StoreError::InvalidOffset { token, reason } => {
                ApiError::InvalidOffset(format!("'{token}' is not a valid offset: {reason}"))
            }
            StoreError::Unavailable(m) => ApiError::Unavailable(m),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_itself_as_a_response() {
        use axum::response::IntoResponse as _;
        let response = ApiError::MethodNotAllowed.into_response();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/json")
        );
    }

    #[test]
    fn internal_errors_do_not_leak() {
        let r = ApiError::Internal("relation \"secret_table\" does not exist".into()).render();
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(r.body, json!({"message": "An unexpected error occurred"}));
        let r = ApiError::from(StoreError::Unavailable(
            "connection refused 10.0.0.7".into(),
        ))
        .render();
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(!r.body.to_string().contains("10.0.0.7"));
    }

    #[test]
    fn unique_violation_message_is_kongs() {
        let fields =
            json!({"consumer": null, "name": "basic-auth", "route": null, "service": {"id": "x"}});
        let r = ApiError::UniqueViolation {
            fields: fields.as_object().cloned().unwrap_or_default(),
        }
        .render();
        assert_eq!(r.status, StatusCode::CONFLICT);
        assert_eq!(
            r.body["message"],
            r#"UNIQUE violation detected on '{consumer=null,name="basic-auth",route=null,service={id="x"}}'"#
        );
        assert_eq!(r.body["code"], 5);
    }

    #[test]
    fn referenced_ca_certificates_use_kongs_wording() {
        let (id, sid) = (Uuid::new_v4(), Uuid::new_v4());
        let r = ApiError::from(StoreError::ReferencedBy {
            kind: EntityKind::CaCertificate,
            id,
            referenced_by: EntityKind::Service,
            field: "ca_certificates",
            referencing_id: Some(sid),
        })
        .render();
        assert_eq!(
            r.body["message"],
            format!("ca certificate {id} is still referenced by services (id = {sid})")
        );
    }
}
