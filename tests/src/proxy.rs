//! A data-plane node under test, serving a given configuration: either the real
//! `portico-dp` binary in standalone mode (the configuration rendered to a `kong.yml`, the
//! settings passed as command-line flags) or an in-process node built from the library.
//!
//! [`TestProxy::start`] / [`TestProxy::start_with`] run the binary (black-box) unless
//! `PORTICO_TEST_IN_PROCESS=1` is set, which runs the same tests in-process for quick
//! iteration. Tests that need the library's handles use the `in_process*` constructors.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use common::model::EntityKind;
use data_plane::node::{Node, NodeConfig};
use data_plane::runtime::{CompileEnv, ConfigSet, RuntimeHandle};
use serde_json::{Map, Value};

use crate::process::{DataPlane, eventually};

enum Backend {
    InProcess(Option<Node>),
    Binary {
        dp: Box<DataPlane>,
        file: PathBuf,
        _dir: tempfile::TempDir,
    },
}

pub struct TestProxy {
    backend: Backend,
    pub http: SocketAddr,
    pub https: SocketAddr,
    pub status: SocketAddr,
}

/// Whether tests run against the binary (the default) or in-process.
pub fn binary_mode() -> bool {
    std::env::var_os("PORTICO_TEST_IN_PROCESS").is_none_or(|v| v == "0")
}

/// `config` as a declarative `kong.yml` (format 3.0), as `portico-dp` loads it.
pub fn to_kong_yml(config: &ConfigSet) -> String {
    fn add<T: serde::Serialize>(
        out: &mut Vec<(EntityKind, Map<String, Value>)>,
        kind: EntityKind,
        list: &[T],
    ) {
        for entity in list {
            if let Ok(Value::Object(map)) = serde_json::to_value(entity) {
                out.push((kind, map));
            }
        }
    }
    let mut entities = Vec::new();
    add(&mut entities, EntityKind::Certificate, &config.certificates);
    add(
        &mut entities,
        EntityKind::CaCertificate,
        &config.ca_certificates,
    );
    add(&mut entities, EntityKind::Sni, &config.snis);
    add(&mut entities, EntityKind::Service, &config.services);
    add(&mut entities, EntityKind::Route, &config.routes);
    add(&mut entities, EntityKind::Consumer, &config.consumers);
    add(&mut entities, EntityKind::Upstream, &config.upstreams);
    add(&mut entities, EntityKind::Target, &config.targets);
    add(&mut entities, EntityKind::Plugin, &config.plugins);
    add(
        &mut entities,
        EntityKind::KeyAuthCredential,
        &config.keyauth_credentials,
    );
    add(
        &mut entities,
        EntityKind::BasicAuthCredential,
        &config.basicauth_credentials,
    );
    add(
        &mut entities,
        EntityKind::HmacAuthCredential,
        &config.hmacauth_credentials,
    );
    add(&mut entities, EntityKind::AclGroup, &config.acls);
    add(&mut entities, EntityKind::JwtSecret, &config.jwt_secrets);
    add(
        &mut entities,
        EntityKind::MtlsAuthCredential,
        &config.mtls_auth_credentials,
    );
    common::declarative::render(&entities)
}

fn write_atomically(path: &std::path::Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write kong.yml");
    std::fs::rename(&tmp, path).expect("rename kong.yml");
}

impl TestProxy {
    /// A node with default settings serving `config`.
    pub async fn start(config: ConfigSet) -> TestProxy {
        TestProxy::start_with(config, &[]).await
    }

    /// A node with `portico-dp serve` flags (`&["--trusted-ips", "127.0.0.1"]`).
    pub async fn start_with(config: ConfigSet, flags: &[&str]) -> TestProxy {
        if binary_mode() {
            TestProxy::binary(config, flags).await
        } else {
            TestProxy::in_process(config, flags).await
        }
    }

    /// The real binary serving `config` from a kong.yml.
    pub async fn binary(config: ConfigSet, flags: &[&str]) -> TestProxy {
        let dir = tempfile::tempdir().expect("config dir");
        let file = dir.path().join("kong.yml");
        write_atomically(&file, &to_kong_yml(&config));
        let file_arg = file.display().to_string();
        let mut args = vec!["--declarative-config", file_arg.as_str()];
        args.extend_from_slice(flags);
        let dp = DataPlane::start(&args).await;
        let dp_ref = &dp;
        eventually(Duration::from_secs(20), "portico-dp ready", || async move {
            (dp_ref.ready_status().await == Some(200)).then_some(())
        })
        .await;
        TestProxy {
            http: dp.proxy,
            https: dp.proxy_tls,
            status: dp.status,
            backend: Backend::Binary {
                dp: Box::new(dp),
                file,
                _dir: dir,
            },
        }
    }

    /// An in-process node serving `config`, with flags parsed as `portico-dp serve` would.
    pub async fn in_process(config: ConfigSet, flags: &[&str]) -> TestProxy {
        // As the binary would load it: through kong.yml, so plugin configs get their
        // schema defaults.
        let config = if config.plugins.is_empty() {
            config
        } else {
            common::declarative::parse(&to_kong_yml(&config))
                .expect("valid kong.yml")
                .config
        };
        let mut node = NodeConfig::ephemeral();
        node.settings = data_plane::cli::settings_from_flags(flags).expect("valid flags");
        node.proxy_cache_api = flags.contains(&"--proxy-cache-api");
        // `--proxy-listen` given: bind it (tests that need a known port).
        if let Some(i) = flags.iter().position(|f| *f == "--proxy-listen")
            && let Some(addr) = flags.get(i + 1).and_then(|a| a.parse().ok())
        {
            node.proxy_listen = Some(addr);
        }
        TestProxy::in_process_node(config, node).await
    }

    /// An in-process node with explicit listeners and settings serving `config`.
    pub async fn in_process_node(config: ConfigSet, node: NodeConfig) -> TestProxy {
        let handle = TestProxy::handle();
        let runtime = handle.compile(config).expect("configuration compiles");
        handle.swap(runtime);
        TestProxy::start_handle(handle, node).await
    }

    /// An in-process node with default settings whose data plane has exactly the plugins
    /// of `registry` (custom or test plugins), serving `config`.
    pub async fn with_plugins(
        config: ConfigSet,
        registry: data_plane::plugins::PluginRegistry,
    ) -> TestProxy {
        let env = CompileEnv::with_plugins(&Default::default(), registry).expect("compile env");
        let handle = RuntimeHandle::new(env).expect("empty runtime");
        let runtime = handle.compile(config).expect("configuration compiles");
        handle.swap(runtime);
        TestProxy::start_handle(handle, NodeConfig::ephemeral()).await
    }

    /// A runtime handle with nothing published yet.
    pub fn handle() -> RuntimeHandle {
        let env = CompileEnv::new(&Default::default()).expect("compile env");
        RuntimeHandle::new(env).expect("empty runtime")
    }

    /// An in-process node serving whatever `handle` publishes (possibly nothing yet).
    pub async fn start_handle(handle: RuntimeHandle, config: NodeConfig) -> TestProxy {
        let node = Node::start(config, handle).await.expect("node starts");
        TestProxy {
            http: node.proxy_addr.expect("proxy listener"),
            https: node.proxy_tls_addr.expect("tls listener"),
            status: node.status_addr.expect("status listener"),
            backend: Backend::InProcess(Some(node)),
        }
    }

    /// The in-process node (panics for a binary-backed proxy).
    pub fn node(&self) -> &Node {
        match &self.backend {
            Backend::InProcess(Some(node)) => node,
            _ => panic!("not an in-process node"),
        }
    }

    pub fn runtime(&self) -> &RuntimeHandle {
        self.node().runtime()
    }

    async fn config_hash(&self) -> Option<String> {
        let req = http::Request::get("/status")
            .header("host", "localhost")
            .body(Default::default())
            .ok()?;
        let resp = crate::client::send(self.status, req).await.ok()?;
        resp.json()["configuration_hash"]
            .as_str()
            .map(str::to_string)
    }

    /// Publishes a new configuration and returns once the node serves it. In-process: compile
    /// and swap; binary: rewrite kong.yml, SIGHUP, wait for the new hash.
    pub async fn publish(&self, config: ConfigSet) {
        match &self.backend {
            Backend::InProcess(_) => {
                let runtime = self
                    .runtime()
                    .compile(config)
                    .expect("configuration compiles");
                self.runtime().swap(runtime);
            }
            Backend::Binary { dp, file, .. } => {
                let before = self.config_hash().await;
                write_atomically(file, &to_kong_yml(&config));
                dp.process.signal("HUP");
                eventually(Duration::from_secs(20), "the new configuration", || async {
                    let now = self.config_hash().await?;
                    (Some(&now) != before.as_ref()).then_some(())
                })
                .await;
            }
        }
    }

    /// Graceful shutdown, waiting up to `grace` for requests in flight.
    pub async fn shutdown(mut self, grace: Duration) {
        match &mut self.backend {
            Backend::InProcess(node) => {
                if let Some(node) = node.take() {
                    node.shutdown(grace).await;
                }
            }
            Backend::Binary { dp, .. } => {
                dp.process.terminate();
                let _ = dp
                    .process
                    .wait_exit_async(grace + Duration::from_secs(1))
                    .await;
            }
        }
    }
}

/// The error the declarative loader (which `portico-dp` runs on its `kong.yml`) gives for
/// `config`, which must be invalid.
pub fn rejected(config: &ConfigSet) -> String {
    match common::declarative::parse(&to_kong_yml(config)) {
        Ok(_) => panic!("the configuration was accepted"),
        Err(e) => e.to_string(),
    }
}
