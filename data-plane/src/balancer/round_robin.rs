//! Weighted round-robin over a peer set, lock-free on the request path.
//!
//! Weights are reduced by their greatest common divisor and laid out once per peer set as a
//! "wheel": an interleaved sequence (smooth weighted round-robin order) in which each peer
//! appears `weight / gcd` times. A pick is one atomic increment and an index. Over any
//! whole number of turns of the wheel the split is exact, which is what Kong's tests check
//! (50/50 over two equal targets, 40/40/20 for weights 10/10/5). The wheel is capped at
//! the upstream's `slots`; larger weight sums are scaled down proportionally.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arc_swap::ArcSwap;

use super::{BalancerRequest, Peer, PeerSet};

pub struct RoundRobin {
    wheel: ArcSwap<Wheel>,
    position: AtomicUsize,
    max_slots: usize,
}

struct Wheel {
    peers: Arc<PeerSet>,
    /// Indexes into `peers.peers`.
    order: Vec<u32>,
}

impl RoundRobin {
    pub fn new(max_slots: u32) -> RoundRobin {
        RoundRobin {
            wheel: ArcSwap::from_pointee(Wheel {
                peers: Arc::new(PeerSet::default()),
                order: Vec::new(),
            }),
            position: AtomicUsize::new(0),
            max_slots: (max_slots as usize).max(1),
        }
    }

    pub fn update(&self, peers: Arc<PeerSet>) {
        let weights: Vec<u64> = peers.peers.iter().map(|p| u64::from(p.weight)).collect();
        let order = build_wheel(&weights, self.max_slots);
        self.wheel.store(Arc::new(Wheel { peers, order }));
    }

    pub fn pick(&self, req: &BalancerRequest<'_>) -> Option<Peer> {
        let wheel = self.wheel.load();
        let len = wheel.order.len();
        if len == 0 {
            return None;
        }
        // On a retry, skip peers this request already tried while others remain.
        for _ in 0..len {
            let i = self.position.fetch_add(1, Ordering::Relaxed) % len;
            let entry = &wheel.peers.peers[wheel.order[i] as usize];
            if req.tried.iter().all(|t| t.addr != entry.peer.addr) {
                return Some(entry.peer.clone());
            }
        }
        let i = self.position.fetch_add(1, Ordering::Relaxed) % len;
        Some(wheel.peers.peers[wheel.order[i] as usize].peer.clone())
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
}
