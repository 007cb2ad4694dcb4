//! Dialing a control plane: TCP, then the cluster TLS handshake, as a tonic connector.
//!
//! tonic's own TLS cannot pin the shared certificate, so the channel is given a connector
//! that returns ready TLS streams; the channel's URI is plain `http://` for that reason.

use std::sync::Arc;
use std::time::Duration;

use common::cluster_tls::{MtlsMode, explain_error, server_name};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tonic::transport::{Channel, Endpoint};

/// Why a control plane could not be reached; the text is what the log shows.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConnectError(pub String);

/// `host:port`, `[v6]:port`: the host part (brackets removed for IPv6).
pub fn host_of(address: &str) -> Result<&str, ConnectError> {
    let (host, port) = address.rsplit_once(':').ok_or_else(|| {
        ConnectError(format!(
            "invalid control plane address {address:?}: expected host:port"
        ))
    })?;
    if port.parse::<u16>().is_err() || host.is_empty() {
        return Err(ConnectError(format!(
            "invalid control plane address {address:?}: expected host:port"
        )));
    }
    Ok(host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host))
}

/// Opens a channel to the control plane at `address` over cluster mTLS.
pub async fn connect(
    address: &str,
    mode: MtlsMode,
    tls: Arc<rustls::ClientConfig>,
    configured_server_name: Option<&str>,
    timeout: Duration,
) -> Result<Channel, ConnectError> {
    let host = host_of(address)?;
    let name = server_name(mode, host, configured_server_name).map_err(ConnectError)?;
    let endpoint = Endpoint::from_shared(format!("http://{address}"))
        .map_err(|e| ConnectError(format!("invalid control plane address {address:?}: {e}")))?
        .connect_timeout(timeout)
        // Keep-alives detect a dead control plane between heartbeats.
        .http2_keep_alive_interval(Duration::from_secs(20))
        .keep_alive_timeout(Duration::from_secs(20));
    let address = address.to_owned();
    let connector = tower::service_fn(move |_uri: http::Uri| {
        let address = address.clone();
        let name = name.clone();
        let tls = tls.clone();
        async move { dial(&address, name, tls, timeout).await.map(TokioIo::new) }
    });
    endpoint
        .connect_with_connector(connector)
        .await
        .map_err(|e| ConnectError(explain_error(&e)))
}

async fn dial(
    address: &str,
    name: ServerName<'static>,
    tls: Arc<rustls::ClientConfig>,
    timeout: Duration,
) -> std::io::Result<TlsStream<TcpStream>> {
    let connect = async {
        let tcp = TcpStream::connect(address).await?;
        tcp.set_nodelay(true)?;
        TlsConnector::from(tls).connect(name, tcp).await
    };
    tokio::time::timeout(timeout, connect)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connection timed out"))?
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn addresses_are_split_into_hosts() {
        assert_eq!(host_of("cp.example.com:8005").unwrap(), "cp.example.com");
        assert_eq!(host_of("127.0.0.1:8005").unwrap(), "127.0.0.1");
        assert_eq!(host_of("[::1]:8005").unwrap(), "::1");
        assert!(host_of("cp.example.com").is_err());
        assert!(host_of(":8005").is_err());
        assert!(host_of("cp:notaport").is_err());
    }
}
