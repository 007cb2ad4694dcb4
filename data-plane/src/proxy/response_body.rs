//! The body of every response the proxy sends, and the end-of-request bookkeeping.
//!
//! [`ProxyBody`] streams an upstream body (with backpressure: a chunk is read from the
//! upstream only when the client connection asks for the next one), or carries a
//! proxy-generated body. It owns the request's [`Completion`]: when the body ends or is
//! dropped (client gone), the completion runs the log phase and records metrics, and a
//! fully read HTTP/1.1 upstream connection goes back to the pool.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

use super::Shared;
use super::context::RequestContext;
use super::headers::ProxiedHeaders;
use super::upstream::ResponseBody;
use super::upstream::h1::fields::RawFields;
use crate::runtime::Runtime;

/// End-of-request work: runs exactly once, when dropped. Created when the request starts,
/// so it also runs when the client goes away before a response exists (the request is
/// then logged with nginx's status 499).
pub struct Completion {
    pub ctx: RequestContext,
    pub runtime: Arc<Runtime>,
    pub shared: Arc<Shared>,
    body_filter: bool,
    /// Plugins removed `Content-Length` (they change the body): the length is unknown.
    unknown_length: bool,
}

/// nginx's "client closed request".
const CLIENT_CLOSED: u16 = 499;

impl Completion {
    pub fn new(ctx: RequestContext, runtime: Arc<Runtime>, shared: Arc<Shared>) -> Completion {
        Completion {
            ctx,
            runtime,
            shared,
            body_filter: false,
            unknown_length: false,
        }
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        if self.ctx.status == 0 {
            self.ctx.status = CLIENT_CLOSED;
        }
        let plugins = self.runtime.plugins();
        if !plugins.is_empty() {
            plugins.log(&mut self.ctx, &self.runtime, Some(&self.shared.metrics));
        }
        self.shared.request_finished(&self.ctx, &self.runtime);
    }
}

/// An upstream response body being relayed; an HTTP/1.1 connection it reads from goes
/// back to the pool once the body has been read to its end.
pub struct UpstreamStream {
    body: ResponseBody,
    shared: Arc<Shared>,
    /// HTTP/2 upstreams: longest wait for the next frame (`read_timeout`).
    frame_timeout: Option<Duration>,
    sleep: Option<Pin<Box<Sleep>>>,
}

/// The upstream body stopped for lack of data (HTTP/2 read timeout).
#[derive(Debug)]
pub struct UpstreamReadTimeout;

impl std::fmt::Display for UpstreamReadTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("upstream read timed out")
    }
}

impl std::error::Error for UpstreamReadTimeout {}

pub use super::upstream::BoxError;

enum Kind {
    Empty,
    Full(Option<Bytes>),
    Upstream(UpstreamStream),
}

pub struct ProxyBody {
    kind: Kind,
    completion: Option<Box<Completion>>,
    /// Kong's headers, left to the HTTP/1.x server to write with the head.
    kong_headers: Option<ProxiedHeaders>,
    /// The upstream response's fields, relayed as received (the head's map is empty).
    upstream_fields: Option<Box<RawFields>>,
}

impl ProxyBody {
    pub fn empty() -> ProxyBody {
        ProxyBody {
            kind: Kind::Empty,
            completion: None,
            kong_headers: None,
            upstream_fields: None,
        }
    }

    pub fn full(bytes: Bytes) -> ProxyBody {
        ProxyBody {
            kind: if bytes.is_empty() {
                Kind::Empty
            } else {
                Kind::Full(Some(bytes))
            },
            completion: None,
            kong_headers: None,
            upstream_fields: None,
        }
    }

    pub fn upstream(
        body: ResponseBody,
        shared: Arc<Shared>,
        frame_timeout: Option<Duration>,
    ) -> ProxyBody {
        let mut stream = UpstreamStream {
            body,
            shared,
            frame_timeout: frame_timeout.filter(|d| !d.is_zero()),
            sleep: None,
        };
        // A response without a body frees its connection right away.
        if stream.body.is_end_stream() {
            stream.release();
        }
        ProxyBody {
            kind: Kind::Upstream(stream),
            completion: None,
            kong_headers: None,
            upstream_fields: None,
        }
    }

    /// Attaches the request's completion; the response is final at this point.
    /// `has_content_length`: whether the response head carries `Content-Length`.
    pub fn set_completion(&mut self, mut completion: Box<Completion>, has_content_length: bool) {
        completion.body_filter = !completion.runtime.plugins().is_empty();
        // A plugin that changes the body clears `Content-Length` in header_filter (as
        // in Kong); the body's own length hint no longer holds then.
        completion.unknown_length =
            completion.body_filter && !has_content_length && self.size_hint().exact().is_some();
        self.completion = Some(completion);
    }

    /// Leaves Kong's headers to the HTTP/1.x server, which writes them with the head
    /// instead of the request path inserting them into the header map. Only when no
    /// plugin can see the response head.
    pub fn defer_kong_headers(&mut self, headers: ProxiedHeaders) {
        self.kong_headers = Some(headers);
    }

    pub fn kong_headers(&self) -> Option<&ProxiedHeaders> {
        self.kong_headers.as_ref()
    }

    /// Leaves the upstream's response fields, kept as received, to the HTTP/1.x server.
    pub fn relay_upstream_fields(&mut self, fields: Box<RawFields>) {
        self.upstream_fields = Some(fields);
    }

    pub fn upstream_fields(&self) -> Option<&RawFields> {
        self.upstream_fields.as_deref()
    }

    /// Whether plugins may have changed the body's length.
    fn unknown_length(&self) -> bool {
        self.completion.as_ref().is_some_and(|c| c.unknown_length)
    }

    pub fn completion_mut(&mut self) -> Option<&mut Completion> {
        self.completion.as_deref_mut()
    }
}

impl UpstreamStream {
    fn release(&mut self) {
        if let Some((key, conn)) = self.body.take_reusable() {
            self.shared.pool.checkin(key, conn);
        }
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match Pin::new(&mut self.body).poll_frame(cx) {
            Poll::Ready(None) => {
                self.release();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Ok(frame))) => {
                self.sleep = None;
                if self.body.is_end_stream() {
                    self.release();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            // A broken HTTP/1.1 body has dropped its connection already.
            failed @ Poll::Ready(Some(Err(_))) => failed,
            Poll::Pending => {
                let Some(timeout) = self.frame_timeout else {
                    return Poll::Pending;
                };
                let sleep = self
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(UpstreamReadTimeout)))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let polled = match &mut this.kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Kind::Upstream(s) => s.poll_next(cx),
        };
        let Some(completion) = this.completion.as_deref_mut() else {
            return polled;
        };
        match polled {
            Poll::Ready(Some(Ok(frame))) => {
                let frame = match frame.into_data() {
                    Ok(mut data) => {
                        if completion.body_filter {
                            let eof = match &this.kind {
                                Kind::Upstream(s) => s.body.is_end_stream(),
                                _ => true,
                            };
                            let Completion { ctx, runtime, .. } = completion;
                            runtime.plugins().body_filter(ctx, runtime, &mut data, eof);
                            // The plugins saw the end; a later end of stream needs no call.
                            completion.body_filter = !eof;
                        }
                        completion.ctx.bytes_out += data.len() as u64;
                        Frame::data(data)
                    }
                    Err(frame) => frame,
                };
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) if completion.body_filter => {
                // The body ended without a last data frame: plugins still get their end
                // of body (and may emit what they held back).
                completion.body_filter = false;
                let mut data = Bytes::new();
                let Completion { ctx, runtime, .. } = completion;
                runtime.plugins().body_filter(ctx, runtime, &mut data, true);
                if data.is_empty() {
                    return Poll::Ready(None);
                }
                completion.ctx.bytes_out += data.len() as u64;
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Full(b) => b.is_none(),
            Kind::Upstream(s) => s.body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        if self.unknown_length() {
            return SizeHint::default();
        }
        match &self.kind {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Upstream(s) => s.body.size_hint(),
        }
    }
}

use std::future::Future;
