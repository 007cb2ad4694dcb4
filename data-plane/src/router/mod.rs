//! The router: picks the route for a request with the semantics of Kong's *traditional*
//! router (`router_flavor = traditional`), and computes the path sent upstream.
//!
//! # What is matched
//!
//! * **hosts**: exact (`example.com` matches any port, `example.com:8000` only that port;
//!   a port-less `Host` counts as the scheme's default port for wildcard patterns), or wildcard
//!   (`*.example.com`, `example.*`, optionally with a port). Case-insensitive.
//! * **paths**: prefixes, or regexes (`~/users/\d+`) anchored at the start of the path, matched
//!   against the normalised path (see [`normalize_path`]).
//! * **methods**, **headers** (names and values case-insensitive; a single `~*re` value is a
//!   regex on the lower-cased value), **snis** (over TLS only; ignored for plain HTTP).
//! * **protocols are not matched.** Like Kong's traditional router, a route is found whatever
//!   the scheme the client used; the proxy then answers from the route's `protocols`: 426 for
//!   an https-only route reached over http (or the `https_redirect_status_code` redirect), 426
//!   for gRPC over HTTP/1, 415 for a non-gRPC request on a gRPC route. Routes with only stream
//!   protocols (tcp, tls, udp, tls_passthrough) are left out of this router; so are routes
//!   whose service is disabled. A route whose service is a stream service is kept without
//!   service (Kong logs and drops such a service).
//!
//! # Precedence (Kong's traditional order)
//!
//! Each route is split into one entry per path. Entries are grouped into *categories*: the set
//! of fields the route matches on (host, headers, path, method, SNI). Categories are tried in
//! this order:
//!
//! 1. more fields first (host+path beats a longer path alone; host or path beats method);
//! 2. among categories with as many fields, by field weight: host > headers > path > method > SNI
//!    (so host+path beats headers+path, which beats path+method).
//!
//! The search starts at the request's own category (the fields for which *some* route has a
//! matching value); categories ranked above it need a field the request cannot satisfy, except
//! SNI routes over plain HTTP, which are only reachable when the search starts above them (Kong
//! issue #6425). Inside a category, entries are ranked by:
//!
//! 1. wildcard host with a port > plain hosts only > regex path (a bit field compared as a
//!    number, so a plain-host regex route beats a plain-host prefix route, and a regex path
//!    beats a prefix path on the same kind of host);
//! 2. more headers;
//! 3. for regex paths, higher `regex_priority` (prefix paths ignore it);
//! 4. longer prefix path;
//! 5. older `created_at`; then input order.
//!
//! Kong first tries a reduced candidate list (the category's entries that list the request's
//! header name, exact host, path or method hit) and takes the best-ranked match there before
//! looking at the whole category. This decides, for instance, that `Host: a.org:321` goes to a
//! route with `a.org:321` even if a route with `a.org` ranks before it. See `select.rs`.
//!
//! # How it is fast
//!
//! Routes are compiled once into indexes (exact-host hash map, wildcard suffix/prefix maps,
//! per-host radix trees of prefix paths and regex literal prefixes, deduplicated regexes), so
//! a lookup only examines the routes that can match the request's host and path. See
//! `index.rs`. The router is immutable and shared between threads.

mod compile;
mod host;
mod index;
mod path;
mod regex;
mod select;
mod trie;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use common::model::{Protocol, Route, Service};

use self::compile::{
    Entry, PathRule, RegexTable, compile_route, is_http_route, is_http_service, kong_order,
};
use self::index::Index;
use self::select::Request;

/// One reason a route could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error(
        "route {route}: could not categorize route (it has no hosts, headers, methods, paths, \
         snis, sources or destinations)"
    )]
    Uncategorizable { route: String },
    #[error("route {route}: invalid regex path '{path}': {reason}")]
    InvalidRegex {
        route: String,
        path: String,
        reason: String,
    },
    #[error("route {route}: invalid host '{host}': {reason}")]
    InvalidHost {
        route: String,
        host: String,
        reason: String,
    },
    #[error("route {route}: invalid header '{name}': {reason}")]
    InvalidHeader {
        route: String,
        name: String,
        reason: String,
    },
    #[error("route {route}: invalid sni '{sni}': {reason}")]
    InvalidSni {
        route: String,
        sni: String,
        reason: String,
    },
}

/// Every route that could not be compiled (the router is built only when there is none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterError {
    pub errors: Vec<RouteError>,
}

impl fmt::Display for RouterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RouterError {}

/// What the router looks at in a request.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    pub method: &'a str,
    /// As the client reached us: `Http`/`Https` (`Grpc`/`Grpcs` for gRPC requests). Only
    /// whether it is TLS matters: it picks the default port (80/443) and enables SNI matching.
    pub scheme: Protocol,
    /// The `Host` header or `:authority`, possibly with a port; `None` for HTTP/1.0 without
    /// Host (then only routes without hosts can match).
    pub host: Option<&'a str>,
    /// The raw request path (not decoded), without the query string.
    pub path: &'a str,
    pub headers: &'a http::HeaderMap,
    /// The TLS server name, if any.
    pub sni: Option<&'a str>,
}

/// The result of a successful lookup.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteMatch<'a> {
    pub route: &'a Arc<Route>,
    /// `None` for a route without service (the proxy answers 503).
    pub service: Option<&'a Arc<Service>>,
    /// The path to send upstream, before the query string: `strip_path` and `path_handling`
    /// applied to the normalised request path and joined with the service's `path`, then
    /// percent-encoded where needed (as Kong sends it; reserved escapes such as `%2F` are kept).
    pub upstream_path: String,
    /// The matched path prefix that `strip_path` removed, for `X-Forwarded-Prefix`; `None` when
    /// nothing (or only `/`) was stripped.
    pub stripped_prefix: Option<String>,
    /// Capture groups of a regex path, in group order (group 1 first), with their names where
    /// named; a group that did not participate has an empty value. Empty for prefix paths and
    /// regexes without groups. Values come from the normalised path.
    pub captures: Vec<(Option<String>, String)>,
    /// With `preserve_host`, the Host to send upstream: the client's Host header exactly as
    /// received (port included), or the SNI when the request had no Host. `None` otherwise.
    pub upstream_host: Option<String>,
}

/// The compiled routing table. Immutable; share it behind an `Arc`.
pub struct Router {
    routes: Vec<(Arc<Route>, Option<Arc<Service>>)>,
    index: Index,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("routes", &self.routes.len())
            .field("entries", &self.index.entries.len())
            .field("categories", &self.index.categories.len())
            .field("regexes", &self.index.regexes.len())
            .finish()
    }
}

/// The path the router matches against: percent-escapes of unreserved and other
/// non-reserved characters decoded, reserved escapes kept (upper-cased), dot segments removed
/// and repeated slashes merged. Bytes, because a decoded escape may not be UTF-8.
pub fn normalize_path(path: &str) -> Cow<'_, [u8]> {
    path::normalize(path)
}

/// nginx's `$uri`: every percent-escape decoded (reserved ones too), then dot segments
/// removed and repeated slashes merged. What Kong hashes for an upstream's `hash_on: path`.
pub fn decoded_uri(path: &str) -> Vec<u8> {
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(path).collect();
    path::remove_dot_segments(&decoded)
}

impl Router {
    /// Compiles routes (each with its service, if any) into indexes. Routes with only stream
    /// protocols, and routes whose service is disabled, are left out. Errors name the route.
    pub fn build(routes: Vec<(Arc<Route>, Option<Arc<Service>>)>) -> Result<Router, RouterError> {
        let mut kept = Vec::with_capacity(routes.len());
        for (route, service) in routes {
            if !is_http_route(&route) {
                continue;
            }
            let service = match service {
                Some(s) if !s.enabled => continue,
                Some(s) if !is_http_service(&s) => None,
                other => other,
            };
            kept.push((route, service));
        }

        let mut entries = Vec::with_capacity(kept.len());
        let mut regexes = RegexTable::default();
        let mut errors = Vec::new();
        for (i, (route, service)) in kept.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            if let Err(e) = compile_route(i, route, service.as_deref(), &mut regexes, &mut entries)
            {
                errors.push(e);
            }
        }
        if !errors.is_empty() {
            return Err(RouterError { errors });
        }
        // Sort positions rather than the (large) entries; stable: full ties keep input order.
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_by(|&a, &b| kong_order(&entries[a], &entries[b]));
        let mut slots: Vec<Option<Entry>> = entries.into_iter().map(Some).collect();
        let entries: Vec<Entry> = order.iter().filter_map(|&i| slots[i].take()).collect();
        Ok(Router {
            routes: kept,
            index: Index::build(entries, regexes),
        })
    }

    /// Finds the route for a request. Never panics, whatever the input.
    pub fn find(&self, req: &RequestView<'_>) -> Option<RouteMatch<'_>> {
        let normalized = path::normalize(req.path);
        let host = req.host.map(host::lowercase);
        let sni = req.sni.map(|s| {
            let s = s.strip_suffix('.').filter(|s| !s.is_empty()).unwrap_or(s);
            host::lowercase(s)
        });
        let request = Request::new(
            req.method,
            &normalized,
            host.as_deref(),
            req.scheme.is_tls(),
            sni.as_deref(),
            req.headers,
        );
        let id = select::select(&self.index, &request)?;
        Some(self.describe_match(id, &normalized, req))
    }

    fn describe_match(&self, id: u32, normalized: &[u8], req: &RequestView<'_>) -> RouteMatch<'_> {
        let entry = &self.index.entries[id as usize];
        let (route, service) = &self.routes[entry.route as usize];
        let whole_postfix = normalized.get(1..).unwrap_or_default();
        let mut captures = Vec::new();
        let (prefix, postfix): (Option<&[u8]>, &[u8]) = match entry.path {
            Some(PathRule::Prefix) => {
                let len = entry.path_value.len().min(normalized.len());
                (
                    Some(&normalized[..len]),
                    path::sanitize_postfix(&normalized[len..]),
                )
            }
            Some(PathRule::Regex(r)) => match self.index.regexes[r as usize].captures(normalized) {
                Some(m) => {
                    captures = m.groups;
                    let end = m.end.min(normalized.len());
                    (
                        Some(&normalized[..end]),
                        path::sanitize_postfix(&normalized[end..]),
                    )
                }
                // Unreachable: the entry was selected because the regex matched.
                None => (None, whole_postfix),
            },
            None => (None, whole_postfix),
        };

        let upstream_path = path::upstream_path(&path::JoinInput {
            service_path: entry.service_path.as_deref().unwrap_or(b"/"),
            request_path: normalized,
            postfix,
            strip_path: entry.strip_path,
            path_handling: entry.path_handling,
        });
        let stripped_prefix = prefix
            .filter(|p| entry.strip_path && !p.is_empty() && *p != b"/")
            .map(|p| String::from_utf8_lossy(p).into_owned());
        let upstream_host = entry
            .preserve_host
            .then(|| req.host.or(req.sni).map(str::to_string))
            .flatten();
        RouteMatch {
            route,
            service: service.as_ref(),
            upstream_path,
            stripped_prefix,
            captures,
            upstream_host,
        }
    }

    /// The number of routes in the router (after leaving out stream routes and routes of
    /// disabled services).
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}
