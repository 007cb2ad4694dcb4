//! Configuration snapshots: the full configuration at one version, as the control plane
//! builds it and a data plane applies it.
//!
//! - [`ConfigSet`]: every entity, typed ([`crate::model`]).
//! - [`canonical_json`]: deterministic bytes for a configuration (entities sorted by id,
//!   object keys sorted at every depth).
//! - [`ConfigHash`]: SHA-256 of the canonical bytes, truncated to 128 bits, 32 hex digits.
//! - [`EncodedSnapshot`]: version + hash + payload format + zstd-compressed canonical JSON;
//!   [`EncodedSnapshot::decode`] refuses anything corrupt, truncated, oversized or of an
//!   unknown format with a [`DecodeError`].
//! - [`ConfigSet::verify`]: references resolve and ids/lookup keys are unique.
//!
//! The data plane's apply path is `decode -> verify -> compile -> swap -> persist`; any
//! failure before the swap is a NACK and the running configuration stays.

mod canonical;
mod config_set;
mod encoded;
mod hash;
pub mod sample;
mod verify;

#[cfg(test)]
mod tests;

pub use canonical::canonical_json;
pub use config_set::ConfigSet;
pub use encoded::{
    DEFAULT_MAX_UNCOMPRESSED, DecodeError, EncodeError, EncodedSnapshot, PayloadEncoding,
    ZSTD_LEVEL,
};
pub use hash::{ConfigHash, InvalidHash};
pub use verify::{Problem, VerifyError};

/// Version of the payload's content shape, independent of Portico's own version. Bumped only
/// when a change would make an older data plane misread a payload; adding an optional field
/// does not bump it (decoding ignores unknown fields).
pub const FORMAT: u32 = 1;

/// Payload formats this binary can decode.
pub const SUPPORTED_FORMATS: &[u32] = &[FORMAT];
