//! Starting hybrid mode on `portico-cp serve`: the cluster listener, the snapshot publisher
//! and their Admin API endpoints (`/clustering/*`, `/metrics`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::http::Method;
use common::cluster_tls::{ClusterTls, cert_details};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::admin::Fleet;
use super::metrics::{ClusterState, MetricsSource};
use super::publisher::PublishStats;
use super::registry::DataPlaneRegistry;
use super::server::{SyncServer, SyncServerSettings};
use crate::admin::{ApiError, CustomHandler};
use crate::cli::ClusterArgs;
use crate::serve::ControlPlane;

/// Kong's answer on a node that is not a control plane.
const NOT_A_CONTROL_PLANE: &str = "this endpoint is only available when Kong is configured to run as Control Plane for the cluster";

impl ControlPlane {
    /// Starts the cluster listener and the snapshot publisher when `--cluster-cert` is
    /// given, and adds `/clustering/data-planes`, `/clustering/status` and `/metrics` to the
    /// Admin API (call before `serve_admin`). Returns the cluster listener's address.
    pub async fn serve_cluster(
        &mut self,
        args: &ClusterArgs,
    ) -> anyhow::Result<Option<SocketAddr>> {
        let Some(cert) = &args.cluster_cert else {
            if args.cluster_cert_key.is_some() || args.cluster_ca_cert.is_some() {
                anyhow::bail!("--cluster-cert-key and --cluster-ca-cert need --cluster-cert");
            }
            tracing::info!(
                "no --cluster-cert: the cluster listener is off (Admin API only; data planes cannot connect)"
            );
            self.add_cluster_routes(None, Duration::ZERO);
            return Ok(None);
        };
        let key = args
            .cluster_cert_key
            .as_deref()
            .context("--cluster-cert needs --cluster-cert-key")?;
        let tls = ClusterTls::load(
            args.cluster_mtls,
            cert,
            key,
            args.cluster_ca_cert.as_deref(),
        )
        .context("cannot load the cluster certificates")?;
        if let Some(problem) = tls.own_certificate_problem() {
            tracing::warn!("{problem}; data planes will refuse this control plane");
        }
        let server_config = tls
            .server_config()
            .context("cannot set up the cluster TLS configuration")?;
        let listener = TcpListener::bind(args.cluster_listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {} (--cluster-listen)",
                    args.cluster_listen
                )
            })?;
        let addr = listener.local_addr()?;

        let (publisher, source) = watch::channel(None);
        let (fleet_tx, fleet_rx) = tokio::sync::mpsc::unbounded_channel();
        let registry =
            DataPlaneRegistry::new(args.cluster_data_plane_purge_delay).with_sink(fleet_tx);
        let settings = SyncServerSettings {
            version: crate::admin::PORTICO_VERSION.to_owned(),
            node_id: self.node_id(),
            heartbeat_interval: Duration::from_secs(args.cluster_heartbeat_interval),
            heartbeat_timeout: Duration::from_secs(args.cluster_heartbeat_timeout),
        };
        let server = SyncServer::new(settings, source, registry.clone());
        let stats = Arc::new(PublishStats::default());

        let shutdown = self.shutdown_signal();
        self.spawn("cluster-listener", async move {
            super::listener::serve(listener, server_config, server, shutdown.wait())
                .await
                .context("the cluster listener failed")
        });
        let task = super::publisher::run(
            self.store().clone(),
            publisher,
            stats.clone(),
            self.shutdown_signal(),
        );
        self.spawn("snapshot-publisher", task);
        let task = super::fleet::persist(
            self.store().clone(),
            fleet_rx,
            args.cluster_data_plane_purge_delay,
            self.shutdown_signal(),
        );
        self.spawn("fleet-status", task);
        let heartbeat_timeout = Duration::from_secs(args.cluster_heartbeat_timeout);
        self.add_cluster_routes(
            Some(ClusterState {
                registry,
                publisher: stats,
                cert_expiry: cert_details(tls.certificate()).map(|d| d.expiry_timestamp),
            }),
            heartbeat_timeout,
        );
        tracing::info!(address = %addr, mode = args.cluster_mtls.as_str(), "cluster listener started");
        Ok(Some(addr))
    }

    fn add_cluster_routes(&mut self, cluster: Option<ClusterState>, heartbeat_timeout: Duration) {
        let source = MetricsSource {
            store: self.store().clone(),
            cluster: cluster.clone(),
        };
        self.add_admin_route("/metrics", &[Method::GET], super::metrics::handler(source));
        let (data_planes, status) = match cluster {
            Some(c) => {
                let fleet = Fleet {
                    store: self.store().clone(),
                    registry: c.registry,
                    heartbeat_timeout,
                };
                (
                    super::admin::data_planes(fleet.clone()),
                    super::admin::status(fleet),
                )
            }
            None => (not_a_control_plane(), not_a_control_plane()),
        };
        self.add_admin_route("/clustering/data-planes", &[Method::GET], data_planes);
        self.add_admin_route("/clustering/status", &[Method::GET], status);
    }
}

fn not_a_control_plane() -> CustomHandler {
    Arc::new(|_ctx| Box::pin(async { Err(ApiError::BadRequest(NOT_A_CONTROL_PLANE.to_owned())) }))
}
