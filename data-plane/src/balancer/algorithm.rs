//! The balancing algorithm of an upstream (`algorithm`), behind one interface: an index
//! built once per peer table, and a pick per try.

use common::model::{Algorithm, Upstream};

use super::consistent_hashing::ConsistentHashing;
use super::latency::Latency;
use super::least_connections::LeastConnections;
use super::round_robin::RoundRobin;
use super::{HashKey, Peer, WeightedPeer};

/// A balancing algorithm; its per-table index is an [`Index`].
pub enum Balancer {
    RoundRobin(RoundRobin),
    ConsistentHashing(ConsistentHashing),
    LeastConnections(LeastConnections),
    Latency(Latency),
}

/// What an algorithm precomputes over one peer table.
pub enum Index {
    /// Round-robin's wheel.
    Wheel(Vec<u32>),
    /// Consistent hashing's ring.
    Ring(Vec<u32>),
    /// Least-connections and latency look at every peer per pick.
    Scan,
}

impl Balancer {
    pub fn for_upstream(upstream: &Upstream) -> Balancer {
        match upstream.algorithm {
            Algorithm::RoundRobin => Balancer::RoundRobin(RoundRobin::new(upstream.slots)),
            Algorithm::ConsistentHashing => {
                Balancer::ConsistentHashing(ConsistentHashing::new(upstream.slots))
            }
            Algorithm::LeastConnections => Balancer::LeastConnections(LeastConnections::default()),
            Algorithm::Latency => Balancer::Latency(Latency::default()),
        }
    }

    /// Builds the index over `peers`, which come from `targets` configured targets.
    pub fn index(
        &self,
        peers: &[WeightedPeer],
        targets: usize,
        usable: &dyn Fn(&WeightedPeer) -> bool,
    ) -> Index {
        match self {
            Balancer::RoundRobin(rr) => Index::Wheel(rr.wheel(peers)),
            Balancer::ConsistentHashing(ch) => Index::Ring(ch.ring(peers, targets)),
            Balancer::LeastConnections(_) => Index::Scan,
            Balancer::Latency(lat) => {
                lat.seed(peers, usable);
                Index::Scan
            }
        }
    }

    /// The index into `peers` of the peer for this try, if any is usable.
    pub fn pick(
        &self,
        peers: &[WeightedPeer],
        index: &Index,
        usable: &dyn Fn(&WeightedPeer) -> bool,
        hash: Option<&HashKey>,
        tried: &[Peer],
    ) -> Option<usize> {
        match (self, index) {
            (Balancer::RoundRobin(rr), Index::Wheel(wheel)) => rr.pick(peers, wheel, usable, tried),
            (Balancer::ConsistentHashing(ch), Index::Ring(ring)) => {
                // No hash value (a plugin removed the source?): Kong hashes "".
                let hash = hash.map_or_else(|| xxhash_rust::xxh32::xxh32(b"", 0), |h| h.hash);
                ch.pick(peers, ring, usable, hash)
            }
            (Balancer::LeastConnections(lc), _) => lc.pick(peers, usable, tried),
            (Balancer::Latency(lat), _) => lat.pick(peers, usable, tried),
            _ => None,
        }
    }

    /// Whether answered requests feed the latency averages.
    pub fn measures_latency(&self) -> bool {
        matches!(self, Balancer::Latency(_))
    }
}
