//! `kong.response.*`: the response on its way to the client.

use http::header::HeaderName;
use http::{HeaderMap, HeaderValue, StatusCode};

use super::{Kong, PdkError, Phase, check_phase};
use crate::proxy::context::ResponseSource;

/// The response head as it was sent, kept for the `log` phase.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    pub status: StatusCode,
    pub headers: HeaderMap,
}

/// A response header change made before the response existed (rewrite, access).
#[derive(Debug, Clone)]
pub enum PendingHeader {
    Set(HeaderName, HeaderValue),
    Add(HeaderName, HeaderValue),
    Clear(HeaderName),
}

impl PendingHeader {
    pub fn apply(self, headers: &mut HeaderMap) {
        match self {
            PendingHeader::Set(n, v) => {
                headers.insert(n, v);
            }
            PendingHeader::Add(n, v) => {
                headers.append(n, v);
            }
            PendingHeader::Clear(n) => {
                headers.remove(n);
            }
        }
    }
}

/// Phases `kong.response.set_header` and friends are allowed in.
const HEADER_PHASES: &[Phase] = &[Phase::Rewrite, Phase::Access, Phase::HeaderFilter];

/// `kong.response`.
pub struct Response<'k, 'a> {
    kong: &'k mut Kong<'a>,
}

impl<'a> Kong<'a> {
    pub fn response(&mut self) -> Response<'_, 'a> {
        Response { kong: self }
    }
}

fn parse(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), PdkError> {
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| PdkError::Argument(format!("invalid header name: {name:?}")))?;
    let value = HeaderValue::from_str(value)
        .map_err(|_| PdkError::Argument(format!("invalid header value: {value:?}")))?;
    Ok((name, value))
}

impl<'k> Response<'k, '_> {
    /// The status sent (or about to be sent) to the client (`kong.response.get_status`).
    pub fn status(&self) -> Option<StatusCode> {
        if let Some(parts) = self.kong.response.as_deref() {
            return Some(parts.status);
        }
        self.kong.ctx.response_head.as_ref().map(|h| h.status)
    }

    /// The response headers (`kong.response.get_headers`), in `header_filter` and later.
    pub fn headers(&self) -> Option<&HeaderMap> {
        if let Some(parts) = self.kong.response.as_deref() {
            return Some(&parts.headers);
        }
        self.kong.ctx.response_head.as_ref().map(|h| &h.headers)
    }

    /// `kong.response.get_header`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers()?.get(name).and_then(|v| v.to_str().ok())
    }

    /// Who produced the response: `service`, `exit` or `error` (`kong.response.get_source`).
    pub fn source(&self) -> &'static str {
        match self.kong.ctx.source {
            ResponseSource::Upstream if self.kong.ctx.upstream_status.is_some() => "service",
            ResponseSource::Exit => "exit",
            _ => "error",
        }
    }

    fn head(&mut self) -> Result<&mut http::response::Parts, PdkError> {
        check_phase(self.kong.phase, &[Phase::HeaderFilter])?;
        self.kong
            .response
            .as_deref_mut()
            .ok_or_else(|| PdkError::Failed("no response head".into()))
    }

    /// `kong.response.set_status` (header_filter).
    pub fn set_status(&mut self, status: StatusCode) -> Result<(), PdkError> {
        self.head()?.status = status;
        Ok(())
    }

    /// Applies a header change now (header_filter) or to the response to come (rewrite,
    /// access: Kong's `ngx.header` semantics, also on exit responses).
    pub fn change_header(&mut self, change: PendingHeader) -> Result<(), PdkError> {
        check_phase(self.kong.phase, HEADER_PHASES)?;
        match self.kong.response.as_deref_mut() {
            Some(parts) => change.apply(&mut parts.headers),
            None => self.kong.ctx.response_headers.push(change),
        }
        Ok(())
    }

    /// `kong.response.set_header` (rewrite, access, header_filter).
    pub fn set_header(&mut self, name: &str, value: &str) -> Result<(), PdkError> {
        let (name, value) = parse(name, value)?;
        self.change_header(PendingHeader::Set(name, value))
    }

    /// `kong.response.add_header` (rewrite, access, header_filter).
    pub fn add_header(&mut self, name: &str, value: &str) -> Result<(), PdkError> {
        let (name, value) = parse(name, value)?;
        self.change_header(PendingHeader::Add(name, value))
    }

    /// `kong.response.clear_header` (rewrite, access, header_filter).
    pub fn clear_header(&mut self, name: &str) -> Result<(), PdkError> {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| PdkError::Argument(format!("invalid header name: {name:?}")))?;
        self.change_header(PendingHeader::Clear(name))
    }

    /// Direct access to the response headers (header_filter).
    pub fn headers_mut(self) -> Result<&'k mut HeaderMap, PdkError> {
        check_phase(self.kong.phase, &[Phase::HeaderFilter])?;
        self.kong
            .response
            .as_deref_mut()
            .map(|parts| &mut parts.headers)
            .ok_or_else(|| PdkError::Failed("no response head".into()))
    }
}
