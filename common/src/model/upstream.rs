//! Upstreams (virtual hostnames balanced over targets) and their targets.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ForeignRef, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Algorithm {
    #[default]
    RoundRobin,
    ConsistentHashing,
    LeastConnections,
    Latency,
}

/// What a consistent-hashing balancer hashes on (`hash_on` / `hash_fallback`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HashOn {
    #[default]
    None,
    Consumer,
    Ip,
    Header,
    Cookie,
    Path,
    QueryArg,
    UriCapture,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Upstream {
    pub id: Uuid,
    pub name: String,
    #[serde(deserialize_with = "super::nullable::or_default")]
    pub algorithm: Algorithm,
    #[serde(deserialize_with = "super::nullable::or_default")]
    pub hash_on: HashOn,
    #[serde(deserialize_with = "super::nullable::or_default")]
    pub hash_fallback: HashOn,
    #[serde(default)]
    pub hash_on_header: Option<String>,
    #[serde(default)]
    pub hash_fallback_header: Option<String>,
    #[serde(default)]
    pub hash_on_cookie: Option<String>,
    #[serde(default)]
    pub hash_on_cookie_path: Option<String>,
    #[serde(default)]
    pub hash_on_query_arg: Option<String>,
    #[serde(default)]
    pub hash_fallback_query_arg: Option<String>,
    #[serde(default)]
    pub hash_on_uri_capture: Option<String>,
    #[serde(default)]
    pub hash_fallback_uri_capture: Option<String>,
    #[serde(deserialize_with = "super::nullable::or_u32::<_, 10000>")]
    pub slots: u32,
    pub healthchecks: Healthchecks,
    #[serde(default)]
    pub host_header: Option<String>,
    #[serde(default)]
    pub client_certificate: Option<ForeignRef>,
    #[serde(default, deserialize_with = "super::nullable::or_default")]
    pub use_srv_name: bool,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub created_at: Timestamp,
    #[serde(default)]
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Healthchecks {
    pub active: ActiveHealthcheck,
    pub passive: PassiveHealthcheck,
    /// Minimum percentage of healthy weight for the upstream to be considered healthy.
    pub threshold: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveHealthcheck {
    /// `http`, `https`, `tcp`, `grpc` or `grpcs`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Seconds.
    pub timeout: f64,
    pub concurrency: u32,
    pub http_path: String,
    #[serde(default)]
    pub https_sni: Option<String>,
    pub https_verify_certificate: bool,
    #[serde(default)]
    pub headers: Option<std::collections::BTreeMap<String, Vec<String>>>,
    pub healthy: ActiveHealthy,
    pub unhealthy: ActiveUnhealthy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveHealthy {
    /// Seconds between probes of healthy targets; 0 disables them.
    pub interval: f64,
    pub http_statuses: Vec<u16>,
    pub successes: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveUnhealthy {
    /// Seconds between probes of unhealthy targets; 0 disables them.
    pub interval: f64,
    pub http_statuses: Vec<u16>,
    pub tcp_failures: u32,
    pub timeouts: u32,
    pub http_failures: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PassiveHealthcheck {
    #[serde(rename = "type")]
    pub kind: String,
    pub healthy: PassiveHealthy,
    pub unhealthy: PassiveUnhealthy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PassiveHealthy {
    pub http_statuses: Vec<u16>,
    pub successes: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PassiveUnhealthy {
    pub http_statuses: Vec<u16>,
    pub tcp_failures: u32,
    pub timeouts: u32,
    pub http_failures: u32,
}

/// A balancer target: `host:port` with a weight (Kong `targets`). Kong stamps targets with
/// millisecond precision, so their timestamps are fractional seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub id: Uuid,
    pub upstream: ForeignRef,
    pub target: String,
    #[serde(deserialize_with = "super::nullable::or_u32::<_, 100>")]
    pub weight: u32,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub created_at: f64,
    #[serde(default)]
    pub updated_at: f64,
}
