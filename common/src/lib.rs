//! Portico's shared core: the entity model every other crate works on.
//!
//! - [`model`]: typed Kong entities and the static metadata of each kind.
//! - [`schema`]: Kong's entity and plugin schemas, validation, defaults, PATCH merging,
//!   form coercion and Kong's error shapes.
//!
//! Protobuf types live in [`proto`]; only the conversion between them and domain types
//! should touch them.

pub mod model;
pub mod schema;

/// Generated protobuf and gRPC types. Only the conversion module should need these.
#[allow(clippy::all, missing_docs, rust_2018_idioms)]
pub mod proto {
    tonic::include_proto!("portico.v1");
}
