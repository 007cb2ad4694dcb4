//! Parsing a request head (RFC 9112 §2-3, §6): the request line and header fields as
//! httparse finds them, header values as slices of the read buffer, and the facts the
//! connection needs about the message (body framing, keep-alive, `Expect`, `Upgrade`).

use std::mem::MaybeUninit;
use std::ops::Range;

use bytes::{Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, EXPECT, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri, Version};

use crate::proxy::headers::has_token;
use crate::proxy::upstream::h1::head::{ends_in_chunked, merge_content_length};

/// Largest request head read. nginx's own limits (8 KiB per line, 32 KiB in all) are
/// checked on the parsed head by the request path, so that it answers with Kong's body;
/// a head beyond this is refused here, with the same answer.
pub const MAX_HEAD: usize = 64 * 1024;
/// nginx's buffer for a request line (`large_client_header_buffers 4 8k`).
const MAX_REQUEST_LINE: usize = 8 * 1024;
/// Most header fields in one head.
const MAX_FIELDS: usize = 512;

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    None,
    Length(u64),
    Chunked,
}

pub struct RequestHead {
    pub parts: http::request::Parts,
    pub framing: BodyFraming,
    /// The client keeps the connection open after this exchange.
    pub keep_alive: bool,
    pub expect_continue: bool,
    /// `Upgrade` on an HTTP/1.1 request: the connection may be handed over.
    pub wants_upgrade: bool,
}

/// Why a head was refused, as nginx answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// Malformed request line or header field, or contradictory framing: 400.
    Bad,
    /// The head does not fit [`MAX_HEAD`]: 400 "Request header or cookie too large"
    /// (nginx's 494).
    TooLarge,
    /// The request line alone does not fit: 414.
    UriTooLong,
    /// Not HTTP/1.0 or HTTP/1.1: 505.
    Version,
}

impl HeadError {
    /// The status the request path's error rendering takes (494: sent as 400).
    pub fn status(self) -> u16 {
        match self {
            HeadError::Bad => 400,
            HeadError::TooLarge => 494,
            HeadError::UriTooLong => 414,
            HeadError::Version => 505,
        }
    }
}

/// Where a header field's name and value are in the head.
pub type FieldRanges = (Range<usize>, Range<usize>);

/// Parses the head at the start of `buf`, consuming it. `Ok(None)`: incomplete.
/// `fields`: room for the fields' positions, kept by the connection from one request to
/// the next (no allocation per request).
pub fn parse(
    buf: &mut BytesMut,
    fields: &mut Vec<FieldRanges>,
) -> Result<Option<RequestHead>, HeadError> {
    let mut parsed = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_FIELDS];
    let mut req = httparse::Request::new(&mut []);
    let status = httparse::ParserConfig::default().parse_request_with_uninit_headers(
        &mut req,
        buf,
        &mut parsed,
    );
    let len = match status {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            if buf.len() <= MAX_HEAD {
                return Ok(None);
            }
            // No end of the request line in sight: the URI is what is too long.
            let line_ended = buf[..MAX_HEAD].contains(&b'\n');
            return Err(if line_ended {
                HeadError::TooLarge
            } else {
                HeadError::UriTooLong
            });
        }
        Err(httparse::Error::Version) => return Err(version_error(buf)),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(_) => return Err(HeadError::Bad),
    };
    if len > MAX_HEAD {
        // As nginx: a request line beyond its buffer is 414, other heads 494.
        let line = req.path.map_or(0, str::len);
        return Err(if line > MAX_REQUEST_LINE {
            HeadError::UriTooLong
        } else {
            HeadError::TooLarge
        });
    }
    let method =
        Method::from_bytes(req.method.unwrap_or("").as_bytes()).map_err(|_| HeadError::Bad)?;
    let version = if req.version == Some(1) {
        Version::HTTP_11
    } else {
        Version::HTTP_10
    };
    // Offsets into the head, taken before the buffer is split off (the parsed fields
    // borrow it).
    let base = buf.as_ptr() as usize;
    let offset = |s: &[u8]| s.as_ptr() as usize - base;
    let path = req.path.unwrap_or("");
    let path_range = offset(path.as_bytes())..offset(path.as_bytes()) + path.len();
    fields.clear();
    for field in req.headers.iter() {
        let name = offset(field.name.as_bytes());
        let value = offset(field.value);
        fields.push((
            name..name + field.name.len(),
            value..value + field.value.len(),
        ));
    }
    let head: Bytes = buf.split_to(len).freeze();
    let uri = Uri::from_maybe_shared(head.slice(path_range)).map_err(|_| HeadError::Bad)?;
    let mut headers = HeaderMap::with_capacity(fields.len() + 4);
    let mut facts = Facts::new(version);
    for (name, value) in fields.drain(..) {
        let name = HeaderName::from_bytes(&head[name]).map_err(|_| HeadError::Bad)?;
        let value =
            HeaderValue::from_maybe_shared(head.slice(value)).map_err(|_| HeadError::Bad)?;
        facts.note(&name, &value)?;
        headers.append(name, value);
    }
    let framing = facts.framing(&mut headers)?;
    let mut request = http::Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    *request.headers_mut() = headers;
    let (parts, ()) = request.into_parts();
    Ok(Some(RequestHead {
        parts,
        framing,
        keep_alive: facts.keep_alive,
        expect_continue: facts.expect_continue,
        wants_upgrade: facts.upgrade && version == Version::HTTP_11,
    }))
}

/// A request line that ends in a well-formed `HTTP/x.y` of another major version is
/// 505 (as nginx answers); anything else httparse could not read as a version is 400.
fn version_error(buf: &[u8]) -> HeadError {
    let line = buf
        .split(|&b| b == b'\n')
        .next()
        .unwrap_or_default()
        .trim_ascii_end();
    match line.rsplit(|&b| b == b' ').next() {
        Some([b'H', b'T', b'T', b'P', b'/', major, b'.', minor])
            if major.is_ascii_digit() && minor.is_ascii_digit() && *major != b'1' =>
        {
            HeadError::Version
        }
        _ => HeadError::Bad,
    }
}

/// What the header fields say about the message, noted as they are read.
struct Facts {
    http11: bool,
    keep_alive: bool,
    saw_close: bool,
    content_length: Option<u64>,
    transfer_encoding: bool,
    chunked: bool,
    expect_continue: bool,
    upgrade: bool,
}

impl Facts {
    fn new(version: Version) -> Facts {
        let http11 = version == Version::HTTP_11;
        Facts {
            http11,
            // HTTP/1.1 keeps the connection unless told; HTTP/1.0 closes unless told.
            keep_alive: http11,
            saw_close: false,
            content_length: None,
            transfer_encoding: false,
            chunked: false,
            expect_continue: false,
            upgrade: false,
        }
    }

    fn note(&mut self, name: &HeaderName, value: &HeaderValue) -> Result<(), HeadError> {
        if name == TRANSFER_ENCODING {
            // HTTP/1.0 has no transfer codings: a client sending one cannot be framed.
            if !self.http11 {
                return Err(HeadError::Bad);
            }
            self.transfer_encoding = true;
            // The last coding decides (several fields are one list).
            self.chunked = ends_in_chunked(value.as_bytes());
        } else if name == CONTENT_LENGTH {
            // As nginx: one Content-Length, one number ("duplicate header line" is 400;
            // a list would be forwarded as it came and refused by many upstreams).
            if self.content_length.is_some() || value.as_bytes().contains(&b',') {
                return Err(HeadError::Bad);
            }
            if !merge_content_length(value.as_bytes(), &mut self.content_length) {
                return Err(HeadError::Bad);
            }
        } else if name == CONNECTION {
            if self.saw_close || has_token(value.as_bytes(), "close") {
                self.saw_close = true;
                self.keep_alive = false;
            } else if !self.keep_alive {
                self.keep_alive = has_token(value.as_bytes(), "keep-alive");
            }
        } else if name == EXPECT {
            self.expect_continue = value.as_bytes().eq_ignore_ascii_case(b"100-continue");
        } else if name == UPGRADE {
            self.upgrade = true;
        }
        Ok(())
    }

    /// The body's framing (RFC 9112 §6.3). With both `Transfer-Encoding` and
    /// `Content-Length`, chunked wins, the length is dropped and the connection closes
    /// after the response: whoever sent both may be trying to desynchronise a proxy and
    /// the server behind it.
    fn framing(&mut self, headers: &mut HeaderMap) -> Result<BodyFraming, HeadError> {
        if self.transfer_encoding {
            if !self.chunked {
                return Err(HeadError::Bad);
            }
            if self.content_length.is_some() {
                headers.remove(CONTENT_LENGTH);
                self.keep_alive = false;
            }
            return Ok(BodyFraming::Chunked);
        }
        Ok(match self.content_length {
            Some(0) | None => BodyFraming::None,
            Some(n) => BodyFraming::Length(n),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn parse_str(s: &str) -> Result<Option<RequestHead>, HeadError> {
        parse(&mut BytesMut::from(s), &mut Vec::new())
    }

    #[test]
    fn a_simple_head_is_parsed_and_consumed() {
        let mut buf =
            BytesMut::from("GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nX-A: 2\r\n\r\nrest");
        let head = parse(&mut buf, &mut Vec::new()).unwrap().unwrap();
        assert_eq!(head.parts.method, Method::GET);
        assert_eq!(head.parts.uri, "/a?b=1");
        assert_eq!(head.parts.version, Version::HTTP_11);
        assert_eq!(head.parts.headers.get_all("x-a").iter().count(), 2);
        assert_eq!(head.framing, BodyFraming::None);
        assert!(head.keep_alive);
        assert_eq!(&buf[..], b"rest");
    }

    #[test]
    fn incomplete_heads_wait_for_more() {
        assert!(
            parse_str("GET / HTTP/1.1\r\nHost: x\r\n")
                .unwrap()
                .is_none()
        );
        assert!(parse_str("GE").unwrap().is_none());
    }

    #[test]
    fn keep_alive_follows_the_version_and_connection() {
        let ka = |s: &str| parse_str(s).unwrap().unwrap().keep_alive;
        assert!(!ka("GET / HTTP/1.0\r\n\r\n"));
        assert!(ka("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
        assert!(!ka("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
        assert!(!ka("GET / HTTP/1.1\r\nConnection: Upgrade, close\r\n\r\n"));
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let framing = |s: &str| parse_str(s).map(|h| h.unwrap().framing);
        assert_eq!(
            framing("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n"),
            Ok(BodyFraming::Length(5))
        );
        assert_eq!(
            framing("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"),
            Err(HeadError::Bad)
        );
        assert_eq!(
            framing("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n"),
            Err(HeadError::Bad)
        );
        assert_eq!(
            framing("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
            Err(HeadError::Bad)
        );
        assert_eq!(
            framing("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
            Err(HeadError::Bad)
        );
        assert_eq!(
            framing("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            Ok(BodyFraming::Chunked)
        );
        assert_eq!(
            framing("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
            Err(HeadError::Bad)
        );
        assert_eq!(
            framing("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(HeadError::Bad)
        );
        let both =
            parse_str("POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n")
                .unwrap()
                .unwrap();
        assert_eq!(both.framing, BodyFraming::Chunked);
        assert!(!both.parts.headers.contains_key(CONTENT_LENGTH));
        assert!(
            !both.keep_alive,
            "a message framed twice closes its connection"
        );
    }

    #[test]
    fn malformed_and_oversized_heads_are_refused() {
        assert_eq!(
            parse_str("NOT A REQUEST\r\n\r\n").err(),
            Some(HeadError::Bad)
        );
        assert_eq!(
            parse_str("GET / HTTP/9.9\r\n\r\n").err(),
            Some(HeadError::Version)
        );
        assert_eq!(
            parse_str("GET /\0 HTTP/1.1\r\n\r\n").err(),
            Some(HeadError::Bad)
        );
        let long_line = format!("GET /{} HTTP/1.1\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(parse_str(&long_line).err(), Some(HeadError::UriTooLong));
        let long_head = format!("GET / HTTP/1.1\r\nX-A: {}\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(parse_str(&long_head).err(), Some(HeadError::TooLarge));
        let complete = format!("{long_head}\r\n");
        assert_eq!(parse_str(&complete).err(), Some(HeadError::TooLarge));
        let complete_line = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(parse_str(&complete_line).err(), Some(HeadError::UriTooLong));
    }

    #[test]
    fn expect_and_upgrade_are_noted() {
        let head = parse_str(
            "POST / HTTP/1.1\r\nExpect: 100-Continue\r\nUpgrade: websocket\r\nContent-Length: 1\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert!(head.expect_continue);
        assert!(head.wants_upgrade);
        let old = parse_str("GET / HTTP/1.0\r\nUpgrade: websocket\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!old.wants_upgrade);
    }
}
