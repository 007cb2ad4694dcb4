//! ip-restriction (Kong's `kong/plugins/ip-restriction/handler.lua`, PRIORITY 990):
//! denies clients by IP or CIDR (`deny` first, then `allow`).

use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use ipnet::IpNet;
use serde::Deserialize;

use super::{Exit, Flow, InstanceCx, Kong, Plugin};

#[derive(Debug, Deserialize)]
struct Config {
    allow: Option<Vec<String>>,
    deny: Option<Vec<String>>,
    status: Option<f64>,
    message: Option<String>,
}

pub struct IpRestriction {
    allow: Vec<IpNet>,
    deny: Vec<IpNet>,
    status: u16,
    message: Option<String>,
}

fn parse_list(list: Option<Vec<String>>) -> Result<Vec<IpNet>, String> {
    list.unwrap_or_default()
        .iter()
        .map(|entry| {
            entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("invalid ip or cidr range: '{entry}'"))
        })
        .collect()
}

pub fn factory(cx: &InstanceCx<'_>) -> Result<Arc<dyn Plugin>, String> {
    let config: Config = cx.config()?;
    Ok(Arc::new(IpRestriction {
        allow: parse_list(config.allow)?,
        deny: parse_list(config.deny)?,
        status: config.status.map_or(403, |s| s as u16),
        message: config.message,
    }))
}

/// An address in a list, comparing IPv4-mapped IPv6 addresses as IPv4.
fn contains(list: &[IpNet], ip: IpAddr) -> bool {
    let ip = crate::proxy::settings::canonical_ip(ip);
    list.iter().any(|net| net.contains(&ip))
}

#[async_trait]
impl Plugin for IpRestriction {
    async fn access(&self, kong: &mut Kong<'_>) -> Flow {
        let ip = kong.client().forwarded_ip();
        let blocked = (!self.deny.is_empty() && contains(&self.deny, ip))
            || (!self.allow.is_empty() && !contains(&self.allow, ip));
        if !blocked {
            return Flow::Continue;
        }
        let message = self
            .message
            .clone()
            .unwrap_or_else(|| format!("IP address not allowed: {ip}"));
        Flow::Exit(Exit::error(self.status, message))
    }

    fn reads_request_after_access(&self) -> bool {
        false
    }
}
