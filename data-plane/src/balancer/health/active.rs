//! Active health checks: one background task per upstream that asks for probes.
//!
//! Like lua-resty-healthcheck, healthy addresses are probed every
//! `healthchecks.active.healthy.interval` seconds and unhealthy ones every
//! `unhealthy.interval` (each 0 to disable), the first round one interval after the checker
//! starts; a round probes its addresses at most `concurrency` at a time, and a round still
//! running when the next is due delays it. The task follows whichever compiled balancer of
//! the upstream is serving (a configuration update re-points it without restarting the
//! schedule), reads its settings at every round, and stops when the registry drops it (the
//! upstream left the configuration or stopped asking for probes). Probes never run on the
//! request path: the proxy only reads the states they leave behind.

use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use futures_util::StreamExt;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::probe::{ProbeTarget, probe};
use crate::balancer::UpstreamBalancer;

/// Which addresses a round probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Healthy = 0,
    Unhealthy = 1,
}

const MODES: [Mode; 2] = [Mode::Healthy, Mode::Unhealthy];

type Source = ArcSwap<Weak<UpstreamBalancer>>;

/// A running checker; dropping it stops the probes.
pub struct ActiveChecker {
    source: Arc<Source>,
    wake: Arc<Notify>,
    task: JoinHandle<()>,
}

impl Drop for ActiveChecker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ActiveChecker {
    /// Starts probing for `balancer`'s upstream. Needs a tokio runtime (the node's).
    pub fn start(balancer: &Arc<UpstreamBalancer>) -> Option<ActiveChecker> {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(
                upstream = %balancer.upstream().name,
                "no async runtime: active health checks not started"
            );
            return None;
        };
        let source = Arc::new(ArcSwap::from_pointee(Arc::downgrade(balancer)));
        let wake = Arc::new(Notify::new());
        let task = runtime.spawn(run(source.clone(), wake.clone()));
        tracing::debug!(upstream = %balancer.upstream().name, "active health checks started");
        Some(ActiveChecker { source, wake, task })
    }

    /// Probes for `balancer` from now on (a new configuration of the same upstream).
    pub fn follow(&self, balancer: &Arc<UpstreamBalancer>) {
        self.source.store(Arc::new(Arc::downgrade(balancer)));
        self.wake.notify_one();
    }
}

/// The rounds in progress, one slot per mode; aborted with the checker.
#[derive(Default)]
struct Rounds([Option<JoinHandle<()>>; 2]);

impl Rounds {
    fn running(&mut self, mode: Mode) -> bool {
        let slot = &mut self.0[mode as usize];
        if slot.as_ref().is_some_and(JoinHandle::is_finished) {
            *slot = None;
        }
        slot.is_some()
    }
}

impl Drop for Rounds {
    fn drop(&mut self) {
        for handle in self.0.iter().flatten() {
            handle.abort();
        }
    }
}

fn interval(balancer: &UpstreamBalancer, mode: Mode) -> Option<Duration> {
    let active = &balancer.health_config().active;
    match mode {
        Mode::Healthy => active.healthy_interval,
        Mode::Unhealthy => active.unhealthy_interval,
    }
}

async fn run(source: Arc<Source>, wake: Arc<Notify>) {
    let started = Instant::now();
    let mut last_run = [started; 2];
    let mut rounds = Rounds::default();
    loop {
        let Some(balancer) = source.load().upgrade() else {
            return;
        };
        let now = Instant::now();
        let mut next_due: Option<Instant> = None;
        for mode in MODES {
            let Some(every) = interval(&balancer, mode) else {
                continue;
            };
            if rounds.running(mode) {
                continue;
            }
            let due = last_run[mode as usize] + every;
            if due <= now {
                last_run[mode as usize] = now;
                let (balancer, wake) = (balancer.clone(), wake.clone());
                rounds.0[mode as usize] = Some(tokio::spawn(async move {
                    round(&balancer, mode).await;
                    wake.notify_one();
                }));
            } else {
                next_due = Some(next_due.map_or(due, |d| d.min(due)));
            }
        }
        // Hold no balancer while waiting, so a replaced configuration can be freed.
        drop(balancer);
        match next_due {
            Some(due) => {
                tokio::select! {
                    () = tokio::time::sleep_until(due) => {}
                    () = wake.notified() => {}
                }
            }
            None => wake.notified().await,
        }
    }
}

/// Probes the addresses currently in `mode`'s state and reports what each probe saw.
async fn round(balancer: &Arc<UpstreamBalancer>, mode: Mode) {
    // Hostname targets must be resolved even before any traffic arrives.
    balancer.prepare().await;
    let config = balancer.health_config();
    let Some(kind) = config.active.kind else {
        return;
    };
    let table = balancer.peer_table();
    let host_header = balancer.upstream().host_header.clone();
    let targets: Vec<ProbeTarget> = table
        .peers
        .iter()
        .filter(|p| p.weight > 0)
        .filter(|p| p.state.is_available() == (mode == Mode::Healthy))
        .map(|p| ProbeTarget {
            addr: p.peer.addr,
            host: host_header
                .clone()
                .unwrap_or_else(|| p.peer.hostname.to_string()),
            state: p.state.clone(),
            target: p.target.clone(),
        })
        .collect();
    let tls = balancer.probe_tls();
    futures_util::stream::iter(targets)
        .for_each_concurrent(config.active.concurrency, |target| {
            let tls = tls.clone();
            async move {
                let result = probe(&target, kind, &config.active, tls).await;
                tracing::debug!(
                    upstream = %balancer.upstream().name,
                    address = %target.addr,
                    ?result,
                    "active health check"
                );
                if let Some(change) = config.active.rules.probe(&target.state, result) {
                    balancer.log_transition(&target.target, target.addr, change, "active");
                }
            }
        })
        .await;
}
