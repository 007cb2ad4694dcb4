//! An in-process data-plane node on ephemeral loopback ports, serving a given runtime.

use std::net::SocketAddr;
use std::time::Duration;

use data_plane::node::{Node, NodeConfig};
use data_plane::proxy::ProxySettings;
use data_plane::runtime::{CompileEnv, ConfigSet, RuntimeHandle};

pub struct TestProxy {
    node: Option<Node>,
    pub http: SocketAddr,
    pub https: SocketAddr,
    pub status: SocketAddr,
}

impl TestProxy {
    /// A node with default settings serving `config`.
    pub async fn start(config: ConfigSet) -> TestProxy {
        TestProxy::start_with(config, ProxySettings::default()).await
    }

    pub async fn start_with(config: ConfigSet, settings: ProxySettings) -> TestProxy {
        let mut node = NodeConfig::ephemeral();
        node.settings = settings;
        TestProxy::start_node(config, node).await
    }

    /// A node with explicit listeners and settings serving `config`.
    pub async fn start_node(config: ConfigSet, node: NodeConfig) -> TestProxy {
        let handle = TestProxy::handle();
        let runtime = handle.compile(config).expect("configuration compiles");
        handle.swap(runtime);
        TestProxy::start_handle(handle, node).await
    }

    /// A runtime handle with nothing published yet.
    pub fn handle() -> RuntimeHandle {
        let env = CompileEnv::new(&Default::default()).expect("compile env");
        RuntimeHandle::new(env).expect("empty runtime")
    }

    /// A node serving whatever `handle` publishes (possibly nothing yet).
    pub async fn start_handle(handle: RuntimeHandle, config: NodeConfig) -> TestProxy {
        let node = Node::start(config, handle).await.expect("node starts");
        TestProxy {
            http: node.proxy_addr.expect("proxy listener"),
            https: node.proxy_tls_addr.expect("tls listener"),
            status: node.status_addr.expect("status listener"),
            node: Some(node),
        }
    }

    pub fn node(&self) -> &Node {
        self.node.as_ref().expect("node running")
    }

    pub fn runtime(&self) -> &RuntimeHandle {
        self.node().runtime()
    }

    /// Compiles and publishes a new configuration.
    pub fn publish(&self, config: ConfigSet) {
        let runtime = self
            .runtime()
            .compile(config)
            .expect("configuration compiles");
        self.runtime().swap(runtime);
    }

    /// Graceful shutdown, waiting up to `grace` for requests in flight.
    pub async fn shutdown(mut self, grace: Duration) {
        if let Some(node) = self.node.take() {
            node.shutdown(grace).await;
        }
    }
}
