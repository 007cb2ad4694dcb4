//! The control plane's side of hybrid mode: the sync server data planes connect to.
//!
//! - [`server`]: [`SyncServer`], one session per data plane: hello, version checks, snapshots
//!   sent when the data plane's hash differs (coalesced to the newest), ACK/NACK tracking,
//!   heartbeats.
//! - [`listener`]: the `--cluster-listen` socket: rustls handshakes (shared or pki mode, see
//!   `common::cluster_tls`) in front of tonic.
//! - [`registry`]: [`DataPlaneRegistry`], what `/clustering/data-planes` reports.
//! - [`compat`]: Kong's version and plugin compatibility rules.
//!
//! The snapshot source is a `tokio::sync::watch` channel of [`PublishedSnapshot`]s: the
//! builder publishes each new version once, and every session reads the same bytes.

pub mod compat;
pub mod listener;
pub mod registry;
pub mod server;

#[cfg(test)]
mod tests;

pub use registry::{DataPlaneRegistry, DataPlaneStatus};
pub use server::{PublishError, PublishedSnapshot, SnapshotSource, SyncServer, SyncServerSettings};
