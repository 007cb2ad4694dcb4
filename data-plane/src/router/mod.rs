//! PLACEHOLDER router, kept only so the proxy compiles and its tests can route before the
//! router engineer's module lands on `main`; theirs replaces this file wholesale.
//!
//! It implements the agreed API with a linear scan and a simplified subset of Kong's
//! traditional rules (exact and wildcard hosts, prefix and `~` regex paths, methods,
//! headers, `strip_path` with `path_handling` v0). It is not the product's router.

use std::sync::Arc;

use common::model::{Protocol, Route, Service};

/// A request as the router sees it.
pub struct RequestView<'a> {
    pub method: &'a str,
    pub scheme: Protocol,
    pub host: Option<&'a str>,
    /// The raw request path, without the query string.
    pub path: &'a str,
    pub headers: &'a http::HeaderMap,
    pub sni: Option<&'a str>,
}

/// The route a request matched and what it implies for the upstream request.
pub struct RouteMatch<'a> {
    pub route: &'a Arc<Route>,
    pub service: Option<&'a Arc<Service>>,
    /// The path to send upstream (service path joined with the request path), no query.
    pub upstream_path: String,
    /// The prefix `strip_path` removed, if any.
    pub stripped_prefix: Option<String>,
    /// Regex captures: (group name, value).
    pub captures: Vec<(Option<String>, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    #[error("route {route}: invalid regex path '{path}': {reason}")]
    InvalidRegex {
        route: uuid::Uuid,
        path: String,
        reason: String,
    },
}

enum PathMatcher {
    Prefix(String),
    Regex(regex::Regex),
}

struct Entry {
    route: Arc<Route>,
    service: Option<Arc<Service>>,
    paths: Vec<PathMatcher>,
}

pub struct Router {
    entries: Vec<Entry>,
}

impl Router {
    pub fn build(routes: Vec<(Arc<Route>, Option<Arc<Service>>)>) -> Result<Router, RouterError> {
        let mut entries = Vec::with_capacity(routes.len());
        for (route, service) in routes {
            let mut paths = Vec::new();
            for path in route.paths.iter().flatten() {
                if let Some(re) = path.strip_prefix('~') {
                    let re = regex::Regex::new(&format!("^(?:{re})")).map_err(|e| {
                        RouterError::InvalidRegex {
                            route: route.id,
                            path: path.clone(),
                            reason: e.to_string(),
                        }
                    })?;
                    paths.push(PathMatcher::Regex(re));
                } else {
                    paths.push(PathMatcher::Prefix(path.clone()));
                }
            }
            entries.push(Entry {
                route,
                service,
                paths,
            });
        }
        // More specific first: host routes, then regex paths, then longer prefixes.
        entries.sort_by_key(|e| {
            let has_host = e.route.hosts.as_ref().is_some_and(|h| !h.is_empty());
            let headers = e.route.headers.as_ref().map_or(0, |h| h.len());
            let has_regex = e.paths.iter().any(|p| matches!(p, PathMatcher::Regex(_)));
            let longest = e
                .paths
                .iter()
                .map(|p| match p {
                    PathMatcher::Prefix(p) => p.len(),
                    PathMatcher::Regex(_) => 0,
                })
                .max()
                .unwrap_or(0);
            (
                std::cmp::Reverse(has_host),
                std::cmp::Reverse(headers),
                std::cmp::Reverse(has_regex),
                std::cmp::Reverse(e.route.regex_priority),
                std::cmp::Reverse(longest),
                e.route.created_at,
            )
        });
        Ok(Router { entries })
    }

    pub fn find(&self, req: &RequestView<'_>) -> Option<RouteMatch<'_>> {
        let host = req.host.map(|h| strip_port(h).to_ascii_lowercase());
        for entry in &self.entries {
            let route = &entry.route;
            if let Some(methods) = &route.methods
                && !methods.is_empty()
                && !methods.iter().any(|m| m.eq_ignore_ascii_case(req.method))
            {
                continue;
            }
            if let Some(hosts) = &route.hosts
                && !hosts.is_empty()
            {
                let Some(host) = host.as_deref() else {
                    continue;
                };
                if !hosts.iter().any(|h| host_matches(h, host)) {
                    continue;
                }
            }
            if let Some(headers) = &route.headers
                && !headers.iter().all(|(name, values)| {
                    req.headers.get_all(name.as_str()).iter().any(|v| {
                        v.to_str()
                            .is_ok_and(|v| values.iter().any(|x| x.eq_ignore_ascii_case(v)))
                    })
                })
            {
                continue;
            }
            let (matched, captures) = if entry.paths.is_empty() {
                (Some(String::new()), Vec::new())
            } else {
                let mut found = None;
                for p in &entry.paths {
                    match p {
                        PathMatcher::Prefix(prefix) => {
                            if req.path.starts_with(prefix.as_str()) {
                                found = Some((prefix.clone(), Vec::new()));
                                break;
                            }
                        }
                        PathMatcher::Regex(re) => {
                            if let Some(caps) = re.captures(req.path) {
                                let whole = caps.get(0).map_or("", |m| m.as_str()).to_string();
                                let names: Vec<Option<String>> =
                                    re.capture_names().map(|n| n.map(str::to_string)).collect();
                                let mut captures = Vec::new();
                                for (i, name) in names.into_iter().enumerate().skip(1) {
                                    if let Some(m) = caps.get(i) {
                                        captures.push((name, m.as_str().to_string()));
                                    }
                                }
                                found = Some((whole, captures));
                                break;
                            }
                        }
                    }
                }
                match found {
                    Some((m, c)) => (Some(m), c),
                    None => (None, Vec::new()),
                }
            };
            let Some(matched) = matched else {
                continue;
            };
            let (rest, stripped) = if route.strip_path && !matched.is_empty() {
                (&req.path[matched.len()..], Some(matched))
            } else {
                (req.path, None)
            };
            let service_path = entry
                .service
                .as_ref()
                .and_then(|s| s.path.as_deref())
                .unwrap_or("/");
            let upstream_path = join_v0(service_path, rest);
            return Some(RouteMatch {
                route,
                service: entry.service.as_ref(),
                upstream_path,
                stripped_prefix: stripped,
                captures,
            });
        }
        None
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(h, _)| &host[..h.len() + 1]);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

fn host_matches(pattern: &str, host: &str) -> bool {
    let pattern = strip_port(pattern).to_ascii_lowercase();
    if let Some(suffix) = pattern.strip_prefix('*') {
        host.ends_with(suffix)
    } else if let Some(prefix) = pattern.strip_suffix('*') {
        host.starts_with(prefix)
    } else {
        pattern == host
    }
}

fn join_v0(service_path: &str, rest: &str) -> String {
    if rest.is_empty() {
        return service_path.to_string();
    }
    if service_path.ends_with('/') && rest.starts_with('/') {
        format!("{}{}", service_path, &rest[1..])
    } else if !service_path.ends_with('/') && !rest.starts_with('/') {
        format!("{service_path}/{rest}")
    } else {
        format!("{service_path}{rest}")
    }
}
