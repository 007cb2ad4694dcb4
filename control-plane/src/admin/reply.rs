//! What a handler answers: a status and an optional JSON body. Headers common to every
//! Admin API response are added by the dispatcher.

use axum::http::StatusCode;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Option<Value>,
    /// A non-JSON body (e.g. `/metrics`), sent instead of `body`.
    pub text: Option<TextBody>,
}

/// A body in another format than JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct TextBody {
    pub content_type: &'static str,
    pub body: String,
}

impl Reply {
    pub fn ok(body: Value) -> Reply {
        Reply {
            status: StatusCode::OK,
            body: Some(body),
            text: None,
        }
    }

    pub fn created(body: Value) -> Reply {
        Reply {
            status: StatusCode::CREATED,
            body: Some(body),
            text: None,
        }
    }

    pub fn no_content() -> Reply {
        Reply {
            status: StatusCode::NO_CONTENT,
            body: None,
            text: None,
        }
    }

    /// A 200 with a body in `content_type` (not JSON).
    pub fn text(content_type: &'static str, body: String) -> Reply {
        Reply {
            status: StatusCode::OK,
            body: None,
            text: Some(TextBody { content_type, body }),
        }
    }
}
