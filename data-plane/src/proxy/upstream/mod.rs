//! The upstream HTTP client: a keep-alive connection pool over hyper's connection-level
//! client, segmented like Kong's (`dst ip/port` + TLS settings + SNI).
//!
//! HTTP/1.1 connections serve one request at a time: a connection leaves the pool for a
//! request and comes back when its response body was read to the end (otherwise it is
//! closed). HTTP/2 connections (gRPC) are shared by concurrent requests.

mod body;
mod connect;
mod timed_io;

use foldhash::HashMap as FastMap;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use rustls::ClientConfig;

pub use body::{ClientBody, ClientBodyError, ReplayableBody, UpstreamBody};
pub use connect::ConnectTarget;
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

/// An HTTP/1.1 connection checked out of (or new for) one request.
pub struct H1Conn {
    key: PoolKey,
    pub send: http1::SendRequest<UpstreamBody>,
    pub ctl: Arc<IoControl>,
    requests: u64,
    /// Whether the connection served earlier requests (a failure on it may be a stale
    /// keep-alive race rather than a broken upstream).
    pub reused: bool,
}

struct IdleH1 {
    send: http1::SendRequest<UpstreamBody>,
    ctl: Arc<IoControl>,
    requests: u64,
    since: Instant,
}

/// A connection ready to send one request on.
pub enum Checkout {
    H1(H1Conn),
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

    /// A pooled connection for `key` if one is usable, else a new one.
    pub async fn checkout(
        &self,
        key: PoolKey,
        target: &ConnectTarget<'_>,
    ) -> Result<Checkout, ConnectError> {
        if key.h2 {
            let existing = lock(&self.h2).get(&key).cloned();
            if let Some(send) = existing
                && !send.is_closed()
            {
                return Ok(Checkout::H2 { send, reused: true });
            }
            let send = connect::connect_h2(target).await?;
            if self.settings.pool_size > 0 {
                lock(&self.h2).insert(key, send.clone());
            }
            return Ok(Checkout::H2 {
                send,
                reused: false,
            });
        }
        while let Some(idle) = self.pop_idle(&key) {
            let mut send = idle.send;
            // Usually ready at once; otherwise the connection task is finishing the previous
            // response, or the connection is closed (then `ready` fails).
            if send.ready().await.is_ok() {
                return Ok(Checkout::H1(H1Conn {
                    key,
                    send,
                    ctl: idle.ctl,
                    requests: idle.requests,
                    reused: true,
                }));
            }
        }
        let (send, ctl) = connect::connect_h1(target).await?;
        Ok(Checkout::H1(H1Conn {
            key,
            send,
            ctl,
            requests: 0,
            reused: false,
        }))
    }

    fn pop_idle(&self, key: &PoolKey) -> Option<IdleH1> {
        let mut idle = lock(&self.idle);
        let list = idle.get_mut(key)?;
        let timeout = self.settings.idle_timeout;
        while let Some(conn) = list.pop() {
            if conn.send.is_closed() {
                continue;
            }
            if !timeout.is_zero() && conn.since.elapsed() > timeout {
                continue;
            }
            return Some(conn);
        }
        None
    }

    /// Returns a connection whose response was read completely.
    pub fn checkin(&self, mut conn: H1Conn) {
        conn.requests += 1;
        conn.ctl.disarm_read();
        let max = self.settings.max_requests;
        if self.settings.pool_size == 0
            || (max > 0 && conn.requests >= max)
            || conn.send.is_closed()
        {
            return;
        }
        let now = Instant::now();
        let mut idle = lock(&self.idle);
        let list = idle.entry(conn.key).or_default();
        // Entries are pushed in time order: expired ones are at the front.
        let timeout = self.settings.idle_timeout;
        if !timeout.is_zero() {
            let expired = list
                .iter()
                .take_while(|c| now.duration_since(c.since) > timeout)
                .count();
            list.drain(..expired);
        }
        if list.len() >= self.settings.pool_size {
            list.remove(0);
        }
        list.push(IdleH1 {
            send: conn.send,
            ctl: conn.ctl,
            requests: conn.requests,
            since: now,
        });
    }

    /// Number of idle HTTP/1.1 connections (for tests and status).
    pub fn idle_count(&self) -> usize {
        lock(&self.idle).values().map(Vec::len).sum()
    }
}

/// Sends a request on a checked-out connection.
pub async fn send(
    checkout: &mut Checkout,
    req: http::Request<UpstreamBody>,
) -> Result<http::Response<Incoming>, hyper::Error> {
    match checkout {
        Checkout::H1(conn) => conn.send.send_request(req).await,
        Checkout::H2 { send, .. } => send.send_request(req).await,
    }
}
