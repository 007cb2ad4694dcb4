//! An HTTP/1.1 response body read straight off its connection, and the connection of a
//! `101 Switching Protocols` response handed over for tunnelling.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::chunked::{ChunkedDecoder, Step};
use super::fields::RawFields;
use super::head::Framing;
use super::{Error, H1Conn, Io};

enum Decoder {
    Length(u64),
    Chunked(ChunkedDecoder),
    /// Until the upstream closes.
    Close,
    Done,
}

pub struct H1Body {
    /// `None` once the connection failed or was closed.
    conn: Option<Box<H1Conn>>,
    decoder: Decoder,
    keep_alive: bool,
    upgrade: bool,
    /// The response head's fields, when relayed as received (its header map is empty).
    raw_fields: Option<Box<RawFields>>,
}

impl H1Body {
    pub fn new(
        conn: Box<H1Conn>,
        framing: Framing,
        keep_alive: bool,
        raw_fields: Option<Box<RawFields>>,
    ) -> H1Body {
        let (decoder, upgrade) = match framing {
            Framing::Empty => (Decoder::Done, false),
            Framing::Length(n) => (Decoder::Length(n), false),
            Framing::Chunked(d) => (Decoder::Chunked(d), false),
            Framing::Close => (Decoder::Close, false),
            Framing::Upgrade => (Decoder::Done, true),
        };
        H1Body {
            conn: Some(conn),
            decoder,
            keep_alive,
            upgrade,
            raw_fields,
        }
    }

    /// The response head's fields as received, if they were not put in its header map.
    pub fn take_raw_fields(&mut self) -> Option<Box<RawFields>> {
        self.raw_fields.take()
    }

    /// The connection, if the body ended cleanly and the upstream keeps it open.
    pub fn take_reusable(&mut self) -> Option<Box<H1Conn>> {
        let done = matches!(self.decoder, Decoder::Done);
        // Bytes past the response were not asked for: the connection is out of step.
        let clean = self.conn.as_ref().is_some_and(|c| c.read_buf.is_empty());
        if done && clean && self.keep_alive && !self.upgrade {
            self.conn.take()
        } else {
            None
        }
    }

    /// The connection of a `101` response, with the bytes the upstream sent after it.
    pub fn into_upgraded(mut self) -> Option<Upgraded> {
        if !self.upgrade {
            return None;
        }
        let conn = *self.conn.take()?;
        Some(Upgraded {
            io: conn.io,
            prefix: conn.read_buf,
        })
    }

    fn fail(&mut self, error: Error) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        self.conn = None;
        self.decoder = Decoder::Done;
        Poll::Ready(Some(Err(error)))
    }
}

impl Body for H1Body {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        loop {
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            let buf = &mut conn.read_buf;
            match &mut this.decoder {
                Decoder::Done => return Poll::Ready(None),
                Decoder::Length(remaining) if !buf.is_empty() => {
                    let take = usize::try_from(*remaining).map_or(buf.len(), |r| r.min(buf.len()));
                    *remaining -= take as u64;
                    if *remaining == 0 {
                        this.decoder = Decoder::Done;
                    }
                    return Poll::Ready(Some(Ok(Frame::data(buf.split_to(take).freeze()))));
                }
                Decoder::Close if !buf.is_empty() => {
                    let all = buf.split().freeze();
                    return Poll::Ready(Some(Ok(Frame::data(all))));
                }
                Decoder::Chunked(decoder) => match decoder.decode(buf) {
                    Ok(Step::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                    Ok(Step::Trailers(t)) => {
                        // The last frame: the body is over (a server may not poll again).
                        this.decoder = Decoder::Done;
                        return Poll::Ready(Some(Ok(Frame::trailers(t))));
                    }
                    Ok(Step::End) => {
                        this.decoder = Decoder::Done;
                        return Poll::Ready(None);
                    }
                    Ok(Step::NeedMore) => {}
                    Err(e) => return this.fail(e),
                },
                Decoder::Length(_) | Decoder::Close => {}
            }
            match ready!(conn.poll_fill(cx)) {
                Ok(0) if matches!(this.decoder, Decoder::Close) => {
                    this.decoder = Decoder::Done;
                    this.conn = None;
                    return Poll::Ready(None);
                }
                Ok(0) => return this.fail(Error::Closed),
                Ok(_) => {}
                Err(e) => return this.fail(Error::Read(e)),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.decoder, Decoder::Done)
    }

    fn size_hint(&self) -> SizeHint {
        match &self.decoder {
            Decoder::Length(n) => SizeHint::with_exact(*n),
            Decoder::Done => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

/// An upstream connection that switched protocols (WebSocket): what the upstream sent
/// after its `101` head is read first.
pub struct Upgraded {
    io: Io,
    prefix: BytesMut,
}

impl AsyncRead for Upgraded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix[..n]);
            this.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Upgraded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
