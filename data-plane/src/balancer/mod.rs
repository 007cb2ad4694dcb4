//! Choosing the upstream peer (address) for each try of a request.
//!
//! - [`UpstreamBalancer`]: one per Kong `upstreams` entity. It owns the upstream's targets,
//!   expands hostname targets into one peer per resolved address (re-resolving when the
//!   DNS TTL expires), and delegates the choice to a [`Balancer`] algorithm.
//! - [`Balancer`]: the algorithm. Weighted round-robin today; consistent hashing,
//!   least-connections and latency are added as further variants with the same
//!   `update` / `pick` / `report` interface.
//! - [`dns`]: the TTL-honouring resolver shared by balancers and by services whose host is
//!   a plain hostname.

pub mod dns;
mod round_robin;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use arc_swap::ArcSwap;
use common::model::{Algorithm, Target, Upstream};
use uuid::Uuid;

pub use dns::{Dns, DnsError, HostEntry};
pub use round_robin::RoundRobin;

/// One address the proxy can connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub addr: SocketAddr,
    /// The name the peer was reached by (target host, or the IP as text): used for the
    /// upstream `Host` header and TLS SNI when the route does not preserve the host.
    pub hostname: Arc<str>,
    /// The target this address came from, when balancing over an upstream.
    pub target: Option<Uuid>,
}

/// A peer with its weight, as the algorithms see it.
#[derive(Debug, Clone)]
pub struct WeightedPeer {
    pub peer: Peer,
    pub weight: u32,
}

/// The resolved addresses of an upstream's targets at one point in time.
#[derive(Debug, Default)]
pub struct PeerSet {
    pub peers: Vec<WeightedPeer>,
}

/// How a try against a peer ended, for passive health checks and adaptive algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The peer answered with this HTTP status.
    Response(u16),
    /// TCP connect or TLS handshake failed.
    ConnectFailure,
    /// Connect, read or write timed out.
    Timeout,
    /// The connection broke or the peer sent something that is not HTTP.
    ProtocolFailure,
}

/// What an algorithm may look at to choose a peer. Built by the proxy from the request and
/// its context.
pub struct BalancerRequest<'a> {
    pub client_ip: IpAddr,
    pub headers: &'a http::HeaderMap,
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// Regex captures of the matched route: (group name, value).
    pub captures: &'a [(Option<String>, String)],
    pub consumer_id: Option<Uuid>,
    /// Peers already tried by this request (retries should prefer others).
    pub tried: &'a [Peer],
}

/// A balancing algorithm over a [`PeerSet`].
pub enum Balancer {
    RoundRobin(RoundRobin),
}

impl Balancer {
    /// The algorithm an upstream asks for. Only round-robin exists so far; the others fall
    /// back to it (with a warning at compile time, see `UpstreamBalancer::new`).
    pub fn for_upstream(upstream: &Upstream) -> Balancer {
        Balancer::RoundRobin(RoundRobin::new(upstream.slots))
    }

    /// The peer set changed (targets edited or DNS answers refreshed).
    pub fn update(&self, peers: Arc<PeerSet>) {
        match self {
            Balancer::RoundRobin(rr) => rr.update(peers),
        }
    }

    pub fn pick(&self, req: &BalancerRequest<'_>) -> Option<Peer> {
        match self {
            Balancer::RoundRobin(rr) => rr.pick(req),
        }
    }

    pub fn report(&self, _peer: &Peer, _outcome: Outcome) {
        match self {
            // Round-robin keeps no per-peer statistics.
            Balancer::RoundRobin(_) => {}
        }
    }
}

enum TargetAddr {
    Ip(IpAddr),
    Name(Arc<HostEntry>),
}

struct TargetSpec {
    id: Uuid,
    /// `host:port` as configured.
    target: String,
    host: Arc<str>,
    port: u16,
    weight: u32,
    addr: TargetAddr,
}

/// Health state of one target address, as `kong_upstream_target_health` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetHealth {
    pub target: String,
    pub address: String,
    /// `healthchecks_off`, `healthy`, `unhealthy` or `dns_error`.
    pub state: &'static str,
}

/// The runtime of one Kong `upstreams` entity.
pub struct UpstreamBalancer {
    upstream: Arc<Upstream>,
    targets: Vec<TargetSpec>,
    balancer: Balancer,
    peers: ArcSwap<PeerSet>,
    /// Earliest expiry of the DNS answers the current peer set was built from.
    resolved_until: ArcSwap<Option<Instant>>,
    resolved_once: AtomicBool,
    refresh_lock: tokio::sync::Mutex<()>,
}

impl UpstreamBalancer {
    /// `targets` are this upstream's targets; the latest entry per `target` string wins
    /// (Kong keeps history rows), and weight-0 targets receive no traffic.
    pub fn new(upstream: Arc<Upstream>, targets: &[Target], dns: &Arc<Dns>) -> UpstreamBalancer {
        if upstream.algorithm != Algorithm::RoundRobin {
            tracing::warn!(
                upstream = %upstream.name,
                algorithm = ?upstream.algorithm,
                "balancing algorithm not implemented yet; using round-robin"
            );
        }
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
                    target: t.target.clone(),
                    host: Arc::from(host.as_str()),
                    port,
                    weight: t.weight,
                    addr,
                })
            })
            .collect::<Vec<_>>();
        let balancer = Balancer::for_upstream(&upstream);
        let this = UpstreamBalancer {
            upstream,
            targets: specs,
            balancer,
            peers: ArcSwap::from_pointee(PeerSet::default()),
            resolved_until: ArcSwap::from_pointee(None),
            resolved_once: AtomicBool::new(false),
            refresh_lock: tokio::sync::Mutex::new(()),
        };
        // IP-only upstreams need no DNS: their peer set is final right away.
        if this
            .targets
            .iter()
            .all(|t| matches!(t.addr, TargetAddr::Ip(_)))
        {
            let (set, _) = this.build_peer_set_from_cache();
            this.install(set, None);
        }
        this
    }

    pub fn upstream(&self) -> &Arc<Upstream> {
        &self.upstream
    }

    /// Makes sure hostname targets are resolved: waits for the first resolution, and
    /// refreshes expired answers (the request that notices waits; later ones do not).
    pub async fn prepare(&self) {
        let fresh = self.resolved_once.load(Ordering::Acquire)
            && self
                .resolved_until
                .load()
                .as_ref()
                .is_none_or(|until| Instant::now() < until);
        if fresh {
            return;
        }
        let _guard = self.refresh_lock.lock().await;
        let fresh = self.resolved_once.load(Ordering::Acquire)
            && self
                .resolved_until
                .load()
                .as_ref()
                .is_none_or(|until| Instant::now() < until);
        if fresh {
            return;
        }
        for t in &self.targets {
            if let TargetAddr::Name(entry) = &t.addr
                && let Err(e) = entry.resolve().await
            {
                tracing::warn!(upstream = %self.upstream.name, target = %t.target, error = %e, "target DNS resolution failed");
            }
        }
        let (set, until) = self.build_peer_set_from_cache();
        self.install(set, until);
    }

    fn install(&self, set: PeerSet, until: Option<Instant>) {
        let set = Arc::new(set);
        self.balancer.update(set.clone());
        self.peers.store(set);
        self.resolved_until.store(Arc::new(until));
        self.resolved_once.store(true, Ordering::Release);
    }

    fn build_peer_set_from_cache(&self) -> (PeerSet, Option<Instant>) {
        let mut peers = Vec::new();
        let mut until: Option<Instant> = None;
        for t in &self.targets {
            if t.weight == 0 {
                continue;
            }
            match &t.addr {
                TargetAddr::Ip(ip) => peers.push(WeightedPeer {
                    peer: Peer {
                        addr: SocketAddr::new(*ip, t.port),
                        hostname: t.host.clone(),
                        target: Some(t.id),
                    },
                    weight: t.weight,
                }),
                TargetAddr::Name(entry) => {
                    let Some(res) = entry.cached() else { continue };
                    until = Some(until.map_or(res.expires, |u| u.min(res.expires)));
                    for ip in &res.addrs {
                        peers.push(WeightedPeer {
                            peer: Peer {
                                addr: SocketAddr::new(*ip, t.port),
                                hostname: t.host.clone(),
                                target: Some(t.id),
                            },
                            weight: t.weight,
                        });
                    }
                }
            }
        }
        (PeerSet { peers }, until)
    }

    pub fn pick(&self, req: &BalancerRequest<'_>) -> Option<Peer> {
        self.balancer.pick(req)
    }

    pub fn report(&self, peer: &Peer, outcome: Outcome) {
        self.balancer.report(peer, outcome);
    }

    /// Per-address health for metrics. Health checks do not exist yet, so every resolved
    /// address is `healthchecks_off` and an unresolvable target is `dns_error`.
    pub fn health(&self) -> Vec<TargetHealth> {
        let mut out = Vec::new();
        for t in &self.targets {
            match &t.addr {
                TargetAddr::Ip(ip) => out.push(TargetHealth {
                    target: t.target.clone(),
                    address: SocketAddr::new(*ip, t.port).to_string(),
                    state: "healthchecks_off",
                }),
                TargetAddr::Name(entry) => match entry.cached() {
                    Some(res) if res.error.is_none() => {
                        for ip in &res.addrs {
                            out.push(TargetHealth {
                                target: t.target.clone(),
                                address: SocketAddr::new(*ip, t.port).to_string(),
                                state: "healthchecks_off",
                            });
                        }
                    }
                    Some(_) => out.push(TargetHealth {
                        target: t.target.clone(),
                        address: String::new(),
                        state: "dns_error",
                    }),
                    None => {}
                },
            }
        }
        out
    }
}

/// Splits Kong's `host:port` target (`[v6]:port` for IPv6); the port defaults to 8000.
pub fn split_target(target: &str) -> Option<(String, u16)> {
    if let Some(rest) = target.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None => 8000,
        };
        return Some((host.to_string(), port));
    }
    match target.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => Some((host.to_string(), port.parse().ok()?)),
        Some(_) => Some((target.to_string(), 8000)), // bare IPv6
        None => Some((target.to_string(), 8000)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_split_like_kong() {
        assert_eq!(split_target("a.test:81"), Some(("a.test".into(), 81)));
        assert_eq!(split_target("a.test"), Some(("a.test".into(), 8000)));
        assert_eq!(split_target("[::1]:90"), Some(("::1".into(), 90)));
        assert_eq!(split_target("[::1]"), Some(("::1".into(), 8000)));
        assert_eq!(split_target("a:b"), None);
    }
}
