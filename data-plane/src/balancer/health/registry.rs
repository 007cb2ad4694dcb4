//! Balancer state that outlives one compiled configuration.
//!
//! Every configuration update compiles new [`UpstreamBalancer`]s (new target lists, new
//! rings), but what was learnt about the addresses — health counters, requests in flight,
//! response-time averages — belongs to the upstream, not to one compilation. The registry
//! (one per process, in the compile environment) hands each new balancer the
//! [`AddressState`] of every address its previous incarnation knew, keyed by upstream id,
//! target (`host:port`) and resolved address. It holds them weakly: state lives exactly as
//! long as some compiled configuration (the serving one, or an older one still finishing
//! requests) has the address, so removing a target or an upstream forgets it.
//!
//! The registry also owns the active health checkers: [`BalancerRegistry::publish`] (called
//! when a configuration starts serving) starts one per upstream that asks for probes, points
//! running ones at the new balancers, and stops those whose upstream is gone.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use uuid::Uuid;

use super::active::ActiveChecker;
use super::state::AddressState;
use crate::balancer::UpstreamBalancer;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// The persistent state of one upstream entity (by id).
#[derive(Debug)]
pub struct UpstreamState {
    /// Bumped whenever an address of this upstream changes health state.
    epoch: Arc<AtomicU64>,
    addresses: Mutex<HashMap<(String, SocketAddr), Weak<AddressState>>>,
}

impl UpstreamState {
    pub fn new() -> UpstreamState {
        UpstreamState {
            epoch: Arc::new(AtomicU64::new(0)),
            addresses: Mutex::new(HashMap::new()),
        }
    }

    pub fn epoch(&self) -> &Arc<AtomicU64> {
        &self.epoch
    }

    /// The state of `addr` reached through `target` (`host:port` as configured), shared with
    /// every balancer of this upstream that has it.
    pub fn address(&self, target: &str, addr: SocketAddr) -> Arc<AddressState> {
        let mut addresses = lock(&self.addresses);
        let key = (target.to_string(), addr);
        if let Some(existing) = addresses.get(&key).and_then(Weak::upgrade) {
            return existing;
        }
        addresses.retain(|_, w| w.strong_count() > 0);
        let state = Arc::new(AddressState::new(self.epoch.clone()));
        addresses.insert(key, Arc::downgrade(&state));
        state
    }
}

impl Default for UpstreamState {
    fn default() -> Self {
        UpstreamState::new()
    }
}

/// Per-process balancer state: upstream states and active health checkers.
#[derive(Default)]
pub struct BalancerRegistry {
    upstreams: Mutex<HashMap<Uuid, Weak<UpstreamState>>>,
    checkers: Mutex<HashMap<Uuid, ActiveChecker>>,
}

impl BalancerRegistry {
    pub fn new() -> BalancerRegistry {
        BalancerRegistry::default()
    }

    /// The state of upstream `id`, shared with the balancers already compiled for it.
    pub fn upstream(&self, id: Uuid) -> Arc<UpstreamState> {
        let mut upstreams = lock(&self.upstreams);
        if let Some(existing) = upstreams.get(&id).and_then(Weak::upgrade) {
            return existing;
        }
        upstreams.retain(|_, w| w.strong_count() > 0);
        let state = Arc::new(UpstreamState::new());
        upstreams.insert(id, Arc::downgrade(&state));
        state
    }

    /// A configuration with `balancers` now serves: probe what it asks to probe, and stop
    /// probing upstreams it no longer has (or no longer probes).
    pub fn publish<'a>(&self, balancers: impl IntoIterator<Item = &'a Arc<UpstreamBalancer>>) {
        let mut checkers = lock(&self.checkers);
        let mut wanted: HashMap<Uuid, &Arc<UpstreamBalancer>> = HashMap::new();
        for balancer in balancers {
            if balancer.health_config().probes() {
                wanted.insert(balancer.upstream().id, balancer);
            }
        }
        checkers.retain(|id, _| wanted.contains_key(id));
        for (id, balancer) in wanted {
            match checkers.get(&id) {
                Some(checker) => checker.follow(balancer),
                None => {
                    if let Some(checker) = ActiveChecker::start(balancer) {
                        checkers.insert(id, checker);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_state_is_shared_while_someone_holds_it() {
        let registry = BalancerRegistry::new();
        let id = Uuid::new_v4();
        let upstream = registry.upstream(id);
        let addr: SocketAddr = "127.0.0.1:80".parse().expect("address");
        let a = upstream.address("a:80", addr);
        assert!(Arc::ptr_eq(
            &a,
            &registry.upstream(id).address("a:80", addr)
        ));
        assert!(!Arc::ptr_eq(&a, &upstream.address("b:80", addr)));
        drop(a);
        drop(upstream);
        // Nothing holds the upstream any more: a new one starts from scratch.
        let fresh = registry.upstream(id);
        assert_eq!(lock(&fresh.addresses).len(), 0);
    }
}
