//! Opening upstream connections: TCP, optional TLS, then for HTTP/2 hyper's client
//! handshake whose connection task runs on its own (HTTP/1.1 connections are driven by
//! the requests using them, `h1`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::h1::H1Conn;
use super::timed_io::{IoControl, TimedIo};
use super::{ConnectError, UpstreamBody};

/// Where and how to connect.
pub struct ConnectTarget<'a> {
    pub addr: SocketAddr,
    /// TLS configuration and the server name to verify / send as SNI (None: the IP).
    pub tls: Option<(&'a Arc<ClientConfig>, Option<ServerName<'static>>)>,
    pub h2: bool,
    pub connect_timeout: Duration,
}

/// TCP (and TLS) to the upstream, wrapped with the read/write timeouts.
async fn connect_io(
    target: &ConnectTarget<'_>,
) -> Result<(TimedIo<UpstreamStream>, Arc<IoControl>), ConnectError> {
    let tcp =
        match tokio::time::timeout(target.connect_timeout, TcpStream::connect(target.addr)).await {
            Err(_) => return Err(ConnectError::Timeout),
            Ok(Err(e)) => return Err(ConnectError::Io(e)),
            Ok(Ok(s)) => s,
        };
    let _ = tcp.set_nodelay(true);
    let stream = match &target.tls {
        None => UpstreamStream::Plain(tcp),
        Some((config, name)) => {
            let name = name
                .clone()
                .unwrap_or_else(|| ServerName::IpAddress(target.addr.ip().into()));
            let connector = tokio_rustls::TlsConnector::from((*config).clone());
            // nginx bounds the TLS handshake by the connect timeout too.
            match tokio::time::timeout(target.connect_timeout, connector.connect(name, tcp)).await {
                Err(_) => return Err(ConnectError::Timeout),
                Ok(Err(e)) => return Err(ConnectError::Tls(e)),
                Ok(Ok(s)) => UpstreamStream::Tls(Box::new(s)),
            }
        }
    };
    let ctl = Arc::new(IoControl::default());
    Ok((TimedIo::new(stream, ctl.clone()), ctl))
}

pub(super) async fn connect_h1(target: &ConnectTarget<'_>) -> Result<Box<H1Conn>, ConnectError> {
    let (io, ctl) = connect_io(target).await?;
    Ok(Box::new(H1Conn::new(io, ctl)))
}

pub(super) async fn connect_h2(
    target: &ConnectTarget<'_>,
) -> Result<http2::SendRequest<UpstreamBody>, ConnectError> {
    let (io, _ctl) = connect_io(target).await?;
    let (send, conn) = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .handshake::<_, UpstreamBody>(TokioIo::new(io))
        .await
        .map_err(ConnectError::Handshake)?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "upstream h2 connection ended");
        }
    });
    Ok(send)
}

/// A plain or TLS upstream socket.
pub(super) enum UpstreamStream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for UpstreamStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for UpstreamStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            UpstreamStream::Plain(s) => s.is_write_vectored(),
            UpstreamStream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_flush(cx),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
