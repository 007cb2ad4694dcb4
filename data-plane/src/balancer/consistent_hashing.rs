//! Consistent hashing on a ring of points (Kong's ketama-style continuum).
//!
//! The ring has `slots` points (1000 when `slots` is below 1000, as in Kong). Each address
//! gets a share of points proportional to its weight (160 per target when weights are
//! equal), placed at the xxHash32 of `"<ip>::<port> <n>"` — Kong's exact strings, visiting
//! targets in name order and addresses in `ip:port` order, with the same collision rule — so
//! a request lands on the same address Kong would pick for the same targets. A request's
//! hash selects a point; the first address found from there walking backwards round the
//! ring, skipping unhealthy ones, serves it. Adding or removing one address moves only the
//! keys of the points it gains or loses. Retries hash to the same point, so they go back to
//! the same address unless it became unhealthy in between (as in Kong).

use std::net::IpAddr;

use super::WeightedPeer;

/// Kong's `SERVER_POINTS`: points per target when all weights are equal.
const POINTS_PER_TARGET: f64 = 160.0;
const MIN_POINTS: usize = 1000;
/// An unassigned point.
const EMPTY: u32 = u32::MAX;

pub struct ConsistentHashing {
    points: usize,
}

impl ConsistentHashing {
    pub fn new(slots: u32) -> ConsistentHashing {
        let slots = slots as usize;
        ConsistentHashing {
            points: if slots >= MIN_POINTS {
                slots
            } else {
                MIN_POINTS
            },
        }
    }

    /// The ring for `peers`, which come from `targets` configured targets.
    pub fn ring(&self, peers: &[WeightedPeer], targets: usize) -> Vec<u32> {
        let mut ring = vec![EMPTY; self.points];
        let total_weight: u64 = peers.iter().map(|p| u64::from(p.weight)).sum();
        if total_weight == 0 {
            return ring;
        }
        let mut order: Vec<usize> = (0..peers.len()).collect();
        order.sort_by_cached_key(|&i| {
            let p = &peers[i].peer;
            (
                p.hostname.clone(),
                p.addr.port(),
                address_text(p.addr.ip(), p.addr.port()),
            )
        });
        let mut collisions = 0usize;
        for index in order {
            let peer = &peers[index];
            let share = f64::from(peer.weight) / total_weight as f64;
            let mut entries = (share * targets as f64 * POINTS_PER_TARGET).floor() as usize;
            if peer.weight > 0 && entries == 0 {
                entries = 1;
            }
            let ip = ip_text(peer.peer.addr.ip());
            let port = peer.peer.addr.port();
            let mut n = 1usize;
            while n <= entries {
                let key = format!("{ip}::{port} {n}");
                let point = xxhash_rust::xxh32::xxh32(key.as_bytes(), 0) as usize % self.points;
                if ring[point] == EMPTY {
                    ring[point] = u32::try_from(index).unwrap_or(EMPTY);
                } else {
                    // Kong moves the problem forward: one more entry for this address.
                    entries += 1;
                    collisions += 1;
                }
                n += 1;
                if n > self.points {
                    tracing::error!(
                        points = self.points,
                        "consistent-hashing ring too small for its targets; raise `slots`"
                    );
                    return ring;
                }
            }
        }
        tracing::debug!(
            points = self.points,
            collisions,
            "consistent-hashing ring built"
        );
        ring
    }

    /// The address for `hash`: the point's own, or the next usable one walking backwards.
    pub fn pick(
        &self,
        peers: &[WeightedPeer],
        ring: &[u32],
        usable: &dyn Fn(&WeightedPeer) -> bool,
        hash: u32,
    ) -> Option<usize> {
        let len = ring.len();
        if len == 0 {
            return None;
        }
        let start = hash as usize % len;
        (0..len)
            .map(|step| (start + len - step) % len)
            .filter_map(|point| {
                let index = ring[point];
                (index != EMPTY).then_some(index as usize)
            })
            .find(|&index| peers.get(index).is_some_and(usable))
    }
}

fn ip_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// `ip:port`, the order Kong sorts a target's addresses in.
fn address_text(ip: IpAddr, port: u16) -> String {
    format!("{}:{port}", ip_text(ip))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::balancer::testing::{peer_at, peers};

    fn key(n: usize) -> u32 {
        xxhash_rust::xxh32::xxh32(n.to_string().as_bytes(), 0)
    }

    fn owners(ch: &ConsistentHashing, set: &[WeightedPeer], keys: usize) -> Vec<usize> {
        let ring = ch.ring(set, set.len());
        let all = |_: &WeightedPeer| true;
        (1..=keys)
            .map(|n| ch.pick(set, &ring, &all, key(n)).expect("peer"))
            .collect()
    }

    #[test]
    fn keys_split_by_weight() {
        // Kong's unit test: weights 10 and 5 over 1000 points, 1500 keys.
        let set = peers(&[10, 5]);
        let ch = ConsistentHashing::new(1000);
        let mut hits: HashMap<usize, usize> = HashMap::new();
        for owner in owners(&ch, &set, 1500) {
            *hits.entry(owner).or_default() += 1;
        }
        assert!((900..1100).contains(&hits[&0]), "{hits:?}");
        assert!((450..550).contains(&hits[&1]), "{hits:?}");
    }

    #[test]
    fn the_same_key_always_lands_on_the_same_peer() {
        let set = peers(&[100, 100, 100]);
        let ch = ConsistentHashing::new(10_000);
        let ring = ch.ring(&set, 3);
        let all = |_: &WeightedPeer| true;
        let first = ch.pick(&set, &ring, &all, key(6));
        for _ in 0..15 {
            assert_eq!(ch.pick(&set, &ring, &all, key(6)), first);
        }
        // Rebuilding from the same peers in another order gives the same owners.
        let mut reversed = set.clone();
        reversed.reverse();
        let reversed_owner = ch
            .pick(&reversed, &ch.ring(&reversed, 3), &all, key(6))
            .map(|i| reversed[i].peer.addr);
        assert_eq!(reversed_owner, first.map(|i| set[i].peer.addr));
    }

    #[test]
    fn adding_targets_moves_few_keys() {
        // Kong's unit test: 5 -> 6 targets moves under 20% of 10000 keys, 5 -> 8 under 40%,
        // 6 -> 8 under 25% (an array would move 49%, 83% and 76%).
        let ch = ConsistentHashing::new(5000);
        let set5: Vec<WeightedPeer> = (1..=5).map(|i| peer_at(i, 100)).collect();
        let set6: Vec<WeightedPeer> = (1..=6).map(|i| peer_at(i, 100)).collect();
        let set8: Vec<WeightedPeer> = (1..=8).map(|i| peer_at(i, 100)).collect();
        let addr = |set: &[WeightedPeer], owners: Vec<usize>| {
            owners
                .into_iter()
                .map(|i| set[i].peer.addr)
                .collect::<Vec<_>>()
        };
        let r5 = addr(&set5, owners(&ch, &set5, 10_000));
        let r6 = addr(&set6, owners(&ch, &set6, 10_000));
        let r8 = addr(&set8, owners(&ch, &set8, 10_000));
        let moved = |a: &[std::net::SocketAddr], b: &[std::net::SocketAddr]| {
            a.iter().zip(b).filter(|(x, y)| x != y).count()
        };
        assert!(moved(&r5, &r6) < 2000, "{}", moved(&r5, &r6));
        assert!(moved(&r5, &r8) < 4000, "{}", moved(&r5, &r8));
        assert!(moved(&r6, &r8) < 2500, "{}", moved(&r6, &r8));
        // Keys of the remaining targets only ever move to the new ones.
        for (before, after) in r5.iter().zip(&r6) {
            assert!(before == after || *after == set6[5].peer.addr);
        }
    }

    #[test]
    fn unhealthy_peers_are_skipped() {
        let set = peers(&[100, 50]);
        let ch = ConsistentHashing::new(1000);
        let ring = ch.ring(&set, 2);
        let down = set[0].peer.addr;
        let usable = |p: &WeightedPeer| p.peer.addr != down;
        for n in 1..=160 {
            assert_eq!(ch.pick(&set, &ring, &usable, key(n)), Some(1));
        }
        let none = |_: &WeightedPeer| false;
        assert_eq!(ch.pick(&set, &ring, &none, key(1)), None);
    }

    #[test]
    fn small_slots_use_kongs_minimum_ring() {
        let ch = ConsistentHashing::new(10);
        assert_eq!(ch.ring(&peers(&[1]), 1).len(), 1000);
    }
}
