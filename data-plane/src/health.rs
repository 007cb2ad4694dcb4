//! `portico-dp health`: exits 0 when the local node's `/status/ready` answers 200;
//! otherwise it explains why and exits with status 1. It reads the same `--status-listen` / `PORTICO_STATUS_LISTEN`
//! as `serve`, so a container's health check finds the listener `serve` was given.

use std::time::Duration;

use clap::Args;

use crate::cli::{Listen, parse_listen};

#[derive(Debug, Clone, Args)]
pub struct HealthArgs {
    /// The status API address `serve` listens on (a wildcard address is dialed on loopback).
    #[arg(long, env = "PORTICO_STATUS_LISTEN", default_value = "127.0.0.1:8100", value_parser = parse_listen)]
    pub status_listen: Listen,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 5)]
    pub timeout: u64,
}

/// Asks `/status/ready`; `Ok` means ready.
pub fn check(args: &HealthArgs) -> anyhow::Result<()> {
    let Some(listen) = args.status_listen.0 else {
        anyhow::bail!("--status-listen is off: there is no status API to ask");
    };
    let resp = common::health::get(
        listen,
        "/status/ready",
        &[],
        Duration::from_secs(args.timeout.max(1)),
    )?;
    if resp.status == 200 {
        println!("ready");
        return Ok(());
    }
    let message = serde_json::from_str::<serde_json::Value>(&resp.body)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or(resp.body);
    anyhow::bail!("not ready (HTTP {}): {message}", resp.status)
}
