//! `portico-cp health`: exits 0 when the local control plane's Admin API answers
//! `GET /status` with 200 and reports its database reachable; otherwise it explains why and
//! exits with status 1. It reads the same `--admin-listen` / `--admin-token` (and their
//! `PORTICO_*` variables) as `serve`, so a container's health check or a Kubernetes `exec`
//! probe works with the token set, which an HTTP probe cannot send.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct HealthArgs {
    /// The Admin API address `serve` listens on (a wildcard address is dialed on loopback).
    #[arg(long, env = "PORTICO_ADMIN_LISTEN", default_value = "127.0.0.1:8001")]
    pub admin_listen: SocketAddr,
    /// Sent as `Kong-Admin-Token` when `serve` requires one.
    #[arg(long, env = "PORTICO_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 5)]
    pub timeout: u64,
}

/// Asks `/status`; `Ok` means the Admin API answers and the database is reachable.
pub fn check(args: &HealthArgs) -> anyhow::Result<()> {
    let mut headers = Vec::new();
    if let Some(token) = &args.admin_token {
        headers.push(("Kong-Admin-Token", token.as_str()));
    }
    let resp = common::health::get(
        args.admin_listen,
        "/status",
        &headers,
        Duration::from_secs(args.timeout.max(1)),
    )?;
    let body = serde_json::from_str::<serde_json::Value>(&resp.body).ok();
    let reachable = body
        .as_ref()
        .and_then(|b| b.pointer("/database/reachable"))
        .and_then(serde_json::Value::as_bool);
    match (resp.status, reachable) {
        (200, Some(true)) => {
            println!("healthy");
            Ok(())
        }
        (200, _) => anyhow::bail!("unhealthy: the database is not reachable"),
        (status, _) => {
            let message = body
                .as_ref()
                .and_then(|b| b.get("message"))
                .and_then(serde_json::Value::as_str)
                .map_or(resp.body.clone(), str::to_owned);
            anyhow::bail!("unhealthy (HTTP {status}): {message}")
        }
    }
}
