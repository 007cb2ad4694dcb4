//! The immutable runtime configuration the proxy serves from, and its atomic publication.
//!
//! A [`ConfigSet`] (`common::snapshot::ConfigSet`: plain typed entities, from a
//! declarative file or a control-plane snapshot) is compiled off the request path into a [`Runtime`]: the router, one
//! [`ServiceRuntime`] per service (where to connect, with which TLS settings), balancers
//! per upstream, the SNI certificate table and the plugin chains. A [`RuntimeHandle`]
//! publishes it with one `ArcSwap`: each request loads the current runtime once and keeps
//! that `Arc` until it finishes, so a swap never changes a request midway and never
//! interrupts one.

mod compile;
mod env;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use common::model::{Consumer, EntityKind, Service};
use foldhash::HashMap as FastMap;
use http::HeaderValue;
use rustls::ClientConfig;
use uuid::Uuid;

use crate::balancer::{HostEntry, UpstreamBalancer};
use crate::plugins::PluginChain;
use crate::router::Router;
use crate::tls::server::SniResolver;

pub use common::snapshot::ConfigSet;
pub use env::{CompileEnv, EnvSettings};

/// Compile settings from `--lua-ssl-trusted-certificate` (comma-separated).
pub fn env_settings(lua_ssl_trusted_certificate: &str) -> EnvSettings {
    EnvSettings {
        trusted_certificates: lua_ssl_trusted_certificate
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    }
}

/// One reason a configuration cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub kind: EntityKind,
    pub id: Option<Uuid>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.id {
            Some(id) => write!(f, "{} {}: {}", self.kind.name(), id, self.message),
            None => write!(f, "{}: {}", self.kind.name(), self.message),
        }
    }
}

/// Every problem found while compiling (compilation does not stop at the first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    pub problems: Vec<Problem>,
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("invalid configuration: ")?;
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CompileError {}

/// Where a service's requests go.
pub enum ServiceTarget {
    /// `service.host` names an upstream entity: balance over its targets.
    Upstream(Arc<UpstreamBalancer>),
    /// An IP address literal, and its text (the peer's hostname in logs).
    Ip(IpAddr, Arc<str>),
    /// A hostname, resolved through DNS with TTLs.
    Name(Arc<HostEntry>),
}

/// A service compiled for the request path.
pub struct ServiceRuntime {
    pub service: Arc<Service>,
    pub target: ServiceTarget,
    /// TLS client configuration for `https`/`grpcs` services.
    pub tls: Option<Arc<ClientConfig>>,
    /// Upstream speaks HTTP/2 (`grpc`/`grpcs`).
    pub h2: bool,
    /// `Host` for `preserve_host: false` when the target is not an upstream entity:
    /// `host` plus `:port` unless the port is the scheme's default.
    pub host_header: HeaderValue,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub write_timeout: Duration,
}

/// TLS server configurations by (session reuse disabled, CA names of the request).
pub(crate) type TlsWithCaNames =
    std::sync::Mutex<HashMap<(bool, Vec<Vec<u8>>), Arc<rustls::ServerConfig>>>;

/// An immutable, compiled configuration.
pub struct Runtime {
    pub(crate) router: Router,
    // Maps read per request use foldhash (keys come from the configuration, not clients).
    pub(crate) services: FastMap<Uuid, Arc<ServiceRuntime>>,
    pub(crate) upstreams: HashMap<String, Arc<UpstreamBalancer>>,
    pub(crate) tls_server: Arc<rustls::ServerConfig>,
    /// Server configurations for connections whose certificate phase asked for a client
    /// certificate and/or no session reuse, built on first use.
    pub(crate) tls_variants: [OnceLock<Arc<rustls::ServerConfig>>; 3],
    /// Server configurations whose client-certificate request lists CA names (mtls-auth's
    /// `send_ca_dn`), by (session reuse disabled, names): few distinct sets per
    /// configuration, built on first use.
    pub(crate) tls_with_ca_names: TlsWithCaNames,
    pub(crate) sni: Arc<SniResolver>,
    pub(crate) plugins: PluginChain,
    pub(crate) consumers: FastMap<Uuid, Arc<Consumer>>,
    /// Consumers by username and by custom id (`kong.client.load_consumer(x, true)`).
    pub(crate) consumers_by_name: FastMap<String, Arc<Consumer>>,
    pub(crate) config_hash: String,
    pub(crate) source: Arc<ConfigSet>,
    /// Metric label per service, route and consumer id (name, or the route id).
    pub(crate) metric_labels: FastMap<Uuid, Arc<str>>,
    /// The metric series this runtime's requests were recorded in, by entity ids.
    pub(crate) metric_series: crate::status::metrics::SeriesByIds,
}

/// Kong's hash of an empty declarative configuration, reported until a configuration is
/// published.
pub const EMPTY_CONFIG_HASH: &str = "00000000000000000000000000000000";

impl Runtime {
    /// Compiles with a fresh [`CompileEnv`] (its own DNS cache and default certificate).
    /// Long-running processes compile through [`RuntimeHandle::compile`] instead, which
    /// shares caches across configurations. The hash is computed from the content
    /// (`common::snapshot::ConfigHash` of the canonical JSON).
    pub fn compile(config: ConfigSet) -> Result<Runtime, CompileError> {
        let env = CompileEnv::new(&Default::default()).map_err(|e| CompileError {
            problems: vec![Problem {
                kind: EntityKind::Service,
                id: None,
                message: e,
            }],
        })?;
        compile::compile(config, None, &env)
    }

    /// Compiles with the caches of `env`. `hash` is the configuration's hash when its source
    /// already knows it (a control-plane snapshot); otherwise it is computed.
    pub fn compile_with(
        config: ConfigSet,
        hash: Option<String>,
        env: &CompileEnv,
    ) -> Result<Runtime, CompileError> {
        compile::compile(config, hash, env)
    }

    /// The hash identifying this configuration (32 hex digits).
    pub fn config_hash(&self) -> &str {
        &self.config_hash
    }

    /// The entities this runtime was compiled from.
    pub fn source(&self) -> &Arc<ConfigSet> {
        &self.source
    }

    pub fn service(&self, id: &Uuid) -> Option<&Arc<ServiceRuntime>> {
        self.services.get(id)
    }

    /// The balancer of the upstream entity named `name`.
    pub fn upstream(&self, name: &str) -> Option<&Arc<UpstreamBalancer>> {
        self.upstreams.get(name)
    }

    pub fn upstreams(&self) -> impl Iterator<Item = &Arc<UpstreamBalancer>> {
        self.upstreams.values()
    }

    pub fn consumer(&self, id: &Uuid) -> Option<&Arc<Consumer>> {
        self.consumers.get(id)
    }

    /// A consumer by username, else by custom id.
    pub fn consumer_by_name(&self, name: &str) -> Option<&Arc<Consumer>> {
        self.consumers_by_name.get(name)
    }

    pub fn plugins(&self) -> &PluginChain {
        &self.plugins
    }

    pub fn router(&self) -> &Router {
        &self.router
    }

    pub fn sni_resolver(&self) -> &Arc<SniResolver> {
        &self.sni
    }

    pub fn tls_server_config(&self) -> &Arc<rustls::ServerConfig> {
        &self.tls_server
    }

    /// The TLS server configuration for a connection: runs the plugins' certificate
    /// phase (global instances) and picks the configuration it calls for.
    pub fn tls_server_config_for(&self, sni: Option<&str>) -> Arc<rustls::ServerConfig> {
        if self.plugins.is_empty() {
            return self.tls_server.clone();
        }
        let decisions = self.plugins.certificate(sni);
        if decisions.request_client_certificate && !decisions.client_ca_names.is_empty() {
            let key = (
                decisions.disable_session_reuse,
                decisions.client_ca_names.clone(),
            );
            let mut cache = match self.tls_with_ca_names.lock() {
                Ok(c) => c,
                Err(poisoned) => poisoned.into_inner(),
            };
            return cache
                .entry(key)
                .or_insert_with(|| {
                    crate::tls::server::server_config_with(self.sni.clone(), decisions)
                })
                .clone();
        }
        let slot = match (
            decisions.request_client_certificate,
            decisions.disable_session_reuse,
        ) {
            (false, false) => return self.tls_server.clone(),
            (true, false) => 0,
            (false, true) => 1,
            (true, true) => 2,
        };
        self.tls_variants[slot]
            .get_or_init(|| crate::tls::server::server_config_with(self.sni.clone(), decisions))
            .clone()
    }

    /// The metric label of a service, route or consumer.
    pub fn metric_label(&self, id: &Uuid) -> Option<&Arc<str>> {
        self.metric_labels.get(id)
    }
}

struct HandleInner {
    current: ArcSwap<Runtime>,
    ready: AtomicBool,
    env: CompileEnv,
}

/// The published runtime. Cloning shares the same slot.
#[derive(Clone)]
pub struct RuntimeHandle {
    inner: Arc<HandleInner>,
}

impl RuntimeHandle {
    /// A handle serving an empty configuration and not yet ready (`/status/ready` is 503
    /// until the first [`RuntimeHandle::swap`]).
    pub fn new(env: CompileEnv) -> Result<RuntimeHandle, CompileError> {
        let empty = compile::compile(
            ConfigSet::default(),
            Some(EMPTY_CONFIG_HASH.to_string()),
            &env,
        )?;
        Ok(RuntimeHandle {
            inner: Arc::new(HandleInner {
                current: ArcSwap::from_pointee(empty),
                ready: AtomicBool::new(false),
                env,
            }),
        })
    }

    /// The current runtime; hold it for the whole request.
    pub fn load(&self) -> Arc<Runtime> {
        self.inner.current.load_full()
    }

    /// Publishes `runtime` atomically and marks the node ready. Returns the previous one.
    /// Active health checks follow: they start for the upstreams of `runtime` that ask for
    /// them and stop for upstreams it no longer has.
    pub fn swap(&self, runtime: Runtime) -> Arc<Runtime> {
        let runtime = Arc::new(runtime);
        self.inner.env.balancers.publish(runtime.upstreams());
        let old = self.inner.current.swap(runtime);
        self.inner.ready.store(true, Ordering::Release);
        tracing::info!(hash = %self.inner.current.load().config_hash, "configuration published");
        old
    }

    /// Compiles `config` with this handle's shared caches (DNS, TLS client configurations,
    /// default certificate), computing its hash. Does not publish.
    pub fn compile(&self, config: ConfigSet) -> Result<Runtime, CompileError> {
        compile::compile(config, None, &self.inner.env)
    }

    /// Like [`RuntimeHandle::compile`], with the hash the source computed (the control
    /// plane's snapshot hash), so `/status` reports the same hash the control plane shows.
    pub fn compile_hashed(&self, config: ConfigSet, hash: String) -> Result<Runtime, CompileError> {
        compile::compile(config, Some(hash), &self.inner.env)
    }

    /// Whether some configuration has been published.
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Acquire)
    }

    pub fn env(&self) -> &CompileEnv {
        &self.inner.env
    }
}
