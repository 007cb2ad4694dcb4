//! Request bodies on their way upstream.
//!
//! [`ClientBody`] reads the client's body with `client_body_timeout` between reads.
//! [`ReplayableBody`] is what a request keeps across retries: empty, fully buffered
//! (replayable), or streaming (usable once). [`UpstreamBody`] is what one try sends.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

use super::BoxError;
use crate::proxy::server::DownstreamBody;

/// Why the client's request body could not be read.
#[derive(Debug)]
pub enum ClientBodyError {
    /// No data for `client_body_timeout` (nginx answers 408).
    Timeout,
    /// The client connection broke or sent a malformed body.
    Aborted(BoxError),
}

impl std::fmt::Display for ClientBodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientBodyError::Timeout => f.write_str("client body timeout"),
            ClientBodyError::Aborted(e) => write!(f, "client body error: {e}"),
        }
    }
}

impl std::error::Error for ClientBodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientBodyError::Timeout => None,
            ClientBodyError::Aborted(e) => Some(e.as_ref()),
        }
    }
}

/// The client's request body, with a read timeout and already-read chunks replayed first.
pub struct ClientBody {
    prefix: VecDeque<Bytes>,
    incoming: DownstreamBody,
    timeout: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    done: bool,
}

impl ClientBody {
    pub fn new(incoming: DownstreamBody, timeout: Duration) -> ClientBody {
        ClientBody {
            prefix: VecDeque::new(),
            incoming,
            timeout,
            sleep: None,
            done: false,
        }
    }

    fn poll_incoming(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ClientBodyError>>> {
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(r) => {
                self.sleep = None;
                if r.is_none() {
                    self.done = true;
                }
                Poll::Ready(r.map(|f| f.map_err(ClientBodyError::Aborted)))
            }
            Poll::Pending => {
                if self.timeout.is_zero() {
                    return Poll::Pending;
                }
                let timeout = self.timeout;
                let sleep = self
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(ClientBodyError::Timeout))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    /// Reads the whole body if it is at most `limit` bytes. Otherwise returns the body
    /// (with what was read so far kept for replay) to be streamed.
    pub async fn buffer(
        mut self,
        limit: usize,
    ) -> Result<Result<Bytes, ClientBody>, ClientBodyError> {
        let mut chunks: Vec<Bytes> = Vec::new();
        let mut total = 0usize;
        loop {
            let frame = std::future::poll_fn(|cx| self.poll_incoming(cx)).await;
            match frame {
                None => break,
                Some(Err(e)) => return Err(e),
                Some(Ok(frame)) => {
                    // Request trailers are rare; a body that has them is streamed as is.
                    let data = match frame.into_data() {
                        Ok(d) => d,
                        Err(_) => break,
                    };
                    total += data.len();
                    chunks.push(data);
                    if total > limit {
                        self.prefix = chunks.into();
                        return Ok(Err(self));
                    }
                }
            }
        }
        Ok(Ok(match chunks.len() {
            0 => Bytes::new(),
            1 => chunks.pop().unwrap_or_default(),
            _ => {
                let mut all = BytesMut::with_capacity(total);
                for c in chunks {
                    all.extend_from_slice(&c);
                }
                all.freeze()
            }
        }))
    }
}

impl Body for ClientBody {
    type Data = Bytes;
    type Error = ClientBodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ClientBodyError>>> {
        if let Some(chunk) = self.prefix.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        if self.done {
            return Poll::Ready(None);
        }
        self.poll_incoming(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.prefix.is_empty() && (self.done || self.incoming.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let buffered: u64 = self.prefix.iter().map(|b| b.len() as u64).sum();
        let inner = self.incoming.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower() + buffered);
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + buffered);
        }
        hint
    }
}

/// The request body a request keeps across tries.
pub enum ReplayableBody {
    Empty,
    Buffered(Bytes),
    /// Streams once; `None` after the first try took it.
    Stream(Option<ClientBody>),
}

impl ReplayableBody {
    /// The body for the next try, or `None` when it was streamed already.
    pub fn for_try(&mut self) -> Option<UpstreamBody> {
        match self {
            ReplayableBody::Empty => Some(UpstreamBody::empty()),
            ReplayableBody::Buffered(b) => Some(UpstreamBody::full(b.clone())),
            ReplayableBody::Stream(s) => s.take().map(UpstreamBody::stream),
        }
    }

    /// Whether another try can still send the body.
    pub fn replayable(&self) -> bool {
        !matches!(self, ReplayableBody::Stream(None))
    }

    pub fn is_empty(&self) -> bool {
        matches!(self, ReplayableBody::Empty)
    }
}

enum Kind {
    Empty,
    Full(Option<Bytes>),
    Stream(ClientBody),
}

/// The body sent upstream for one try.
pub struct UpstreamBody {
    kind: Kind,
}

impl UpstreamBody {
    pub fn empty() -> UpstreamBody {
        UpstreamBody { kind: Kind::Empty }
    }

    pub fn full(bytes: Bytes) -> UpstreamBody {
        UpstreamBody {
            kind: Kind::Full(Some(bytes)),
        }
    }

    pub fn stream(body: ClientBody) -> UpstreamBody {
        UpstreamBody {
            kind: Kind::Stream(body),
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = ClientBodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ClientBodyError>>> {
        match &mut self.kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Kind::Stream(s) => Pin::new(s).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Full(b) => b.is_none(),
            Kind::Stream(s) => s.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Stream(s) => s.size_hint(),
        }
    }
}

use std::future::Future;
