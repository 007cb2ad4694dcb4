//! Domain messages of the CP<->DP sync protocol (`proto/portico/v1/sync.proto`), validated:
//! a value of these types is well-formed, whatever the peer sent.

use std::collections::BTreeMap;
use std::time::Duration;

use uuid::Uuid;

use crate::snapshot::{ConfigHash, EncodedSnapshot};

/// A configuration a node serves (or has): its version and content hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServedConfig {
    pub version: u64,
    pub hash: ConfigHash,
}

/// A plugin compiled into a data plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
}

/// The data plane's first message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub node_id: Uuid,
    pub hostname: String,
    /// Portico version of the data plane (semver).
    pub version: String,
    pub labels: BTreeMap<String, String>,
    pub plugins: Vec<PluginInfo>,
    /// What it serves now; `None` when it serves nothing yet.
    pub serving: Option<ServedConfig>,
    /// Optional protocol features, e.g. [`CAPABILITY_DELTA`].
    pub capabilities: Vec<String>,
    /// Snapshot payload formats it can decode.
    pub snapshot_formats: Vec<u32>,
}

/// The capability a data plane announces when it can apply [`Delta`]s.
pub const CAPABILITY_DELTA: &str = "delta";
/// A data plane that reassembles snapshots sent in parts ([`CpMessage::SnapshotHead`] then
/// [`CpMessage::SnapshotPart`]s).
pub const CAPABILITY_SNAPSHOT_PARTS: &str = "snapshot-parts";

/// The control plane accepted the data plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    pub version: String,
    pub node_id: Uuid,
    pub heartbeat_interval: Duration,
    pub heartbeat_timeout: Duration,
}

/// Kong's `sync_status` of a data plane, as `/clustering/data-planes` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncStatus {
    Unknown,
    Normal,
    KongVersionIncompatible,
    PluginSetIncompatible,
    PluginVersionIncompatible,
}

impl SyncStatus {
    /// Kong's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncStatus::Unknown => "unknown",
            SyncStatus::Normal => "normal",
            SyncStatus::KongVersionIncompatible => "kong_version_incompatible",
            SyncStatus::PluginSetIncompatible => "plugin_set_incompatible",
            SyncStatus::PluginVersionIncompatible => "plugin_version_incompatible",
        }
    }
}

/// The control plane will not serve this data plane; the stream ends after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub sync_status: SyncStatus,
    pub reason: String,
}

/// The data plane applied a snapshot (or delta) and now serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub version: u64,
    pub hash: ConfigHash,
    /// Decode + verify + compile + swap.
    pub apply_time: Duration,
}

/// Why a data plane refused a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NackReason {
    Unspecified,
    /// Unknown format or encoding, corrupt or truncated bytes, hash mismatch.
    Decode,
    /// Decoded, but not a valid configuration (dangling references, duplicate ids).
    Invalid,
    /// Valid, but the runtime could not be built from it.
    Apply,
    /// A delta whose base is not what the data plane serves.
    DeltaBaseMismatch,
}

impl NackReason {
    pub fn as_str(self) -> &'static str {
        match self {
            NackReason::Unspecified => "unspecified",
            NackReason::Decode => "decode",
            NackReason::Invalid => "invalid",
            NackReason::Apply => "apply",
            NackReason::DeltaBaseMismatch => "delta_base_mismatch",
        }
    }
}

/// The data plane refused a snapshot and keeps serving what it served before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nack {
    pub version: u64,
    pub hash: ConfigHash,
    pub reason: NackReason,
    /// Human-readable cause (at most [`MAX_ERROR_LEN`] bytes; longer text is cut).
    pub error: String,
}

/// Sent by both sides every heartbeat interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    pub sent_unix_millis: u64,
    /// What the sender serves (DP) or the newest configuration it has (CP).
    pub config: Option<ServedConfig>,
}

/// Reserved for incremental updates: `update.payload` holds the changed and removed entities
/// since `base`; `update.hash` is the hash of the full resulting configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delta {
    pub base: ServedConfig,
    pub update: EncodedSnapshot,
}

/// Every message a data plane sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DpMessage {
    Hello(Hello),
    Ack(Ack),
    Nack(Nack),
    Heartbeat(Heartbeat),
}

/// Every message a control plane sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CpMessage {
    Welcome(Welcome),
    Refusal(Refusal),
    Snapshot(EncodedSnapshot),
    /// A snapshot whose payload is sent in parts: this carries the first part (in
    /// `snapshot.payload`); [`CpMessage::SnapshotPart`]s follow until `payload_size` bytes.
    SnapshotHead {
        snapshot: EncodedSnapshot,
        payload_size: u64,
    },
    SnapshotPart(bytes::Bytes),
    Delta(Delta),
    Heartbeat(Heartbeat),
}

/// Longest accepted NACK error text; longer text is cut (at a character boundary).
pub const MAX_ERROR_LEN: usize = 4096;
/// Limits on a Hello, so one peer cannot make the registry hold unbounded data.
pub const MAX_LABELS: usize = 64;
pub const MAX_PLUGINS: usize = 1024;
pub const MAX_SHORT_TEXT: usize = 255;
