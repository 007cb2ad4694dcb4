//! The control plane's side of hybrid mode: the sync server data planes connect to.
//!
//! - [`server`]: [`SyncServer`], one session per data plane: hello, version checks, snapshots
//!   sent when the data plane's hash differs (coalesced to the newest), ACK/NACK tracking,
//!   heartbeats.
//! - [`listener`]: the `--cluster-listen` socket: rustls handshakes (shared or pki mode, see
//!   `common::cluster_tls`) in front of tonic.
//! - [`registry`]: [`DataPlaneRegistry`], what `/clustering/data-planes` reports.
//! - [`compat`]: Kong's version and plugin compatibility rules.
//! - [`publisher`]: follows the store's committed versions and publishes one snapshot per
//!   version (read in one transaction, checked, encoded once).
//! - [`fleet`]: the data planes of every control plane on this database
//!   (`clustering_data_planes`), written from the registry and listed by [`admin`].
//! - [`admin`], [`metrics`]: `/clustering/data-planes`, `/clustering/status`, `/metrics`
//!   (metrics report this process's own sessions, so they add up across control planes).
//! - `start`: `ControlPlane::serve_cluster`, which assembles the above for `portico-cp serve`.
//!
//! The snapshot source is a `tokio::sync::watch` channel of [`PublishedSnapshot`]s: the
//! builder publishes each new version once, and every session reads the same bytes.

pub mod admin;
pub mod compat;
pub mod fleet;
pub mod listener;
pub mod metrics;
pub mod publisher;
pub mod registry;
pub mod server;
mod start;

#[cfg(test)]
mod tests;

pub use registry::{DataPlaneRegistry, DataPlaneStatus};
pub use server::{PublishError, PublishedSnapshot, SnapshotSource, SyncServer, SyncServerSettings};
