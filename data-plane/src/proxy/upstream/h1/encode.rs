//! Writing an HTTP/1.1 request head and choosing how its body is framed, by hyper's
//! client's rules (so upstreams see the requests they saw before): `Host` first, then
//! the headers in map order with lower-case names, then the proxy's own. A
//! `Transfer-Encoding` the caller set (ending in `chunked`) wins over a `Content-Length`,
//! which is kept; otherwise a known body length becomes `Content-Length` and an unknown
//! one `Transfer-Encoding: chunked` (none for GET, HEAD and CONNECT, which send no body
//! then); no body, no framing header.

use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderValue, Method};
use http_body::Body;

use super::super::{ProxyHeaders, UpstreamBody};
use super::head::{ends_in_chunked, merge_content_length};
use crate::proxy::headers as h;

/// What the request line and headers are made of.
pub struct RequestHead<'a> {
    pub method: &'a Method,
    pub path_and_query: &'a PathAndQuery,
    pub host: &'a HeaderValue,
    /// The client's headers (a `Host` among them is not sent: `host` is).
    pub headers: &'a HeaderMap,
    /// Sent after the client's headers, whose namesakes are not sent.
    pub proxy_headers: &'a ProxyHeaders,
}

/// How the request body goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// Exactly this many bytes (the `Content-Length` sent, or 0 without one).
    Length(u64),
    Chunked,
}

/// Writes the head into `out` and returns how the body must be framed; refuses framing
/// headers it cannot honour (set by a plugin: the client's are checked by the server).
pub fn encode_head(
    head: &RequestHead<'_>,
    body: &UpstreamBody,
    out: &mut Vec<u8>,
) -> Result<BodyFraming, &'static str> {
    let headers = head.headers;
    let mut add: Option<(&[u8], &[u8])> = None;
    let length_value: HeaderValue;
    let transfer_encoding = h::get(headers, &TRANSFER_ENCODING);
    let framing = if let Some(te) = transfer_encoding {
        if !ends_in_chunked(te.as_bytes()) {
            return Err("a Transfer-Encoding that does not end in chunked");
        }
        BodyFraming::Chunked
    } else if h::get(headers, &CONTENT_LENGTH).is_some() {
        let mut length = None;
        for value in headers.get_all(CONTENT_LENGTH) {
            if !merge_content_length(value.as_bytes(), &mut length) {
                return Err("an invalid Content-Length");
            }
        }
        BodyFraming::Length(length.unwrap_or(0))
    } else if body.is_end_stream() {
        BodyFraming::Length(0)
    } else {
        match body.size_hint().exact() {
            Some(n) => {
                length_value = HeaderValue::from(n);
                add = Some((b"content-length", length_value.as_bytes()));
                BodyFraming::Length(n)
            }
            None if matches!(*head.method, Method::GET | Method::HEAD | Method::CONNECT) => {
                BodyFraming::Length(0)
            }
            None => {
                add = Some((b"transfer-encoding", b"chunked"));
                BodyFraming::Chunked
            }
        }
    };

    out.reserve(256 + headers.len() * 32);
    out.extend_from_slice(head.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(head.path_and_query.as_str().as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(head.host.as_bytes());
    out.extend_from_slice(b"\r\n");
    let proxy_headers = head.proxy_headers;
    for (name, value) in headers {
        // A chunked body has no length to announce.
        let overridden = transfer_encoding.is_some() && name == CONTENT_LENGTH;
        if name == HOST || overridden || proxy_headers.replaces(name) {
            continue;
        }
        put_field(out, name.as_str().as_bytes(), value.as_bytes());
    }
    proxy_headers.for_each(|_, prefix, value| put_line(out, prefix, value.as_bytes()));
    if let Some((name, value)) = add {
        put_field(out, name, value);
    }
    out.extend_from_slice(b"\r\n");
    Ok(framing)
}

/// A field line from its start (`name: `, usually a constant: inlined, its copy is) and
/// its value.
#[inline(always)]
pub fn put_line(out: &mut Vec<u8>, prefix: &[u8], value: &[u8]) {
    out.reserve(prefix.len() + value.len() + 2);
    out.extend_from_slice(prefix);
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// `name: value` and its CRLF.
pub fn put_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    put_line(out, b": ", value);
}

/// The line that starts a chunk of `len` bytes.
pub fn put_chunk_size(out: &mut Vec<u8>, len: usize) {
    use std::io::Write;
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{len:x}\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    /// What `proxy_headers::sample(false)` writes.
    const PROXY: &str = "connection: keep-alive\r\nte: trailers\r\nx-real-ip: 10.0.0.1\r\n\
        x-forwarded-for: 10.0.0.1\r\nx-forwarded-proto: http\r\nx-forwarded-port: 8000\r\n\
        x-forwarded-path: /a\r\nvia: 1.1 portico\r\n";

    fn encoded(headers: &HeaderMap, body: &UpstreamBody) -> (String, BodyFraming) {
        let method = Method::POST;
        let pq = PathAndQuery::from_static("/a?b=1");
        let host = HeaderValue::from_static("example.com:8080");
        let proxy_headers = crate::proxy::upstream::proxy_headers::sample(false);
        let head = RequestHead {
            method: &method,
            path_and_query: &pq,
            host: &host,
            headers,
            proxy_headers: &proxy_headers,
        };
        let mut out = Vec::new();
        let framing = encode_head(&head, body, &mut out).expect("encodable");
        (String::from_utf8(out).expect("ascii"), framing)
    }

    #[test]
    fn host_comes_first_and_a_known_length_is_added() {
        let mut headers = HeaderMap::new();
        headers.insert("x-a", HeaderValue::from_static("1"));
        headers.insert(HOST, HeaderValue::from_static("ignored"));
        headers.insert("x-forwarded-for", HeaderValue::from_static("spoofed"));
        let (text, framing) = encoded(&headers, &UpstreamBody::full(Bytes::from_static(b"abc")));
        assert_eq!(
            text,
            format!(
                "POST /a?b=1 HTTP/1.1\r\nhost: example.com:8080\r\nx-a: 1\r\n{PROXY}content-length: 3\r\n\r\n"
            )
        );
        assert_eq!(framing, BodyFraming::Length(3));
    }

    #[test]
    fn no_body_no_framing_header_and_a_set_length_is_kept() {
        let (text, _) = encoded(&HeaderMap::new(), &UpstreamBody::empty());
        assert_eq!(
            text,
            format!("POST /a?b=1 HTTP/1.1\r\nhost: example.com:8080\r\n{PROXY}\r\n")
        );
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("3"));
        let (text, _) = encoded(&headers, &UpstreamBody::full(Bytes::from_static(b"abc")));
        assert_eq!(text.matches("content-length").count(), 1);
    }

    #[test]
    fn framing_headers_that_cannot_be_honoured_are_refused() {
        let method = Method::POST;
        let pq = PathAndQuery::from_static("/");
        let host = HeaderValue::from_static("h");
        let proxy_headers = crate::proxy::upstream::proxy_headers::sample(false);
        for (name, value) in [
            (CONTENT_LENGTH, "ten"),
            (CONTENT_LENGTH, "3, 4"),
            (TRANSFER_ENCODING, "gzip"),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(name, HeaderValue::from_static(value));
            let head = RequestHead {
                method: &method,
                path_and_query: &pq,
                host: &host,
                headers: &headers,
                proxy_headers: &proxy_headers,
            };
            let body = UpstreamBody::full(Bytes::from_static(b"abc"));
            assert!(
                encode_head(&head, &body, &mut Vec::new()).is_err(),
                "{value}"
            );
        }
    }

    #[test]
    fn a_chunked_transfer_encoding_is_honoured() {
        let mut headers = HeaderMap::new();
        headers.insert(TRANSFER_ENCODING, HeaderValue::from_static("gzip, chunked"));
        let (_, framing) = encoded(&headers, &UpstreamBody::full(Bytes::from_static(b"abc")));
        assert_eq!(framing, BodyFraming::Chunked);
        let mut headers = HeaderMap::new();
        headers.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("3"));
        let (text, _) = encoded(&headers, &UpstreamBody::full(Bytes::from_static(b"abc")));
        assert!(!text.contains("content-length"), "chunked wins: {text}");
        let mut out = Vec::new();
        put_chunk_size(&mut out, 0x1a2b);
        assert_eq!(&out[..], b"1a2b\r\n");
    }
}
