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

/// Sends the request on `conn` and reads the response head; `relay`: keep its fields
/// as received when they can be (see `RawFields`).
pub async fn exchange(
    conn: &mut H1Conn,
    head: RequestHead<'_>,
    body: UpstreamBody,
    relay: bool,
) -> Result<Exchanged, Error> {
    let method: &Method = head.method;
    conn.write_buf.clear();
    conn.write_pos = 0;
    let framing = encode_head(&head, &body, &mut conn.write_buf).map_err(Error::Request)?;
    let mut writer = Writer {
        head_len: conn.write_buf.len(),
        written: 0,
        body,
        chunked: framing == BodyFraming::Chunked,
        remaining: match framing {
            BodyFraming::Length(n) => n,
            BodyFraming::Chunked => 0,
        },
        large: None,
        body_done: false,
        finished: false,
        failed: None,
    };
    let mut head = std::future::poll_fn(|cx| {
        if !writer.finished {
            match writer.poll_write(conn, cx) {
                Poll::Ready(Ok(())) => {
                    // The request is out: from now on the upstream must answer within
                    // the read timeout (nginx's proxy_read_timeout starts here too).
                    conn.ctl.arm_read();
                    writer.finished = true;
                }
                Poll::Ready(Err(
                    e @ (Error::ClientBody(_) | Error::NotSent(_) | Error::Request(_)),
                )) => {
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
        match poll_head(conn, relay, cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(writer.failed.take().unwrap_or(e))),
            other => other,
        }
    })
    .await?;
    let framing = super::head::framing(&mut head, method)?;
    // Pooled only if the whole request went out (an early answer leaves it unfinished).
    let complete = writer.finished && writer.failed.is_none();
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
fn poll_head(
    conn: &mut H1Conn,
    relay: bool,
    cx: &mut Context<'_>,
) -> Poll<Result<ResponseHead, Error>> {
    loop {
        if !conn.read_buf.is_empty()
            && let Some(head) = super::head::parse(&mut conn.read_buf, &mut conn.spans, relay)?
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
    /// Body bytes still due under the `Content-Length` sent (not chunked).
    remaining: u64,
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
                        } else if self.remaining > 0 {
                            // The upstream would take the next request for the rest.
                            return Poll::Ready(Err(Error::Request(
                                "request body shorter than its Content-Length",
                            )));
                        }
                    }
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(Error::ClientBody(e))),
                    Poll::Ready(Some(Ok(frame))) => self.add(frame, conn)?,
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

    fn add(&mut self, frame: Frame<Bytes>, conn: &mut H1Conn) -> Result<(), Error> {
        // Request trailers are not sent over HTTP/1.1 (nor were they by hyper).
        let Ok(data) = frame.into_data() else {
            return Ok(());
        };
        if data.is_empty() {
            return Ok(());
        }
        if self.chunked {
            put_chunk_size(&mut conn.write_buf, data.len());
        } else {
            // Bytes past the length sent would reach the upstream as another request.
            self.remaining =
                self.remaining
                    .checked_sub(data.len() as u64)
                    .ok_or(Error::Request(
                        "request body longer than its Content-Length",
                    ))?;
        }
        if data.len() <= COPY_LIMIT {
            conn.write_buf.extend_from_slice(&data);
            if self.chunked {
                conn.write_buf.extend_from_slice(b"\r\n");
            }
        } else {
            self.large = Some(data);
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use http::uri::PathAndQuery;
    use http::{HeaderMap, HeaderValue, Method};
    use tokio::io::AsyncReadExt;

    use super::*;
    use crate::proxy::upstream::connect::UpstreamStream;
    use crate::proxy::upstream::proxy_headers;
    use crate::proxy::upstream::timed_io::{IoControl, TimedIo};

    /// A connection to a socket that reads everything and never answers.
    async fn connection_to_a_sink() -> H1Conn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            if let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
            }
        });
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let ctl = Arc::new(IoControl::default());
        H1Conn::new(TimedIo::new(UpstreamStream::Plain(tcp), ctl.clone()), ctl)
    }

    #[tokio::test]
    async fn a_body_that_does_not_match_its_content_length_is_refused() {
        let proxy_headers = proxy_headers::sample(false);
        let pq = PathAndQuery::from_static("/");
        let host = HeaderValue::from_static("up");
        for (length, expected) in [("2", "longer"), ("10", "shorter")] {
            let mut conn = connection_to_a_sink().await;
            let mut headers = HeaderMap::new();
            headers.insert(
                http::header::CONTENT_LENGTH,
                HeaderValue::from_static(length),
            );
            let head = RequestHead {
                method: &Method::POST,
                path_and_query: &pq,
                host: &host,
                headers: &headers,
                proxy_headers: &proxy_headers,
            };
            let body = UpstreamBody::full(Bytes::from_static(b"hello"));
            match exchange(&mut conn, head, body, false).await {
                Err(Error::Request(what)) => assert!(what.contains(expected), "{what}"),
                Err(e) => panic!("Content-Length {length}: {e}"),
                Ok(_) => panic!("Content-Length {length}: sent"),
            }
        }
    }
}
