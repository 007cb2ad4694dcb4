//! The Admin API endpoints of hybrid mode: `GET /clustering/data-planes` (Kong's fleet
//! view, plus the configuration version each data plane serves and why it last refused
//! one) and `GET /clustering/status` (Kong's deprecated form: an object keyed by node id).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::fleet;
use super::registry::DataPlaneRegistry;
use crate::admin::{CustomHandler, Reply};
use crate::store::Store;

/// What the fleet endpoints read.
#[derive(Clone)]
pub struct Fleet {
    pub store: Store,
    pub registry: DataPlaneRegistry,
    pub heartbeat_timeout: Duration,
}

impl Fleet {
    async fn list(&self) -> Vec<Value> {
        fleet::list(&self.store, &self.registry, self.heartbeat_timeout).await
    }
}

/// `GET /clustering/data-planes`: `{"data": [...], "next": null}`, ordered by node id.
pub fn data_planes(fleet: Fleet) -> CustomHandler {
    Arc::new(move |_ctx| {
        let fleet = fleet.clone();
        Box::pin(async move {
            let data = fleet.list().await;
            Ok(Reply::ok(json!({ "data": data, "next": null })))
        })
    })
}

/// `GET /clustering/status`: `{"<node id>": {config_hash, hostname, ip, last_seen}}`.
pub fn status(fleet: Fleet) -> CustomHandler {
    Arc::new(move |_ctx| {
        let fleet = fleet.clone();
        Box::pin(async move {
            let mut out = Map::new();
            for dp in fleet.list().await {
                let Some(id) = dp.get("id").and_then(Value::as_str) else {
                    continue;
                };
                let pick = |field: &str| dp.get(field).cloned().unwrap_or(Value::Null);
                out.insert(
                    id.to_owned(),
                    json!({
                        "config_hash": pick("config_hash"),
                        "hostname": pick("hostname"),
                        "ip": pick("ip"),
                        "last_seen": pick("last_seen"),
                    }),
                );
            }
            Ok(Reply::ok(Value::Object(out)))
        })
    })
}
