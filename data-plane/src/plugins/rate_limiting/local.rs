//! The `local` policy: counters in this node's memory, shared by every configuration
//! (Kong's `kong_rate_limiting_counters` shared dictionary).

use std::sync::Mutex;

// foldhash: the keys (route, service, identifier, window) are long; SipHash is not needed
// for a map that is swept and whose keys' shape the configuration fixes.
use foldhash::HashMap;

/// A counter and when its window ends (Unix seconds).
struct Counter {
    value: u64,
    expires_at: i64,
}

#[derive(Default)]
pub struct LocalCounters {
    counters: Mutex<HashMap<String, Counter>>,
}

/// Expired counters are swept once the map holds this many entries.
const SWEEP_AT: usize = 4096;

impl LocalCounters {
    /// The current usage of each `(key, expires_at, limit)`; when every limit still has
    /// room, the request is counted in all of them (one lock for the whole decision).
    pub fn take(&self, now: i64, keys: &[(String, i64, f64)]) -> Vec<u64> {
        let mut counters = match self.counters.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        let usage: Vec<u64> = keys
            .iter()
            .map(|(key, _, _)| match counters.get(key) {
                Some(c) if c.expires_at > now => c.value,
                _ => 0,
            })
            .collect();
        let allowed = keys
            .iter()
            .zip(&usage)
            .all(|((_, _, limit), used)| limit - (*used as f64) > 0.0);
        if allowed {
            if counters.len() >= SWEEP_AT {
                counters.retain(|_, c| c.expires_at > now);
            }
            for (key, expires_at, _) in keys {
                match counters.get_mut(key) {
                    Some(c) if c.expires_at > now => c.value += 1,
                    Some(c) => {
                        c.value = 1;
                        c.expires_at = *expires_at;
                    }
                    None => {
                        counters.insert(
                            key.clone(),
                            Counter {
                                value: 1,
                                expires_at: *expires_at,
                            },
                        );
                    }
                }
            }
        }
        usage
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_until_the_limit_then_stops_counting() {
        let c = LocalCounters::default();
        let keys = vec![("k".to_string(), 100, 2.0)];
        assert_eq!(c.take(10, &keys), vec![0]);
        assert_eq!(c.take(10, &keys), vec![1]);
        assert_eq!(c.take(10, &keys), vec![2]);
        assert_eq!(c.take(10, &keys), vec![2]);
        // A new window starts from zero.
        assert_eq!(c.take(100, &[("k".to_string(), 200, 2.0)]), vec![0]);
    }
}
