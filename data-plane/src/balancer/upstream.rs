//! [`UpstreamBalancer`]: the compiled form of one Kong `upstreams` entity.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use arc_swap::ArcSwap;
use common::model::{Target, Upstream};
use rustls::ClientConfig;
use uuid::Uuid;

use super::algorithm::{Balancer, Index};
use super::dns::{Dns, HostEntry};
use super::hash_key::{HashKey, hash_key};
use super::health::{HealthConfig, Transition, UpstreamState};
use super::{BalancerRequest, Lease, Peer, WeightedPeer, split_target};

enum TargetAddr {
    Ip(IpAddr),
    Name(Arc<HostEntry>),
}

struct TargetSpec {
    id: Uuid,
    /// `host:port` as configured.
    target: Arc<str>,
    host: Arc<str>,
    port: u16,
    weight: u32,
    addr: TargetAddr,
}

/// The peers of an upstream at one point in time (DNS answers included), with the
/// algorithm's index over them. Replaced as a whole when targets resolve differently.
pub struct PeerTable {
    pub peers: Vec<WeightedPeer>,
    index: Index,
    total_weight: u64,
    /// Cached threshold verdict: `epoch << 1 | healthy`, or `u64::MAX` when unknown.
    verdict: AtomicU64,
}

const NO_VERDICT: u64 = u64::MAX;

/// Health state of one target address, as `kong_upstream_target_health` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetHealth {
    pub target: String,
    pub address: String,
    /// `healthchecks_off`, `healthy`, `unhealthy` or `dns_error`.
    pub state: &'static str,
}

/// The runtime of one Kong `upstreams` entity in one compiled configuration.
pub struct UpstreamBalancer {
    upstream: Arc<Upstream>,
    targets: Vec<TargetSpec>,
    balancer: Balancer,
    health: HealthConfig,
    /// What outlives this configuration: health, in-flight counts, latency averages.
    state: Arc<UpstreamState>,
    /// TLS for `https` active probes.
    probe_tls: Option<Arc<ClientConfig>>,
    table: ArcSwap<PeerTable>,
    /// Earliest expiry of the DNS answers the current table was built from.
    resolved_until: ArcSwap<Option<Instant>>,
    resolved_once: AtomicBool,
    refresh_lock: tokio::sync::Mutex<()>,
}

impl UpstreamBalancer {
    /// `targets` are this upstream's targets; the latest entry per `target` string wins
    /// (Kong keeps history rows), and weight-0 targets receive no traffic. `state` is the
    /// upstream's lasting state from the registry; `probe_tls` the client configuration of
    /// `https` health probes.
    pub fn new(
        upstream: Arc<Upstream>,
        targets: &[Target],
        dns: &Arc<Dns>,
        state: Arc<UpstreamState>,
        probe_tls: Option<Arc<ClientConfig>>,
    ) -> UpstreamBalancer {
        let mut latest: Vec<&Target> = Vec::new();
        for t in targets {
            match latest.iter_mut().find(|x| x.target == t.target) {
                Some(existing) if existing.created_at <= t.created_at => *existing = t,
                Some(_) => {}
                None => latest.push(t),
            }
        }
        let specs = latest
            .into_iter()
            .filter_map(|t| {
                let (host, port) = split_target(&t.target)?;
                let addr = match host.parse::<IpAddr>() {
                    Ok(ip) => TargetAddr::Ip(ip),
                    Err(_) => TargetAddr::Name(dns.host(&host)),
                };
                Some(TargetSpec {
                    id: t.id,
                    target: Arc::from(t.target.as_str()),
                    host: Arc::from(host.as_str()),
                    port,
                    weight: t.weight,
                    addr,
                })
            })
            .collect::<Vec<_>>();
        let health = HealthConfig::new(&upstream.healthchecks);
        if health.enabled && health.active.kind.is_none() && health.probes() {
            tracing::warn!(
                upstream = %upstream.name,
                kind = %upstream.healthchecks.active.kind,
                "active health checks of this type are not supported; only passive checks run"
            );
        }
        let this = UpstreamBalancer {
            balancer: Balancer::for_upstream(&upstream),
            upstream,
            targets: specs,
            health,
            state,
            probe_tls,
            table: ArcSwap::from_pointee(PeerTable {
                peers: Vec::new(),
                index: Index::Scan,
                total_weight: 0,
                verdict: AtomicU64::new(NO_VERDICT),
            }),
            resolved_until: ArcSwap::from_pointee(None),
            resolved_once: AtomicBool::new(false),
            refresh_lock: tokio::sync::Mutex::new(()),
        };
        // Build from what DNS already knows, so the addresses' lasting state is claimed while
        // the previous configuration still holds it. Complete when no name needs resolving.
        let (peers, until, complete) = this.peers_from_cache();
        this.install(peers, until, complete);
        this
    }

    pub fn upstream(&self) -> &Arc<Upstream> {
        &self.upstream
    }

    pub fn health_config(&self) -> &HealthConfig {
        &self.health
    }

    pub fn probe_tls(&self) -> Option<Arc<ClientConfig>> {
        self.probe_tls.clone()
    }

    /// The current peers.
    pub fn peer_table(&self) -> Arc<PeerTable> {
        self.table.load_full()
    }

    pub(crate) fn measures_latency(&self) -> bool {
        self.balancer.measures_latency()
    }

    fn fresh(&self) -> bool {
        self.resolved_once.load(Ordering::Acquire)
            && self
                .resolved_until
                .load()
                .as_ref()
                .is_none_or(|until| Instant::now() < until)
    }

    /// Makes sure hostname targets are resolved: waits for the first resolution, and
    /// refreshes expired answers (the request that notices waits; later ones do not).
    pub async fn prepare(&self) {
        if self.fresh() {
            return;
        }
        // Boxed: the refresh is rare and its future large; inline, it would grow every
        // request's future.
        Box::pin(self.refresh_targets()).await;
    }

    async fn refresh_targets(&self) {
        let _guard = self.refresh_lock.lock().await;
        if self.fresh() {
            return;
        }
        for t in &self.targets {
            if let TargetAddr::Name(entry) = &t.addr
                && let Err(e) = entry.resolve().await
            {
                tracing::warn!(upstream = %self.upstream.name, target = %t.target, error = %e, "target DNS resolution failed");
            }
        }
        let (peers, until, _) = self.peers_from_cache();
        self.install(peers, until, true);
    }

    fn usable(&self, p: &WeightedPeer) -> bool {
        !self.health.enabled || p.state.is_available()
    }

    fn install(&self, peers: Vec<WeightedPeer>, until: Option<Instant>, resolved: bool) {
        let index = self
            .balancer
            .index(&peers, self.targets.len(), &|p| self.usable(p));
        let total_weight = peers.iter().map(|p| u64::from(p.weight)).sum();
        self.table.store(Arc::new(PeerTable {
            peers,
            index,
            total_weight,
            verdict: AtomicU64::new(NO_VERDICT),
        }));
        self.resolved_until.store(Arc::new(until));
        if resolved {
            self.resolved_once.store(true, Ordering::Release);
        }
    }

    fn weighted(&self, t: &TargetSpec, ip: IpAddr) -> WeightedPeer {
        let addr = SocketAddr::new(ip, t.port);
        WeightedPeer {
            peer: Peer {
                addr,
                hostname: t.host.clone(),
                target: Some(t.id),
            },
            weight: t.weight,
            target: t.target.clone(),
            state: self.state.address(&t.target, addr),
        }
    }

    /// The peers DNS's cache allows now, the earliest expiry among the answers used, and
    /// whether every hostname target had an answer.
    fn peers_from_cache(&self) -> (Vec<WeightedPeer>, Option<Instant>, bool) {
        let mut peers = Vec::new();
        let mut until: Option<Instant> = None;
        let mut complete = true;
        for t in self.targets.iter().filter(|t| t.weight > 0) {
            match &t.addr {
                TargetAddr::Ip(ip) => peers.push(self.weighted(t, *ip)),
                TargetAddr::Name(entry) => {
                    let Some(res) = entry.cached() else {
                        complete = false;
                        continue;
                    };
                    until = Some(until.map_or(res.expires, |u| u.min(res.expires)));
                    for ip in &res.addrs {
                        peers.push(self.weighted(t, *ip));
                    }
                }
            }
        }
        (peers, until, complete)
    }

    /// Whether the upstream may serve: some weight, and (with health checks) more than
    /// `threshold` percent of it healthy. Kong answers 503 otherwise.
    fn serving(&self, table: &PeerTable) -> bool {
        if table.total_weight == 0 {
            return false;
        }
        if !self.health.enabled {
            return true;
        }
        let epoch = self.state.epoch().load(Ordering::Acquire);
        let verdict = table.verdict.load(Ordering::Acquire);
        if verdict != NO_VERDICT && verdict >> 1 == epoch {
            return verdict & 1 == 1;
        }
        let available: u64 = table
            .peers
            .iter()
            .filter(|p| p.state.is_available())
            .map(|p| u64::from(p.weight))
            .sum();
        let healthy = available as f64 * 100.0 / table.total_weight as f64 > self.health.threshold;
        table
            .verdict
            .store((epoch << 1) | u64::from(healthy), Ordering::Release);
        healthy
    }

    /// What this request hashes (computed once per request, before the first try); `None`
    /// when the upstream does not hash on anything.
    pub fn hash_key(&self, req: &BalancerRequest<'_>) -> Option<HashKey> {
        hash_key(&self.upstream, req)
    }

    /// The peer for the next try, skipping unhealthy ones (and, where the algorithm does,
    /// peers in `tried`). `None`: Kong's "failure to get a peer from the ring-balancer".
    pub fn pick(self: &Arc<Self>, hash: Option<&HashKey>, tried: &[Peer]) -> Option<(Peer, Lease)> {
        let table = self.table.load();
        if !self.serving(&table) {
            return None;
        }
        let index =
            self.balancer
                .pick(&table.peers, &table.index, &|p| self.usable(p), hash, tried)?;
        let chosen = table.peers.get(index)?;
        let lease = Lease::new(
            self.clone(),
            chosen.state.clone(),
            chosen.target.clone(),
            chosen.peer.addr,
        );
        Some((chosen.peer.clone(), lease))
    }

    pub(crate) fn log_transition(
        &self,
        target: &str,
        addr: SocketAddr,
        change: Transition,
        check: &str,
    ) {
        tracing::warn!(
            upstream = %self.upstream.name,
            %target,
            address = %addr,
            from = ?change.from,
            to = ?change.to,
            check,
            "target health changed"
        );
    }

    /// Per-address health for metrics: `healthchecks_off` when the upstream has no health
    /// checks (or the target weight 0), `dns_error` for a target that does not resolve.
    pub fn health(&self) -> Vec<TargetHealth> {
        let table = self.table.load();
        let mut out = Vec::new();
        let row = |t: &TargetSpec, addr: SocketAddr, state: &'static str| TargetHealth {
            target: t.target.to_string(),
            address: addr.to_string(),
            state,
        };
        for t in &self.targets {
            if t.weight == 0 || !self.health.enabled {
                match &t.addr {
                    TargetAddr::Ip(ip) => {
                        out.push(row(t, SocketAddr::new(*ip, t.port), "healthchecks_off"))
                    }
                    TargetAddr::Name(entry) => match entry.cached() {
                        Some(res) if res.error.is_some() => out.push(TargetHealth {
                            target: t.target.to_string(),
                            address: String::new(),
                            state: "dns_error",
                        }),
                        Some(res) => {
                            for ip in &res.addrs {
                                out.push(row(t, SocketAddr::new(*ip, t.port), "healthchecks_off"));
                            }
                        }
                        None => {}
                    },
                }
                continue;
            }
            let mut any = false;
            for p in table.peers.iter().filter(|p| p.target == t.target) {
                any = true;
                let state = if p.state.is_available() {
                    "healthy"
                } else {
                    "unhealthy"
                };
                out.push(row(t, p.peer.addr, state));
            }
            if !any
                && let TargetAddr::Name(entry) = &t.addr
                && entry.cached().is_some_and(|r| r.error.is_some())
            {
                out.push(TargetHealth {
                    target: t.target.to_string(),
                    address: String::new(),
                    state: "dns_error",
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::balancer::health::BalancerRegistry;
    use crate::balancer::testing::{target, upstream};
    use crate::balancer::{Outcome, Peer};

    struct Fixture {
        dns: Arc<Dns>,
        registry: BalancerRegistry,
        upstream: Arc<Upstream>,
        targets: Vec<Target>,
    }

    impl Fixture {
        /// An upstream over `127.0.0.1:1`, `:2`, ... with `weights` and `fields`.
        fn new(weights: &[u32], fields: serde_json::Value) -> Fixture {
            let upstream = upstream(fields);
            let targets = weights
                .iter()
                .enumerate()
                .map(|(i, w)| target(&upstream, &format!("127.0.0.1:{}", i + 1), *w))
                .collect();
            Fixture {
                dns: Dns::system().expect("resolver"),
                registry: BalancerRegistry::new(),
                upstream: Arc::new(upstream),
                targets,
            }
        }

        fn compile(&self) -> Arc<UpstreamBalancer> {
            Arc::new(UpstreamBalancer::new(
                self.upstream.clone(),
                &self.targets,
                &self.dns,
                self.registry.upstream(self.upstream.id),
                None,
            ))
        }
    }

    fn passive_http_failures(limit: u32, threshold: f64) -> serde_json::Value {
        let mut checks = common::schema::entities::healthchecks_default();
        checks["passive"]["unhealthy"]["http_failures"] = json!(limit);
        checks["threshold"] = json!(threshold);
        json!({ "healthchecks": checks })
    }

    fn port_of(peer: &Peer) -> u16 {
        peer.addr.port()
    }

    /// Ports picked over `n` picks.
    fn picks(b: &Arc<UpstreamBalancer>, n: usize) -> Vec<u16> {
        (0..n)
            .filter_map(|_| b.pick(None, &[]).map(|(p, _)| port_of(&p)))
            .collect()
    }

    /// Makes the peer on `port` answer 500 once.
    fn fail(b: &Arc<UpstreamBalancer>, port: u16) {
        for _ in 0..10 {
            let Some((peer, mut lease)) = b.pick(None, &[]) else {
                break;
            };
            if port_of(&peer) == port {
                lease.report(Outcome::Response(500));
                return;
            }
        }
        panic!("port {port} never picked");
    }

    #[tokio::test]
    async fn passive_failures_take_a_peer_out_and_the_state_survives_recompiles() {
        let f = Fixture::new(&[100, 100], passive_http_failures(1, 0.0));
        let first = f.compile();
        fail(&first, 1);
        assert!(picks(&first, 10).iter().all(|p| *p == 2));
        // A new configuration of the same upstream (compiled while the old one serves).
        let second = f.compile();
        assert!(picks(&second, 10).iter().all(|p| *p == 2));
        let rows = second.health();
        assert!(rows.contains(&TargetHealth {
            target: "127.0.0.1:1".into(),
            address: "127.0.0.1:1".into(),
            state: "unhealthy",
        }));
        // Once no configuration has the upstream any more, its state is forgotten.
        drop((first, second));
        let third = f.compile();
        assert!(picks(&third, 10).contains(&1));
    }

    #[tokio::test]
    async fn all_unhealthy_or_below_the_threshold_serves_nothing() {
        let f = Fixture::new(&[25, 25, 25, 25], passive_http_failures(1, 50.0));
        let b = f.compile();
        fail(&b, 1);
        assert_eq!(picks(&b, 8).len(), 8, "75% healthy > 50%");
        fail(&b, 2);
        assert!(b.pick(None, &[]).is_none(), "50% healthy is not above 50%");

        let f = Fixture::new(&[10, 10], passive_http_failures(1, 0.0));
        let b = f.compile();
        fail(&b, 1);
        fail(&b, 2);
        assert!(b.pick(None, &[]).is_none());
    }

    #[tokio::test]
    async fn without_health_checks_nothing_is_counted() {
        let f = Fixture::new(&[10, 10], json!({}));
        let b = f.compile();
        for _ in 0..4 {
            if let Some((_, mut lease)) = b.pick(None, &[]) {
                lease.report(Outcome::Response(500));
                lease.report(Outcome::ConnectFailure);
            }
        }
        assert_eq!(picks(&b, 4).len(), 4);
        assert!(b.health().iter().all(|r| r.state == "healthchecks_off"));
    }

    #[tokio::test]
    async fn leases_count_requests_in_flight() {
        let f = Fixture::new(&[10, 10], json!({ "algorithm": "least-connections" }));
        let b = f.compile();
        let (busy, _lease) = b.pick(None, &[]).expect("peer");
        for _ in 0..5 {
            let (peer, _) = b.pick(None, &[]).expect("peer");
            assert_ne!(peer, busy, "the idle peer is preferred");
        }
    }

    #[tokio::test]
    async fn consistent_hashing_sticks_to_a_key() {
        let f = Fixture::new(
            &[10, 10, 10],
            json!({ "algorithm": "consistent-hashing", "hash_on": "header", "hash_on_header": "x-user" }),
        );
        let b = f.compile();
        for user in ["alice", "bob", "carol", "dave"] {
            let mut headers = http::HeaderMap::new();
            headers.insert("x-user", http::HeaderValue::from_static(user));
            let req = BalancerRequest {
                client_ip: IpAddr::from([127, 0, 0, 1]),
                headers: &headers,
                path: "/",
                query: None,
                captures: &[],
                consumer_id: None,
            };
            let key = b.hash_key(&req).expect("hashing");
            let first = b.pick(Some(&key), &[]).map(|(p, _)| p);
            for _ in 0..10 {
                assert_eq!(b.pick(Some(&key), &[]).map(|(p, _)| p), first, "{user}");
            }
        }
    }
}
