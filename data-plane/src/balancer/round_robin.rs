//! Weighted round-robin over a peer table, lock-free on the request path.
//!
//! Weights are reduced by their greatest common divisor and laid out once per peer table as
//! a "wheel": an interleaved sequence (smooth weighted round-robin order) in which each peer
//! appears `weight / gcd` times. A pick is one atomic increment and an index. Over any
//! whole number of turns of the wheel the split is exact, which is what Kong's tests check
//! (50/50 over two equal targets, 40/40/20 for weights 10/10/5). The wheel is capped at
//! the upstream's `slots`; larger weight sums are scaled down proportionally. Unhealthy
//! peers are stepped over, and a retry prefers a peer the request has not tried yet.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Peer, WeightedPeer};

pub struct RoundRobin {
    position: AtomicUsize,
    max_slots: usize,
}

impl RoundRobin {
    pub fn new(max_slots: u32) -> RoundRobin {
        RoundRobin {
            position: AtomicUsize::new(0),
            max_slots: (max_slots as usize).max(1),
        }
    }

    /// The wheel for `peers` (indexes into it).
    pub fn wheel(&self, peers: &[WeightedPeer]) -> Vec<u32> {
        let weights: Vec<u64> = peers.iter().map(|p| u64::from(p.weight)).collect();
        build_wheel(&weights, self.max_slots)
    }

    pub fn pick(
        &self,
        peers: &[WeightedPeer],
        wheel: &[u32],
        usable: &dyn Fn(&WeightedPeer) -> bool,
        tried: &[Peer],
    ) -> Option<usize> {
        let len = wheel.len();
        if len == 0 {
            return None;
        }
        let mut fallback = None;
        for _ in 0..len {
            let i = self.position.fetch_add(1, Ordering::Relaxed) % len;
            let index = wheel[i] as usize;
            let Some(entry) = peers.get(index) else {
                continue;
            };
            if !usable(entry) {
                continue;
            }
            if tried.iter().all(|t| t.addr != entry.peer.addr) {
                return Some(index);
            }
            // Every usable peer was tried already: go round again among them.
            fallback.get_or_insert(index);
        }
        fallback
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The pick order for `weights` (zero weights never appear), at most `max_slots` long
/// (but at least one entry per positive weight).
fn build_wheel(weights: &[u64], max_slots: usize) -> Vec<u32> {
    let divisor = weights
        .iter()
        .copied()
        .filter(|w| *w > 0)
        .fold(0, gcd)
        .max(1);
    let mut reduced: Vec<u64> = weights.iter().map(|w| w / divisor).collect();
    let total: u64 = reduced.iter().sum();
    if total == 0 {
        return Vec::new();
    }
    if total > max_slots as u64 {
        let scale = max_slots as f64 / total as f64;
        for w in reduced.iter_mut().filter(|w| **w > 0) {
            *w = ((*w as f64 * scale).round() as u64).max(1);
        }
    }
    let total: u64 = reduced.iter().sum();
    // Smooth weighted round-robin (nginx's algorithm) spreads each peer's turns evenly.
    let mut current: Vec<i64> = vec![0; reduced.len()];
    let mut order = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let mut best = None::<usize>;
        for (i, w) in reduced.iter().enumerate() {
            if *w == 0 {
                continue;
            }
            current[i] += *w as i64;
            if best.is_none_or(|b| current[i] > current[b]) {
                best = Some(i);
            }
        }
        let Some(best) = best else { break };
        current[best] -= total as i64;
        order.push(best as u32);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balancer::testing::peers;

    fn counts(order: &[u32], n: usize) -> Vec<usize> {
        let mut c = vec![0; n];
        for i in order {
            c[*i as usize] += 1;
        }
        c
    }

    #[test]
    fn wheel_reduces_by_gcd_and_interleaves() {
        assert_eq!(build_wheel(&[100, 100], 10_000), vec![0, 1]);
        let w = build_wheel(&[10, 10, 5], 10_000);
        assert_eq!(counts(&w, 3), vec![2, 2, 1]);
        assert_eq!(build_wheel(&[0, 7], 10_000), vec![1]);
        assert!(build_wheel(&[0, 0], 10_000).is_empty());
        assert!(build_wheel(&[], 10_000).is_empty());
    }

    #[test]
    fn wheel_is_capped_by_slots() {
        let w = build_wheel(&[1000, 999, 1], 100);
        assert!(w.len() <= 102, "{}", w.len());
        let c = counts(&w, 3);
        assert!(c[2] >= 1 && c[0] > 40 && c[1] > 40, "{c:?}");
    }

    #[test]
    fn picks_skip_unusable_and_tried_peers() {
        let set = peers(&[10, 10, 5]);
        let rr = RoundRobin::new(10_000);
        let wheel = rr.wheel(&set);
        let all = |_: &WeightedPeer| true;
        let mut hits = [0; 3];
        for _ in 0..50 {
            hits[rr.pick(&set, &wheel, &all, &[]).expect("peer")] += 1;
        }
        assert_eq!(hits, [20, 20, 10]);
        let not_first = |p: &WeightedPeer| p.peer.addr != set[0].peer.addr;
        for _ in 0..20 {
            assert_ne!(rr.pick(&set, &wheel, &not_first, &[]), Some(0));
        }
        let tried = [set[1].peer.clone()];
        for _ in 0..20 {
            assert_eq!(rr.pick(&set, &wheel, &not_first, &tried), Some(2));
        }
        // Only tried peers remain usable: they are picked again rather than none.
        let tried = [set[1].peer.clone(), set[2].peer.clone()];
        assert!(rr.pick(&set, &wheel, &not_first, &tried).is_some());
        let none = |_: &WeightedPeer| false;
        assert_eq!(rr.pick(&set, &wheel, &none, &[]), None);
    }
}
