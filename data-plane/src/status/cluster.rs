//! Hybrid-mode state on the status API: a `cluster` block in `/status` and gauges in
//! `/metrics`, read from the sync client's [`SyncState`] when scraped.
//!
//! Metrics (Portico's additions, under Kong's `kong_` prefix):
//! - `kong_control_plane_connected`: 1 while a sync session with a control plane is up;
//! - `kong_config_version`: the configuration version served (0: none);
//! - `kong_config_applied_timestamp_seconds`: when it was applied;
//! - `kong_config_apply_seconds`: how long the last apply took;
//! - `kong_config_age_seconds`: seconds since a control plane last confirmed the served
//!   configuration as its newest (absent until one has). It stays below the heartbeat
//!   interval while all is well and grows while the control plane is away or this node
//!   lags behind: the one to alert on.

use std::sync::atomic::AtomicU64;
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde_json::{Value, json};

use crate::sync::SyncState;

const EOF: &str = "# EOF\n";

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The `cluster` block of `/status`.
pub fn status_block(sync: &SyncState) -> Value {
    let serving = sync.serving();
    json!({
        "connected": sync.connected(),
        "control_plane": sync.control_plane(),
        "config_version": serving.map(|s| s.version),
        "config_hash": serving.map(|s| s.hash.to_hex()),
        "applied_at": sync.applied_at_millis().map(|ms| ms / 1000),
        "confirmed_at": sync.confirmed_at_millis().map(|ms| ms / 1000),
        "last_error": sync.last_error(),
    })
}

/// Adds the sync gauges to `metrics` (OpenMetrics text ending in `# EOF`).
pub fn append_metrics(metrics: &mut String, sync: &SyncState) {
    let mut registry = Registry::with_prefix("kong");
    let int = |value: u64| {
        let gauge = Gauge::<i64>::default();
        gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
        gauge
    };
    let float = |value: f64| {
        let gauge = Gauge::<f64, AtomicU64>::default();
        gauge.set(value);
        gauge
    };
    registry.register(
        "control_plane_connected",
        "1 while a sync session with a control plane is established",
        int(u64::from(sync.connected())),
    );
    registry.register(
        "config_version",
        "Configuration version this data plane serves (0: none)",
        int(sync.serving().map_or(0, |s| s.version)),
    );
    if let Some(at) = sync.applied_at_millis() {
        registry.register(
            "config_applied_timestamp_seconds",
            "When the served configuration was applied (Unix time)",
            float(at as f64 / 1000.0),
        );
    }
    if let Some(took) = sync.last_apply_time() {
        registry.register(
            "config_apply_seconds",
            "How long the last configuration apply took (decode, verify, compile, swap)",
            float(took.as_secs_f64()),
        );
    }
    if let Some(at) = sync.confirmed_at_millis() {
        registry.register(
            "config_age_seconds",
            "Seconds since a control plane last confirmed the served configuration as its newest",
            float(now_millis().saturating_sub(at) as f64 / 1000.0),
        );
    }
    let mut text = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &registry) {
        tracing::warn!(error = %e, "cannot encode the sync metrics");
        return;
    }
    let ours = text.strip_suffix(EOF).unwrap_or(&text);
    match metrics.strip_suffix(EOF) {
        Some(body) => {
            let mut joined = String::with_capacity(metrics.len() + ours.len());
            joined.push_str(body);
            joined.push_str(ours);
            joined.push_str(EOF);
            *metrics = joined;
        }
        None => metrics.push_str(ours),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_gauges_go_before_the_end_marker() {
        let mut text = "# HELP kong_x x\n# TYPE kong_x gauge\nkong_x 1\n# EOF\n".to_owned();
        append_metrics(&mut text, &SyncState::default());
        assert!(
            text.starts_with("# HELP kong_x x\n# TYPE kong_x gauge\nkong_x 1\n"),
            "{text}"
        );
        assert!(text.ends_with("kong_config_version 0\n# EOF\n"), "{text}");
        assert!(
            text.contains("\nkong_control_plane_connected 0\n"),
            "{text}"
        );
        assert_eq!(text.matches(EOF).count(), 1, "{text}");
        assert!(!text.contains("config_age_seconds"), "{text}");
    }
}
