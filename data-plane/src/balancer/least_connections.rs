//! Least-connections: the usable peer with the fewest requests in flight relative to its
//! weight, scored `(in_flight + 1) / weight` as Kong does (the `+ 1` makes an idle
//! high-weight peer win over an idle low-weight one). A retry avoids the peers this request
//! already tried while any other is usable. Ties go round-robin, so idle peers of equal
//! weight share the traffic.

use std::cmp::Ordering as CmpOrdering;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Peer, WeightedPeer};

#[derive(Default)]
pub struct LeastConnections {
    rotation: AtomicUsize,
}

/// Compares `(a_flight + 1) / a_weight` with `(b_flight + 1) / b_weight` exactly.
fn compare(a: &WeightedPeer, b: &WeightedPeer) -> CmpOrdering {
    let score = |p: &WeightedPeer, other: &WeightedPeer| {
        (u64::from(p.state.in_flight()) + 1) * u64::from(other.weight.max(1))
    };
    score(a, b).cmp(&score(b, a))
}

impl LeastConnections {
    pub fn pick(
        &self,
        peers: &[WeightedPeer],
        usable: &dyn Fn(&WeightedPeer) -> bool,
        tried: &[Peer],
    ) -> Option<usize> {
        let untried = |p: &WeightedPeer| tried.iter().all(|t| t.addr != p.peer.addr);
        self.best(peers, &|p| usable(p) && untried(p))
            .or_else(|| self.best(peers, usable))
    }

    fn best(
        &self,
        peers: &[WeightedPeer],
        eligible: &dyn Fn(&WeightedPeer) -> bool,
    ) -> Option<usize> {
        let n = peers.len();
        if n == 0 {
            return None;
        }
        let start = self.rotation.fetch_add(1, Ordering::Relaxed) % n;
        let mut best: Option<usize> = None;
        for step in 0..n {
            let i = (start + step) % n;
            let candidate = &peers[i];
            if candidate.weight == 0 || !eligible(candidate) {
                continue;
            }
            if best.is_none_or(|b| compare(candidate, &peers[b]) == CmpOrdering::Less) {
                best = Some(i);
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balancer::testing::peers;

    #[test]
    fn the_idle_peer_wins() {
        let set = peers(&[100, 100]);
        let lc = LeastConnections::default();
        let all = |_: &WeightedPeer| true;
        set[0].state.acquire();
        for _ in 0..10 {
            assert_eq!(lc.pick(&set, &all, &[]), Some(1));
        }
        set[1].state.acquire();
        set[1].state.acquire();
        assert_eq!(lc.pick(&set, &all, &[]), Some(0));
    }

    #[test]
    fn weights_scale_the_connection_count() {
        // Weight 300 with 2 in flight scores 3/300; weight 100 idle scores 1/100: equal,
        // and one more request tips it.
        let set = peers(&[300, 100]);
        let lc = LeastConnections::default();
        let all = |_: &WeightedPeer| true;
        assert_eq!(lc.pick(&set, &all, &[]), Some(0), "idle: the heavier peer");
        for _ in 0..3 {
            set[0].state.acquire();
        }
        assert_eq!(lc.pick(&set, &all, &[]), Some(1));
    }

    #[test]
    fn equal_peers_share_and_retries_move_on() {
        let set = peers(&[10, 10, 10]);
        let lc = LeastConnections::default();
        let all = |_: &WeightedPeer| true;
        let mut hits = [0; 3];
        for _ in 0..30 {
            hits[lc.pick(&set, &all, &[]).expect("peer")] += 1;
        }
        assert_eq!(hits, [10, 10, 10]);
        let tried = [set[0].peer.clone(), set[1].peer.clone()];
        for _ in 0..5 {
            assert_eq!(lc.pick(&set, &all, &tried), Some(2));
        }
        let tried: Vec<Peer> = set.iter().map(|p| p.peer.clone()).collect();
        assert!(
            lc.pick(&set, &all, &tried).is_some(),
            "all tried: start over"
        );
        let not_first = |p: &WeightedPeer| p.peer.addr != set[0].peer.addr;
        for _ in 0..5 {
            assert_ne!(lc.pick(&set, &not_first, &[]), Some(0));
        }
    }
}
