//! The request pipeline every Admin API request goes through:
//!
//! token check → route match (404) → `OPTIONS` (204 + `Allow`) → method check (405) →
//! query → body (413, 415, `Cannot parse JSON body`) → endpoint handler → common headers
//! (`Server`, `X-Kong-Admin-Latency`, CORS) and `HEAD` body stripping.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;

use super::body::{self, RequestBody};
use super::context::Ctx;
use super::error::ApiError;
use super::query::Query;
use super::reply::{Reply, TextBody};
use super::routes::{CustomHandler, Endpoint, Matched, RouteTable, allow_header};
use super::state::AdminState;
use super::{entity, meta, nested, schemas, tags, targets};

/// The header carrying `--admin-token`.
pub const TOKEN_HEADER: &str = "kong-admin-token";

/// The Admin API: its state and routing table. Build it, add routes if needed, and turn it
/// into an axum `Router` (which tests drive with `tower::ServiceExt::oneshot`).
#[derive(Clone)]
pub struct AdminApi {
    state: AdminState,
    routes: Arc<RouteTable>,
}

impl AdminApi {
    pub fn new(state: AdminState) -> AdminApi {
        AdminApi {
            state,
            routes: Arc::new(RouteTable::standard()),
        }
    }

    /// Adds an endpoint served by `handler` (e.g. `/clustering/data-planes`). It gets the
    /// same token check, CORS, `OPTIONS`, 404/405 handling and headers as the others.
    pub fn route(mut self, template: &str, methods: &[Method], handler: CustomHandler) -> Self {
        Arc::make_mut(&mut self.routes).add(template, methods, Endpoint::Custom(handler));
        self
    }

    pub fn state(&self) -> &AdminState {
        &self.state
    }

    pub fn router(self) -> Router {
        Router::new().fallback(handle).with_state(self)
    }
}

async fn handle(State(api): State<AdminApi>, request: Request) -> Response {
    let started = Instant::now();
    let stats = api.state.stats().clone();
    stats.request_started();
    let method = request.method().clone();
    let matched = api.routes.find(request.uri().path());
    // Log the route template, not the path: paths can hold credentials (key-auth keys).
    let route = matched
        .as_ref()
        .map_or("(no route)", |m| m.route.template.as_str())
        .to_owned();
    let (status, extra, body) = match respond(&api, matched, request).await {
        Ok((reply, extra)) => {
            let body = match (reply.text, reply.body) {
                (Some(text), _) => Some(Payload::Text(text)),
                (None, json) => json.map(Payload::Json),
            };
            (reply.status, extra, body)
        }
        Err(error) => {
            let rendered = error.render();
            (
                rendered.status,
                HeaderMap::new(),
                Some(Payload::Json(rendered.body)),
            )
        }
    };
    stats.request_finished();
    let latency = started.elapsed().as_millis();
    tracing::info!(
        target: "portico::admin::access",
        method = %method,
        route = %route,
        status = status.as_u16(),
        latency_ms = latency as u64,
        "admin request"
    );
    build_response(method == Method::HEAD, status, extra, body, latency)
}

/// A response body: JSON (almost everything) or text (`/metrics`).
enum Payload {
    Json(serde_json::Value),
    Text(TextBody),
}

fn build_response(
    head: bool,
    status: StatusCode,
    extra: HeaderMap,
    body: Option<Payload>,
    latency: u128,
) -> Response {
    let body = body.map(|payload| match payload {
        Payload::Json(b) => (
            "application/json; charset=utf-8",
            serde_json::to_vec(&b).unwrap_or_else(|_| b"{}".to_vec()),
        ),
        Payload::Text(t) => (t.content_type, t.body.into_bytes()),
    });
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    let bytes = body.map(|(content_type, bytes)| {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
        bytes
    });
    headers.insert(
        header::SERVER,
        HeaderValue::from_static(concat!("portico/", env!("CARGO_PKG_VERSION"))),
    );
    headers.insert("x-kong-admin-latency", HeaderValue::from(latency as u64));
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.extend(extra);
    if let (Some(bytes), false) = (bytes, head) {
        *response.body_mut() = Body::from(bytes);
    }
    response
}

fn token_matches(expected: &str, given: Option<&HeaderValue>) -> bool {
    let Some(given) = given else { return false };
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    // Compare without an early exit, so timing does not reveal the token's prefix.
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn respond(
    api: &AdminApi,
    matched: Option<Matched<'_>>,
    request: Request,
) -> Result<(Reply, HeaderMap), ApiError> {
    let (parts, request_body) = request.into_parts();
    let method = parts.method;
    if method != Method::OPTIONS
        && let Some(token) = &api.state.config().admin_token
        && !token_matches(token, parts.headers.get(TOKEN_HEADER))
    {
        return Err(ApiError::Unauthorized);
    }
    let matched = matched.ok_or(ApiError::NotFound)?;
    let route = matched.route;
    if method == Method::OPTIONS {
        let allow = HeaderValue::from_str(&allow_header(route)).map_err(ApiError::internal)?;
        let mut extra = HeaderMap::new();
        extra.insert(header::ALLOW, allow.clone());
        extra.insert(header::ACCESS_CONTROL_ALLOW_METHODS, allow);
        let requested = parts
            .headers
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .cloned()
            .unwrap_or_else(|| HeaderValue::from_static("Content-Type"));
        extra.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested);
        return Ok((Reply::no_content(), extra));
    }
    let effective = if method == Method::HEAD {
        Method::GET
    } else {
        method.clone()
    };
    if !route.methods.contains(&effective) {
        return Err(ApiError::MethodNotAllowed);
    }
    let query = Query::parse(parts.uri.query())?;
    let writes = matches!(effective, Method::POST | Method::PUT | Method::PATCH);
    let body = if writes {
        body::read(&parts.headers, request_body, api.state.config().body_limit).await?
    } else {
        // Read requests ignore bodies, whatever they hold.
        RequestBody::Empty
    };
    let ctx = Ctx {
        state: api.state.clone(),
        method: effective,
        headers: parts.headers,
        params: matched.params,
        query,
        body,
    };
    let reply = call(route.endpoint.clone(), ctx, &api.routes).await?;
    Ok((reply, HeaderMap::new()))
}

async fn call(endpoint: Endpoint, ctx: Ctx, routes: &RouteTable) -> Result<Reply, ApiError> {
    match endpoint {
        Endpoint::Root => meta::root(&ctx).await,
        Endpoint::Status => meta::status(&ctx).await,
        Endpoint::Endpoints => Ok(meta::endpoints(routes)),
        Endpoint::PluginsEnabled => Ok(meta::plugins_enabled(&ctx)),
        Endpoint::EntitySchema => schemas::entity_schema(&ctx),
        Endpoint::PluginSchema => schemas::plugin_schema(&ctx),
        Endpoint::ValidateEntity => schemas::validate(&ctx),
        Endpoint::Tags => tags::list(&ctx, false).await,
        Endpoint::TagsByTag => tags::list(&ctx, true).await,
        Endpoint::Collection(kind) => entity::collection(&ctx, kind).await,
        Endpoint::Entity(kind) => entity::entity(&ctx, kind).await,
        Endpoint::ForeignEntity {
            kind,
            field,
            target,
        } => nested::foreign_entity(&ctx, kind, field, target).await,
        Endpoint::NestedCollection {
            parent,
            child,
            field,
        } => nested::collection(&ctx, parent, child, field).await,
        Endpoint::NestedEntity {
            parent,
            child,
            field,
        } => nested::entity(&ctx, parent, child, field).await,
        Endpoint::Targets { all } => targets::collection(&ctx, all).await,
        Endpoint::Target => targets::entity(&ctx).await,
        Endpoint::UpstreamHealth => targets::health(&ctx).await,
        Endpoint::Custom(handler) => handler(ctx).await,
    }
}
