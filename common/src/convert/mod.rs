//! The CP<->DP sync protocol at the edge: the only module that sees protobuf types.
//!
//! - [`messages`](self) — [`DpMessage`], [`CpMessage`] and their parts ([`Hello`], [`Ack`],
//!   [`Nack`], [`Heartbeat`], [`Welcome`], [`Refusal`], snapshots as
//!   [`EncodedSnapshot`](crate::snapshot::EncodedSnapshot)): validated domain values.
//! - `From<domain> for proto` and `TryFrom<proto> for domain`, failing with a
//!   [`ConvertError`] that names the offending field.
//! - [`grpc`]: the tonic service and client call expressed in domain messages, so the
//!   control plane's sync server and the data plane's sync client never handle protobuf.

pub mod grpc;
mod messages;
pub mod parts;
mod wire;

#[cfg(test)]
mod tests;

pub use messages::*;

/// A message from the peer that is not well-formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    #[error("malformed {0}: it carries no message")]
    Empty(&'static str),
    #[error("malformed message: {0} is missing")]
    Missing(&'static str),
    #[error("malformed message: {field} {reason}")]
    Invalid { field: &'static str, reason: String },
}

impl ConvertError {
    fn invalid(field: &'static str, reason: impl Into<String>) -> ConvertError {
        ConvertError::Invalid {
            field,
            reason: reason.into(),
        }
    }
}
