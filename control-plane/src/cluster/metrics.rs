//! `GET /metrics` on the control plane's Admin API (Prometheus text format), as Kong's
//! prometheus plugin exposes it on a control plane: database reachability and the state
//! of every data plane under Kong's names, plus Portico's snapshot figures.
//!
//! Everything is derived from state when scraped (the registry, the publisher's figures,
//! a database ping); nothing is recorded on the request or sync paths.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::publisher::PublishStats;
use super::registry::DataPlaneRegistry;
use crate::admin::{CustomHandler, Reply};
use crate::store::Store;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What the metrics are read from: the store always, the cluster when it is enabled.
#[derive(Clone)]
pub struct MetricsSource {
    pub store: Store,
    pub cluster: Option<ClusterState>,
}

/// The hybrid-mode state of a control plane whose cluster listener runs.
#[derive(Clone)]
pub struct ClusterState {
    pub registry: DataPlaneRegistry,
    pub publisher: Arc<PublishStats>,
    /// `notAfter` of this control plane's own cluster certificate (epoch seconds).
    pub cert_expiry: Option<i64>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DataPlaneLabels {
    node_id: String,
    hostname: String,
    ip: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CompatLabels {
    node_id: String,
    hostname: String,
    ip: String,
    kong_version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EncodingLabels {
    encoding: &'static str,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// The `/metrics` handler.
pub fn handler(source: MetricsSource) -> CustomHandler {
    Arc::new(move |_ctx| {
        let source = source.clone();
        Box::pin(async move {
            let reachable = source.store.ping().await.is_ok();
            Ok(Reply::text(CONTENT_TYPE, render(&source, reachable)))
        })
    })
}

/// Renders the metrics text.
pub fn render(source: &MetricsSource, datastore_reachable: bool) -> String {
    let mut registry = Registry::default();
    let reachable = Gauge::<i64>::default();
    reachable.set(i64::from(datastore_reachable));
    registry.register(
        "kong_datastore_reachable",
        "Datastore reachable from Kong, 0 is unreachable",
        reachable,
    );
    if let Some(cluster) = &source.cluster {
        register_cluster(&mut registry, cluster);
    }
    let mut text = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &registry) {
        tracing::warn!(error = %e, "cannot encode metrics");
    }
    text
}

fn register_cluster(registry: &mut Registry, cluster: &ClusterState) {
    let last_seen = Family::<DataPlaneLabels, Gauge>::default();
    let cert_expiry = Family::<DataPlaneLabels, Gauge>::default();
    let config_version = Family::<DataPlaneLabels, Gauge>::default();
    let apply_seconds = Family::<DataPlaneLabels, FloatGauge>::default();
    let compatible = Family::<CompatLabels, Gauge>::default();
    let mut connected = 0;
    for dp in cluster.registry.list() {
        let labels = DataPlaneLabels {
            node_id: dp.id.to_string(),
            hostname: dp.hostname.clone(),
            ip: dp.ip.map(|ip| ip.to_string()).unwrap_or_default(),
        };
        last_seen
            .get_or_create(&labels)
            .set(i64::try_from(dp.last_seen).unwrap_or(i64::MAX));
        if let Some(expiry) = dp.cert_details.expiry_timestamp {
            cert_expiry.get_or_create(&labels).set(expiry);
        }
        config_version
            .get_or_create(&labels)
            .set(i64::try_from(dp.config_version).unwrap_or(i64::MAX));
        if let Some(ms) = dp.last_apply_ms {
            apply_seconds.get_or_create(&labels).set(ms / 1000.0);
        }
        let incompatible = dp.sync_status.ends_with("_incompatible");
        compatible
            .get_or_create(&CompatLabels {
                node_id: labels.node_id.clone(),
                hostname: labels.hostname.clone(),
                ip: labels.ip.clone(),
                kong_version: dp.version.clone(),
            })
            .set(i64::from(!incompatible));
        connected += i64::from(dp.connected);
    }
    registry.register(
        "kong_data_plane_last_seen",
        "Last time data plane contacted control plane",
        last_seen,
    );
    registry.register(
        "kong_data_plane_cluster_cert_expiry_timestamp",
        "Unix timestamp of Data Plane's cluster_cert expiry time",
        cert_expiry,
    );
    registry.register(
        "kong_data_plane_version_compatible",
        "Version compatible status of the data plane, 0 is incompatible",
        compatible,
    );
    registry.register(
        "portico_data_plane_config_version",
        "Configuration version the data plane serves (0: none)",
        config_version,
    );
    registry.register(
        "portico_data_plane_apply_seconds",
        "Time the data plane took to apply the last configuration it acknowledged",
        apply_seconds,
    );
    let connected_gauge = Gauge::<i64>::default();
    connected_gauge.set(connected);
    registry.register(
        "portico_data_planes_connected",
        "Data planes with an open sync session to this control plane",
        connected_gauge,
    );
    if let Some(expiry) = cluster.cert_expiry {
        let gauge = Gauge::<i64>::default();
        gauge.set(expiry);
        registry.register(
            "kong_control_plane_cluster_cert_expiry_timestamp",
            "Unix timestamp of Control Plane's cluster_cert expiry time",
            gauge,
        );
    }
    register_snapshot(registry, &cluster.publisher);
}

fn register_snapshot(registry: &mut Registry, stats: &PublishStats) {
    let figures = stats.figures();
    let int = |value: u64| {
        let gauge = Gauge::<i64>::default();
        gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
        gauge
    };
    registry.register(
        "portico_config_version",
        "Newest configuration version published to data planes",
        int(figures.version),
    );
    let bytes = Family::<EncodingLabels, Gauge>::default();
    bytes
        .get_or_create(&EncodingLabels { encoding: "zstd" })
        .set(i64::try_from(figures.compressed_bytes).unwrap_or(i64::MAX));
    bytes
        .get_or_create(&EncodingLabels { encoding: "json" })
        .set(i64::try_from(figures.uncompressed_bytes).unwrap_or(i64::MAX));
    registry.register(
        "portico_snapshot_bytes",
        "Size of the published snapshot, compressed (sent) and canonical JSON",
        bytes,
    );
    registry.register(
        "portico_snapshot_entities",
        "Entities in the published snapshot",
        int(figures.entities),
    );
    let build = FloatGauge::default();
    build.set(figures.build_seconds);
    registry.register(
        "portico_snapshot_build_seconds",
        "Time the last snapshot took to read, check and encode",
        build,
    );
    registry.register(
        "portico_snapshot_builds",
        "Snapshots published since start",
        int(figures.builds),
    );
    registry.register(
        "portico_snapshot_build_failures",
        "Versions that could not be published since start (database unreachable or invalid configuration)",
        int(figures.failures),
    );
}
