//! Short-circuit responses: Kong's `kong.response.exit` and `kong.response.error`.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName};
use http::{HeaderMap, HeaderValue, StatusCode};

/// What the request path does after a `rewrite` or `access` hook.
pub enum Flow {
    Continue,
    /// Answer the client with this response; the upstream is not contacted. Plugins after
    /// this one skip their `access` hook but still run their later phases.
    Exit(Exit),
}

/// A response produced by a plugin instead of the upstream's.
#[derive(Debug)]
pub enum Exit {
    /// `kong.response.exit(status, body, headers)`.
    Response {
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
    },
    /// `kong.response.error(status, message, headers)`: rendered like Kong's errors,
    /// negotiated by `Accept` (JSON `{"message": ...}` by default).
    Error {
        status: StatusCode,
        message: Option<String>,
        headers: HeaderMap,
    },
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl Exit {
    /// `kong.response.exit(status)`: no body.
    pub fn status(code: u16) -> Exit {
        Exit::Response {
            status: status(code),
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }

    /// `kong.response.exit(status, "text")`: the body as given, no content type.
    pub fn body(code: u16, body: impl Into<Bytes>) -> Exit {
        Exit::Response {
            status: status(code),
            headers: HeaderMap::new(),
            body: body.into(),
        }
    }

    /// `kong.response.exit(status, table)`: the value as JSON,
    /// `Content-Type: application/json; charset=utf-8`.
    pub fn json(code: u16, value: &serde_json::Value) -> Exit {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        Exit::Response {
            status: status(code),
            headers,
            body: Bytes::from(value.to_string()),
        }
    }

    /// `kong.response.exit(status, { message = message })`.
    pub fn message(code: u16, message: &str) -> Exit {
        Exit::json(code, &serde_json::json!({ "message": message }))
    }

    /// `kong.response.error(status, message)`.
    pub fn error(code: u16, message: impl Into<String>) -> Exit {
        Exit::Error {
            status: status(code),
            message: Some(message.into()),
            headers: HeaderMap::new(),
        }
    }

    /// Adds a header to the response (Kong's `headers` argument).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Exit {
        match &mut self {
            Exit::Response { headers, .. } | Exit::Error { headers, .. } => {
                headers.insert(name, value);
            }
        }
        self
    }

    pub fn status_code(&self) -> StatusCode {
        match self {
            Exit::Response { status, .. } | Exit::Error { status, .. } => *status,
        }
    }

    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        match self {
            Exit::Response { headers, .. } | Exit::Error { headers, .. } => headers,
        }
    }
}
