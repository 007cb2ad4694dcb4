//! The sync server: one session per data plane stream.
//!
//! A session waits for the data plane's Hello, checks versions (refusing an incompatible data
//! plane with a `Refusal`), then keeps the data plane on the newest configuration: whenever
//! the snapshot source publishes a version whose hash differs from what the data plane
//! serves, that snapshot is sent — at most one waiting at a time, so a data plane that is
//! behind gets the newest version, not every intermediate one. ACKs, NACKs and heartbeats
//! update the [`DataPlaneRegistry`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::cluster_tls::cert_details;
use common::convert::grpc::{CpOutbound, DpStream, PeerInfo, StreamError, SyncHandler};
use common::convert::{
    CAPABILITY_SNAPSHOT_PARTS, CpMessage, DpMessage, Heartbeat, Hello, Refusal, ServedConfig,
    SyncStatus, Welcome, parts,
};
use common::snapshot::{ConfigHash, EncodedSnapshot, FORMAT};
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use tracing::Instrument;
use uuid::Uuid;

use super::compat::{Incompatible, check_plugins, check_version};
use super::registry::{DataPlaneRegistry, SessionKey};

/// A configuration version ready to serve.
#[derive(Debug)]
pub struct PublishedSnapshot {
    pub snapshot: EncodedSnapshot,
    /// Every plugin the configuration uses, with the control plane's version of it, for
    /// Kong's plugin compatibility check.
    pub plugins: BTreeMap<String, String>,
}

/// Why a configuration could not be published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Invalid(#[from] common::snapshot::VerifyError),
    #[error(transparent)]
    Encode(#[from] common::snapshot::EncodeError),
}

impl PublishedSnapshot {
    /// Checks `config` (the same structural checks a data plane runs, so a snapshot that
    /// every data plane would refuse is never published), encodes it once as `version`, and
    /// records the plugins it uses; `plugin_version` is the control plane's version of a
    /// plugin (`publisher::plugin_version`: its `PluginDef.version` in the catalog).
    pub fn build(
        version: u64,
        config: &common::snapshot::ConfigSet,
        plugin_version: impl Fn(&str) -> String,
    ) -> Result<PublishedSnapshot, PublishError> {
        config.verify()?;
        let snapshot = EncodedSnapshot::encode(version, config)?;
        let plugins = config
            .plugins
            .iter()
            .map(|p| (p.name.clone(), plugin_version(&p.name)))
            .collect();
        Ok(PublishedSnapshot { snapshot, plugins })
    }
}

/// Where sessions get the newest configuration from. `None` until the first snapshot is
/// built. Dropping the sender ends every session (the control plane is shutting down).
pub type SnapshotSource = watch::Receiver<Option<Arc<PublishedSnapshot>>>;

/// Kong's `CLUSTERING_PING_INTERVAL`.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(30);
/// Kong's ping wait: 1.5 times the interval.
pub const DEFAULT_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(45);

#[derive(Debug, Clone)]
pub struct SyncServerSettings {
    /// This control plane's Portico version (compared with each data plane's).
    pub version: String,
    pub node_id: Uuid,
    pub heartbeat_interval: Duration,
    /// A data plane silent for longer is considered gone; also the time allowed for Hello.
    pub heartbeat_timeout: Duration,
}

impl Default for SyncServerSettings {
    fn default() -> Self {
        SyncServerSettings {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            node_id: Uuid::new_v4(),
            heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            heartbeat_timeout: DEFAULT_HEARTBEAT_TIMEOUT,
        }
    }
}

/// The control plane's [`SyncHandler`].
pub struct SyncServer {
    settings: SyncServerSettings,
    snapshots: SnapshotSource,
    registry: DataPlaneRegistry,
}

impl SyncServer {
    pub fn new(
        settings: SyncServerSettings,
        snapshots: SnapshotSource,
        registry: DataPlaneRegistry,
    ) -> Arc<SyncServer> {
        Arc::new(SyncServer {
            settings,
            snapshots,
            registry,
        })
    }

    pub fn registry(&self) -> &DataPlaneRegistry {
        &self.registry
    }
}

/// Messages waiting to be sent per stream; snapshots never queue here (see `pending`).
const OUTBOUND_CAPACITY: usize = 4;

#[tonic::async_trait]
impl SyncHandler for SyncServer {
    async fn session(&self, peer: PeerInfo, inbound: DpStream) -> Result<CpOutbound, Status> {
        let (tx, rx) = mpsc::channel(OUTBOUND_CAPACITY);
        let session = Session {
            settings: self.settings.clone(),
            registry: self.registry.clone(),
            snapshots: self.snapshots.clone(),
            peer,
            tx,
        };
        tokio::spawn(session.run(inbound));
        Ok(Box::pin(ReceiverStream::new(rx)))
    }
}

struct Session {
    settings: SyncServerSettings,
    registry: DataPlaneRegistry,
    snapshots: SnapshotSource,
    peer: PeerInfo,
    tx: mpsc::Sender<CpMessage>,
}

/// What a session knows about its data plane's configuration.
struct Sync {
    /// What the data plane says it serves.
    serving: Option<ServedConfig>,
    /// The last snapshot sent, acknowledged or not: never sent twice in a row.
    sent: Option<ConfigHash>,
    /// A snapshot was sent and its ACK or NACK has not arrived yet. Nothing else is sent
    /// meanwhile, so versions published during an apply coalesce into the newest one.
    in_flight: bool,
    /// The newest snapshot, waiting for the in-flight one to be answered.
    pending: Option<Arc<PublishedSnapshot>>,
    /// The snapshot being sent and the index of its next message (see `parts::split`).
    sending: Option<(Arc<PublishedSnapshot>, usize)>,
    /// Bytes per message of a snapshot's payload: `parts::PART_SIZE` for a data plane that
    /// reassembles parts, else the whole payload in one message.
    part_size: usize,
}

impl Session {
    async fn run(self, mut inbound: DpStream) {
        let remote = self.peer.remote_addr;
        let Some(hello) = self.receive_hello(&mut inbound).await else {
            return;
        };
        let span = tracing::info_span!(
            "data_plane",
            node_id = %hello.node_id,
            hostname = %hello.hostname,
            ip = %remote.map(|a| a.ip().to_string()).unwrap_or_default(),
            version = %hello.version
        );
        self.after_hello(hello, inbound).instrument(span).await;
    }

    async fn after_hello(self, hello: Hello, inbound: DpStream) {
        let remote = self.peer.remote_addr;
        let expiry = self
            .peer
            .certificates
            .first()
            .and_then(cert_details)
            .map(|d| d.expiry_timestamp);
        let node = self
            .registry
            .hello(&hello, remote.map(|a: SocketAddr| a.ip()), expiry);

        if let Err(refusal) = self.compatible(&hello) {
            tracing::warn!("refusing data plane: {}", refusal.reason);
            self.registry
                .set_status(node, refusal.status, Some(refusal.reason.clone()));
            let _ = self
                .tx
                .send(CpMessage::Refusal(Refusal {
                    sync_status: refusal.status,
                    reason: refusal.reason,
                }))
                .await;
            self.registry.disconnected(node);
            return;
        }
        let welcome = CpMessage::Welcome(Welcome {
            version: self.settings.version.clone(),
            node_id: self.settings.node_id,
            heartbeat_interval: self.settings.heartbeat_interval,
            heartbeat_timeout: self.settings.heartbeat_timeout,
        });
        if self.tx.send(welcome).await.is_err() {
            self.registry.disconnected(node);
            return;
        }
        tracing::info!("data plane connected");
        let end = self.serve(node, &hello, inbound).await;
        tracing::info!("data plane session ended: {end}");
        self.registry.disconnected(node);
    }

    async fn receive_hello(&self, inbound: &mut DpStream) -> Option<Hello> {
        let remote = self
            .peer
            .remote_addr
            .map(|a| a.to_string())
            .unwrap_or_default();
        match tokio::time::timeout(self.settings.heartbeat_timeout, inbound.next()).await {
            Ok(Some(Ok(DpMessage::Hello(hello)))) => Some(hello),
            Ok(Some(Ok(_))) => {
                tracing::warn!(peer = %remote, "data plane sent a message before its hello; closing");
                None
            }
            Ok(Some(Err(e))) => {
                tracing::warn!(peer = %remote, "data plane stream failed before hello: {e}");
                None
            }
            Ok(None) => None,
            Err(_) => {
                tracing::warn!(
                    peer = %remote,
                    "no hello from data plane within {:?}; closing",
                    self.settings.heartbeat_timeout
                );
                None
            }
        }
    }

    fn compatible(&self, hello: &Hello) -> Result<(), Incompatible> {
        check_version(&self.settings.version, &hello.version)?;
        if !hello.snapshot_formats.is_empty() && !hello.snapshot_formats.contains(&FORMAT) {
            return Err(Incompatible {
                status: SyncStatus::KongVersionIncompatible,
                reason: format!(
                    "data plane reads snapshot formats {:?}; this control plane writes format {FORMAT}",
                    hello.snapshot_formats
                ),
            });
        }
        Ok(())
    }

    /// The session's main loop; returns why it ended.
    async fn serve(&self, node: SessionKey, hello: &Hello, mut inbound: DpStream) -> String {
        let mut sync = Sync {
            serving: hello.serving,
            sent: None,
            in_flight: false,
            pending: None,
            sending: None,
            part_size: if hello
                .capabilities
                .iter()
                .any(|c| c == CAPABILITY_SNAPSHOT_PARTS)
            {
                parts::PART_SIZE
            } else {
                usize::MAX
            },
        };
        let mut snapshots = self.snapshots.clone();
        let newest = snapshots.borrow_and_update().clone();
        self.consider(node, hello, &mut sync, newest);
        // The first tick is immediate: a data plane that already serves the newest
        // configuration learns at once that it is current (its config age metric).
        let mut heartbeat = tokio::time::interval(self.settings.heartbeat_interval);
        let mut last_seen = Instant::now();
        loop {
            tokio::select! {
                changed = snapshots.changed() => {
                    if changed.is_err() {
                        return "the control plane is shutting down".into();
                    }
                    let newest = snapshots.borrow_and_update().clone();
                    self.consider(node, hello, &mut sync, newest);
                }
                permit = self.tx.reserve(),
                    if sync.sending.is_some() || (sync.pending.is_some() && !sync.in_flight) =>
                {
                    let Ok(permit) = permit else {
                        return "the data plane went away".into();
                    };
                    if sync.sending.is_none()
                        && let Some(published) = sync.pending.take()
                    {
                        let snapshot = &published.snapshot;
                        tracing::debug!(
                            config_version = snapshot.version,
                            hash = %snapshot.hash,
                            bytes = snapshot.payload.len(),
                            "sending snapshot"
                        );
                        sync.sent = Some(snapshot.hash);
                        sync.in_flight = true;
                        sync.sending = Some((published, 0));
                    }
                    // One message per permit: parts wait for room in the stream like
                    // everything else, so a slow data plane holds one part, not the payload.
                    if let Some((published, index)) = sync.sending.take()
                        && let Some(message) = parts::split(&published.snapshot, sync.part_size, index)
                    {
                        permit.send(message);
                        let more = (index + 1)
                            .checked_mul(sync.part_size)
                            .is_some_and(|start| start < published.snapshot.payload.len());
                        if more {
                            sync.sending = Some((published, index + 1));
                        }
                    }
                }
                message = inbound.next() => {
                    last_seen = Instant::now();
                    match message {
                        None => return "the data plane closed the stream".into(),
                        Some(Err(StreamError::Malformed(e))) => {
                            tracing::warn!("malformed message from data plane: {e}");
                            return format!("malformed message: {e}");
                        }
                        Some(Err(e)) => return e.to_string(),
                        Some(Ok(message)) => {
                            if let Err(e) = self.handle(node, &mut sync, message) {
                                tracing::warn!("{e}");
                                return e;
                            }
                            // What the data plane serves may have changed: re-decide.
                            if let Some(pending) = sync.pending.take() {
                                self.consider(node, hello, &mut sync, Some(pending));
                            }
                        }
                    }
                }
                _ = heartbeat.tick() => {
                    let newest = snapshots.borrow().as_ref().map(|p| ServedConfig {
                        version: p.snapshot.version,
                        hash: p.snapshot.hash,
                    });
                    // Skipped when the stream is full: the data plane is clearly alive to us
                    // only through what it sends, and a full stream will be read eventually.
                    let _ = self.tx.try_send(CpMessage::Heartbeat(Heartbeat {
                        sent_unix_millis: unix_millis(),
                        config: newest,
                    }));
                }
                _ = tokio::time::sleep_until(last_seen + self.settings.heartbeat_timeout) => {
                    let why = format!(
                        "no heartbeat from the data plane within {:?}",
                        self.settings.heartbeat_timeout
                    );
                    tracing::warn!("{why}; closing");
                    return why;
                }
            }
        }
    }

    /// Decides whether `newest` must be sent.
    fn consider(
        &self,
        node: SessionKey,
        hello: &Hello,
        sync: &mut Sync,
        newest: Option<Arc<PublishedSnapshot>>,
    ) {
        let Some(newest) = newest else { return };
        let hash = newest.snapshot.hash;
        if sync.serving.map(|s| s.hash) == Some(hash) {
            sync.pending = None;
            self.registry.set_status(node, SyncStatus::Normal, None);
            return;
        }
        if sync.sent == Some(hash) {
            return;
        }
        if let Err(e) = check_plugins(&newest.plugins, &hello.plugins) {
            tracing::warn!(
                config_version = newest.snapshot.version,
                "not sending the configuration: {}",
                e.reason
            );
            sync.pending = None;
            self.registry.set_status(node, e.status, Some(e.reason));
            return;
        }
        sync.pending = Some(newest);
    }

    fn handle(&self, node: SessionKey, sync: &mut Sync, message: DpMessage) -> Result<(), String> {
        match message {
            DpMessage::Hello(_) => return Err("data plane sent a second hello; closing".into()),
            DpMessage::Ack(ack) => {
                tracing::info!(
                    config_version = ack.version,
                    hash = %ack.hash,
                    apply_ms = ack.apply_time.as_secs_f64() * 1000.0,
                    "data plane applied the configuration"
                );
                let serving = ServedConfig {
                    version: ack.version,
                    hash: ack.hash,
                };
                sync.serving = Some(serving);
                sync.in_flight = false;
                self.registry.set_serving(node, Some(serving));
                self.registry.set_status(node, SyncStatus::Normal, None);
                self.registry.update(node, |dp| {
                    dp.last_apply_ms = Some((ack.apply_time.as_secs_f64() * 1e6).round() / 1e3);
                });
            }
            DpMessage::Nack(nack) => {
                tracing::warn!(
                    config_version = nack.version,
                    hash = %nack.hash,
                    reason = nack.reason.as_str(),
                    "data plane refused the configuration: {}",
                    nack.error
                );
                let error = format!(
                    "configuration version {} ({}) refused ({}): {}",
                    nack.version,
                    nack.hash,
                    nack.reason.as_str(),
                    nack.error
                );
                sync.in_flight = false;
                self.registry.update(node, |dp| dp.last_error = Some(error));
            }
            DpMessage::Heartbeat(beat) => {
                sync.serving = beat.config;
                self.registry.set_serving(node, beat.config);
            }
        }
        Ok(())
    }
}

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
