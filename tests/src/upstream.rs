//! In-process upstream servers for proxy tests.
//!
//! [`Upstream::echo`] answers like Kong's `mock_upstream`: the request as JSON (method,
//! request URI, headers, body size), plus a few behaviours selected by path:
//! `/status/<code>` answers with that status, `/delay/<ms>` waits before answering.
//! [`Upstream::start`] takes any handler. Servers run until dropped and count the
//! connections and requests they received.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub type UpstreamBody = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// A boxed body from bytes.
pub fn full(bytes: impl Into<Bytes>) -> UpstreamBody {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// What the handler sees besides the request.
#[derive(Clone, Debug)]
pub struct Conn {
    pub peer: SocketAddr,
    pub tls_sni: Option<String>,
}

#[derive(Default)]
struct Counters {
    connections: AtomicUsize,
    requests: AtomicUsize,
}

/// A running upstream. Stops when dropped.
pub struct Upstream {
    pub addr: SocketAddr,
    counters: Arc<Counters>,
    task: JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Upstream {
    /// Kong's `mock_upstream` equivalent over HTTP/1.1 and h2c.
    pub async fn echo() -> Upstream {
        Upstream::start(echo_handler).await
    }

    /// Serves `handler` on 127.0.0.1 (HTTP/1.1 and h2c).
    pub async fn start<F, Fut>(handler: F) -> Upstream
    where
        F: Fn(Request<Incoming>, Conn) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<UpstreamBody>> + Send + 'static,
    {
        Upstream::serve(handler, None).await
    }

    /// Serves `handler` over TLS with `config` (HTTP/1.1 and h2 by ALPN).
    pub async fn start_tls<F, Fut>(handler: F, config: Arc<rustls::ServerConfig>) -> Upstream
    where
        F: Fn(Request<Incoming>, Conn) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<UpstreamBody>> + Send + 'static,
    {
        Upstream::serve(handler, Some(config)).await
    }

    async fn serve<F, Fut>(handler: F, tls: Option<Arc<rustls::ServerConfig>>) -> Upstream
    where
        F: Fn(Request<Incoming>, Conn) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<UpstreamBody>> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let addr = listener.local_addr().expect("upstream addr");
        let counters = Arc::new(Counters::default());
        let handler = Arc::new(handler);
        let task_counters = counters.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    continue;
                };
                task_counters.connections.fetch_add(1, Ordering::SeqCst);
                let handler = handler.clone();
                let counters = task_counters.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let make_service = |sni: Option<String>| {
                        let conn = Conn { peer, tls_sni: sni };
                        service_fn(move |req| {
                            counters.requests.fetch_add(1, Ordering::SeqCst);
                            let fut = handler(req, conn.clone());
                            async move { Ok::<_, Infallible>(fut.await) }
                        })
                    };
                    let builder = auto::Builder::new(TokioExecutor::new());
                    match tls {
                        None => {
                            let _ = builder
                                .serve_connection_with_upgrades(
                                    TokioIo::new(stream),
                                    make_service(None),
                                )
                                .await;
                        }
                        Some(config) => {
                            let acceptor = tokio_rustls::TlsAcceptor::from(config);
                            let Ok(stream) = acceptor.accept(stream).await else {
                                return;
                            };
                            let sni = stream.get_ref().1.server_name().map(str::to_string);
                            let _ = builder
                                .serve_connection_with_upgrades(
                                    TokioIo::new(stream),
                                    make_service(sni),
                                )
                                .await;
                        }
                    }
                });
            }
        });
        Upstream {
            addr,
            counters,
            task,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.counters.connections.load(Ordering::SeqCst)
    }

    /// Requests served so far.
    pub fn requests(&self) -> usize {
        self.counters.requests.load(Ordering::SeqCst)
    }
}

/// The request as JSON, like Kong's mock_upstream.
pub async fn echo_handler(req: Request<Incoming>, conn: Conn) -> Response<UpstreamBody> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    if let Some(ms) = path
        .strip_prefix("/delay/")
        .and_then(|s| s.parse::<u64>().ok())
    {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let status = path
        .strip_prefix("/status/")
        .and_then(|s| s.parse::<u16>().ok())
        .and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(StatusCode::OK);
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut headers = Map::new();
    for name in parts.headers.keys() {
        let values: Vec<Value> = parts
            .headers
            .get_all(name)
            .iter()
            .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let value = if values.len() == 1 {
            values.into_iter().next().unwrap_or(Value::Null)
        } else {
            Value::Array(values)
        };
        headers.insert(name.as_str().to_string(), value);
    }
    let request_uri = parts
        .uri
        .path_and_query()
        .map_or_else(|| path.clone(), |pq| pq.as_str().to_string());
    let json = json!({
        "method": parts.method.as_str(),
        "request_uri": request_uri,
        "path": path,
        "query": parts.uri.query(),
        "http_version": format!("{:?}", parts.version),
        "headers": headers,
        "body_size": body.len(),
        "body": String::from_utf8_lossy(&body),
        "remote_addr": conn.peer.to_string(),
        "tls_sni": conn.tls_sni,
    });
    let mut resp = Response::new(full(json.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

/// A body of `total` bytes produced in `chunk`-sized frames without buffering them all
/// (sent chunked, since its length is not announced).
pub struct Chunks {
    left: usize,
    chunk: usize,
}

impl Chunks {
    pub fn new(total: usize, chunk: usize) -> Chunks {
        Chunks { left: total, chunk }
    }
}

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return std::task::Poll::Ready(None);
        }
        let n = self.chunk.min(self.left);
        self.left -= n;
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from(vec![b'y'; n])))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }
}

/// A request or response body fed from a channel: each message is one data frame.
pub struct ChannelBody {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
}

impl ChannelBody {
    pub fn new() -> (tokio::sync::mpsc::Sender<Bytes>, ChannelBody) {
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        (tx, ChannelBody { rx })
    }
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        self.rx
            .poll_recv(cx)
            .map(|m| m.map(|b| Ok(http_body::Frame::data(b))))
    }
}

/// A gRPC-style echo: every request data frame is sent back as it arrives, then trailers
/// `grpc-status: 0` (and the request's `:authority` in `x-authority`).
pub async fn grpc_echo_handler(req: Request<Incoming>, _conn: Conn) -> Response<UpstreamBody> {
    let authority = req
        .uri()
        .authority()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let te = req
        .headers()
        .get("te")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = EchoWithTrailers {
        incoming: req.into_body(),
        done: false,
    };
    let mut resp = Response::new(body.boxed());
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    if let Ok(v) = http::HeaderValue::from_str(&authority) {
        resp.headers_mut().insert("x-authority", v);
    }
    if let Ok(v) = http::HeaderValue::from_str(&te) {
        resp.headers_mut().insert("x-request-te", v);
    }
    resp
}

struct EchoWithTrailers {
    incoming: Incoming,
    done: bool,
}

impl http_body::Body for EchoWithTrailers {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        use std::task::Poll;
        if self.done {
            return Poll::Ready(None);
        }
        match std::pin::Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => Poll::Ready(Some(Ok(http_body::Frame::data(data)))),
                // Request trailers: ignore, keep reading.
                Err(_) => {
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            },
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Box::new(e)))),
            Poll::Ready(None) => {
                self.done = true;
                let mut trailers = http::HeaderMap::new();
                trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
                trailers.insert("grpc-message", http::HeaderValue::from_static("OK"));
                Poll::Ready(Some(Ok(http_body::Frame::trailers(trailers))))
            }
        }
    }
}
