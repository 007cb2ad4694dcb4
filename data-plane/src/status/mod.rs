//! The status API (`--status-listen`): `/status`, `/status/ready`, `/metrics`.
//!
//! - `GET /status`: Kong's shape for a data plane: `server` connection counters and the
//!   `configuration_hash` being served.
//! - `GET /status/ready`: 200 `{"message":"ready"}` once a configuration is published
//!   (even an empty one), 503 before, and 503 `draining` during shutdown or after
//!   `POST /status/ready` with `status=draining` (Kong's drain endpoint).
//! - `GET /metrics`: Prometheus text format, Kong's metric names.
//! - `/proxy-cache...`: Kong's proxy-cache Admin API over this node's caches
//!   ([`proxy_cache`]), with `--proxy-cache-api` only (it shows cached bodies).

pub mod cluster;
pub mod metrics;
pub mod proxy_cache;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, SERVER};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::proxy::headers::SERVER_VALUE;
use crate::proxy::listener::Drain;
use crate::runtime::RuntimeHandle;
use metrics::Metrics;

/// What the status API reports on.
pub struct StatusState {
    pub runtime: RuntimeHandle,
    pub metrics: Arc<Metrics>,
    /// Set during shutdown or by `POST /status/ready status=draining`.
    pub draining: AtomicBool,
    /// Hybrid mode: the sync client's state (a `cluster` block in `/status`, gauges in
    /// `/metrics`).
    pub sync: Option<Arc<crate::sync::SyncState>>,
    /// Whether `/proxy-cache...` is served (`--proxy-cache-api`).
    pub proxy_cache_api: bool,
}

fn json(status: StatusCode, value: serde_json::Value) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(value.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

async fn handle(
    req: Request<Incoming>,
    state: Arc<StatusState>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().trim_end_matches('/');
    if state.proxy_cache_api
        && let Some(mut resp) = proxy_cache::handle(req.method(), path, &state)
    {
        resp.headers_mut().insert(SERVER, SERVER_VALUE);
        return Ok(resp);
    }
    let mut resp = match (req.method(), path) {
        (&Method::GET, "/status") => status(&state),
        (&Method::GET, "/status/ready") => ready(&state),
        (&Method::POST, "/status/ready") => {
            let body = req.into_body().collect().await.map(|b| b.to_bytes());
            match body {
                Ok(b) if is_draining_request(&b) => {
                    state.draining.store(true, Ordering::Release);
                    let mut r = Response::new(Full::new(Bytes::new()));
                    *r.status_mut() = StatusCode::NO_CONTENT;
                    r
                }
                _ => json(
                    StatusCode::BAD_REQUEST,
                    serde_json::json!({"message": "Bad request"}),
                ),
            }
        }
        (&Method::GET, "/metrics") => {
            let mut text = state.metrics.render(&state.runtime.load());
            if let Some(sync) = &state.sync {
                cluster::append_metrics(&mut text, sync);
            }
            let mut r = Response::new(Full::new(Bytes::from(text)));
            r.headers_mut().insert(
                CONTENT_TYPE,
                // prometheus-client writes the OpenMetrics text format.
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            r
        }
        (_, "/status" | "/status/ready" | "/metrics") => json(
            StatusCode::METHOD_NOT_ALLOWED,
            serde_json::json!({"message": "Method not allowed"}),
        ),
        _ => json(
            StatusCode::NOT_FOUND,
            serde_json::json!({"message": "Not found"}),
        ),
    };
    resp.headers_mut().insert(SERVER, SERVER_VALUE);
    Ok(resp)
}

/// `status=draining` as form, JSON or query-like body.
fn is_draining_request(body: &[u8]) -> bool {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        return v.get("status").and_then(|s| s.as_str()) == Some("draining");
    }
    std::str::from_utf8(body).is_ok_and(|s| s.split('&').any(|kv| kv.trim() == "status=draining"))
}

fn status(state: &StatusState) -> Response<Full<Bytes>> {
    let snap = state.metrics.connections.snapshot();
    let runtime = state.runtime.load();
    let mut body = serde_json::json!({
            "server": {
                "connections_active": snap.active,
                "connections_reading": snap.reading,
                "connections_writing": snap.writing,
                "connections_waiting": snap.waiting,
                "connections_accepted": snap.accepted,
                "connections_handled": snap.handled,
                "total_requests": snap.total_requests,
            },
            "configuration_hash": runtime.config_hash(),
    });
    if let (Some(sync), Some(object)) = (&state.sync, body.as_object_mut()) {
        object.insert("cluster".into(), cluster::status_block(sync));
    }
    json(StatusCode::OK, body)
}

fn ready(state: &StatusState) -> Response<Full<Bytes>> {
    if state.draining.load(Ordering::Acquire) {
        return json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"message": "draining"}),
        );
    }
    if !state.runtime.is_ready() {
        return json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"message": "no configuration available (configuration hash is not initialized)"}),
        );
    }
    json(StatusCode::OK, serde_json::json!({"message": "ready"}))
}

/// Serves the status API until the drain signal.
pub async fn serve(listener: TcpListener, state: Arc<StatusState>, mut drain: Drain) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(std::time::Duration::from_secs(30));
    loop {
        let accepted = tokio::select! {
            _ = drain.stopping() => break,
            a = listener.accept() => a,
        };
        let Ok((stream, _peer)) = accepted else {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let state = state.clone();
        let service = service_fn(move |req| handle(req, state.clone()));
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let mut conn_drain = drain.clone();
        tokio::spawn(async move {
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = conn_drain.stopping() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.as_mut().await;
                }
            }
        });
    }
}
