//! Turns committed configuration versions into published snapshots.
//!
//! One task per control plane follows the store's newest committed version
//! ([`Store::subscribe`]: this process's commits at once, other control planes' through
//! Postgres `NOTIFY`, anything missed through slow polling). For each new version it reads
//! the whole configuration in one consistent transaction, checks, encodes and compresses it
//! once ([`PublishedSnapshot::build`], on a blocking thread) and publishes it on a `watch`
//! channel that every data plane session reads. Versions committed while a build runs
//! coalesce: the next build reads the newest one.
//!
//! When the database is unreachable the last published snapshot stays published (data
//! planes keep being served) and the build is retried. A configuration that fails the
//! checks is never published; the error is kept for `/metrics` and the logs, and the next
//! committed version is tried.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::server::PublishedSnapshot;
use crate::serve::Shutdown;
use crate::store::{Store, StoreError};

/// How long to wait before reading the store again after it was unreachable.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The sending side of the snapshot source sessions read ([`super::SnapshotSource`]).
pub type SnapshotPublisher = watch::Sender<Option<Arc<PublishedSnapshot>>>;

/// What the publisher has done, for `/metrics` and `/clustering/status`.
#[derive(Debug, Default)]
pub struct PublishStats {
    version: AtomicU64,
    compressed_bytes: AtomicU64,
    uncompressed_bytes: AtomicU64,
    entities: AtomicU64,
    /// Wall-clock time of the last build (read + check + encode), in microseconds.
    build_micros: AtomicU64,
    builds: AtomicU64,
    failures: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// A copy of [`PublishStats`] at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PublishFigures {
    /// The published configuration version (0 before the first build).
    pub version: u64,
    pub compressed_bytes: u64,
    pub uncompressed_bytes: u64,
    pub entities: u64,
    pub build_seconds: f64,
    pub builds: u64,
    pub failures: u64,
    /// Why the newest version could not be published, if it could not.
    pub last_error: Option<String>,
}

impl PublishStats {
    pub fn figures(&self) -> PublishFigures {
        PublishFigures {
            version: self.version.load(Ordering::Acquire),
            compressed_bytes: self.compressed_bytes.load(Ordering::Relaxed),
            uncompressed_bytes: self.uncompressed_bytes.load(Ordering::Relaxed),
            entities: self.entities.load(Ordering::Relaxed),
            build_seconds: self.build_micros.load(Ordering::Relaxed) as f64 / 1e6,
            builds: self.builds.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            last_error: self.error_slot().clone(),
        }
    }

    fn published(&self, snapshot: &PublishedSnapshot, entities: usize, took: Duration) {
        let s = &snapshot.snapshot;
        self.compressed_bytes
            .store(s.payload.len() as u64, Ordering::Relaxed);
        self.uncompressed_bytes
            .store(s.uncompressed_size, Ordering::Relaxed);
        self.entities.store(entities as u64, Ordering::Relaxed);
        self.build_micros
            .store(took.as_micros() as u64, Ordering::Relaxed);
        self.builds.fetch_add(1, Ordering::Relaxed);
        self.version.store(s.version, Ordering::Release);
        *self.error_slot() = None;
    }

    fn failed(&self, error: String) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        *self.error_slot() = Some(error);
    }

    fn error_slot(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.last_error.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Why one build did not publish.
#[derive(Debug, thiserror::Error)]
enum BuildError {
    /// The store could not be read; try the same version again later.
    #[error("cannot read the configuration: {0}")]
    Store(#[from] StoreError),
    /// The stored configuration is not publishable; wait for the next version.
    #[error("configuration version {version} cannot be published: {reason}")]
    Invalid { version: u64, reason: String },
}

/// Follows the store's committed versions and publishes a snapshot of each, until
/// `shutdown`. Returns when shutdown starts; dropping `publisher` then ends every session.
pub async fn run(
    store: Store,
    publisher: SnapshotPublisher,
    stats: Arc<PublishStats>,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let mut committed = store.subscribe().await;
    let stop = shutdown.wait();
    tokio::pin!(stop);
    // The newest version built or found unpublishable; `None` forces the first build.
    let mut done: Option<u64> = None;
    loop {
        let newest = *committed.borrow_and_update();
        let retry = if done.is_none_or(|d| newest > d) {
            match build(&store).await {
                Ok((snapshot, entities, took)) => {
                    let version = snapshot.snapshot.version;
                    tracing::info!(
                        version,
                        hash = %snapshot.snapshot.hash,
                        entities,
                        bytes = snapshot.snapshot.payload.len(),
                        took_ms = took.as_millis() as u64,
                        "published configuration"
                    );
                    stats.published(&snapshot, entities, took);
                    publisher.send_replace(Some(Arc::new(snapshot)));
                    done = Some(version);
                    false
                }
                Err(BuildError::Invalid { version, reason }) => {
                    let message =
                        format!("configuration version {version} cannot be published: {reason}");
                    tracing::error!("{message}; data planes keep the previous version");
                    stats.failed(message);
                    done = Some(version);
                    false
                }
                Err(e @ BuildError::Store(_)) => {
                    tracing::warn!("{e}; data planes keep the previous version, retrying");
                    stats.failed(e.to_string());
                    true
                }
            }
        } else {
            false
        };
        let wait_retry = async {
            if retry {
                tokio::time::sleep(RETRY_AFTER).await
            } else {
                std::future::pending().await
            }
        };
        tokio::select! {
            _ = &mut stop => return Ok(()),
            () = wait_retry => {}
            changed = committed.changed() => {
                if changed.is_err() {
                    // The store's watcher is gone: the store is closing.
                    return Ok(());
                }
            }
        }
    }
}

/// Reads, checks and encodes the newest configuration. Returns the snapshot, its entity
/// count and how long it took.
async fn build(store: &Store) -> Result<(PublishedSnapshot, usize, Duration), BuildError> {
    let started = Instant::now();
    let snapshot = store.snapshot().await?;
    let version = snapshot.version;
    let entities = snapshot.len();
    tracing::debug!(
        version,
        entities,
        read_ms = started.elapsed().as_millis() as u64,
        "read the configuration"
    );
    // Deserialising, verifying, canonicalising, hashing and compressing a large
    // configuration takes tens of milliseconds: keep it off the async workers.
    let built = tokio::task::spawn_blocking(move || {
        let config = common::declarative::typed_from(
            snapshot
                .entities
                .iter()
                .flat_map(|(kind, list)| list.iter().map(move |entity| (*kind, entity))),
        )?;
        PublishedSnapshot::build(version, &config, plugin_version).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| BuildError::Invalid {
        version,
        reason: format!("the build task failed: {e}"),
    })?
    .map_err(|reason| BuildError::Invalid { version, reason })?;
    Ok((built, entities, started.elapsed()))
}

/// The control plane's version of a plugin, compared with each data plane's (Kong's plugin
/// compatibility check): its `PluginDef.version` in the catalog. Bundled plugins carry the
/// version of the Kong release whose plugins they implement, custom plugins their own. A
/// plugin this control plane does not know (stored by a build that had it) has no
/// version, so only its presence on a data plane is checked.
pub fn plugin_version(name: &str) -> String {
    common::schema::catalog()
        .plugin(name)
        .map(|p| p.version.to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::plugin_version;
    use common::schema::plugins::BUNDLED_PLUGIN_VERSION;

    #[test]
    fn plugin_versions_come_from_the_catalog() {
        // This test process registers no custom plugin: the bundled catalog.
        assert_eq!(plugin_version("key-auth"), BUNDLED_PLUGIN_VERSION);
        assert_eq!(plugin_version("not-installed"), "");
    }
}
