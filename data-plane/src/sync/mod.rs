//! The data plane's side of hybrid mode: its identity and its on-disk copy of the last
//! applied configuration.
//!
//! - [`node_id`]: the node's persistent UUID under `--prefix`.
//! - [`client`]: [`SyncClient`], the session with a control plane (reconnection with
//!   backoff across the listed control planes, Hello, ACK/NACK, heartbeats).
//! - [`connector`]: dialing a control plane over cluster mTLS.
//! - [`apply`]: [`RuntimeApplier`], the apply path: decode -> verify -> compile -> swap ->
//!   persist.
//! - [`cache`]: [`SnapshotCache`], the atomically replaced, checksummed snapshot file that a
//!   restarted data plane serves from before it reaches a control plane.

pub mod apply;
pub mod cache;
pub mod client;
pub mod connector;
mod fsutil;
pub mod node_id;

pub use apply::{DEFAULT_MAX_PAYLOAD, RuntimeApplier};
pub use cache::{CacheError, SnapshotCache};
pub use client::{
    Applier, ApplyError, ApplyFuture, NodeInfo, SyncClient, SyncClientSettings, SyncState, backoff,
};
