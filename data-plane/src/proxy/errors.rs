//! Kong's error responses: status messages, `Accept` negotiation and body templates.
//!
//! Two flavours exist in Kong and both are reproduced:
//! - [`ErrorKind::Pdk`] is `kong.response.error` (no route, no service, 426, plugin
//!   errors): the body type follows `Accept` only, JSON when absent.
//! - [`ErrorKind::Nginx`] is Kong's `error_handlers` (502/504 and other proxy failures,
//!   malformed requests): `Accept`, else the request's `Content-Type`, else the node's
//!   `error_default_type` (`text/plain` by default).
//!
//! gRPC requests (HTTP/2 with `Content-Type: application/grpc...`) get an empty body with
//! `grpc-status` and `grpc-message` instead.

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, StatusCode, Version};

use super::settings::ErrorDefaultType;

/// Kong's message for an error status (`kong/error_handlers.lua`).
pub fn default_message(status: u16) -> std::borrow::Cow<'static, str> {
    let s = match status {
        400 => "Bad request",
        404 => "Not found",
        405 => "Method not allowed",
        408 => "Request timeout",
        411 => "Length required",
        412 => "Precondition failed",
        413 => "Payload too large",
        414 => "URI too long",
        417 => "Expectation failed",
        494 => "Request header or cookie too large",
        500 => "An unexpected error occurred",
        502 => "An invalid response was received from the upstream server",
        503 => "The upstream server is currently unavailable",
        504 => "The upstream server is timing out",
        other => return format!("The upstream server responded with {other}").into(),
    };
    s.into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// `kong.response.error`.
    Pdk,
    /// nginx `error_page` -> `kong.error_handlers`.
    Nginx,
}

/// A rendered error: status, headers to set, body.
pub struct RenderedError {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

const JSON: &str = "application/json; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";
const PLAIN: &str = "text/plain; charset=utf-8";
const XML: &str = "application/xml; charset=utf-8";

/// Whether the request is gRPC as Kong's PDK decides it (HTTP/2 and a gRPC content type).
pub fn is_grpc_request(version: Version, headers: &HeaderMap) -> bool {
    version == Version::HTTP_2
        && headers
            .get(CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// Renders an error as Kong would for this request.
pub fn render(
    kind: ErrorKind,
    status: u16,
    message: Option<&str>,
    request_id: &str,
    version: Version,
    req_headers: &HeaderMap,
    default_type: ErrorDefaultType,
) -> RenderedError {
    let message = message.map_or_else(|| default_message(status), std::borrow::Cow::Borrowed);
    // nginx uses 494 internally for oversized headers; clients see 400.
    let wire_status = if status == 494 { 400 } else { status };
    let status_code =
        StatusCode::from_u16(wire_status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut headers = HeaderMap::new();

    let grpc = match kind {
        ErrorKind::Pdk => is_grpc_request(version, req_headers),
        ErrorKind::Nginx => header_str(req_headers, ACCEPT)
            .or_else(|| header_str(req_headers, CONTENT_TYPE))
            .is_some_and(|v| v.starts_with("application/grpc")),
    };
    if grpc {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.insert("grpc-status", HeaderValue::from(grpc_status(wire_status)));
        if let Ok(v) = HeaderValue::from_str(&message) {
            headers.insert("grpc-message", v);
        }
        headers.insert(CONTENT_LENGTH, HeaderValue::from(0));
        return RenderedError {
            status: status_code,
            headers,
            body: Bytes::new(),
        };
    }

    let negotiate_from = match kind {
        ErrorKind::Pdk => joined_accept(req_headers),
        ErrorKind::Nginx => joined_accept(req_headers)
            .or_else(|| header_str(req_headers, CONTENT_TYPE).map(str::to_string))
            .or_else(|| Some(default_type.mime().to_string())),
    };
    let mime = response_type(negotiate_from.as_deref());
    let body = match mime {
        HTML => format!(
            "<!doctype html>\n<html>\n  <head>\n    <meta charset=\"utf-8\">\n    \
             <title>Error</title>\n  </head>\n  <body>\n    <h1>Error</h1>\n    \
             <p>{message}.</p>\n    <p>request_id: {request_id}</p>\n  </body>\n</html>\n"
        ),
        PLAIN => format!("{message}\nrequest_id: {request_id}\n"),
        XML => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<error>\n  <message>{message}</message>\n  \
             <requestid>{request_id}</requestid>\n</error>\n"
        ),
        _ => format!(
            "{{\n  \"message\":\"{}\",\n  \"request_id\":\"{request_id}\"\n}}",
            json_escape(&message)
        ),
    };
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(mime));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    RenderedError {
        status: status_code,
        headers,
        body: Bytes::from(body),
    }
}

fn header_str(headers: &HeaderMap, name: http::header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn joined_accept(headers: &HeaderMap) -> Option<String> {
    let mut values = headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok());
    let first = values.next()?;
    let mut joined = first.to_string();
    for v in values {
        joined.push(',');
        joined.push_str(v);
    }
    Some(joined)
}

/// Kong's `get_response_type`: the highest-quality acceptable media type (first wins on
/// ties; a missing `q` is 1), mapped to one of the four templates; JSON otherwise.
pub fn response_type(accept: Option<&str>) -> &'static str {
    let Some(accept) = accept else {
        return JSON;
    };
    let mut best = JSON;
    let mut best_q = 0.0_f64;
    for item in accept.split(',') {
        let item = item.trim();
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        if !valid_media_range(&media) {
            continue;
        }
        let mut q = 1.0;
        let mut valid = true;
        for param in parts {
            let param = param.trim();
            if let Some(value) = param
                .strip_prefix("q=")
                .or_else(|| param.strip_prefix("Q="))
            {
                match parse_q(value.trim()) {
                    Some(v) => q = v,
                    None => valid = false,
                }
            }
        }
        if !valid {
            continue;
        }
        if q > best_q {
            best_q = q;
            best = mime_for(&media);
        }
    }
    best
}

fn valid_media_range(media: &str) -> bool {
    let Some((t, s)) = media.split_once('/') else {
        return false;
    };
    let ok = |p: &str| {
        p == "*"
            || (!p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-!#$&^_+.".contains(&b)))
    };
    ok(t) && ok(s)
}

/// `q` as Kong's pattern accepts it: `1`, `1.0..`, `0`, `0.ddd`.
fn parse_q(v: &str) -> Option<f64> {
    let ok = match v.split_once('.') {
        None => v == "0" || v == "1",
        Some(("1", frac)) => frac.len() <= 3 && frac.bytes().all(|b| b == b'0'),
        Some(("0", frac)) => frac.len() <= 3 && frac.bytes().all(|b| b.is_ascii_digit()),
        Some(_) => false,
    };
    if ok { v.parse().ok() } else { None }
}

/// Kong's `get_mime_type` with defaults: `*/*` and unknown types map to JSON.
fn mime_for(media: &str) -> &'static str {
    match media {
        "text/html" => HTML,
        "application/json" => JSON,
        "text/plain" => PLAIN,
        "application/xml" => XML,
        "text/*" => PLAIN,
        "application/*" => JSON,
        _ => JSON,
    }
}

fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Kong's HTTP -> gRPC status mapping.
pub fn grpc_status(status: u16) -> u16 {
    match status {
        401 => 16,
        403 => 7,
        404 => 5,
        409 => 6,
        429 => 8,
        499 => 1,
        501 => 12,
        503 => 14,
        504 => 4,
        // Kong maps the rest of each class like its first member.
        500..=599 => 13,
        400..=499 => 3,
        200..=299 => 0,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation_follows_kong() {
        assert_eq!(response_type(None), JSON);
        assert_eq!(
            response_type(Some("application/json;q=0.9,text/html,text/plain;q=0.9")),
            HTML
        );
        assert_eq!(
            response_type(Some(
                "text/plain;q=0.7,application/json;q=0.8,text/html;q=0.5"
            )),
            JSON
        );
        assert_eq!(response_type(Some("text/*")), PLAIN);
        assert_eq!(response_type(Some("*/*")), JSON);
        assert_eq!(response_type(Some("image/png")), JSON);
        assert_eq!(response_type(Some("application/xml")), XML);
        assert_eq!(response_type(Some("garbage")), JSON);
    }

    #[test]
    fn nginx_errors_default_to_plain_text() {
        let r = render(
            ErrorKind::Nginx,
            504,
            None,
            "abc",
            Version::HTTP_11,
            &HeaderMap::new(),
            ErrorDefaultType::Plain,
        );
        assert_eq!(r.status, 504);
        assert_eq!(
            &r.body[..],
            b"The upstream server is timing out\nrequest_id: abc\n"
        );
    }

    #[test]
    fn pdk_errors_default_to_json_and_494_becomes_400() {
        let r = render(
            ErrorKind::Pdk,
            494,
            None,
            "id",
            Version::HTTP_11,
            &HeaderMap::new(),
            ErrorDefaultType::Plain,
        );
        assert_eq!(r.status, 400);
        let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
        assert_eq!(v["message"], "Request header or cookie too large");
        assert_eq!(v["request_id"], "id");
    }

    #[test]
    fn grpc_requests_get_grpc_status() {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        let r = render(
            ErrorKind::Pdk,
            404,
            Some("no Route matched with those values"),
            "id",
            Version::HTTP_2,
            &h,
            ErrorDefaultType::Plain,
        );
        assert_eq!(r.headers["grpc-status"], "5");
        assert_eq!(
            r.headers["grpc-message"],
            "no Route matched with those values"
        );
        assert!(r.body.is_empty());
    }
}
