//! The headers the proxy sets on every upstream request (Kong's `proxy_set_header`s),
//! replacing any the client sent under those names.
//!
//! They are kept apart from the client's header map: the HTTP/1.1 encoder writes them
//! after the client's headers (skipping the client's namesakes), which spares a dozen
//! map insertions per request; for HTTP/2 they are inserted into the map.

use http::header::{CONNECTION, TE, UPGRADE, VIA};
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::proxy::context::RequestId;
use crate::proxy::headers as h;
use crate::proxy::request_parts::ValuePrefix;

pub struct ProxyHeaders {
    /// A WebSocket upgrade: `Connection: keep-alive, Upgrade` and `Upgrade: websocket`.
    pub upgrade: bool,
    /// The client accepts trailers (gRPC): `TE: trailers`.
    pub te_trailers: bool,
    pub x_real_ip: HeaderValue,
    pub x_forwarded_for: HeaderValue,
    pub x_forwarded_proto: HeaderValue,
    pub x_forwarded_host: Option<ValuePrefix>,
    pub x_forwarded_port: HeaderValue,
    pub x_forwarded_path: Option<ForwardedPath>,
    pub x_forwarded_prefix: Option<HeaderValue>,
    pub via: HeaderValue,
    /// `X-Kong-Request-Id`, when sent upstream (`--headers-upstream`).
    pub request_id: Option<RequestId>,
}

/// `X-Forwarded-Path`: a trusted client's, or the request's path (kept as the request's
/// path and query, shared, rather than copied into a value of its own).
pub enum ForwardedPath {
    Value(HeaderValue),
    Request(PathAndQuery),
}

/// A value of the proxy's headers: most are header values; the request id is written
/// from its digits (made into a header value only for a map).
pub enum Value<'a> {
    Header(&'a HeaderValue),
    Prefix(&'a ValuePrefix),
    Path(&'a PathAndQuery),
    Id(&'a RequestId),
}

impl Value<'_> {
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Value::Header(v) => v.as_bytes(),
            Value::Prefix(v) => v.as_bytes(),
            Value::Path(pq) => pq.path().as_bytes(),
            Value::Id(id) => id.as_bytes(),
        }
    }

    fn to_header_value(&self) -> HeaderValue {
        match self {
            Value::Header(v) => (*v).clone(),
            Value::Prefix(v) => v.to_value(),
            // A path is a valid header value (visible ASCII and obs-text).
            Value::Path(pq) => {
                HeaderValue::from_str(pq.path()).unwrap_or(HeaderValue::from_static("/"))
            }
            Value::Id(id) => id.header_value(),
        }
    }
}

impl ProxyHeaders {
    /// Whether a client header of this name is replaced (or removed) by the proxy's.
    pub fn replaces(&self, name: &HeaderName) -> bool {
        if *name == VIA || (*name == UPGRADE && self.upgrade) {
            return true;
        }
        let name = name.as_str();
        if !name.starts_with("x-") {
            return false;
        }
        match name {
            "x-real-ip" | "x-forwarded-for" | "x-forwarded-proto" | "x-forwarded-host"
            | "x-forwarded-port" | "x-forwarded-path" | "x-forwarded-prefix" => true,
            "x-kong-request-id" => self.request_id.is_some(),
            _ => false,
        }
    }

    /// Every header, in the order they are sent, with its name as the HTTP/1.1 encoder
    /// writes it (lower case, then `: `: a constant, so the copy is inlined).
    pub fn for_each(&self, mut f: impl FnMut(&HeaderName, &'static [u8], Value<'_>)) {
        const KEEP_ALIVE: HeaderValue = HeaderValue::from_static("keep-alive");
        const KEEP_ALIVE_UPGRADE: HeaderValue = HeaderValue::from_static("keep-alive, Upgrade");
        const WEBSOCKET: HeaderValue = HeaderValue::from_static("websocket");
        const TRAILERS: HeaderValue = HeaderValue::from_static("trailers");
        use Value::Header;
        const PATH: &[u8] = b"x-forwarded-path: ";
        if self.upgrade {
            f(&CONNECTION, b"connection: ", Header(&KEEP_ALIVE_UPGRADE));
            f(&UPGRADE, b"upgrade: ", Header(&WEBSOCKET));
        } else {
            f(&CONNECTION, b"connection: ", Header(&KEEP_ALIVE));
        }
        if self.te_trailers {
            f(&TE, b"te: ", Header(&TRAILERS));
        }
        f(&h::X_REAL_IP, b"x-real-ip: ", Header(&self.x_real_ip));
        let xff = Header(&self.x_forwarded_for);
        f(&h::X_FORWARDED_FOR, b"x-forwarded-for: ", xff);
        let proto = Header(&self.x_forwarded_proto);
        f(&h::X_FORWARDED_PROTO, b"x-forwarded-proto: ", proto);
        if let Some(v) = &self.x_forwarded_host {
            f(
                &h::X_FORWARDED_HOST,
                b"x-forwarded-host: ",
                Value::Prefix(v),
            );
        }
        let port = Header(&self.x_forwarded_port);
        f(&h::X_FORWARDED_PORT, b"x-forwarded-port: ", port);
        match &self.x_forwarded_path {
            Some(ForwardedPath::Value(v)) => f(&h::X_FORWARDED_PATH, PATH, Header(v)),
            Some(ForwardedPath::Request(pq)) => f(&h::X_FORWARDED_PATH, PATH, Value::Path(pq)),
            None => {}
        }
        if let Some(v) = &self.x_forwarded_prefix {
            f(&h::X_FORWARDED_PREFIX, b"x-forwarded-prefix: ", Header(v));
        }
        f(&VIA, b"via: ", Header(&self.via));
        if let Some(id) = &self.request_id {
            f(&h::X_KONG_REQUEST_ID, b"x-kong-request-id: ", Value::Id(id));
        }
    }

    /// Puts them into `headers` (HTTP/2), replacing the client's.
    pub fn apply_to(&self, headers: &mut HeaderMap) {
        let replaced: Vec<HeaderName> = headers
            .keys()
            .filter(|name| self.replaces(name))
            .cloned()
            .collect();
        for name in replaced {
            headers.remove(name);
        }
        self.for_each(|name, _, value| {
            headers.append(name.clone(), value.to_header_value());
        });
    }
}

/// A typical set, for tests.
#[cfg(test)]
pub fn sample(request_id: bool) -> ProxyHeaders {
    ProxyHeaders {
        upgrade: false,
        te_trailers: true,
        x_real_ip: HeaderValue::from_static("10.0.0.1"),
        x_forwarded_for: HeaderValue::from_static("10.0.0.1"),
        x_forwarded_proto: HeaderValue::from_static("http"),
        x_forwarded_host: None,
        x_forwarded_port: HeaderValue::from_static("8000"),
        x_forwarded_path: Some(ForwardedPath::Request(PathAndQuery::from_static("/a?q"))),
        x_forwarded_prefix: None,
        via: HeaderValue::from_static("1.1 portico"),
        request_id: request_id.then(RequestId::random),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_namesakes_are_replaced_or_removed() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("x-forwarded-host", "spoofed"),
            ("x-forwarded-prefix", "spoofed"),
            ("x-kong-request-id", "client"),
            ("x-other", "kept"),
            ("via", "1.0 other"),
        ] {
            headers.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        sample(false).apply_to(&mut headers);
        assert!(!headers.contains_key("x-forwarded-host"), "removed (None)");
        assert!(!headers.contains_key("x-forwarded-prefix"));
        assert_eq!(headers["x-kong-request-id"], "client", "not sent: kept");
        assert_eq!(headers["x-other"], "kept");
        assert_eq!(headers["via"], "1.1 portico");
        assert_eq!(headers["x-forwarded-path"], "/a");
        assert_eq!(headers["te"], "trailers");
        assert_eq!(headers["connection"], "keep-alive");
        assert!(!headers.contains_key("upgrade"));
        let with_id = sample(true);
        assert!(with_id.replaces(&HeaderName::from_static("x-kong-request-id")));
        assert!(!with_id.replaces(&HeaderName::from_static("x-forwarded-other")));
    }
}
