//! Prometheus metrics with the names and labels of Kong's prometheus plugin, so existing
//! Kong dashboards work unchanged.
//!
//! Per-request recording takes one lookup in a cache of series handles keyed by (service,
//! route, consumer) label values (shared `Arc<str>`s precomputed per runtime, hashed with
//! foldhash), then updates the histograms and counters those handles share with the
//! label-keyed families; connection counters are plain atomics. Gauges derived from state
//! (connections, target health, configuration hash) are computed when `/metrics` is
//! scraped.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use foldhash::HashMap as FoldHashMap;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
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

/// The series a runtime's requests were recorded in, by (service, route, consumer) ids.
/// Within one runtime the ids always name the same labels, so a request finds its series
/// with one lookup of 48 bytes instead of three label lookups and a hash of the labels; a
/// new runtime (entities renamed) starts empty.
#[derive(Default)]
pub struct SeriesByIds(RwLock<FoldHashMap<[Option<uuid::Uuid>; 3], Arc<Series>>>);

/// The label values a request's series depend on (besides status and source).
#[derive(Clone, Hash, PartialEq, Eq)]
struct SeriesKey {
    service: Arc<str>,
    route: Arc<str>,
    consumer: Arc<str>,
}

/// Handles on the series of one [`SeriesKey`]: clones of the families' metrics, sharing
/// their values, each created in its family on first use (a family lists only the series
/// that were recorded).
struct Series {
    key: SeriesKey,
    kong_latency: OnceLock<Histogram>,
    upstream_latency: OnceLock<Histogram>,
    request_latency: OnceLock<Histogram>,
    ingress: OnceLock<Counter>,
    egress: OnceLock<Counter>,
    /// `kong_http_requests_total` per (status, source) seen so far.
    requests: RwLock<Vec<(u16, &'static str, Counter)>>,
}

/// The metric of `cell`, taken from `family` the first time.
fn handle<'a, S, M, C>(
    cell: &'a OnceLock<M>,
    family: &Family<S, M, C>,
    labels: impl FnOnce() -> S,
) -> &'a M
where
    S: Clone + std::hash::Hash + Eq,
    M: Clone,
    C: MetricConstructor<M>,
{
    cell.get_or_init(|| family.get_or_create(&labels()).clone())
}

impl Series {
    fn new(key: SeriesKey) -> Series {
        Series {
            key,
            kong_latency: OnceLock::new(),
            upstream_latency: OnceLock::new(),
            request_latency: OnceLock::new(),
            ingress: OnceLock::new(),
            egress: OnceLock::new(),
            requests: RwLock::new(Vec::new()),
        }
    }

    fn route_labels(&self) -> RouteLabels {
        RouteLabels {
            service: self.key.service.clone(),
            route: self.key.route.clone(),
            workspace: "default",
        }
    }

    fn bandwidth_labels(&self, direction: &'static str) -> BandwidthLabels {
        BandwidthLabels {
            service: self.key.service.clone(),
            route: self.key.route.clone(),
            direction,
            workspace: "default",
            consumer: self.key.consumer.clone(),
        }
    }

    fn requests(
        &self,
        code: u16,
        source: &'static str,
        family: &Family<RequestLabels, Counter>,
    ) -> Counter {
        let find = |list: &[(u16, &'static str, Counter)]| {
            list.iter()
                .find(|(c, s, _)| *c == code && *s == source)
                .map(|(_, _, counter)| counter.clone())
        };
        if let Some(counter) = find(&read(&self.requests)) {
            return counter;
        }
        let mut list = write(&self.requests);
        if let Some(counter) = find(&list) {
            return counter;
        }
        let counter = family
            .get_or_create(&RequestLabels {
                service: self.key.service.clone(),
                route: self.key.route.clone(),
                code,
                source,
                workspace: "default",
                consumer: self.key.consumer.clone(),
            })
            .clone();
        list.push((code, source, counter.clone()));
        counter
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
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
    /// The request families' series per label set, so that recording a request takes
    /// one cheap lookup instead of a SipHash lookup and a lock per family.
    series: RwLock<FoldHashMap<SeriesKey, Arc<Series>>>,
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
            series: RwLock::new(FoldHashMap::default()),
        }
    }

    /// Records a finished request (called once, from the log phase), the families
    /// `flags` select.
    pub fn record(&self, ctx: &RequestContext, runtime: &Runtime, flags: RecordFlags) {
        let consumer = ctx.consumer.as_ref().filter(|_| flags.per_consumer);
        let ids = [
            ctx.service.as_ref().map(|s| s.id),
            ctx.route.as_ref().map(|r| r.id),
            consumer.map(|c| c.id),
        ];
        if let Some(series) = read(&runtime.metric_series.0).get(&ids) {
            self.record_in(series, ctx, flags);
            return;
        }
        let label = |id: Option<&uuid::Uuid>| {
            id.and_then(|id| runtime.metric_label(id))
                .unwrap_or(&self.empty)
        };
        let key = SeriesKey {
            service: label(ids[0].as_ref()).clone(),
            route: label(ids[1].as_ref()).clone(),
            consumer: label(ids[2].as_ref()).clone(),
        };
        let series = self.series(key);
        write(&runtime.metric_series.0).insert(ids, series.clone());
        self.record_in(&series, ctx, flags);
    }

    fn record_in(&self, series: &Series, ctx: &RequestContext, flags: RecordFlags) {
        if flags.status_codes {
            series
                .requests(ctx.status, ctx.source.label(), &self.requests)
                .inc();
        }
        if flags.latency {
            let labels = || series.route_labels();
            if let Some(kong) = ctx.latencies.proxy.or(ctx.latencies.response) {
                handle(&series.kong_latency, &self.kong_latency, labels).observe(kong as f64);
            }
            if let Some(upstream) = ctx.latencies.upstream {
                handle(&series.upstream_latency, &self.upstream_latency, labels)
                    .observe(upstream as f64);
            }
            handle(&series.request_latency, &self.request_latency, labels)
                .observe(ctx.elapsed_ms() as f64);
        }
        if flags.bandwidth {
            handle(&series.ingress, &self.bandwidth, || {
                series.bandwidth_labels("ingress")
            })
            .inc_by(ctx.bytes_in);
            handle(&series.egress, &self.bandwidth, || {
                series.bandwidth_labels("egress")
            })
            .inc_by(ctx.bytes_out);
        }
    }

    /// The series handles of one (service, route, consumer).
    fn series(&self, key: SeriesKey) -> Arc<Series> {
        if let Some(series) = read(&self.series).get(&key) {
            return series.clone();
        }
        write(&self.series)
            .entry(key.clone())
            .or_insert_with(|| Arc::new(Series::new(key)))
            .clone()
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
        let upstreams = exports_target_health(&runtime.source)
            .then(|| runtime.upstreams())
            .into_iter()
            .flatten();
        for balancer in upstreams {
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

/// Whether `kong_upstream_target_health` is exported: always without a prometheus plugin
/// (Portico's default), else only when an enabled instance sets `upstream_health_metrics`
/// (Kong's exporter; its default is off).
fn exports_target_health(config: &common::snapshot::ConfigSet) -> bool {
    let mut instances = config
        .plugins
        .iter()
        .filter(|p| p.enabled && p.name == "prometheus")
        .peekable();
    instances.peek().is_none()
        || instances.any(|p| {
            p.config.get("upstream_health_metrics") == Some(&serde_json::Value::Bool(true))
        })
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
