//! An upstream's `healthchecks` settings, prepared for the request path and the prober.

use std::time::Duration;

use common::model::Healthchecks;

use super::state::{AddressState, Counter, Transition};
use crate::balancer::Outcome;

/// A set of HTTP status codes (100-999) as a bitmap: one lookup per report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet([u64; 16]);

impl StatusSet {
    pub fn new(codes: &[u16]) -> StatusSet {
        let mut bits = [0u64; 16];
        for &code in codes {
            if let Some(word) = bits.get_mut(usize::from(code / 64)) {
                *word |= 1 << (code % 64);
            }
        }
        StatusSet(bits)
    }

    pub fn contains(&self, code: u16) -> bool {
        self.0
            .get(usize::from(code / 64))
            .is_some_and(|word| word & (1 << (code % 64)) != 0)
    }
}

/// How active probes talk to a target (`healthchecks.active.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    Http,
    Https,
    /// Connect only.
    Tcp,
}

/// Limits and status lists of one kind of check (active or passive).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckRules {
    pub healthy_statuses: StatusSet,
    pub successes: u32,
    pub unhealthy_statuses: StatusSet,
    pub http_failures: u32,
    pub tcp_failures: u32,
    pub timeouts: u32,
}

/// `healthchecks.active`, ready to probe with.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveSettings {
    /// `None` when the type cannot be probed (`grpc`, `grpcs`).
    pub kind: Option<ProbeKind>,
    pub timeout: Duration,
    pub concurrency: usize,
    pub http_path: String,
    pub https_sni: Option<String>,
    pub https_verify_certificate: bool,
    /// Extra request header lines, each ending in CRLF (`healthchecks.active.headers`).
    pub header_lines: String,
    /// Probe period for healthy targets (`None`: not probed).
    pub healthy_interval: Option<Duration>,
    /// Probe period for unhealthy targets (`None`: not probed).
    pub unhealthy_interval: Option<Duration>,
    pub rules: CheckRules,
}

/// What one active probe observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeResult {
    /// The status of the response's status line; 0 when the line was not HTTP.
    Status(u16),
    /// Connected (a `tcp` probe's success).
    Connected,
    TcpFailure,
    Timeout,
}

/// An upstream's health-check configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthConfig {
    /// Kong's `is_upstream_using_healthcheck`: an active interval or a passive unhealthy
    /// limit is set. Otherwise every address is `healthchecks_off` and nothing is counted.
    pub enabled: bool,
    /// Percentage of the total weight that must be available for the upstream to serve.
    pub threshold: f64,
    pub active: ActiveSettings,
    pub passive: CheckRules,
}

fn seconds(value: f64) -> Option<Duration> {
    (value > 0.0 && value.is_finite()).then(|| Duration::from_secs_f64(value))
}

impl HealthConfig {
    pub fn new(checks: &Healthchecks) -> HealthConfig {
        let active = &checks.active;
        let passive = &checks.passive;
        let kind = match active.kind.as_str() {
            "http" => Some(ProbeKind::Http),
            "https" => Some(ProbeKind::Https),
            "tcp" => Some(ProbeKind::Tcp),
            _ => None,
        };
        let mut header_lines = String::new();
        for (name, values) in active.headers.iter().flatten() {
            for value in values {
                // Values come validated from the schema; CR/LF would break the request.
                if !name.contains(['\r', '\n']) && !value.contains(['\r', '\n']) {
                    header_lines.push_str(&format!("{name}: {value}\r\n"));
                }
            }
        }
        let healthy_interval = seconds(active.healthy.interval);
        let unhealthy_interval = seconds(active.unhealthy.interval);
        let enabled = healthy_interval.is_some()
            || unhealthy_interval.is_some()
            || passive.unhealthy.tcp_failures != 0
            || passive.unhealthy.timeouts != 0
            || passive.unhealthy.http_failures != 0;
        HealthConfig {
            enabled,
            threshold: checks.threshold,
            active: ActiveSettings {
                kind,
                timeout: seconds(active.timeout).unwrap_or(Duration::from_secs(1)),
                concurrency: usize::try_from(active.concurrency).unwrap_or(1).max(1),
                http_path: active.http_path.clone(),
                https_sni: active.https_sni.clone(),
                https_verify_certificate: active.https_verify_certificate,
                header_lines,
                healthy_interval,
                unhealthy_interval,
                rules: CheckRules {
                    healthy_statuses: StatusSet::new(&active.healthy.http_statuses),
                    successes: active.healthy.successes,
                    unhealthy_statuses: StatusSet::new(&active.unhealthy.http_statuses),
                    http_failures: active.unhealthy.http_failures,
                    tcp_failures: active.unhealthy.tcp_failures,
                    timeouts: active.unhealthy.timeouts,
                },
            },
            passive: CheckRules {
                healthy_statuses: StatusSet::new(&passive.healthy.http_statuses),
                successes: passive.healthy.successes,
                unhealthy_statuses: StatusSet::new(&passive.unhealthy.http_statuses),
                http_failures: passive.unhealthy.http_failures,
                tcp_failures: passive.unhealthy.tcp_failures,
                timeouts: passive.unhealthy.timeouts,
            },
        }
    }

    /// Whether active probes run at all.
    pub fn probes(&self) -> bool {
        self.enabled
            && self.active.kind.is_some()
            && (self.active.healthy_interval.is_some() || self.active.unhealthy_interval.is_some())
    }
}

impl CheckRules {
    /// Counts an HTTP status: healthy statuses as successes, unhealthy ones (and 0, a reply
    /// that was not HTTP) as HTTP failures; any other status is ignored.
    fn status(&self, state: &AddressState, status: u16) -> Option<Transition> {
        if self.healthy_statuses.contains(status) {
            state.report(Counter::Success, self.successes)
        } else if status == 0 || self.unhealthy_statuses.contains(status) {
            state.report(Counter::Http, self.http_failures)
        } else {
            None
        }
    }

    /// A passive report: how a try of real traffic ended.
    pub fn outcome(&self, state: &AddressState, outcome: Outcome) -> Option<Transition> {
        match outcome {
            Outcome::Response(status) => self.status(state, status),
            Outcome::ConnectFailure | Outcome::ProtocolFailure => {
                state.report(Counter::Tcp, self.tcp_failures)
            }
            Outcome::Timeout => state.report(Counter::Timeout, self.timeouts),
        }
    }

    /// An active report: what a probe observed.
    pub fn probe(&self, state: &AddressState, result: ProbeResult) -> Option<Transition> {
        match result {
            ProbeResult::Status(status) => self.status(state, status),
            ProbeResult::Connected => state.report(Counter::Success, self.successes),
            ProbeResult::TcpFailure => state.report(Counter::Tcp, self.tcp_failures),
            ProbeResult::Timeout => state.report(Counter::Timeout, self.timeouts),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_sets_hold_exactly_their_codes() {
        let set = StatusSet::new(&[200, 302, 999, 100]);
        for code in [200, 302, 999, 100] {
            assert!(set.contains(code), "{code}");
        }
        for code in [0, 201, 301, 500, 1000, 65535] {
            assert!(!set.contains(code), "{code}");
        }
    }
}
