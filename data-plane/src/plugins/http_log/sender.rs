//! Sending a batch to the log server (Kong's `send_entries`): one request per batch over
//! the shared plugin HTTP client, TLS without certificate verification (Kong's
//! `ssl_verify = false`), basic auth from the URL's user info, the configured headers (not
//! overriding Kong's own). The connection is kept for the next batch for `keepalive`
//! milliseconds, as Kong's `httpc:set_keepalive`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request};
use http_body_util::Full;
use tokio::sync::Mutex;

use super::queue::Sender;
use crate::balancer::Dns;
use crate::plugins::http_client::{self, Connect, Target};

/// The longest response body read (Kong reads it only to report errors).
const BODY_LIMIT: usize = 64 * 1024;

pub struct HttpSender {
    pub method: Method,
    pub target: Target,
    pub content_type: String,
    pub timeout: Duration,
    /// How long an idle connection is kept for the next batch (`keepalive`, ms in Kong).
    pub keepalive: Duration,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The batch is sent as a JSON array (`max_batch_size` > 1) or as the one entry.
    pub as_array: bool,
    pub tls: Arc<rustls::ClientConfig>,
    pub dns: Arc<Dns>,
    /// The connection kept from the last batch and when it went idle.
    pub idle: Mutex<Option<(http_client::Sender, Instant)>>,
}

impl HttpSender {
    fn payload(&self, batch: Vec<String>) -> String {
        if self.as_array {
            format!("[{}]", batch.join(","))
        } else {
            batch.into_iter().next().unwrap_or_default()
        }
    }

    fn request(&self, body: String) -> Result<Request<Full<Bytes>>, String> {
        let mut req = Request::builder()
            .method(self.method.clone())
            .uri(self.target.path_and_query.as_str())
            .header(http::header::HOST, self.target.host_header())
            .header(http::header::CONTENT_TYPE, &self.content_type)
            .header(http::header::CONTENT_LENGTH, body.len());
        if let Some(userinfo) = &self.target.userinfo {
            let encoded = base64::engine::general_purpose::STANDARD.encode(userinfo.as_bytes());
            req = req.header(http::header::AUTHORIZATION, format!("Basic {encoded}"));
        }
        let mut req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        for (name, value) in &self.headers {
            if !req.headers().contains_key(name) {
                req.headers_mut().insert(name.clone(), value.clone());
            }
        }
        Ok(req)
    }

    /// The connection kept from the last batch, if it is still usable.
    async fn kept(&self) -> Option<http_client::Sender> {
        let (sender, since) = self.idle.lock().await.take()?;
        (since.elapsed() < self.keepalive && !sender.is_closed()).then_some(sender)
    }

    async fn connect(&self) -> Result<http_client::Sender, String> {
        let how = Connect {
            dns: &self.dns,
            timeout: self.timeout,
            tls: self.tls.clone(),
            proxy: None,
        };
        http_client::connect(&self.target, &how).await
    }

    async fn exchange(&self, body: String) -> Result<(), String> {
        let target = format!("{}:{}", self.target.host, self.target.port);
        let fail = |e: String| format!("failed request to {target}: {e}");
        let sent = match self.kept().await {
            // The server may have closed a kept connection meanwhile: one more try on a
            // new connection before the queue's retry policy takes over.
            Some(mut kept) => {
                match http_client::send(
                    &mut kept,
                    self.request(body.clone())?,
                    self.timeout,
                    BODY_LIMIT,
                )
                .await
                {
                    Ok(response) => Ok((kept, response)),
                    Err(_) => self.exchange_new(body).await,
                }
            }
            None => self.exchange_new(body).await,
        };
        let (sender, response) = sent.map_err(fail)?;
        let status = response.status().as_u16();
        if !self.keepalive.is_zero() {
            *self.idle.lock().await = Some((sender, Instant::now()));
        }
        if status < 300 {
            Ok(())
        } else {
            Err(format!(
                "request to {target} returned status code {status} and body {}",
                String::from_utf8_lossy(response.body())
            ))
        }
    }
}

impl HttpSender {
    async fn exchange_new(
        &self,
        body: String,
    ) -> Result<(http_client::Sender, http::Response<Bytes>), String> {
        let mut sender = self.connect().await?;
        let response =
            http_client::send(&mut sender, self.request(body)?, self.timeout, BODY_LIMIT).await?;
        Ok((sender, response))
    }
}

impl Sender for Arc<HttpSender> {
    async fn send(&self, batch: Vec<String>) -> Result<(), String> {
        let body = self.payload(batch);
        tokio::time::timeout(self.timeout, self.exchange(body))
            .await
            .map_err(|_| "timeout".to_string())?
    }
}
