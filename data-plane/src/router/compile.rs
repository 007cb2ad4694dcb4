//! Turns routes into match entries: one entry per (route, path), as Kong splits a route with
//! several paths so that each path is ranked on its own (`/a` and `/bbbbbbb` of one route do not
//! share the priority of the longer one).

use std::collections::HashMap;
use std::sync::Arc;

use common::model::{PathHandling, Protocol, Route, Service};
use http::HeaderName;

use super::RouteError as RouterError;
use super::host::{WildcardHost, lowercase};
use super::regex::{HeaderRegex, PathRegex};

/// Category bits, most significant first. A route's category is the set of fields it matches
/// on; categories with more fields are tried first, and between categories with as many fields
/// the one with the higher bits wins (host > headers > path > method > SNI).
pub const HOST: u8 = 0x40;
pub const HEADER: u8 = 0x20;
pub const URI: u8 = 0x10;
pub const METHOD: u8 = 0x08;
pub const SNI: u8 = 0x04;
pub const SRC: u8 = 0x02;
pub const DST: u8 = 0x01;

/// Sub-weights ordering entries inside a category (compared as a number, higher first).
pub const HAS_REGEX_URI: u8 = 0x01;
pub const PLAIN_HOSTS_ONLY: u8 = 0x02;
pub const HAS_WILDCARD_HOST_PORT: u8 = 0x04;

/// One value of a route's `hosts`, lower-cased.
#[derive(Debug, Clone)]
pub enum HostValue {
    Plain(String),
    Wildcard {
        value: String,
        pattern: WildcardHost,
    },
}

impl HostValue {
    /// The value as configured (lower-cased), the key of Kong's per-host candidate lists.
    pub fn value(&self) -> &str {
        match self {
            HostValue::Plain(v) | HostValue::Wildcard { value: v, .. } => v,
        }
    }
}

/// One value of a route's `snis`, lower-cased and without a trailing dot.
#[derive(Debug, Clone)]
pub enum SniValue {
    Plain(String),
    /// Wildcard SNIs never match in Kong's traditional router (it looks SNIs up verbatim); we
    /// match them like wildcard hosts, as Kong's other router flavors do (catalogue §2.2 #35).
    Wildcard {
        value: String,
        pattern: WildcardHost,
    },
}

impl SniValue {
    pub fn value(&self) -> &str {
        match self {
            SniValue::Plain(v) | SniValue::Wildcard { value: v, .. } => v,
        }
    }

    pub fn matches(&self, sni: &str) -> bool {
        match self {
            SniValue::Plain(v) => v == sni,
            SniValue::Wildcard { pattern, .. } => pattern.matches(sni, ""),
        }
    }
}

/// A header condition: the header must be present with one of `values` (compared
/// case-insensitively), or match `regex` when the route gave a single `~*pattern` value.
#[derive(Debug, Clone)]
pub struct HeaderRule {
    pub name: HeaderName,
    pub values: Vec<Vec<u8>>,
    pub regex: Option<HeaderRegex>,
}

/// The path condition of an entry.
#[derive(Debug, Clone, Copy)]
pub enum PathRule {
    Prefix,
    /// Index into the router's deduplicated regex table.
    Regex(u32),
}

/// One (route, path) pair with everything needed to match and rank it.
#[derive(Debug)]
pub struct Entry {
    /// Index of the route in the router's route table.
    pub route: u32,
    /// Category bits (see [`HOST`] ...).
    pub rules: u8,
    pub submatch: u8,
    pub header_count: usize,
    pub regex_priority: i64,
    /// Length of the prefix path (0 for regex paths and path-less entries).
    pub max_uri_len: usize,
    pub created_at: i64,
    pub hosts: Vec<HostValue>,
    pub headers: Vec<HeaderRule>,
    /// The path as configured (without `~` for regexes), or empty when the entry has none.
    pub path_value: Vec<u8>,
    pub path: Option<PathRule>,
    pub methods: Vec<String>,
    pub snis: Vec<SniValue>,
    /// `sources`/`destinations` only make sense on stream routes; an HTTP entry carrying them
    /// can never match (Kong compares them with an empty client address).
    pub stream_only: bool,
    /// What describing a match needs from the route and its service, copied here so that a
    /// lookup does not have to dereference them (each would be a cache miss).
    pub strip_path: bool,
    pub path_handling: PathHandling,
    pub preserve_host: bool,
    /// The service's `path`; `None` means `/`.
    pub service_path: Option<Box<[u8]>>,
}

/// Regexes shared by all entries, compiled once per distinct pattern.
#[derive(Debug, Default)]
pub struct RegexTable {
    pub regexes: Vec<PathRegex>,
    by_pattern: HashMap<String, u32>,
}

impl RegexTable {
    fn intern(&mut self, pattern: &str) -> Result<u32, String> {
        if let Some(&id) = self.by_pattern.get(pattern) {
            return Ok(id);
        }
        let compiled = PathRegex::compile(pattern)?;
        let id = u32::try_from(self.regexes.len()).map_err(|_| "too many regexes".to_string())?;
        self.regexes.push(compiled);
        self.by_pattern.insert(pattern.to_string(), id);
        Ok(id)
    }
}

/// How a route is named in errors: its name when it has one, and always its id.
pub fn describe(route: &Route) -> String {
    match &route.name {
        Some(name) => format!("'{name}' ({})", route.id),
        None => route.id.to_string(),
    }
}

/// Whether the route belongs to the HTTP router (Kong keeps stream routes in another one).
pub fn is_http_route(route: &Route) -> bool {
    route.protocols.iter().any(|p| p.is_http())
}

/// Whether a service can be the target of an HTTP route. Kong drops (logs and ignores) a
/// stream service found behind an HTTP route, which leaves the route service-less.
pub fn is_http_service(service: &Service) -> bool {
    matches!(
        service.protocol,
        Protocol::Http | Protocol::Https | Protocol::Grpc | Protocol::Grpcs
    )
}

/// The parts of an entry that do not depend on the path.
struct Common {
    rules: u8,
    submatch: u8,
    hosts: Vec<HostValue>,
    headers: Vec<HeaderRule>,
    methods: Vec<String>,
    snis: Vec<SniValue>,
}

fn compile_hosts(route: &Route, c: &mut Common) -> Result<(), RouterError> {
    let Some(hosts) = &route.hosts else {
        return Ok(());
    };
    let mut has_wildcard = false;
    for raw in hosts {
        let host = lowercase(raw).into_owned();
        if host.contains('*') {
            let pattern =
                WildcardHost::parse(&host).map_err(|reason| RouterError::InvalidHost {
                    route: describe(route),
                    host: raw.clone(),
                    reason: reason.to_string(),
                })?;
            has_wildcard = true;
            if pattern.port.is_some() {
                c.submatch |= HAS_WILDCARD_HOST_PORT;
            }
            c.hosts.push(HostValue::Wildcard {
                value: host,
                pattern,
            });
        } else {
            c.hosts.push(HostValue::Plain(host));
        }
    }
    if !c.hosts.is_empty() {
        c.rules |= HOST;
    }
    // Kong sets this for any `hosts` list without wildcards, even an empty one.
    if !has_wildcard {
        c.submatch |= PLAIN_HOSTS_ONLY;
    }
    Ok(())
}

fn compile_headers(route: &Route, c: &mut Common) -> Result<(), RouterError> {
    let Some(headers) = &route.headers else {
        return Ok(());
    };
    for (name, values) in headers {
        let lower = name.to_ascii_lowercase();
        if lower == "host" {
            continue;
        }
        let invalid = |reason: String| RouterError::InvalidHeader {
            route: describe(route),
            name: name.clone(),
            reason,
        };
        let header =
            HeaderName::from_bytes(lower.as_bytes()).map_err(|e| invalid(e.to_string()))?;
        let regex = match values.as_slice() {
            [only] if only.starts_with("~*") => {
                Some(HeaderRegex::compile(&only[2..]).map_err(invalid)?)
            }
            _ => None,
        };
        c.headers.push(HeaderRule {
            name: header,
            values: values
                .iter()
                .map(|v| v.to_ascii_lowercase().into_bytes())
                .collect(),
            regex,
        });
    }
    if !c.headers.is_empty() {
        c.rules |= HEADER;
    }
    Ok(())
}

fn compile_snis(route: &Route, c: &mut Common) -> Result<(), RouterError> {
    let Some(snis) = &route.snis else {
        return Ok(());
    };
    for raw in snis {
        let mut sni = lowercase(raw).into_owned();
        if sni.len() > 1 && sni.ends_with('.') {
            sni.pop();
        }
        if sni.contains('*') {
            let pattern = WildcardHost::parse(&sni).map_err(|reason| RouterError::InvalidSni {
                route: describe(route),
                sni: raw.clone(),
                reason: reason.to_string(),
            })?;
            c.snis.push(SniValue::Wildcard {
                value: sni,
                pattern,
            });
        } else {
            c.snis.push(SniValue::Plain(sni));
        }
    }
    if !c.snis.is_empty() {
        c.rules |= SNI;
    }
    Ok(())
}

/// Compiles one route into its entries (one per path, or one when it has no path), appending
/// them to `out`.
pub fn compile_route(
    route_idx: u32,
    route: &Arc<Route>,
    service: Option<&Service>,
    regexes: &mut RegexTable,
    out: &mut Vec<Entry>,
) -> Result<(), RouterError> {
    let r = route.as_ref();
    if r.hosts.is_none()
        && r.headers.is_none()
        && r.methods.is_none()
        && r.paths.is_none()
        && r.snis.is_none()
        && r.sources.is_none()
        && r.destinations.is_none()
    {
        return Err(RouterError::Uncategorizable { route: describe(r) });
    }
    let mut common = Common {
        rules: 0,
        submatch: 0,
        hosts: Vec::new(),
        headers: Vec::new(),
        methods: Vec::new(),
        snis: Vec::new(),
    };
    compile_hosts(r, &mut common)?;
    compile_headers(r, &mut common)?;
    if let Some(methods) = &r.methods {
        for m in methods {
            let m = m.to_ascii_uppercase();
            if !common.methods.contains(&m) {
                common.methods.push(m);
            }
        }
        if !common.methods.is_empty() {
            common.rules |= METHOD;
        }
    }
    compile_snis(r, &mut common)?;
    let mut stream_only = false;
    if r.sources.as_ref().is_some_and(|s| !s.is_empty()) {
        common.rules |= SRC;
        stream_only = true;
    }
    if r.destinations.as_ref().is_some_and(|d| !d.is_empty()) {
        common.rules |= DST;
        stream_only = true;
    }

    let paths: &[String] = r.paths.as_deref().unwrap_or_default();
    let make = |path: Option<(Vec<u8>, Option<PathRule>)>| -> Entry {
        let mut rules = common.rules;
        let mut submatch = common.submatch;
        let (path_value, rule) = path.unwrap_or_default();
        let mut max_uri_len = 0;
        match rule {
            Some(PathRule::Prefix) => {
                rules |= URI;
                max_uri_len = path_value.len();
            }
            Some(PathRule::Regex(_)) => {
                rules |= URI;
                submatch |= HAS_REGEX_URI;
            }
            None => {}
        }
        Entry {
            route: route_idx,
            rules,
            submatch,
            header_count: common.headers.len(),
            regex_priority: r.regex_priority,
            max_uri_len,
            created_at: r.created_at,
            hosts: common.hosts.clone(),
            headers: common.headers.clone(),
            path_value,
            path: rule,
            methods: common.methods.clone(),
            snis: common.snis.clone(),
            stream_only,
            strip_path: r.strip_path,
            path_handling: r.path_handling,
            preserve_host: r.preserve_host,
            service_path: service
                .and_then(|s| s.path.as_deref())
                .map(|p| p.as_bytes().into()),
        }
    };
    if paths.is_empty() {
        out.push(make(None));
        return Ok(());
    }
    for path in paths {
        let compiled = match path.strip_prefix('~') {
            Some(pattern) => {
                let id = regexes
                    .intern(pattern)
                    .map_err(|reason| RouterError::InvalidRegex {
                        route: describe(r),
                        path: path.clone(),
                        reason,
                    })?;
                (pattern.as_bytes().to_vec(), Some(PathRule::Regex(id)))
            }
            None => (path.as_bytes().to_vec(), Some(PathRule::Prefix)),
        };
        out.push(make(Some(compiled)));
    }
    Ok(())
}

/// Kong's ordering of entries (a stable sort keeps input order for full ties):
/// 1. higher sub-weight (wildcard host with port > plain hosts only > regex path),
/// 2. more headers,
/// 3. for regex paths, higher `regex_priority`,
/// 4. longer prefix path,
/// 5. older `created_at`.
pub fn kong_order(a: &Entry, b: &Entry) -> std::cmp::Ordering {
    b.submatch
        .cmp(&a.submatch)
        .then_with(|| b.header_count.cmp(&a.header_count))
        .then_with(|| {
            if a.submatch & HAS_REGEX_URI != 0 {
                b.regex_priority.cmp(&a.regex_priority)
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .then_with(|| b.max_uri_len.cmp(&a.max_uri_len))
        .then_with(|| a.created_at.cmp(&b.created_at))
}
