//! The data planes this control plane has seen, for `GET /clustering/data-planes`.
//!
//! Kept in memory per control plane process: a data plane appears here once it has sent a
//! Hello to this process. Entries outlive the connection (with `connected: false`) until
//! `ttl` seconds after they were last seen, like Kong's `cluster_data_plane_purge_delay`.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use common::convert::{Hello, ServedConfig, SyncStatus};
use serde::Serialize;
use tokio::sync::mpsc;
use uuid::Uuid;

/// Kong's default `cluster_data_plane_purge_delay`: 14 days.
pub const DEFAULT_PURGE_DELAY_SECS: u64 = 14 * 24 * 3600;

/// Kong's config hash for "no configuration".
pub const EMPTY_CONFIG_HASH: &str = "00000000000000000000000000000000";

/// One data plane, with Kong's field names plus what Kong lacks (`config_version`,
/// `last_error`, `connected`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataPlaneStatus {
    pub id: Uuid,
    pub hostname: String,
    pub ip: Option<IpAddr>,
    pub version: String,
    /// The hash of the configuration it serves ([`EMPTY_CONFIG_HASH`] when none).
    pub config_hash: String,
    /// The version of the configuration it serves (0 when none).
    pub config_version: u64,
    /// Epoch seconds.
    pub last_seen: u64,
    pub updated_at: u64,
    pub created_at: u64,
    pub sync_status: &'static str,
    /// Why the last snapshot was refused by the data plane, or why it is not sent.
    pub last_error: Option<String>,
    /// How long the data plane took to apply the last snapshot it acknowledged (decode,
    /// verify, compile, swap), in milliseconds.
    pub last_apply_ms: Option<f64>,
    pub labels: BTreeMap<String, String>,
    pub cert_details: CertDetails,
    /// Seconds until the entry is purged if the data plane stays away.
    pub ttl: u64,
    pub connected: bool,
    /// Which session of this data plane owns the entry: a reconnected data plane's new
    /// session must not be marked gone when its old session times out later.
    #[serde(skip)]
    session: u64,
}

/// Identifies one session of one data plane in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionKey {
    pub id: Uuid,
    session: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CertDetails {
    pub expiry_timestamp: Option<i64>,
}

/// Shared, cheap to clone.
#[derive(Debug, Clone)]
pub struct DataPlaneRegistry {
    inner: Arc<RwLock<HashMap<Uuid, DataPlaneStatus>>>,
    sessions: Arc<std::sync::atomic::AtomicU64>,
    ended: Arc<std::sync::atomic::AtomicU64>,
    purge_delay: u64,
    /// Where every change is also sent (the database writer of `fleet.rs`), if anywhere.
    sink: Option<mpsc::UnboundedSender<DataPlaneStatus>>,
}

impl Default for DataPlaneRegistry {
    fn default() -> Self {
        DataPlaneRegistry::new(DEFAULT_PURGE_DELAY_SECS)
    }
}

impl DataPlaneRegistry {
    pub fn new(purge_delay_secs: u64) -> Self {
        DataPlaneRegistry {
            inner: Arc::default(),
            sessions: Arc::default(),
            ended: Arc::default(),
            purge_delay: purge_delay_secs,
            sink: None,
        }
    }

    /// Also sends every changed entry to `sink`.
    pub fn with_sink(mut self, sink: mpsc::UnboundedSender<DataPlaneStatus>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Seconds a disconnected data plane stays listed.
    pub fn purge_delay(&self) -> u64 {
        self.purge_delay
    }

    fn changed(&self, status: &DataPlaneStatus) {
        if let Some(sink) = &self.sink {
            // The writer is gone only while the process stops; nothing to keep then.
            let _ = sink.send(status.clone());
        }
    }

    /// Every known data plane, by id; expired entries are dropped.
    pub fn list(&self) -> Vec<DataPlaneStatus> {
        let now = now_secs();
        let mut map = self.write();
        map.retain(|_, dp| dp.connected || now.saturating_sub(dp.last_seen) < self.purge_delay);
        let mut list: Vec<DataPlaneStatus> = map
            .values()
            .cloned()
            .map(|mut dp| {
                dp.ttl = self
                    .purge_delay
                    .saturating_sub(now.saturating_sub(dp.last_seen));
                dp
            })
            .collect();
        list.sort_by_key(|dp| dp.id);
        list
    }

    pub fn get(&self, id: Uuid) -> Option<DataPlaneStatus> {
        self.list().into_iter().find(|dp| dp.id == id)
    }

    /// A data plane said hello: it now belongs to this session.
    pub(crate) fn hello(
        &self,
        hello: &Hello,
        ip: Option<IpAddr>,
        cert_expiry: Option<i64>,
    ) -> SessionKey {
        let session = self
            .sessions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let now = now_secs();
        let mut map = self.write();
        let created_at = map.get(&hello.node_id).map_or(now, |dp| dp.created_at);
        let status = DataPlaneStatus {
            id: hello.node_id,
            hostname: hello.hostname.clone(),
            ip,
            version: hello.version.clone(),
            config_hash: served_hash(hello.serving),
            config_version: hello.serving.map_or(0, |s| s.version),
            last_seen: now,
            updated_at: now,
            created_at,
            sync_status: SyncStatus::Unknown.as_str(),
            last_error: None,
            last_apply_ms: None,
            labels: hello.labels.clone(),
            cert_details: CertDetails {
                expiry_timestamp: cert_expiry,
            },
            ttl: self.purge_delay,
            connected: true,
            session,
        };
        self.changed(&status);
        map.insert(hello.node_id, status);
        SessionKey {
            id: hello.node_id,
            session,
        }
    }

    /// Applies `f` if `key`'s session still owns the entry.
    pub(crate) fn update(&self, key: SessionKey, f: impl FnOnce(&mut DataPlaneStatus)) {
        if let Some(dp) = self
            .write()
            .get_mut(&key.id)
            .filter(|dp| dp.session == key.session)
        {
            let now = now_secs();
            dp.last_seen = now;
            dp.updated_at = now;
            f(dp);
            self.changed(dp);
        }
    }

    pub(crate) fn set_serving(&self, key: SessionKey, serving: Option<ServedConfig>) {
        self.update(key, |dp| {
            dp.config_hash = served_hash(serving);
            dp.config_version = serving.map_or(0, |s| s.version);
        });
    }

    pub(crate) fn set_status(&self, key: SessionKey, status: SyncStatus, error: Option<String>) {
        self.update(key, |dp| {
            dp.sync_status = status.as_str();
            dp.last_error = error;
        });
    }

    /// A session ended (whether or not it still owned its data plane's entry).
    pub(crate) fn disconnected(&self, key: SessionKey) {
        self.update(key, |dp| dp.connected = false);
        self.ended
            .fetch_add(1, std::sync::atomic::Ordering::Release);
    }

    /// How many sessions have ended since start (for metrics and tests).
    pub fn sessions_ended(&self) -> u64 {
        self.ended.load(std::sync::atomic::Ordering::Acquire)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Uuid, DataPlaneStatus>> {
        // A panic while holding the lock cannot leave a status half-written in a way that
        // matters; keep serving the registry.
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }
}

fn served_hash(serving: Option<ServedConfig>) -> String {
    serving.map_or_else(|| EMPTY_CONFIG_HASH.to_owned(), |s| s.hash.to_hex())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
