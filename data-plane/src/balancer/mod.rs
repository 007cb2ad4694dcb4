//! Choosing the upstream peer (address) for each try of a request, and keeping track of
//! which peers are healthy.
//!
//! - [`UpstreamBalancer`] (`upstream.rs`): one per Kong `upstreams` entity and compiled
//!   configuration. It owns the upstream's targets, expands hostname targets into one peer
//!   per resolved address (re-resolving when the DNS TTL expires), refuses to serve when
//!   the healthy share of the weight is at or below `healthchecks.threshold`, and delegates
//!   the choice among healthy peers to the upstream's algorithm.
//! - [`Balancer`] (`algorithm.rs`): weighted round-robin, consistent hashing (`hash_key.rs`
//!   computes what to hash), least-connections and latency (EWMA).
//! - [`health`]: Kong's health checker (active probes, passive counters fed by the proxy's
//!   [`Outcome`]s) and the state that outlives configuration updates ([`BalancerRegistry`]).
//! - [`Lease`]: one try's hold on a peer (in-flight count, passive report, latency sample).
//! - [`dns`]: the TTL-honouring resolver shared by balancers and by services whose host is
//!   a plain hostname.

mod algorithm;
mod consistent_hashing;
pub mod dns;
mod hash_key;
pub mod health;
mod latency;
mod lease;
mod least_connections;
mod round_robin;
mod upstream;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use uuid::Uuid;

pub use algorithm::Balancer;
pub use dns::{Dns, DnsError, HostEntry};
pub use hash_key::{HashKey, set_hash_cookie};
pub use health::BalancerRegistry;
pub use lease::Lease;
pub use upstream::{PeerTable, TargetHealth, UpstreamBalancer};

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

/// A peer with its weight and its lasting state, as the algorithms see it.
#[derive(Debug, Clone)]
pub struct WeightedPeer {
    pub peer: Peer,
    pub weight: u32,
    /// The target as configured (`host:port`).
    pub target: Arc<str>,
    pub(crate) state: Arc<health::AddressState>,
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

/// What a consistent-hashing upstream may hash. Built by the proxy from the request and its
/// context, once per request.
pub struct BalancerRequest<'a> {
    pub client_ip: IpAddr,
    pub headers: &'a http::HeaderMap,
    /// The request path as the client sent it (not yet normalised).
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// Regex captures of the matched route: (group name, value).
    pub captures: &'a [(Option<String>, String)],
    pub consumer_id: Option<Uuid>,
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
pub(crate) mod testing {
    use std::sync::atomic::AtomicU64;

    use super::*;

    /// Peer `10.0.0.<n>:<8000 + n>` with `weight`, as an IP target.
    pub fn peer_at(n: u8, weight: u32) -> WeightedPeer {
        let addr = SocketAddr::from(([10, 0, 0, n], 8000 + u16::from(n)));
        WeightedPeer {
            peer: Peer {
                addr,
                hostname: Arc::from(addr.ip().to_string()),
                target: None,
            },
            weight,
            target: Arc::from(addr.to_string()),
            state: Arc::new(health::AddressState::new(Arc::new(AtomicU64::new(0)))),
        }
    }

    /// An upstream entity with Kong's defaults, `fields` merged over them.
    pub fn upstream(fields: serde_json::Value) -> common::model::Upstream {
        let mut entity = serde_json::json!({
            "id": Uuid::new_v4(),
            "name": "test.upstream",
            "algorithm": "round-robin",
            "hash_on": "none",
            "hash_fallback": "none",
            "slots": 10000,
            "healthchecks": common::schema::entities::healthchecks_default(),
        });
        if let (Some(base), serde_json::Value::Object(extra)) = (entity.as_object_mut(), fields) {
            base.extend(extra);
        }
        serde_json::from_value(entity).expect("upstream entity")
    }

    /// A target of `upstream`.
    pub fn target(
        upstream: &common::model::Upstream,
        target: &str,
        weight: u32,
    ) -> common::model::Target {
        common::model::Target {
            id: Uuid::new_v4(),
            upstream: common::model::ForeignRef { id: upstream.id },
            target: target.to_string(),
            weight,
            tags: None,
            created_at: 0.0,
            updated_at: 0.0,
        }
    }

    /// One peer per weight, numbered from 1.
    pub fn peers(weights: &[u32]) -> Vec<WeightedPeer> {
        weights
            .iter()
            .enumerate()
            .map(|(i, w)| peer_at(u8::try_from(i + 1).unwrap_or(u8::MAX), *w))
            .collect()
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
