//! Node and meta endpoints: `GET /`, `/status`, `/endpoints`, `/plugins/enabled`.

use common::model::EntityKind;
use serde_json::{Map, Value, json};

use super::context::Ctx;
use super::entity::lookup::list_all;
use super::error::ApiError;
use super::reply::Reply;
use super::routes::RouteTable;

/// The Kong version whose Admin API Portico implements. Clients (decK, ...) branch on the
/// `version` of `GET /`, so it is Kong's; Portico's own is `portico_version`.
pub const KONG_COMPATIBLE_VERSION: &str = "3.10.0";

/// Portico's version.
pub const PORTICO_VERSION: &str = env!("CARGO_PKG_VERSION");

/// `GET /`
pub async fn root(ctx: &Ctx) -> Result<Reply, ApiError> {
    let state = &ctx.state;
    let catalog = state.catalog();
    let mut in_cluster: Vec<String> = Vec::new();
    for plugin in list_all(state.store(), EntityKind::Plugin, None).await? {
        if let Some(name) = plugin.get("name").and_then(Value::as_str)
            && !in_cluster.iter().any(|n| n == name)
        {
            in_cluster.push(name.to_owned());
        }
    }
    let available: Map<String, Value> = catalog
        .plugins()
        .map(|p| {
            (
                p.name.to_owned(),
                json!({"version": p.version, "priority": p.priority}),
            )
        })
        .collect();
    let pid = std::process::id();
    Ok(Reply::ok(json!({
        "tagline": "Welcome to kong",
        "version": KONG_COMPATIBLE_VERSION,
        "edition": "community",
        "portico_version": PORTICO_VERSION,
        "hostname": state.config().hostname,
        "node_id": state.node_id(),
        "plugins": {
            "available_on_server": available,
            "enabled_in_cluster": in_cluster,
        },
        "configuration": state.config().configuration,
        "pids": {"master": pid, "workers": [pid]},
    })))
}

/// The process's resident set size in bytes (Linux), if known.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Kong's `bytes_to_str`: `b` (or no unit) → a number of bytes, `k`/`m`/`g` → a string
/// with `scale` decimals. Errors carry Kong's messages.
pub fn format_bytes(bytes: u64, unit: &str, scale: Option<f64>) -> Result<Value, String> {
    let lower = unit.to_ascii_lowercase();
    if lower.is_empty() || lower == "b" {
        return Ok(json!(bytes));
    }
    let scale = scale.unwrap_or(2.0);
    if scale < 0.0 {
        return Err("scale must be equal or greater than 0".into());
    }
    let decimals = scale.floor() as usize;
    let (divisor, suffix) = match lower.as_str() {
        "k" => (1024f64, "KiB"),
        "m" => (1024f64 * 1024.0, "MiB"),
        "g" => (1024f64 * 1024.0 * 1024.0, "GiB"),
        _ => {
            return Err(format!(
                "invalid unit '{unit}' (expected 'k/K', 'm/M', or 'g/G')"
            ));
        }
    };
    Ok(json!(format!(
        "{:.*} {suffix}",
        decimals,
        bytes as f64 / divisor
    )))
}

/// `GET /status`: connection counters, database reachability and memory. The memory block
/// reports the process's resident memory: Kong's Lua VM and shared-dictionary figures have
/// no equivalent here.
pub async fn status(ctx: &Ctx) -> Result<Reply, ApiError> {
    let unit = ctx.query.text("unit").unwrap_or("m").to_owned();
    let scale = ctx
        .query
        .text("scale")
        .and_then(common::schema::lua_tonumber);
    format_bytes(0, &unit, scale).map_err(ApiError::BadRequest)?;
    let rss = resident_bytes()
        .map(|b| format_bytes(b, &unit, scale))
        .transpose()
        .map_err(ApiError::BadRequest)?
        .unwrap_or(Value::Null);
    let reachable = match ctx.state.store().ping().await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "/status: the database is not reachable");
            false
        }
    };
    Ok(Reply::ok(json!({
        "server": ctx.state.stats().snapshot(),
        "database": {"reachable": reachable},
        "memory": {"process": {"pid": std::process::id(), "rss": rss}},
    })))
}

/// `GET /endpoints`
pub fn endpoints(routes: &RouteTable) -> Reply {
    Reply::ok(json!({ "data": routes.templates() }))
}

/// `GET /plugins/enabled`
pub fn plugins_enabled(ctx: &Ctx) -> Reply {
    let mut names: Vec<&str> = ctx.state.catalog().plugins().map(|p| p.name).collect();
    names.sort_unstable();
    Reply::ok(json!({ "enabled_plugins": names }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_like_kong() {
        assert_eq!(format_bytes(5497558, "m", None), Ok(json!("5.24 MiB")));
        assert_eq!(
            format_bytes(5497558, "G", Some(3.0)),
            Ok(json!("0.005 GiB"))
        );
        assert_eq!(format_bytes(2048, "k", None), Ok(json!("2.00 KiB")));
        assert_eq!(format_bytes(2048, "b", None), Ok(json!(2048)));
        assert_eq!(
            format_bytes(0, "V", None),
            Err("invalid unit 'V' (expected 'k/K', 'm/M', or 'g/G')".into())
        );
        assert_eq!(
            format_bytes(0, "m", Some(-1.0)),
            Err("scale must be equal or greater than 0".into())
        );
    }
}
