//! The value a consistent-hashing upstream hashes, taken from the request as Kong takes it
//! (`get_value_to_hash` in Kong's balancer).
//!
//! `hash_on` names the source; when it yields nothing, `hash_fallback` is tried; when that
//! yields nothing too, the empty string is hashed (so such requests all land on one
//! target). Sources: the consumer id; the client IP (after `real_ip_header`); a header (all
//! its values joined with `", "`, as nginx joins repeated headers); a cookie (a missing cookie
//! is created: a random UUID, sent back to the client in `Set-Cookie`); nginx's `$uri` (the
//! decoded, normalised path); a query argument (decoded, a bare `?arg` reads `true`,
//! repeated arguments sorted and joined with `,`); a named capture of the route's regex path.
//! The value is computed once per request, before the first try, so retries hash the same.

use common::model::{HashOn, Upstream};
use http::HeaderValue;
use http::header::COOKIE;

use super::BalancerRequest;

/// nginx's `lua_max_uri_args` default: only the first 100 arguments are looked at.
const MAX_URI_ARGS: usize = 100;

/// The hashed value of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashKey {
    pub value: String,
    /// xxHash32 of `value` (what Kong's ring is indexed by).
    pub hash: u32,
    /// `Set-Cookie` value to send when the hashing cookie was missing.
    pub cookie: Option<HeaderValue>,
}

/// Which of an upstream's fields a source reads, for `hash_on` and for `hash_fallback`.
struct SourceFields<'a> {
    header: Option<&'a str>,
    query_arg: Option<&'a str>,
    uri_capture: Option<&'a str>,
}

/// The request's hash value for `upstream`, or `None` when it does not hash (`hash_on: none`).
pub fn hash_key(upstream: &Upstream, req: &BalancerRequest<'_>) -> Option<HashKey> {
    if upstream.hash_on == HashOn::None {
        return None;
    }
    let mut cookie = None;
    let primary = SourceFields {
        header: upstream.hash_on_header.as_deref(),
        query_arg: upstream.hash_on_query_arg.as_deref(),
        uri_capture: upstream.hash_on_uri_capture.as_deref(),
    };
    let fallback = SourceFields {
        header: upstream.hash_fallback_header.as_deref(),
        query_arg: upstream.hash_fallback_query_arg.as_deref(),
        uri_capture: upstream.hash_fallback_uri_capture.as_deref(),
    };
    let value = identifier(upstream, upstream.hash_on, &primary, req, &mut cookie)
        .or_else(|| match upstream.hash_fallback {
            HashOn::None => None,
            source => identifier(upstream, source, &fallback, req, &mut cookie),
        })
        .unwrap_or_default();
    let hash = xxhash_rust::xxh32::xxh32(value.as_bytes(), 0);
    Some(HashKey {
        value,
        hash,
        cookie,
    })
}

fn identifier(
    upstream: &Upstream,
    source: HashOn,
    fields: &SourceFields<'_>,
    req: &BalancerRequest<'_>,
    new_cookie: &mut Option<HeaderValue>,
) -> Option<String> {
    match source {
        HashOn::None => None,
        HashOn::Consumer => req.consumer_id.map(|id| id.to_string()),
        HashOn::Ip => Some(req.client_ip.to_string()),
        HashOn::Header => header_values(req.headers, fields.header?),
        HashOn::Cookie => {
            let name = upstream.hash_on_cookie.as_deref()?;
            if let Some(value) = cookie_value(req.headers, name) {
                return Some(value);
            }
            let value = uuid::Uuid::new_v4().to_string();
            let path = upstream.hash_on_cookie_path.as_deref().unwrap_or("/");
            *new_cookie = HeaderValue::from_str(&format!(
                "{name}={value}; Path={path}; Same-Site=Lax; HttpOnly"
            ))
            .ok();
            Some(value)
        }
        HashOn::Path => {
            Some(String::from_utf8_lossy(&crate::router::decoded_uri(req.path)).into_owned())
        }
        HashOn::QueryArg => query_arg(req.query?, fields.query_arg?),
        HashOn::UriCapture => {
            let group = fields.uri_capture?;
            req.captures
                .iter()
                .find(|(name, _)| name.as_deref() == Some(group))
                .map(|(_, value)| value.clone())
        }
    }
}

/// All values of header `name`, joined with `", "`.
fn header_values(headers: &http::HeaderMap, name: &str) -> Option<String> {
    let name = http::HeaderName::from_bytes(name.as_bytes()).ok()?;
    let mut values = headers.get_all(&name).iter();
    let first = values.next()?;
    let mut out = String::from_utf8_lossy(first.as_bytes()).into_owned();
    for v in values {
        out.push_str(", ");
        out.push_str(&String::from_utf8_lossy(v.as_bytes()));
    }
    Some(out)
}

/// nginx's `$cookie_<name>`: the first cookie of that name (compared case-insensitively).
fn cookie_value(headers: &http::HeaderMap, name: &str) -> Option<String> {
    for header in headers.get_all(COOKIE) {
        let text = String::from_utf8_lossy(header.as_bytes());
        for pair in text.split(';') {
            if let Some((key, value)) = pair.split_once('=')
                && key.trim().eq_ignore_ascii_case(name)
            {
                return Some(value.trim().to_string());
            }
        }
    }
    None
}

/// One decoded query component (`+` is a space), as `ngx.req.get_uri_args` decodes it.
fn decode_component(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// The value of query argument `name`, normalised like Kong: a bare `?name` is `true`, an
/// argument given several times is its values sorted and joined with `,`.
fn query_arg(query: &str, name: &str) -> Option<String> {
    let mut values: Vec<String> = Vec::new();
    for pair in query
        .split('&')
        .filter(|p| !p.is_empty())
        .take(MAX_URI_ARGS)
    {
        let (key, value) = match pair.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (pair, None),
        };
        if decode_component(key) != name {
            continue;
        }
        values.push(value.map_or_else(|| "true".to_string(), decode_component));
    }
    match values.len() {
        0 => None,
        1 => values.pop(),
        _ => {
            values.sort();
            Some(values.join(","))
        }
    }
}

/// Adds the hashing cookie to response headers as Kong's `set_cookie` does: it replaces a
/// `Set-Cookie` for the same cookie name, else it is added.
pub fn set_hash_cookie(headers: &mut http::HeaderMap, cookie: HeaderValue) {
    let bytes = cookie.as_bytes();
    let prefix_len = bytes.iter().position(|&b| b == b'=').map_or(0, |i| i + 1);
    let prefix = &bytes[..prefix_len];
    let mut existing: Vec<HeaderValue> = headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .cloned()
        .collect();
    match existing
        .iter_mut()
        .find(|v| v.as_bytes().starts_with(prefix))
    {
        Some(same_name) => *same_name = cookie,
        None => existing.push(cookie),
    }
    headers.remove(http::header::SET_COOKIE);
    for v in existing {
        headers.append(http::header::SET_COOKIE, v);
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    fn upstream(hash_on: HashOn) -> Upstream {
        let mut u = crate::balancer::testing::upstream(serde_json::json!({
            "algorithm": "consistent-hashing",
        }));
        u.hash_on = hash_on;
        u
    }

    struct Req {
        headers: http::HeaderMap,
        path: &'static str,
        query: Option<&'static str>,
        captures: Vec<(Option<String>, String)>,
    }

    impl Req {
        fn new(path: &'static str, query: Option<&'static str>) -> Req {
            Req {
                headers: http::HeaderMap::new(),
                path,
                query,
                captures: Vec::new(),
            }
        }

        fn key(&self, u: &Upstream) -> Option<HashKey> {
            hash_key(
                u,
                &BalancerRequest {
                    client_ip: IpAddr::from([10, 0, 0, 7]),
                    headers: &self.headers,
                    path: self.path,
                    query: self.query,
                    captures: &self.captures,
                    consumer_id: None,
                },
            )
        }
    }

    fn value(u: &Upstream, req: &Req) -> String {
        req.key(u).expect("hashing upstream").value
    }

    #[test]
    fn no_hash_on_means_no_key() {
        assert_eq!(Req::new("/", None).key(&upstream(HashOn::None)), None);
    }

    #[test]
    fn headers_join_repeated_values() {
        let mut u = upstream(HashOn::Header);
        u.hash_on_header = Some("X-LB-Hash".into());
        let mut req = Req::new("/", None);
        req.headers
            .append("x-lb-hash", HeaderValue::from_static("1st value"));
        req.headers
            .append("x-lb-hash", HeaderValue::from_static("2nd value"));
        assert_eq!(value(&u, &req), "1st value, 2nd value");
        // Missing header, no fallback: the empty string.
        assert_eq!(value(&u, &Req::new("/", None)), "");
    }

    #[test]
    fn ip_hashes_the_client_address() {
        assert_eq!(
            value(&upstream(HashOn::Ip), &Req::new("/", None)),
            "10.0.0.7"
        );
    }

    #[test]
    fn path_is_nginx_uri() {
        let u = upstream(HashOn::Path);
        assert_eq!(
            value(&u, &Req::new("/my-path", Some("a=1&b=2"))),
            "/my-path"
        );
        assert_eq!(
            value(
                &u,
                &Req::new(
                    "/root/../%2e/root///././%2F.subdir/../.subdir/./%28%29",
                    None
                )
            ),
            "/root/.subdir/()"
        );
    }

    #[test]
    fn query_args_follow_kong() {
        let mut u = upstream(HashOn::QueryArg);
        u.hash_on_query_arg = Some("foo".into());
        let cases = [
            ("foo=123", "123"),
            ("foo", "true"),
            ("foo=", ""),
            ("foo=b&foo=a&foo=c", "a,b,c"),
            ("foo=s&foo&foo=1&foo=", ",1,s,true"),
            ("foo&foo&", "true,true"),
            ("bar=1", ""),
            ("foo=a+b%21", "a b!"),
        ];
        for (query, expected) in cases {
            assert_eq!(value(&u, &Req::new("/", Some(query))), expected, "{query}");
        }
        u.hash_on_query_arg = Some("{}".into());
        assert_eq!(value(&u, &Req::new("/", Some("%7B%7D=7"))), "7");
    }

    #[test]
    fn fallbacks_are_tried_in_order() {
        let mut u = upstream(HashOn::UriCapture);
        u.hash_on_uri_capture = Some("namespace".into());
        u.hash_fallback = HashOn::QueryArg;
        u.hash_fallback_query_arg = Some("test".into());
        assert_eq!(value(&u, &Req::new("/", Some("test=1"))), "1");
        let mut req = Req::new("/foo/123", Some("test=1"));
        req.captures = vec![
            (Some("namespace".into()), "foo".into()),
            (Some("id".into()), "123".into()),
        ];
        assert_eq!(value(&u, &req), "foo");
    }

    #[test]
    fn a_missing_cookie_is_created_and_an_existing_one_used() {
        let mut u = upstream(HashOn::Cookie);
        u.hash_on_cookie = Some("hashme".into());
        u.hash_on_cookie_path = Some("/app".into());
        let key = Req::new("/", None).key(&u).expect("key");
        let cookie = key.cookie.expect("cookie created");
        let text = cookie.to_str().expect("ascii");
        assert_eq!(
            text,
            format!("hashme={}; Path=/app; Same-Site=Lax; HttpOnly", key.value)
        );
        assert!(uuid::Uuid::parse_str(&key.value).is_ok());

        let mut req = Req::new("/", None);
        req.headers.insert(
            COOKIE,
            HeaderValue::from_static("other=1; HashMe=some-value; x=2"),
        );
        let key = req.key(&u).expect("key");
        assert_eq!(key.value, "some-value");
        assert_eq!(key.cookie, None);
    }

    #[test]
    fn the_hash_is_xxhash32_of_the_value() {
        let mut u = upstream(HashOn::Header);
        u.hash_on_header = Some("h".into());
        let key = Req::new("/", None).key(&u).expect("key");
        // xxHash32 of the empty input with seed 0.
        assert_eq!(key.hash, 0x02CC_5D05);
    }

    #[test]
    fn set_cookie_replaces_the_same_name_only() {
        let mut headers = http::HeaderMap::new();
        headers.append(
            http::header::SET_COOKIE,
            HeaderValue::from_static("a=1; Path=/"),
        );
        headers.append(
            http::header::SET_COOKIE,
            HeaderValue::from_static("hashme=old; Path=/"),
        );
        set_hash_cookie(&mut headers, HeaderValue::from_static("hashme=new; Path=/"));
        let all: Vec<_> = headers.get_all(http::header::SET_COOKIE).iter().collect();
        assert_eq!(all, ["a=1; Path=/", "hashme=new; Path=/"]);
        let mut headers = http::HeaderMap::new();
        set_hash_cookie(&mut headers, HeaderValue::from_static("hashme=v"));
        assert_eq!(headers[http::header::SET_COOKIE], "hashme=v");
    }
}
