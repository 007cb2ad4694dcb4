//! What a plugin factory sees when it compiles one plugin entity.

use std::sync::Arc;

use common::model::Plugin as PluginEntity;
use common::snapshot::ConfigSet;
use rustls::RootCertStore;
use serde::de::DeserializeOwned;

use super::credentials::CredentialIndexes;
use super::state::NodeState;
use crate::balancer::Dns;

/// One plugin entity to compile, with the configuration it belongs to.
pub struct InstanceCx<'a> {
    /// The entity: id, name, scope (route, service, consumer), `config` (complete, with
    /// Kong's defaults filled by the schema), protocols.
    pub entity: &'a PluginEntity,
    /// Every entity of the configuration being compiled.
    pub config: &'a ConfigSet,
    /// Credentials indexed once per configuration.
    pub credentials: &'a CredentialIndexes<'a>,
    /// State that outlives configurations (counters, caches, queues).
    pub state: &'a Arc<NodeState>,
    /// The node's DNS cache.
    pub dns: &'a Arc<Dns>,
    /// The node's trust store (`lua_ssl_trusted_certificate`), for plugins that call
    /// out over TLS.
    pub node_trust: &'a Arc<RootCertStore>,
}

impl InstanceCx<'_> {
    /// The entity's `config` as a typed value.
    pub fn config<T: DeserializeOwned>(&self) -> Result<T, String> {
        T::deserialize(&self.entity.config).map_err(|e| format!("invalid config: {e}"))
    }
}
