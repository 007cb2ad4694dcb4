//! Sending the request upstream: peer selection, connection, tries and retries.
//!
//! Retry rules (nginx's `proxy_next_upstream error timeout` with Kong's `retries`):
//! a try that fails to connect, times out, or breaks before a response head arrives is
//! retried while tries remain (`retries + 1` in total) and the body can be sent again;
//! once a non-idempotent request (POST, PATCH, LOCK) may have reached the upstream it is
//! not retried. A failure on a reused keep-alive connection before anything was written
//! (the upstream closed it while idle) is retried once without counting as a try, as nginx
//! does for cached connections.

use std::error::Error as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, HeaderValue, Method, Request, Response, Uri, Version};
use rustls::ClientConfig;

use super::Shared;
use super::context::{RequestContext, Try, duration_ms};
use super::errors::ErrorKind;
use super::upstream::{
    Checkout, ClientBodyError, ConnectError, ConnectTarget, PoolKey, ProxyHeaders, ReplayableBody,
    ResponseBody, UpstreamBody, h1,
};
use crate::balancer::{BalancerRequest, HashKey, Lease, Outcome, Peer, UpstreamBalancer};
use crate::runtime::{Runtime, ServiceRuntime, ServiceTarget};
use crate::tls::client::{UpstreamTls, client_config, server_name};

/// The upstream request head, shared by every try.
pub struct UpstreamHead {
    pub method: Method,
    pub path_and_query: PathAndQuery,
    /// The client's request headers (as plugins left them, without hop-by-hop ones);
    /// `Host` is sent per try.
    pub headers: HeaderMap,
    /// The headers the proxy sets, replacing the client's namesakes.
    pub proxy_headers: ProxyHeaders,
    /// `preserve_host`: the client's Host; otherwise the Host follows the peer.
    pub preserved_host: Option<HeaderValue>,
    /// The client's request target (a shared handle, not a copy), for balancers hashing
    /// on its path.
    pub client_uri: Uri,
    pub query: Option<String>,
    /// An HTTP/1.1 response head's fields may stay as received (nothing will read
    /// them before the HTTP/1.x server writes them): see `RawFields`.
    pub relay_fields: bool,
}

/// A response head received from the upstream.
pub struct Proxied {
    /// The body holds an HTTP/1.1 connection until it is read (then pooled).
    pub response: Response<ResponseBody>,
}

/// Why no upstream response is available; rendered as a Kong error.
pub struct Failure {
    pub status: u16,
    pub kind: ErrorKind,
    pub message: Option<&'static str>,
    /// Whether the proxy had started proxying (Kong's `KONG_PROXIED`).
    pub proxied: bool,
}

impl Failure {
    fn kong(status: u16, message: &'static str) -> Failure {
        Failure {
            status,
            kind: ErrorKind::Pdk,
            message: Some(message),
            proxied: false,
        }
    }

    fn proxy(status: u16) -> Failure {
        Failure {
            status,
            kind: ErrorKind::Nginx,
            message: None,
            proxied: true,
        }
    }
}

enum Destination {
    Balancer(Arc<UpstreamBalancer>),
    /// An address, its text and the `Host` to send.
    Ip(IpAddr, Arc<str>, u16, HeaderValue),
    Name(Arc<crate::balancer::HostEntry>, u16, HeaderValue),
}

fn destination(
    shared: &Shared,
    runtime: &Runtime,
    svc: &ServiceRuntime,
    ctx: &RequestContext,
) -> Result<Destination, Failure> {
    if let Some((host, port)) = &ctx.overrides.target {
        let host_header = HeaderValue::from_str(&host_with_port(host, *port, svc))
            .map_err(|_| Failure::kong(500, "An unexpected error occurred"))?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        return Ok(match bare.parse::<IpAddr>() {
            Ok(ip) => Destination::Ip(ip, Arc::from(ip.to_string()), *port, host_header),
            Err(_) => Destination::Name(shared.runtime.env().dns().host(host), *port, host_header),
        });
    }
    if let Some(name) = &ctx.overrides.upstream {
        return match runtime.upstream(name) {
            Some(b) => Ok(Destination::Balancer(b.clone())),
            None => Err(Failure::kong(
                503,
                "failure to get a peer from the ring-balancer",
            )),
        };
    }
    let port = svc.service.port;
    Ok(match &svc.target {
        ServiceTarget::Upstream(b) => Destination::Balancer(b.clone()),
        ServiceTarget::Ip(ip, text) => {
            Destination::Ip(*ip, text.clone(), port, svc.host_header.clone())
        }
        ServiceTarget::Name(entry) => {
            Destination::Name(entry.clone(), port, svc.host_header.clone())
        }
    })
}

fn default_port(svc: &ServiceRuntime) -> u16 {
    if svc.tls.is_some() { 443 } else { 80 }
}

fn host_with_port(host: &str, port: u16, svc: &ServiceRuntime) -> String {
    if port == default_port(svc) {
        host.to_string()
    } else {
        format!("{host}:{port}")
    }
}

fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_once(']').map_or(host, |(h, _)| &h[1..]);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

fn is_idempotent(method: &Method) -> bool {
    !matches!(method.as_str(), "POST" | "PATCH" | "LOCK")
}

fn is_timeout(err: &hyper::Error) -> bool {
    let mut source = err.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return true;
        }
        source = s.source();
    }
    false
}

fn client_body_error(err: &hyper::Error) -> Option<&ClientBodyError> {
    let mut source = err.source();
    while let Some(s) = source {
        if let Some(e) = s.downcast_ref::<ClientBodyError>() {
            return Some(e);
        }
        source = s.source();
    }
    None
}

/// What a consistent-hashing upstream hashes for this request (once, before the first
/// try); a cookie it had to create is remembered for the response.
fn hash_key(dest: &Destination, ctx: &mut RequestContext, head: &UpstreamHead) -> Option<HashKey> {
    let Destination::Balancer(balancer) = dest else {
        return None;
    };
    let key = balancer.hash_key(&BalancerRequest {
        client_ip: ctx.client_ip,
        headers: &head.headers,
        path: head.client_uri.path(),
        query: head.query.as_deref(),
        captures: &ctx.captures,
        consumer_id: ctx.consumer.as_ref().map(|c| c.id),
    })?;
    ctx.hash_cookie = key.cookie.clone();
    Some(key)
}

async fn pick_peer(
    dest: &Destination,
    hash: Option<&HashKey>,
    tried: &[Peer],
    default_port: u16,
) -> Result<(Peer, HeaderValue, Option<Lease>), Failure> {
    match dest {
        Destination::Ip(ip, text, port, host) => Ok((
            Peer {
                addr: (*ip, *port).into(),
                hostname: text.clone(),
                target: None,
            },
            host.clone(),
            None,
        )),
        Destination::Name(entry, port, host) => {
            let ip = entry
                .pick()
                .await
                .map_err(|_| Failure::kong(503, "name resolution failed"))?;
            Ok((
                Peer {
                    addr: (ip, *port).into(),
                    hostname: Arc::from(entry.name()),
                    target: None,
                },
                host.clone(),
                None,
            ))
        }
        Destination::Balancer(balancer) => {
            balancer.prepare().await;
            let (peer, lease) = balancer.pick(hash, tried).ok_or_else(|| {
                Failure::kong(503, "failure to get a peer from the ring-balancer")
            })?;
            let name = balancer
                .upstream()
                .host_header
                .clone()
                .unwrap_or_else(|| peer.hostname.to_string());
            let port = peer.addr.port();
            let host = if port == default_port {
                name
            } else {
                format!("{name}:{port}")
            };
            let value = HeaderValue::from_str(&host)
                .map_err(|_| Failure::kong(500, "An unexpected error occurred"))?;
            Ok((peer, value, Some(lease)))
        }
    }
}

/// The TLS configuration of this request: the service's, unless a plugin changed it.
fn tls_config(
    svc: &ServiceRuntime,
    ctx: &RequestContext,
    shared: &Shared,
) -> Option<Arc<ClientConfig>> {
    let base = svc.tls.as_ref()?;
    if !ctx.overrides.changes_tls() {
        return Some(base.clone());
    }
    let o = &ctx.overrides;
    let settings = UpstreamTls {
        verify: o
            .tls_verify
            .unwrap_or(svc.service.tls_verify.unwrap_or(false)),
        verify_depth: o
            .tls_verify_depth
            .or(svc.service.tls_verify_depth)
            .unwrap_or(crate::tls::client::DEFAULT_VERIFY_DEPTH),
        roots: o
            .tls_verify_store
            .clone()
            .unwrap_or_else(|| shared.runtime.env().node_trust().clone()),
        client_certificate: o.tls_client_certificate.clone(),
        alpn_h2: svc.h2,
    };
    match client_config(&settings) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::error!(error = %e, "invalid TLS override; using the service's settings");
            Some(base.clone())
        }
    }
}

/// Tries the upstream until a response head arrives or tries run out.
pub async fn call(
    shared: &Arc<Shared>,
    runtime: &Runtime,
    svc: &ServiceRuntime,
    ctx: &mut RequestContext,
    // By reference: an async fn keeps its by-value arguments twice in its state (as
    // passed and as moved into its body), and moving them in copies them.
    head: &mut UpstreamHead,
    body: &mut ReplayableBody,
) -> Result<Proxied, Failure> {
    let dest = destination(shared, runtime, svc, ctx)?;
    let tls = tls_config(svc, ctx, shared);
    let max_tries = svc.service.retries.saturating_add(1);
    let idempotent = is_idempotent(&head.method);
    let mut tries_done: u32 = 0;
    let mut free_retry_used = false;
    let mut tried: Vec<Peer> = Vec::new();
    let mut sent_at: Option<Instant> = None;
    let mut last_failure = Failure::proxy(502);
    let hash = hash_key(&dest, ctx, head);

    loop {
        let (peer, mut host_value, mut lease) =
            pick_peer(&dest, hash.as_ref(), &tried, default_port(svc)).await?;
        if let Some(preserved) = &head.preserved_host {
            host_value = preserved.clone();
        }
        let sni_text: Option<Arc<str>> = tls
            .as_ref()
            .and_then(|_| host_value.to_str().ok())
            .map(|h| Arc::from(host_without_port(h)));
        let target = ConnectTarget {
            addr: peer.addr,
            tls: tls
                .as_ref()
                .map(|c| (c, sni_text.as_deref().and_then(server_name))),
            h2: svc.h2,
            connect_timeout: svc.connect_timeout,
        };
        let key = PoolKey {
            addr: peer.addr,
            tls: tls.clone().map(|c| (c, sni_text.clone())),
            h2: svc.h2,
        };
        let first_try = sent_at.is_none();
        let started = *sent_at.get_or_insert_with(Instant::now);
        if ctx.latencies.proxy.is_none() {
            ctx.latencies.proxy = Some(duration_ms(started.saturating_duration_since(ctx.started)));
        }
        if matches!(dest, Destination::Balancer(_)) {
            // Balancers step over the peers a request already tried.
            tried.push(peer.clone());
        }

        // The first try's reading serves the pool too (retries read the clock again).
        let now = if first_try { started } else { Instant::now() };
        let checkout = match shared.pool.checkout(key, &target, now).await {
            Ok(c) => c,
            Err(e) => {
                let (outcome, status) = match e {
                    ConnectError::Timeout => (Outcome::Timeout, 504),
                    _ => (Outcome::ConnectFailure, 502),
                };
                tracing::debug!(peer = %peer.addr, error = %e, "upstream connect failed");
                report(&mut lease, outcome);
                ctx.tries.push(Try { peer, outcome });
                tries_done += 1;
                last_failure = Failure::proxy(status);
                ctx.latencies.upstream = Some(duration_ms(started.elapsed()));
                if tries_done < max_tries && body.replayable() {
                    continue;
                }
                return Err(last_failure);
            }
        };
        let reused = match &checkout {
            Checkout::H1 { conn, .. } => conn.reused,
            Checkout::H2 { reused, .. } => *reused,
        };
        let Some(try_body) = body.for_try() else {
            return Err(last_failure);
        };
        let result = match checkout {
            Checkout::H1 { mut conn, key } => {
                conn.ctl.set_timeouts(svc.read_timeout, svc.write_timeout);
                let request = h1::RequestHead {
                    method: &head.method,
                    path_and_query: &head.path_and_query,
                    host: &host_value,
                    headers: &head.headers,
                    proxy_headers: &head.proxy_headers,
                };
                // A consistent-hashing cookie replaces an upstream's namesake: in a map.
                let relay = head.relay_fields && ctx.hash_cookie.is_none();
                match h1::exchange(&mut conn, request, try_body, relay).await {
                    Ok(exchanged) => {
                        let body = h1::H1Body::new(
                            conn,
                            exchanged.framing,
                            exchanged.keep_alive,
                            exchanged.head.raw,
                        );
                        let mut response = Response::new(ResponseBody::H1(body, Some(key)));
                        *response.status_mut() = exchanged.head.status;
                        *response.version_mut() = exchanged.head.version;
                        *response.headers_mut() = exchanged.head.headers;
                        Ok(response)
                    }
                    Err(e) => Err(SendError::H1(e)),
                }
            }
            Checkout::H2 { mut send, .. } => {
                // Keep the headers for another try only when one can happen.
                let another_try_possible =
                    (tries_done + 1 < max_tries || !free_retry_used) && body.replayable();
                let mut headers = if another_try_possible {
                    head.headers.clone()
                } else {
                    std::mem::take(&mut head.headers)
                };
                head.proxy_headers.apply_to(&mut headers);
                let Ok(request) = h2_request(head, headers, &host_value, tls.is_some(), try_body)
                else {
                    return Err(Failure::kong(500, "An unexpected error occurred"));
                };
                match tokio::time::timeout(svc.read_timeout, send.send_request(request)).await {
                    Ok(Ok(r)) => Ok(r.map(ResponseBody::H2)),
                    Ok(Err(e)) => Err(SendError::Hyper(e)),
                    Err(_) => Err(SendError::Timeout),
                }
            }
        };
        match result {
            Ok(response) => {
                let status = response.status().as_u16();
                report(&mut lease, Outcome::Response(status));
                ctx.upstream_lease = lease;
                ctx.tries.push(Try {
                    peer,
                    outcome: Outcome::Response(status),
                });
                ctx.latencies.upstream = Some(duration_ms(started.elapsed()));
                ctx.upstream_status = Some(status);
                return Ok(Proxied { response });
            }
            Err(err) => {
                ctx.latencies.upstream = Some(duration_ms(started.elapsed()));
                if let Some(body_err) = err.client_body_error() {
                    // The client, not the upstream, failed: nginx answers 408 / 400.
                    return Err(match body_err {
                        ClientBodyError::Timeout => Failure::proxy(408),
                        ClientBodyError::Aborted(_) => Failure::proxy(400),
                    });
                }
                let canceled = err.is_canceled();
                let timed_out = err.is_timeout();
                if reused
                    && !timed_out
                    && !free_retry_used
                    && body.replayable()
                    && (idempotent || canceled)
                {
                    // Most likely a keep-alive connection the upstream closed while idle.
                    free_retry_used = true;
                    tried.pop();
                    continue;
                }
                let (outcome, status) = if timed_out {
                    (Outcome::Timeout, 504)
                } else {
                    (Outcome::ProtocolFailure, 502)
                };
                tracing::debug!(peer = %peer.addr, error = %err, "upstream request failed");
                report(&mut lease, outcome);
                ctx.tries.push(Try { peer, outcome });
                tries_done += 1;
                last_failure = Failure::proxy(status);
                if tries_done < max_tries && body.replayable() && (idempotent || canceled) {
                    continue;
                }
                return Err(last_failure);
            }
        }
    }
}

enum SendError {
    H1(h1::Error),
    Hyper(hyper::Error),
    /// HTTP/2: no response head within `read_timeout`.
    Timeout,
}

impl SendError {
    fn is_timeout(&self) -> bool {
        match self {
            SendError::H1(e) => e.is_timeout(),
            SendError::Hyper(e) => is_timeout(e),
            SendError::Timeout => true,
        }
    }

    /// The request cannot have reached the upstream (safe to retry whatever the method).
    fn is_canceled(&self) -> bool {
        match self {
            SendError::H1(e) => matches!(e, h1::Error::NotSent(_)),
            SendError::Hyper(e) => e.is_canceled(),
            SendError::Timeout => false,
        }
    }

    fn client_body_error(&self) -> Option<&ClientBodyError> {
        match self {
            SendError::H1(h1::Error::ClientBody(e)) => Some(e),
            SendError::Hyper(e) => client_body_error(e),
            _ => None,
        }
    }
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::H1(e) => e.fmt(f),
            SendError::Hyper(e) => e.fmt(f),
            SendError::Timeout => f.write_str("no response within read_timeout"),
        }
    }
}

/// Passive health checks: how a try against a balanced peer ended.
fn report(lease: &mut Option<Lease>, outcome: Outcome) {
    if let Some(lease) = lease {
        lease.report(outcome);
    }
}

/// An HTTP/2 request: the host travels as `:authority`.
fn h2_request(
    head: &UpstreamHead,
    headers: HeaderMap,
    host: &HeaderValue,
    tls: bool,
    body: UpstreamBody,
) -> Result<Request<UpstreamBody>, ()> {
    let authority = Authority::try_from(host.as_bytes()).map_err(|_| ())?;
    let uri = Uri::builder()
        .scheme(if tls { Scheme::HTTPS } else { Scheme::HTTP })
        .authority(authority)
        .path_and_query(head.path_and_query.clone())
        .build()
        .map_err(|_| ())?;
    let mut request = Request::new(body);
    *request.method_mut() = head.method.clone();
    *request.uri_mut() = uri;
    *request.version_mut() = Version::HTTP_2;
    *request.headers_mut() = headers;
    Ok(request)
}
