//! correlation-id (Kong's `kong/plugins/correlation-id/handler.lua`, PRIORITY 100001):
//! gives every request an id in a header (kept when the client sent one), optionally
//! echoed in the response, and adds it to the log entry.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use serde::Deserialize;

use super::{Flow, InstanceCx, Kong, Plugin};

#[derive(Debug, Deserialize)]
struct Config {
    header_name: String,
    generator: String,
    echo_downstream: bool,
}

/// The process's `uuid#counter` state (Kong's per-worker uuid and counter).
struct Counter {
    uuid: String,
    next: AtomicU64,
}

pub struct CorrelationId {
    config: Config,
    counter: Arc<Counter>,
}

pub fn factory(cx: &InstanceCx<'_>) -> Result<Arc<dyn Plugin>, String> {
    let config: Config = cx.config()?;
    let counter = cx.state.get_or_init("correlation-id counter", || Counter {
        uuid: uuid::Uuid::new_v4().to_string(),
        next: AtomicU64::new(0),
    });
    Ok(Arc::new(CorrelationId { config, counter }))
}

/// The id chosen for this request.
#[derive(Clone)]
struct ChosenId(String);

impl CorrelationId {
    fn generate(&self, kong: &mut Kong<'_>) -> String {
        match self.config.generator.as_str() {
            "uuid" => uuid::Uuid::new_v4().to_string(),
            "tracker" => {
                // nginx's server address and port, worker pid, connection and request
                // serials, time: the connection is identified by the client's port here.
                let ctx = kong.context();
                let now = ctx
                    .started_at()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64());
                format!(
                    "{}-{}-{}-{}-{}-{now:.3}",
                    ctx.conn.local.ip(),
                    ctx.conn.local.port(),
                    std::process::id(),
                    ctx.conn.peer.port(),
                    self.counter.next.fetch_add(1, Ordering::Relaxed) + 1,
                )
            }
            _ => {
                let n = self.counter.next.fetch_add(1, Ordering::Relaxed) + 1;
                format!("{}#{n}", self.counter.uuid)
            }
        }
    }
}

#[async_trait]
impl Plugin for CorrelationId {
    async fn access(&self, kong: &mut Kong<'_>) -> Flow {
        let existing = kong
            .request()
            .header(&self.config.header_name)
            .filter(|v| !v.is_empty())
            .map(str::to_string);
        let id = match existing {
            Some(id) => id,
            None => {
                let id = self.generate(kong);
                let _ = kong
                    .service_request()
                    .set_header(&self.config.header_name, &id);
                id
            }
        };
        kong.set_serialize_value("correlation_id", serde_json::Value::String(id.clone()));
        if self.config.echo_downstream {
            kong.shared().insert(ChosenId(id));
        }
        Flow::Continue
    }

    fn header_filter(&self, kong: &mut Kong<'_>) {
        if !self.config.echo_downstream {
            return;
        }
        let chosen = kong.shared().get::<ChosenId>().map(|c| c.0.clone());
        let id = chosen
            .or_else(|| {
                kong.request()
                    .header(&self.config.header_name)
                    .map(str::to_string)
            })
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| self.generate(kong));
        let _ = kong.response().set_header(&self.config.header_name, &id);
    }
}
