//! request-size-limiting (Kong's `kong/plugins/request-size-limiting/handler.lua`,
//! PRIORITY 951): refuses request bodies larger than the allowed size.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;

use super::pdk::DEFAULT_BODY_LIMIT;
use super::{Exit, Flow, InstanceCx, Kong, Plugin};

#[derive(Debug, Deserialize)]
struct Config {
    allowed_payload_size: u64,
    size_unit: String,
    require_content_length: bool,
}

pub struct RequestSizeLimiting {
    allowed_bytes: u64,
    require_content_length: bool,
}

pub fn factory(cx: &InstanceCx<'_>) -> Result<Arc<dyn Plugin>, String> {
    let config: Config = cx.config()?;
    let unit = match config.size_unit.as_str() {
        "bytes" => 1,
        "kilobytes" => 1024,
        _ => 1024 * 1024,
    };
    Ok(Arc::new(RequestSizeLimiting {
        allowed_bytes: config.allowed_payload_size.saturating_mul(unit),
        require_content_length: config.require_content_length,
    }))
}

impl RequestSizeLimiting {
    fn check(&self, kong: &mut Kong<'_>, length: u64) -> Flow {
        if length <= self.allowed_bytes {
            return Flow::Continue;
        }
        let expects_continue = kong
            .request()
            .header("expect")
            .is_some_and(|e| e.trim().eq_ignore_ascii_case("100-continue"));
        let status = if expects_continue { 417 } else { 413 };
        Flow::Exit(Exit::error(status, "Request size limit exceeded"))
    }
}

#[async_trait]
impl Plugin for RequestSizeLimiting {
    async fn access(&self, kong: &mut Kong<'_>) -> Flow {
        let declared = kong
            .request()
            .header("content-length")
            .and_then(|v| v.trim().parse::<u64>().ok());
        if let Some(length) = declared {
            return self.check(kong, length);
        }
        let chunked = kong
            .request()
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        if self.require_content_length && !chunked {
            return Flow::Exit(Exit::error(
                411,
                "A valid Content-Length header is required",
            ));
        }
        match kong.request().raw_body().await {
            Ok(body) => self.check(kong, body.len() as u64),
            // Larger than the PDK buffers: larger than any limit below it.
            Err(_) if self.allowed_bytes < DEFAULT_BODY_LIMIT as u64 => {
                self.check(kong, DEFAULT_BODY_LIMIT as u64 + 1)
            }
            Err(e) => {
                tracing::warn!(error = %e, "request-size-limiting: body not measured");
                Flow::Continue
            }
        }
    }

    fn reads_request_after_access(&self) -> bool {
        false
    }
}
