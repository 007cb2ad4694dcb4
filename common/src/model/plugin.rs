use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ForeignRef, Protocol, Timestamp};

/// A plugin instance (Kong `plugins`). `config` has been validated against the plugin's
/// schema on the control plane, with defaults filled in; each plugin's runtime parses it
/// into its own typed configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plugin {
    pub id: Uuid,
    pub name: String,
    #[serde(default)]
    pub instance_name: Option<String>,
    #[serde(default)]
    pub route: Option<ForeignRef>,
    #[serde(default)]
    pub service: Option<ForeignRef>,
    #[serde(default)]
    pub consumer: Option<ForeignRef>,
    pub config: serde_json::Value,
    pub protocols: Vec<Protocol>,
    pub enabled: bool,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub created_at: Timestamp,
    #[serde(default)]
    pub updated_at: Timestamp,
}
