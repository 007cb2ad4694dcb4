//! Graceful shutdown: the signal listeners and connections wait on, and the count of
//! connections still open.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

/// Shutdown signalling shared by listeners and connections. Every connection holds a
/// clone; [`DrainController::shutdown`] waits until all of them are gone.
#[derive(Clone)]
pub struct Drain {
    shutdown: watch::Receiver<bool>,
    _alive: mpsc::Sender<()>,
}

/// The node's side of [`Drain`]: triggers shutdown and waits for connections to finish.
pub struct DrainController {
    shutdown: watch::Sender<bool>,
    done: mpsc::Receiver<()>,
    drain: Option<Drain>,
}

impl DrainController {
    pub fn new() -> DrainController {
        let (shutdown, rx) = watch::channel(false);
        let (alive, done) = mpsc::channel(1);
        DrainController {
            shutdown,
            done,
            drain: Some(Drain {
                shutdown: rx,
                _alive: alive,
            }),
        }
    }

    /// A handle for a listener or connection.
    pub fn drain(&self) -> Option<Drain> {
        self.drain.clone()
    }

    /// Stops accepting, asks connections to finish their requests and close, and waits for
    /// them up to `grace`. Returns whether every connection finished in time.
    pub async fn shutdown(mut self, grace: Duration) -> bool {
        let _ = self.shutdown.send(true);
        self.drain = None;
        tokio::time::timeout(grace, self.done.recv()).await.is_ok()
    }
}

impl Default for DrainController {
    fn default() -> Self {
        Self::new()
    }
}

impl Drain {
    pub fn is_stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    pub async fn stopping(&mut self) {
        while !*self.shutdown.borrow_and_update() {
            if self.shutdown.changed().await.is_err() {
                return;
            }
        }
    }
}

/// A connection task's wait for shutdown. The task wakes at least twice per request for
/// its connection; the shutdown future is polled only after it woke the task itself, not
/// at each of those wake-ups (a poll of the watch channel costs about as much as the
/// rest of a wake-up's bookkeeping).
pub struct ShutdownSignal {
    stopping: Pin<Box<dyn Future<Output = ()> + Send + Sync>>,
    gate: Arc<Gate>,
    /// Wakes through `gate`: given to `stopping`.
    gate_waker: Waker,
    /// The task's waker as last registered with `gate`.
    task: Option<Waker>,
    /// The connection counts as open until this is dropped.
    drain: Drain,
}

/// Set when the shutdown future asked to be polled; forwards the wake-up to the task.
struct Gate {
    woken: AtomicBool,
    task: Mutex<Option<Waker>>,
}

impl Wake for Gate {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(task) = task.as_ref() {
            task.wake_by_ref();
        }
    }
}

impl ShutdownSignal {
    pub fn new(drain: Drain) -> ShutdownSignal {
        let gate = Arc::new(Gate {
            // The first poll registers the shutdown future's interest.
            woken: AtomicBool::new(true),
            task: Mutex::new(None),
        });
        ShutdownSignal {
            stopping: Box::pin({
                let mut drain = drain.clone();
                async move { drain.stopping().await }
            }),
            gate_waker: Waker::from(gate.clone()),
            gate,
            task: None,
            drain,
        }
    }
}

impl ShutdownSignal {
    /// Whether shutdown has begun (without waiting for it).
    pub fn is_set(&self) -> bool {
        self.drain.is_stopping()
    }
}

impl Future for ShutdownSignal {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if !this.task.as_ref().is_some_and(|t| t.will_wake(cx.waker())) {
            *this.gate.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
            this.task = Some(cx.waker().clone());
        }
        if !this.gate.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let mut gate_cx = Context::from_waker(&this.gate_waker);
        this.stopping.as_mut().poll(&mut gate_cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn the_signal_fires_on_shutdown_and_holds_the_drain_until_dropped() {
        let controller = DrainController::new();
        let mut signal = ShutdownSignal::new(controller.drain().unwrap());
        let before = std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut signal).poll(cx))).await;
        assert!(before.is_pending());
        let shutdown = tokio::spawn(controller.shutdown(Duration::from_secs(10)));
        tokio::time::timeout(Duration::from_secs(10), &mut signal)
            .await
            .expect("the signal fires once shutdown starts");
        // Fired, and still counted as an open connection.
        tokio::task::yield_now().await;
        assert!(!shutdown.is_finished());
        drop(signal);
        assert!(
            shutdown.await.unwrap(),
            "the controller saw the connection close"
        );
    }
}
