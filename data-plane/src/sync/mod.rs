//! The data plane's side of hybrid mode: its identity and its on-disk copy of the last
//! applied configuration.
//!
//! - [`node_id`]: the node's persistent UUID under `--prefix`.
//! - [`cache`]: [`SnapshotCache`], the atomically replaced, checksummed snapshot file that a
//!   restarted data plane serves from before it reaches a control plane.

pub mod cache;
mod fsutil;
pub mod node_id;

pub use cache::{CacheError, SnapshotCache};
