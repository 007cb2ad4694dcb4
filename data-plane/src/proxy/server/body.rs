//! The client's request body as the request path reads it: from this server's connection
//! (HTTP/1.x) or from hyper's (HTTP/2).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Either;
use hyper::body::Incoming;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::io::poll_read_buf;

use super::inbound::{BodyState, Inbound, make_room};
use crate::proxy::upstream::h1::chunked::Step;

/// Why an HTTP/1.x request body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// The client closed the connection before the body ended.
    Closed,
    /// The chunked framing is broken.
    Malformed,
    Io(std::io::Error),
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::Closed => f.write_str("the client closed the connection mid-body"),
            BodyError::Malformed => f.write_str("malformed chunked request body"),
            BodyError::Io(e) => write!(f, "reading the request body: {e}"),
        }
    }
}

impl std::error::Error for BodyError {}

/// The connection side of [`RequestBody`]: the connection's state behind its lock, of
/// whatever stream type (the body itself is one type for every listener).
///
/// `request` is the number of the request the body belongs to on its connection: a body
/// kept past its request (a task still holding it once the response went out) must not
/// read the next request's bytes.
pub(super) trait BodySource: Send + Sync {
    fn poll_body(
        &self,
        request: u64,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>>;
    fn is_end(&self, request: u64) -> bool;
    fn size_hint(&self, request: u64) -> SizeHint;
}

/// A request body read from this server's HTTP/1.x connection, in the request's task.
pub struct RequestBody {
    source: Arc<dyn BodySource>,
    request: u64,
}

impl RequestBody {
    pub(super) fn new(source: Arc<dyn BodySource>, request: u64) -> RequestBody {
        RequestBody { source, request }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        self.source.poll_body(self.request, cx)
    }

    fn is_end_stream(&self) -> bool {
        self.source.is_end(self.request)
    }

    fn size_hint(&self) -> SizeHint {
        self.source.size_hint(self.request)
    }
}

/// The request body the request path gets: read by this server (HTTP/1.x, `Left`) or by
/// hyper's HTTP/2 server (`Right`).
pub type DownstreamBody = Either<RequestBody, Incoming>;

/// `Expect: 100-continue` answered when the body is first read, as nginx does.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

impl<S> BodySource for Mutex<Inbound<S>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    fn poll_body(
        &self,
        request: u64,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let mut guard = self.lock().unwrap_or_else(|e| e.into_inner());
        let inbound = &mut *guard;
        if inbound.request != request {
            return Poll::Ready(Some(Err(BodyError::Closed)));
        }
        if let Err(e) = ready!(poll_continue(inbound, cx)) {
            inbound.body = BodyState::Failed;
            return Poll::Ready(Some(Err(BodyError::Io(e))));
        }
        loop {
            match &mut inbound.body {
                BodyState::Done => return Poll::Ready(None),
                BodyState::Failed => return Poll::Ready(Some(Err(BodyError::Closed))),
                BodyState::Length(remaining) => {
                    if !inbound.buf.is_empty() {
                        let take = usize::try_from(*remaining)
                            .map_or(inbound.buf.len(), |r| r.min(inbound.buf.len()));
                        *remaining -= take as u64;
                        if *remaining == 0 {
                            inbound.body = BodyState::Done;
                        }
                        let data = inbound.buf.split_to(take).freeze();
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                }
                BodyState::Chunked(decoder) => match decoder.decode(&mut inbound.buf) {
                    Ok(Step::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                    Ok(Step::Trailers(trailers)) => {
                        return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
                    }
                    Ok(Step::End) => {
                        inbound.body = BodyState::Done;
                        return Poll::Ready(None);
                    }
                    Ok(Step::NeedMore) => {}
                    Err(_) => {
                        inbound.body = BodyState::Failed;
                        return Poll::Ready(Some(Err(BodyError::Malformed)));
                    }
                },
            }
            // The buffer holds nothing more of the body: read.
            let Some(io) = inbound.io.as_mut() else {
                inbound.body = BodyState::Failed;
                return Poll::Ready(Some(Err(BodyError::Closed)));
            };
            make_room(&mut inbound.buf);
            match ready!(poll_read_buf(Pin::new(io), cx, &mut inbound.buf)) {
                Ok(0) => {
                    inbound.body = BodyState::Failed;
                    return Poll::Ready(Some(Err(BodyError::Closed)));
                }
                Ok(_) => {}
                Err(e) => {
                    inbound.body = BodyState::Failed;
                    return Poll::Ready(Some(Err(BodyError::Io(e))));
                }
            }
        }
    }

    fn is_end(&self, request: u64) -> bool {
        let inbound = self.lock().unwrap_or_else(|e| e.into_inner());
        inbound.request != request || matches!(inbound.body, BodyState::Done)
    }

    fn size_hint(&self, request: u64) -> SizeHint {
        let inbound = self.lock().unwrap_or_else(|e| e.into_inner());
        if inbound.request != request {
            return SizeHint::with_exact(0);
        }
        match inbound.body {
            BodyState::Done => SizeHint::with_exact(0),
            BodyState::Length(n) => SizeHint::with_exact(n),
            BodyState::Chunked(_) | BodyState::Failed => SizeHint::default(),
        }
    }
}

/// Writes what is left of the `100 Continue` interim response.
fn poll_continue<S>(inbound: &mut Inbound<S>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>>
where
    S: AsyncWrite + Unpin,
{
    while inbound.continue_left > 0 {
        let Some(io) = inbound.io.as_mut() else {
            inbound.continue_left = 0;
            break;
        };
        let from = CONTINUE.len() - inbound.continue_left;
        let n = ready!(Pin::new(&mut *io).poll_write(cx, &CONTINUE[from..]))?;
        if n == 0 {
            return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
        }
        inbound.continue_left -= n;
        if inbound.continue_left == 0 {
            ready!(Pin::new(io).poll_flush(cx))?;
        }
    }
    Poll::Ready(Ok(()))
}

/// Before the response: finishes a `100 Continue` partly written, forgets one not begun.
pub(super) fn finish_continue<S>(
    inbound: &mut Inbound<S>,
    cx: &mut Context<'_>,
) -> Poll<std::io::Result<()>>
where
    S: AsyncWrite + Unpin,
{
    if inbound.continue_left == CONTINUE.len() {
        inbound.continue_left = 0;
    }
    poll_continue(inbound, cx)
}

/// Marks `Expect: 100-continue` to be answered before the body is first read.
pub(super) fn expect_continue<S>(inbound: &mut Inbound<S>) {
    inbound.continue_left = CONTINUE.len();
}
