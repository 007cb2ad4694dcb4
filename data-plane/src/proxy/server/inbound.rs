//! One connection's state, shared between its serving loop and the request body being
//! read from it (both usually run in the connection's task; an HTTP/2 upstream's client
//! reads the body from a task of its own).

use std::time::Duration;

use bytes::BytesMut;

use crate::proxy::upstream::h1::chunked::ChunkedDecoder;

/// Bytes made room for before a socket read when little room is left.
pub(super) const READ_CHUNK: usize = 16 * 1024;

/// Makes room in `buf` for a socket read. Only when little is left: the head of the
/// request in flight still shares the buffer's allocation, and reserving a whole chunk
/// then would allocate a new buffer at every request.
pub(super) fn make_room(buf: &mut BytesMut) {
    if buf.capacity() - buf.len() < READ_CHUNK / 4 {
        buf.reserve(READ_CHUNK);
    }
}

pub(super) struct Inbound<S> {
    /// `None` once handed to a tunnel (`101 Switching Protocols`).
    pub io: Option<S>,
    /// Read but not consumed: the rest of a head, body bytes, pipelined requests.
    pub buf: BytesMut,
    pub body: BodyState,
    /// Bytes of a `100 Continue` still to write before the body is read.
    pub continue_left: usize,
    /// The number of the current request on this connection (see `BodySource`).
    pub request: u64,
    /// How long a write to the client may wait (zero: forever).
    pub send_timeout: Duration,
}

/// Where the current request's body stands.
pub(super) enum BodyState {
    /// Read to its end, or there was none.
    Done,
    Length(u64),
    Chunked(ChunkedDecoder),
    /// Broken (client gone, bad framing): the connection cannot serve another request.
    Failed,
}

impl<S> Inbound<S> {
    pub fn new(io: S, send_timeout: Duration) -> Inbound<S> {
        Inbound {
            io: Some(io),
            buf: BytesMut::with_capacity(READ_CHUNK),
            body: BodyState::Done,
            continue_left: 0,
            request: 0,
            send_timeout,
        }
    }
}
