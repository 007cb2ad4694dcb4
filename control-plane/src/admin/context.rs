//! The per-request context handed to endpoint handlers: the shared state, the method, the
//! decoded path parameters, the query and the (already read) body.

use axum::http::{HeaderMap, Method};
use common::model::EntityKind;
use serde_json::{Map, Value};

use super::body::RequestBody;
use super::error::ApiError;
use super::query::Query;
use super::routes::Param;
use super::state::AdminState;

pub struct Ctx {
    pub state: AdminState,
    pub method: Method,
    pub headers: HeaderMap,
    pub params: Vec<Param>,
    pub query: Query,
    pub body: RequestBody,
}

impl Ctx {
    fn param_entry(&self, index: usize) -> Result<&Param, ApiError> {
        self.params
            .get(index)
            .ok_or_else(|| ApiError::internal(format!("route has no parameter #{index}")))
    }

    /// The raw (still percent-encoded) text of the `index`th path parameter.
    pub fn raw_param(&self, index: usize) -> Result<&str, ApiError> {
        Ok(self.param_entry(index)?.raw.as_str())
    }

    /// The decoded `index`th path parameter. Invalid UTF-8 is refused as Kong's field
    /// validation refuses it, attributed to `field`.
    pub fn param(&self, index: usize, field: &str) -> Result<&str, ApiError> {
        match &self.param_entry(index)?.value {
            Ok(value) => Ok(value.as_str()),
            Err(position) => Err(ApiError::InvalidUnique {
                field: field.to_owned(),
                message: format!(
                    "invalid utf-8 character sequence detected at position {position}"
                ),
            }),
        }
    }

    /// The body as the input of a write of `kind`.
    pub fn input(&self, kind: EntityKind) -> Result<Map<String, Value>, ApiError> {
        self.body.input(self.state.catalog(), kind, None)
    }

    /// The body as the input of a plugin PATCH: a form body's `config` is converted by the
    /// schema of the stored plugin's name when the body does not name one.
    pub fn plugin_patch_input(&self, stored_name: &str) -> Result<Map<String, Value>, ApiError> {
        self.body
            .input(self.state.catalog(), EntityKind::Plugin, Some(stored_name))
    }
}
