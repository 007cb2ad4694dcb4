//! What a handler answers: a status and an optional JSON body. Headers common to every
//! Admin API response are added by the dispatcher.

use axum::http::StatusCode;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Option<Value>,
}

impl Reply {
    pub fn ok(body: Value) -> Reply {
        Reply {
            status: StatusCode::OK,
            body: Some(body),
        }
    }

    pub fn created(body: Value) -> Reply {
        Reply {
            status: StatusCode::CREATED,
            body: Some(body),
        }
    }

    pub fn no_content() -> Reply {
        Reply {
            status: StatusCode::NO_CONTENT,
            body: None,
        }
    }
}
