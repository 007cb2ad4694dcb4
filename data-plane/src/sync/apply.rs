//! The data plane's apply path for a snapshot: decode -> verify -> compile (off the request
//! path, on a blocking thread) -> swap (one `ArcSwap` store) -> persist to the cache.
//! Any failure before the swap leaves the running configuration untouched.

use std::sync::Arc;

use common::convert::{NackReason, ServedConfig};
use common::snapshot::EncodedSnapshot;

use super::cache::SnapshotCache;
use super::client::{Applier, ApplyError, ApplyFuture};
use crate::runtime::{Runtime, RuntimeHandle};

/// Applies snapshots to a [`RuntimeHandle`] and persists them to a [`SnapshotCache`].
#[derive(Clone)]
pub struct RuntimeApplier {
    runtime: RuntimeHandle,
    cache: Option<SnapshotCache>,
    max_payload: u64,
}

/// Kong's default `cluster_max_payload`: 16 MiB.
pub const DEFAULT_MAX_PAYLOAD: u64 = 16 * 1024 * 1024;

impl RuntimeApplier {
    /// `cache`: where applied snapshots are persisted (`None` to keep nothing on disk).
    pub fn new(runtime: RuntimeHandle, cache: Option<SnapshotCache>) -> Arc<RuntimeApplier> {
        RuntimeApplier::with_max_payload(runtime, cache, DEFAULT_MAX_PAYLOAD)
    }

    /// Like [`RuntimeApplier::new`]; snapshots whose compressed payload exceeds
    /// `max_payload` bytes (`--cluster-max-payload`) are refused.
    pub fn with_max_payload(
        runtime: RuntimeHandle,
        cache: Option<SnapshotCache>,
        max_payload: u64,
    ) -> Arc<RuntimeApplier> {
        Arc::new(RuntimeApplier {
            runtime,
            cache,
            max_payload,
        })
    }

    /// Start-up: serves the cached snapshot, if there is a usable one, before any control
    /// plane is contacted. Blocking. A damaged or unusable cache is reported in one warning
    /// line and ignored. Returns what is now served.
    pub fn restore_from_cache(&self) -> Option<ServedConfig> {
        let cache = self.cache.as_ref()?;
        let snapshot = cache.load_or_ignore()?;
        let served = ServedConfig {
            version: snapshot.version,
            hash: snapshot.hash,
        };
        match compile(&self.runtime, &snapshot) {
            Ok(runtime) => {
                self.runtime.swap(runtime);
                tracing::info!(
                    config_version = served.version,
                    hash = %served.hash,
                    "serving the cached configuration"
                );
                Some(served)
            }
            Err(e) => {
                tracing::warn!(
                    path = %cache.path().display(),
                    "ignoring the cached configuration: {e}; waiting for a control plane"
                );
                None
            }
        }
    }
}

fn compile(runtime: &RuntimeHandle, snapshot: &EncodedSnapshot) -> Result<Runtime, ApplyError> {
    let config = snapshot.decode().map_err(|e| ApplyError {
        reason: NackReason::Decode,
        message: e.to_string(),
    })?;
    config.verify().map_err(|e| ApplyError {
        reason: NackReason::Invalid,
        message: e.to_string(),
    })?;
    runtime
        .compile_hashed(config, snapshot.hash.to_hex())
        .map_err(|e| ApplyError {
            reason: NackReason::Apply,
            message: e.to_string(),
        })
}

impl Applier for RuntimeApplier {
    fn apply(&self, snapshot: EncodedSnapshot) -> ApplyFuture<'_> {
        Box::pin(self.apply_snapshot(snapshot))
    }
}

impl RuntimeApplier {
    async fn apply_snapshot(&self, snapshot: EncodedSnapshot) -> Result<(), ApplyError> {
        let size = snapshot.payload.len() as u64;
        if size > self.max_payload {
            return Err(ApplyError {
                reason: NackReason::Decode,
                message: format!(
                    "the snapshot payload is {size} bytes, more than this data plane's \
                     --cluster-max-payload of {} bytes",
                    self.max_payload
                ),
            });
        }
        let started = std::time::Instant::now();
        let version = snapshot.version;
        let snapshot = Arc::new(snapshot);
        let (runtime, for_compile) = (self.runtime.clone(), snapshot.clone());
        let compiled = tokio::task::spawn_blocking(move || compile(&runtime, &for_compile))
            .await
            .map_err(|e| ApplyError {
                reason: NackReason::Apply,
                message: format!("the compile task failed: {e}"),
            })??;
        self.runtime.swap(compiled);
        tracing::debug!(
            config_version = version,
            compile_ms = started.elapsed().as_secs_f64() * 1000.0,
            "serving the new configuration"
        );
        if let Some(cache) = self.cache.clone() {
            // Serving already uses the new configuration; a failure here only costs the
            // restart-without-control-plane guarantee, so it is logged, not NACKed.
            let stored = tokio::task::spawn_blocking(move || cache.store(&snapshot)).await;
            match stored {
                Ok(Ok(())) => tracing::debug!(
                    config_version = version,
                    total_ms = started.elapsed().as_secs_f64() * 1000.0,
                    "persisted the configuration"
                ),
                Ok(Err(e)) => tracing::error!("cannot persist the configuration: {e}"),
                Err(e) => tracing::error!("cannot persist the configuration: {e}"),
            }
        }
        Ok(())
    }
}
