//! A running data-plane node: the proxy listeners, the status API and their shutdown.
//! `portico-dp serve` and in-process tests start nodes the same way.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::proxy::listener::{self, DrainController};
use crate::proxy::{ProxySettings, Shared};
use crate::runtime::RuntimeHandle;
use crate::status::metrics::Metrics;
use crate::status::{self, StatusState};

/// Where to listen. `None` disables a listener.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub proxy_listen: Option<SocketAddr>,
    pub proxy_listen_tls: Option<SocketAddr>,
    pub status_listen: Option<SocketAddr>,
    /// Serve the proxy-cache endpoints on the status listener (`--proxy-cache-api`).
    pub proxy_cache_api: bool,
    pub settings: ProxySettings,
    /// Reported as `node_id` in metrics.
    pub node_id: String,
    /// Hybrid mode: the sync client's state, reported by the status API.
    pub sync: Option<Arc<crate::sync::SyncState>>,
}

impl NodeConfig {
    /// Every listener on an ephemeral loopback port, default settings (for tests).
    pub fn ephemeral() -> NodeConfig {
        let any: SocketAddr = ([127, 0, 0, 1], 0).into();
        NodeConfig {
            proxy_listen: Some(any),
            proxy_listen_tls: Some(any),
            status_listen: Some(any),
            proxy_cache_api: false,
            settings: ProxySettings::default(),
            node_id: uuid::Uuid::new_v4().to_string(),
            sync: None,
        }
    }
}

/// A started node. Dropping it without [`Node::shutdown`] leaves its tasks running until
/// the tokio runtime ends.
pub struct Node {
    pub proxy_addr: Option<SocketAddr>,
    pub proxy_tls_addr: Option<SocketAddr>,
    pub status_addr: Option<SocketAddr>,
    runtime: RuntimeHandle,
    shared: Arc<Shared>,
    status: Arc<StatusState>,
    drain: DrainController,
    tasks: Vec<JoinHandle<()>>,
}

async fn bind(addr: Option<SocketAddr>, what: &str) -> std::io::Result<Option<TcpListener>> {
    match addr {
        None => Ok(None),
        Some(a) => TcpListener::bind(a).await.map(Some).map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot listen on {a} ({what}): {e}"))
        }),
    }
}

/// Closes idle upstream connections the upstream closed, every second, for as long as
/// the proxy exists.
async fn sweep_pool(shared: std::sync::Weak<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        shared.pool.sweep();
    }
}

impl Node {
    /// Binds every listener, then starts serving. Fails if any address cannot be bound.
    pub async fn start(config: NodeConfig, runtime: RuntimeHandle) -> std::io::Result<Node> {
        let proxy = bind(config.proxy_listen, "proxy_listen").await?;
        let proxy_tls = bind(config.proxy_listen_tls, "proxy_listen TLS").await?;
        let status_listener = bind(config.status_listen, "status_listen").await?;

        let metrics = Arc::new(Metrics::new(&config.node_id));
        let shared = Arc::new(Shared::new(
            runtime.clone(),
            config.settings,
            metrics.clone(),
        ));
        let status = Arc::new(StatusState {
            runtime: runtime.clone(),
            metrics,
            draining: Default::default(),
            sync: config.sync,
            proxy_cache_api: config.proxy_cache_api,
        });
        let drain = DrainController::new();
        let mut tasks = vec![tokio::spawn(sweep_pool(Arc::downgrade(&shared)))];
        let mut addrs = (None, None, None);
        if let (Some(l), Some(d)) = (proxy, drain.drain()) {
            addrs.0 = l.local_addr().ok();
            tasks.push(tokio::spawn(listener::serve_plain(l, shared.clone(), d)));
        }
        if let (Some(l), Some(d)) = (proxy_tls, drain.drain()) {
            addrs.1 = l.local_addr().ok();
            tasks.push(tokio::spawn(listener::serve_tls(l, shared.clone(), d)));
        }
        if let (Some(l), Some(d)) = (status_listener, drain.drain()) {
            addrs.2 = l.local_addr().ok();
            tasks.push(tokio::spawn(status::serve(l, status.clone(), d)));
        }
        for (name, addr) in [
            ("proxy", addrs.0),
            ("proxy TLS", addrs.1),
            ("status", addrs.2),
        ] {
            if let Some(a) = addr {
                tracing::info!(listener = name, address = %a, "listening");
            }
        }
        Ok(Node {
            proxy_addr: addrs.0,
            proxy_tls_addr: addrs.1,
            status_addr: addrs.2,
            runtime,
            shared,
            status,
            drain,
            tasks,
        })
    }

    pub fn runtime(&self) -> &RuntimeHandle {
        &self.runtime
    }

    /// Shared proxy state (pool, metrics), for tests and embedding.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Stops accepting, lets requests in flight finish (up to `grace`), then returns.
    pub async fn shutdown(self, grace: Duration) {
        self.status.draining.store(true, Ordering::Release);
        let finished = self.drain.shutdown(grace).await;
        if !finished {
            tracing::warn!("shutdown grace period over; closing remaining connections");
        }
        for t in self.tasks {
            t.abort();
        }
    }
}
