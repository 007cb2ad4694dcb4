//! Encoding a response head and choosing how its body is delimited (RFC 9112 §6).

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use http::{HeaderMap, StatusCode, Version};
use http_body::SizeHint;

use crate::proxy::headers::{ProxiedHeaders, SERVER_TOKEN, has_token};
use crate::proxy::upstream::h1::encode::{put_field, put_line};
use crate::proxy::upstream::h1::fields::{FieldKind, Piece, RawFields};
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
///
/// `kong`: Kong's headers for a proxied response, when the request path left them to
/// the encoder (no plugin can see the response head): written with the fields, with the
/// map's semantics (they replace the upstream's namesakes, `Via` is appended to, the
/// upstream's `Server` is kept) and without inserting them into the map.
/// `upstream`: the upstream's fields as received, written before the map's (which holds
/// what the proxy added then); its framing and hop-by-hop fields are not relayed.
pub fn encode_head(
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: &HeaderMap,
    body: &SizeHint,
    request: &RequestFacts,
    kong: Option<&ProxiedHeaders>,
    upstream: Option<&RawFields>,
) -> (Framing, bool) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    // What framing depends on is noted while the fields are written (one pass, no
    // lookups). The framing fields themselves (`Content-Length`, `Transfer-Encoding`) are
    // not copied: the ones written after are those of the framing chosen, so the head
    // never contradicts its body.
    let mut fields = FieldWriter {
        out,
        said: Said::default(),
        kong: kong.map(KongFields::new),
    };
    if let Some(upstream) = upstream {
        upstream.for_each_piece(|piece| match piece {
            Piece::Lines(lines) => fields.out.extend_from_slice(lines),
            Piece::Field {
                kind:
                    FieldKind::TransferEncoding
                    | FieldKind::Connection
                    | FieldKind::HopByHop
                    | FieldKind::Trailer,
                ..
            } => {}
            Piece::Field { kind, name, value } => fields.write(kind, name, value),
        });
    }
    for (name, value) in headers {
        let kind = FieldKind::of_name(name);
        fields.write(kind, name.as_str().as_bytes(), value.as_bytes());
    }
    let FieldWriter { out, said, kong } = fields;
    if let Some(kong) = kong {
        kong.write_rest(out);
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
        match said.valid_length() {
            Some(n) => Framing::Length(n),
            None => {
                keep_alive = false;
                Framing::Close
            }
        }
    } else if let Some(n) = body.exact() {
        Framing::Length(n)
    } else if request.version == Version::HTTP_11 {
        Framing::Chunked
    } else {
        keep_alive = false;
        Framing::Close
    };
    match framing {
        Framing::Length(n) => put_length(out, n),
        Framing::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        // A HEAD or 304 answer says the length the body would have had.
        Framing::None if request.head || status == StatusCode::NOT_MODIFIED => {
            if let Some(n) = said.valid_length() {
                put_length(out, n);
            }
        }
        Framing::None | Framing::Close => {}
    }
    if !keep_alive {
        // Also when the response lists other connection options (`Upgrade` on a 426).
        if !said.close {
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

/// Writes the response's fields, noting what framing depends on and applying Kong's
/// deferred headers.
struct FieldWriter<'a, 'k> {
    out: &'a mut Vec<u8>,
    said: Said,
    kong: Option<KongFields<'k>>,
}

impl FieldWriter<'_, '_> {
    fn write(&mut self, kind: FieldKind, name: &[u8], value: &[u8]) {
        if self.said.note(kind, value) {
            return;
        }
        match self.kong.as_mut().map(|k| k.field(kind, value)) {
            Some(Field::Replaced) => {}
            Some(Field::Via(token)) => {
                let joined = [value, b", ", token.as_bytes()].concat();
                put_field(self.out, name, &joined);
            }
            Some(Field::Keep) | None => put_field(self.out, name, value),
        }
    }
}

/// Kong's deferred headers, as the response's own fields go by.
struct KongFields<'a> {
    headers: &'a ProxiedHeaders,
    via_written: bool,
    server_seen: bool,
}

/// What becomes of one of the response's fields.
enum Field {
    Keep,
    /// Kong's own value replaces it.
    Replaced,
    /// The upstream's `Via`: Kong's token goes after its value.
    Via(&'static str),
}

impl<'a> KongFields<'a> {
    fn new(headers: &'a ProxiedHeaders) -> KongFields<'a> {
        KongFields {
            headers,
            via_written: false,
            server_seen: false,
        }
    }

    fn field(&mut self, kind: FieldKind, value: &[u8]) -> Field {
        let h = self.headers;
        let replaced = match kind {
            FieldKind::Via => {
                let Some(token) = h.via else {
                    return Field::Keep;
                };
                // One `Via` line: the first value with Kong's token (later ones are
                // replaced); an empty first value is replaced by the token alone
                // (written after).
                if self.via_written || value.is_empty() {
                    return Field::Replaced;
                }
                self.via_written = true;
                return Field::Via(token);
            }
            FieldKind::Server => {
                self.server_seen = true;
                false
            }
            FieldKind::UpstreamLatency => h.upstream_latency.is_some(),
            FieldKind::ProxyLatency => h.proxy_latency.is_some(),
            FieldKind::UpstreamStatus => h.upstream_status.is_some(),
            FieldKind::RequestId => h.request_id.is_some(),
            _ => false,
        };
        if replaced {
            Field::Replaced
        } else {
            Field::Keep
        }
    }

    /// Kong's headers the response's fields did not already carry, in Kong's order.
    fn write_rest(self, out: &mut Vec<u8>) {
        let h = self.headers;
        let mut number = |prefix: &[u8], n: u64| {
            put_line(out, prefix, itoa::Buffer::new().format(n).as_bytes());
        };
        if let Some(ms) = h.upstream_latency {
            number(b"x-kong-upstream-latency: ", ms);
        }
        if let Some(ms) = h.proxy_latency {
            number(b"x-kong-proxy-latency: ", ms);
        }
        if let Some(status) = h.upstream_status {
            number(b"x-kong-upstream-status: ", u64::from(status));
        }
        if let Some(token) = h.via.filter(|_| !self.via_written) {
            put_line(out, b"via: ", token.as_bytes());
        }
        if h.server && !self.server_seen {
            put_line(out, b"server: ", SERVER_TOKEN.as_bytes());
        }
        if let Some(id) = &h.request_id {
            put_line(out, b"x-kong-request-id: ", id.as_bytes());
        }
    }
}

/// What the response's own fields say about its framing.
#[derive(Default)]
struct Said {
    /// `Transfer-Encoding` is present; whether its last coding is chunked.
    transfer_encoding: Option<bool>,
    content_length_field: bool,
    content_length: Option<u64>,
    bad_length: bool,
    close: bool,
    date: bool,
}

impl Said {
    /// Notes a field; true for the framing fields, which are not copied.
    fn note(&mut self, kind: FieldKind, value: &[u8]) -> bool {
        match kind {
            FieldKind::ContentLength => {
                self.content_length_field = true;
                self.bad_length |= !merge_content_length(value, &mut self.content_length);
                true
            }
            FieldKind::TransferEncoding => {
                self.transfer_encoding = Some(ends_in_chunked(value));
                true
            }
            FieldKind::Connection => {
                self.close |= has_token(value, "close");
                false
            }
            FieldKind::Date => {
                self.date = true;
                false
            }
            _ => false,
        }
    }

    fn valid_length(&self) -> Option<u64> {
        self.content_length.filter(|_| !self.bad_length)
    }
}

fn put_length(out: &mut Vec<u8>, n: u64) {
    put_line(
        out,
        b"content-length: ",
        itoa::Buffer::new().format(n).as_bytes(),
    );
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
    use bytes::BytesMut;
    use http::HeaderValue;

    use crate::proxy::context::RequestId;
    use crate::proxy::upstream::h1::head;

    const TEST_ID: RequestId = RequestId::from_digits(*b"0123456789abcdef0123456789abcdef");

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
        let (framing, keep) = encode_head(&mut out, status, &headers, &body, &request, None, None);
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

    fn kong_headers() -> ProxiedHeaders {
        ProxiedHeaders {
            via: Some("1.1 portico/x"),
            server: true,
            upstream_latency: Some(3),
            proxy_latency: Some(0),
            upstream_status: None,
            request_id: Some(TEST_ID),
        }
    }

    fn encode_with_kong(pairs: &[(&'static str, &'static str)]) -> String {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        let mut out = Vec::new();
        let request = facts(Version::HTTP_11, false, true);
        let kong = kong_headers();
        let hint = SizeHint::with_exact(0);
        encode_head(
            &mut out,
            StatusCode::OK,
            &headers,
            &hint,
            &request,
            Some(&kong),
            None,
        );
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn kong_headers_are_written_after_the_fields() {
        let head = encode_with_kong(&[("x-a", "1")]);
        assert!(
            head.contains(
                "x-a: 1\r\nx-kong-upstream-latency: 3\r\nx-kong-proxy-latency: 0\r\n\
                 via: 1.1 portico/x\r\nserver: portico/"
            ),
            "{head}"
        );
        assert!(
            head.contains("x-kong-request-id: 0123456789abcdef0123456789abcdef\r\n"),
            "{head}"
        );
        assert!(!head.contains("x-kong-upstream-status"), "{head}");
    }

    #[test]
    fn kong_headers_replace_append_to_or_yield_to_the_upstreams() {
        let head = encode_with_kong(&[
            ("via", "1.0 other"),
            ("via", "1.1 third"),
            ("server", "upstream/1"),
            ("x-kong-upstream-latency", "999"),
            ("x-kong-request-id", "theirs"),
            ("x-kong-other", "kept"),
        ]);
        assert!(head.contains("via: 1.0 other, 1.1 portico/x\r\n"), "{head}");
        assert_eq!(head.matches("via:").count(), 1, "{head}");
        assert!(head.contains("server: upstream/1\r\n"), "{head}");
        assert_eq!(head.matches("server:").count(), 1, "{head}");
        assert!(head.contains("x-kong-upstream-latency: 3\r\n"), "{head}");
        assert!(!head.contains("999") && !head.contains("theirs"), "{head}");
        assert!(head.contains("x-kong-other: kept\r\n"), "{head}");
    }

    #[test]
    fn framing_fields_match_the_framing_chosen() {
        // A plugin's Transfer-Encoding to an HTTP/1.0 client: close-delimited, no TE.
        let (head, framing, keep) = encode(
            200,
            &[("transfer-encoding", "chunked"), ("content-length", "3")],
            SizeHint::default(),
            facts(Version::HTTP_10, false, true),
        );
        assert_eq!(framing, Framing::Close);
        assert!(!keep);
        assert!(
            !head.contains("transfer-encoding") && !head.contains("content-length"),
            "{head}"
        );
        // Both to an HTTP/1.1 client: chunked, the length dropped.
        let (head, framing, _) = encode(
            200,
            &[("content-length", "3"), ("transfer-encoding", "chunked")],
            SizeHint::default(),
            facts(Version::HTTP_11, false, true),
        );
        assert_eq!(framing, Framing::Chunked);
        assert!(!head.contains("content-length"), "{head}");
        assert_eq!(
            head.matches("transfer-encoding: chunked").count(),
            1,
            "{head}"
        );
        // No framing fields on a 204; an invalid length is not repeated.
        let (head, _, _) = encode(
            204,
            &[("content-length", "0"), ("transfer-encoding", "chunked")],
            SizeHint::with_exact(0),
            facts(Version::HTTP_11, false, true),
        );
        assert!(
            !head.contains("content-length") && !head.contains("transfer-encoding"),
            "{head}"
        );
        let (head, framing, _) = encode(
            200,
            &[("content-length", "x")],
            SizeHint::default(),
            facts(Version::HTTP_11, false, true),
        );
        assert_eq!(framing, Framing::Close);
        assert!(!head.contains("content-length"), "{head}");
    }

    #[test]
    fn a_closing_connection_says_close_beside_other_options() {
        let (head, _, keep) = encode(
            426,
            &[("connection", "Upgrade"), ("upgrade", "TLS/1.2, HTTP/1.1")],
            SizeHint::with_exact(0),
            facts(Version::HTTP_11, false, false),
        );
        assert!(!keep);
        assert!(
            head.contains("connection: Upgrade\r\n") && head.contains("connection: close\r\n"),
            "{head}"
        );
    }

    #[test]
    fn an_empty_upstream_via_gets_kongs_token() {
        let head = encode_with_kong(&[("via", "")]);
        assert!(head.contains("via: 1.1 portico/x\r\n"), "{head}");
        assert_eq!(head.matches("via:").count(), 1, "{head}");
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

    /// An upstream head as the upstream client keeps it when its fields are relayed.
    fn relayed(text: &str) -> Box<RawFields> {
        let mut buf = BytesMut::from(text);
        let parsed = head::parse(&mut buf, &mut Vec::new(), true)
            .unwrap()
            .unwrap();
        parsed.raw.expect("relayable")
    }

    fn encode_relayed(
        text: &str,
        added: &[(&'static str, &'static str)],
        request: RequestFacts,
    ) -> (String, Framing) {
        let raw = relayed(text);
        let mut headers = HeaderMap::new();
        for (name, value) in added {
            headers.append(*name, HeaderValue::from_static(value));
        }
        let kong = kong_headers();
        let mut out = Vec::new();
        let hint = SizeHint::with_exact(5);
        let (framing, _) = encode_head(
            &mut out,
            StatusCode::OK,
            &headers,
            &hint,
            &request,
            Some(&kong),
            Some(&raw),
        );
        (String::from_utf8(out).unwrap(), framing)
    }

    #[test]
    fn relayed_fields_are_copied_as_received_with_kongs_applied() {
        let (head, framing) = encode_relayed(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\n\
             Connection: keep-alive\r\nKeep-Alive: timeout=5\r\nVia: 1.0 other\r\n\
             X-Kong-Request-Id: theirs\r\nServer: up/1\r\nDate: then\r\nContent-Length: 5\r\n\
             X-Last:  spaced \r\n\r\n",
            &[("set-cookie", "added=1")],
            facts(Version::HTTP_11, false, true),
        );
        assert_eq!(framing, Framing::Length(5));
        assert_eq!(
            head,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\n\
             Via: 1.0 other, 1.1 portico/x\r\nServer: up/1\r\nDate: then\r\n\
             X-Last:  spaced \r\nset-cookie: added=1\r\nx-kong-upstream-latency: 3\r\n\
             x-kong-proxy-latency: 0\r\nx-kong-request-id: 0123456789abcdef0123456789abcdef\r\ncontent-length: 5\r\n\r\n"
        );
    }

    #[test]
    fn relayed_framing_fields_follow_the_framing_chosen() {
        // A HEAD answer keeps the length the body would have had.
        let (head, framing) = encode_relayed(
            "HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n",
            &[],
            facts(Version::HTTP_11, true, true),
        );
        assert_eq!(framing, Framing::None);
        assert!(head.contains("content-length: 42\r\n"), "{head}");
        // Transfer-Encoding overrides the upstream's Content-Length: neither is relayed.
        let (head, _) = encode_relayed(
            "HTTP/1.1 200 OK\r\nContent-Length: 42\r\nTransfer-Encoding: chunked\r\n\r\n",
            &[],
            facts(Version::HTTP_11, false, true),
        );
        // (Not "42" alone: the date written may hold it.)
        let lower = head.to_ascii_lowercase();
        assert!(
            !lower.contains("content-length: 42") && !lower.contains("chunked"),
            "{head}"
        );
        // The upstream's `Connection: close` is its own; the client's connection stays.
        let (head, _) = encode_relayed(
            "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
            &[],
            facts(Version::HTTP_11, false, true),
        );
        assert!(!head.to_ascii_lowercase().contains("connection"), "{head}");
        assert!(
            head.contains("\r\ndate: "),
            "a date when the upstream sent none"
        );
    }
}
