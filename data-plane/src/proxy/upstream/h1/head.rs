//! Response heads: parsing (RFC 9112 §4–§5) and how the body that follows is framed
//! (§6.3), and whether the connection can carry another request afterwards (§9.3).

use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};
use http::header::CONTENT_LENGTH;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};

use super::Error;
use super::chunked::ChunkedDecoder;
use super::clean;
use super::fields::{FieldKind, FieldSpan, RawFields};

/// Largest response head accepted; nginx answers 502 ("upstream sent too big header")
/// past its buffer, so does this client.
pub const MAX_HEAD_BYTES: usize = 128 * 1024;
/// Most header lines in a response head (hyper's client allows 100).
const MAX_HEADERS: usize = 128;
/// Room in a response's header map for what the proxy adds (`Via`, `Server`, latency
/// headers, request id ...), so that adding them does not grow the map.
const ROOM_FOR_PROXY_HEADERS: usize = 8;

/// A parsed response head.
pub struct ResponseHead {
    pub status: StatusCode,
    pub version: Version,
    /// Empty when the fields are relayed as received (`raw`).
    pub headers: HeaderMap,
    pub raw: Option<Box<RawFields>>,
    delimiting: Delimiting,
}

/// What the body's framing and the connection's reuse depend on, noted while the header
/// lines are read (rather than looked up in the map again).
#[derive(Default)]
pub(super) struct Delimiting {
    pub content_length: Option<u64>,
    /// A `Content-Length` that is not a number, or values that disagree.
    bad_length: bool,
    pub transfer_encoding: bool,
    /// The last transfer coding is `chunked`.
    chunked: bool,
    close: bool,
    keep_alive: bool,
    /// `Connection` names other fields (which must not be relayed).
    pub connection_options: bool,
}

impl Delimiting {
    pub(super) fn note(&mut self, kind: FieldKind, value: &[u8]) {
        match kind {
            FieldKind::ContentLength => self.note_length(value),
            FieldKind::TransferEncoding => {
                self.transfer_encoding = true;
                self.chunked = ends_in_chunked(value);
            }
            // The usual values first, without splitting a list.
            FieldKind::Connection if value.eq_ignore_ascii_case(b"keep-alive") => {
                self.keep_alive = true;
            }
            FieldKind::Connection if value.eq_ignore_ascii_case(b"close") => self.close = true,
            FieldKind::Connection => {
                for token in value.split(|&b| b == b',') {
                    let token = token.trim_ascii();
                    let close = token.eq_ignore_ascii_case(b"close");
                    let keep_alive = token.eq_ignore_ascii_case(b"keep-alive");
                    self.close |= close;
                    self.keep_alive |= keep_alive;
                    self.connection_options |= !(close || keep_alive || token.is_empty());
                }
            }
            _ => {}
        }
    }

    fn note_length(&mut self, value: &[u8]) {
        if !merge_content_length(value, &mut self.content_length) {
            self.bad_length = true;
        }
    }
}

/// Whether the last coding of a `Transfer-Encoding` value is `chunked`.
pub fn ends_in_chunked(value: &[u8]) -> bool {
    value
        .rsplit(|&b| b == b',')
        .next()
        .is_some_and(|coding| coding.trim_ascii().eq_ignore_ascii_case(b"chunked"))
}

/// Adds one `Content-Length` field value to `length`: a number, or a list of numbers,
/// that must all agree with each other and with earlier values (RFC 9110 §8.6). False
/// when one is not a number or disagrees.
pub fn merge_content_length(value: &[u8], length: &mut Option<u64>) -> bool {
    let mut merge = |part: &[u8]| match decimal(part.trim_ascii()) {
        Some(n) if length.is_none_or(|l| l == n) => {
            *length = Some(n);
            true
        }
        _ => false,
    };
    // One number, the usual case, without splitting a list.
    if !value.contains(&b',') {
        return merge(value);
    }
    value.split(|&b| b == b',').all(merge)
}

/// Digits only (no sign, no spaces), as a number that fits in a u64.
fn decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        let digit = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// How the response body is delimited.
pub enum Framing {
    /// No body (HEAD, 204, 304, `Content-Length: 0`).
    Empty,
    Length(u64),
    Chunked(ChunkedDecoder),
    /// Until the upstream closes the connection.
    Close,
    /// `101 Switching Protocols`: the connection now carries another protocol.
    Upgrade,
}

/// Parses a complete head at the start of `buf`, taking it out of the buffer; `None`
/// while more bytes are needed. `relay`: keep the fields as received (`RawFields`)
/// when they can be, rather than in a header map.
pub fn parse(
    buf: &mut BytesMut,
    spans: &mut Vec<FieldSpan>,
    relay: bool,
) -> Result<Option<ResponseHead>, Error> {
    if relay {
        let mut raw = Box::<RawFields>::default();
        if let Some(clean) = clean::read(buf, MAX_HEAD_BYTES, MAX_HEADERS, raw.layout_mut()) {
            let status = StatusCode::from_u16(clean.status)
                .map_err(|_| Error::Head("invalid status code"))?;
            raw.set_head(buf.split_to(clean.len).freeze());
            return Ok(Some(ResponseHead {
                status,
                version: clean.version,
                headers: HeaderMap::new(),
                raw: Some(raw),
                delimiting: clean.delimiting,
            }));
        }
    }
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut response,
        buf,
        &mut slots,
    );
    let len = match parsed {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD_BYTES => {
            return Err(Error::Head("response head too large"));
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Error::Head("too many response headers"));
        }
        Err(_) => return Err(Error::Head("malformed response head")),
    };
    let status = response
        .code
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or(Error::Head("invalid status code"))?;
    let version = match response.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    // Where names and values are, noted while the parser borrows the buffer; the
    // values are then slices of the frozen head (no copy).
    let base = buf.as_ptr() as usize;
    let at = |s: &[u8]| (s.as_ptr() as usize - base) as u32;
    spans.clear();
    spans.extend(response.headers.iter().map(|header| {
        let (name, value) = (header.name.as_bytes(), header.value);
        FieldSpan {
            name: (at(name), at(name) + name.len() as u32),
            value: (at(value), at(value) + value.len() as u32),
        }
    }));
    let head_bytes: Bytes = buf.split_to(len).freeze();
    let slice = |(from, to): (u32, u32)| &head_bytes[from as usize..to as usize];
    let mut headers = HeaderMap::with_capacity(spans.len() + ROOM_FOR_PROXY_HEADERS);
    let mut delimiting = Delimiting::default();
    for span in spans.iter() {
        let name = HeaderName::from_bytes(slice(span.name))
            .map_err(|_| Error::Head("invalid header name"))?;
        let value = HeaderValue::from_maybe_shared(
            head_bytes.slice(span.value.0 as usize..span.value.1 as usize),
        )
        .map_err(|_| Error::Head("invalid header value"))?;
        delimiting.note(FieldKind::of_name(&name), value.as_bytes());
        headers.append(name, value);
    }
    Ok(Some(ResponseHead {
        status,
        version,
        headers,
        raw: None,
        delimiting,
    }))
}

/// The framing of the body after `head`, answering a `method` request. Removes a
/// `Content-Length` that `Transfer-Encoding` overrides (it must not reach the client).
pub fn framing(head: &mut ResponseHead, method: &Method) -> Result<Framing, Error> {
    let status = head.status;
    if status == StatusCode::SWITCHING_PROTOCOLS {
        return Ok(Framing::Upgrade);
    }
    if *method == Method::HEAD
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok(Framing::Empty);
    }
    let facts = &head.delimiting;
    if facts.transfer_encoding {
        let chunked = facts.chunked && head.version == Version::HTTP_11;
        head.headers.remove(CONTENT_LENGTH);
        return Ok(if chunked {
            Framing::Chunked(ChunkedDecoder::default())
        } else {
            Framing::Close
        });
    }
    if facts.bad_length {
        return Err(Error::Head("invalid or conflicting Content-Length"));
    }
    Ok(match facts.content_length {
        Some(0) => Framing::Empty,
        Some(n) => Framing::Length(n),
        None => Framing::Close,
    })
}

/// Whether the upstream keeps the connection open after this response.
pub fn keep_alive(head: &ResponseHead) -> bool {
    match head.version {
        Version::HTTP_11 => !head.delimiting.close,
        _ => head.delimiting.keep_alive,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(buf: &mut BytesMut) -> Result<Option<ResponseHead>, Error> {
        super::parse(buf, &mut Vec::new(), false)
    }

    fn parsed(text: &str) -> ResponseHead {
        let mut buf = BytesMut::from(text);
        parse(&mut buf).expect("valid").expect("complete")
    }

    #[test]
    fn a_head_is_parsed_and_taken_out_of_the_buffer() {
        let mut buf = BytesMut::from("HTTP/1.1 201 Created\r\nX-A: 1\r\nx-a: 2\r\n\r\nbody");
        let head = parse(&mut buf).expect("valid").expect("complete");
        assert_eq!(head.status, StatusCode::CREATED);
        assert_eq!(head.version, Version::HTTP_11);
        let values: Vec<_> = head.headers.get_all("x-a").iter().collect();
        assert_eq!(values, ["1", "2"]);
        assert_eq!(&buf[..], b"body");
    }

    #[test]
    fn a_partial_head_waits_and_garbage_fails() {
        let text = "HTTP/1.1 200 OK\r\nX-A: 1\r\n";
        let mut buf = BytesMut::from(text);
        assert!(parse(&mut buf).expect("valid so far").is_none());
        assert_eq!(buf.len(), text.len(), "nothing taken");
        let mut bad = BytesMut::from("NOT HTTP\r\n\r\n");
        assert!(parse(&mut bad).is_err());
    }

    #[test]
    fn an_endless_head_is_refused() {
        let mut text = String::from("HTTP/1.1 200 OK\r\n");
        while text.len() <= MAX_HEAD_BYTES {
            text.push_str("X-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        let mut buf = BytesMut::from(text.as_str());
        assert!(parse(&mut buf).is_err());
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let get = Method::GET;
        let mut h = parsed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
        assert!(matches!(framing(&mut h, &get), Ok(Framing::Length(5))));
        assert!(matches!(framing(&mut h, &Method::HEAD), Ok(Framing::Empty)));
        let mut h = parsed("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n");
        assert!(matches!(framing(&mut h, &get), Ok(Framing::Length(5))));
        let mut h = parsed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n");
        assert!(framing(&mut h, &get).is_err());
        let mut h = parsed("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n");
        assert!(framing(&mut h, &get).is_err());
        let mut h = parsed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n");
        assert!(matches!(framing(&mut h, &get), Ok(Framing::Length(5))));
        let mut h = parsed("HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n");
        assert!(framing(&mut h, &get).is_err());
        let mut h = parsed("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert!(
            matches!(framing(&mut h, &get), Ok(Framing::Close)),
            "no chunked in 1.0"
        );
        let mut h =
            parsed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert!(matches!(framing(&mut h, &get), Ok(Framing::Chunked(_))));
        assert!(!h.headers.contains_key(CONTENT_LENGTH), "TE overrides CL");
        let mut h = parsed("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
        assert!(matches!(framing(&mut h, &get), Ok(Framing::Close)));
        let mut h = parsed("HTTP/1.1 200 OK\r\n\r\n");
        assert!(matches!(framing(&mut h, &get), Ok(Framing::Close)));
        let mut h = parsed("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n");
        assert!(matches!(framing(&mut h, &get), Ok(Framing::Empty)));
        let mut h = parsed("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n");
        assert!(matches!(framing(&mut h, &get), Ok(Framing::Upgrade)));
    }

    #[test]
    fn content_lengths_are_plain_digits_that_agree() {
        let merged = |v: &str| {
            let mut length = None;
            merge_content_length(v.as_bytes(), &mut length).then_some(length)
        };
        assert_eq!(merged("13"), Some(Some(13)));
        assert_eq!(merged(" 7 , 7"), Some(Some(7)));
        assert_eq!(merged("18446744073709551615"), Some(Some(u64::MAX)));
        for bad in ["", "+5", "5x", "1 3", "18446744073709551616", "7, 8", "7,"] {
            assert_eq!(merged(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn keep_alive_depends_on_version_and_connection() {
        assert!(keep_alive(&parsed("HTTP/1.1 200 OK\r\n\r\n")));
        assert!(!keep_alive(&parsed(
            "HTTP/1.1 200 OK\r\nConnection: foo, Close\r\n\r\n"
        )));
        assert!(!keep_alive(&parsed("HTTP/1.0 200 OK\r\n\r\n")));
        assert!(keep_alive(&parsed(
            "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n"
        )));
    }

    fn relayed(text: &str) -> ResponseHead {
        let mut buf = BytesMut::from(text);
        super::parse(&mut buf, &mut Vec::new(), true)
            .expect("valid")
            .expect("complete")
    }

    #[test]
    fn relayed_heads_keep_their_fields_unless_they_need_the_map() {
        let head = relayed("HTTP/1.1 200 OK\r\nX-A: 1\r\nConnection: close\r\n\r\n");
        assert!(head.raw.is_some() && head.headers.is_empty());
        assert!(!keep_alive(&head), "delimiting is noted all the same");
        for text in [
            // Fields named by Connection must not be relayed.
            "HTTP/1.1 200 OK\r\nConnection: x-a\r\nX-A: 1\r\n\r\n",
            // Trailer goes only to clients taking trailers.
            "HTTP/1.1 200 OK\r\nTrailer: x-t\r\n\r\n",
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
            // Lines ending in a bare LF are rewritten.
            "HTTP/1.1 200 OK\nX-A: 1\n\n",
        ] {
            let head = relayed(text);
            assert!(head.raw.is_none(), "{text:?}");
            assert!(!head.headers.is_empty(), "{text:?}");
        }
    }
}
