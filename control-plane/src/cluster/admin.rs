//! The Admin API endpoints of hybrid mode: `GET /clustering/data-planes` (Kong's fleet
//! view, plus the configuration version each data plane serves and why it last refused
//! one) and `GET /clustering/status` (Kong's deprecated form: an object keyed by node id).

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::registry::DataPlaneRegistry;
use crate::admin::{CustomHandler, Reply};

/// `GET /clustering/data-planes`: `{"data": [...], "next": null}`, ordered by node id.
pub fn data_planes(registry: DataPlaneRegistry) -> CustomHandler {
    Arc::new(move |_ctx| {
        let list = registry.list();
        Box::pin(async move {
            let data = serde_json::to_value(list).unwrap_or_else(|_| Value::Array(Vec::new()));
            Ok(Reply::ok(json!({ "data": data, "next": null })))
        })
    })
}

/// `GET /clustering/status`: `{"<node id>": {config_hash, hostname, ip, last_seen}}`.
pub fn status(registry: DataPlaneRegistry) -> CustomHandler {
    Arc::new(move |_ctx| {
        let list = registry.list();
        Box::pin(async move {
            let mut out = Map::new();
            for dp in list {
                out.insert(
                    dp.id.to_string(),
                    json!({
                        "config_hash": dp.config_hash,
                        "hostname": dp.hostname,
                        "ip": dp.ip,
                        "last_seen": dp.last_seen,
                    }),
                );
            }
            Ok(Reply::ok(Value::Object(out)))
        })
    })
}
