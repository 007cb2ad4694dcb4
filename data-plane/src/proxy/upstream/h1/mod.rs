//! HTTP/1.1 to upstreams, driven in the request's own task.
//!
//! hyper's connection-level client runs each connection in a task of its own and hands
//! requests and responses to it through channels: two task wake-ups and about a third of
//! the proxy's instructions per request. Here the request's task writes the request and
//! reads the response on the socket itself ([`exchange`]); the response body
//! ([`H1Body`]) reads on from the same buffer and gives the connection back for pooling
//! once the body ended cleanly. HTTP/2 (gRPC) keeps hyper's client, whose connections
//! are shared by concurrent requests.

mod body;
pub(crate) mod chunked;
mod clean;
pub(crate) mod encode;
mod exchange;
pub(crate) mod fields;
pub(crate) mod head;

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::BytesMut;
use tokio_util::io::poll_read_buf;

pub use body::{H1Body, Upgraded};
pub use encode::RequestHead;
pub use exchange::{Exchanged, exchange};

use super::body::ClientBodyError;
use super::connect::UpstreamStream;
use super::timed_io::{IoControl, TimedIo};

/// Bytes made room for before each socket read.
const READ_CHUNK: usize = 16 * 1024;

/// The socket of an upstream connection, with its read and write timeouts.
type Io = TimedIo<UpstreamStream>;

/// An HTTP/1.1 connection to an upstream, used by one request at a time.
pub struct H1Conn {
    io: Io,
    /// Bytes read and not yet consumed (a response head being parsed, body bytes).
    read_buf: BytesMut,
    /// Where a response head's fields are (kept for its capacity between responses).
    spans: Vec<fields::FieldSpan>,
    /// The request being written (kept for its capacity between requests), and how much
    /// of it was written.
    write_buf: Vec<u8>,
    write_pos: usize,
    pub ctl: Arc<IoControl>,
    /// Requests completed on this connection.
    pub(super) requests: u64,
    /// Whether the connection served earlier requests (a failure on it may be a stale
    /// keep-alive race rather than a broken upstream).
    pub reused: bool,
}

impl H1Conn {
    pub(super) fn new(io: Io, ctl: Arc<IoControl>) -> H1Conn {
        H1Conn {
            io,
            read_buf: BytesMut::new(),
            spans: Vec::new(),
            write_buf: Vec::new(),
            write_pos: 0,
            ctl,
            requests: 0,
            reused: false,
        }
    }

    /// Whether an idle connection can carry a request: nothing is buffered, and a read
    /// that must not wait finds neither the upstream's close nor bytes it sent unasked.
    /// (hyper's connection task noticed such closes while idle; nobody polls an idle
    /// connection here.)
    pub(super) fn is_usable(&mut self) -> bool {
        if !self.read_buf.is_empty() {
            return false;
        }
        let mut cx = Context::from_waker(Waker::noop());
        self.poll_fill(&mut cx).is_pending()
    }

    /// Reads more bytes into `read_buf`; `Ok(0)` at the end of the stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.read_buf.capacity() - self.read_buf.len() < READ_CHUNK / 4 {
            self.read_buf.reserve(READ_CHUNK);
        }
        poll_read_buf(Pin::new(&mut self.io), cx, &mut self.read_buf)
    }
}

/// Why an HTTP/1.1 exchange or its response body failed.
#[derive(Debug)]
pub enum Error {
    /// Writing the request head failed: the upstream cannot have acted on the request.
    NotSent(io::Error),
    Write(io::Error),
    Read(io::Error),
    /// The upstream closed the connection before the response was complete.
    Closed,
    Head(&'static str),
    Body(&'static str),
    /// Reading the client's request body failed.
    ClientBody(ClientBodyError),
    /// The request cannot be sent as it is (framing headers that do not fit its body).
    Request(&'static str),
}

impl Error {
    /// A read or write timeout (`read_timeout` / `write_timeout`).
    pub fn is_timeout(&self) -> bool {
        match self {
            Error::NotSent(e) | Error::Write(e) | Error::Read(e) => {
                e.kind() == io::ErrorKind::TimedOut
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::NotSent(e) => write!(f, "sending the request head failed: {e}"),
            Error::Write(e) => write!(f, "sending the request failed: {e}"),
            Error::Read(e) => write!(f, "reading the response failed: {e}"),
            Error::Closed => f.write_str("upstream closed the connection early"),
            Error::Head(what) => write!(f, "invalid response head: {what}"),
            Error::Body(what) => write!(f, "invalid response body: {what}"),
            Error::ClientBody(e) => e.fmt(f),
            Error::Request(what) => write!(f, "request not sent: {what}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::NotSent(e) | Error::Write(e) | Error::Read(e) => Some(e),
            Error::ClientBody(e) => Some(e),
            _ => None,
        }
    }
}
