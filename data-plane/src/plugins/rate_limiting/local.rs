//! The `local` policy: counters in this node's memory, shared by every configuration
//! (Kong's `kong_rate_limiting_counters` shared dictionary).
//!
//! Kong keys each counter by `route:service:identifier:window start:period`. Here the
//! route and service (the plugin's scope) pick a [`ScopeCounters`] once, when the plugin
//! is compiled, and each identifier holds one counter per period that restarts when its
//! window changes: a request formats no key and allocates nothing once its identifier is
//! known.

use std::sync::{Arc, Mutex, MutexGuard};

// foldhash: the identifiers are client input, but the map is bounded by sweeping and its
// hasher is seeded per process.
use foldhash::HashMap;

use super::periods::{Period, period_start};

/// One period's count within the window starting at `window_start` (Unix seconds).
#[derive(Clone, Copy, Default)]
struct Counter {
    window_start: i64,
    value: u64,
}

/// An identifier's counters, indexed like [`Period::ALL`].
#[derive(Default)]
struct Counters([Counter; 6]);

impl Counters {
    fn current(&self, period: Period, window_start: i64) -> u64 {
        let c = self.0[period as usize];
        if c.window_start == window_start {
            c.value
        } else {
            0
        }
    }

    /// Whether any window is still open at `now`.
    fn live(&self, now: i64) -> bool {
        Period::ALL.iter().any(|p| {
            let c = self.0[*p as usize];
            c.value > 0 && c.window_start + p.expiration() as i64 > now
        })
    }
}

/// The counters of one route/service scope, by identifier.
#[derive(Default)]
pub struct ScopeCounters {
    by_identifier: Mutex<HashMap<Box<str>, Counters>>,
}

/// Expired identifiers are swept once a scope holds this many.
const SWEEP_AT: usize = 4096;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl ScopeCounters {
    /// The usage before this request of each `(period, limit)` for `identifier`; when
    /// every limit still has room, the request is counted in all of them (one lock for
    /// the whole decision). Entries past `limits.len()` are zero.
    pub fn take(&self, now: i64, identifier: &str, limits: &[(Period, f64)]) -> [u64; 6] {
        let mut usage = [0u64; 6];
        let mut map = lock(&self.by_identifier);
        if let Some(counters) = map.get(identifier) {
            for (u, (period, _)) in usage.iter_mut().zip(limits) {
                *u = counters.current(*period, period_start(*period, now));
            }
        }
        let allowed = limits
            .iter()
            .zip(usage)
            .all(|((_, limit), used)| limit - (used as f64) > 0.0);
        if !allowed {
            return usage;
        }
        let counters = match map.get_mut(identifier) {
            Some(c) => c,
            None => {
                if map.len() >= SWEEP_AT {
                    map.retain(|_, c| c.live(now));
                }
                map.entry(Box::from(identifier)).or_default()
            }
        };
        for (period, _) in limits {
            let window_start = period_start(*period, now);
            let c = &mut counters.0[*period as usize];
            if c.window_start == window_start {
                c.value += 1;
            } else {
                *c = Counter {
                    window_start,
                    value: 1,
                };
            }
        }
        usage
    }

    fn is_idle(&self, now: i64) -> bool {
        lock(&self.by_identifier).values().all(|c| !c.live(now))
    }
}

/// Every scope's counters on this node.
#[derive(Default)]
pub struct LocalCounters {
    scopes: Mutex<Scopes>,
}

#[derive(Default)]
struct Scopes {
    by_name: HashMap<String, Arc<ScopeCounters>>,
    /// When unused scopes were last dropped (Unix seconds): once per second at most, so
    /// compiling a configuration with many instances scans the table once, not once per
    /// instance.
    pruned_at: i64,
}

impl LocalCounters {
    /// The counters of `scope` (`route_id:service_id`), shared with every instance of
    /// that scope in this and later configurations. Scopes no instance uses any more are
    /// dropped once their windows have closed.
    pub fn scope(&self, scope: &str, now: i64) -> Arc<ScopeCounters> {
        let mut scopes = lock(&self.scopes);
        if scopes.pruned_at != now {
            scopes.pruned_at = now;
            scopes.by_name.retain(|name, counters| {
                name == scope || Arc::strong_count(counters) > 1 || !counters.is_idle(now)
            });
        }
        scopes.by_name.entry(scope.to_string()).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_until_the_limit_then_stops_counting() {
        let c = ScopeCounters::default();
        let limits = [(Period::Minute, 2.0)];
        assert_eq!(c.take(10, "a", &limits)[0], 0);
        assert_eq!(c.take(10, "a", &limits)[0], 1);
        assert_eq!(c.take(10, "a", &limits)[0], 2);
        assert_eq!(c.take(10, "a", &limits)[0], 2);
        // Another identifier has its own counters; a new window starts from zero.
        assert_eq!(c.take(10, "b", &limits)[0], 0);
        assert_eq!(c.take(60, "a", &limits)[0], 0);
    }

    #[test]
    fn a_request_is_counted_in_every_period_only_when_all_have_room() {
        let c = ScopeCounters::default();
        let limits = [(Period::Second, 1.0), (Period::Minute, 10.0)];
        assert_eq!(c.take(5, "a", &limits)[..2], [0, 0]);
        // The second's limit stops this one: the minute does not count it.
        assert_eq!(c.take(5, "a", &limits)[..2], [1, 1]);
        assert_eq!(c.take(6, "a", &limits)[..2], [0, 1]);
        assert_eq!(c.take(7, "a", &limits)[..2], [0, 2]);
    }

    #[test]
    fn scopes_are_shared_while_used_and_dropped_when_idle() {
        let local = LocalCounters::default();
        let a = local.scope("r1:s1", 10);
        a.take(10, "x", &[(Period::Minute, 5.0)]);
        let again = local.scope("r1:s1", 20);
        assert!(Arc::ptr_eq(&a, &again));
        drop((a, again));
        // Unused but its minute is still open: kept.
        local.scope("r2:s2", 30);
        assert_eq!(lock(&local.scopes).by_name.len(), 2);
        // The minute closed: dropped when another scope is compiled.
        local.scope("r3:s3", 61);
        assert!(!lock(&local.scopes).by_name.contains_key("r1:s1"));
    }
}
