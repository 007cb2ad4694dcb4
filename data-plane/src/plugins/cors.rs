//! cors (Kong's `kong/plugins/cors/handler.lua`, PRIORITY 2000): answers preflight
//! requests and adds `Access-Control-*` headers to responses, for configured origins
//! (exact, `*`, or regular expressions).

use std::sync::Arc;

use async_trait::async_trait;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use regex::Regex;
use serde::Deserialize;

use super::{Exit, Flow, InstanceCx, Kong, Plugin};

#[derive(Debug, Deserialize)]
struct Config {
    origins: Option<Vec<String>>,
    headers: Option<Vec<String>>,
    exposed_headers: Option<Vec<String>>,
    methods: Option<Vec<String>>,
    max_age: Option<f64>,
    credentials: bool,
    private_network: bool,
    preflight_continue: bool,
    allow_origin_absent: bool,
}

/// A configured origin, compiled.
enum Origin {
    Any,
    Exact(String),
    /// Matched against the request origin's host when `by_host` (the entry has no `:`),
    /// else against its normalized `scheme://host[:port]`.
    Pattern {
        regex: Regex,
        by_host: bool,
    },
}

pub struct Cors {
    config: Config,
    origins: Vec<Origin>,
    /// A single origin that is plain text: always sent as is.
    single_literal: Option<String>,
    allow_all: bool,
}

fn literal(entry: &str) -> bool {
    entry
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b".:/-".contains(&b))
}

/// Kong's `normalize_origin`: `scheme://host[:port]` without default ports, and the host.
fn normalize(origin: &str) -> (String, String) {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return (origin.to_string(), origin.to_string());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => (h, Some(p)),
        _ => (authority, None),
    };
    let port =
        port.filter(|p| !((scheme == "http" && *p == "80") || (scheme == "https" && *p == "443")));
    let domain = match port {
        Some(p) => format!("{scheme}://{host}:{p}"),
        None => format!("{scheme}://{host}"),
    };
    (domain, host.to_string())
}

pub fn factory(cx: &InstanceCx<'_>) -> Result<Arc<dyn Plugin>, String> {
    let config: Config = cx.config()?;
    let entries = config.origins.clone().unwrap_or_default();
    let allow_all = entries.is_empty() || (entries.len() == 1 && entries[0] == "*");
    let single_literal = (entries.len() == 1 && literal(&entries[0])).then(|| entries[0].clone());
    let mut origins = Vec::new();
    for entry in &entries {
        if entry == "*" {
            origins.push(Origin::Any);
        } else if literal(entry) {
            origins.push(Origin::Exact(normalize(entry).0));
        } else {
            let body = entry.strip_prefix('^').unwrap_or(entry);
            let body = body.strip_suffix('$').unwrap_or(body);
            let regex = Regex::new(&format!("^(?:{body})$"))
                .map_err(|e| format!("'{entry}' is not a valid regex: {e}"))?;
            origins.push(Origin::Pattern {
                regex,
                by_host: !entry.contains(':'),
            });
        }
    }
    Ok(Arc::new(Cors {
        config,
        origins,
        single_literal,
        allow_all,
    }))
}

/// Per-request marker: a preflight passed through (`preflight_continue`) gets no headers.
#[derive(Clone)]
struct SkipResponseHeaders;

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), v);
    }
}

impl Cors {
    /// Kong's `configure_origin`; returns whether every origin is allowed.
    fn configure_origin(
        &self,
        headers: &mut HeaderMap,
        header_filter: bool,
        origin: Option<&str>,
    ) -> bool {
        if self.allow_all {
            set(headers, "access-control-allow-origin", "*");
            return true;
        }
        vary(headers, header_filter);
        if let Some(single) = &self.single_literal {
            set(headers, "access-control-allow-origin", single);
            return false;
        }
        if let Some(origin) = origin.filter(|o| !o.is_empty()) {
            let (domain, host) = normalize(origin);
            for allowed in &self.origins {
                let found = match allowed {
                    Origin::Any => {
                        set(headers, "access-control-allow-origin", "*");
                        return true;
                    }
                    Origin::Exact(d) => *d == domain,
                    Origin::Pattern { regex, by_host } => {
                        regex.is_match(if *by_host { &host } else { &domain })
                    }
                };
                if found {
                    set(headers, "access-control-allow-origin", &domain);
                    return false;
                }
            }
        }
        headers.remove("access-control-allow-origin");
        false
    }

    fn configure_credentials(
        &self,
        headers: &mut HeaderMap,
        allow_all: bool,
        header_filter: bool,
        origin: Option<&str>,
    ) {
        if !self.config.credentials {
            return;
        }
        if !allow_all {
            set(headers, "access-control-allow-credentials", "true");
            return;
        }
        if let Some(origin) = origin.filter(|o| !o.is_empty()) {
            vary(headers, header_filter);
            set(headers, "access-control-allow-origin", origin);
            set(headers, "access-control-allow-credentials", "true");
        }
    }
}

/// `Vary: Origin`, added to the upstream's `Vary` in header_filter.
fn vary(headers: &mut HeaderMap, append: bool) {
    let value = HeaderValue::from_static("Origin");
    if append {
        headers.append(http::header::VARY, value);
    } else {
        headers.insert(http::header::VARY, value);
    }
}

#[async_trait]
impl Plugin for Cors {
    async fn access(&self, kong: &mut Kong<'_>) -> Flow {
        let req = kong.request();
        let origin = req.header("origin").map(str::to_string);
        let preflight = req.method() == Some(&Method::OPTIONS)
            && origin.as_deref().is_some_and(|o| !o.is_empty())
            && req.header("access-control-request-method").is_some();
        if !preflight {
            return Flow::Continue;
        }
        let request_headers = req
            .header("access-control-request-headers")
            .map(str::to_string);
        let private_network = req.header("access-control-request-private-network") == Some("true");
        kong.shared().insert(SkipResponseHeaders);
        if self.config.preflight_continue {
            return Flow::Continue;
        }
        let mut exit = Exit::status(200);
        let headers = exit.headers_mut();
        let allow_all = self.configure_origin(headers, false, origin.as_deref());
        self.configure_credentials(headers, allow_all, false, origin.as_deref());
        match (&self.config.headers, request_headers) {
            (Some(list), _) if !list.is_empty() => {
                set(headers, "access-control-allow-headers", &list.join(","))
            }
            (_, Some(asked)) => set(headers, "access-control-allow-headers", &asked),
            _ => {}
        }
        let methods = self.config.methods.as_ref().map_or_else(
            || "GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT".to_string(),
            |m| m.join(","),
        );
        set(headers, "access-control-allow-methods", &methods);
        if let Some(max_age) = self.config.max_age {
            set(
                headers,
                "access-control-max-age",
                &super::pdk::log::lua_number(max_age),
            );
        }
        if self.config.private_network && private_network {
            set(headers, "access-control-allow-private-network", "true");
        }
        Flow::Exit(exit)
    }

    fn header_filter(&self, kong: &mut Kong<'_>) {
        if kong.shared().get::<SkipResponseHeaders>().is_some() {
            return;
        }
        let origin = kong.request().header("origin").map(str::to_string);
        if origin.as_deref().is_none_or(str::is_empty) && !self.config.allow_origin_absent {
            return;
        }
        let Ok(headers) = kong.response().headers_mut() else {
            return;
        };
        let allow_all = self.configure_origin(headers, true, origin.as_deref());
        self.configure_credentials(headers, allow_all, true, origin.as_deref());
        if let Some(exposed) = self
            .config
            .exposed_headers
            .as_ref()
            .filter(|e| !e.is_empty())
        {
            set(headers, "access-control-expose-headers", &exposed.join(","));
        }
    }
}
