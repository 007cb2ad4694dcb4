use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ForeignRef, Protocol, Timestamp};

/// An upstream service (Kong `services`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub id: Uuid,
    #[serde(default)]
    pub name: Option<String>,
    pub protocol: Protocol,
    pub host: String,
    pub port: u16,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(deserialize_with = "super::nullable::or_u32::<_, 5>")]
    pub retries: u32,
    /// Milliseconds.
    #[serde(deserialize_with = "super::nullable::or_u64::<_, 60000>")]
    pub connect_timeout: u64,
    #[serde(deserialize_with = "super::nullable::or_u64::<_, 60000>")]
    pub write_timeout: u64,
    #[serde(deserialize_with = "super::nullable::or_u64::<_, 60000>")]
    pub read_timeout: u64,
    #[serde(default)]
    pub client_certificate: Option<ForeignRef>,
    #[serde(default)]
    pub tls_verify: Option<bool>,
    #[serde(default)]
    pub tls_verify_depth: Option<u32>,
    #[serde(default)]
    pub ca_certificates: Option<Vec<Uuid>>,
    pub enabled: bool,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub created_at: Timestamp,
    #[serde(default)]
    pub updated_at: Timestamp,
}
