//! A deliberately naive model of Kong's traditional router, written to follow
//! `kong/router/traditional.lua` step by step (marshal each route per path, sort, categorize
//! into per-key candidate lists, compute the request category and hits, walk categories,
//! try the reduced list then the whole category). No indexes: every list is scanned.
//!
//! The indexed router must pick exactly the same route; `differential_*` tests check that on
//! random route tables built from small vocabularies, so that collisions and ties are common.
//! The model shares only leaf helpers with the router (path normalisation, `split_port`,
//! wildcard pattern matching, regex compilation), which have their own tests.

use std::collections::HashMap;
use std::sync::Arc;

use common::model::Route;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::{Req, route};
use crate::router::host::{WildcardHost, split_port};
use crate::router::path::normalize;
use crate::router::regex::{HeaderRegex, PathRegex};

const HOST: u8 = 0x40;
const HEADER: u8 = 0x20;
const URI: u8 = 0x10;
const METHOD: u8 = 0x08;
const SNI: u8 = 0x04;
const SORTED_RULES: [u8; 5] = [HOST, HEADER, URI, METHOD, SNI];

struct HeaderT {
    name: String,
    values: Vec<String>,
    pattern: Option<HeaderRegex>,
}

struct UriT {
    value: String,
    regex: Option<PathRegex>,
}

/// Kong's `route_t`.
struct RouteT {
    route: usize,
    rules: u8,
    submatch: u8,
    hosts: Vec<(String, Option<WildcardHost>)>,
    headers: Vec<HeaderT>,
    uri: Option<UriT>,
    methods: Vec<String>,
    snis: Vec<String>,
    regex_priority: i64,
    max_uri_length: usize,
    created_at: i64,
}

fn marshal(idx: usize, r: &Route, path: Option<&String>) -> RouteT {
    let mut t = RouteT {
        route: idx,
        rules: 0,
        submatch: 0,
        hosts: Vec::new(),
        headers: Vec::new(),
        uri: None,
        methods: Vec::new(),
        snis: Vec::new(),
        regex_priority: r.regex_priority,
        max_uri_length: 0,
        created_at: r.created_at,
    };
    if let Some(hosts) = &r.hosts {
        let mut wildcard = false;
        let mut wildcard_port = false;
        for h in hosts {
            let h = h.to_ascii_lowercase();
            if h.contains('*') {
                wildcard = true;
                let w = WildcardHost::parse(&h).unwrap();
                wildcard_port |= w.port.is_some();
                t.hosts.push((h, Some(w)));
            } else {
                t.hosts.push((h, None));
            }
        }
        if !t.hosts.is_empty() {
            t.rules |= HOST;
        }
        if !wildcard {
            t.submatch |= 0x02;
        }
        if wildcard_port {
            t.submatch |= 0x04;
        }
    }
    if let Some(headers) = &r.headers {
        for (name, values) in headers {
            let pattern = match values.as_slice() {
                [v] if v.starts_with("~*") => Some(HeaderRegex::compile(&v[2..]).unwrap()),
                _ => None,
            };
            t.headers.push(HeaderT {
                name: name.to_ascii_lowercase(),
                values: values.iter().map(|v| v.to_ascii_lowercase()).collect(),
                pattern,
            });
        }
        if !t.headers.is_empty() {
            t.rules |= HEADER;
        }
    }
    if let Some(p) = path {
        t.rules |= URI;
        match p.strip_prefix('~') {
            Some(re) => {
                t.submatch |= 0x01;
                t.uri = Some(UriT {
                    value: re.to_string(),
                    regex: Some(PathRegex::compile(re).unwrap()),
                });
            }
            None => {
                t.max_uri_length = p.len();
                t.uri = Some(UriT {
                    value: p.clone(),
                    regex: None,
                });
            }
        }
    }
    if let Some(methods) = &r.methods {
        for m in methods {
            if !t.methods.contains(m) {
                t.methods.push(m.clone());
            }
        }
        if !t.methods.is_empty() {
            t.rules |= METHOD;
        }
    }
    if let Some(snis) = &r.snis {
        t.snis.clone_from(snis);
        if !t.snis.is_empty() {
            t.rules |= SNI;
        }
    }
    t
}

/// `sort_routes` of traditional.lua.
fn sort_routes(a: &RouteT, b: &RouteT) -> std::cmp::Ordering {
    use std::cmp::Ordering::Equal;
    if a.submatch != b.submatch {
        return b.submatch.cmp(&a.submatch);
    }
    if a.headers.len() != b.headers.len() {
        return b.headers.len().cmp(&a.headers.len());
    }
    if a.submatch & 0x01 != 0 && a.regex_priority != b.regex_priority {
        return b.regex_priority.cmp(&a.regex_priority);
    }
    if a.max_uri_length != b.max_uri_length {
        return b.max_uri_length.cmp(&a.max_uri_length);
    }
    if a.created_at != b.created_at {
        return a.created_at.cmp(&b.created_at);
    }
    Equal
}

#[derive(Default)]
struct Category {
    all: Vec<usize>,
    by_host: HashMap<String, Vec<usize>>,
    by_header: HashMap<String, Vec<usize>>,
    by_uri: HashMap<String, Vec<usize>>,
    by_method: HashMap<String, Vec<usize>>,
    by_sni: HashMap<String, Vec<usize>>,
}

pub struct Model {
    routes: Vec<RouteT>,
    categories: HashMap<u8, Category>,
    order: Vec<u8>,
    plain_hosts: Vec<String>,
    header_names: Vec<String>,
    plain_uris: Vec<String>,
    prefix_uris: Vec<String>,
    regex_uris: Vec<usize>,
    wildcard_hosts: Vec<(String, WildcardHost)>,
    methods: Vec<String>,
    snis: Vec<String>,
}

impl Model {
    pub fn new(routes: &[Arc<Route>]) -> Model {
        let mut ts = Vec::new();
        for (i, r) in routes.iter().enumerate() {
            match r.paths.as_deref() {
                Some(paths) if !paths.is_empty() => {
                    for p in paths {
                        ts.push(marshal(i, r, Some(p)));
                    }
                }
                _ => ts.push(marshal(i, r, None)),
            }
        }
        ts.sort_by(sort_routes);
        let mut m = Model {
            routes: Vec::new(),
            categories: HashMap::new(),
            order: Vec::new(),
            plain_hosts: Vec::new(),
            header_names: Vec::new(),
            plain_uris: Vec::new(),
            prefix_uris: Vec::new(),
            regex_uris: Vec::new(),
            wildcard_hosts: Vec::new(),
            methods: Vec::new(),
            snis: Vec::new(),
        };
        for (i, t) in ts.iter().enumerate() {
            let c = m.categories.entry(t.rules).or_default();
            c.all.push(i);
            for (h, w) in &t.hosts {
                c.by_host.entry(h.clone()).or_default().push(i);
                match w {
                    Some(w) => m.wildcard_hosts.push((h.clone(), w.clone())),
                    None => m.plain_hosts.push(h.clone()),
                }
            }
            for h in &t.headers {
                c.by_header.entry(h.name.clone()).or_default().push(i);
                if !m.header_names.contains(&h.name) {
                    m.header_names.push(h.name.clone());
                }
            }
            if let Some(u) = &t.uri {
                c.by_uri.entry(u.value.clone()).or_default().push(i);
                if u.regex.is_some() {
                    m.regex_uris.push(i);
                } else {
                    m.plain_uris.push(u.value.clone());
                    m.prefix_uris.push(u.value.clone());
                }
            }
            for x in &t.methods {
                c.by_method.entry(x.clone()).or_default().push(i);
                m.methods.push(x.clone());
            }
            for x in &t.snis {
                c.by_sni.entry(x.clone()).or_default().push(i);
                m.snis.push(x.clone());
            }
        }
        m.prefix_uris.sort_by_key(|p| std::cmp::Reverse(p.len()));
        m.order = m.categories.keys().copied().collect();
        m.order
            .sort_by(|a, b| b.count_ones().cmp(&a.count_ones()).then(b.cmp(a)));
        m.routes = ts;
        m
    }

    /// The index of the matched route (in the input order), if any.
    pub fn find(&self, r: &Req) -> Option<usize> {
        let path = normalize(&r.path).into_owned();
        let https = r.scheme.is_tls();
        let raw_host = r.host.as_ref().map(|h| h.to_ascii_lowercase());
        let split = raw_host
            .as_deref()
            .map(|h| split_port(h, Some(if https { 443 } else { 80 })));
        let sni = r.sni.clone().unwrap_or_default();
        let port = split
            .as_ref()
            .and_then(|s| s.port().map(str::to_string))
            .unwrap_or_else(|| if https { "443" } else { "80" }.to_string());
        let header_values = |name: &str| -> Vec<Vec<u8>> {
            r.headers
                .get_all(name)
                .iter()
                .map(|v| v.as_bytes().to_ascii_lowercase())
                .collect()
        };

        // Category and hits.
        let mut category = 0u8;
        let mut hit_header: Option<&String> = None;
        for name in &self.header_names {
            if r.headers.contains_key(name.as_str()) {
                hit_header = Some(name);
                category |= HEADER;
                break;
            }
        }
        let mut hit_host: Option<&String> = None;
        if let Some(s) = &split {
            if self
                .plain_hosts
                .iter()
                .any(|h| *h == s.with_port || *h == s.name)
            {
                category |= HOST;
            } else if let Some((v, _)) = self
                .wildcard_hosts
                .iter()
                .find(|(_, w)| w.matches(&s.name, &port))
            {
                hit_host = Some(v);
                category |= HOST;
            }
        }
        let mut hit_uri: Option<String> = None;
        if !path.is_empty() {
            for &i in &self.regex_uris {
                let u = self.routes[i].uri.as_ref().unwrap();
                if u.regex.as_ref().unwrap().is_match(&path) {
                    hit_uri = Some(u.value.clone());
                    break;
                }
            }
            if hit_uri.is_none() {
                if self
                    .plain_uris
                    .iter()
                    .any(|u| u.as_bytes() == path.as_slice())
                {
                    hit_uri = Some(String::from_utf8_lossy(&path).into_owned());
                } else if let Some(p) = self
                    .prefix_uris
                    .iter()
                    .find(|p| path.starts_with(p.as_bytes()))
                {
                    hit_uri = Some(p.clone());
                }
            }
            if hit_uri.is_some() {
                category |= URI;
            }
        }
        if self.methods.contains(&r.method) {
            category |= METHOD;
        }
        if !sni.is_empty() && self.snis.contains(&sni) {
            category |= SNI;
        }
        if category == 0 {
            return None;
        }

        let matches = |t: &RouteT| -> bool {
            if t.rules & HOST != 0 {
                let Some(s) = &split else { return false };
                let raw = raw_host.as_deref().unwrap_or_default();
                let ok = t.hosts.iter().any(|(h, w)| match w {
                    None => h == raw || *h == s.name,
                    Some(w) => w.matches(&s.name, &port),
                });
                if !ok {
                    return false;
                }
            }
            for h in &t.headers {
                let values = header_values(&h.name);
                let ok = values.iter().any(|v| {
                    h.values.iter().any(|a| a.as_bytes() == v.as_slice())
                        || h.pattern.as_ref().is_some_and(|p| p.is_match(v))
                });
                if !ok {
                    return false;
                }
            }
            if let Some(u) = &t.uri {
                if path.is_empty() {
                    return false;
                }
                let ok = match &u.regex {
                    Some(re) => re.is_match(&path),
                    None => path.starts_with(u.value.as_bytes()),
                };
                if !ok {
                    return false;
                }
            }
            if t.rules & METHOD != 0 && !t.methods.contains(&r.method) {
                return false;
            }
            if t.rules & SNI != 0 && https && !t.snis.contains(&sni) {
                return false;
            }
            true
        };

        let start = self.order.iter().position(|c| *c == category).unwrap_or(0);
        for bits in &self.order[start..] {
            let cat = &self.categories[bits];
            let mut smallest: Option<&Vec<usize>> = None;
            let mut header_set: Option<&Vec<usize>> = None;
            for rule in SORTED_RULES {
                if bits & rule == 0 {
                    continue;
                }
                let candidates = match rule {
                    HOST => {
                        let key = hit_host.cloned().or(raw_host.clone()).unwrap_or_default();
                        cat.by_host.get(&key)
                    }
                    HEADER => hit_header.and_then(|h| cat.by_header.get(h)),
                    URI => hit_uri.as_ref().and_then(|u| cat.by_uri.get(u)),
                    METHOD => cat.by_method.get(&r.method),
                    _ => cat.by_sni.get(&sni),
                };
                if let Some(c) = candidates {
                    if rule == HEADER {
                        header_set = Some(c);
                        break;
                    }
                    if smallest.is_none_or(|s| c.len() < s.len()) {
                        smallest = Some(c);
                    }
                }
            }
            let reduced = header_set.or(smallest);
            if let Some(list) = reduced
                && let Some(&i) = list.iter().find(|&&i| matches(&self.routes[i]))
            {
                return Some(self.routes[i].route);
            }
            if let Some(&i) = cat.all.iter().find(|&&i| matches(&self.routes[i])) {
                return Some(self.routes[i].route);
            }
        }
        None
    }
}

/// Picks one element.
fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// Picks one string.
fn pick_str(rng: &mut StdRng, items: &[&'static str]) -> &'static str {
    items[rng.random_range(0..items.len())]
}

/// Some elements (possibly none).
fn some<T: Clone>(rng: &mut StdRng, items: &[T], max: usize) -> Vec<T> {
    let n = rng.random_range(0..=max.min(items.len()));
    (0..n).map(|_| pick(rng, items).clone()).collect()
}

const HOSTS: &[&str] = &[
    "a.com",
    "b.com",
    "a.com:8000",
    "A.com",
    "*.a.com",
    "*.com",
    "a.*",
    "b.*:8000",
    "*.a.com:80",
    "x.a.com",
    "a.com:80",
    "c.com:443",
];
const PATHS: &[&str] = &[
    "/",
    "/a",
    "/a/b",
    "/ab",
    "/a/b/c",
    "/b",
    "~/a/\\d+",
    "~/a/b.*",
    "~/(a|b)/c",
    "~/x?",
    "~/a",
    "/a%2Fb",
];
const METHODS: &[&str] = &["GET", "POST", "PUT"];
const SNIS: &[&str] = &["s.com", "t.com"];

fn random_route(rng: &mut StdRng) -> Arc<Route> {
    let mut fields = serde_json::Map::new();
    // At least one matching field, like every valid Kong route.
    loop {
        if rng.random_bool(0.5) {
            fields.insert("hosts".into(), json!(some(rng, HOSTS, 3)));
        }
        if rng.random_bool(0.6) {
            fields.insert("paths".into(), json!(some(rng, PATHS, 3)));
        }
        if rng.random_bool(0.25) {
            fields.insert("methods".into(), json!(some(rng, METHODS, 2)));
        }
        if rng.random_bool(0.2) {
            let mut h = serde_json::Map::new();
            if rng.random_bool(0.7) {
                h.insert("version".into(), json!(some(rng, &["v1", "V2", "v3"], 2)));
            }
            if rng.random_bool(0.4) {
                h.insert("location".into(), json!(["east"]));
            }
            if rng.random_bool(0.2) {
                h.insert("user-agent".into(), json!(["~*curl|wget"]));
            }
            fields.insert("headers".into(), Value::Object(h));
        }
        if rng.random_bool(0.1) {
            fields.insert("snis".into(), json!(some(rng, SNIS, 2)));
        }
        if !fields.is_empty() {
            break;
        }
    }
    fields.insert("regex_priority".into(), json!(rng.random_range(0..3)));
    fields.insert("created_at".into(), json!(rng.random_range(0..3)));
    route(Value::Object(fields))
}

fn random_request(rng: &mut StdRng) -> Req {
    let host = *pick(
        rng,
        &[
            None,
            Some("a.com"),
            Some("a.com:8000"),
            Some("a.com:80"),
            Some("x.a.com"),
            Some("y.x.a.com:443"),
            Some("a.org"),
            Some("b.org:8000"),
            Some("B.COM"),
            Some("c.com"),
            Some("[::1]:80"),
        ],
    );
    let path = *pick(
        rng,
        &[
            "/", "/a", "/a/b", "/a/1", "/a/b/c/d", "/ab", "/b/c", "/x", "/a/../b", "/A", "",
            "/a%2Fb/c", "/a%2fb", "//a//b", "/%61/12",
        ],
    );
    let mut r = super::req(pick_str(rng, METHODS), path, host);
    if rng.random_bool(0.3) {
        r = r.header("version", pick_str(rng, &["v1", "v2", "V3", "x"]));
    }
    if rng.random_bool(0.2) {
        r = r.header("location", pick_str(rng, &["east", "EAST", "west"]));
    }
    if rng.random_bool(0.1) {
        r = r.header("user-agent", pick_str(rng, &["Curl/8", "firefox"]));
    }
    if rng.random_bool(0.3) {
        r = r.https(*pick(
            rng,
            &[None, Some("s.com"), Some("t.com"), Some("u.com")],
        ));
    }
    r
}

fn differential(seed: u64, tables: usize, max_routes: usize, requests: usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    for t in 0..tables {
        let n = rng.random_range(1..=max_routes);
        let routes: Vec<Arc<Route>> = (0..n).map(|_| random_route(&mut rng)).collect();
        let model = Model::new(&routes);
        let router = super::router(&routes);
        for _ in 0..requests {
            let r = random_request(&mut rng);
            let expected = model.find(&r);
            let got =
                super::matched(&router, &r).and_then(|id| routes.iter().position(|x| x.id == id));
            if expected != got {
                let table: Vec<String> = routes
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        format!(
                            "#{i}: hosts={:?} paths={:?} methods={:?} headers={:?} snis={:?} prio={} created={}",
                            r.hosts, r.paths, r.methods, r.headers, r.snis, r.regex_priority, r.created_at
                        )
                    })
                    .collect();
                panic!(
                    "seed {seed} table {t}: request {} {:?} host={:?} scheme={:?} sni={:?} headers={:?}\n\
                     model chose {expected:?}, router chose {got:?}\n{}",
                    r.method,
                    r.path,
                    r.host,
                    r.scheme,
                    r.sni,
                    r.headers,
                    table.join("\n")
                );
            }
        }
    }
}

#[test]
fn differential_small_tables() {
    differential(1, 2000, 4, 40);
}

#[test]
fn differential_larger_tables() {
    differential(2, 250, 25, 80);
}
