//! Sending a batch to the log server (Kong's `send_entries`): one request per batch,
//! TLS without certificate verification (Kong's `ssl_verify = false`), basic auth from
//! the URL's user info, the configured headers (not overriding Kong's own).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::queue::Sender;

pub struct HttpSender {
    pub method: Method,
    pub uri: Uri,
    pub content_type: String,
    pub timeout: Duration,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The batch is sent as a JSON array (`max_batch_size` > 1) or as the one entry.
    pub as_array: bool,
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl HttpSender {
    fn payload(&self, batch: Vec<String>) -> String {
        if self.as_array {
            format!("[{}]", batch.join(","))
        } else {
            batch.into_iter().next().unwrap_or_default()
        }
    }

    async fn request(&self, body: String) -> Result<(), String> {
        let host = self.uri.host().ok_or("no host")?.to_string();
        let port = self
            .uri
            .port_u16()
            .unwrap_or(if self.tls.is_some() { 443 } else { 80 });
        let target = format!("{host}:{port}");
        let path = self.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut req = Request::builder()
            .method(self.method.clone())
            .uri(path)
            .header(http::header::HOST, &target)
            .header(http::header::CONTENT_TYPE, &self.content_type)
            .header(http::header::CONTENT_LENGTH, body.len());
        let authority = self.uri.authority().map(|a| a.as_str()).unwrap_or("");
        let userinfo = authority.rsplit_once('@').map(|(u, _)| u);
        if let Some(userinfo) = userinfo {
            let decoded = percent_encoding::percent_decode_str(userinfo).decode_utf8_lossy();
            req = req.header(
                http::header::AUTHORIZATION,
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(decoded.as_bytes())
                ),
            );
        }
        let mut req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        for (name, value) in &self.headers {
            if !req.headers().contains_key(name) {
                req.headers_mut().insert(name.clone(), value.clone());
            }
        }
        let tcp = TcpStream::connect(&target)
            .await
            .map_err(|e| format!("failed request to {target}: {e}"))?;
        let status = match &self.tls {
            Some(config) => {
                let name = crate::tls::client::server_name(&host).ok_or("invalid host name")?;
                let stream = tokio_rustls::TlsConnector::from(config.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("failed request to {target}: {e}"))?;
                exchange(stream, req).await?
            }
            None => exchange(tcp, req).await?,
        };
        if status.0 < 300 {
            Ok(())
        } else {
            Err(format!(
                "request to {target} returned status code {} and body {}",
                status.0, status.1
            ))
        }
    }
}

async fn exchange<S>(stream: S, req: Request<Full<Bytes>>) -> Result<(u16, String), String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .unwrap_or_default();
    Ok((status, body))
}

impl Sender for Arc<HttpSender> {
    async fn send(&self, batch: Vec<String>) -> Result<(), String> {
        let body = self.payload(batch);
        tokio::time::timeout(self.timeout, self.request(body))
            .await
            .map_err(|_| "timeout".to_string())?
    }
}
