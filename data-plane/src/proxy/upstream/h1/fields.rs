//! Response header fields relayed as the upstream wrote them.
//!
//! Without plugins nobody reads a proxied response's fields before the HTTP/1.x server
//! writes them, so turning them into a `HeaderMap` (a name lookup, a value and an entry
//! per field, two allocations per map) only to write them out again is wasted. Instead
//! the head's bytes are kept and the server copies the field lines between the few that
//! matter to it (framing, hop-by-hop, `Date`, `Server`, `Via`, Kong's own), as nginx
//! relays them. Names keep the upstream's spelling, as with nginx.

use bytes::Bytes;
use http::HeaderName;
use http::header::{
    CONNECTION, CONTENT_LENGTH, DATE, SERVER, TRAILER, TRANSFER_ENCODING, UPGRADE, VIA,
};

use crate::proxy::headers::{KEEP_ALIVE, PROXY_CONNECTION};

/// What a response field means to the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Plain,
    ContentLength,
    TransferEncoding,
    Connection,
    /// `Keep-Alive`, `Proxy-Connection`, `Upgrade`: not relayed.
    HopByHop,
    /// Relayed only to clients taking trailers (which a header map decides).
    Trailer,
    Date,
    Server,
    Via,
    UpstreamLatency,
    ProxyLatency,
    UpstreamStatus,
    RequestId,
}

impl FieldKind {
    /// The kind of a field name as it came off the wire (any case).
    pub fn of_raw(name: &[u8]) -> FieldKind {
        // `b | 0x20` lower-cases a letter; on the other token characters it can only
        // yield a lower-case letter or `-` from that letter or `-` itself, so it compares
        // a field name (both head parsers admit only token characters) with these names
        // exactly, at less cost than `eq_ignore_ascii_case`.
        let is = |known: &str| {
            name.len() == known.len() && name.iter().zip(known.bytes()).all(|(&b, k)| b | 0x20 == k)
        };
        // The length first: most names are ruled out by it alone.
        match name.len() {
            3 if is("via") => FieldKind::Via,
            4 if is("date") => FieldKind::Date,
            6 if is("server") => FieldKind::Server,
            7 if is("upgrade") => FieldKind::HopByHop,
            7 if is("trailer") => FieldKind::Trailer,
            10 if is("connection") => FieldKind::Connection,
            10 if is("keep-alive") => FieldKind::HopByHop,
            14 if is("content-length") => FieldKind::ContentLength,
            16 if is("proxy-connection") => FieldKind::HopByHop,
            17 if is("transfer-encoding") => FieldKind::TransferEncoding,
            17 if is("x-kong-request-id") => FieldKind::RequestId,
            20 if is("x-kong-proxy-latency") => FieldKind::ProxyLatency,
            22 if is("x-kong-upstream-status") => FieldKind::UpstreamStatus,
            23 if is("x-kong-upstream-latency") => FieldKind::UpstreamLatency,
            _ => FieldKind::Plain,
        }
    }

    /// The kind of a header map's field name.
    pub fn of_name(name: &HeaderName) -> FieldKind {
        if *name == CONTENT_LENGTH {
            FieldKind::ContentLength
        } else if *name == TRANSFER_ENCODING {
            FieldKind::TransferEncoding
        } else if *name == CONNECTION {
            FieldKind::Connection
        } else if *name == DATE {
            FieldKind::Date
        } else if *name == SERVER {
            FieldKind::Server
        } else if *name == VIA {
            FieldKind::Via
        } else if *name == TRAILER {
            FieldKind::Trailer
        } else if *name == UPGRADE || *name == KEEP_ALIVE || *name == PROXY_CONNECTION {
            FieldKind::HopByHop
        } else if name.as_str().starts_with("x-kong-") {
            Self::of_raw(name.as_str().as_bytes())
        } else {
            FieldKind::Plain
        }
    }
}

/// Most fields of other kinds than `Plain` a relayed head may have; a head with more is
/// turned into a header map instead.
const MAX_NOTED: usize = 12;

/// A field line the server must look at.
#[derive(Debug, Clone, Copy)]
pub struct Noted {
    pub kind: FieldKind,
    /// The line, from its name to its CRLF included.
    line: (u32, u32),
    name_len: u16,
    value: (u32, u32),
}

impl Noted {
    const NONE: Noted = Noted {
        kind: FieldKind::Plain,
        line: (0, 0),
        name_len: 0,
        value: (0, 0),
    };
}

/// Where a head's field lines are, and which of them the server must look at.
pub struct FieldLayout {
    /// From the first field line to the end of the last one.
    block: (u32, u32),
    noted: [Noted; MAX_NOTED],
    count: usize,
}

/// A response head's field lines, as received.
#[derive(Default)]
pub struct RawFields {
    head: Bytes,
    layout: FieldLayout,
}

/// One field of a parsed head: where its name and value are in the head's bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct FieldSpan {
    pub name: (u32, u32),
    pub value: (u32, u32),
}

/// What the server writes for a relayed head, in order.
pub enum Piece<'a> {
    /// Plain field lines, CRLFs included, to copy as they are.
    Lines(&'a [u8]),
    Field {
        kind: FieldKind,
        name: &'a [u8],
        value: &'a [u8],
    },
}

impl Default for FieldLayout {
    fn default() -> FieldLayout {
        FieldLayout {
            block: (0, 0),
            noted: [Noted::NONE; MAX_NOTED],
            count: 0,
        }
    }
}

impl FieldLayout {
    /// Forgets what was noted; the first field line starts at `start`.
    pub fn start_at(&mut self, start: u32) {
        self.block = (start, start);
        self.count = 0;
    }

    /// The last field line ends at `end` (where the empty line starts).
    pub fn end_at(&mut self, end: u32) {
        self.block.1 = end;
    }

    /// Notes the field `line` (CRLF included) whose name is `name_len` bytes long and
    /// whose value is at `value`; `None` when [`MAX_NOTED`] fields are noted already.
    pub fn note(
        &mut self,
        kind: FieldKind,
        line: (u32, u32),
        name_len: u16,
        value: (u32, u32),
    ) -> Option<()> {
        *self.noted.get_mut(self.count)? = Noted {
            kind,
            line,
            name_len,
            value,
        };
        self.count += 1;
        Some(())
    }

    pub fn noted(&self) -> impl Iterator<Item = &Noted> {
        self.noted[..self.count].iter()
    }

    /// Treats the noted fields of kind `from` as `to` (a `Content-Length` that
    /// `Transfer-Encoding` overrides is not relayed).
    pub fn reclassify(&mut self, from: FieldKind, to: FieldKind) {
        for noted in &mut self.noted[..self.count] {
            if noted.kind == from {
                noted.kind = to;
            }
        }
    }
}

impl RawFields {
    /// Where a head's fields are found before the head is taken from its buffer.
    pub fn layout_mut(&mut self) -> &mut FieldLayout {
        &mut self.layout
    }

    /// The head the layout describes (a complete head, status line first).
    pub fn set_head(&mut self, head: Bytes) {
        self.head = head;
    }

    /// Hands over the field lines in order: runs of plain lines, and the noted fields
    /// between. (A loop rather than an iterator: flattening one cost more than the
    /// copying.)
    pub fn for_each_piece(&self, mut f: impl FnMut(Piece<'_>)) {
        let head = &self.head[..];
        let layout = &self.layout;
        let mut at = layout.block.0 as usize;
        for n in layout.noted() {
            let (start, end) = (n.line.0 as usize, n.line.1 as usize);
            if start > at {
                f(Piece::Lines(&head[at..start]));
            }
            f(Piece::Field {
                kind: n.kind,
                name: &head[start..start + usize::from(n.name_len)],
                value: &head[n.value.0 as usize..n.value.1 as usize],
            });
            at = end;
        }
        let end = layout.block.1 as usize;
        if end > at {
            f(Piece::Lines(&head[at..end]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &'static str) -> Option<RawFields> {
        let mut fields = RawFields::default();
        super::super::clean::read(text.as_bytes(), text.len(), 64, fields.layout_mut())?;
        fields.set_head(Bytes::from_static(text.as_bytes()));
        Some(fields)
    }

    fn describe(fields: &RawFields) -> Vec<String> {
        let mut pieces = Vec::new();
        fields.for_each_piece(|p| {
            pieces.push(match p {
                Piece::Lines(l) => format!("lines {}", String::from_utf8_lossy(l)),
                Piece::Field { kind, name, value } => format!(
                    "{kind:?} {}={}",
                    String::from_utf8_lossy(name),
                    String::from_utf8_lossy(value)
                ),
            })
        });
        pieces
    }

    #[test]
    fn names_are_classified_in_any_case() {
        assert_eq!(
            FieldKind::of_raw(b"Content-Length"),
            FieldKind::ContentLength
        );
        assert_eq!(
            FieldKind::of_raw(b"TRANSFER-ENCODING"),
            FieldKind::TransferEncoding
        );
        assert_eq!(
            FieldKind::of_raw(b"X-Kong-Request-Id"),
            FieldKind::RequestId
        );
        assert_eq!(FieldKind::of_raw(b"keep-alive"), FieldKind::HopByHop);
        assert_eq!(FieldKind::of_raw(b"Content-Type"), FieldKind::Plain);
        assert_eq!(FieldKind::of_raw(b"vie"), FieldKind::Plain);
        // Token characters that `| 0x20` maps elsewhere are not mistaken for letters.
        assert_eq!(FieldKind::of_raw(b"V^A"), FieldKind::Plain);
        assert_eq!(FieldKind::of_raw(b"Dat\x05"), FieldKind::Plain);
        for name in [
            "via",
            "server",
            "date",
            "x-kong-upstream-latency",
            "trailer",
            "x-a",
        ] {
            let header = HeaderName::from_static(name);
            assert_eq!(
                FieldKind::of_name(&header),
                FieldKind::of_raw(name.as_bytes())
            );
        }
    }

    #[test]
    fn plain_lines_are_runs_between_the_noted_fields() {
        let fields = raw(
            "HTTP/1.1 200 OK\r\nA: 1\r\nB:2 \r\nContent-Length: 5\r\nServer: x\r\n\
             C: 3\r\n\r\n",
        )
        .expect("relayable");
        assert_eq!(
            describe(&fields),
            [
                "lines A: 1\r\nB:2 \r\n",
                "ContentLength Content-Length=5",
                "Server Server=x",
                "lines C: 3\r\n",
            ]
        );
    }

    #[test]
    fn heads_without_fields_or_plain_lines_have_no_runs() {
        let fields = raw("HTTP/1.1 204 No Content\r\n\r\n").expect("relayable");
        assert_eq!(describe(&fields), Vec::<String>::new());
        let fields =
            raw("HTTP/1.1 200 OK\r\nDate: d\r\nContent-Length: 0\r\nTransfer-Encoding: x\r\n\r\n")
                .expect("relayable");
        assert_eq!(
            describe(&fields),
            [
                "Date Date=d",
                "HopByHop Content-Length=0",
                "TransferEncoding Transfer-Encoding=x"
            ]
        );
    }

    #[test]
    fn bare_line_feeds_and_many_noted_fields_are_not_relayed() {
        assert!(raw("HTTP/1.1 200 OK\nA: 1\n\n").is_none());
        assert!(raw("HTTP/1.1 200 OK\r\nA: 1\nB: 2\r\n\r\n").is_none());
        let many = "HTTP/1.1 200 OK\r\nVia: 1\r\nVia: 2\r\nVia: 3\r\nVia: 4\r\nVia: 5\r\n\
             Via: 6\r\nVia: 7\r\nVia: 8\r\nVia: 9\r\nVia: 10\r\nVia: 11\r\nVia: 12\r\n\
             Via: 13\r\n\r\n";
        assert!(raw(many).is_none());
    }
}
