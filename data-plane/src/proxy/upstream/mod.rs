//! The upstream HTTP client: a keep-alive connection pool segmented like Kong's
//! (`dst ip/port` + TLS settings + SNI).
//!
//! HTTP/1.1 connections serve one request at a time, driven by the request's own task
//! ([`h1`]): a connection leaves the pool for a request and comes back when its response
//! body was read to the end (otherwise it is closed). HTTP/2 connections (gRPC) run
//! hyper's client and are shared by concurrent requests.

mod body;
mod connect;
pub mod h1;
mod proxy_headers;
mod timed_io;

use foldhash::HashMap as FastMap;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http2;
use rustls::ClientConfig;
use std::pin::Pin;
use std::task::{Context, Poll};

pub use body::{ClientBody, ClientBodyError, ReplayableBody, UpstreamBody};
pub use connect::ConnectTarget;
pub use h1::H1Conn;
pub use proxy_headers::{ForwardedPath, ProxyHeaders};
pub use timed_io::IoControl;

use super::settings::KeepaliveSettings;

/// Why no connection could be made.
#[derive(Debug)]
pub enum ConnectError {
    Timeout,
    Io(std::io::Error),
    Tls(std::io::Error),
    Handshake(hyper::Error),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Timeout => f.write_str("connect timed out"),
            ConnectError::Io(e) => write!(f, "connect failed: {e}"),
            ConnectError::Tls(e) => write!(f, "TLS handshake failed: {e}"),
            ConnectError::Handshake(e) => write!(f, "HTTP handshake failed: {e}"),
        }
    }
}

/// What identifies interchangeable connections.
#[derive(Clone)]
pub struct PoolKey {
    pub addr: SocketAddr,
    /// The TLS client configuration (compared by identity) and SNI.
    pub tls: Option<(Arc<ClientConfig>, Option<Arc<str>>)>,
    pub h2: bool,
}

impl PartialEq for PoolKey {
    fn eq(&self, other: &Self) -> bool {
        self.addr == other.addr
            && self.h2 == other.h2
            && match (&self.tls, &other.tls) {
                (None, None) => true,
                (Some((a, sa)), Some((b, sb))) => Arc::ptr_eq(a, b) && sa == sb,
                _ => false,
            }
    }
}

impl Eq for PoolKey {}

impl Hash for PoolKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.addr.hash(state);
        self.h2.hash(state);
        if let Some((config, sni)) = &self.tls {
            (Arc::as_ptr(config) as usize).hash(state);
            sni.hash(state);
        }
    }
}

struct IdleH1 {
    conn: Box<H1Conn>,
    since: Instant,
}

/// A connection ready to send one request on.
pub enum Checkout {
    /// Boxed once when connected: requests move it around, into the response body and
    /// back to the pool.
    H1 { conn: Box<H1Conn>, key: PoolKey },
    H2 {
        send: http2::SendRequest<UpstreamBody>,
        reused: bool,
    },
}

pub struct Pool {
    settings: KeepaliveSettings,
    // foldhash: keys are upstream addresses from the configuration, not client input.
    idle: Mutex<FastMap<PoolKey, Vec<IdleH1>>>,
    h2: Mutex<FastMap<PoolKey, http2::SendRequest<UpstreamBody>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Pool {
    pub fn new(settings: KeepaliveSettings) -> Pool {
        Pool {
            settings,
            idle: Mutex::new(FastMap::default()),
            h2: Mutex::new(FastMap::default()),
        }
    }

    /// A pooled connection for `key` if one is usable, else a new one. `now`: the
    /// caller's reading of the clock, taken just before (idle ages are measured to it).
    pub async fn checkout(
        &self,
        key: PoolKey,
        target: &ConnectTarget<'_>,
        now: Instant,
    ) -> Result<Checkout, ConnectError> {
        if key.h2 {
            let existing = lock(&self.h2).get(&key).cloned();
            if let Some(send) = existing
                && !send.is_closed()
            {
                return Ok(Checkout::H2 { send, reused: true });
            }
            // Boxed, as below: connecting is rare and its future large; inline, it would
            // grow every request's future (copied each time the request's future moves).
            let send = Box::pin(connect::connect_h2(target)).await?;
            if self.settings.pool_size > 0 {
                lock(&self.h2).insert(key, send.clone());
            }
            return Ok(Checkout::H2 {
                send,
                reused: false,
            });
        }
        while let Some(mut conn) = self.pop_idle(&key, now) {
            if conn.is_usable() {
                conn.reused = true;
                return Ok(Checkout::H1 { conn, key });
            }
        }
        let conn = Box::pin(connect::connect_h1(target)).await?;
        Ok(Checkout::H1 { conn, key })
    }

    fn pop_idle(&self, key: &PoolKey, now: Instant) -> Option<Box<H1Conn>> {
        let mut idle = lock(&self.idle);
        let list = idle.get_mut(key)?;
        let timeout = self.settings.idle_timeout;
        while let Some(idle) = list.pop() {
            if !timeout.is_zero() && now.saturating_duration_since(idle.since) > timeout {
                continue;
            }
            return Some(idle.conn);
        }
        None
    }

    /// Returns a connection whose response was read completely.
    pub fn checkin(&self, key: PoolKey, mut conn: Box<H1Conn>) {
        conn.requests += 1;
        conn.ctl.disarm_read();
        let max = self.settings.max_requests;
        if self.settings.pool_size == 0 || (max > 0 && conn.requests >= max) {
            return;
        }
        // Expired entries are left to `sweep` (and skipped by `pop_idle` meanwhile).
        let mut idle = lock(&self.idle);
        let list = idle.entry(key).or_default();
        if list.len() >= self.settings.pool_size {
            list.remove(0);
        }
        list.push(IdleH1 {
            conn,
            since: Instant::now(),
        });
    }

    /// Drops idle connections that expired or that the upstream closed (or wrote to
    /// unasked), and forgets keys left empty. Nobody reads an idle connection: without
    /// this, one the upstream closed would hold its socket until its key is used again,
    /// and keys nobody uses again (a DNS name's old addresses, per-request TLS settings
    /// from plugins) would keep theirs for good.
    pub fn sweep(&self) {
        let timeout = self.settings.idle_timeout;
        let mut idle = lock(&self.idle);
        idle.retain(|_, list| {
            list.retain_mut(|c| {
                (timeout.is_zero() || c.since.elapsed() <= timeout) && c.conn.is_usable()
            });
            !list.is_empty()
        });
    }

    /// Number of idle HTTP/1.1 connections (for tests and status).
    pub fn idle_count(&self) -> usize {
        lock(&self.idle).values().map(Vec::len).sum()
    }
}

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An upstream response body.
pub enum ResponseBody {
    /// Read by the request's task; holds its connection (and pool key) until the end.
    H1(h1::H1Body, Option<PoolKey>),
    H2(Incoming),
}

impl ResponseBody {
    /// The connection and its pool key, when the body ended cleanly on a connection
    /// that stays open.
    pub fn take_reusable(&mut self) -> Option<(PoolKey, Box<H1Conn>)> {
        match self {
            ResponseBody::H1(body, key) if key.is_some() => {
                let conn = body.take_reusable()?;
                Some((key.take()?, conn))
            }
            _ => None,
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            ResponseBody::H1(body, _) => Pin::new(body).poll_frame(cx).map_err(BoxError::from),
            ResponseBody::H2(body) => Pin::new(body).poll_frame(cx).map_err(BoxError::from),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::H1(body, _) => body.is_end_stream(),
            ResponseBody::H2(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::H1(body, _) => body.size_hint(),
            ResponseBody::H2(body) => body.size_hint(),
        }
    }
}
