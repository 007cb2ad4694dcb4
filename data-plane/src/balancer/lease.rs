//! A [`Lease`]: one try's use of a peer picked from an upstream. It counts the request in
//! flight on the address (least-connections) until dropped, carries the try's passive
//! health report, and, for the latency algorithm, records the response time when the
//! request ends. The proxy keeps the lease of the answering try in the request context, so
//! the request counts as in flight until its response body is done.

use std::sync::Arc;
use std::time::Instant;

use super::health::AddressState;
use super::{Outcome, UpstreamBalancer};

pub struct Lease {
    balancer: Arc<UpstreamBalancer>,
    state: Arc<AddressState>,
    target: Arc<str>,
    addr: std::net::SocketAddr,
    started: Instant,
    answered: bool,
}

impl Lease {
    pub(super) fn new(
        balancer: Arc<UpstreamBalancer>,
        state: Arc<AddressState>,
        target: Arc<str>,
        addr: std::net::SocketAddr,
    ) -> Lease {
        state.acquire();
        Lease {
            balancer,
            state,
            target,
            addr,
            started: Instant::now(),
            answered: false,
        }
    }

    /// How the try ended: counted by the upstream's passive health checks.
    pub fn report(&mut self, outcome: Outcome) {
        if matches!(outcome, Outcome::Response(_)) {
            self.answered = true;
        }
        let config = self.balancer.health_config();
        if !config.enabled {
            return;
        }
        if let Some(change) = config.passive.outcome(&self.state, outcome) {
            self.balancer
                .log_transition(&self.target, self.addr, change, "passive");
        }
    }
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("target", &self.target)
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.state.release();
        if self.answered && self.balancer.measures_latency() {
            let now = Instant::now();
            let seconds = now.saturating_duration_since(self.started).as_secs_f64();
            self.state.record_latency(now, seconds);
        }
    }
}
