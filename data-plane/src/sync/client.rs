//! The sync client: keeps this data plane connected to one of its control planes and applies
//! what they send.
//!
//! Connection: the control planes of `--cluster-control-plane` are tried in turn; after a
//! failure the next one is tried after an exponential backoff with jitter (reset once a
//! session is established), so a fleet does not reconnect in lockstep.
//!
//! Session: Hello (node id, what it serves) -> Welcome or Refusal -> for every snapshot,
//! [`Applier::apply`] then ACK, or NACK with the error (the running configuration stays) ->
//! heartbeats both ways; a control plane silent beyond the heartbeat timeout is left.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::cluster_tls::{MtlsMode, explain_error};
use common::convert::grpc::{CpStream, DEFAULT_MAX_MESSAGE_SIZE, open_sync};
use common::convert::parts::{Assembled, Assembler};
use common::convert::{
    Ack, CAPABILITY_SNAPSHOT_PARTS, CpMessage, DpMessage, Heartbeat, Hello, Nack, NackReason,
    PluginInfo, ServedConfig,
};
use common::snapshot::{EncodedSnapshot, SUPPORTED_FORMATS};
use futures_util::StreamExt;
use rand::Rng;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use uuid::Uuid;

use super::connector;

/// Applies one snapshot: decode, verify, compile, swap, persist. Returning an error means the
/// running configuration is unchanged; the error is sent to the control plane in a NACK.
pub trait Applier: Send + Sync + 'static {
    fn apply(&self, snapshot: EncodedSnapshot) -> ApplyFuture<'_>;
}

/// What [`Applier::apply`] returns (a boxed future keeps the trait usable as `dyn Applier`).
pub type ApplyFuture<'a> =
    std::pin::Pin<Box<dyn Future<Output = Result<(), ApplyError>> + Send + 'a>>;

/// Why a snapshot was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApplyError {
    pub reason: NackReason,
    pub message: String,
}

/// Who this data plane is, as its Hello tells.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub node_id: Uuid,
    pub hostname: String,
    pub version: String,
    pub labels: BTreeMap<String, String>,
    pub plugins: Vec<PluginInfo>,
}

#[derive(Debug, Clone)]
pub struct SyncClientSettings {
    /// `host:port` of each control plane, tried in turn.
    pub control_planes: Vec<String>,
    pub mode: MtlsMode,
    pub tls: Arc<rustls::ClientConfig>,
    /// `--cluster-server-name`; default: the host dialed.
    pub server_name: Option<String>,
    pub node: NodeInfo,
    pub connect_timeout: Duration,
    /// First reconnection delay; doubles per consecutive failure up to `backoff_max`. Each
    /// actual delay is drawn at random from the upper half of that bound.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Used until the control plane's Welcome says otherwise.
    pub heartbeat_interval: Duration,
    pub heartbeat_timeout: Duration,
    pub max_message_size: usize,
    /// Largest snapshot payload accepted (`--cluster-max-payload`); a snapshot sent in parts
    /// is refused at its first part when it announces more.
    pub max_payload: u64,
}

impl SyncClientSettings {
    pub fn new(
        control_planes: Vec<String>,
        mode: MtlsMode,
        tls: Arc<rustls::ClientConfig>,
        node: NodeInfo,
    ) -> Self {
        SyncClientSettings {
            control_planes,
            mode,
            tls,
            server_name: None,
            node,
            connect_timeout: Duration::from_secs(5),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            heartbeat_interval: Duration::from_secs(30),
            heartbeat_timeout: Duration::from_secs(45),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_payload: super::apply::DEFAULT_MAX_PAYLOAD,
        }
    }
}

/// What the client knows, for the status API and metrics.
#[derive(Debug, Default)]
pub struct SyncState {
    connected: AtomicBool,
    serving: Mutex<Option<ServedConfig>>,
    control_plane: Mutex<Option<String>>,
    last_error: Mutex<Option<String>>,
    /// When the served configuration was applied (Unix milliseconds; 0: never).
    applied_at: AtomicU64,
    /// How long the last apply took (decode, verify, compile, swap), in microseconds.
    apply_micros: AtomicU64,
    /// When a control plane last confirmed that the served configuration is its newest
    /// (an ACKed snapshot, or a heartbeat naming the served hash); Unix milliseconds, 0:
    /// never. Its age is what to alert on: it grows while the control plane is away or
    /// this node lags behind.
    confirmed_at: AtomicU64,
}

impl SyncState {
    /// When the served configuration was applied, in Unix milliseconds (`None`: never).
    pub fn applied_at_millis(&self) -> Option<u64> {
        Some(self.applied_at.load(Ordering::Acquire)).filter(|&t| t > 0)
    }

    /// How long the last apply took.
    pub fn last_apply_time(&self) -> Option<Duration> {
        self.applied_at_millis()
            .map(|_| Duration::from_micros(self.apply_micros.load(Ordering::Relaxed)))
    }

    /// When a control plane last confirmed the served configuration as its newest, in
    /// Unix milliseconds (`None`: never).
    pub fn confirmed_at_millis(&self) -> Option<u64> {
        Some(self.confirmed_at.load(Ordering::Acquire)).filter(|&t| t > 0)
    }

    fn applied(&self, took: Duration) {
        self.apply_micros.store(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        self.applied_at.store(unix_millis(), Ordering::Release);
    }

    fn confirmed(&self) {
        self.confirmed_at.store(unix_millis(), Ordering::Release);
    }

    /// Whether a session with a control plane is established.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// The configuration this node serves, as far as sync knows.
    pub fn serving(&self) -> Option<ServedConfig> {
        *lock(&self.serving)
    }

    /// The control plane of the current (or last) session.
    pub fn control_plane(&self) -> Option<String> {
        lock(&self.control_plane).clone()
    }

    /// Why the last session or apply failed.
    pub fn last_error(&self) -> Option<String> {
        lock(&self.last_error).clone()
    }

    fn set_serving(&self, serving: Option<ServedConfig>) {
        *lock(&self.serving) = serving;
    }

    fn set_error(&self, error: String) {
        *lock(&self.last_error) = Some(error);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// How a session ended.
enum SessionEnd {
    /// It never got going (connect, TLS, no Welcome): try the next control plane.
    Failed(String),
    /// The control plane refused this data plane.
    Refused(String),
    /// An established session ended.
    Ended(String),
}

pub struct SyncClient {
    settings: SyncClientSettings,
    applier: Arc<dyn Applier>,
    state: Arc<SyncState>,
}

impl SyncClient {
    /// `serving`: what this node serves already (from its cache), announced in the Hello.
    pub fn new(
        settings: SyncClientSettings,
        applier: Arc<dyn Applier>,
        serving: Option<ServedConfig>,
    ) -> SyncClient {
        let state = Arc::new(SyncState::default());
        if serving.is_some() {
            // Restored from the cache before the client started.
            state.applied(Duration::ZERO);
        }
        state.set_serving(serving);
        SyncClient {
            settings,
            applier,
            state,
        }
    }

    pub fn state(&self) -> Arc<SyncState> {
        self.state.clone()
    }

    /// Runs until `shutdown` resolves.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let count = self.settings.control_planes.len();
        if count == 0 {
            tracing::error!("no control plane configured; the sync client is not running");
            return;
        }
        let mut next = rand::rng().random_range(0..count);
        let mut failures: u32 = 0;
        loop {
            let address = self.settings.control_planes[next % count].clone();
            let end = tokio::select! {
                end = self.session(&address) => end,
                _ = &mut shutdown => return,
            };
            self.state.connected.store(false, Ordering::Release);
            match end {
                SessionEnd::Ended(why) => {
                    tracing::warn!(control_plane = %address, "disconnected from the control plane: {why}");
                    self.state.set_error(why);
                    failures = 0;
                }
                SessionEnd::Failed(why) => {
                    tracing::warn!(control_plane = %address, "cannot sync with the control plane: {why}");
                    self.state.set_error(why);
                    failures = failures.saturating_add(1);
                    next += 1;
                }
                SessionEnd::Refused(why) => {
                    tracing::error!(control_plane = %address, "the control plane refused this data plane: {why}");
                    self.state.set_error(why);
                    failures = failures.saturating_add(1);
                    next += 1;
                }
            }
            let delay = backoff(
                self.settings.backoff_initial,
                self.settings.backoff_max,
                failures,
            );
            tracing::debug!(?delay, "reconnecting after a delay");
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = &mut shutdown => return,
            }
        }
    }

    async fn session(&self, address: &str) -> SessionEnd {
        let s = &self.settings;
        let channel = match connector::connect(
            address,
            s.mode,
            s.tls.clone(),
            s.server_name.as_deref(),
            s.connect_timeout,
        )
        .await
        {
            Ok(channel) => channel,
            Err(e) => return SessionEnd::Failed(e.0),
        };
        let (tx, rx) = mpsc::channel(8);
        let hello = DpMessage::Hello(Hello {
            node_id: s.node.node_id,
            hostname: s.node.hostname.clone(),
            version: s.node.version.clone(),
            labels: s.node.labels.clone(),
            plugins: s.node.plugins.clone(),
            serving: self.state.serving(),
            capabilities: vec![CAPABILITY_SNAPSHOT_PARTS.to_owned()],
            snapshot_formats: SUPPORTED_FORMATS.to_vec(),
        });
        if tx.send(hello).await.is_err() {
            return SessionEnd::Failed("internal: outbound stream closed".into());
        }
        let mut inbound =
            match open_sync(channel, ReceiverStream::new(rx), s.max_message_size).await {
                Ok(inbound) => inbound,
                Err(status) => return SessionEnd::Failed(explain_error(&status)),
            };
        let first = tokio::time::timeout(s.heartbeat_timeout, inbound.next()).await;
        let (interval, timeout) = match first {
            Ok(Some(Ok(CpMessage::Welcome(w)))) => {
                tracing::info!(
                    control_plane = %address,
                    cp_version = %w.version,
                    "connected to the control plane"
                );
                (w.heartbeat_interval, w.heartbeat_timeout)
            }
            Ok(Some(Ok(CpMessage::Refusal(r)))) => {
                return SessionEnd::Refused(format!("{} ({})", r.reason, r.sync_status.as_str()));
            }
            Ok(Some(Ok(_))) => {
                return SessionEnd::Failed("the control plane did not start with a welcome".into());
            }
            Ok(Some(Err(e))) => return SessionEnd::Failed(explain_error(&e)),
            Ok(None) => return SessionEnd::Failed("the control plane closed the stream".into()),
            Err(_) => {
                return SessionEnd::Failed(format!(
                    "no answer from the control plane within {:?}",
                    s.heartbeat_timeout
                ));
            }
        };
        self.state.connected.store(true, Ordering::Release);
        *lock(&self.state.control_plane) = Some(address.to_owned());
        SessionEnd::Ended(self.serve(inbound, tx, interval, timeout).await)
    }

    /// An established session; returns why it ended.
    async fn serve(
        &self,
        mut inbound: CpStream,
        tx: mpsc::Sender<DpMessage>,
        interval: Duration,
        timeout: Duration,
    ) -> String {
        let mut heartbeat = tokio::time::interval_at(Instant::now() + interval, interval);
        let mut last_seen = Instant::now();
        let mut assembler = Assembler::new(self.settings.max_payload);
        loop {
            tokio::select! {
                message = inbound.next() => {
                    last_seen = Instant::now();
                    let reply = match message {
                        None => return "the control plane closed the stream".into(),
                        Some(Err(e)) => return explain_error(&e),
                        Some(Ok(CpMessage::Snapshot(snapshot))) => self.apply(snapshot).await,
                        Some(Ok(CpMessage::SnapshotHead { snapshot, payload_size })) => {
                            match assembler.head(snapshot, payload_size) {
                                Ok(step) => self.assembled(step).await,
                                Err(e) => return format!("protocol error: {e}"),
                            }
                        }
                        Some(Ok(CpMessage::SnapshotPart(data))) => match assembler.part(data) {
                            Ok(step) => self.assembled(step).await,
                            Err(e) => return format!("protocol error: {e}"),
                        },
                        Some(Ok(CpMessage::Delta(delta))) => Some(DpMessage::Nack(Nack {
                            version: delta.update.version,
                            hash: delta.update.hash,
                            reason: NackReason::DeltaBaseMismatch,
                            error: "this data plane does not apply deltas; send a snapshot".into(),
                        })),
                        Some(Ok(CpMessage::Heartbeat(beat))) => {
                            if beat.config.is_some()
                                && beat.config.map(|c| c.hash) == self.state.serving().map(|s| s.hash)
                            {
                                self.state.confirmed();
                            }
                            None
                        }
                        Some(Ok(CpMessage::Welcome(_) | CpMessage::Refusal(_))) => {
                            return "protocol error: unexpected welcome or refusal".into();
                        }
                    };
                    if let Some(reply) = reply
                        && tx.send(reply).await.is_err()
                    {
                        return "the stream to the control plane closed".into();
                    }
                }
                _ = heartbeat.tick() => {
                    let beat = DpMessage::Heartbeat(Heartbeat {
                        sent_unix_millis: unix_millis(),
                        config: self.state.serving(),
                    });
                    let _ = tx.try_send(beat);
                }
                _ = tokio::time::sleep_until(last_seen + timeout) => {
                    return format!("no heartbeat from the control plane within {timeout:?}");
                }
            }
        }
    }

    /// What to do once a message of a snapshot sent in parts was taken in.
    async fn assembled(&self, step: Assembled) -> Option<DpMessage> {
        match step {
            Assembled::Incomplete => None,
            Assembled::Complete(snapshot) => self.apply(snapshot).await,
            Assembled::Refused(head, error) => {
                Some(self.refuse(head.version, head.hash, NackReason::Decode, error))
            }
        }
    }

    fn refuse(
        &self,
        version: u64,
        hash: common::snapshot::ConfigHash,
        reason: NackReason,
        error: String,
    ) -> DpMessage {
        tracing::warn!(
            config_version = version,
            %hash,
            reason = reason.as_str(),
            "refused configuration; still serving the previous one: {error}"
        );
        self.state.set_error(error.clone());
        DpMessage::Nack(Nack {
            version,
            hash,
            reason,
            error,
        })
    }

    /// Applies a snapshot and says what to answer.
    async fn apply(&self, snapshot: EncodedSnapshot) -> Option<DpMessage> {
        let (version, hash) = (snapshot.version, snapshot.hash);
        let started = std::time::Instant::now();
        if self.state.serving().map(|s| s.hash) == Some(hash) {
            // Same content (perhaps under a newer version): nothing to rebuild.
            self.state.set_serving(Some(ServedConfig { version, hash }));
        } else if let Err(e) = self.applier.apply(snapshot).await {
            return Some(self.refuse(version, hash, e.reason, e.message));
        } else {
            self.state.set_serving(Some(ServedConfig { version, hash }));
            self.state.applied(started.elapsed());
            tracing::info!(config_version = version, %hash, "applied configuration");
        }
        self.state.confirmed();
        Some(DpMessage::Ack(Ack {
            version,
            hash,
            apply_time: started.elapsed(),
        }))
    }
}

/// Exponential backoff with "equal jitter": a random delay in the upper half of
/// `initial * 2^failures`, capped at `max`.
pub fn backoff(initial: Duration, max: Duration, failures: u32) -> Duration {
    let bound = initial
        .saturating_mul(2u32.saturating_pow(failures.min(16)))
        .min(max)
        .max(Duration::from_millis(1));
    let half = bound / 2;
    half + (bound - half).mul_f64(rand::rng().random::<f64>())
}

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let initial = Duration::from_millis(100);
        let max = Duration::from_secs(5);
        for failures in 0..40 {
            let bound = (initial * 2u32.pow(failures.min(16))).min(max);
            for _ in 0..20 {
                let d = backoff(initial, max, failures);
                assert!(
                    d >= bound / 2 && d <= bound,
                    "{failures}: {d:?} vs {bound:?}"
                );
            }
        }
        let samples: std::collections::HashSet<Duration> =
            (0..20).map(|_| backoff(initial, max, 3)).collect();
        assert!(samples.len() > 1, "jitter varies the delay");
    }
}
