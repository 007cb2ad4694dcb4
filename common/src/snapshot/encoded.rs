//! [`EncodedSnapshot`]: a configuration version ready to ship — canonical JSON compressed
//! with zstd, with its hash and payload format — and the decoding a data plane runs on it.

use std::io::Read;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::{ConfigHash, ConfigSet, FORMAT, SUPPORTED_FORMATS, canonical_json};

/// zstd level used for snapshots. Level 1 is the fastest standard level; on a 10k-route
/// configuration it compresses about as well as the default level 3 in a fraction of the
/// time (see ARCHITECTURE.md, "Hybrid mode", for the measured figures).
pub const ZSTD_LEVEL: i32 = 1;

/// Default ceiling on a decompressed payload. A larger declared or actual size is refused
/// before (or while) decompressing, so a corrupt or hostile payload cannot exhaust memory.
pub const DEFAULT_MAX_UNCOMPRESSED: u64 = 1 << 30;

/// How the payload bytes are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayloadEncoding {
    /// Canonical JSON compressed with zstd (one frame, with zstd's content checksum).
    JsonZstd,
}

impl PayloadEncoding {
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadEncoding::JsonZstd => "json+zstd",
        }
    }
}

/// One configuration version, encoded once by the control plane and shared (the payload is
/// reference-counted [`Bytes`]) by every data-plane stream; also what a data plane caches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedSnapshot {
    /// The store's configuration version this was built from.
    pub version: u64,
    /// Hash of the canonical uncompressed payload.
    pub hash: ConfigHash,
    /// Payload format ([`FORMAT`] when built by this binary).
    pub format: u32,
    pub encoding: PayloadEncoding,
    /// Size of the payload once decompressed.
    pub uncompressed_size: u64,
    /// When the control plane built it, in milliseconds since the Unix epoch.
    pub built_unix_millis: u64,
    pub payload: Bytes,
}

/// The configuration could not be encoded (a value JSON cannot represent).
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("configuration cannot be encoded as JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("configuration cannot be compressed: {0}")]
    Compress(#[from] std::io::Error),
}

/// Why a payload was refused. Each message says what is wrong in terms an operator can act
/// on; a data plane NACKs with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error(
        "snapshot payload format {found} is not supported by this data plane (supported: {supported:?})"
    )]
    UnsupportedFormat {
        found: u32,
        supported: &'static [u32],
    },
    #[error("snapshot payload of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: u64, limit: u64 },
    #[error("snapshot payload is corrupt or truncated: {0}")]
    Corrupt(String),
    #[error(
        "snapshot payload is corrupt or truncated: {actual} bytes once decompressed, {expected} announced"
    )]
    SizeMismatch { expected: u64, actual: u64 },
    #[error("snapshot payload hash {actual} does not match the announced {expected}")]
    HashMismatch {
        expected: ConfigHash,
        actual: ConfigHash,
    },
    #[error("snapshot payload is not a valid configuration: {0}")]
    Content(String),
}

impl EncodedSnapshot {
    /// Encodes `config` as configuration `version`: canonical JSON, hashed, then compressed.
    pub fn encode(version: u64, config: &ConfigSet) -> Result<EncodedSnapshot, EncodeError> {
        let canonical = canonical_json(config)?;
        let hash = ConfigHash::of_canonical_bytes(&canonical);
        let payload = compress(&canonical)?;
        Ok(EncodedSnapshot {
            version,
            hash,
            format: FORMAT,
            encoding: PayloadEncoding::JsonZstd,
            uncompressed_size: canonical.len() as u64,
            built_unix_millis: unix_millis_now(),
            payload: Bytes::from(payload),
        })
    }

    /// Decodes the payload with the default size limit. See [`Self::decode_with_limit`].
    pub fn decode(&self) -> Result<ConfigSet, DecodeError> {
        self.decode_with_limit(DEFAULT_MAX_UNCOMPRESSED)
    }

    /// Decompresses, checks the size and the hash, and parses the configuration. Never panics
    /// on arbitrary bytes. Does not check references: run [`ConfigSet::verify`] next.
    pub fn decode_with_limit(&self, limit: u64) -> Result<ConfigSet, DecodeError> {
        let canonical = self.decompress_with_limit(limit)?;
        serde_json::from_slice(&canonical).map_err(|e| DecodeError::Content(e.to_string()))
    }

    /// Decompresses and checks size and hash, returning the canonical JSON bytes.
    pub fn decompress_with_limit(&self, limit: u64) -> Result<Vec<u8>, DecodeError> {
        if !SUPPORTED_FORMATS.contains(&self.format) {
            return Err(DecodeError::UnsupportedFormat {
                found: self.format,
                supported: SUPPORTED_FORMATS,
            });
        }
        if self.uncompressed_size > limit {
            return Err(DecodeError::TooLarge {
                size: self.uncompressed_size,
                limit,
            });
        }
        let canonical = match self.encoding {
            PayloadEncoding::JsonZstd => decompress(&self.payload, self.uncompressed_size)?,
        };
        let actual = ConfigHash::of_canonical_bytes(&canonical);
        if actual != self.hash {
            return Err(DecodeError::HashMismatch {
                expected: self.hash,
                actual,
            });
        }
        Ok(canonical)
    }
}

fn compress(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = zstd::bulk::Compressor::new(ZSTD_LEVEL)?;
    // The content checksum makes zstd itself reject most corruption with a clear error,
    // before the (more expensive) hash check runs.
    encoder.include_checksum(true)?;
    encoder.include_contentsize(true)?;
    encoder.compress(bytes)
}

/// Streams the frame through a decoder that may produce at most `expected` bytes (plus one,
/// to detect an overlong payload), so a payload that lies about its size cannot make us
/// allocate more than announced.
fn decompress(payload: &[u8], expected: u64) -> Result<Vec<u8>, DecodeError> {
    let decoder = zstd::stream::read::Decoder::new(payload)
        .map_err(|e| DecodeError::Corrupt(e.to_string()))?;
    // Allocate progressively: `expected` is attacker-influenced until the hash is checked.
    let mut out = Vec::with_capacity(expected.min(64 << 20) as usize);
    decoder
        .take(expected.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| DecodeError::Corrupt(e.to_string()))?;
    if out.len() as u64 != expected {
        return Err(DecodeError::SizeMismatch {
            expected,
            actual: out.len() as u64,
        });
    }
    Ok(out)
}

fn unix_millis_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
