use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ForeignRef, Protocol, Timestamp};

/// How the upstream path is built from the service path and the request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum PathHandling {
    #[default]
    #[serde(rename = "v0")]
    V0,
    #[serde(rename = "v1")]
    V1,
}

/// A `sources`/`destinations` entry of a stream route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CidrPort {
    #[serde(default)]
    pub ip: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
}

/// A route (Kong `routes`, traditional router fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route {
    pub id: Uuid,
    #[serde(default)]
    pub name: Option<String>,
    pub protocols: Vec<Protocol>,
    #[serde(default)]
    pub methods: Option<Vec<String>>,
    #[serde(default)]
    pub hosts: Option<Vec<String>>,
    #[serde(default)]
    pub paths: Option<Vec<String>>,
    /// Header name (lower-case) -> accepted values.
    #[serde(default)]
    pub headers: Option<BTreeMap<String, Vec<String>>>,
    pub https_redirect_status_code: u16,
    #[serde(default, deserialize_with = "super::nullable::or_default")]
    pub regex_priority: i64,
    pub strip_path: bool,
    #[serde(default, deserialize_with = "super::nullable::or_default")]
    pub path_handling: PathHandling,
    pub preserve_host: bool,
    pub request_buffering: bool,
    pub response_buffering: bool,
    #[serde(default)]
    pub snis: Option<Vec<String>>,
    #[serde(default)]
    pub sources: Option<Vec<CidrPort>>,
    #[serde(default)]
    pub destinations: Option<Vec<CidrPort>>,
    #[serde(default)]
    pub service: Option<ForeignRef>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub created_at: Timestamp,
    #[serde(default)]
    pub updated_at: Timestamp,
}
