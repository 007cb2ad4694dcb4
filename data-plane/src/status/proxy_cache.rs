//! Kong's proxy-cache Admin API endpoints, on the status API because the caches live in
//! each data-plane node (a Kong node serves them on its own Admin API):
//!
//! - `DELETE /proxy-cache`: 204, every proxy-cache store emptied;
//! - `GET|DELETE /proxy-cache/{cache_key}`: the entry in the first instance that has it
//!   (200 with the entry, 204 once dropped), 404 with no body when none has it;
//! - `GET|DELETE /proxy-cache/{plugin_id}/caches/{cache_key}`: the same in one
//!   instance; 404 also when the plugin is not a proxy-cache instance of the
//!   configuration being served.

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use http_body_util::Full;

use super::{StatusState, json};
use crate::plugins::proxy_cache::admin::{Caches, Outcome};

/// The response for `path` when it is one of the proxy-cache endpoints.
pub fn handle(method: &Method, path: &str, state: &StatusState) -> Option<Response<Full<Bytes>>> {
    let rest = path.strip_prefix("/proxy-cache")?;
    if !rest.is_empty() && !rest.starts_with('/') {
        return None;
    }
    let segments: Vec<&str> = rest.split('/').skip(1).collect();
    if segments.iter().any(|s| s.is_empty()) {
        return None;
    }
    let runtime = state.runtime.load();
    let caches = Caches::of(runtime.source(), state.runtime.env().plugin_state());
    let outcome = match (method, segments.as_slice()) {
        (&Method::DELETE, []) => {
            caches.purge_all();
            Outcome::Purged
        }
        (&Method::GET, [key]) => caches.lookup(key),
        (&Method::DELETE, [key]) => caches.purge(key),
        (&Method::GET, [plugin_id, "caches", key]) => caches.lookup_in(plugin_id, key),
        (&Method::DELETE, [plugin_id, "caches", key]) => caches.purge_in(plugin_id, key),
        (_, [] | [_] | [_, "caches", _]) => {
            return Some(json(
                StatusCode::METHOD_NOT_ALLOWED,
                serde_json::json!({"message": "Method not allowed"}),
            ));
        }
        _ => return None,
    };
    Some(match outcome {
        Outcome::Entry(entry) => json(StatusCode::OK, entry),
        Outcome::Purged => empty(StatusCode::NO_CONTENT),
        // Kong's handlers exit with a bare 404.
        Outcome::NotFound => empty(StatusCode::NOT_FOUND),
    })
}

fn empty(status: StatusCode) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = status;
    resp
}
