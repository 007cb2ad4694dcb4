//! A TCP forwarder the test controls, to put between a process and a server it depends on
//! (the control plane and Postgres): `cut` ends every forwarded connection and refuses new
//! ones (they are accepted and closed at once, like a server that went away); `stall`
//! stops moving bytes but keeps every connection open and accepts new ones that never get
//! an answer (like a network partition); `restore` forwards again (connections held by a
//! stall are closed). The listening port stays the same throughout.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct Forwarder {
    /// Where clients connect.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

struct Shared {
    up: AtomicBool,
    stalled: AtomicBool,
    /// Bumped by `cut`: forwarded connections of an older generation end.
    generation: watch::Sender<u64>,
}

impl Forwarder {
    /// Listens on an ephemeral loopback port and forwards to `target`.
    pub async fn start(target: SocketAddr) -> Forwarder {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the forwarder");
        let addr = listener.local_addr().expect("forwarder address");
        let shared = Arc::new(Shared {
            up: AtomicBool::new(true),
            stalled: AtomicBool::new(false),
            generation: watch::Sender::new(0),
        });
        let task = tokio::spawn(accept_loop(listener, target, shared.clone()));
        Forwarder { addr, shared, task }
    }

    /// Ends every forwarded connection; new ones are closed as soon as accepted.
    pub fn cut(&self) {
        self.shared.stalled.store(false, Ordering::SeqCst);
        self.shared.up.store(false, Ordering::SeqCst);
        self.shared.generation.send_modify(|g| *g += 1);
    }

    /// Stops forwarding without closing anything: connections (old and new) stay open and
    /// silent until `restore` or `cut`.
    pub fn stall(&self) {
        self.shared.stalled.store(true, Ordering::SeqCst);
        self.shared.up.store(false, Ordering::SeqCst);
        self.shared.generation.send_modify(|g| *g += 1);
    }

    /// Forwards new connections again (and closes those a stall held).
    pub fn restore(&self) {
        let held = self.shared.stalled.swap(false, Ordering::SeqCst);
        self.shared.up.store(true, Ordering::SeqCst);
        if held {
            self.shared.generation.send_modify(|g| *g += 1);
        }
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.cut();
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, target: SocketAddr, shared: Arc<Shared>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let mut generation = shared.generation.subscribe();
        if shared.stalled.load(Ordering::SeqCst) {
            // Hold the connection open and silent until the next change.
            tokio::spawn(async move {
                let _held = client;
                let _ = generation.changed().await;
            });
            continue;
        }
        if !shared.up.load(Ordering::SeqCst) {
            drop(client);
            continue;
        }
        let shared = shared.clone();
        tokio::spawn(async move {
            let Ok(mut upstream) = TcpStream::connect(target).await else {
                return;
            };
            let mut client = client;
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => return,
                _ = generation.changed() => {}
            }
            if shared.stalled.load(Ordering::SeqCst) {
                // Stalled: keep both ends open, moving nothing, until the next change.
                let _ = generation.changed().await;
            }
        });
    }
}
