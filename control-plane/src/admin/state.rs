//! What every handler shares: the store, the schema catalog, the node's identity, the
//! configuration shown by `GET /`, and the connection counters reported by `/status`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::schema::Catalog;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::body::DEFAULT_BODY_LIMIT;
use crate::store::Store;

/// Settings of the Admin API itself.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// When set, every request (but `OPTIONS`) must carry it in `Kong-Admin-Token`.
    pub admin_token: Option<String>,
    /// Largest accepted request body, in bytes (larger → 413).
    pub body_limit: usize,
    /// Shown as `hostname` by `GET /`.
    pub hostname: String,
    /// Shown as `configuration` by `GET /` (secrets already obfuscated).
    pub configuration: Map<String, Value>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            admin_token: None,
            body_limit: DEFAULT_BODY_LIMIT,
            hostname: hostname(),
            configuration: Map::new(),
        }
    }
}

/// The machine's host name (Linux), or `localhost`.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Connection and request counters (`/status`'s `server` block).
#[derive(Debug, Default)]
pub struct ServerStats {
    accepted: AtomicU64,
    active: AtomicU64,
    handled: AtomicU64,
    requests: AtomicU64,
    in_flight: AtomicU64,
}

impl ServerStats {
    pub fn connection_opened(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        self.active.fetch_add(1, Ordering::Relaxed);
    }

    pub fn connection_closed(&self) {
        self.handled.fetch_add(1, Ordering::Relaxed);
        self.active.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn request_started(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    pub fn request_finished(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// nginx's stub_status names. `handled` counts connections closed so far plus the
    /// open ones (nginx counts a connection as handled once accepted and not refused);
    /// `writing` is requests being processed, `waiting` idle keep-alive connections.
    pub fn snapshot(&self) -> Value {
        let accepted = self.accepted.load(Ordering::Relaxed);
        let active = self.active.load(Ordering::Relaxed);
        let writing = self.in_flight.load(Ordering::Relaxed);
        serde_json::json!({
            "connections_accepted": accepted,
            "connections_active": active,
            "connections_handled": self.handled.load(Ordering::Relaxed) + active,
            "connections_reading": 0,
            "connections_writing": writing,
            "connections_waiting": active.saturating_sub(writing),
            "total_requests": self.requests.load(Ordering::Relaxed),
        })
    }
}

/// Shared by all handlers; cheap to clone.
#[derive(Clone)]
pub struct AdminState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    catalog: &'static Catalog,
    node_id: Uuid,
    config: AdminConfig,
    stats: Arc<ServerStats>,
}

impl AdminState {
    pub fn new(store: Store, node_id: Uuid, config: AdminConfig) -> AdminState {
        AdminState {
            inner: Arc::new(Inner {
                store,
                catalog: common::schema::catalog(),
                node_id,
                config,
                stats: Arc::new(ServerStats::default()),
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn catalog(&self) -> &'static Catalog {
        self.inner.catalog
    }

    pub fn node_id(&self) -> Uuid {
        self.inner.node_id
    }

    pub fn config(&self) -> &AdminConfig {
        &self.inner.config
    }

    /// The counters; the listener updates the connection ones.
    pub fn stats(&self) -> &Arc<ServerStats> {
        &self.inner.stats
    }
}
