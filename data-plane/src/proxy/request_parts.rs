//! What the request path reads from the client's request head (its size against nginx's
//! limits, its host) and derives from it for the upstream request (X-Forwarded-Host, the
//! path and query sent upstream).

use http::HeaderValue;
use http::header::HOST;
use http::uri::PathAndQuery;

/// nginx's `large_client_header_buffers 4 8k`: one header line may not exceed 8 KiB and
/// all of them together 32 KiB (answered 494, sent as 400); a longer request line is 414.
const MAX_HEADER_LINE: usize = 8192;
const MAX_HEADERS_TOTAL: usize = 4 * 8192;
const MAX_REQUEST_TARGET: usize = 8192;

/// The request's header sizes against nginx's buffers: the status to answer, if any.
pub(super) fn oversized(parts: &http::request::Parts) -> Option<u16> {
    let target = parts
        .uri
        .path_and_query()
        .map_or(parts.uri.path().len(), |pq| pq.as_str().len());
    if target > MAX_REQUEST_TARGET {
        return Some(414);
    }
    let mut total = 0;
    for (name, value) in &parts.headers {
        let line = name.as_str().len() + 2 + value.len() + 2;
        if line > MAX_HEADER_LINE {
            return Some(494);
        }
        total += line;
    }
    (total > MAX_HEADERS_TOTAL).then_some(494)
}

/// The host the client addressed: `Host`, or the URI authority (HTTP/2, absolute form).
pub(super) fn request_host(parts: &http::request::Parts) -> Option<HeaderValue> {
    match crate::proxy::headers::get(&parts.headers, &HOST) {
        Some(v) => Some(v.clone()),
        None => parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok()),
    }
}

/// The first `len` bytes of a header value: a value cut from another without copying it
/// (X-Forwarded-Host is the client's Host without its port).
#[derive(Clone, Debug)]
pub struct ValuePrefix {
    value: HeaderValue,
    len: usize,
}

impl ValuePrefix {
    pub fn whole(value: HeaderValue) -> ValuePrefix {
        let len = value.len();
        ValuePrefix { value, len }
    }

    pub fn as_bytes(&self) -> &[u8] {
        let bytes = self.value.as_bytes();
        bytes.get(..self.len).unwrap_or(bytes)
    }

    /// As a value of its own (for header maps).
    pub fn to_value(&self) -> HeaderValue {
        if self.len == self.value.len() {
            return self.value.clone();
        }
        HeaderValue::from_bytes(self.as_bytes()).unwrap_or_else(|_| self.value.clone())
    }
}

/// `X-Forwarded-Host` from the client's host: without its port, lower-cased (the client's
/// own value, or the part of it before the port, when it already is), empty without a
/// host.
pub(super) fn forwarded_host(
    value: Option<&HeaderValue>,
    host: Option<&str>,
) -> Option<ValuePrefix> {
    let bare = host.map_or("", strip_port);
    if bare.bytes().any(|b| b.is_ascii_uppercase()) {
        return HeaderValue::from_str(&bare.to_ascii_lowercase())
            .ok()
            .map(ValuePrefix::whole);
    }
    match value {
        Some(value) if value.as_bytes().starts_with(bare.as_bytes()) => Some(ValuePrefix {
            value: value.clone(),
            len: bare.len(),
        }),
        _ => HeaderValue::from_str(bare).ok().map(ValuePrefix::whole),
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(h, _)| &host[..h.len() + 1]);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// Percent-encodes bytes a URI path may not carry, leaving valid escapes alone.
fn encode_path(path: &str) -> String {
    const KEEP: &[u8] = b"-._~!$&'()*+,;=:@/%";
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || KEEP.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(super) fn upstream_path_and_query(path: &str, query: Option<&str>) -> Option<PathAndQuery> {
    let path = if path.is_empty() { "/" } else { path };
    let full = match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    PathAndQuery::try_from(full.as_str()).ok().or_else(|| {
        let encoded = match query {
            Some(q) => format!("{}?{q}", encode_path(path)),
            None => encode_path(path),
        };
        PathAndQuery::try_from(encoded.as_str()).ok()
    })
}

#[cfg(test)]
mod tests {
    use http::Request;

    use super::*;

    #[test]
    fn forwarded_host_is_the_lower_cased_host_without_port() {
        let fwd = |host: Option<&str>| {
            let value = host.map(|h| HeaderValue::from_str(h).expect("value"));
            forwarded_host(value.as_ref(), host)
                .expect("valid")
                .to_value()
        };
        assert_eq!(fwd(Some("a.test")), "a.test");
        assert_eq!(fwd(Some("A.Test:8000")), "a.test");
        assert_eq!(fwd(Some("a.test:8000")), "a.test");
        assert_eq!(fwd(Some("[::1]:80")), "[::1]");
        assert_eq!(fwd(None), "");
    }

    #[test]
    fn ports_are_stripped_from_hosts() {
        assert_eq!(strip_port("a.test:8000"), "a.test");
        assert_eq!(strip_port("a.test"), "a.test");
        assert_eq!(strip_port("[::1]:80"), "[::1]");
    }

    #[test]
    fn upstream_uri_keeps_the_query_verbatim() {
        let pq = upstream_path_and_query("/get", Some("where=%7B%7D&x")).expect("valid");
        assert_eq!(pq.as_str(), "/get?where=%7B%7D&x");
        let pq = upstream_path_and_query("/cat and dog", None).expect("encoded");
        assert_eq!(pq.as_str(), "/cat%20and%20dog");
    }

    #[test]
    fn oversized_header_lines_are_caught() {
        let mut req = Request::new(());
        req.headers_mut().insert(
            "x-big",
            HeaderValue::from_str(&"a".repeat(9000)).expect("value"),
        );
        let (parts, ()) = req.into_parts();
        assert_eq!(oversized(&parts), Some(494));
    }
}
