//! The cluster listener (`--cluster-listen`): TLS with the cluster's rustls configuration in
//! front of the tonic sync service.
//!
//! tonic's own TLS settings cannot express shared mode ("accept exactly this certificate"),
//! so connections are accepted and handshaken here and handed to tonic as ready TLS streams.
//! A refused handshake is logged with its reason and the peer address.

use std::sync::Arc;
use std::time::Duration;

use common::cluster_tls::explain_error;
use common::convert::grpc::{DEFAULT_MAX_MESSAGE_SIZE, sync_server};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;

use super::server::SyncServer;

/// A client that has not finished the TLS handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the sync protocol on `listener` until `shutdown` resolves (and the sessions end:
/// drop the snapshot source's sender to end them).
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    server: Arc<SyncServer>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let incoming = tls_incoming(listener, TlsAcceptor::from(tls));
    tonic::transport::Server::builder()
        .add_service(sync_server(server, DEFAULT_MAX_MESSAGE_SIZE))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

/// Accepts TCP connections and completes their TLS handshakes concurrently (a slow or
/// hostile client never holds up the others), yielding the streams that pass.
fn tls_incoming(
    listener: TcpListener,
    acceptor: TlsAcceptor,
) -> ReceiverStream<Result<TlsStream<TcpStream>, std::io::Error>> {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = tx.closed() => return,
            };
            let (tcp, peer) = match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Typically out of file descriptors: back off briefly instead of spinning.
                    tracing::warn!("cluster listener cannot accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            // Without it, the last segment of a snapshot waits for the data plane's delayed
            // ACK (Nagle's algorithm): ~40 ms added to every configuration change.
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(peer = %peer, "cannot set TCP_NODELAY: {e}");
            }
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let _ = tx.send(Ok(stream)).await;
                    }
                    Ok(Err(e)) => tracing::warn!(
                        peer = %peer,
                        "refused a data plane connection: {}",
                        explain_error(&e)
                    ),
                    Err(_) => tracing::warn!(
                        peer = %peer,
                        "refused a data plane connection: TLS handshake not completed within {HANDSHAKE_TIMEOUT:?}"
                    ),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}
