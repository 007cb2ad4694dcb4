//! Encoding a response head and choosing how its body is delimited (RFC 9112 §6).

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{CONNECTION, CONTENT_LENGTH, DATE, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Version};
use http_body::SizeHint;

use crate::proxy::headers::has_token;
use crate::proxy::upstream::h1::head::{ends_in_chunked, merge_content_length};

/// How the response body goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body may follow (HEAD, 1xx, 204, 304).
    None,
    Length(u64),
    Chunked,
    /// Until the connection closes (an HTTP/1.0 client and a body of unknown length).
    Close,
}

/// What the response's framing depends on about its request.
pub struct RequestFacts {
    pub version: Version,
    pub head: bool,
    /// The connection may serve another request after this one.
    pub keep_alive: bool,
    /// The client accepts trailer fields (`TE: trailers`).
    pub trailers: bool,
}

/// Writes the status line and header fields, adding what the framing needs
/// (`Content-Length` or `Transfer-Encoding: chunked`, `Connection`, `Date`). Returns the
/// framing and whether the connection stays open.
pub fn encode_head(
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: &HeaderMap,
    body: &SizeHint,
    request: &RequestFacts,
) -> (Framing, bool) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    // What framing depends on is noted while the fields are written (one pass, no
    // lookups); the fields the framing adds follow them.
    let mut said = Said::default();
    for (name, value) in headers {
        said.note(name, value);
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let mut keep_alive = request.keep_alive && !said.close;
    let bodiless = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let framing = if bodiless || request.head {
        Framing::None
    } else if let Some(chunked) = said.transfer_encoding {
        // Set by a plugin: chunked as asked, anything else until close.
        if chunked && request.version == Version::HTTP_11 {
            Framing::Chunked
        } else {
            keep_alive = false;
            Framing::Close
        }
    } else if said.content_length_field {
        match said.content_length {
            Some(n) if !said.bad_length => Framing::Length(n),
            _ => {
                keep_alive = false;
                Framing::Close
            }
        }
    } else if let Some(n) = body.exact() {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        out.extend_from_slice(b"\r\n");
        Framing::Length(n)
    } else if request.version == Version::HTTP_11 {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
        Framing::Chunked
    } else {
        keep_alive = false;
        Framing::Close
    };
    if !keep_alive {
        if !said.connection {
            out.extend_from_slice(b"connection: close\r\n");
        }
    } else if request.version == Version::HTTP_10 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    if !said.date {
        put_date(out);
    }
    out.extend_from_slice(b"\r\n");
    (framing, keep_alive)
}

/// What the response's own fields say about its framing.
#[derive(Default)]
struct Said {
    /// `Transfer-Encoding` is present; whether its last coding is chunked.
    transfer_encoding: Option<bool>,
    content_length_field: bool,
    content_length: Option<u64>,
    bad_length: bool,
    connection: bool,
    close: bool,
    date: bool,
}

impl Said {
    fn note(&mut self, name: &HeaderName, value: &HeaderValue) {
        if *name == CONTENT_LENGTH {
            self.content_length_field = true;
            self.bad_length |= !merge_content_length(value.as_bytes(), &mut self.content_length);
        } else if *name == TRANSFER_ENCODING {
            self.transfer_encoding = Some(ends_in_chunked(value.as_bytes()));
        } else if *name == CONNECTION {
            self.connection = true;
            self.close |= has_token(value, "close");
        } else if *name == DATE {
            self.date = true;
        }
    }
}

/// `date: <IMF-fixdate>`, formatted once a second per thread.
fn put_date(out: &mut Vec<u8>) {
    thread_local! {
        static CACHED: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHED.with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.0 != second {
            *cached = (second, httpdate::fmt_http_date(now));
        }
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(cached.1.as_bytes());
        out.extend_from_slice(b"\r\n");
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn facts(version: Version, head: bool, keep_alive: bool) -> RequestFacts {
        RequestFacts {
            version,
            head,
            keep_alive,
            trailers: false,
        }
    }

    fn encode(
        status: u16,
        pairs: &[(&'static str, &'static str)],
        body: SizeHint,
        request: RequestFacts,
    ) -> (String, Framing, bool) {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        let mut out = Vec::new();
        let status = StatusCode::from_u16(status).unwrap();
        let (framing, keep) = encode_head(&mut out, status, &headers, &body, &request);
        (String::from_utf8(out).unwrap(), framing, keep)
    }

    #[test]
    fn a_known_length_is_sent_as_content_length() {
        let (head, framing, keep) = encode(
            200,
            &[("x-a", "1")],
            SizeHint::with_exact(13),
            facts(Version::HTTP_11, false, true),
        );
        assert!(head.starts_with("HTTP/1.1 200 OK\r\nx-a: 1\r\ncontent-length: 13\r\n"));
        assert!(head.contains("\r\ndate: "), "{head}");
        assert!(head.ends_with("\r\n\r\n"));
        assert_eq!(framing, Framing::Length(13));
        assert!(keep);
    }

    #[test]
    fn an_unknown_length_is_chunked_for_http11_and_closes_for_http10() {
        let (head, framing, keep) = encode(
            200,
            &[],
            SizeHint::default(),
            facts(Version::HTTP_11, false, true),
        );
        assert!(head.contains("transfer-encoding: chunked\r\n"));
        assert_eq!(framing, Framing::Chunked);
        assert!(keep);
        let (head, framing, keep) = encode(
            200,
            &[],
            SizeHint::default(),
            facts(Version::HTTP_10, false, true),
        );
        assert!(!head.contains("transfer-encoding"));
        assert!(head.contains("connection: close\r\n"));
        assert_eq!(framing, Framing::Close);
        assert!(!keep);
    }

    #[test]
    fn bodiless_responses_keep_their_headers_and_send_no_body() {
        let (head, framing, _) = encode(
            200,
            &[("content-length", "42")],
            SizeHint::with_exact(0),
            facts(Version::HTTP_11, true, true),
        );
        assert!(head.contains("content-length: 42\r\n"));
        assert_eq!(framing, Framing::None);
        let (head, framing, _) = encode(
            304,
            &[],
            SizeHint::with_exact(0),
            facts(Version::HTTP_11, false, true),
        );
        assert!(!head.contains("content-length"));
        assert_eq!(framing, Framing::None);
    }

    #[test]
    fn connection_close_and_http10_keep_alive_are_said() {
        let (head, _, keep) = encode(
            200,
            &[("connection", "close")],
            SizeHint::with_exact(0),
            facts(Version::HTTP_11, false, true),
        );
        assert!(!keep);
        assert_eq!(head.matches("connection").count(), 1);
        let (head, _, keep) = encode(
            200,
            &[],
            SizeHint::with_exact(0),
            facts(Version::HTTP_10, false, true),
        );
        assert!(keep);
        assert!(head.contains("connection: keep-alive\r\n"));
        let (head, _, keep) = encode(
            200,
            &[],
            SizeHint::with_exact(0),
            facts(Version::HTTP_11, false, false),
        );
        assert!(!keep);
        assert!(head.contains("connection: close\r\n"));
    }

    #[test]
    fn unknown_statuses_have_an_empty_reason() {
        let (head, _, _) = encode(
            599,
            &[],
            SizeHint::with_exact(0),
            facts(Version::HTTP_11, false, true),
        );
        assert!(head.starts_with("HTTP/1.1 599 \r\n"));
    }
}
