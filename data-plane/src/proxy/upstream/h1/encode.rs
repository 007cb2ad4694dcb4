//! Writing an HTTP/1.1 request head and choosing how its body is framed, as hyper's
//! client did before (so upstreams see the same requests): `Host` first, then the
//! headers in map order with lower-case names; a `Content-Length` or `Transfer-Encoding`
//! the caller set is kept, otherwise a known body length becomes `Content-Length` and an
//! unknown one `Transfer-Encoding: chunked`; no body, no framing header.

use bytes::{BufMut, BytesMut};
use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderValue, Method};
use http_body::Body;

use super::super::UpstreamBody;

/// What the request line and headers are made of.
pub struct RequestHead<'a> {
    pub method: &'a Method,
    pub path_and_query: &'a PathAndQuery,
    pub host: &'a HeaderValue,
    /// Without `Host` (it is written from `host`).
    pub headers: &'a HeaderMap,
}

/// How the request body goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// As is: no body, or `Content-Length` bytes.
    Plain,
    Chunked,
}

/// Writes the head into `out` and returns how the body must be framed.
pub fn encode_head(head: &RequestHead<'_>, body: &UpstreamBody, out: &mut BytesMut) -> BodyFraming {
    let headers = head.headers;
    let mut framing = BodyFraming::Plain;
    let mut add: Option<(&[u8], &[u8])> = None;
    let length_value: HeaderValue;
    if let Some(te) = headers.get(TRANSFER_ENCODING) {
        if is_chunked(te) {
            framing = BodyFraming::Chunked;
        }
    } else if !headers.contains_key(CONTENT_LENGTH) && !body.is_end_stream() {
        match body.size_hint().exact() {
            Some(n) => {
                length_value = HeaderValue::from(n);
                add = Some((b"content-length", length_value.as_bytes()));
            }
            None => {
                framing = BodyFraming::Chunked;
                add = Some((b"transfer-encoding", b"chunked"));
            }
        }
    }

    out.reserve(256 + headers.len() * 32);
    out.put_slice(head.method.as_str().as_bytes());
    out.put_u8(b' ');
    out.put_slice(head.path_and_query.as_str().as_bytes());
    out.put_slice(b" HTTP/1.1\r\nhost: ");
    out.put_slice(head.host.as_bytes());
    out.put_slice(b"\r\n");
    for (name, value) in headers {
        if name == HOST {
            continue;
        }
        put_field(out, name.as_str().as_bytes(), value.as_bytes());
    }
    if let Some((name, value)) = add {
        put_field(out, name, value);
    }
    out.put_slice(b"\r\n");
    framing
}

fn put_field(out: &mut BytesMut, name: &[u8], value: &[u8]) {
    out.put_slice(name);
    out.put_slice(b": ");
    out.put_slice(value);
    out.put_slice(b"\r\n");
}

fn is_chunked(te: &HeaderValue) -> bool {
    te.to_str()
        .ok()
        .and_then(|v| v.rsplit(',').next())
        .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
}

/// The line that starts a chunk of `len` bytes.
pub fn put_chunk_size(out: &mut BytesMut, len: usize) {
    use std::fmt::Write;
    // Writing into a BytesMut cannot fail.
    let _ = write!(out, "{len:x}\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn encoded(headers: &HeaderMap, body: &UpstreamBody) -> (String, BodyFraming) {
        let method = Method::POST;
        let pq = PathAndQuery::from_static("/a?b=1");
        let host = HeaderValue::from_static("example.com:8080");
        let head = RequestHead {
            method: &method,
            path_and_query: &pq,
            host: &host,
            headers,
        };
        let mut out = BytesMut::new();
        let framing = encode_head(&head, body, &mut out);
        (String::from_utf8(out.to_vec()).expect("ascii"), framing)
    }

    #[test]
    fn host_comes_first_and_a_known_length_is_added() {
        let mut headers = HeaderMap::new();
        headers.insert("x-a", HeaderValue::from_static("1"));
        headers.insert(HOST, HeaderValue::from_static("ignored"));
        let (text, framing) = encoded(&headers, &UpstreamBody::full(Bytes::from_static(b"abc")));
        assert_eq!(
            text,
            "POST /a?b=1 HTTP/1.1\r\nhost: example.com:8080\r\nx-a: 1\r\ncontent-length: 3\r\n\r\n"
        );
        assert_eq!(framing, BodyFraming::Plain);
    }

    #[test]
    fn no_body_no_framing_header_and_a_set_length_is_kept() {
        let (text, _) = encoded(&HeaderMap::new(), &UpstreamBody::empty());
        assert_eq!(
            text,
            "POST /a?b=1 HTTP/1.1\r\nhost: example.com:8080\r\n\r\n"
        );
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("3"));
        let (text, _) = encoded(&headers, &UpstreamBody::full(Bytes::from_static(b"abc")));
        assert_eq!(text.matches("content-length").count(), 1);
    }

    #[test]
    fn a_chunked_transfer_encoding_is_honoured() {
        let mut headers = HeaderMap::new();
        headers.insert(TRANSFER_ENCODING, HeaderValue::from_static("gzip, chunked"));
        let (_, framing) = encoded(&headers, &UpstreamBody::full(Bytes::from_static(b"abc")));
        assert_eq!(framing, BodyFraming::Chunked);
        let mut out = BytesMut::new();
        put_chunk_size(&mut out, 0x1a2b);
        assert_eq!(&out[..], b"1a2b\r\n");
    }
}
