//! The health of one address, as lua-resty-healthcheck keeps it (the library behind Kong's
//! health checks).
//!
//! Four counters (successes, HTTP failures, TCP failures, timeouts) drive an address between
//! four states. A success clears the three failure counters and a failure clears the success
//! counter; a counter reaching its configured limit moves the address to `healthy` (successes)
//! or `unhealthy` (any failure counter). Below the limit, a healthy address that sees a failure
//! becomes `mostly_healthy`, and an unhealthy one that sees a success `mostly_unhealthy`.
//! `healthy` and `mostly_healthy` receive traffic; the other two do not. Reports that cannot
//! change anything (a success while fully healthy, a failure while fully unhealthy, or a
//! counter whose limit is 0) are ignored without touching the counters.
//!
//! Active probes and passive reports share the counters, each with its own limits. The state
//! and the counters are packed into one `AtomicU64`, so reading health on the request path is
//! one atomic load and reporting is a compare-and-swap loop, never a lock.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

/// lua-resty-healthcheck's internal states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Healthy = 0,
    Unhealthy = 1,
    MostlyHealthy = 2,
    MostlyUnhealthy = 3,
}

impl Health {
    fn from_bits(bits: u64) -> Health {
        match bits & 0xff {
            1 => Health::Unhealthy,
            2 => Health::MostlyHealthy,
            3 => Health::MostlyUnhealthy,
            _ => Health::Healthy,
        }
    }

    /// Whether an address in this state receives traffic.
    pub fn is_available(self) -> bool {
        matches!(self, Health::Healthy | Health::MostlyHealthy)
    }
}

/// The four counters, in their packed order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    Success = 0,
    Http = 1,
    Tcp = 2,
    Timeout = 3,
}

/// Packed layout: bits 0-7 the state, then one byte per counter (success, http, tcp, timeout).
fn counter_shift(counter: Counter) -> u32 {
    8 + 8 * counter as u32
}

fn counter_value(bits: u64, counter: Counter) -> u8 {
    ((bits >> counter_shift(counter)) & 0xff) as u8
}

fn with_counter(bits: u64, counter: Counter, value: u8) -> u64 {
    let shift = counter_shift(counter);
    (bits & !(0xff << shift)) | (u64::from(value) << shift)
}

const FAILURES: [Counter; 3] = [Counter::Http, Counter::Tcp, Counter::Timeout];

/// A change of state caused by a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: Health,
    pub to: Health,
}

/// Exponentially weighted moving average of response times (Kong's `latency` algorithm).
#[derive(Debug, Clone, Copy)]
pub struct Ewma {
    /// Seconds.
    pub value: f64,
    pub touched: Instant,
}

/// Kong's `DECAY_TIME`: how fast old response times fade, in seconds.
const EWMA_DECAY_SECONDS: f64 = 10.0;

impl Ewma {
    /// The average decayed to `now` and (when `sample` is given) blended with it.
    pub fn at(&self, now: Instant, sample: f64) -> f64 {
        let elapsed = now.saturating_duration_since(self.touched).as_secs_f64();
        let weight = (-elapsed / EWMA_DECAY_SECONDS).exp();
        self.value * weight + sample * (1.0 - weight)
    }
}

/// Everything the balancer remembers about one address of one upstream target, across
/// configuration updates: health, requests in flight (least-connections) and response time
/// average (latency).
#[derive(Debug)]
pub struct AddressState {
    bits: AtomicU64,
    /// Bumped on every state change of any address of the same upstream, so balancers can
    /// cache per-upstream conclusions (is the upstream above its health threshold?).
    epoch: Arc<AtomicU64>,
    in_flight: AtomicU32,
    ewma: Mutex<Option<Ewma>>,
}

impl AddressState {
    pub fn new(epoch: Arc<AtomicU64>) -> AddressState {
        AddressState {
            bits: AtomicU64::new(Health::Healthy as u64),
            epoch,
            in_flight: AtomicU32::new(0),
            ewma: Mutex::new(None),
        }
    }

    pub fn health(&self) -> Health {
        Health::from_bits(self.bits.load(Ordering::Acquire))
    }

    pub fn is_available(&self) -> bool {
        self.health().is_available()
    }

    /// Counts one report against `counter` with its configured `limit` (0: disabled).
    pub fn report(&self, counter: Counter, limit: u32) -> Option<Transition> {
        if limit == 0 {
            return None;
        }
        let success = counter == Counter::Success;
        let mut current = self.bits.load(Ordering::Acquire);
        loop {
            let state = Health::from_bits(current);
            if (success && state == Health::Healthy) || (!success && state == Health::Unhealthy) {
                return None;
            }
            let count = counter_value(current, counter).saturating_add(1);
            let mut next = with_counter(current, counter, count);
            if success {
                for failure in FAILURES {
                    next = with_counter(next, failure, 0);
                }
            } else {
                next = with_counter(next, Counter::Success, 0);
            }
            let any_failure = FAILURES.iter().any(|c| counter_value(next, *c) > 0);
            let new_state = if u32::from(count) >= limit {
                if success {
                    Health::Healthy
                } else {
                    Health::Unhealthy
                }
            } else if state == Health::Healthy && any_failure {
                Health::MostlyHealthy
            } else if state == Health::Unhealthy && counter_value(next, Counter::Success) > 0 {
                Health::MostlyUnhealthy
            } else {
                state
            };
            next = (next & !0xff) | new_state as u64;
            match self.bits.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if new_state == state {
                        return None;
                    }
                    self.epoch.fetch_add(1, Ordering::AcqRel);
                    return Some(Transition {
                        from: state,
                        to: new_state,
                    });
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// Requests currently using this address (for least-connections).
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub(crate) fn acquire(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn release(&self) {
        // Never below zero, even if a release were doubled by mistake.
        let _ = self
            .in_flight
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// The response time average decayed to `now` (0 when never measured).
    pub fn latency_score(&self, now: Instant) -> f64 {
        self.ewma_lock().map_or(0.0, |e| e.at(now, 0.0))
    }

    pub fn has_latency(&self) -> bool {
        self.ewma_lock().is_some()
    }

    /// Records one response time.
    pub fn record_latency(&self, now: Instant, seconds: f64) {
        let mut guard = match self.ewma.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let value = guard.map_or(seconds, |e| e.at(now, seconds));
        *guard = Some(Ewma {
            value,
            touched: now,
        });
    }

    /// Starts a new address at `value` unless it was measured already (Kong's slow start:
    /// new addresses begin at the average of the others, not at zero).
    pub fn seed_latency(&self, now: Instant, value: f64) {
        let mut guard = match self.ewma.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if guard.is_none() {
            *guard = Some(Ewma {
                value,
                touched: now,
            });
        }
    }

    fn ewma_lock(&self) -> Option<Ewma> {
        match self.ewma.lock() {
            Ok(g) => *g,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> AddressState {
        AddressState::new(Arc::new(AtomicU64::new(0)))
    }

    #[test]
    fn failures_reach_the_limit_through_mostly_healthy() {
        let s = state();
        assert_eq!(
            s.report(Counter::Http, 3),
            Some(Transition {
                from: Health::Healthy,
                to: Health::MostlyHealthy
            })
        );
        assert!(s.is_available());
        assert_eq!(s.report(Counter::Http, 3), None);
        assert_eq!(
            s.report(Counter::Http, 3).map(|t| t.to),
            Some(Health::Unhealthy)
        );
        assert!(!s.is_available());
        // Fully unhealthy: more failures change nothing.
        assert_eq!(s.report(Counter::Tcp, 1), None);
    }

    #[test]
    fn a_success_resets_failures_and_a_failure_resets_successes() {
        let s = state();
        s.report(Counter::Http, 3);
        s.report(Counter::Http, 3);
        // A success (limit 5) clears the two HTTP failures but does not reach 5 successes.
        assert_eq!(s.report(Counter::Success, 5), None);
        assert_eq!(s.health(), Health::MostlyHealthy);
        s.report(Counter::Http, 3);
        s.report(Counter::Http, 3);
        assert_eq!(
            s.health(),
            Health::MostlyHealthy,
            "the counter restarted at 0"
        );
        s.report(Counter::Http, 3);
        assert_eq!(s.health(), Health::Unhealthy);
        assert_eq!(
            s.report(Counter::Success, 2).map(|t| t.to),
            Some(Health::MostlyUnhealthy)
        );
        assert!(!s.is_available());
        s.report(Counter::Timeout, 9);
        s.report(Counter::Success, 2);
        assert_eq!(
            s.health(),
            Health::MostlyUnhealthy,
            "the timeout reset the successes"
        );
        assert_eq!(
            s.report(Counter::Success, 2).map(|t| t.to),
            Some(Health::Healthy)
        );
    }

    #[test]
    fn disabled_counters_and_useless_reports_are_ignored() {
        let s = state();
        assert_eq!(s.report(Counter::Http, 0), None);
        assert_eq!(s.report(Counter::Success, 1), None, "already healthy");
        assert_eq!(s.health(), Health::Healthy);
    }

    #[test]
    fn state_changes_bump_the_epoch() {
        let epoch = Arc::new(AtomicU64::new(0));
        let s = AddressState::new(epoch.clone());
        s.report(Counter::Tcp, 1);
        assert_eq!(epoch.load(Ordering::Acquire), 1);
        s.report(Counter::Tcp, 1);
        assert_eq!(epoch.load(Ordering::Acquire), 1);
    }

    #[test]
    fn ewma_decays_towards_new_samples() {
        let s = state();
        let t0 = Instant::now();
        s.record_latency(t0, 1.0);
        assert!((s.latency_score(t0) - 1.0).abs() < 1e-9);
        let later = t0 + std::time::Duration::from_secs(10);
        // One decay time later the old value weighs e^-1.
        assert!((s.latency_score(later) - (-1.0f64).exp()).abs() < 1e-9);
        s.seed_latency(t0, 5.0);
        assert!(
            (s.latency_score(t0) - 1.0).abs() < 1e-9,
            "seeding keeps a measure"
        );
    }

    #[test]
    fn in_flight_never_underflows() {
        let s = state();
        s.acquire();
        s.release();
        s.release();
        assert_eq!(s.in_flight(), 0);
    }
}
