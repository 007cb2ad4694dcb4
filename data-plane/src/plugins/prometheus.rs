//! prometheus (Kong's `kong/plugins/prometheus`, PRIORITY 13): records request metrics
//! with Kong's names into the node's registry, served on the status API's `/metrics`.
//!
//! Without any prometheus instance the node records every request family (Portico's
//! default, so `/metrics` is useful out of the box). Once an instance is configured, the
//! requests it applies to are recorded with its switches (`status_code_metrics`,
//! `latency_metrics`, `bandwidth_metrics`, `per_consumer`), as in Kong, and requests it
//! does not apply to are not recorded.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;

use super::{InstanceCx, Kong, Plugin};
use crate::status::metrics::RecordFlags;

#[derive(Debug, Deserialize)]
struct Config {
    per_consumer: bool,
    status_code_metrics: bool,
    latency_metrics: bool,
    bandwidth_metrics: bool,
}

pub struct Prometheus {
    flags: RecordFlags,
}

pub fn factory(cx: &InstanceCx<'_>) -> Result<Arc<dyn Plugin>, String> {
    let c: Config = cx.config()?;
    Ok(Arc::new(Prometheus {
        flags: RecordFlags {
            status_codes: c.status_code_metrics,
            latency: c.latency_metrics,
            bandwidth: c.bandwidth_metrics,
            per_consumer: c.per_consumer,
        },
    }))
}

#[async_trait]
impl Plugin for Prometheus {
    fn log(&self, kong: &mut Kong<'_>) {
        if let Some(metrics) = kong.metrics {
            metrics.record(kong.ctx, kong.runtime, self.flags);
        }
    }

    fn reads_request_after_access(&self) -> bool {
        false
    }
}
