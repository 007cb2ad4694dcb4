//! State shared by every compilation in one process: the DNS cache, the balancer registry
//! (health and load state kept across configurations, active health checkers), the node
//! trust store, the built-in default certificate, and interned upstream TLS client
//! configurations
//! (so consecutive runtimes reuse the same `Arc<ClientConfig>`, which keeps pooled
//! upstream connections and TLS sessions usable across configuration swaps).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use rustls::{ClientConfig, RootCertStore};

use crate::balancer::{BalancerRegistry, Dns};
use crate::plugins::PluginRegistry;
use crate::plugins::state::NodeState;
use crate::tls::client::{UpstreamTls, client_config, node_trust_store};
use crate::tls::server::{ServedCertificate, builtin_default_certificate};

/// Node settings compilation depends on.
#[derive(Debug, Clone)]
pub struct EnvSettings {
    /// `lua_ssl_trusted_certificate`: `system` and/or PEM file paths; the trust store of
    /// services that verify upstream certificates without their own `ca_certificates`.
    pub trusted_certificates: Vec<String>,
}

impl Default for EnvSettings {
    fn default() -> Self {
        EnvSettings {
            trusted_certificates: vec!["system".to_string()],
        }
    }
}

/// Identity of an upstream TLS client configuration: the settings plus a digest of the
/// certificate material, so equal settings share one `ClientConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct TlsConfigKey {
    pub verify: bool,
    pub depth: u32,
    pub alpn_h2: bool,
    /// SHA-256 over the PEM of the CA certificates (empty: node trust store).
    pub roots_digest: Vec<u8>,
    /// SHA-256 over the client certificate and key PEM (empty: none).
    pub client_digest: Vec<u8>,
}

pub struct CompileEnv {
    pub(crate) dns: Arc<Dns>,
    /// Balancer state kept across configurations (health, in-flight counts, probes).
    pub(crate) balancers: BalancerRegistry,
    pub(crate) node_trust: Arc<RootCertStore>,
    pub(crate) default_certificate: Arc<ServedCertificate>,
    tls_configs: Mutex<HashMap<TlsConfigKey, Weak<ClientConfig>>>,
    pub(crate) plugins: Arc<PluginRegistry>,
    pub(crate) plugin_state: Arc<NodeState>,
}

impl CompileEnv {
    /// An environment with the bundled plugins.
    pub fn new(settings: &EnvSettings) -> Result<CompileEnv, String> {
        CompileEnv::with_plugins(settings, PluginRegistry::bundled())
    }

    /// An environment with the given plugin registry (a build with custom plugins).
    pub fn with_plugins(
        settings: &EnvSettings,
        plugins: PluginRegistry,
    ) -> Result<CompileEnv, String> {
        let dns = Dns::system()?;
        let node_trust = node_trust_store(&settings.trusted_certificates)
            .map_err(|e| format!("lua_ssl_trusted_certificate: {e}"))?;
        let default_certificate =
            builtin_default_certificate().map_err(|e| format!("default certificate: {e}"))?;
        Ok(CompileEnv {
            dns,
            balancers: BalancerRegistry::new(),
            node_trust: Arc::new(node_trust),
            default_certificate,
            tls_configs: Mutex::new(HashMap::new()),
            plugins: Arc::new(plugins),
            plugin_state: Arc::new(NodeState::default()),
        })
    }

    /// The plugins this node can run.
    pub fn plugins(&self) -> &Arc<PluginRegistry> {
        &self.plugins
    }

    /// Plugin state that outlives configurations.
    pub fn plugin_state(&self) -> &Arc<NodeState> {
        &self.plugin_state
    }

    pub fn dns(&self) -> &Arc<Dns> {
        &self.dns
    }

    pub fn balancers(&self) -> &BalancerRegistry {
        &self.balancers
    }

    pub fn node_trust(&self) -> &Arc<RootCertStore> {
        &self.node_trust
    }

    /// The interned client configuration for `settings` (built on first use).
    pub(super) fn client_config(
        &self,
        key: TlsConfigKey,
        settings: &UpstreamTls,
    ) -> Result<Arc<ClientConfig>, String> {
        let mut configs = match self.tls_configs.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(existing) = configs.get(&key).and_then(Weak::upgrade) {
            return Ok(existing);
        }
        configs.retain(|_, w| w.strong_count() > 0);
        let config = client_config(settings)?;
        configs.insert(key, Arc::downgrade(&config));
        Ok(config)
    }
}
