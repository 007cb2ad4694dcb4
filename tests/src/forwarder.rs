//! A TCP forwarder the test controls, to put between a process and a server it depends on
//! (the control plane and Postgres): `cut` ends every forwarded connection and refuses new
//! ones (they are accepted and closed at once, like a server that went away), `restore`
//! forwards again. The listening port stays the same throughout.

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
            generation: watch::Sender::new(0),
        });
        let task = tokio::spawn(accept_loop(listener, target, shared.clone()));
        Forwarder { addr, shared, task }
    }

    /// Ends every forwarded connection; new ones are closed as soon as accepted.
    pub fn cut(&self) {
        self.shared.up.store(false, Ordering::SeqCst);
        self.shared.generation.send_modify(|g| *g += 1);
    }

    /// Forwards new connections again.
    pub fn restore(&self) {
        self.shared.up.store(true, Ordering::SeqCst);
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
        if !shared.up.load(Ordering::SeqCst) {
            drop(client);
            continue;
        }
        let mut generation = shared.generation.subscribe();
        tokio::spawn(async move {
            let Ok(mut upstream) = TcpStream::connect(target).await else {
                return;
            };
            let mut client = client;
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
                _ = generation.changed() => {}
            }
        });
    }
}
