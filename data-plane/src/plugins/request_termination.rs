//! request-termination (Kong's `kong/plugins/request-termination/handler.lua`, PRIORITY
//! 2): answers every request (or those carrying the `trigger` header or query argument)
//! with a fixed response, or echoes the request back.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use http::HeaderValue;
use http::header::CONTENT_TYPE;
use serde::Deserialize;
use serde_json::json;

use super::pdk::log::{headers_json, query_json};
use super::{Exit, Flow, InstanceCx, Kong, Plugin};

#[derive(Debug, Deserialize)]
struct Config {
    status_code: u16,
    message: Option<String>,
    content_type: Option<String>,
    body: Option<String>,
    echo: bool,
    trigger: Option<String>,
}

pub struct RequestTermination {
    config: Config,
}

pub fn factory(cx: &InstanceCx<'_>) -> Result<Arc<dyn Plugin>, String> {
    Ok(Arc::new(RequestTermination {
        config: cx.config()?,
    }))
}

/// Kong's `DEFAULT_RESPONSE`.
fn default_message(status: u16) -> Option<&'static str> {
    Some(match status {
        401 => "Unauthorized",
        404 => "Not found",
        405 => "Method not allowed",
        500 => "An unexpected error occurred",
        502 => "Bad Gateway",
        503 => "Service unavailable",
        _ => return None,
    })
}

impl RequestTermination {
    async fn echo(&self, kong: &mut Kong<'_>, message: Option<String>) -> Exit {
        let raw_body = kong.request().raw_body().await.ok();
        let body = kong.request().body_args().await.ok();
        let req = kong.request();
        let request = json!({
            "scheme": req.scheme(),
            "host": req.host(),
            "port": req.port(),
            "headers": req.headers().map_or(json!({}), headers_json),
            "query": query_json(req.raw_query()),
            "body": body,
            "raw_body": raw_body.map(|b| String::from_utf8_lossy(&b).into_owned()),
            "method": req.method().map(|m| m.as_str().to_string()),
            "path": req.path(),
        });
        let content = json!({
            "message": message,
            "kong": {
                "worker_pid": std::process::id(),
            },
            "request": request,
            "matched_route": kong.route().map(|r| serde_json::to_value(r.as_ref()).unwrap_or_default()),
            "matched_service": kong.matched_service().map(|s| serde_json::to_value(s.as_ref()).unwrap_or_default()),
        });
        Exit::json(self.config.status_code, &content)
    }
}

#[async_trait]
impl Plugin for RequestTermination {
    async fn access(&self, kong: &mut Kong<'_>) -> Flow {
        let status = self.config.status_code;
        if let Some(trigger) = &self.config.trigger {
            let req = kong.request();
            if req.header(trigger).is_none() && req.query_arg(trigger).is_none() {
                return Flow::Continue;
            }
        }
        let message = self
            .config
            .message
            .clone()
            .or_else(|| default_message(status).map(str::to_string));
        if self.config.echo {
            return Flow::Exit(self.echo(kong, message).await);
        }
        if let Some(body) = &self.config.body {
            let mut exit = Exit::body(status, Bytes::from(body.clone()));
            if let Some(ct) = self
                .config
                .content_type
                .as_deref()
                .and_then(|c| HeaderValue::from_str(c).ok())
            {
                exit = exit.with_header(CONTENT_TYPE, ct);
            }
            return Flow::Exit(exit);
        }
        Flow::Exit(match message {
            Some(m) => Exit::message(status, &m),
            None => Exit::status(status),
        })
    }

    fn reads_request_after_access(&self) -> bool {
        false
    }
}
