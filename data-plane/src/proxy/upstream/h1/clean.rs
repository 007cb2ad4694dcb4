//! A response head read in one strict pass, for relaying its fields as received.
//!
//! General parsing (httparse, then a header map) accepts what RFC 9112 lets a recipient
//! accept: bare LF line ends, lines it must rewrite. A head relayed byte for byte must be
//! cleaner than that, and most are: a status line and field lines that each end in CRLF,
//! token names, values of visible characters. This reads such a head and notes the few
//! fields the proxy acts on in the same pass (the name's length rules most names out
//! before a byte is compared), at about a third of the general path's cost. Anything
//! else, and any head the relay cannot carry (`101`, `Trailer`, `Connection` naming other
//! fields, more noted fields than [`FieldLayout`] holds), is left to the general path,
//! which answers it as before: reading nothing here is always safe.

use http::Version;

use super::fields::{FieldKind, FieldLayout};
use super::head::Delimiting;

/// What [`read`] found.
pub struct CleanHead {
    /// The head's length, its final CRLF included.
    pub len: usize,
    pub status: u16,
    pub version: Version,
    pub delimiting: Delimiting,
}

/// Reads the head at the start of `buf` if it is complete, clean and relayable, within
/// `max_len` bytes and `max_fields` fields, into `layout` (written in place: it is the
/// larger part, and would otherwise be copied on its way to the response).
pub fn read(
    buf: &[u8],
    max_len: usize,
    max_fields: usize,
    layout: &mut FieldLayout,
) -> Option<CleanHead> {
    let buf = &buf[..buf.len().min(max_len)];
    let (status, version, mut at) = status_line(buf)?;
    if status == 101 {
        return None;
    }
    layout.start_at(at as u32);
    let mut delimiting = Delimiting::default();
    for _ in 0..=max_fields {
        if buf.get(at..at + 2)? == b"\r\n" {
            if delimiting.connection_options {
                return None;
            }
            layout.end_at(at as u32);
            if delimiting.transfer_encoding {
                // Overridden by the Transfer-Encoding: not relayed.
                layout.reclassify(FieldKind::ContentLength, FieldKind::HopByHop);
            }
            return Some(CleanHead {
                len: at + 2,
                status,
                version,
                delimiting,
            });
        }
        // The name is what comes before the first colon, and must be a token; a line
        // without one runs into the next lines, which are no token either.
        let name_len = colon_at(&buf[at..])?;
        let name = &buf[at..at + name_len];
        if name.is_empty() || !name.iter().fold(true, |ok, &b| ok & TOKEN[usize::from(b)]) {
            return None;
        }
        let colon = at + name_len;
        let cr = colon + 1 + text_len(&buf[colon + 1..]);
        if buf.get(cr..cr + 2)? != b"\r\n" {
            return None;
        }
        let line_end = cr + 2;
        let kind = FieldKind::of_raw(name);
        if kind != FieldKind::Plain {
            if kind == FieldKind::Trailer {
                return None;
            }
            let rest = &buf[colon + 1..cr];
            let value = rest.trim_ascii();
            delimiting.note(kind, value);
            let value_at = colon + 1 + (value.as_ptr() as usize - rest.as_ptr() as usize);
            layout.note(
                kind,
                (at as u32, line_end as u32),
                u16::try_from(name_len).ok()?,
                (value_at as u32, (value_at + value.len()) as u32),
            )?;
        }
        at = line_end;
    }
    None
}

/// `HTTP/1.x NNN[ reason]\r\n`: the status, the version and where the fields start.
fn status_line(buf: &[u8]) -> Option<(u16, Version, usize)> {
    let line_end = buf.iter().position(|&b| b == b'\n')? + 1;
    let line = &buf[..line_end];
    let version = match line.get(..9)? {
        b"HTTP/1.1 " => Version::HTTP_11,
        b"HTTP/1.0 " => Version::HTTP_10,
        _ => return None,
    };
    let digit = |i: usize| {
        line.get(i)
            .filter(|b| b.is_ascii_digit())
            .map(|b| u16::from(b - b'0'))
    };
    let status = digit(9)? * 100 + digit(10)? * 10 + digit(11)?;
    if status < 100 {
        return None;
    }
    let reason = match &line[12..] {
        [b' ', reason @ .., b'\r', b'\n'] => reason,
        [b'\r', b'\n'] => &[],
        _ => return None,
    };
    reason
        .iter()
        .all(|&b| TEXT[usize::from(b)])
        .then_some((status, version, line_end))
}

/// A byte-wise constant: `b` in each of a word's eight bytes.
const fn bytes_of(b: u8) -> u64 {
    u64::from_ne_bytes([b; 8])
}

/// The high bit of each byte of `word` that is zero. The lowest one set is exact (a
/// borrow only spills into higher bytes), which is all the scans below read.
fn zero_bytes(word: u64) -> u64 {
    word.wrapping_sub(bytes_of(1)) & !word & bytes_of(0x80)
}

/// The position in its word of the lowest byte flagged in `flags`.
fn first_flagged(flags: u64) -> usize {
    (flags.trailing_zeros() / 8) as usize
}

/// How many bytes at the start of `bytes` are field text ([`TEXT`]), eight at a time:
/// values are most of a head's bytes. A byte below SP or a DEL is flagged (obs-text is
/// not: `!word` clears its high bit); an HTAB flagged so is skipped.
fn text_len(bytes: &[u8]) -> usize {
    let mut at = 0;
    while let Some(chunk) = bytes.get(at..).and_then(<[u8]>::first_chunk::<8>) {
        let word = u64::from_le_bytes(*chunk);
        let below_space = word.wrapping_sub(bytes_of(0x20)) & !word & bytes_of(0x80);
        let special = below_space | zero_bytes(word ^ bytes_of(0x7f));
        if special == 0 {
            at += 8;
            continue;
        }
        let first = at + first_flagged(special);
        if bytes[first] != b'\t' {
            return first;
        }
        at = first + 1;
    }
    at + bytes[at..]
        .iter()
        .position(|&b| !TEXT[usize::from(b)])
        .unwrap_or(bytes.len() - at)
}

/// Where the first `:` in `bytes` is, eight bytes at a time (names are short, a search
/// with SIMD costs more to set up than it saves).
fn colon_at(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    while let Some(chunk) = bytes.get(at..).and_then(<[u8]>::first_chunk::<8>) {
        let colons = zero_bytes(u64::from_le_bytes(*chunk) ^ bytes_of(b':'));
        if colons != 0 {
            return Some(at + first_flagged(colons));
        }
        at += 8;
    }
    bytes[at..].iter().position(|&b| b == b':').map(|i| at + i)
}

/// A table of the bytes `$b` for which `$admits` holds.
macro_rules! byte_table {
    ($b:ident => $admits:expr) => {{
        let mut table = [false; 256];
        let mut i = 0;
        while i < 256 {
            let $b = i as u8;
            table[i] = $admits;
            i += 1;
        }
        table
    }};
}

/// A field name's characters (RFC 9110 §5.6.2 `tchar`), by byte.
static TOKEN: [bool; 256] = byte_table!(b => b.is_ascii_alphanumeric()
|| matches!(
    b,
    b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_'
        | b'`' | b'|' | b'~'
));

/// What a field value or a reason phrase may hold, by byte: HTAB, SP, visible
/// characters and obs-text (no CR, no LF, no other control character).
static TEXT: [bool; 256] = byte_table!(b => b == b'\t' || (b >= 0x20 && b != 0x7f));

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(text: &str) -> Option<(CleanHead, FieldLayout)> {
        let mut layout = FieldLayout::default();
        read(text.as_bytes(), 1024, 16, &mut layout).map(|head| (head, layout))
    }

    #[test]
    fn a_clean_head_is_read_with_its_noted_fields() {
        let text =
            "HTTP/1.1 404 Not Found\r\nServer: up\r\nX-A:  1 \r\nContent-Length: 3\r\n\r\nabc";
        let (head, layout) = clean(text).expect("clean");
        assert_eq!((head.status, head.version), (404, Version::HTTP_11));
        assert_eq!(head.len, text.len() - 3);
        assert_eq!(head.delimiting.content_length, Some(3));
        let noted: Vec<_> = layout.noted().map(|n| n.kind).collect();
        assert_eq!(noted, [FieldKind::Server, FieldKind::ContentLength]);
        let (reasonless, _) = clean("HTTP/1.0 200\r\nDate: d\r\n\r\n").expect("clean");
        assert_eq!(
            (reasonless.status, reasonless.version),
            (200, Version::HTTP_10)
        );
        let obs_text = clean("HTTP/1.1 200 \u{e9}\r\nX-A: caf\u{e9}\t!\r\n\r\n");
        assert!(obs_text.is_some());
    }

    #[test]
    fn anything_unusual_is_left_to_the_general_path() {
        for text in [
            // Incomplete heads.
            "HTTP/1.1 200 OK\r\nX-A: 1\r\n",
            "HTTP/1.1 200 OK\r\nX-A: 1\r\n\r",
            // Bare LF, bare CR, control characters.
            "HTTP/1.1 200 OK\nX-A: 1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nX-A: 1\n\r\n",
            "HTTP/1.1 200 OK\r\nX-A: 1\r\r\n\r\n",
            "HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n",
            "HTTP/1.1 200 OK\r\nX-A: a\x00b\r\n\r\n",
            "HTTP/1.1 200 OK\r\nX-A: a\x7fb\r\n\r\n",
            "HTTP/1.1 200 O\x01K\r\n\r\n",
            // Names: empty, spaces before the colon, no colon, obs-fold.
            "HTTP/1.1 200 OK\r\n: 1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nX-A : 1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nX-A 1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\n\r\n",
            // Status lines.
            "HTTP/1.2 200 OK\r\n\r\n",
            "HTTP/2 200 OK\r\n\r\n",
            "HTTP/1.1 20 OK\r\n\r\n",
            "HTTP/1.1 099 OK\r\n\r\n",
            "HTTP/1.1 2000 OK\r\n\r\n",
            "HTTP/1.1 200OK\r\n\r\n",
            // What the relay cannot carry.
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTrailer: x-t\r\n\r\n",
            "HTTP/1.1 200 OK\r\nConnection: x-a\r\nX-A: 1\r\n\r\n",
        ] {
            assert!(clean(text).is_none(), "{text:?}");
        }
    }

    #[test]
    fn text_ends_at_the_first_control_character_or_del() {
        let cases: [(&[u8], usize); 8] = [
            (b"", 0),
            (b"abc", 3),
            (b"keep-alive\r\n", 10),
            (b"a\tb\tc d\te\tf\tg\th\r", 15),
            (b"0123456789abcdef\x7f", 16),
            (b"caf\xc3\xa9 \xff\xfe\x80 and more\x00", 18),
            (b"\r", 0),
            (b"abcdefg\nabcdefgh", 7),
        ];
        for (bytes, len) in cases {
            assert_eq!(text_len(bytes), len, "{:?}", String::from_utf8_lossy(bytes));
            let by_byte = bytes.iter().position(|&b| !TEXT[usize::from(b)]);
            assert_eq!(by_byte.unwrap_or(bytes.len()), len);
        }
        // Every byte value, at every position of a word.
        for b in 0..=255u8 {
            for at in 0..9 {
                let mut bytes = vec![b'x'; 12];
                bytes[at] = b;
                let expected = if TEXT[usize::from(b)] { 12 } else { at };
                assert_eq!(text_len(&bytes), expected, "{b:#x} at {at}");
            }
        }
    }

    #[test]
    fn the_colon_is_found_at_any_position() {
        for len in 0..20 {
            let mut bytes = vec![b'a'; 20];
            bytes[len] = b':';
            bytes[19] = b':';
            assert_eq!(colon_at(&bytes), Some(len));
        }
        assert_eq!(colon_at(b"no colon here, none"), None);
        assert_eq!(colon_at(b""), None);
    }

    #[test]
    fn limits_leave_the_head_to_the_general_path() {
        let text = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n";
        let layout = &mut FieldLayout::default();
        assert!(read(text.as_bytes(), text.len(), 2, layout).is_some());
        assert!(
            read(text.as_bytes(), text.len() - 1, 2, layout).is_none(),
            "too long"
        );
        assert!(
            read(text.as_bytes(), text.len(), 1, layout).is_none(),
            "too many fields"
        );
        let mut many = String::from("HTTP/1.1 200 OK\r\n");
        for i in 0..13 {
            many.push_str(&format!("Via: {i}\r\n"));
        }
        many.push_str("\r\n");
        assert!(
            clean(&many).is_none(),
            "more noted fields than the layout holds"
        );
    }
}
