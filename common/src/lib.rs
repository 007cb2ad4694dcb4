//! Portico's shared core: the entity model every other crate works on.
//!
//! - [`model`]: typed Kong entities and the static metadata of each kind.
//! - [`schema`]: Kong's entity and plugin schemas, validation, defaults, PATCH merging,
//!   form coercion and Kong's error shapes.
//! - [`declarative`]: Kong's declarative configuration (`kong.yml`): parse, validate,
//!   flatten, render.
//! - [`snapshot`]: the configuration at one version, its canonical encoding, hash and checks.
//! - [`cluster_tls`]: mTLS between control plane and data planes (shared and pki modes).
//! - [`convert`]: the CP<->DP protocol's domain messages and their protobuf conversion.
//! - [`health`]: the probe behind both binaries' `health` commands.
//!
//! Protobuf types live in [`proto`]; only the conversion between them and domain types
//! should touch them.

pub mod cluster_tls;
pub mod convert;
pub mod declarative;
pub mod health;
pub mod model;
pub mod schema;
pub mod snapshot;

/// Generated protobuf and gRPC types. Only the conversion module should need these.
#[allow(clippy::all, missing_docs, rust_2018_idioms)]
pub mod proto {
    tonic::include_proto!("portico.v1");
}
