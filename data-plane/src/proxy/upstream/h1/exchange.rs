//! One request/response exchange on an HTTP/1.1 connection: the request is written
//! while the socket is watched for the response head, so an upstream answering before
//! the body is complete (413, 401 ...) is heard rather than written into.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use http::Method;
use http_body::{Body, Frame};
use tokio::io::AsyncWrite;

use super::encode::{BodyFraming, RequestHead, encode_head, put_chunk_size};
use super::head::{Framing, ResponseHead};
use super::{Error, H1Conn};
use crate::proxy::upstream::UpstreamBody;

/// Body chunks up to this size are copied behind the head (one write); larger ones are
/// written from their own buffer.
const COPY_LIMIT: usize = 16 * 1024;

/// A response head and what follows it.
pub struct Exchanged {
    pub head: ResponseHead,
    pub framing: Framing,
    /// Whether the connection can carry another request once the body is read.
    pub keep_alive: bool,
}

/// Sends the request on `conn` and reads the response head.
pub async fn exchange(
    conn: &mut H1Conn,
    head: RequestHead<'_>,
    body: UpstreamBody,
) -> Result<Exchanged, Error> {
    let method: &Method = head.method;
    conn.write_buf.clear();
    conn.write_pos = 0;
    let framing = encode_head(&head, &body, &mut conn.write_buf);
    let mut writer = Writer {
        head_len: conn.write_buf.len(),
        written: 0,
        body,
        chunked: framing == BodyFraming::Chunked,
        large: None,
        body_done: false,
        finished: false,
        failed: None,
    };
    let mut head = std::future::poll_fn(|cx| {
        if !writer.finished {
            match writer.poll_write(conn, cx) {
                Poll::Ready(Ok(())) => writer.finished = true,
                Poll::Ready(Err(e @ (Error::ClientBody(_) | Error::NotSent(_)))) => {
                    return Poll::Ready(Err(e));
                }
                Poll::Ready(Err(e)) if e.is_timeout() => return Poll::Ready(Err(e)),
                Poll::Ready(Err(e)) => {
                    // The upstream may have answered and closed (an early 413): read
                    // what it sent, within the read timeout.
                    conn.ctl.arm_read();
                    writer.failed = Some(e);
                    writer.finished = true;
                }
                Poll::Pending => {}
            }
        }
        match poll_head(conn, cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(writer.failed.take().unwrap_or(e))),
            other => other,
        }
    })
    .await?;
    let framing = super::head::framing(&mut head, method)?;
    let complete = writer.body_done && writer.failed.is_none() && conn.write_buf.is_empty();
    let keep_alive = complete
        && super::head::keep_alive(&head)
        && !matches!(framing, Framing::Close | Framing::Upgrade);
    Ok(Exchanged {
        head,
        framing,
        keep_alive,
    })
}

/// Reads until a final response head (informational 1xx heads other than 101 are
/// skipped, as hyper's client did).
fn poll_head(conn: &mut H1Conn, cx: &mut Context<'_>) -> Poll<Result<ResponseHead, Error>> {
    loop {
        if !conn.read_buf.is_empty()
            && let Some(head) = super::head::parse(&mut conn.read_buf)?
        {
            if head.status.is_informational() && head.status.as_u16() != 101 {
                continue;
            }
            return Poll::Ready(Ok(head));
        }
        match ready!(conn.poll_fill(cx)) {
            Ok(0) => return Poll::Ready(Err(Error::Closed)),
            Ok(_) => {}
            Err(e) => return Poll::Ready(Err(Error::Read(e))),
        }
    }
}

/// The sending half of an exchange.
struct Writer {
    head_len: usize,
    written: usize,
    body: UpstreamBody,
    chunked: bool,
    /// A large body chunk, written after `write_buf`.
    large: Option<Bytes>,
    body_done: bool,
    finished: bool,
    failed: Option<Error>,
}

impl Writer {
    fn poll_write(&mut self, conn: &mut H1Conn, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            // Gather what the body has ready, so a head and a small body leave in one write.
            let mut body_pending = false;
            while !self.body_done && self.large.is_none() && conn.write_buf.len() < COPY_LIMIT {
                match Pin::new(&mut self.body).poll_frame(cx) {
                    Poll::Pending => {
                        body_pending = true;
                        break;
                    }
                    Poll::Ready(None) => {
                        self.body_done = true;
                        if self.chunked {
                            conn.write_buf.extend_from_slice(b"0\r\n\r\n");
                        }
                    }
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(Error::ClientBody(e))),
                    Poll::Ready(Some(Ok(frame))) => self.add(frame, conn),
                }
            }
            ready!(self.poll_drain(conn, cx))?;
            if !conn.write_buf.is_empty() {
                continue;
            }
            if self.body_done || body_pending {
                // Out before waiting for the client or the upstream (TLS buffers).
                ready!(Pin::new(&mut conn.io).poll_flush(cx)).map_err(Error::Write)?;
                if self.body_done {
                    return Poll::Ready(Ok(()));
                }
                return Poll::Pending;
            }
        }
    }

    fn add(&mut self, frame: Frame<Bytes>, conn: &mut H1Conn) {
        // Request trailers are not sent over HTTP/1.1 (nor were they by hyper).
        let Ok(data) = frame.into_data() else {
            return;
        };
        if data.is_empty() {
            return;
        }
        if self.chunked {
            put_chunk_size(&mut conn.write_buf, data.len());
        }
        if data.len() <= COPY_LIMIT {
            conn.write_buf.extend_from_slice(&data);
            if self.chunked {
                conn.write_buf.extend_from_slice(b"\r\n");
            }
        } else {
            self.large = Some(data);
        }
    }

    /// Writes `write_buf`, then the large chunk (and its chunk end).
    fn poll_drain(&mut self, conn: &mut H1Conn, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        while conn.write_pos < conn.write_buf.len() {
            let pending = &conn.write_buf[conn.write_pos..];
            let n = ready!(Pin::new(&mut conn.io).poll_write(cx, pending))
                .map_err(|e| self.write_error(e))?;
            if n == 0 {
                return Poll::Ready(Err(self.write_error(std::io::ErrorKind::WriteZero.into())));
            }
            conn.write_pos += n;
            self.written += n;
        }
        conn.write_buf.clear();
        conn.write_pos = 0;
        if let Some(large) = &mut self.large {
            while !large.is_empty() {
                let n =
                    ready!(Pin::new(&mut conn.io).poll_write(cx, large)).map_err(Error::Write)?;
                if n == 0 {
                    return Poll::Ready(Err(Error::Write(std::io::ErrorKind::WriteZero.into())));
                }
                large.advance(n);
            }
            self.large = None;
            if self.chunked {
                conn.write_buf.extend_from_slice(b"\r\n");
            }
        }
        Poll::Ready(Ok(()))
    }

    fn write_error(&self, e: std::io::Error) -> Error {
        if self.written < self.head_len {
            Error::NotSent(e)
        } else {
            Error::Write(e)
        }
    }
}
