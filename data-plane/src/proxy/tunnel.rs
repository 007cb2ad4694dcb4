//! Relaying an upgraded connection (WebSocket) between client and upstream.

use super::server::ClientUpgrade;
use super::upstream::h1::Upgraded;

/// Once the client's connection has been handed over (after the `101` went out to it),
/// copies bytes both ways until either side closes.
pub fn spawn(client: ClientUpgrade, mut upstream: Upgraded) {
    tokio::spawn(async move {
        let Some(mut client) = client.connection().await else {
            tracing::debug!("the client connection was not handed over");
            return;
        };
        if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
            tracing::debug!(error = %e, "upgraded connection ended with an error");
        }
    });
}
