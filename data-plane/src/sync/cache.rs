//! The data plane's on-disk copy of the last applied snapshot, `PREFIX/config.cache`, so a
//! restarted data plane serves its last configuration before (or without) reaching a
//! control plane.
//!
//! Layout (all integers little-endian):
//!
//! | offset | size | content |
//! |---|---|---|
//! | 0 | 8 | magic `PRTCSNAP` ([`MAGIC`]) |
//! | 8 | 4 | cache format version ([`CACHE_FORMAT`]) — not Portico's version, so upgrades keep the cache |
//! | 12 | 4 | header length `H` |
//! | 16 | 32 | SHA-256 of everything after this field (header and body) |
//! | 48 | `H` | header, JSON: config version and hash, snapshot format, encoding, sizes |
//! | 48+`H` | rest | body: the snapshot payload exactly as received (zstd-compressed) |
//!
//! The file is replaced atomically (temporary file, fsync, rename, fsync of the directory)
//! with mode 0600: it holds secrets (certificate keys, credentials). A file that is
//! truncated, corrupted or of an unknown cache format is ignored with one log line; the data
//! plane then waits for a control plane.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use common::snapshot::{ConfigHash, EncodedSnapshot, PayloadEncoding};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::fsutil;

/// File name of the cache under `--prefix`.
pub const FILE_NAME: &str = "config.cache";
/// Identifies a Portico snapshot cache file.
pub const MAGIC: [u8; 8] = *b"PRTCSNAP";
/// Version of this file layout. Bumped only when the layout changes incompatibly.
pub const CACHE_FORMAT: u32 = 1;
/// Cache files larger than this are not read (a snapshot payload is compressed; 1 GiB is far
/// beyond any real configuration).
pub const MAX_FILE_SIZE: u64 = 1 << 30;

const FIXED_LEN: usize = 8 + 4 + 4 + 32;
const MAX_HEADER_LEN: u32 = 64 * 1024;

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    config_version: u64,
    config_hash: String,
    snapshot_format: u32,
    encoding: String,
    uncompressed_size: u64,
    built_unix_millis: u64,
    body_len: u64,
}

/// Why the cache could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("file is {0} bytes, larger than the {MAX_FILE_SIZE}-byte limit")]
    TooLarge(u64),
    #[error("file is truncated ({0} bytes)")]
    Truncated(usize),
    #[error("not a Portico configuration cache (bad magic)")]
    BadMagic,
    #[error("cache format {0} is not supported (this data plane reads format {CACHE_FORMAT})")]
    UnsupportedFormat(u32),
    #[error("checksum mismatch: the file is corrupted")]
    Checksum,
    #[error("invalid header: {0}")]
    Header(String),
}

/// The snapshot cache under one `--prefix`. Its methods do blocking I/O: call them from
/// `spawn_blocking` (or at start-up).
#[derive(Debug, Clone)]
pub struct SnapshotCache {
    path: PathBuf,
}

impl SnapshotCache {
    pub fn new(prefix: &Path) -> SnapshotCache {
        SnapshotCache {
            path: prefix.join(FILE_NAME),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Persists `snapshot` atomically, replacing the previous one.
    pub fn store(&self, snapshot: &EncodedSnapshot) -> Result<(), CacheError> {
        fsutil::write_atomically(&self.path, &encode(snapshot)).map_err(|source| {
            CacheError::Write {
                path: self.path.clone(),
                source,
            }
        })
    }

    /// Reads the cached snapshot: `Ok(None)` when there is none, an error when the file is
    /// unreadable or damaged. The payload itself is checked later, by decoding it.
    pub fn load(&self) -> Result<Option<EncodedSnapshot>, CacheError> {
        let read_err = |source| CacheError::Read {
            path: self.path.clone(),
            source,
        };
        let size = match std::fs::metadata(&self.path) {
            Ok(meta) => meta.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(read_err(e)),
        };
        if size > MAX_FILE_SIZE {
            return Err(CacheError::TooLarge(size));
        }
        let bytes = std::fs::read(&self.path).map_err(read_err)?;
        decode(&bytes).map(Some)
    }

    /// [`Self::load`], but a damaged file is reported in one warning and treated as absent:
    /// the data plane then starts without configuration and waits for a control plane.
    pub fn load_or_ignore(&self) -> Option<EncodedSnapshot> {
        match self.load() {
            Ok(found) => found,
            Err(err) => {
                tracing::warn!(
                    path = %self.path.display(),
                    "ignoring the cached configuration: {err}; waiting for a control plane"
                );
                None
            }
        }
    }
}

fn encode(snapshot: &EncodedSnapshot) -> Vec<u8> {
    let header = Header {
        config_version: snapshot.version,
        config_hash: snapshot.hash.to_hex(),
        snapshot_format: snapshot.format,
        encoding: snapshot.encoding.as_str().to_owned(),
        uncompressed_size: snapshot.uncompressed_size,
        built_unix_millis: snapshot.built_unix_millis,
        body_len: snapshot.payload.len() as u64,
    };
    // Serialising a struct of numbers and strings cannot fail.
    let header = serde_json::to_vec(&header).unwrap_or_default();
    let mut out = Vec::with_capacity(FIXED_LEN + header.len() + snapshot.payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&CACHE_FORMAT.to_le_bytes());
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    let mut hasher = Sha256::new();
    hasher.update(&header);
    hasher.update(&snapshot.payload);
    out.extend_from_slice(&hasher.finalize());
    out.extend_from_slice(&header);
    out.extend_from_slice(&snapshot.payload);
    out
}

fn decode(bytes: &[u8]) -> Result<EncodedSnapshot, CacheError> {
    if bytes.len() < 12 {
        return Err(CacheError::Truncated(bytes.len()));
    }
    if bytes[..8] != MAGIC {
        return Err(CacheError::BadMagic);
    }
    let format = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if format != CACHE_FORMAT {
        return Err(CacheError::UnsupportedFormat(format));
    }
    if bytes.len() < FIXED_LEN {
        return Err(CacheError::Truncated(bytes.len()));
    }
    let header_len = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    if header_len > MAX_HEADER_LEN {
        return Err(CacheError::Header(format!(
            "{header_len}-byte header is too long"
        )));
    }
    let header_end = FIXED_LEN + header_len as usize;
    if bytes.len() < header_end {
        return Err(CacheError::Truncated(bytes.len()));
    }
    if Sha256::digest(&bytes[FIXED_LEN..])[..] != bytes[16..FIXED_LEN] {
        return Err(CacheError::Checksum);
    }
    let header: Header = serde_json::from_slice(&bytes[FIXED_LEN..header_end])
        .map_err(|e| CacheError::Header(e.to_string()))?;
    let body = &bytes[header_end..];
    if body.len() as u64 != header.body_len {
        return Err(CacheError::Header(format!(
            "body is {} bytes, header says {}",
            body.len(),
            header.body_len
        )));
    }
    let hash: ConfigHash = header
        .config_hash
        .parse()
        .map_err(|e: common::snapshot::InvalidHash| CacheError::Header(e.to_string()))?;
    let encoding = match header.encoding.as_str() {
        e if e == PayloadEncoding::JsonZstd.as_str() => PayloadEncoding::JsonZstd,
        other => return Err(CacheError::Header(format!("unknown encoding {other:?}"))),
    };
    Ok(EncodedSnapshot {
        version: header.config_version,
        hash,
        format: header.snapshot_format,
        encoding,
        uncompressed_size: header.uncompressed_size,
        built_unix_millis: header.built_unix_millis,
        payload: Bytes::copy_from_slice(body),
    })
}

#[cfg(test)]
mod tests;
