//! Decoding a `Transfer-Encoding: chunked` response body (RFC 9112 §7.1) straight from
//! the connection's read buffer: data is handed out as slices of it, never copied.

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};

use super::Error;

/// Longest chunk-size line (with extensions) and largest trailer section accepted.
const MAX_LINE: usize = 4 * 1024;
const MAX_TRAILERS: usize = 16 * 1024;

#[derive(Default)]
pub struct ChunkedDecoder {
    state: State,
}

#[derive(Default)]
enum State {
    #[default]
    Size,
    Data(u64),
    DataEnd,
    Trailers,
    Done,
}

/// One decoding step.
pub enum Step {
    Data(Bytes),
    Trailers(HeaderMap),
    /// The buffer holds no complete next item.
    NeedMore,
    End,
}

impl ChunkedDecoder {
    /// Decodes the next item from `buf`, consuming what it used.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Step, Error> {
        loop {
            match self.state {
                State::Size => {
                    let Some(line) = take_line(buf, MAX_LINE)? else {
                        return Ok(Step::NeedMore);
                    };
                    let size = chunk_size(&line)?;
                    self.state = if size == 0 {
                        State::Trailers
                    } else {
                        State::Data(size)
                    };
                }
                State::Data(remaining) => {
                    if buf.is_empty() {
                        return Ok(Step::NeedMore);
                    }
                    let take = usize::try_from(remaining).map_or(buf.len(), |r| r.min(buf.len()));
                    let left = remaining - take as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                    return Ok(Step::Data(buf.split_to(take).freeze()));
                }
                State::DataEnd => {
                    if buf.len() < 2 {
                        return Ok(Step::NeedMore);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(Error::Body("missing CRLF after chunk data"));
                    }
                    buf.advance(2);
                    self.state = State::Size;
                }
                State::Trailers => {
                    if buf.starts_with(b"\r\n") {
                        buf.advance(2);
                        self.state = State::Done;
                        return Ok(Step::End);
                    }
                    let Some(trailers) = take_trailers(buf)? else {
                        return Ok(Step::NeedMore);
                    };
                    self.state = State::Done;
                    return Ok(Step::Trailers(trailers));
                }
                State::Done => return Ok(Step::End),
            }
        }
    }
}

/// A CRLF-terminated line without its CRLF, if the buffer holds one.
fn take_line(buf: &mut BytesMut, max: usize) -> Result<Option<BytesMut>, Error> {
    match memchr::memchr(b'\n', buf) {
        Some(end) if end > 0 && buf[end - 1] == b'\r' => {
            let mut line = buf.split_to(end + 1);
            line.truncate(end - 1);
            Ok(Some(line))
        }
        Some(_) => Err(Error::Body("chunk line without CRLF")),
        None if buf.len() > max => Err(Error::Body("chunk size line too long")),
        None => Ok(None),
    }
}

/// The hexadecimal size of a chunk-size line (extensions after `;` are ignored, but must
/// hold no control characters: a bare CR or LF read one way by this decoder and another
/// by the next hop is how requests are smuggled).
fn chunk_size(line: &[u8]) -> Result<u64, Error> {
    let digits_end = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    let rest = &line[digits_end..];
    // Only spaces and tabs between the size and its extensions (RFC 9112 §7.1.1, BWS).
    let extensions = rest.trim_ascii_start();
    let blank_only = rest[..rest.len() - extensions.len()]
        .iter()
        .all(|&b| b == b' ' || b == b'\t');
    let rest_ok = rest.is_empty()
        || (blank_only
            && extensions.first() == Some(&b';')
            && !extensions
                .iter()
                .any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f));
    if digits_end == 0 || digits_end > 16 || !rest_ok {
        return Err(Error::Body("invalid chunk size"));
    }
    let text = std::str::from_utf8(&line[..digits_end]).map_err(|_| Error::Body("chunk size"))?;
    u64::from_str_radix(text, 16).map_err(|_| Error::Body("invalid chunk size"))
}

/// The trailer section (ending with an empty line), if complete in the buffer. Every line
/// must end in CRLF: httparse also takes a bare LF, and a body ended by `0\r\n\n` here but
/// not by the server behind would leave the next bytes read as another request.
fn take_trailers(buf: &mut BytesMut) -> Result<Option<HeaderMap>, Error> {
    let end = memchr::memmem::find(buf, b"\r\n\r\n").map(|at| at + 4);
    let section = &buf[..end.unwrap_or(buf.len())];
    let bare = section.iter().enumerate().any(|(i, &b)| match b {
        b'\n' => i == 0 || section[i - 1] != b'\r',
        // A CR not (yet) followed by LF: only the buffer's last byte may wait for its LF.
        b'\r' => section.get(i + 1).is_some_and(|&next| next != b'\n'),
        _ => false,
    });
    if bare {
        return Err(Error::Body("trailer line without CRLF"));
    }
    let Some(end) = end else {
        return if buf.len() > MAX_TRAILERS {
            Err(Error::Body("trailers too large"))
        } else {
            Ok(None)
        };
    };
    let mut slots = [httparse::EMPTY_HEADER; 32];
    match httparse::parse_headers(&buf[..end], &mut slots) {
        Ok(httparse::Status::Complete((len, fields))) => {
            let mut trailers = HeaderMap::with_capacity(fields.len());
            for field in fields {
                let name = HeaderName::from_bytes(field.name.as_bytes());
                let value = HeaderValue::from_bytes(field.value);
                if let (Ok(name), Ok(value)) = (name, value) {
                    trailers.append(name, value);
                }
            }
            buf.advance(len);
            Ok(Some(trailers))
        }
        Ok(httparse::Status::Partial) if buf.len() > MAX_TRAILERS => {
            Err(Error::Body("trailers too large"))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(_) => Err(Error::Body("malformed trailers")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` bytes; returns the data and trailer count.
    fn decode_all(input: &[u8], step: usize) -> Result<(Vec<u8>, usize, BytesMut), Error> {
        let mut decoder = ChunkedDecoder::default();
        let mut buf = BytesMut::new();
        let mut fed = 0;
        let mut data = Vec::new();
        let mut trailers = 0;
        loop {
            match decoder.decode(&mut buf)? {
                Step::Data(d) => data.extend_from_slice(&d),
                Step::Trailers(t) => trailers += t.len(),
                Step::End => return Ok((data, trailers, buf)),
                Step::NeedMore => {
                    if fed == input.len() {
                        return Err(Error::Body("truncated"));
                    }
                    let next = (fed + step).min(input.len());
                    buf.extend_from_slice(&input[fed..next]);
                    fed = next;
                }
            }
        }
    }

    #[test]
    fn chunks_decode_whole_or_byte_by_byte() {
        let input = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\nNEXT";
        for step in [1, 3, input.len()] {
            let (data, trailers, rest) = decode_all(input, step).expect("valid");
            assert_eq!(data, b"hello world");
            assert_eq!(trailers, 0);
            if step == input.len() {
                assert_eq!(&rest[..], b"NEXT", "bytes after the body stay");
            }
        }
    }

    #[test]
    fn trailers_are_returned() {
        let input = b"3\r\nabc\r\n0\r\nGrpc-Status: 0\r\nX-B: 1\r\n\r\n";
        for step in [1, input.len()] {
            let (data, trailers, rest) = decode_all(input, step).expect("valid");
            assert_eq!(data, b"abc");
            assert_eq!(trailers, 2);
            assert!(rest.is_empty());
        }
    }

    #[test]
    fn spaces_before_extensions_are_allowed() {
        let input = b"3 \t;name=value\r\nabc\r\n0\r\n\r\n";
        let (data, _, _) = decode_all(input, input.len()).expect("valid");
        assert_eq!(data, b"abc");
    }

    #[test]
    fn malformed_chunks_fail() {
        for input in [
            &b"zz\r\nabc\r\n0\r\n\r\n"[..],
            b"3\r\nabcX\r\n0\r\n\r\n",
            b"3\nabc\r\n0\r\n\r\n",
            b"11111111111111111\r\n",
            b"3 x\r\nabc\r\n0\r\n\r\n",
            // Bare CR or LF, or other controls, anywhere in the framing.
            b"3;a\rb\r\nabc\r\n0\r\n\r\n",
            b"3\x0c;a\r\nabc\r\n0\r\n\r\n",
            b"3\r\nabc\r\n0\r\n\nGET /smuggled HTTP/1.1\r\n\r\n",
            b"3\r\nabc\r\n0\r\nX: y\n\nGET /smuggled HTTP/1.1\r\n\r\n",
            b"3\r\nabc\r\n0\r\nX: y\r\n\n\r\n",
        ] {
            assert!(decode_all(input, input.len()).is_err(), "{input:?}");
        }
        let endless = vec![b'1'; MAX_LINE + 2];
        assert!(decode_all(&endless, endless.len()).is_err());
    }
}
