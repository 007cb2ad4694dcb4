//! proxy-cache (Kong's `kong/plugins/proxy-cache/handler.lua`, PRIORITY 100), `memory`
//! strategy: cacheable responses are stored by a key of consumer, route, method, URI,
//! query and chosen headers, and served from memory (`X-Cache-Status: Miss`, `Hit`,
//! `Refresh`, `Bypass`; `X-Cache-Key`; `Age`).

pub mod admin;
mod directives;
mod store;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use self::directives::{
    Directives, content_type_matches, parse_cache_control, resource_ttl, seconds,
};
use self::store::{Cached, MemoryStore};
use super::clock::now_secs as now;
use super::{Exit, Flow, InstanceCx, Kong, Plugin};

#[derive(Debug, Deserialize)]
struct ResponseHeaders {
    age: bool,
    #[serde(rename = "X-Cache-Status")]
    x_cache_status: bool,
    #[serde(rename = "X-Cache-Key")]
    x_cache_key: bool,
}

#[derive(Debug, Deserialize)]
struct Memory {
    dictionary_name: String,
}

#[derive(Debug, Deserialize)]
struct Config {
    response_code: Vec<u16>,
    request_method: Vec<String>,
    content_type: Vec<String>,
    cache_ttl: i64,
    cache_control: bool,
    ignore_uri_case: Option<bool>,
    storage_ttl: Option<i64>,
    memory: Memory,
    vary_query_params: Option<Vec<String>>,
    vary_headers: Option<Vec<String>>,
    response_headers: ResponseHeaders,
}

pub struct ProxyCache {
    config: Config,
    store: Arc<MemoryStore>,
}

pub fn factory(cx: &InstanceCx<'_>) -> Result<Arc<dyn Plugin>, String> {
    let config: Config = cx.config()?;
    let store = cx.state.get_or_init(
        &store_key(&config.memory.dictionary_name),
        MemoryStore::default,
    );
    Ok(Arc::new(ProxyCache { config, store }))
}

/// Where the store of a dictionary is kept in the node's plugin state: instances naming
/// the same dictionary share it, as in Kong.
fn store_key(dictionary_name: &str) -> String {
    format!("proxy-cache {dictionary_name}")
}

/// Largest body kept for storing (larger responses are passed through uncached).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Per-request state of the plugin.
#[derive(Clone, Default)]
struct State {
    /// Headers for the response (`X-Cache-Status`, `X-Cache-Key`).
    headers: Vec<(&'static str, String)>,
    /// Set on a miss or refresh: the response is to be stored under this key.
    store_key: Option<String>,
    /// Filled in header_filter when the response is cacheable.
    pending: Option<Pending>,
}

#[derive(Clone)]
struct Pending {
    status: http::StatusCode,
    headers: HeaderMap,
    ttl: i64,
    body: BytesMut,
}

/// Kong's `generate_key_from`: `name=value` (arrays sorted and joined with `,`), `name`
/// for a valueless argument, joined with `:`.
fn key_from(values: &BTreeMap<String, Vec<Option<String>>>, fields: &[String]) -> String {
    let mut parts = Vec::new();
    for field in fields {
        let Some(list) = values.get(field) else {
            continue;
        };
        let mut present: Vec<&str> = list.iter().filter_map(|v| v.as_deref()).collect();
        if list.len() == 1 && present.is_empty() {
            parts.push(field.clone());
        } else if present.len() == 1 {
            parts.push(format!("{field}={}", present[0]));
        } else {
            present.sort_unstable();
            parts.push(format!("{field}={}", present.join(",")));
        }
    }
    parts.join(":")
}

impl ProxyCache {
    fn enabled(&self, header: &str, debug: bool) -> bool {
        debug
            || match header {
                "X-Cache-Status" => self.config.response_headers.x_cache_status,
                "X-Cache-Key" => self.config.response_headers.x_cache_key,
                _ => self.config.response_headers.age,
            }
    }

    fn cacheable_request(&self, kong: &mut Kong<'_>, cc: &Directives) -> bool {
        let method = kong.request().method().map(|m| m.as_str().to_string());
        if !method.is_some_and(|m| self.config.request_method.contains(&m)) {
            return false;
        }
        let authorized = kong.request().header("authorization").is_some();
        !(self.config.cache_control
            && (cc.contains_key("no-store") || cc.contains_key("no-cache") || authorized))
    }

    /// Kong's `build_cache_key`: SHA-256 of prefix, method, request line up to `?`,
    /// query and header digests.
    fn cache_key(&self, kong: &mut Kong<'_>) -> String {
        let consumer = kong.client().consumer().map(|c| c.id);
        let route = kong.route().map(|r| r.id);
        let prefix = match (consumer, route) {
            (Some(c), Some(r)) => format!("{c}:{r}"),
            (None, Some(r)) => r.to_string(),
            _ => "default".to_string(),
        };
        let req = kong.request();
        let method = req.method().map_or("GET", |m| m.as_str()).to_string();
        let version = match req.http_version() {
            Some(http::Version::HTTP_2) => "HTTP/2.0",
            Some(http::Version::HTTP_10) => "HTTP/1.0",
            _ => "HTTP/1.1",
        };
        // nginx's `$request` with everything from `?` removed (so without a query the
        // protocol stays in), as Kong computes it.
        let target = req.raw_path().unwrap_or("/").to_string();
        let raw_query = req.raw_query().to_string();
        let has_query = req.uri().is_some_and(|u| u.query().is_some());
        let line = if !has_query {
            format!("{method} {target} {version}")
        } else {
            format!("{method} {target}")
        };
        let line = if self.config.ignore_uri_case == Some(true) {
            line.to_lowercase()
        } else {
            line
        };
        let mut params: BTreeMap<String, Vec<Option<String>>> = BTreeMap::new();
        for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = match pair.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (pair, None),
            };
            let decode = |s: &str| {
                super::pdk::log::query_json(&format!("x={s}"))["x"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            };
            params.entry(decode(k)).or_default().push(v.map(decode));
        }
        let query_fields: Vec<String> = match &self.config.vary_query_params {
            Some(v) if !v.is_empty() => v.clone(),
            _ => params.keys().cloned().collect(),
        };
        let params_digest = key_from(&params, &query_fields);
        let headers_digest = match &self.config.vary_headers {
            Some(fields) if !fields.is_empty() => {
                let mut values: BTreeMap<String, Vec<Option<String>>> = BTreeMap::new();
                if let Some(headers) = req.headers() {
                    for field in fields {
                        for v in headers.get_all(field.to_ascii_lowercase().as_str()) {
                            values
                                .entry(field.clone())
                                .or_default()
                                .push(Some(String::from_utf8_lossy(v.as_bytes()).into_owned()));
                        }
                    }
                }
                key_from(&values, fields)
            }
            _ => String::new(),
        };
        let material = format!("{prefix}|{method}|{line}|{params_digest}|{headers_digest}");
        hex::encode(Sha256::digest(material.as_bytes()))
    }

    fn hit(&self, cached: Cached, key: &str, debug: bool, now: i64) -> Exit {
        let mut headers = cached.headers;
        for name in [
            "connection",
            "keep-alive",
            "proxy-authenticate",
            "proxy-authorization",
            "te",
            "trailers",
            "transfer-encoding",
            "upgrade",
            "content-length",
            "age",
            "x-cache-status",
            "x-cache-key",
        ] {
            headers.remove(name);
        }
        let remaining: Vec<HeaderName> = headers
            .keys()
            .filter(|n| n.as_str().contains("ratelimit-remaining"))
            .cloned()
            .collect();
        for name in remaining {
            headers.remove(name);
        }
        let mut add = |name: &'static str, value: String| {
            if self.enabled(name, debug)
                && let Ok(v) = HeaderValue::from_str(&value)
            {
                headers.insert(name, v);
            }
        };
        add("age", (now - cached.timestamp).max(0).to_string());
        add("X-Cache-Status", "Hit".to_string());
        add("X-Cache-Key", key.to_string());
        let mut exit = Exit::body(cached.status.as_u16(), cached.body);
        *exit.headers_mut() = headers;
        exit
    }
}

fn debug(kong: &mut Kong<'_>) -> bool {
    kong.request().header("kong-debug").is_some()
}

#[async_trait]
impl Plugin for ProxyCache {
    async fn access(&self, kong: &mut Kong<'_>) -> Flow {
        let debug = debug(kong);
        let cc = parse_cache_control(kong.request().header("cache-control"));
        let mut state = State::default();
        let signal = |state: &mut State, name: &'static str, value: String| {
            if self.enabled(name, debug) {
                state.headers.retain(|(n, _)| *n != name);
                state.headers.push((name, value));
            }
        };
        if !self.cacheable_request(kong, &cc) {
            signal(&mut state, "X-Cache-Status", "Bypass".into());
            kong.shared().insert(state);
            return Flow::Continue;
        }
        let key = self.cache_key(kong);
        signal(&mut state, "X-Cache-Key", key.clone());
        let now = now();
        let status = match self.store.fetch(&key, now) {
            None => {
                if self.config.cache_control && cc.contains_key("only-if-cached") {
                    return Flow::Exit(Exit::status(504));
                }
                "Miss"
            }
            Some(cached) => {
                let age = now - cached.timestamp;
                let stale = if self.config.cache_control {
                    seconds(&cc, "max-age").is_some_and(|m| age > m)
                        || seconds(&cc, "max-stale").is_some_and(|m| age - cached.ttl > m)
                        || seconds(&cc, "min-fresh").is_some_and(|m| cached.ttl - age < m)
                } else {
                    age > self.config.cache_ttl
                };
                if !stale {
                    return Flow::Exit(self.hit(cached, &key, debug, now));
                }
                "Refresh"
            }
        };
        signal(&mut state, "X-Cache-Status", status.into());
        state.store_key = Some(key);
        kong.shared().insert(state);
        Flow::Continue
    }

    fn header_filter(&self, kong: &mut Kong<'_>) {
        let Some(mut state) = kong.shared().remove::<State>() else {
            return;
        };
        let debug = debug(kong);
        if state.store_key.is_some() {
            let response = kong.response();
            let headers = response.headers().cloned().unwrap_or_default();
            let status = response.status().unwrap_or_default();
            let cc =
                parse_cache_control(headers.get("cache-control").and_then(|v| v.to_str().ok()));
            let now = now();
            let ttl = if self.config.cache_control {
                resource_ttl(
                    &cc,
                    headers.get("expires").and_then(|v| v.to_str().ok()),
                    now,
                )
            } else {
                self.config.cache_ttl
            };
            let content_type = headers.get("content-type").and_then(|v| v.to_str().ok());
            let cacheable = self.config.response_code.contains(&status.as_u16())
                && content_type
                    .is_some_and(|ct| content_type_matches(ct, &self.config.content_type))
                && !(self.config.cache_control
                    && (cc.contains_key("private")
                        || cc.contains_key("no-store")
                        || cc.contains_key("no-cache")
                        || ttl <= 0));
            if cacheable {
                // Kong stores the response headers as sent, its own X-Cache-* included
                // (they show in the Admin API's view of the entry; a hit replaces them).
                let mut headers = headers;
                for (name, value) in &state.headers {
                    if let Ok(v) = HeaderValue::from_str(value) {
                        headers.insert(*name, v);
                    }
                }
                state.pending = Some(Pending {
                    status,
                    headers,
                    ttl,
                    body: BytesMut::new(),
                });
            } else {
                state.store_key = None;
                if self.enabled("X-Cache-Status", debug) {
                    state.headers.retain(|(n, _)| *n != "X-Cache-Status");
                    state.headers.push(("X-Cache-Status", "Bypass".into()));
                }
            }
        }
        if let Ok(out) = kong.response().headers_mut() {
            for (name, value) in &state.headers {
                if let Ok(v) = HeaderValue::from_str(value) {
                    out.insert(*name, v);
                }
            }
        }
        if state.pending.is_some() {
            kong.shared().insert(state);
        }
    }

    fn body_filter(&self, kong: &mut Kong<'_>, chunk: &mut Bytes, eof: bool) {
        let Some(state) = kong.shared().get_mut::<State>() else {
            return;
        };
        let Some(pending) = state.pending.as_mut() else {
            return;
        };
        if pending.body.len() + chunk.len() > MAX_BODY {
            state.pending = None;
            return;
        }
        pending.body.extend_from_slice(chunk);
        if !eof {
            return;
        }
        let (Some(key), Some(pending)) = (state.store_key.take(), state.pending.take()) else {
            return;
        };
        let now = now();
        let storage_ttl = self.config.storage_ttl.unwrap_or(pending.ttl);
        let cached = Cached::new(
            pending.status,
            pending.headers,
            pending.body.freeze(),
            now,
            pending.ttl,
        );
        self.store.store(key, cached, storage_ttl, now);
    }
}
