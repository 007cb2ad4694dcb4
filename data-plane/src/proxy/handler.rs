//! The request path, phase by phase (see ARCHITECTURE.md, "Data plane: request lifecycle").

use std::convert::Infallible;
use std::sync::Arc;

use common::model::Protocol;
use http::header::{ACCEPT, CONTENT_TYPE, HOST, LOCATION};
use http::{HeaderMap, HeaderValue, Response, StatusCode, Version};
use http_body::Body as _;

use super::Shared;
use super::context::{ConnInfo, RequestContext, ResponseSource};
use super::errors::{self, ErrorKind};
use super::forwarded::real_client_ip;
use super::headers::{self as h, KONG_DEBUG};
use super::request_parts::{
    ValuePrefix, forwarded_host, oversized, request_host, upstream_path_and_query,
};
use super::response_body::{Completion, ProxyBody};
use super::server::{ClientUpgrade, DownstreamBody};
use super::upstream::{
    ClientBody, ClientBodyError, ForwardedPath, ProxyHeaders, ReplayableBody, ResponseBody,
};
use super::upstream_call::{self, UpstreamHead};
use crate::plugins::pdk::response::ResponseHead;
use crate::plugins::pdk::{RequestBody, RequestHead};
use crate::plugins::{Exit, Flow};
use crate::router::RequestView;
use crate::runtime::Runtime;

/// Headers the proxy adds to a proxied response (three latency/status headers, `Via`,
/// `Server`, `X-Kong-Request-Id`); those it sets upstream are `ProxyHeaders`.
const RESPONSE_HEADERS_ADDED: usize = 6;

/// What later phases need to know about the request after its headers moved upstream.
struct RequestFacts {
    version: Version,
    accept: Option<HeaderValue>,
    content_type: Option<HeaderValue>,
    te_trailers: bool,
    debug: bool,
    upgrade: Option<ClientUpgrade>,
}

impl RequestFacts {
    /// Whether the response head goes from the request path to the HTTP/1.x server
    /// unread: no plugin sees it, no debug headers are added, and the server (not
    /// hyper's HTTP/2) writes it. Kong's headers are then left to the server to write,
    /// and an upstream's fields relayed as received.
    fn head_unread(&self, runtime: &Runtime) -> bool {
        runtime.plugins().is_empty()
            && !self.debug
            && matches!(self.version, Version::HTTP_10 | Version::HTTP_11)
    }

    /// A header map holding just what error negotiation looks at.
    fn negotiation_headers(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        if let Some(v) = &self.accept {
            map.insert(ACCEPT, v.clone());
        }
        if let Some(v) = &self.content_type {
            map.insert(CONTENT_TYPE, v.clone());
        }
        map
    }
}

/// Serves one request. Never fails: every problem becomes a Kong-style response. The
/// request comes taken apart: as one `Request`, its future would hold it twice (as
/// passed, and as taken apart).
pub async fn handle(
    mut parts: http::request::Parts,
    body: DownstreamBody,
    conn: Arc<ConnInfo>,
    shared: Arc<Shared>,
) -> Result<Response<ProxyBody>, Infallible> {
    // One runtime for the whole request, however long it takes.
    let runtime = shared.runtime.load();
    shared.request_started();
    let ctx = RequestContext::new(conn, parts.version, parts.method.clone());
    // Owns the context from now on: if this future is dropped (client gone), its drop
    // still runs the log phase and the metrics. Boxed now, as the response body keeps it:
    // the context is large, and moving it into the body would copy it.
    let mut completion = Box::new(Completion::new(ctx, runtime.clone(), shared.clone()));
    let upgrade = if h::is_websocket_upgrade(&parts.headers) {
        parts.extensions.remove::<ClientUpgrade>()
    } else {
        None
    };
    let mut facts = RequestFacts {
        version: parts.version,
        accept: h::get(&parts.headers, &ACCEPT).cloned(),
        content_type: h::get(&parts.headers, &CONTENT_TYPE).cloned(),
        te_trailers: h::te_has_trailers(&parts.headers),
        debug: shared.settings.allow_debug_header
            && h::get(&parts.headers, &KONG_DEBUG).is_some_and(|v| v == "1"),
        upgrade,
    };
    let ctx = &mut completion.ctx;
    let mut response = process(&shared, &runtime, ctx, &mut parts, body, &mut facts).await;
    let keep_heads = !runtime.plugins().is_empty() && runtime.plugins().keeps_heads(ctx);
    if keep_heads && ctx.request_head.is_none() {
        ctx.request_head = Some(Box::new(RequestHead::of(&parts)));
    }
    finish_headers(&shared, &runtime, ctx, &facts, &mut response);
    ctx.status = response.status().as_u16();
    if keep_heads {
        ctx.response_head = Some(Box::new(ResponseHead {
            status: response.status(),
            headers: response.headers().clone(),
        }));
    }
    // (Relayed upstream fields never meet plugins, so only the map can say.)
    let has_content_length = response
        .headers()
        .contains_key(http::header::CONTENT_LENGTH);
    response
        .body_mut()
        .set_completion(completion, has_content_length);
    Ok(response)
}

fn error_response(
    shared: &Shared,
    ctx: &mut RequestContext,
    facts: &RequestFacts,
    kind: ErrorKind,
    status: u16,
    message: Option<&str>,
) -> Response<ProxyBody> {
    let headers = facts.negotiation_headers();
    let rendered = errors::render(
        kind,
        status,
        message,
        ctx.id.as_str(),
        facts.version,
        &headers,
        shared.settings.error_default_type,
    );
    let mut resp = Response::new(ProxyBody::full(rendered.body));
    *resp.status_mut() = rendered.status;
    *resp.headers_mut() = rendered.headers;
    resp
}

/// A response generated before proxying (`ResponseSource::Kong`).
fn kong_error(
    shared: &Shared,
    ctx: &mut RequestContext,
    facts: &RequestFacts,
    kind: ErrorKind,
    status: u16,
    message: Option<&str>,
) -> Response<ProxyBody> {
    ctx.source = ResponseSource::Kong;
    ctx.latencies.response = Some(ctx.elapsed_ms());
    error_response(shared, ctx, facts, kind, status, message)
}

fn plugin_exit(
    shared: &Shared,
    ctx: &mut RequestContext,
    facts: &RequestFacts,
    exit: Exit,
) -> Response<ProxyBody> {
    ctx.source = ResponseSource::Exit;
    ctx.latencies.response = Some(ctx.elapsed_ms());
    match exit {
        Exit::Response {
            status,
            headers,
            body,
        } => {
            let length = body.len();
            let mut resp = Response::new(ProxyBody::full(body));
            *resp.status_mut() = status;
            *resp.headers_mut() = headers;
            // As nginx sends it (not for statuses without a body); a plugin changing the
            // body in body_filter clears it.
            if !(status.is_informational()
                || status == StatusCode::NO_CONTENT
                || status == StatusCode::NOT_MODIFIED)
            {
                h::set_content_length(resp.headers_mut(), length);
            }
            resp
        }
        Exit::Error {
            status,
            message,
            headers,
        } => {
            let mut resp = error_response(
                shared,
                ctx,
                facts,
                ErrorKind::Pdk,
                status.as_u16(),
                message.as_deref(),
            );
            for (name, value) in &headers {
                resp.headers_mut().insert(name, value.clone());
            }
            resp
        }
    }
}

async fn process(
    shared: &Arc<Shared>,
    runtime: &Arc<Runtime>,
    ctx: &mut RequestContext,
    parts: &mut http::request::Parts,
    body: DownstreamBody,
    facts: &mut RequestFacts,
) -> Response<ProxyBody> {
    let settings = &shared.settings;
    let plugins = runtime.plugins();
    let mut body = if body.is_end_stream() {
        RequestBody::Empty
    } else {
        RequestBody::Stream(ClientBody::new(body, settings.client_body_timeout))
    };

    // Malformed or oversized requests, as nginx rejects them.
    if parts.version == Version::HTTP_11 && h::get(&parts.headers, &HOST).is_none() {
        return kong_error(shared, ctx, facts, ErrorKind::Nginx, 400, None);
    }
    if let Some(status) = oversized(parts) {
        return kong_error(shared, ctx, facts, ErrorKind::Nginx, status, None);
    }

    let peer_ip = super::settings::canonical_ip(ctx.conn.peer.ip());
    ctx.trusted = settings.trusted_ips.contains(peer_ip);
    ctx.client_ip = real_client_ip(peer_ip, &parts.headers, settings);

    // rewrite
    if !plugins.is_empty()
        && let Flow::Exit(exit) = plugins.rewrite(ctx, runtime, parts, &mut body).await
    {
        return plugin_exit(shared, ctx, facts, exit);
    }

    // Routing.
    let scheme = if ctx.conn.tls {
        Protocol::Https
    } else {
        Protocol::Http
    };
    let host_value = request_host(parts);
    let host = host_value.as_ref().and_then(|v| v.to_str().ok());
    let view = RequestView {
        method: parts.method.as_str(),
        scheme,
        host,
        path: parts.uri.path(),
        headers: &parts.headers,
        sni: ctx.conn.sni.as_deref(),
    };
    let Some(matched) = runtime.router().find(&view) else {
        return kong_error(
            shared,
            ctx,
            facts,
            ErrorKind::Pdk,
            404,
            Some("no Route matched with those values"),
        );
    };
    let route = matched.route.clone();
    ctx.route = Some(route.clone());
    ctx.service = matched.service.cloned();
    let mut upstream_path = matched.upstream_path;
    let stripped_prefix = matched.stripped_prefix;
    // `preserve_host`: the router hands back the client's Host (or SNI) to send upstream.
    let preserved_host = matched
        .upstream_host
        .and_then(|h| HeaderValue::from_str(&h).ok());
    ctx.captures = matched.captures;

    // X-Forwarded-* values (Kong's access phase): a trusted peer's own values are kept.
    let trusted = ctx.trusted;
    let scheme_text = if ctx.conn.tls { "https" } else { "http" };
    let client = |name: &http::HeaderName| {
        if trusted {
            h::get(&parts.headers, name).cloned()
        } else {
            None
        }
    };
    let forwarded_proto =
        client(&h::X_FORWARDED_PROTO).unwrap_or_else(|| HeaderValue::from_static(scheme_text));
    let forwarded_host = client(&h::X_FORWARDED_HOST)
        .map(ValuePrefix::whole)
        .or_else(|| forwarded_host(host_value.as_ref(), host));
    let forwarded_port =
        client(&h::X_FORWARDED_PORT).unwrap_or_else(|| ctx.conn.forwarded_port.clone());
    let forwarded_path = match (client(&h::X_FORWARDED_PATH), parts.uri.path_and_query()) {
        (Some(value), _) => Some(ForwardedPath::Value(value)),
        (None, Some(pq)) => Some(ForwardedPath::Request(pq.clone())),
        (None, None) => HeaderValue::from_str(parts.uri.path())
            .ok()
            .map(ForwardedPath::Value),
    };
    let forwarded_prefix = client(&h::X_FORWARDED_PREFIX).or_else(|| {
        stripped_prefix
            .as_deref()
            .filter(|p| *p != "/")
            .and_then(|p| HeaderValue::from_str(p).ok())
    });

    // Protocol enforcement: https-only routes, gRPC routes.
    let protocols = &route.protocols;
    let https_only = protocols.contains(&Protocol::Https) && !protocols.contains(&Protocol::Http);
    if https_only && forwarded_proto.as_bytes() != b"https" {
        let code = route.https_redirect_status_code;
        if matches!(code, 301 | 302 | 307 | 308) {
            ctx.source = ResponseSource::Kong;
            ctx.latencies.response = Some(ctx.elapsed_ms());
            let target = parts.uri.path_and_query().map_or_else(
                || parts.uri.path().to_string(),
                |pq| pq.as_str().to_string(),
            );
            let location = format!(
                "https://{}{}",
                forwarded_host
                    .as_ref()
                    .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
                    .unwrap_or(""),
                target
            );
            let mut resp = Response::new(ProxyBody::empty());
            *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::FOUND);
            if let Ok(v) = HeaderValue::from_str(&location) {
                resp.headers_mut().insert(LOCATION, v);
            }
            resp.headers_mut()
                .insert(http::header::CONTENT_LENGTH, HeaderValue::from(0));
            return resp;
        }
        let mut resp = kong_error(
            shared,
            ctx,
            facts,
            ErrorKind::Pdk,
            426,
            Some("Please use HTTPS protocol"),
        );
        resp.headers_mut().insert(
            http::header::CONNECTION,
            HeaderValue::from_static("Upgrade"),
        );
        resp.headers_mut().insert(
            http::header::UPGRADE,
            HeaderValue::from_static("TLS/1.2, HTTP/1.1"),
        );
        return resp;
    }
    let grpc_route = protocols.contains(&Protocol::Grpc) || protocols.contains(&Protocol::Grpcs);
    if grpc_route {
        let grpc_content = facts
            .content_type
            .as_ref()
            .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
        if !grpc_content {
            return kong_error(
                shared,
                ctx,
                facts,
                ErrorKind::Pdk,
                415,
                Some("Non-gRPC request matched gRPC route"),
            );
        }
        if parts.version != Version::HTTP_2 {
            let mut resp = kong_error(
                shared,
                ctx,
                facts,
                ErrorKind::Pdk,
                426,
                Some("Please use HTTP2 protocol"),
            );
            resp.headers_mut().insert(
                http::header::CONNECTION,
                HeaderValue::from_static("Upgrade"),
            );
            resp.headers_mut()
                .insert(http::header::UPGRADE, HeaderValue::from_static("HTTP/2"));
            return resp;
        }
        if !protocols.contains(&Protocol::Grpc) && forwarded_proto.as_bytes() != b"https" {
            ctx.source = ResponseSource::Kong;
            ctx.latencies.response = Some(ctx.elapsed_ms());
            let mut resp = Response::new(ProxyBody::empty());
            let headers = resp.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
            headers.insert("grpc-status", HeaderValue::from(1));
            headers.insert(
                "grpc-message",
                HeaderValue::from_static("gRPC request matched gRPCs route"),
            );
            return resp;
        }
    }

    // access
    if !plugins.is_empty() {
        if let Flow::Exit(exit) = plugins.access(ctx, runtime, parts, &mut body).await {
            return plugin_exit(shared, ctx, facts, exit);
        }
        // The later phases see the request as it goes upstream.
        if plugins.keeps_heads(ctx) {
            ctx.request_head = Some(Box::new(RequestHead::of(parts)));
        }
    }
    let Some(service) = ctx.service.clone() else {
        return kong_error(
            shared,
            ctx,
            facts,
            ErrorKind::Pdk,
            503,
            Some("no Service found with those values"),
        );
    };
    let Some(svc) = runtime.service(&service.id).cloned() else {
        tracing::error!(service = %service.id, "matched service missing from the runtime");
        return kong_error(shared, ctx, facts, ErrorKind::Pdk, 500, None);
    };

    // The upstream request head.
    let upgrading = facts.upgrade.is_some() && !svc.h2;
    if let Some(path) = ctx.upstream_path.take() {
        upstream_path = path;
    }
    let query_override = ctx.upstream_query.take();
    let client_query = query_override.is_none();
    let query = match query_override {
        Some(q) if q.is_empty() => None,
        Some(q) => Some(q),
        None => parts.uri.query().map(str::to_string),
    };
    let path_and_query = match parts.uri.path_and_query() {
        // Usually the path goes upstream as the client sent it: reuse the parsed value.
        Some(pq) if client_query && pq.path() == upstream_path => Some(pq.clone()),
        _ => upstream_path_and_query(&upstream_path, query.as_deref()),
    };
    let Some(path_and_query) = path_and_query else {
        return kong_error(shared, ctx, facts, ErrorKind::Nginx, 400, None);
    };
    if !plugins.is_empty() {
        ctx.upstream_uri = Some(path_and_query.as_str().to_string());
    }
    let mut headers = std::mem::take(&mut parts.headers);
    // Read before hop-by-hop removal: a `Connection` naming them must not erase the
    // chain earlier proxies added (nginx's `$proxy_add_x_forwarded_for` keeps it).
    let client_xff = h::get(&headers, &h::X_FORWARDED_FOR).cloned();
    let client_via = h::get(&headers, &http::header::VIA).cloned();
    h::strip_request_hop_by_hop(&mut headers, upgrading);
    let client_ip = if ctx.client_ip == peer_ip {
        ctx.conn.peer_ip.clone()
    } else {
        h::ip_value(ctx.client_ip)
    };
    let x_forwarded_for = match &client_xff {
        Some(prev) => h::append_token(Some(prev), ctx.conn.peer_ip.to_str().unwrap_or("")),
        None => client_ip.clone(),
    };
    let via = h::append_static_token(client_via.as_ref(), h::via_token(parts.version));
    let proxy_headers = ProxyHeaders {
        upgrade: upgrading,
        te_trailers: facts.te_trailers,
        x_real_ip: client_ip,
        x_forwarded_for,
        x_forwarded_proto: forwarded_proto,
        x_forwarded_host: forwarded_host,
        x_forwarded_port: forwarded_port,
        x_forwarded_path: forwarded_path,
        x_forwarded_prefix: forwarded_prefix,
        via,
        request_id: settings.upstream_request_id.then_some(ctx.id),
    };

    // The request body: buffered (replayable) when the route asks for it.
    let mut replayable = match std::mem::replace(&mut body, RequestBody::Gone) {
        RequestBody::Empty | RequestBody::Gone => ReplayableBody::Empty,
        RequestBody::Buffered(bytes) => {
            ctx.bytes_in = bytes.len() as u64;
            headers.remove(http::header::CONTENT_LENGTH);
            headers.remove(http::header::TRANSFER_ENCODING);
            h::set_content_length(&mut headers, bytes.len());
            ReplayableBody::Buffered(bytes)
        }
        RequestBody::Stream(client_body) => {
            if route.request_buffering && !svc.h2 && !upgrading {
                match client_body.buffer(settings.request_buffer_limit).await {
                    Ok(Ok(bytes)) => {
                        ctx.bytes_in = bytes.len() as u64;
                        headers.remove(http::header::CONTENT_LENGTH);
                        h::set_content_length(&mut headers, bytes.len());
                        ReplayableBody::Buffered(bytes)
                    }
                    Ok(Err(streaming)) => ReplayableBody::Stream(Some(streaming)),
                    Err(ClientBodyError::Timeout) => {
                        return kong_error(shared, ctx, facts, ErrorKind::Nginx, 408, None);
                    }
                    Err(ClientBodyError::Aborted(_)) => {
                        return kong_error(shared, ctx, facts, ErrorKind::Nginx, 400, None);
                    }
                }
            } else {
                ReplayableBody::Stream(Some(client_body))
            }
        }
    };

    let mut head = UpstreamHead {
        method: parts.method.clone(),
        path_and_query,
        headers,
        proxy_headers,
        // A plugin's Host (Kong's `upstream_host`) wins over `preserve_host`.
        preserved_host: ctx.overrides.host.take().or(preserved_host),
        client_uri: parts.uri.clone(),
        query,
        relay_fields: facts.head_unread(runtime),
    };
    ctx.source = ResponseSource::Upstream;
    let proxied =
        match upstream_call::call(shared, runtime, &svc, ctx, &mut head, &mut replayable).await {
            Ok(p) => p,
            Err(failure) => {
                // Before proxying started, the response is Kong's own.
                let respond = if failure.proxied {
                    error_response
                } else {
                    kong_error
                };
                return respond(
                    shared,
                    ctx,
                    facts,
                    failure.kind,
                    failure.status,
                    failure.message,
                );
            }
        };

    let (mut resp_parts, mut resp_body) = proxied.response.into_parts();
    let switched = resp_parts.status == StatusCode::SWITCHING_PROTOCOLS;
    if switched {
        match facts.upgrade.take() {
            Some(client_upgrade) if upgrading => {
                let upstream = match resp_body {
                    ResponseBody::H1(body, _) => body.into_upgraded(),
                    ResponseBody::H2(_) => None,
                };
                let Some(upstream) = upstream else {
                    return error_response(shared, ctx, facts, ErrorKind::Nginx, 502, None);
                };
                super::tunnel::spawn(client_upgrade, upstream);
                h::strip_response_hop_by_hop(&mut resp_parts.headers, true, facts.te_trailers);
                return Response::from_parts(resp_parts, ProxyBody::empty());
            }
            _ => {
                // An upstream switching protocols the client did not ask for cannot be relayed.
                return error_response(shared, ctx, facts, ErrorKind::Nginx, 502, None);
            }
        }
    }
    let raw_fields = match &mut resp_body {
        ResponseBody::H1(body, _) => body.take_raw_fields(),
        ResponseBody::H2(_) => None,
    };
    if raw_fields.is_none() {
        h::strip_response_hop_by_hop(&mut resp_parts.headers, false, facts.te_trailers);
        resp_parts.headers.reserve(RESPONSE_HEADERS_ADDED);
    }
    let frame_timeout = svc.h2.then_some(svc.read_timeout);
    let mut body = ProxyBody::upstream(resp_body, shared.clone(), frame_timeout);
    if let Some(fields) = raw_fields {
        body.relay_upstream_fields(fields);
    }
    Response::from_parts(resp_parts, body)
}

/// Kong's `header_filter`: plugin hook, then the Kong headers enabled by `headers`.
fn finish_headers(
    shared: &Shared,
    runtime: &Runtime,
    ctx: &mut RequestContext,
    facts: &RequestFacts,
    response: &mut Response<ProxyBody>,
) {
    let enabled = shared.settings.headers;
    // Kong sets a created consistent-hashing cookie before plugins see proxied responses.
    if ctx.source == ResponseSource::Upstream
        && let Some(cookie) = ctx.hash_cookie.take()
    {
        crate::balancer::set_hash_cookie(response.headers_mut(), cookie);
    }
    let request_id = enabled.request_id.then_some(ctx.id);
    if ctx.source == ResponseSource::Upstream {
        let via = enabled.via.then(|| {
            if ctx
                .service
                .as_ref()
                .is_some_and(|s| matches!(s.protocol, Protocol::Grpc | Protocol::Grpcs))
            {
                h::VIA_2
            } else {
                h::VIA_1_1
            }
        });
        let kong = h::ProxiedHeaders {
            via,
            server: enabled.server,
            upstream_latency: enabled
                .upstream_latency
                .then_some(ctx.latencies.upstream)
                .flatten(),
            proxy_latency: enabled
                .proxy_latency
                .then_some(ctx.latencies.proxy)
                .flatten(),
            upstream_status: if enabled.upstream_status {
                ctx.upstream_status
            } else {
                None
            },
            request_id,
        };
        // Without plugins nobody looks at the response head before it is written: the
        // HTTP/1.x server writes Kong's headers with it (no map insertions).
        if facts.head_unread(runtime) {
            response.body_mut().defer_kong_headers(kong);
        } else {
            h::add_proxied_headers(response.headers_mut(), kong);
        }
    } else {
        let latency = enabled
            .response_latency
            .then(|| ctx.latencies.response.unwrap_or_else(|| ctx.elapsed_ms()));
        h::add_generated_headers(response.headers_mut(), enabled.server, latency, request_id);
    }
    if facts.debug {
        add_debug_headers(ctx, response.headers_mut());
    }
    // Kong runs plugins' header_filter after its own headers are set, so plugins may
    // change or remove them.
    let plugins = runtime.plugins();
    if !plugins.is_empty() {
        let (mut parts, body) =
            std::mem::replace(response, Response::new(ProxyBody::empty())).into_parts();
        // Headers plugins set before the response existed (`kong.response.set_header`
        // in rewrite/access), then their header_filter.
        for pending in std::mem::take(&mut ctx.response_headers) {
            pending.apply(&mut parts.headers);
        }
        plugins.header_filter(ctx, runtime, &mut parts);
        *response = Response::from_parts(parts, body);
    }
}

fn add_debug_headers(ctx: &RequestContext, headers: &mut HeaderMap) {
    if let Some(route) = &ctx.route {
        if let Ok(v) = HeaderValue::from_str(&route.id.to_string()) {
            headers.insert("kong-route-id", v);
        }
        if let Some(name) = &route.name
            && let Ok(v) = HeaderValue::from_str(name)
        {
            headers.insert("kong-route-name", v);
        }
    }
    if let Some(service) = &ctx.service {
        if let Ok(v) = HeaderValue::from_str(&service.id.to_string()) {
            headers.insert("kong-service-id", v);
        }
        if let Some(name) = &service.name
            && let Ok(v) = HeaderValue::from_str(name)
        {
            headers.insert("kong-service-name", v);
        }
    }
}
