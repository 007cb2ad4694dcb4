//! Relaying an upgraded connection (WebSocket) between client and upstream.

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use super::upstream::h1::Upgraded;

/// Once the client has switched protocols too, copies bytes both ways until either
/// closes.
pub fn spawn(client: OnUpgrade, mut upstream: Upgraded) {
    tokio::spawn(async move {
        let client = match client.await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "upgrade failed");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
            tracing::debug!(error = %e, "upgraded connection ended with an error");
        }
    });
}
