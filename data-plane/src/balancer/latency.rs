//! Latency (EWMA): the usable peer with the lowest response-time average relative to its
//! weight, as Kong's `latency` algorithm. Each answered request feeds its time (connect to
//! last byte) into its address's exponentially weighted moving average, which also decays
//! towards zero with a 10 s time constant, so a slow peer is tried again once its history
//! fades. New addresses start at the average of the others (slow start) rather than at
//! zero. A retry goes to a peer not tried yet; when every peer was tried, Kong gives up with
//! "failure to get a peer" (503), and so does this. An upstream with a single usable address
//! always gets that one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use super::{Peer, WeightedPeer};

#[derive(Default)]
pub struct Latency {
    rotation: AtomicUsize,
}

fn score(p: &WeightedPeer, now: Instant) -> f64 {
    p.state.latency_score(now) / f64::from(p.weight.max(1))
}

impl Latency {
    /// Slow start for a new peer table: addresses never measured start at the average of
    /// the usable ones.
    pub fn seed(&self, peers: &[WeightedPeer], usable: &dyn Fn(&WeightedPeer) -> bool) {
        let now = Instant::now();
        let usable: Vec<&WeightedPeer> = peers.iter().filter(|p| usable(p)).collect();
        if usable.is_empty() {
            return;
        }
        let average = usable
            .iter()
            .map(|p| p.state.latency_score(now))
            .sum::<f64>()
            / usable.len() as f64;
        for p in usable {
            p.state.seed_latency(now, average);
        }
    }

    pub fn pick(
        &self,
        peers: &[WeightedPeer],
        usable: &dyn Fn(&WeightedPeer) -> bool,
        tried: &[Peer],
    ) -> Option<usize> {
        let candidates: Vec<usize> = (0..peers.len())
            .filter(|&i| peers[i].weight > 0 && usable(&peers[i]))
            .collect();
        if let [only] = candidates.as_slice() {
            return Some(*only);
        }
        let untried: Vec<usize> = candidates
            .into_iter()
            .filter(|&i| tried.iter().all(|t| t.addr != peers[i].peer.addr))
            .collect();
        if untried.is_empty() {
            return None;
        }
        let now = Instant::now();
        let start = self.rotation.fetch_add(1, Ordering::Relaxed) % untried.len();
        let mut best: Option<(usize, f64)> = None;
        for step in 0..untried.len() {
            let i = untried[(start + step) % untried.len()];
            let s = score(&peers[i], now);
            if best.is_none_or(|(_, b)| s < b) {
                best = Some((i, s));
            }
        }
        best.map(|(i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balancer::testing::peers;

    #[test]
    fn the_fastest_peer_wins_relative_to_weight() {
        let set = peers(&[100, 100]);
        let now = Instant::now();
        set[0].state.record_latency(now, 0.1);
        set[1].state.record_latency(now, 1.0);
        let lat = Latency::default();
        let all = |_: &WeightedPeer| true;
        for _ in 0..10 {
            assert_eq!(lat.pick(&set, &all, &[]), Some(0));
        }
        // Retries go elsewhere; once all were tried there is no peer.
        assert_eq!(lat.pick(&set, &all, &[set[0].peer.clone()]), Some(1));
        let both = [set[0].peer.clone(), set[1].peer.clone()];
        assert_eq!(lat.pick(&set, &all, &both), None);
        let weighted = peers(&[100, 1000]);
        weighted[0].state.record_latency(now, 0.1);
        weighted[1].state.record_latency(now, 0.5);
        assert_eq!(lat.pick(&weighted, &all, &[]), Some(1));
    }

    #[test]
    fn a_single_peer_is_always_picked() {
        let set = peers(&[100]);
        let lat = Latency::default();
        let all = |_: &WeightedPeer| true;
        assert_eq!(lat.pick(&set, &all, &[set[0].peer.clone()]), Some(0));
        let none = |_: &WeightedPeer| false;
        assert_eq!(lat.pick(&set, &none, &[]), None);
    }

    #[test]
    fn new_peers_start_at_the_average() {
        let set = peers(&[1, 1, 1]);
        let now = Instant::now();
        set[0].state.record_latency(now, 0.2);
        set[1].state.record_latency(now, 0.4);
        Latency::default().seed(&set, &|_| true);
        let seeded = set[2].state.latency_score(now);
        assert!((seeded - 0.2).abs() < 0.01, "{seeded}");
    }
}
