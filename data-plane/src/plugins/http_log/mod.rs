//! http-log (Kong's `kong/plugins/http-log/handler.lua`, PRIORITY 12): sends each
//! request's log entry to an HTTP endpoint, batched and retried by a queue.

mod queue;
mod sender;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use http::{HeaderName, HeaderValue, Method};
use serde::Deserialize;

use self::queue::{Queue, QueueConfig};
use self::sender::HttpSender;
use super::http_client::{self, Target};
use super::{InstanceCx, Kong, Plugin};

#[derive(Debug, Deserialize)]
struct Config {
    http_endpoint: String,
    method: String,
    content_type: String,
    timeout: f64,
    keepalive: f64,
    headers: Option<BTreeMap<String, String>>,
    queue: QueueConfig,
    custom_fields_by_lua: Option<serde_json::Map<String, serde_json::Value>>,
}

pub struct HttpLog {
    queue: Arc<Queue>,
    sender: Arc<HttpSender>,
}

pub fn factory(cx: &InstanceCx<'_>) -> Result<Arc<dyn Plugin>, String> {
    let config: Config = cx.config()?;
    super::file_log::refuse_lua(&config.custom_fields_by_lua)?;
    let target =
        Target::parse(&config.http_endpoint).map_err(|e| format!("invalid http_endpoint: {e}"))?;
    // Kong's http-log does not verify the log server's certificate.
    let tls = http_client::tls_config(false, Arc::new(rustls::RootCertStore::empty()))?;
    let headers = config
        .headers
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            Ok((
                HeaderName::from_bytes(k.as_bytes()).map_err(|e| e.to_string())?,
                HeaderValue::from_str(&v).map_err(|e| e.to_string())?,
            ))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let sender = Arc::new(HttpSender {
        method: Method::from_bytes(config.method.as_bytes()).map_err(|e| e.to_string())?,
        target,
        content_type: config.content_type,
        timeout: Duration::from_millis(config.timeout.max(1.0) as u64),
        keepalive: Duration::from_millis(config.keepalive.max(0.0) as u64),
        headers,
        as_array: config.queue.max_batch_size > 1,
        tls,
        dns: cx.dns.clone(),
        idle: tokio::sync::Mutex::new(None),
    });
    // One queue per plugin instance and configuration (Kong names it after both).
    let key = format!("http-log {} {}", cx.entity.id, cx.entity.config);
    let queue = cx
        .state
        .get_or_init(&key, || Queue::new(config.queue.clone()));
    Ok(Arc::new(HttpLog { queue, sender }))
}

#[async_trait]
impl Plugin for HttpLog {
    fn log(&self, kong: &mut Kong<'_>) {
        let Ok(entry) = kong.serialize() else {
            return;
        };
        let sender = self.sender.clone();
        self.queue.enqueue(entry.to_string(), || sender);
    }
}
