//! `kong.request.*` (the client's request) and `kong.service.request.*` (the request
//! going upstream).

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HeaderName};
use http::{HeaderMap, HeaderValue, Method, Uri, Version};

use super::{Kong, PdkError, Phase, RequestSide, check_phase};
use crate::proxy::upstream::{ClientBody, ClientBodyError};

/// The request head as it was sent upstream (or would have been), kept for the phases
/// after `access`.
#[derive(Debug, Clone)]
pub struct RequestHead {
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub headers: HeaderMap,
}

impl RequestHead {
    pub fn of(parts: &http::request::Parts) -> RequestHead {
        RequestHead {
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            version: parts.version,
            headers: parts.headers.clone(),
        }
    }
}

/// The client's request body as the request path holds it before proxying.
pub enum RequestBody {
    /// The request has no body.
    Empty,
    /// Not read yet (or too large to buffer); streamed upstream.
    Stream(ClientBody),
    /// Read completely (by a plugin, or replaced by one).
    Buffered(Bytes),
    /// Taken by the request path.
    Gone,
}

/// `kong.request`: read-only view of the client's request.
pub struct Request<'k, 'a> {
    kong: &'k mut Kong<'a>,
}

/// `kong.service.request`: changes to the request that goes upstream (`rewrite`/`access`).
pub struct ServiceRequest<'k, 'a> {
    kong: &'k mut Kong<'a>,
}

impl<'a> Kong<'a> {
    pub fn request(&mut self) -> Request<'_, 'a> {
        Request { kong: self }
    }

    pub fn service_request(&mut self) -> ServiceRequest<'_, 'a> {
        ServiceRequest { kong: self }
    }

    fn head_parts(&self) -> Option<(&Method, &Uri, Version, &HeaderMap)> {
        match &self.request {
            RequestSide::Live { head, .. } => {
                Some((&head.method, &head.uri, head.version, &head.headers))
            }
            RequestSide::Sent(Some(h)) => Some((&h.method, &h.uri, h.version, &h.headers)),
            RequestSide::Sent(None) => None,
        }
    }
}

/// Decodes `application/x-www-form-urlencoded` text into pairs.
pub fn parse_query(raw: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

impl Request<'_, '_> {
    /// The first value of a request header (`kong.request.get_header`).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers()?.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every request header (`kong.request.get_headers`).
    pub fn headers(&self) -> Option<&HeaderMap> {
        self.kong.head_parts().map(|(_, _, _, h)| h)
    }

    pub fn method(&self) -> Option<&Method> {
        self.kong.head_parts().map(|(m, _, _, _)| m)
    }

    pub fn http_version(&self) -> Option<Version> {
        self.kong.head_parts().map(|(_, _, v, _)| v)
    }

    /// The request target as the client sent it.
    pub fn uri(&self) -> Option<&Uri> {
        self.kong.head_parts().map(|(_, u, _, _)| u)
    }

    /// The path as the client sent it (`kong.request.get_raw_path`).
    pub fn raw_path(&self) -> Option<&str> {
        self.kong.head_parts().map(|(_, u, _, _)| u.path())
    }

    /// The normalized path (`kong.request.get_path`): escapes of unreserved characters
    /// decoded, dot segments removed, slashes merged.
    pub fn path(&self) -> Option<String> {
        let raw = self.raw_path()?;
        Some(String::from_utf8_lossy(&crate::router::normalize_path(raw)).into_owned())
    }

    /// The query string without `?` (`kong.request.get_raw_query`), "" when absent.
    pub fn raw_query(&self) -> &str {
        self.kong
            .head_parts()
            .and_then(|(_, u, _, _)| u.query())
            .unwrap_or("")
    }

    /// The decoded query arguments in order (`kong.request.get_query`).
    pub fn query(&self) -> Vec<(String, String)> {
        parse_query(self.raw_query())
    }

    /// The first value of a query argument (`kong.request.get_query_arg`).
    pub fn query_arg(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.raw_query().as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// `http` or `https` (`kong.request.get_scheme`).
    pub fn scheme(&self) -> &'static str {
        if self.kong.ctx.conn.tls {
            "https"
        } else {
            "http"
        }
    }

    /// The host the client addressed, without port (`kong.request.get_host`).
    pub fn host(&self) -> Option<String> {
        let (_, uri, _, headers) = self.kong.head_parts()?;
        let host = headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| uri.host())?;
        let host = match host.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host,
        };
        Some(host.to_ascii_lowercase())
    }

    /// The port the client connected to (`kong.request.get_port`).
    pub fn port(&self) -> u16 {
        self.kong.ctx.conn.local.port()
    }

    /// The whole request body (`kong.request.get_raw_body`), read into memory on first
    /// use (`rewrite` and `access` only). Bodies larger than the limit stay streamed and
    /// are reported as Kong reports bodies that did not fit its buffer.
    pub async fn raw_body(&mut self) -> Result<Bytes, PdkError> {
        check_phase(self.kong.phase, &[Phase::Rewrite, Phase::Access])?;
        let limit = self.kong.body_limit;
        let RequestSide::Live { body, .. } = &mut self.kong.request else {
            return Err(PdkError::Failed("the request body is gone".into()));
        };
        match std::mem::replace(*body, RequestBody::Gone) {
            RequestBody::Empty => {
                **body = RequestBody::Empty;
                Ok(Bytes::new())
            }
            RequestBody::Buffered(bytes) => {
                **body = RequestBody::Buffered(bytes.clone());
                Ok(bytes)
            }
            RequestBody::Stream(stream) => match stream.buffer(limit).await {
                Ok(Ok(bytes)) => {
                    **body = RequestBody::Buffered(bytes.clone());
                    Ok(bytes)
                }
                Ok(Err(stream)) => {
                    **body = RequestBody::Stream(stream);
                    Err(PdkError::Failed(
                        "request body did not fit into client body buffer, consider raising 'client_body_buffer_size'".into(),
                    ))
                }
                Err(ClientBodyError::Timeout) => Err(PdkError::Failed(
                    "timed out reading the request body".into(),
                )),
                Err(ClientBodyError::Aborted(e)) => Err(PdkError::Failed(format!(
                    "failed to read the request body: {e}"
                ))),
            },
            RequestBody::Gone => Err(PdkError::Failed("the request body is gone".into())),
        }
    }
}

/// The request body's media type, lower-cased, without parameters.
fn media_type(headers: Option<&HeaderMap>) -> Option<String> {
    let value = headers?.get(http::header::CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next()?.trim().to_ascii_lowercase())
}

impl Request<'_, '_> {
    /// The body decoded by its content type (`kong.request.get_body`): form arguments
    /// (arrays for repeated names) or a JSON object.
    pub async fn body_args(
        &mut self,
    ) -> Result<serde_json::Map<String, serde_json::Value>, PdkError> {
        let media = media_type(self.headers());
        let raw = self.raw_body().await?;
        match media.as_deref() {
            Some("application/x-www-form-urlencoded") => {
                let text = String::from_utf8_lossy(&raw);
                match super::log::query_json(&text) {
                    serde_json::Value::Object(map) => Ok(map),
                    _ => Ok(serde_json::Map::new()),
                }
            }
            Some("application/json") => match serde_json::from_slice(&raw) {
                Ok(serde_json::Value::Object(map)) => Ok(map),
                Ok(_) => Err(PdkError::Failed("invalid json body".into())),
                Err(_) => Err(PdkError::Failed("invalid json body".into())),
            },
            Some(_) => Err(PdkError::Failed("unsupported content type".into())),
            None => Err(PdkError::Failed("missing content type".into())),
        }
    }
}

impl<'k> ServiceRequest<'k, '_> {
    /// Direct access to the upstream request headers.
    pub fn headers_mut(self) -> Result<&'k mut HeaderMap, PdkError> {
        check_phase(self.kong.phase, &[Phase::Rewrite, Phase::Access])?;
        match &mut self.kong.request {
            RequestSide::Live { head, .. } => Ok(&mut head.headers),
            RequestSide::Sent(_) => Err(PdkError::Failed("the request was sent".into())),
        }
    }

    fn live(&mut self) -> Result<&mut http::request::Parts, PdkError> {
        check_phase(self.kong.phase, &[Phase::Rewrite, Phase::Access])?;
        match &mut self.kong.request {
            RequestSide::Live { head, .. } => Ok(head),
            RequestSide::Sent(_) => Err(PdkError::Failed("the request was sent".into())),
        }
    }

    fn value(value: &str) -> Result<HeaderValue, PdkError> {
        HeaderValue::from_str(value)
            .map_err(|_| PdkError::Argument(format!("invalid header value: {value:?}")))
    }

    fn name(name: &str) -> Result<HeaderName, PdkError> {
        HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| PdkError::Argument(format!("invalid header name: {name:?}")))
    }

    /// `kong.service.request.set_header`.
    pub fn set_header(&mut self, name: &str, value: &str) -> Result<(), PdkError> {
        let (name, value) = (Self::name(name)?, Self::value(value)?);
        self.set_header_value(name, value)
    }

    /// [`Self::set_header`] with a parsed name and value. Setting `Host` chooses the Host
    /// sent upstream (and the TLS SNI), as Kong's `upstream_host`.
    pub fn set_header_value(
        &mut self,
        name: HeaderName,
        value: HeaderValue,
    ) -> Result<(), PdkError> {
        let host = (name == http::header::HOST).then(|| value.clone());
        self.live()?.headers.insert(name, value);
        if host.is_some() {
            self.kong.ctx.overrides.host = host;
        }
        Ok(())
    }

    /// `kong.service.request.add_header` (`Host`: as [`Self::set_header`]).
    pub fn add_header(&mut self, name: &str, value: &str) -> Result<(), PdkError> {
        let (name, value) = (Self::name(name)?, Self::value(value)?);
        if name == http::header::HOST {
            return self.set_header_value(name, value);
        }
        self.live()?.headers.append(name, value);
        Ok(())
    }

    /// `kong.service.request.clear_header`.
    pub fn clear_header(&mut self, name: &str) -> Result<(), PdkError> {
        let name = Self::name(name)?;
        self.live()?.headers.remove(name);
        Ok(())
    }

    /// `kong.service.request.set_method`.
    pub fn set_method(&mut self, method: Method) -> Result<(), PdkError> {
        self.live()?.method = method;
        Ok(())
    }

    /// `kong.service.request.set_path`: the path sent upstream (replaces the router's).
    pub fn set_path(&mut self, path: &str) -> Result<(), PdkError> {
        self.live()?;
        if !path.starts_with('/') {
            return Err(PdkError::Argument("path must start with /".into()));
        }
        self.kong.ctx.upstream_path = Some(path.to_string());
        Ok(())
    }

    /// `kong.service.request.set_raw_query`: the query sent upstream, without `?`.
    pub fn set_raw_query(&mut self, query: &str) -> Result<(), PdkError> {
        self.live()?;
        self.kong.ctx.upstream_query = Some(query.to_string());
        Ok(())
    }

    /// `kong.service.request.set_query`: encodes `args` as the upstream query.
    pub fn set_query(&mut self, args: &[(String, String)]) -> Result<(), PdkError> {
        let encoded = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(args)
            .finish();
        self.set_raw_query(&encoded)
    }

    /// `kong.service.request.clear_query_arg`: removes every `name` argument upstream.
    pub fn clear_query_arg(&mut self, name: &str) -> Result<(), PdkError> {
        let current = match &self.kong.ctx.upstream_query {
            Some(q) => q.clone(),
            None => self.live()?.uri.query().unwrap_or("").to_string(),
        };
        let kept: Vec<&str> = current
            .split('&')
            .filter(|pair| {
                let key = pair.split_once('=').map_or(*pair, |(k, _)| k);
                !pair.is_empty() && super::log::query_json(key).get(name).is_none()
            })
            .collect();
        self.set_raw_query(&kept.join("&"))
    }

    /// `kong.service.request.set_body`: re-encodes `args` as the request's content type
    /// (form or JSON).
    pub fn set_body(
        &mut self,
        args: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), PdkError> {
        let media = media_type(Some(&self.live()?.headers));
        let body = match media.as_deref() {
            Some("application/json") => {
                serde_json::to_vec(args).map_err(|e| PdkError::Failed(e.to_string()))?
            }
            _ => {
                let mut out = form_urlencoded::Serializer::new(String::new());
                for (k, v) in args {
                    match v {
                        serde_json::Value::Array(list) => {
                            for item in list {
                                out.append_pair(k, &plain(item));
                            }
                        }
                        other => {
                            out.append_pair(k, &plain(other));
                        }
                    }
                }
                out.finish().into_bytes()
            }
        };
        self.set_raw_body(Bytes::from(body))
    }

    /// `kong.service.request.set_raw_body`: replaces the body; `Content-Length` follows.
    pub fn set_raw_body(&mut self, body: Bytes) -> Result<(), PdkError> {
        let head = self.live()?;
        head.headers.remove(CONTENT_LENGTH);
        head.headers.remove(http::header::TRANSFER_ENCODING);
        if let RequestSide::Live { body: slot, .. } = &mut self.kong.request {
            **slot = RequestBody::Buffered(body);
        }
        Ok(())
    }
}

/// A JSON value as form text (strings without quotes).
fn plain(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
