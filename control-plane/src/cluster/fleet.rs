//! The fleet view shared through the database: every control plane writes what its sessions
//! learn about their data planes into `clustering_data_planes`, and `/clustering/data-planes`
//! on any control plane lists them all (like Kong's table of the same name).
//!
//! Writes leave the session path through an unbounded channel (the registry's sink) and are
//! coalesced per data plane: a burst of heartbeats from one data plane is one upsert. When
//! the database is away, the newest status per data plane waits and is written once it is
//! back; meanwhile the listing falls back to this process's own sessions.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::registry::{DataPlaneRegistry, DataPlaneStatus};
use crate::serve::Shutdown;
use crate::store::{Store, StoreError};

/// Wait between attempts while the database is unreachable.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How often data planes gone longer than the purge delay are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// Time given at shutdown for the sessions' last updates to arrive and be written.
const FINAL_FLUSH: Duration = Duration::from_secs(2);

/// Writes registry changes to the store until shutdown, then flushes what is left.
pub async fn persist(
    store: Store,
    mut changes: mpsc::UnboundedReceiver<DataPlaneStatus>,
    purge_delay: u64,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let mut pending: HashMap<Uuid, DataPlaneStatus> = HashMap::new();
    let mut purge = tokio::time::interval(PURGE_EVERY);
    let stop = shutdown.wait();
    tokio::pin!(stop);
    loop {
        let retry = async {
            if pending.is_empty() {
                std::future::pending::<()>().await
            } else {
                tokio::time::sleep(RETRY_AFTER).await
            }
        };
        tokio::select! {
            _ = &mut stop => break,
            change = changes.recv() => match change {
                Some(status) => { pending.insert(status.id, status); }
                None => break,
            },
            () = retry => {}
            _ = purge.tick() => {
                let before = now_secs().saturating_sub(purge_delay);
                match store.purge_data_planes(i64::try_from(before).unwrap_or(0)).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "purged data planes not seen for the purge delay"),
                    Err(e) => tracing::debug!(error = %e, "purging old data planes failed"),
                }
            }
        }
        while let Ok(status) = changes.try_recv() {
            pending.insert(status.id, status);
        }
        flush(&store, &mut pending).await;
    }
    // Sessions end as the process stops; record their last state (disconnected).
    let _ = tokio::time::timeout(FINAL_FLUSH, async {
        tokio::time::sleep(FINAL_FLUSH / 4).await;
        while let Ok(status) = changes.try_recv() {
            pending.insert(status.id, status);
        }
        flush(&store, &mut pending).await;
    })
    .await;
    Ok(())
}

/// Writes every pending status; keeps those that could not be written.
async fn flush(store: &Store, pending: &mut HashMap<Uuid, DataPlaneStatus>) {
    let ids: Vec<Uuid> = pending.keys().copied().collect();
    for id in ids {
        let Some(status) = pending.get(&id) else {
            continue;
        };
        let json = match serde_json::to_string(status) {
            Ok(json) => json,
            Err(e) => {
                tracing::warn!(error = %e, "cannot encode a data plane status");
                pending.remove(&id);
                continue;
            }
        };
        let last_seen = i64::try_from(status.last_seen).unwrap_or(i64::MAX);
        match store.put_data_plane(id, last_seen, json).await {
            Ok(()) => {
                pending.remove(&id);
            }
            Err(e) => {
                tracing::debug!(error = %e, "cannot record data plane status; will retry");
                return;
            }
        }
    }
}

/// The fleet for `/clustering/data-planes`: every control plane's data planes from the
/// database, or (database unreachable) this process's own.
pub async fn list(
    store: &Store,
    registry: &DataPlaneRegistry,
    heartbeat_timeout: Duration,
) -> Vec<Value> {
    let now = now_secs();
    let purge_delay = registry.purge_delay();
    let since = i64::try_from(now.saturating_sub(purge_delay)).unwrap_or(0);
    match store.data_planes(since).await {
        Ok(rows) => rows
            .iter()
            .filter_map(|row| serde_json::from_str::<Value>(row).ok())
            .map(|mut dp| {
                freshen(&mut dp, now, purge_delay, heartbeat_timeout);
                dp
            })
            .collect(),
        Err(e) => {
            if !matches!(e, StoreError::Unavailable(_)) {
                tracing::warn!(error = %e, "cannot read the data planes; listing this control plane's own");
            }
            registry
                .list()
                .into_iter()
                .filter_map(|dp| serde_json::to_value(dp).ok())
                .collect()
        }
    }
}

/// Recomputes the time-dependent fields of a stored status: `ttl`, and `connected`, which
/// must not stay true for a data plane whose control plane died without saying so (a
/// connected data plane is heard from at least every heartbeat timeout).
fn freshen(dp: &mut Value, now: u64, purge_delay: u64, heartbeat_timeout: Duration) {
    let last_seen = dp.get("last_seen").and_then(Value::as_u64).unwrap_or(0);
    let age = now.saturating_sub(last_seen);
    if let Some(object) = dp.as_object_mut() {
        object.insert("ttl".into(), purge_delay.saturating_sub(age).into());
        let alive = age <= heartbeat_timeout.as_secs().saturating_add(1);
        if !alive {
            object.insert("connected".into(), false.into());
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_data_plane_is_not_shown_connected() {
        let timeout = Duration::from_secs(45);
        let mut dp = serde_json::json!({"last_seen": 1000, "connected": true, "ttl": 5});
        freshen(&mut dp, 1030, 100, timeout);
        assert_eq!(dp["connected"], true);
        assert_eq!(dp["ttl"], 70);
        freshen(&mut dp, 1100, 100, timeout);
        assert_eq!(dp["connected"], false);
        assert_eq!(dp["ttl"], 0);
    }
}
