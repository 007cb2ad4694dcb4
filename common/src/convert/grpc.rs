//! The `ConfigSync` gRPC service and call, in domain messages.
//!
//! The control plane implements [`SyncHandler`] and serves [`sync_server`]; the data plane
//! calls [`open_sync`]. Both see streams of [`DpMessage`]/[`CpMessage`]; a malformed message
//! from the peer surfaces as [`StreamError::Malformed`], which ends the session.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::{Stream, StreamExt};
use rustls_pki_types::CertificateDer;
use tonic::{Request, Response, Status, Streaming};

use super::{ConvertError, CpMessage, DpMessage};
use crate::proto;
use crate::proto::config_sync_client::ConfigSyncClient;
use crate::proto::config_sync_server::{ConfigSync, ConfigSyncServer};

/// Default ceiling for one gRPC message (a snapshot): tonic's own default, 4 MiB, is too small
/// for large configurations. Compressed snapshots of 100k entities stay well below this.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 256 << 20;

/// A failure reading the peer's stream.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error(transparent)]
    Malformed(#[from] ConvertError),
    #[error("stream failed: {}", .0.message())]
    Transport(Status),
}

/// Messages from a data plane, as the control plane sees them.
pub type DpStream = Pin<Box<dyn Stream<Item = Result<DpMessage, StreamError>> + Send>>;
/// Messages from a control plane, as the data plane sees them.
pub type CpStream = Pin<Box<dyn Stream<Item = Result<CpMessage, StreamError>> + Send>>;
/// What the control plane sends; ending the stream ends the session.
pub type CpOutbound = Pin<Box<dyn Stream<Item = CpMessage> + Send>>;

/// What the connection tells about the data plane.
#[derive(Debug, Clone, Default)]
pub struct PeerInfo {
    pub remote_addr: Option<SocketAddr>,
    /// The client certificate chain presented in the TLS handshake (end entity first).
    pub certificates: Vec<CertificateDer<'static>>,
}

/// The control plane's side of a session.
#[tonic::async_trait]
pub trait SyncHandler: Send + Sync + 'static {
    /// Called once per stream. Returning an error ends the call with that status before any
    /// message is sent.
    async fn session(&self, peer: PeerInfo, inbound: DpStream) -> Result<CpOutbound, Status>;
}

/// The tonic service for `handler`, ready for `Server::add_service`.
pub fn sync_server<H: SyncHandler>(
    handler: Arc<H>,
    max_message_size: usize,
) -> ConfigSyncServer<SyncService<H>> {
    ConfigSyncServer::new(SyncService { handler })
        .max_decoding_message_size(max_message_size)
        .max_encoding_message_size(max_message_size)
}

/// Adapts a [`SyncHandler`] to the generated service trait.
pub struct SyncService<H> {
    handler: Arc<H>,
}

type ProtoOutbound = Pin<Box<dyn Stream<Item = Result<proto::ControlPlaneMessage, Status>> + Send>>;

#[tonic::async_trait]
impl<H: SyncHandler> ConfigSync for SyncService<H> {
    type SyncStream = ProtoOutbound;

    async fn sync(
        &self,
        request: Request<Streaming<proto::DataPlaneMessage>>,
    ) -> Result<Response<Self::SyncStream>, Status> {
        let peer = PeerInfo {
            remote_addr: request.remote_addr(),
            certificates: request
                .peer_certs()
                .map(|certs| certs.iter().cloned().collect())
                .unwrap_or_default(),
        };
        let inbound = request.into_inner().map(|item| match item {
            Ok(message) => DpMessage::try_from(message).map_err(StreamError::Malformed),
            Err(status) => Err(StreamError::Transport(status)),
        });
        let outbound = self.handler.session(peer, Box::pin(inbound)).await?;
        let outbound: ProtoOutbound = Box::pin(outbound.map(|m| Ok(m.into())));
        Ok(Response::new(outbound))
    }
}

/// Opens the sync stream on `channel`, sending `outbound` and returning what the control
/// plane sends back.
pub async fn open_sync(
    channel: tonic::transport::Channel,
    outbound: impl Stream<Item = DpMessage> + Send + 'static,
    max_message_size: usize,
) -> Result<CpStream, Status> {
    let mut client = ConfigSyncClient::new(channel)
        .max_decoding_message_size(max_message_size)
        .max_encoding_message_size(max_message_size);
    let response = client
        .sync(outbound.map(proto::DataPlaneMessage::from))
        .await?;
    let inbound = response.into_inner().map(|item| match item {
        Ok(message) => CpMessage::try_from(message).map_err(StreamError::Malformed),
        Err(status) => Err(StreamError::Transport(status)),
    });
    Ok(Box::pin(inbound))
}
