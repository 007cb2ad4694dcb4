//! Serving one HTTP/1.x connection, request after request, in the connection's task:
//! read a head, run the request path, write the response, and again while both sides
//! keep the connection.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::header::{CONTENT_LENGTH, SERVER};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, Version};
use http_body::{Body, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, Sleep};
use tokio_util::io::poll_read_buf;

use super::body::{self, BodySource, DownstreamBody, RequestBody};
use super::head::{self, BodyFraming, FieldRanges, HeadError, RequestHead};
use super::inbound::{BodyState, Inbound, make_room};
use super::rewind::{ClientIo, ClientUpgrade, Rewind, Upgraded};
use super::write::{self, Framing, RequestFacts};
use crate::proxy::context::{ConnInfo, RequestId};
use crate::proxy::drain::ShutdownSignal;
use crate::proxy::errors::{self, ErrorKind};
use crate::proxy::headers::{SERVER_VALUE, te_has_trailers};
use crate::proxy::response_body::ProxyBody;
use crate::proxy::upstream::h1::chunked::Step;
use crate::proxy::upstream::h1::encode::{put_chunk_size, put_field};
use crate::proxy::{Shared, handler};

/// What an HTTP/2 client with prior knowledge sends first (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Response bytes gathered before a write: a small body leaves with its head.
const WRITE_BATCH: usize = 64 * 1024;
/// Data frames this large are written as they are rather than copied into the batch.
const COPY_LIMIT: usize = 16 * 1024;

type Conn<S> = Arc<Mutex<Inbound<S>>>;

fn lock<S>(conn: &Conn<S>) -> MutexGuard<'_, Inbound<S>> {
    conn.lock().unwrap_or_else(|e| e.into_inner())
}

/// How a connection left this server.
pub enum Served<S> {
    Closed,
    /// The client opened with the HTTP/2 preface (h2c with prior knowledge): the
    /// stream, with what was read of it, for hyper's HTTP/2 server.
    H2c(Rewind<S>),
}

/// Serves the connection until either side closes it, or until `shutdown` (idle
/// connections close at once, a request in flight finishes first). `h2c`: a plain
/// listener, where the client may speak HTTP/2 from the first byte.
pub async fn serve<S>(
    io: S,
    info: Arc<ConnInfo>,
    shared: Arc<Shared>,
    shutdown: &mut ShutdownSignal,
    h2c: bool,
) -> Served<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let inbound = Inbound::new(io, shared.settings.send_timeout);
    let conn: Conn<S> = Arc::new(Mutex::new(inbound));
    let mut out = Vec::with_capacity(4096);
    let mut timer = HeadTimer::new(shared.settings.client_header_timeout);
    let mut fields = Vec::new();
    let mut first = true;
    loop {
        let waited = read_head(&conn, &mut timer, &mut fields, shutdown, first && h2c);
        let head = match waited.await {
            Waited::Head(head) => head,
            Waited::Refused(error) => {
                refuse(&conn, &mut out, &shared, error).await;
                return Served::Closed;
            }
            Waited::H2c => {
                let mut inbound = lock(&conn);
                let buf = inbound.buf.split().freeze();
                return match inbound.io.take() {
                    Some(io) => Served::H2c(Rewind::new(buf, io)),
                    None => Served::Closed,
                };
            }
            Waited::Closed => return Served::Closed,
        };
        first = false;
        match exchange(&conn, &mut out, &info, &shared, shutdown, head).await {
            Next::Request => {}
            Next::Close => {
                close(&conn).await;
                return Served::Closed;
            }
            Next::Gone => return Served::Closed,
        }
    }
}

// Made once per request and taken apart at once: boxing the head would cost an
// allocation per request to save a copy of a few hundred bytes.
#[allow(clippy::large_enum_variant)]
enum Waited {
    Head(RequestHead),
    Refused(HeadError),
    H2c,
    Closed,
}

/// Waits for the next request head (or what is already buffered of it).
async fn read_head<S>(
    conn: &Conn<S>,
    timer: &mut HeadTimer,
    fields: &mut Vec<FieldRanges>,
    shutdown: &mut ShutdownSignal,
    h2c: bool,
) -> Waited
where
    S: AsyncRead + Unpin,
{
    timer.start();
    std::future::poll_fn(|cx| {
        let mut guard = lock(conn);
        let inbound = &mut *guard;
        loop {
            if !inbound.buf.is_empty() {
                let preface = h2c && {
                    let n = inbound.buf.len().min(H2_PREFACE.len());
                    inbound.buf[..n] == H2_PREFACE[..n]
                };
                if preface {
                    if inbound.buf.len() >= H2_PREFACE.len() {
                        return Poll::Ready(Waited::H2c);
                    }
                } else {
                    match head::parse(&mut inbound.buf, fields) {
                        Ok(Some(head)) => return Poll::Ready(Waited::Head(head)),
                        Err(error) => return Poll::Ready(Waited::Refused(error)),
                        Ok(None) => {}
                    }
                }
            }
            let Some(io) = inbound.io.as_mut() else {
                return Poll::Ready(Waited::Closed);
            };
            make_room(&mut inbound.buf);
            match poll_read_buf(Pin::new(io), cx, &mut inbound.buf) {
                Poll::Ready(Ok(0) | Err(_)) => return Poll::Ready(Waited::Closed),
                Poll::Ready(Ok(_)) => {}
                Poll::Pending => break,
            }
        }
        // Empty lines before a request line are allowed (RFC 9112 §2.2): still idle.
        let idle = inbound.buf.iter().all(|&b| b == b'\r' || b == b'\n');
        drop(guard);
        // An idle keep-alive connection closes on shutdown; one that started a head may
        // finish it.
        if idle && Pin::new(&mut *shutdown).poll(cx).is_ready() {
            return Poll::Ready(Waited::Closed);
        }
        if timer.poll_expired(cx) {
            return Poll::Ready(Waited::Closed);
        }
        Poll::Pending
    })
    .await
}

/// What the connection does after an exchange.
enum Next {
    Request,
    Close,
    /// Closed already, or handed to a tunnel.
    Gone,
}

/// One request: its body made readable, the request path run, the response written.
async fn exchange<S>(
    conn: &Conn<S>,
    out: &mut Vec<u8>,
    info: &Arc<ConnInfo>,
    shared: &Arc<Shared>,
    shutdown: &ShutdownSignal,
    head: RequestHead,
) -> Next
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let RequestHead {
        mut parts,
        framing,
        keep_alive,
        expect_continue,
        wants_upgrade,
    } = head;
    let mut facts = RequestFacts {
        version: parts.version,
        head: parts.method == Method::HEAD,
        keep_alive,
        trailers: te_has_trailers(&parts.headers),
    };
    let request_number = {
        let mut inbound = lock(conn);
        inbound.request += 1;
        inbound.body = match framing {
            BodyFraming::None => BodyState::Done,
            BodyFraming::Length(n) => BodyState::Length(n),
            BodyFraming::Chunked => BodyState::Chunked(Default::default()),
        };
        inbound.continue_left = 0;
        if expect_continue && framing != BodyFraming::None && parts.version == Version::HTTP_11 {
            body::expect_continue(&mut inbound);
        }
        inbound.request
    };
    let upgrade = wants_upgrade.then(|| {
        let (claim, handover) = ClientUpgrade::new();
        parts.extensions.insert(claim);
        handover
    });
    let source: Arc<dyn BodySource> = conn.clone();
    let body = RequestBody::new(source, request_number);
    // Boxed: the request path's future is large, and moving it (into this future's
    // state, and this one into the connection task) would copy it at every request.
    let handling = Box::pin(handler::handle(
        parts,
        DownstreamBody::Left(body),
        info.clone(),
        shared.clone(),
    ));
    let Some(mut response) = until_client_gone(conn, handling).await else {
        return Next::Gone;
    };
    facts.keep_alive &= !shutdown.is_set();
    let switching = response.status() == StatusCode::SWITCHING_PROTOCOLS;
    let keep = match write_response(conn, out, &mut response, &facts).await {
        Ok(keep) => keep,
        Err(e) => {
            tracing::debug!(error = %e, "writing the response failed");
            return Next::Gone;
        }
    };
    if switching {
        if let Some(handover) = upgrade {
            let mut inbound = lock(conn);
            let early = inbound.buf.split().freeze();
            if let Some(io) = inbound.io.take() {
                let io: Box<dyn ClientIo> = Box::new(io);
                let _ = handover.send(Upgraded::new(early, io));
            }
            return Next::Gone;
        }
        return Next::Close;
    }
    if keep && skip_unread_body(conn) {
        Next::Request
    } else {
        Next::Close
    }
}

/// Runs the request path; gives up (dropping it: the request is logged as 499) if the
/// client closes the connection once its request has been read, as nginx does.
async fn until_client_gone<S, F>(conn: &Conn<S>, mut handling: F) -> Option<Response<ProxyBody>>
where
    S: AsyncRead + Unpin,
    F: Future<Output = Result<Response<ProxyBody>, Infallible>> + Unpin,
{
    std::future::poll_fn(|cx| {
        if let Poll::Ready(Ok(response)) = Pin::new(&mut handling).poll(cx) {
            return Poll::Ready(Some(response));
        }
        if client_gone(conn, cx) {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

/// Reads ahead once the request body is in (pipelined requests are kept): whether the
/// client closed the connection.
fn client_gone<S: AsyncRead + Unpin>(conn: &Conn<S>, cx: &mut Context<'_>) -> bool {
    let mut guard = lock(conn);
    let inbound = &mut *guard;
    // While the body is being read, its reader sees a close.
    if !matches!(inbound.body, BodyState::Done) {
        return false;
    }
    let Some(io) = inbound.io.as_mut() else {
        return true;
    };
    while inbound.buf.len() < head::MAX_HEAD {
        make_room(&mut inbound.buf);
        match poll_read_buf(Pin::new(&mut *io), cx, &mut inbound.buf) {
            Poll::Ready(Ok(0) | Err(_)) => return true,
            Poll::Ready(Ok(_)) => {}
            Poll::Pending => return false,
        }
    }
    false
}

/// Consumes what the request path left of the request body, if it is all buffered
/// already (a plugin answered without reading a small body, as nginx discards it):
/// whether the next request can be read.
fn skip_unread_body<S>(conn: &Conn<S>) -> bool {
    let mut guard = lock(conn);
    let inbound = &mut *guard;
    match &mut inbound.body {
        BodyState::Done => true,
        BodyState::Length(n) if *n <= inbound.buf.len() as u64 => {
            inbound.buf.advance(*n as usize);
            inbound.body = BodyState::Done;
            true
        }
        BodyState::Chunked(decoder) => loop {
            match decoder.decode(&mut inbound.buf) {
                Ok(Step::Data(_) | Step::Trailers(_)) => {}
                Ok(Step::End) => {
                    inbound.body = BodyState::Done;
                    return true;
                }
                Ok(Step::NeedMore) | Err(_) => return false,
            }
        },
        BodyState::Length(_) | BodyState::Failed => false,
    }
}

/// Writes the response; whether the connection can carry another request. The body is
/// replaced by an empty one once written (its completion runs then). By reference: an
/// async fn would hold a response passed by value twice, and copy it at every move.
async fn write_response<S>(
    conn: &Conn<S>,
    out: &mut Vec<u8>,
    response: &mut Response<ProxyBody>,
    request: &RequestFacts,
) -> io::Result<bool>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // A `100 Continue` the request path stopped halfway (it answered without reading the
    // body) is finished first; one never started is left unsent.
    let interim = std::future::poll_fn(|cx| body::finish_continue(&mut lock(conn), cx));
    within_send_timeout(conn, interim).await?;
    out.clear();
    let body = response.body();
    let (mut framing, mut keep) = write::encode_head(
        out,
        response.status(),
        response.headers(),
        &body.size_hint(),
        request,
        body.kong_headers(),
        body.upstream_fields(),
    );
    let body = response.body_mut();
    if framing == Framing::None {
        // The body ends here (its completion runs as it is dropped).
        *body = ProxyBody::empty();
        send(conn, out).await?;
        return Ok(keep);
    }
    let mut trailers_sent = false;
    loop {
        // Take the next frame if it is ready; before waiting for one, send what is
        // gathered.
        let polled = std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *body).poll_frame(cx)));
        let frame = match polled.await {
            Poll::Ready(frame) => frame,
            Poll::Pending => {
                send(conn, out).await?;
                // A client that leaves mid-response stops the relay (as nginx does), not
                // the next failed write, which may be long in coming (streams, long polls).
                let next = std::future::poll_fn(|cx| {
                    if let Poll::Ready(frame) = Pin::new(&mut *body).poll_frame(cx) {
                        return Poll::Ready(Some(frame));
                    }
                    if client_gone(conn, cx) {
                        return Poll::Ready(None);
                    }
                    Poll::Pending
                });
                match next.await {
                    Some(frame) => frame,
                    None => {
                        return Err(io::Error::new(
                            io::ErrorKind::ConnectionAborted,
                            "the client closed the connection mid-response",
                        ));
                    }
                }
            }
        };
        let frame = match frame {
            None => break,
            Some(Ok(frame)) => frame,
            Some(Err(e)) => {
                // The response cannot be completed: the client sees the connection close.
                send(conn, out).await?;
                return Err(io::Error::other(e));
            }
        };
        let frame = match frame.into_data() {
            Ok(data) => data,
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers()
                    && framing == Framing::Chunked
                    && request.trailers
                {
                    out.extend_from_slice(b"0\r\n");
                    put_fields(out, &trailers);
                    out.extend_from_slice(b"\r\n");
                    trailers_sent = true;
                }
                continue;
            }
        };
        let mut data = frame;
        match &mut framing {
            Framing::Length(remaining) => {
                // More than announced: the rest is dropped, and the connection with it.
                if data.len() as u64 > *remaining {
                    data.truncate(*remaining as usize);
                    keep = false;
                }
                *remaining -= data.len() as u64;
                put_data(conn, out, &data).await?;
            }
            Framing::Chunked => {
                if !data.is_empty() && !trailers_sent {
                    put_chunk_size(out, data.len());
                    put_data(conn, out, &data).await?;
                    out.extend_from_slice(b"\r\n");
                }
            }
            Framing::Close => put_data(conn, out, &data).await?,
            Framing::None => {}
        }
        if out.len() >= WRITE_BATCH {
            send(conn, out).await?;
        }
    }
    match framing {
        Framing::Chunked if !trailers_sent => out.extend_from_slice(b"0\r\n\r\n"),
        // Fewer bytes than announced: the client can only tell by the close.
        Framing::Length(remaining) if remaining > 0 => keep = false,
        _ => {}
    }
    *body = ProxyBody::empty();
    send(conn, out).await?;
    Ok(keep && framing != Framing::Close)
}

fn put_fields(out: &mut Vec<u8>, fields: &HeaderMap) {
    for (name, value) in fields {
        put_field(out, name.as_str().as_bytes(), value.as_bytes());
    }
}

/// Appends body bytes to the batch, or, for a large frame, sends the batch and then the
/// frame as it is.
async fn put_data<S: AsyncWrite + Unpin>(
    conn: &Conn<S>,
    out: &mut Vec<u8>,
    data: &Bytes,
) -> io::Result<()> {
    if data.len() < COPY_LIMIT {
        out.extend_from_slice(data);
        return Ok(());
    }
    send(conn, out).await?;
    write_all(conn, data).await
}

/// Writes and clears the batch, and flushes the stream (a TLS record goes out).
async fn send<S: AsyncWrite + Unpin>(conn: &Conn<S>, out: &mut Vec<u8>) -> io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    write_all(conn, out).await?;
    out.clear();
    let flush = std::future::poll_fn(|cx| match lock(conn).io.as_mut() {
        Some(io) => Pin::new(io).poll_flush(cx),
        None => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
    });
    within_send_timeout(conn, flush).await
}

async fn write_all<S: AsyncWrite + Unpin>(conn: &Conn<S>, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        let write = std::future::poll_fn(|cx| match lock(conn).io.as_mut() {
            Some(io) => Pin::new(io).poll_write(cx, bytes),
            None => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        });
        let n = within_send_timeout(conn, write).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        bytes = &bytes[n..];
    }
    Ok(())
}

/// Runs a write, failing it when it makes no progress for the send timeout (a client that
/// stopped reading). Only a write that has to wait gets a timer.
async fn within_send_timeout<S, T>(
    conn: &Conn<S>,
    write: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    let mut write = std::pin::pin!(write);
    if let Poll::Ready(done) = std::future::poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx))).await
    {
        return done;
    }
    let timeout = lock(conn).send_timeout;
    if timeout.is_zero() {
        return write.await;
    }
    match tokio::time::timeout(timeout, write).await {
        Ok(done) => done,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the client read nothing for the send timeout",
        )),
    }
}

/// Answers a head that cannot be served, as nginx does (Kong's error body), and closes.
async fn refuse<S>(conn: &Conn<S>, out: &mut Vec<u8>, shared: &Shared, error: HeadError)
where
    S: AsyncWrite + Unpin,
{
    let id = RequestId::random();
    let rendered = errors::render(
        ErrorKind::Nginx,
        error.status(),
        None,
        id.as_str(),
        Version::HTTP_11,
        &HeaderMap::new(),
        shared.settings.error_default_type,
    );
    let mut headers = rendered.headers;
    if shared.settings.headers.server {
        headers.insert(SERVER, SERVER_VALUE);
    }
    headers.insert(CONTENT_LENGTH, HeaderValue::from(rendered.body.len()));
    let request = RequestFacts {
        version: Version::HTTP_11,
        head: false,
        keep_alive: false,
        trailers: false,
    };
    out.clear();
    let length = SizeHint::with_exact(rendered.body.len() as u64);
    write::encode_head(
        out,
        rendered.status,
        &headers,
        &length,
        &request,
        None,
        None,
    );
    out.extend_from_slice(&rendered.body);
    if send(conn, out).await.is_ok() {
        close(conn).await;
    }
}

/// Closes the connection's sending side (the client reads to the end, then the close).
async fn close<S: AsyncWrite + Unpin>(conn: &Conn<S>) {
    // TLS sends its close notice here: bounded like any other write.
    let shutdown = std::future::poll_fn(|cx| match lock(conn).io.as_mut() {
        Some(io) => Pin::new(io).poll_shutdown(cx),
        None => Poll::Ready(Ok(())),
    });
    let _ = within_send_timeout(conn, shutdown).await;
}

/// `client_header_timeout`: how long a head may take, from the moment the connection
/// waits for it (idle keep-alive time included).
///
/// The timer is moved lazily: each request pushes the deadline later, and the timer is
/// left at the earlier one; when it fires early, it is set again for the current
/// deadline. A request thus costs a clock read, not a timer update.
struct HeadTimer {
    timeout: Duration,
    deadline: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl HeadTimer {
    fn new(timeout: Duration) -> HeadTimer {
        HeadTimer {
            timeout,
            deadline: Instant::now(),
            sleep: None,
        }
    }

    fn start(&mut self) {
        if !self.timeout.is_zero() {
            self.deadline = Instant::now() + self.timeout;
        }
    }

    fn poll_expired(&mut self, cx: &mut Context<'_>) -> bool {
        if self.timeout.is_zero() {
            return false;
        }
        let deadline = self.deadline;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        loop {
            if sleep.deadline() > deadline {
                sleep.as_mut().reset(deadline);
            }
            match sleep.as_mut().poll(cx) {
                Poll::Pending => return false,
                Poll::Ready(()) if sleep.deadline() >= deadline => return true,
                // Set for an earlier head: wait on.
                Poll::Ready(()) => sleep.as_mut().reset(deadline),
            }
        }
    }
}
