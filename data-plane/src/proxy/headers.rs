//! Header rules in both directions (behaviour catalogue §2.5 and §2.6).

use http::header::{
    CONNECTION, CONTENT_LENGTH, EXPECT, HOST, SERVER, TE, TRAILER, TRANSFER_ENCODING, UPGRADE, VIA,
};
use http::{HeaderMap, HeaderName, HeaderValue, Version};

use super::context::RequestId;

/// Portico announces itself by its own name in `Server` and `Via` (where Kong writes
/// `kong/<version>`); the header names and formats are Kong's.
pub const SERVER_TOKEN: &str = concat!("portico/", env!("CARGO_PKG_VERSION"));

pub const SERVER_VALUE: HeaderValue = HeaderValue::from_static(SERVER_TOKEN);
pub const VIA_1_0: &str = concat!("1 portico/", env!("CARGO_PKG_VERSION"));
pub const VIA_1_1: &str = concat!("1.1 portico/", env!("CARGO_PKG_VERSION"));
pub const VIA_2: &str = concat!("2 portico/", env!("CARGO_PKG_VERSION"));

pub static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
pub static PROXY: HeaderName = HeaderName::from_static("proxy");
pub static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
pub static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
pub static X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
pub static X_FORWARDED_PATH: HeaderName = HeaderName::from_static("x-forwarded-path");
pub static X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");
pub static X_KONG_REQUEST_ID: HeaderName = HeaderName::from_static("x-kong-request-id");
pub static X_KONG_UPSTREAM_LATENCY: HeaderName = HeaderName::from_static("x-kong-upstream-latency");
pub static X_KONG_PROXY_LATENCY: HeaderName = HeaderName::from_static("x-kong-proxy-latency");
pub static X_KONG_RESPONSE_LATENCY: HeaderName = HeaderName::from_static("x-kong-response-latency");
pub static X_KONG_UPSTREAM_STATUS: HeaderName = HeaderName::from_static("x-kong-upstream-status");
pub static KONG_DEBUG: HeaderName = HeaderName::from_static("kong-debug");

/// The `Via` token for a client protocol version (Kong prints Lua's number formatting:
/// `1.1`, `2`, and `1` for HTTP/1.0).
pub fn via_token(version: Version) -> &'static str {
    match version {
        Version::HTTP_2 | Version::HTTP_3 => VIA_2,
        Version::HTTP_10 | Version::HTTP_09 => VIA_1_0,
        _ => VIA_1_1,
    }
}

/// Appends a static `token` (a `Via` token) to an existing comma-separated header value,
/// or starts one without copying it.
pub fn append_static_token(existing: Option<&HeaderValue>, token: &'static str) -> HeaderValue {
    match existing {
        Some(prev) if !prev.is_empty() => append_token(existing, token),
        _ => static_value(token),
    }
}

/// `token` as a header value; the `Via` tokens' values are checked at compile time
/// (`HeaderValue::from_static` checks every byte when it runs).
fn static_value(token: &'static str) -> HeaderValue {
    const VIA_VALUES: [(&str, HeaderValue); 3] = [
        (VIA_1_1, HeaderValue::from_static(VIA_1_1)),
        (VIA_1_0, HeaderValue::from_static(VIA_1_0)),
        (VIA_2, HeaderValue::from_static(VIA_2)),
    ];
    VIA_VALUES
        .into_iter()
        .find_map(|(known, value)| (known == token).then_some(value))
        .unwrap_or_else(|| HeaderValue::from_static(token))
}

/// Appends `token` to an existing comma-separated header value, or starts one.
pub fn append_token(existing: Option<&HeaderValue>, token: &str) -> HeaderValue {
    match existing.map(HeaderValue::as_bytes) {
        Some(prev) if !prev.is_empty() => {
            let mut v = Vec::with_capacity(prev.len() + 2 + token.len());
            v.extend_from_slice(prev);
            v.extend_from_slice(b", ");
            v.extend_from_slice(token.as_bytes());
            HeaderValue::from_bytes(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
        }
        _ => HeaderValue::from_str(token).unwrap_or_else(|_| HeaderValue::from_static("")),
    }
}

/// Header names listed in `Connection` that must not travel further (Kong's `csv`
/// semantics: a value that is exactly `close`, `upgrade` or `keep-alive` lists nothing,
/// and those three tokens are never removed as names).
pub fn connection_listed(headers: &HeaderMap) -> Vec<HeaderName> {
    let mut out = Vec::new();
    for value in headers.get_all(CONNECTION) {
        let bytes = value.as_bytes();
        if bytes.eq_ignore_ascii_case(b"keep-alive") || bytes.eq_ignore_ascii_case(b"close") {
            // The usual values, listing nothing.
            continue;
        }
        let Ok(value) = value.to_str() else { continue };
        for token in value.split(',') {
            let token = token.trim();
            if token.is_empty()
                || token.eq_ignore_ascii_case("close")
                || token.eq_ignore_ascii_case("keep-alive")
            {
                continue;
            }
            // `from_bytes` lower-cases the name.
            if let Ok(name) = HeaderName::from_bytes(token.as_bytes()) {
                out.push(name);
            }
        }
    }
    out
}

/// Whether a comma-separated header value lists `token` (case-insensitive).
pub fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Whether the client's `TE` asks for trailers.
pub fn te_has_trailers(headers: &HeaderMap) -> bool {
    let trailers = |v: &HeaderValue| {
        v.to_str().is_ok_and(|v| {
            v.split(',').any(|t| {
                t.split(';')
                    .next()
                    .is_some_and(|n| n.trim().eq_ignore_ascii_case("trailers"))
            })
        })
    };
    // By a scan when there are few fields, as `get`.
    if headers.len() <= SCAN_UP_TO {
        return headers.iter().any(|(n, v)| n == TE && trailers(v));
    }
    headers.get_all(TE).iter().any(trailers)
}

/// Maps with at most this many values are searched by a scan rather than by hash.
const SCAN_UP_TO: usize = 8;

/// `headers.get(name)`; by a scan of the fields when there are few (most requests carry
/// a handful), which costs less than hashing the name.
pub fn get<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a HeaderValue> {
    if headers.len() > SCAN_UP_TO {
        return headers.get(name);
    }
    headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
}

/// Whether the request asks for a WebSocket upgrade (Kong only forwards `websocket`).
pub fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    get(headers, &UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"))
}

/// Which of `names` the message carries, as bits in `names` order. One pass over the
/// message's own names (usually a handful, none of them hop-by-hop but `Host`) is cheaper
/// than a hash lookup for every candidate.
fn present(headers: &HeaderMap, names: &[&HeaderName]) -> u32 {
    let mut found = 0;
    for name in headers.keys() {
        if let Some(i) = names.iter().position(|n| *n == name) {
            found |= 1 << i;
        }
    }
    found
}

/// Removes hop-by-hop request headers (what nginx's proxy module and Kong's access phase
/// drop or replace), keeping `Upgrade` for WebSocket upgrades.
pub fn strip_request_hop_by_hop(headers: &mut HeaderMap, upgrading: bool) {
    let names: [&HeaderName; 9] = [
        &CONNECTION,
        &KEEP_ALIVE,
        &PROXY,
        &PROXY_CONNECTION,
        &TE,
        &TRANSFER_ENCODING,
        &EXPECT,
        &HOST,
        &UPGRADE,
    ];
    let found = present(headers, &names);
    if found & 1 != 0 {
        for name in connection_listed(headers) {
            if name == UPGRADE && upgrading {
                continue;
            }
            headers.remove(&name);
        }
    }
    for (i, name) in names.iter().enumerate() {
        if found & (1 << i) != 0 && !(upgrading && **name == UPGRADE) {
            headers.remove(*name);
        }
    }
}

/// Removes hop-by-hop response headers from an upstream response.
pub fn strip_response_hop_by_hop(
    headers: &mut HeaderMap,
    upgraded: bool,
    client_te_trailers: bool,
) {
    let names: [&HeaderName; 6] = [
        &CONNECTION,
        &UPGRADE,
        &KEEP_ALIVE,
        &PROXY_CONNECTION,
        // hyper frames the body itself (chunked for HTTP/1.1 when the length is unknown).
        &TRANSFER_ENCODING,
        &TRAILER,
    ];
    let found = present(headers, &names);
    if found & 1 != 0 {
        for name in connection_listed(headers) {
            if name == UPGRADE {
                continue;
            }
            headers.remove(&name);
        }
    }
    for (i, name) in names.iter().enumerate() {
        let keep = match i {
            0 | 1 => upgraded,
            5 => client_te_trailers,
            _ => false,
        };
        if found & (1 << i) != 0 && !keep {
            headers.remove(*name);
        }
    }
}

/// Kong's response headers for a proxied response (also 502/504 while proxying).
pub struct ProxiedHeaders {
    pub via: Option<&'static str>,
    pub server: bool,
    pub upstream_latency: Option<u64>,
    pub proxy_latency: Option<u64>,
    pub upstream_status: Option<u16>,
    pub request_id: Option<RequestId>,
}

pub fn add_proxied_headers(headers: &mut HeaderMap, h: ProxiedHeaders) {
    if let Some(ms) = h.upstream_latency {
        headers.insert(X_KONG_UPSTREAM_LATENCY.clone(), number_value(ms));
    }
    if let Some(ms) = h.proxy_latency {
        headers.insert(X_KONG_PROXY_LATENCY.clone(), number_value(ms));
    }
    if let Some(token) = h.via {
        let via = append_static_token(headers.get(VIA), token);
        headers.insert(VIA, via);
    }
    if h.server && !headers.contains_key(SERVER) {
        headers.insert(SERVER, SERVER_VALUE);
    }
    if let Some(status) = h.upstream_status {
        headers.insert(
            X_KONG_UPSTREAM_STATUS.clone(),
            number_value(u64::from(status)),
        );
    }
    if let Some(id) = h.request_id {
        headers.insert(X_KONG_REQUEST_ID.clone(), id.header_value());
    }
}

/// Kong's response headers for a response the proxy (or a plugin) generated.
pub fn add_generated_headers(
    headers: &mut HeaderMap,
    server: bool,
    response_latency: Option<u64>,
    request_id: Option<RequestId>,
) {
    if let Some(ms) = response_latency {
        headers.insert(X_KONG_RESPONSE_LATENCY.clone(), number_value(ms));
    }
    if server {
        headers.insert(SERVER, SERVER_VALUE);
    } else {
        headers.remove(SERVER);
    }
    if let Some(id) = request_id {
        headers.insert(X_KONG_REQUEST_ID.clone(), id.header_value());
    }
}

/// A number as a header value. Latencies (in ms) and statuses are small numbers: those
/// below 1000 come from a table made once (a clone of a static value: no allocation,
/// no formatting), others are formatted.
pub fn number_value(n: u64) -> HeaderValue {
    static SMALL: std::sync::OnceLock<Vec<HeaderValue>> = std::sync::OnceLock::new();
    const TABLE_SIZE: u64 = 1000;
    if n >= TABLE_SIZE {
        return HeaderValue::from(n);
    }
    let table = SMALL.get_or_init(|| {
        (0..TABLE_SIZE)
            .map(|i| HeaderValue::from_static(Box::leak(i.to_string().into_boxed_str())))
            .collect()
    });
    table
        .get(n as usize)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from(n))
}

/// An IP address as a header value, formatted without a heap-allocated `String`.
pub fn ip_value(ip: std::net::IpAddr) -> HeaderValue {
    use std::io::Write;
    let mut buf = [0u8; 64];
    let len = {
        let mut cursor = std::io::Cursor::new(&mut buf[..]);
        let _ = write!(cursor, "{ip}");
        usize::try_from(cursor.position()).unwrap_or(0)
    };
    HeaderValue::from_bytes(&buf[..len]).unwrap_or(HeaderValue::from_static(""))
}

/// `Content-Length` of a buffered body.
pub fn set_content_length(headers: &mut HeaderMap, len: usize) {
    headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_tokens_start_or_extend_a_value() {
        for token in [VIA_1_1, VIA_1_0, VIA_2, "1.1 other"] {
            assert_eq!(append_static_token(None, token), token);
            let empty = HeaderValue::from_static("");
            assert_eq!(append_static_token(Some(&empty), token), token);
            let prev = HeaderValue::from_static("1.0 first");
            assert_eq!(
                append_static_token(Some(&prev), token),
                format!("1.0 first, {token}").as_str()
            );
        }
    }

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    #[test]
    fn lookups_scan_small_maps_and_hash_large_ones() {
        let small = map(&[
            ("host", "a"),
            ("x-forwarded-for", "1.2.3.4"),
            ("te", "trailers"),
        ]);
        let mut pairs: Vec<(String, String)> = (0..SCAN_UP_TO)
            .map(|i| (format!("x-{i}"), i.to_string()))
            .collect();
        pairs.push(("host".into(), "a".into()));
        pairs.push(("x-forwarded-for".into(), "1.2.3.4".into()));
        pairs.push(("te".into(), "gzip, trailers;q=1".into()));
        let large = map(&pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<Vec<_>>());
        assert!(large.len() > SCAN_UP_TO);
        for headers in [&small, &large] {
            assert_eq!(get(headers, &HOST).map(|v| v.as_bytes()), Some(&b"a"[..]));
            assert_eq!(
                get(headers, &X_FORWARDED_FOR).map(|v| v.as_bytes()),
                Some(&b"1.2.3.4"[..])
            );
            assert!(get(headers, &VIA).is_none());
            assert!(te_has_trailers(headers));
        }
        assert!(!te_has_trailers(&map(&[("te", "gzip")])));
    }

    #[test]
    fn numbers_become_header_values() {
        for n in [0, 7, 999, 1000, 123_456] {
            assert_eq!(number_value(n), n.to_string().as_str());
        }
    }

    #[test]
    fn request_hop_by_hop_headers_go_and_end_to_end_ones_stay() {
        let mut h = map(&[
            ("connection", "X-Foo, X-Bar, Upgrade"),
            ("x-foo", "1"),
            ("x-bar", "1"),
            ("keep-alive", "timeout=5"),
            ("proxy", "x"),
            ("proxy-connection", "close"),
            ("upgrade", "h2c"),
            ("te", "trailers, deflate"),
            ("proxy-authenticate", "x"),
            ("proxy-authorization", "x"),
            ("close", "x"),
            ("x-foo-bar", "x"),
        ]);
        strip_request_hop_by_hop(&mut h, false);
        for gone in [
            "x-foo",
            "x-bar",
            "keep-alive",
            "proxy",
            "proxy-connection",
            "upgrade",
            "te",
            "connection",
        ] {
            assert!(!h.contains_key(gone), "{gone} should be removed");
        }
        for kept in [
            "proxy-authenticate",
            "proxy-authorization",
            "close",
            "x-foo-bar",
        ] {
            assert!(h.contains_key(kept), "{kept} should be kept");
        }
    }

    #[test]
    fn websocket_upgrade_keeps_upgrade() {
        let mut h = map(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "websocket"),
        ]);
        assert!(is_websocket_upgrade(&h));
        strip_request_hop_by_hop(&mut h, true);
        assert_eq!(h["upgrade"], "websocket");
    }

    #[test]
    fn te_trailers_detection() {
        assert!(te_has_trailers(&map(&[("te", "trailers")])));
        assert!(te_has_trailers(&map(&[("te", "gzip, Trailers;q=1")])));
        assert!(!te_has_trailers(&map(&[("te", "gzip")])));
    }

    #[test]
    fn via_appends() {
        let v = append_token(Some(&HeaderValue::from_static("1.1 dev")), VIA_1_1);
        assert_eq!(v.to_str().expect("ascii"), format!("1.1 dev, {VIA_1_1}"));
        assert_eq!(append_token(None, VIA_2).to_str().expect("ascii"), VIA_2);
    }
}
