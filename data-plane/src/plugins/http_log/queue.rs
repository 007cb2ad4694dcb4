//! Kong's plugin queue (`kong.tools.queue`): entries are batched (up to
//! `max_batch_size`, waiting at most `max_coalescing_delay` for a batch to fill), sent by
//! one background task, and retried with exponential backoff (`initial_retry_delay`
//! doubling up to `max_retry_delay`) until `max_retry_time` has passed. At most
//! `max_entries` wait; more are dropped with an error, as Kong drops them.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::mpsc;

#[derive(Debug, Clone, Deserialize)]
pub struct QueueConfig {
    pub max_batch_size: usize,
    pub max_coalescing_delay: f64,
    pub max_entries: usize,
    pub max_retry_time: f64,
    pub initial_retry_delay: f64,
    pub max_retry_delay: f64,
}

/// Sends one batch; `Err` is retried.
pub trait Sender: Send + Sync + 'static {
    fn send(&self, batch: Vec<String>) -> impl Future<Output = Result<(), String>> + Send;
}

pub struct Queue {
    config: QueueConfig,
    tx: Mutex<Option<mpsc::Sender<String>>>,
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

impl Queue {
    pub fn new(config: QueueConfig) -> Queue {
        Queue {
            config,
            tx: Mutex::new(None),
        }
    }

    /// Adds an entry; the sending task starts on first use (it needs a tokio runtime).
    pub fn enqueue<S: Sender>(&self, entry: String, sender: impl FnOnce() -> S) {
        let mut tx = match self.tx.lock() {
            Ok(t) => t,
            Err(poisoned) => poisoned.into_inner(),
        };
        if tx.as_ref().is_none_or(mpsc::Sender::is_closed) {
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                tracing::error!("log queue: no runtime to send from; entry dropped");
                return;
            };
            let (new_tx, rx) = mpsc::channel(self.config.max_entries.max(1));
            runtime.spawn(run(self.config.clone(), rx, sender()));
            *tx = Some(new_tx);
        }
        if let Some(tx) = tx.as_ref()
            && tx.try_send(entry).is_err()
        {
            tracing::error!(
                max_entries = self.config.max_entries,
                "log queue full: entry dropped"
            );
        }
    }
}

async fn run<S: Sender>(config: QueueConfig, mut rx: mpsc::Receiver<String>, sender: S) {
    let batch_size = config.max_batch_size.max(1);
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + secs(config.max_coalescing_delay);
        while batch.len() < batch_size {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(entry)) => batch.push(entry),
                Ok(None) | Err(_) => break,
            }
        }
        send_with_retries(&config, &sender, batch).await;
    }
}

async fn send_with_retries<S: Sender>(config: &QueueConfig, sender: &S, batch: Vec<String>) {
    let started = tokio::time::Instant::now();
    let mut delay = secs(config.initial_retry_delay);
    loop {
        match sender.send(batch.clone()).await {
            Ok(()) => return,
            Err(e) => {
                if started.elapsed() + delay > secs(config.max_retry_time) {
                    tracing::error!(error = %e, entries = batch.len(), "log batch dropped after retries");
                    return;
                }
                tracing::warn!(error = %e, "log batch failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(secs(config.max_retry_delay));
            }
        }
    }
}
