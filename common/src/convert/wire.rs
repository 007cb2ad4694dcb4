//! Conversion between the generated protobuf types and the domain messages. Outgoing
//! conversion is infallible; incoming conversion validates every field and names the first
//! one that is wrong.

use std::time::Duration;

use uuid::Uuid;

use super::ConvertError;
use super::messages::*;
use crate::proto;
use crate::proto::{control_plane_message as cpm, data_plane_message as dpm};
use crate::snapshot::{ConfigHash, EncodedSnapshot, PayloadEncoding};

// ---- data plane -> control plane ------------------------------------------------------------

impl From<DpMessage> for proto::DataPlaneMessage {
    fn from(message: DpMessage) -> Self {
        let kind = match message {
            DpMessage::Hello(h) => dpm::Kind::Hello(proto::Hello {
                node_id: h.node_id.to_string(),
                hostname: h.hostname,
                version: h.version,
                labels: h.labels.into_iter().collect(),
                plugins: h
                    .plugins
                    .into_iter()
                    .map(|p| proto::PluginInfo {
                        name: p.name,
                        version: p.version,
                    })
                    .collect(),
                config_version: h.serving.map_or(0, |s| s.version),
                config_hash: h.serving.map(|s| s.hash.to_hex()).unwrap_or_default(),
                capabilities: h.capabilities,
                snapshot_formats: h.snapshot_formats,
            }),
            DpMessage::Ack(a) => dpm::Kind::Ack(proto::Ack {
                version: a.version,
                hash: a.hash.to_hex(),
                apply_micros: u64::try_from(a.apply_time.as_micros()).unwrap_or(u64::MAX),
            }),
            DpMessage::Nack(n) => dpm::Kind::Nack(proto::Nack {
                version: n.version,
                hash: n.hash.to_hex(),
                error: n.error,
                reason: nack_reason_to_proto(n.reason) as i32,
            }),
            DpMessage::Heartbeat(h) => dpm::Kind::Heartbeat(heartbeat_to_proto(h)),
        };
        proto::DataPlaneMessage { kind: Some(kind) }
    }
}

impl TryFrom<proto::DataPlaneMessage> for DpMessage {
    type Error = ConvertError;

    fn try_from(message: proto::DataPlaneMessage) -> Result<Self, Self::Error> {
        match message.kind {
            None => Err(ConvertError::Empty("DataPlaneMessage")),
            Some(dpm::Kind::Hello(h)) => hello_from_proto(h).map(DpMessage::Hello),
            Some(dpm::Kind::Ack(a)) => Ok(DpMessage::Ack(Ack {
                version: a.version,
                hash: hash("ack.hash", &a.hash)?,
                apply_time: Duration::from_micros(a.apply_micros),
            })),
            Some(dpm::Kind::Nack(n)) => Ok(DpMessage::Nack(Nack {
                version: n.version,
                hash: hash("nack.hash", &n.hash)?,
                reason: nack_reason_from_proto(n.reason)?,
                error: truncate(n.error, MAX_ERROR_LEN),
            })),
            Some(dpm::Kind::Heartbeat(h)) => heartbeat_from_proto(h).map(DpMessage::Heartbeat),
        }
    }
}

fn hello_from_proto(h: proto::Hello) -> Result<Hello, ConvertError> {
    let node_id = Uuid::parse_str(&h.node_id)
        .map_err(|_| ConvertError::invalid("hello.node_id", "must be a UUID"))?;
    non_empty_short("hello.version", &h.version)?;
    short("hello.hostname", &h.hostname)?;
    if h.labels.len() > MAX_LABELS {
        return Err(ConvertError::invalid(
            "hello.labels",
            format!("at most {MAX_LABELS} labels"),
        ));
    }
    for (k, v) in &h.labels {
        non_empty_short("hello.labels key", k)?;
        short("hello.labels value", v)?;
    }
    if h.plugins.len() > MAX_PLUGINS {
        return Err(ConvertError::invalid(
            "hello.plugins",
            format!("at most {MAX_PLUGINS} plugins"),
        ));
    }
    let plugins = h
        .plugins
        .into_iter()
        .map(|p| {
            non_empty_short("hello.plugins.name", &p.name)?;
            short("hello.plugins.version", &p.version)?;
            Ok(PluginInfo {
                name: p.name,
                version: p.version,
            })
        })
        .collect::<Result<_, ConvertError>>()?;
    if h.capabilities.len() > MAX_LABELS {
        return Err(ConvertError::invalid("hello.capabilities", "too many"));
    }
    for c in &h.capabilities {
        short("hello.capabilities", c)?;
    }
    if h.snapshot_formats.len() > MAX_LABELS {
        return Err(ConvertError::invalid("hello.snapshot_formats", "too many"));
    }
    Ok(Hello {
        node_id,
        hostname: h.hostname,
        version: h.version,
        labels: h.labels.into_iter().collect(),
        plugins,
        serving: served("hello", h.config_version, &h.config_hash)?,
        capabilities: h.capabilities,
        snapshot_formats: h.snapshot_formats,
    })
}

fn nack_reason_to_proto(reason: NackReason) -> proto::NackReason {
    match reason {
        NackReason::Unspecified => proto::NackReason::Unspecified,
        NackReason::Decode => proto::NackReason::Decode,
        NackReason::Invalid => proto::NackReason::Invalid,
        NackReason::Apply => proto::NackReason::Apply,
        NackReason::DeltaBaseMismatch => proto::NackReason::DeltaBaseMismatch,
    }
}

fn nack_reason_from_proto(value: i32) -> Result<NackReason, ConvertError> {
    Ok(
        match proto::NackReason::try_from(value)
            .map_err(|_| ConvertError::invalid("nack.reason", format!("unknown value {value}")))?
        {
            proto::NackReason::Unspecified => NackReason::Unspecified,
            proto::NackReason::Decode => NackReason::Decode,
            proto::NackReason::Invalid => NackReason::Invalid,
            proto::NackReason::Apply => NackReason::Apply,
            proto::NackReason::DeltaBaseMismatch => NackReason::DeltaBaseMismatch,
        },
    )
}

// ---- control plane -> data plane ------------------------------------------------------------

impl From<CpMessage> for proto::ControlPlaneMessage {
    fn from(message: CpMessage) -> Self {
        let kind = match message {
            CpMessage::Welcome(w) => cpm::Kind::Welcome(proto::Welcome {
                version: w.version,
                node_id: w.node_id.to_string(),
                heartbeat_interval_millis: millis(w.heartbeat_interval),
                heartbeat_timeout_millis: millis(w.heartbeat_timeout),
            }),
            CpMessage::Refusal(r) => cpm::Kind::Refusal(proto::Refusal {
                sync_status: sync_status_to_proto(r.sync_status) as i32,
                reason: r.reason,
            }),
            CpMessage::Snapshot(s) => cpm::Kind::Snapshot(snapshot_to_proto(s, 0)),
            CpMessage::SnapshotHead {
                snapshot,
                payload_size,
            } => cpm::Kind::Snapshot(snapshot_to_proto(snapshot, payload_size)),
            CpMessage::SnapshotPart(data) => cpm::Kind::SnapshotPart(proto::SnapshotPart { data }),
            CpMessage::Delta(d) => cpm::Kind::Delta(proto::Delta {
                base_version: d.base.version,
                base_hash: d.base.hash.to_hex(),
                version: d.update.version,
                hash: d.update.hash.to_hex(),
                encoding: encoding_to_proto(d.update.encoding) as i32,
                payload: d.update.payload,
                format: d.update.format,
                uncompressed_size: d.update.uncompressed_size,
                built_unix_millis: d.update.built_unix_millis,
            }),
            CpMessage::Heartbeat(h) => cpm::Kind::Heartbeat(heartbeat_to_proto(h)),
        };
        proto::ControlPlaneMessage { kind: Some(kind) }
    }
}

impl TryFrom<proto::ControlPlaneMessage> for CpMessage {
    type Error = ConvertError;

    fn try_from(message: proto::ControlPlaneMessage) -> Result<Self, Self::Error> {
        match message.kind {
            None => Err(ConvertError::Empty("ControlPlaneMessage")),
            Some(cpm::Kind::Welcome(w)) => Ok(CpMessage::Welcome(Welcome {
                node_id: Uuid::parse_str(&w.node_id)
                    .map_err(|_| ConvertError::invalid("welcome.node_id", "must be a UUID"))?,
                version: {
                    non_empty_short("welcome.version", &w.version)?;
                    w.version
                },
                heartbeat_interval: positive_millis(
                    "welcome.heartbeat_interval_millis",
                    w.heartbeat_interval_millis,
                )?,
                heartbeat_timeout: positive_millis(
                    "welcome.heartbeat_timeout_millis",
                    w.heartbeat_timeout_millis,
                )?,
            })),
            Some(cpm::Kind::Refusal(r)) => Ok(CpMessage::Refusal(Refusal {
                sync_status: sync_status_from_proto(r.sync_status)?,
                reason: truncate(r.reason, MAX_ERROR_LEN),
            })),
            Some(cpm::Kind::Snapshot(s)) => {
                let payload_size = s.payload_size;
                let snapshot = snapshot_from_proto(s)?;
                let first = snapshot.payload.len() as u64;
                if payload_size == 0 || payload_size == first {
                    Ok(CpMessage::Snapshot(snapshot))
                } else if payload_size > first {
                    Ok(CpMessage::SnapshotHead {
                        snapshot,
                        payload_size,
                    })
                } else {
                    Err(ConvertError::invalid(
                        "snapshot.payload_size",
                        format!("is {payload_size}, less than the {first} bytes of payload sent"),
                    ))
                }
            }
            Some(cpm::Kind::SnapshotPart(p)) => Ok(CpMessage::SnapshotPart(p.data)),
            Some(cpm::Kind::Delta(d)) => Ok(CpMessage::Delta(Delta {
                base: ServedConfig {
                    version: d.base_version,
                    hash: hash("delta.base_hash", &d.base_hash)?,
                },
                update: EncodedSnapshot {
                    version: d.version,
                    hash: hash("delta.hash", &d.hash)?,
                    format: d.format,
                    encoding: encoding_from_proto("delta.encoding", d.encoding)?,
                    uncompressed_size: d.uncompressed_size,
                    built_unix_millis: d.built_unix_millis,
                    payload: d.payload,
                },
            })),
            Some(cpm::Kind::Heartbeat(h)) => heartbeat_from_proto(h).map(CpMessage::Heartbeat),
        }
    }
}

fn snapshot_to_proto(s: EncodedSnapshot, payload_size: u64) -> proto::Snapshot {
    proto::Snapshot {
        payload_size,
        version: s.version,
        hash: s.hash.to_hex(),
        encoding: encoding_to_proto(s.encoding) as i32,
        payload: s.payload,
        format: s.format,
        uncompressed_size: s.uncompressed_size,
        built_unix_millis: s.built_unix_millis,
    }
}

fn snapshot_from_proto(s: proto::Snapshot) -> Result<EncodedSnapshot, ConvertError> {
    Ok(EncodedSnapshot {
        version: s.version,
        hash: hash("snapshot.hash", &s.hash)?,
        format: s.format,
        encoding: encoding_from_proto("snapshot.encoding", s.encoding)?,
        uncompressed_size: s.uncompressed_size,
        built_unix_millis: s.built_unix_millis,
        payload: s.payload,
    })
}

fn encoding_to_proto(encoding: PayloadEncoding) -> proto::Encoding {
    match encoding {
        PayloadEncoding::JsonZstd => proto::Encoding::JsonZstd,
    }
}

fn encoding_from_proto(field: &'static str, value: i32) -> Result<PayloadEncoding, ConvertError> {
    match proto::Encoding::try_from(value) {
        Ok(proto::Encoding::JsonZstd) => Ok(PayloadEncoding::JsonZstd),
        Ok(proto::Encoding::Unspecified) => Err(ConvertError::Missing(field)),
        Err(_) => Err(ConvertError::invalid(
            field,
            format!("unknown encoding {value}"),
        )),
    }
}

fn sync_status_to_proto(status: SyncStatus) -> proto::SyncStatus {
    match status {
        SyncStatus::Unknown => proto::SyncStatus::Unknown,
        SyncStatus::Normal => proto::SyncStatus::Normal,
        SyncStatus::KongVersionIncompatible => proto::SyncStatus::KongVersionIncompatible,
        SyncStatus::PluginSetIncompatible => proto::SyncStatus::PluginSetIncompatible,
        SyncStatus::PluginVersionIncompatible => proto::SyncStatus::PluginVersionIncompatible,
    }
}

fn sync_status_from_proto(value: i32) -> Result<SyncStatus, ConvertError> {
    // An unknown value from a newer peer is reported as "unknown" rather than refused: the
    // refusal's reason text still explains it.
    Ok(match proto::SyncStatus::try_from(value) {
        Ok(proto::SyncStatus::Unknown) | Err(_) => SyncStatus::Unknown,
        Ok(proto::SyncStatus::Normal) => SyncStatus::Normal,
        Ok(proto::SyncStatus::KongVersionIncompatible) => SyncStatus::KongVersionIncompatible,
        Ok(proto::SyncStatus::PluginSetIncompatible) => SyncStatus::PluginSetIncompatible,
        Ok(proto::SyncStatus::PluginVersionIncompatible) => SyncStatus::PluginVersionIncompatible,
    })
}

// ---- shared -----------------------------------------------------------------------------------

fn heartbeat_to_proto(h: Heartbeat) -> proto::Heartbeat {
    proto::Heartbeat {
        sent_unix_millis: h.sent_unix_millis,
        config_version: h.config.map_or(0, |c| c.version),
        config_hash: h.config.map(|c| c.hash.to_hex()).unwrap_or_default(),
    }
}

fn heartbeat_from_proto(h: proto::Heartbeat) -> Result<Heartbeat, ConvertError> {
    Ok(Heartbeat {
        sent_unix_millis: h.sent_unix_millis,
        config: served("heartbeat", h.config_version, &h.config_hash)?,
    })
}

/// "" means "nothing"; anything else must be a hash.
fn served(
    message: &'static str,
    version: u64,
    text: &str,
) -> Result<Option<ServedConfig>, ConvertError> {
    if text.is_empty() {
        return Ok(None);
    }
    let field = if message == "hello" {
        "hello.config_hash"
    } else {
        "heartbeat.config_hash"
    };
    Ok(Some(ServedConfig {
        version,
        hash: hash(field, text)?,
    }))
}

fn hash(field: &'static str, text: &str) -> Result<ConfigHash, ConvertError> {
    if text.is_empty() {
        return Err(ConvertError::Missing(field));
    }
    text.parse()
        .map_err(|e: crate::snapshot::InvalidHash| ConvertError::invalid(field, e.to_string()))
}

fn short(field: &'static str, text: &str) -> Result<(), ConvertError> {
    if text.len() > MAX_SHORT_TEXT {
        return Err(ConvertError::invalid(
            field,
            format!("longer than {MAX_SHORT_TEXT} bytes"),
        ));
    }
    Ok(())
}

fn non_empty_short(field: &'static str, text: &str) -> Result<(), ConvertError> {
    if text.is_empty() {
        return Err(ConvertError::Missing(field));
    }
    short(field, text)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn positive_millis(field: &'static str, value: u64) -> Result<Duration, ConvertError> {
    if value == 0 {
        return Err(ConvertError::Missing(field));
    }
    Ok(Duration::from_millis(value))
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}
