//! Prometheus metrics with the names and labels of Kong's prometheus plugin, so existing
//! Kong dashboards work unchanged.
//!
//! Per-request recording touches a few label-keyed families (a read lock and a hash
//! lookup each, label values are shared `Arc<str>`s precomputed per runtime); connection
//! counters are plain atomics. Gauges derived from state (connections, target health,
//! configuration hash) are computed when `/metrics` is scraped.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::proxy::context::RequestContext;
use crate::runtime::Runtime;

const KONG_LATENCY_BUCKETS: [f64; 17] = [
    1.0, 2.0, 5.0, 7.0, 10.0, 15.0, 20.0, 30.0, 50.0, 75.0, 100.0, 200.0, 500.0, 750.0, 1000.0,
    3000.0, 6000.0,
];
const UPSTREAM_LATENCY_BUCKETS: [f64; 13] = [
    25.0, 50.0, 80.0, 100.0, 250.0, 400.0, 700.0, 1000.0, 2000.0, 5000.0, 10000.0, 30000.0, 60000.0,
];

fn kong_latency_histogram() -> Histogram {
    Histogram::new(KONG_LATENCY_BUCKETS)
}

fn upstream_latency_histogram() -> Histogram {
    Histogram::new(UPSTREAM_LATENCY_BUCKETS)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    service: Arc<str>,
    route: Arc<str>,
    code: u16,
    source: &'static str,
    workspace: &'static str,
    consumer: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    service: Arc<str>,
    route: Arc<str>,
    workspace: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BandwidthLabels {
    service: Arc<str>,
    route: Arc<str>,
    direction: &'static str,
    workspace: &'static str,
    consumer: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectionLabels {
    node_id: Arc<str>,
    subsystem: &'static str,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeLabels {
    node_id: Arc<str>,
    subsystem: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeInfoLabels {
    node_id: Arc<str>,
    version: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetHealthLabels {
    upstream: String,
    target: String,
    address: String,
    state: &'static str,
    subsystem: &'static str,
}

/// Which request metrics to record (the prometheus plugin's switches).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordFlags {
    /// `kong_http_requests_total` (`status_code_metrics`).
    pub status_codes: bool,
    /// The latency histograms (`latency_metrics`).
    pub latency: bool,
    /// `kong_bandwidth_bytes` (`bandwidth_metrics`).
    pub bandwidth: bool,
    /// The `consumer` label (`per_consumer`).
    pub per_consumer: bool,
}

impl RecordFlags {
    /// What the node records when no prometheus plugin is configured.
    pub const ALL: RecordFlags = RecordFlags {
        status_codes: true,
        latency: true,
        bandwidth: true,
        per_consumer: true,
    };
}

/// Downstream connection counters (nginx's stub_status), shared by the listeners.
#[derive(Debug, Default)]
pub struct ConnectionStats {
    pub accepted: AtomicU64,
    pub active: AtomicI64,
    /// Requests between their headers and the end of their response.
    pub in_flight: AtomicI64,
    pub total_requests: AtomicU64,
}

/// A snapshot of [`ConnectionStats`] in Kong's `/status` shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionSnapshot {
    pub active: u64,
    pub reading: u64,
    pub writing: u64,
    pub waiting: u64,
    pub accepted: u64,
    pub handled: u64,
    pub total_requests: u64,
}

impl ConnectionStats {
    pub fn snapshot(&self) -> ConnectionSnapshot {
        let active = u64::try_from(self.active.load(Ordering::Relaxed)).unwrap_or(0);
        let writing = u64::try_from(self.in_flight.load(Ordering::Relaxed)).unwrap_or(0);
        let accepted = self.accepted.load(Ordering::Relaxed);
        ConnectionSnapshot {
            active,
            // Reading request headers is not tracked separately; it is part of `waiting`.
            reading: 0,
            writing: writing.min(active.max(writing)),
            waiting: active.saturating_sub(writing),
            accepted,
            handled: accepted,
            total_requests: self.total_requests.load(Ordering::Relaxed),
        }
    }
}

pub struct Metrics {
    registry: Registry,
    node_id: Arc<str>,
    empty: Arc<str>,
    pub connections: Arc<ConnectionStats>,
    requests: Family<RequestLabels, Counter>,
    kong_latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    upstream_latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    request_latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    bandwidth: Family<BandwidthLabels, Counter>,
    nginx_connections: Family<ConnectionLabels, Gauge>,
    nginx_requests: Family<NodeLabels, Gauge>,
    target_health: Family<TargetHealthLabels, Gauge>,
    config_hash: Gauge<f64, AtomicU64>,
}

impl Metrics {
    pub fn new(node_id: &str) -> Metrics {
        let mut registry = Registry::with_prefix("kong");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP status codes per consumer/service/route in Kong",
            requests.clone(),
        );
        let kong_latency: Family<RouteLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(kong_latency_histogram);
        registry.register(
            "kong_latency_ms",
            "Latency added by Kong and enabled plugins for each service/route in Kong",
            kong_latency.clone(),
        );
        let upstream_latency: Family<RouteLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(upstream_latency_histogram);
        registry.register(
            "upstream_latency_ms",
            "Latency added by upstream response for each service/route in Kong",
            upstream_latency.clone(),
        );
        let request_latency: Family<RouteLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(upstream_latency_histogram);
        registry.register(
            "request_latency_ms",
            "Total latency incurred during requests for each service/route in Kong",
            request_latency.clone(),
        );
        let bandwidth = Family::<BandwidthLabels, Counter>::default();
        registry.register(
            "bandwidth_bytes",
            "Total bandwidth (ingress/egress) throughput in bytes",
            bandwidth.clone(),
        );
        let nginx_connections = Family::<ConnectionLabels, Gauge>::default();
        registry.register(
            "nginx_connections_total",
            "Number of connections by subsystem",
            nginx_connections.clone(),
        );
        let nginx_requests = Family::<NodeLabels, Gauge>::default();
        registry.register(
            "nginx_requests_total",
            "Number of requests total",
            nginx_requests.clone(),
        );
        let target_health = Family::<TargetHealthLabels, Gauge>::default();
        registry.register(
            "upstream_target_health",
            "Health status of targets of upstream. States = healthchecks_off|healthy|unhealthy|dns_error, value is 1 when state is populated.",
            target_health.clone(),
        );
        let config_hash = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "data_plane_config_hash",
            "Config hash numeric value of the data plane",
            config_hash.clone(),
        );
        let node_info = Family::<NodeInfoLabels, Gauge>::default();
        registry.register(
            "node_info",
            "Kong Node metadata information",
            node_info.clone(),
        );
        let node_id: Arc<str> = Arc::from(node_id);
        node_info
            .get_or_create(&NodeInfoLabels {
                node_id: node_id.clone(),
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        Metrics {
            registry,
            node_id,
            empty: Arc::from(""),
            connections: Arc::new(ConnectionStats::default()),
            requests,
            kong_latency,
            upstream_latency,
            request_latency,
            bandwidth,
            nginx_connections,
            nginx_requests,
            target_health,
            config_hash,
        }
    }

    /// Records a finished request (called once, from the log phase), the families
    /// `flags` select.
    pub fn record(&self, ctx: &RequestContext, runtime: &Runtime, flags: RecordFlags) {
        let service = ctx
            .service
            .as_ref()
            .and_then(|s| runtime.metric_label(&s.id))
            .unwrap_or(&self.empty)
            .clone();
        let route = ctx
            .route
            .as_ref()
            .and_then(|r| runtime.metric_label(&r.id))
            .unwrap_or(&self.empty)
            .clone();
        let consumer = ctx
            .consumer
            .as_ref()
            .filter(|_| flags.per_consumer)
            .and_then(|c| runtime.metric_label(&c.id))
            .unwrap_or(&self.empty)
            .clone();
        if flags.status_codes {
            self.requests
                .get_or_create(&RequestLabels {
                    service: service.clone(),
                    route: route.clone(),
                    code: ctx.status,
                    source: ctx.source.label(),
                    workspace: "default",
                    consumer: consumer.clone(),
                })
                .inc();
        }
        let route_labels = RouteLabels {
            service: service.clone(),
            route: route.clone(),
            workspace: "default",
        };
        if flags.latency {
            self.record_latencies(ctx, &route_labels);
        }
        if !flags.bandwidth {
            return;
        }
        let mut bandwidth = BandwidthLabels {
            service,
            route,
            direction: "ingress",
            workspace: "default",
            consumer,
        };
        self.bandwidth
            .get_or_create(&bandwidth)
            .inc_by(ctx.bytes_in);
        bandwidth.direction = "egress";
        self.bandwidth
            .get_or_create(&bandwidth)
            .inc_by(ctx.bytes_out);
    }

    fn record_latencies(&self, ctx: &RequestContext, route_labels: &RouteLabels) {
        if let Some(kong) = ctx.latencies.proxy.or(ctx.latencies.response) {
            self.kong_latency
                .get_or_create(route_labels)
                .observe(kong as f64);
        }
        if let Some(upstream) = ctx.latencies.upstream {
            self.upstream_latency
                .get_or_create(route_labels)
                .observe(upstream as f64);
        }
        self.request_latency
            .get_or_create(route_labels)
            .observe(ctx.elapsed_ms() as f64);
    }

    /// The text exposition, with scrape-time gauges refreshed from `runtime`.
    pub fn render(&self, runtime: &Runtime) -> String {
        let snap = self.connections.snapshot();
        for (state, value) in [
            ("active", snap.active),
            ("reading", snap.reading),
            ("writing", snap.writing),
            ("waiting", snap.waiting),
            ("accepted", snap.accepted),
            ("handled", snap.handled),
        ] {
            self.nginx_connections
                .get_or_create(&ConnectionLabels {
                    node_id: self.node_id.clone(),
                    subsystem: "http",
                    state,
                })
                .set(i64::try_from(value).unwrap_or(i64::MAX));
        }
        self.nginx_requests
            .get_or_create(&NodeLabels {
                node_id: self.node_id.clone(),
                subsystem: "http",
            })
            .set(i64::try_from(snap.total_requests).unwrap_or(i64::MAX));
        self.target_health.clear();
        // Like Kong's exporter: every address gets one series per state, 1 for its state.
        for balancer in runtime.upstreams() {
            for health in balancer.health() {
                for state in TARGET_STATES {
                    self.target_health
                        .get_or_create(&TargetHealthLabels {
                            upstream: balancer.upstream().name.clone(),
                            target: health.target.clone(),
                            address: health.address.clone(),
                            state,
                            subsystem: "http",
                        })
                        .set(i64::from(state == health.state));
                }
            }
        }
        self.config_hash.set(hash_to_number(runtime.config_hash()));
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        out
    }
}

/// The states of `kong_upstream_target_health`, in Kong's order.
const TARGET_STATES: [&str; 4] = ["healthchecks_off", "healthy", "unhealthy", "dns_error"];

/// Kong's numeric form of the configuration hash (the hex value as a float).
fn hash_to_number(hash: &str) -> f64 {
    hash.bytes().fold(0.0, |acc, b| {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => 0,
        };
        acc * 16.0 + f64::from(digit)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_numbers_follow_the_hex_value() {
        assert_eq!(hash_to_number("00000000000000000000000000000000"), 0.0);
        assert_eq!(hash_to_number("ff"), 255.0);
    }
}
