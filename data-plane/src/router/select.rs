//! Finding the route for one request, with Kong's traditional precedence.
//!
//! Kong's algorithm, which this reproduces, is:
//!
//! 1. Compute the request's *category*: the set of fields for which some route in the table
//!    has a matching value (any route; not necessarily the same one): a plain or wildcard host,
//!    a header name present in the request, a regex or prefix path, the method, the SNI. Along
//!    the way remember the "hits": the first wildcard host, header name and regex path (in
//!    route order) that match, or else the longest matching prefix path.
//! 2. Walk the categories from the request's own one (or from the first, if no route has
//!    exactly that category) towards the less specific ones. Categories sorted before the
//!    request's one are skipped: they need a field the request has no hit for. (The one
//!    exception is SNI over plain HTTP, where the SNI condition is waived: an SNI route is then
//!    only reached when the walk starts above it. That is how Kong fixed its issue #6425.)
//! 3. In the first category holding a matching route, Kong first tries a reduced candidate
//!    list (the category's routes listing the hit host, header name, path or the method, the
//!    shortest of those lists; a header list always wins), then all of the category's routes,
//!    each list in rank order. The first route that matches everything wins.
//!
//! Rather than scanning lists, we enumerate the routes that match the request through the
//! partitions (see `index.rs`), keep those in the best category, and apply step 3 to them:
//! the best-ranked one on the reduced list if any, else the best-ranked one.
//!
//! The hits are only needed in two situations, so they are computed lazily: to pick the
//! reduced list when more than one route of the best category matches, and to find the
//! starting category when it can make a difference: when the table has SNI routes and the
//! request is plain HTTP, or has routes without any condition (which Kong never returns for
//! a request with no hit at all). In every other case a category sorted before the request's
//! own one cannot hold a matching route, so starting from the first category is equivalent.

use http::{HeaderMap, HeaderName};

use super::compile::{Entry, HEADER, HOST, METHOD, PathRule, SNI, URI};
use super::host::{SplitHost, split_port};
use super::index::{Index, NO_CATEGORY, Partition};

/// The request, prepared for matching.
pub struct Request<'a> {
    pub method: &'a str,
    /// The normalised path.
    pub path: &'a [u8],
    /// The Host header as sent, lower-cased.
    pub host: Option<&'a str>,
    /// The Host split into name and port.
    pub split: Option<SplitHost<'a>>,
    /// The port the Host carried, else the scheme's default ("80" or "443").
    pub port: &'a str,
    pub https: bool,
    /// The TLS SNI, lower-cased and without trailing dot.
    pub sni: Option<&'a str>,
    pub headers: &'a HeaderMap,
}

impl<'a> Request<'a> {
    pub fn new(
        method: &'a str,
        path: &'a [u8],
        host: Option<&'a str>,
        https: bool,
        sni: Option<&'a str>,
        headers: &'a HeaderMap,
    ) -> Request<'a> {
        let split = host.map(|h| split_port(h, None));
        let default = if https { "443" } else { "80" };
        // A split port is always the text after the last colon of the Host.
        let port = match &split {
            Some(s) if s.had_port => host
                .and_then(|h| h.rsplit_once(':'))
                .map_or(default, |(_, p)| p),
            _ => default,
        };
        Request {
            method,
            path,
            host,
            split,
            port,
            https,
            sni,
            headers,
        }
    }

    /// The host without port (brackets of an IPv6 literal removed).
    fn host_name(&self) -> Option<&str> {
        self.split.as_ref().map(|s| s.name.as_ref())
    }

    /// Kong's plain-host "hit": some route lists the host, with or without its port (a
    /// port-less Host counting as the default port).
    fn plain_host_hit(&self, index: &Index) -> bool {
        let (Some(split), Some(raw)) = (&self.split, self.host) else {
            return false;
        };
        let name = split.name.as_ref();
        if index.exact_hosts.contains_key(name) {
            return true;
        }
        if split.had_port {
            return index.exact_hosts.contains_key(raw);
        }
        let default_port_hosts = if self.https {
            &index.hosts_on_port_443
        } else {
            &index.hosts_on_port_80
        };
        // "host" and "[v6]" gain ":port" as they are; "host:" loses its colon first.
        default_port_hosts.contains(raw) || default_port_hosts.contains(name)
    }
}

/// Kong's request-wide hits.
#[derive(Debug, Default)]
struct Hits<'a> {
    category: u8,
    wildcard_host: Option<&'a str>,
    header_name: Option<&'a HeaderName>,
    uri: Option<&'a [u8]>,
}

/// Results of path regexes already run for this request (each runs at most once, whether
/// for the hits or for a candidate).
#[derive(Default)]
struct RegexMemo {
    len: usize,
    results: [(u32, bool); 8],
}

impl RegexMemo {
    fn is_match(&mut self, index: &Index, id: u32, path: &[u8]) -> bool {
        if let Some(&(_, m)) = self.results[..self.len].iter().find(|(r, _)| *r == id) {
            return m;
        }
        let m = index.regexes[id as usize].is_match(path);
        if self.len < self.results.len() {
            self.results[self.len] = (id, m);
            self.len += 1;
        }
        m
    }
}

/// The field and key of the reduced candidate list Kong tries first in a category.
enum Reduced<'a> {
    Host(&'a str),
    Header(&'a HeaderName),
    Uri(&'a [u8]),
    Method(&'a str),
    Sni(&'a str),
}

impl Reduced<'_> {
    fn contains(&self, e: &Entry) -> bool {
        match self {
            Reduced::Host(k) => e.hosts.iter().any(|h| h.value() == *k),
            Reduced::Header(k) => e.headers.iter().any(|h| h.name == **k),
            Reduced::Uri(k) => e.path.is_some() && e.path_value == *k,
            Reduced::Method(k) => e.methods.iter().any(|m| m == k),
            Reduced::Sni(k) => e.snis.iter().any(|s| s.value() == *k),
        }
    }
}

/// The matching entries of the best category seen so far.
struct Best {
    category: u16,
    first: u32,
    more: Vec<u32>,
}

struct Selector<'a> {
    index: &'a Index,
    req: &'a Request<'a>,
    memo: RegexMemo,
    start: u16,
    best: Option<Best>,
}

/// Finds the winning entry id, or `None`.
pub fn select<'a>(index: &'a Index, req: &'a Request<'a>) -> Option<u32> {
    let mut s = Selector {
        index,
        req,
        memo: RegexMemo::default(),
        start: 0,
        best: None,
    };
    let mut hits = None;
    if index.has_unconditional || (index.has_snis && !req.https) {
        let h = compute_hits(index, req, &mut s.memo);
        if h.category == 0 {
            return None;
        }
        s.start = match index.category_position[usize::from(h.category)] {
            NO_CATEGORY => 0,
            pos => pos,
        };
        hits = Some(h);
    }
    s.enumerate();
    let best = s.best.take()?;
    if best.more.is_empty() {
        return Some(best.first);
    }
    // Several entries of the best category match: Kong's reduced list decides.
    let hits = match hits {
        Some(h) => h,
        None => compute_hits(index, req, &mut s.memo),
    };
    let reduced = reduce(index, best.category, &hits, req);
    let all = || std::iter::once(best.first).chain(best.more.iter().copied());
    reduced
        .and_then(|r| {
            all()
                .filter(|&id| r.contains(&index.entries[id as usize]))
                .min()
        })
        .or_else(|| all().min())
}

fn compute_hits<'a>(index: &'a Index, req: &'a Request<'a>, memo: &mut RegexMemo) -> Hits<'a> {
    let mut hits = Hits::default();

    // Header names: the first (in route order) present in the request.
    if !index.header_names.is_empty() {
        hits.header_name = index
            .header_names
            .iter()
            .find(|name| req.headers.contains_key(*name));
        if hits.header_name.is_some() {
            hits.category |= HEADER;
        }
    }

    // Host: a plain host (with or without port), else the first matching wildcard.
    if let Some(name) = req.host_name() {
        if req.plain_host_hit(index) {
            hits.category |= HOST;
        } else if !index.wildcards.is_empty() {
            let mut first: Option<(u32, u32)> = None;
            for_each_matching_wildcard(index, name, req.port, |wid| {
                let w = &index.wildcards[wid as usize];
                if first.is_none_or(|f| w.first_seen < f) {
                    first = Some(w.first_seen);
                    hits.wildcard_host = Some(&w.value);
                }
            });
            if hits.wildcard_host.is_some() {
                hits.category |= HOST;
            }
        }
    }

    // Path: the first regex (in route order) that matches, else the longest prefix.
    if !req.path.is_empty() {
        let mut candidates: Vec<(u32, u32)> = Vec::new();
        index
            .regex_hits
            .for_each_prefix(req.path, |_, v| candidates.extend_from_slice(v));
        candidates.sort_unstable();
        for (_, r) in candidates {
            if memo.is_match(index, r, req.path) {
                hits.uri = Some(index.regexes[r as usize].pattern.as_bytes());
                break;
            }
        }
        if hits.uri.is_none()
            && let Some(len) = index.prefix_hits.longest_prefix_len(req.path)
        {
            hits.uri = Some(&req.path[..len]);
        }
        if hits.uri.is_some() {
            hits.category |= URI;
        }
    }

    if index.methods.contains(req.method) {
        hits.category |= METHOD;
    }
    if let Some(sni) = req.sni
        && (index.plain_snis.contains(sni)
            || index.wildcard_snis.iter().any(|w| w.matches(sni, "")))
    {
        hits.category |= SNI;
    }
    hits
}

/// Calls `f` with the id of every wildcard host matching the host `name` on `port` (possibly
/// more than once). Leading wildcards are found by the part after each dot, trailing ones by
/// the part before each dot; each candidate is then checked.
fn for_each_matching_wildcard(index: &Index, name: &str, port: &str, mut f: impl FnMut(u32)) {
    let mut check = |ids: Option<&Vec<u32>>| {
        for &w in ids.into_iter().flatten() {
            if index.wildcards[w as usize].pattern.matches(name, port) {
                f(w);
            }
        }
    };
    let last_label = name.rsplit('.').next().unwrap_or(name);
    let first_label = name.split('.').next().unwrap_or(name);
    let leading = index.wildcard_last_labels.contains(last_label);
    let trailing = index.wildcard_first_labels.contains(first_label);
    if !leading && !trailing {
        return;
    }
    for (i, b) in name.bytes().enumerate() {
        if b != b'.' {
            continue;
        }
        if leading && i > 0 {
            check(index.wildcards_leading.get(&name[i + 1..]));
        }
        if trailing {
            check(index.wildcards_trailing.get(&name[..i]));
        }
    }
}

impl<'a> Selector<'a> {
    fn enumerate(&mut self) {
        let index = self.index;
        let req = self.req;
        if let (Some(raw), Some(name)) = (req.host, req.host_name()) {
            if let Some(p) = index.exact_hosts.get(raw) {
                self.visit(p);
            }
            if name != raw
                && let Some(p) = index.exact_hosts.get(name)
            {
                self.visit(p);
            }
            if !index.wildcards.is_empty() {
                let mut matched: Vec<u32> = Vec::new();
                for_each_matching_wildcard(index, name, req.port, |w| matched.push(w));
                matched.sort_unstable();
                matched.dedup();
                for w in matched {
                    self.visit(&index.wildcards[w as usize].partition);
                }
            }
        }
        self.visit(&index.hostless);
    }

    fn visit(&mut self, partition: &'a Partition) {
        let path = self.req.path;
        partition.for_each_candidate(path, |id| self.offer(id));
    }

    /// Considers entry `id`, already known to match the host and to be a path candidate.
    fn offer(&mut self, id: u32) {
        let index = self.index;
        let category = index.entry_category[id as usize];
        if category < self.start || self.best.as_ref().is_some_and(|b| category > b.category) {
            return;
        }
        let entry = &index.entries[id as usize];
        if let Some(PathRule::Regex(r)) = entry.path
            && !self.memo.is_match(index, r, self.req.path)
        {
            return;
        }
        if !matches_rest(entry, self.req) {
            return;
        }
        match &mut self.best {
            Some(best) if best.category == category => best.more.push(id),
            _ => {
                self.best = Some(Best {
                    category,
                    first: id,
                    more: Vec::new(),
                })
            }
        }
    }
}

/// Kong's choice of the reduced candidate list for a category: the shortest non-empty list
/// among host, path, method and SNI, unless a header list exists, which always wins.
fn reduce<'a>(
    index: &'a Index,
    category: u16,
    hits: &Hits<'a>,
    req: &'a Request<'a>,
) -> Option<Reduced<'a>> {
    let cat = &index.categories[usize::from(category)];
    let mut best: Option<(Reduced<'a>, u32)> = None;
    let mut consider = |candidate: Reduced<'a>, count: Option<&u32>| {
        if let Some(&n) = count
            && best.as_ref().is_none_or(|(_, m)| n < *m)
        {
            best = Some((candidate, n));
        }
    };
    if cat.bits & HOST != 0 {
        let key = hits.wildcard_host.or(req.host).unwrap_or_default();
        consider(Reduced::Host(key), cat.hosts.get(key));
    }
    if cat.bits & HEADER != 0
        && let Some(name) = hits.header_name
        && cat.headers.contains_key(name)
    {
        return Some(Reduced::Header(name));
    }
    if cat.bits & URI != 0
        && let Some(uri) = hits.uri
    {
        consider(Reduced::Uri(uri), cat.uris.get(uri));
    }
    if cat.bits & METHOD != 0 {
        consider(Reduced::Method(req.method), cat.methods.get(req.method));
    }
    if cat.bits & SNI != 0 {
        let sni = req.sni.unwrap_or_default();
        consider(Reduced::Sni(sni), cat.snis.get(sni));
    }
    best.map(|(r, _)| r)
}

/// Checks the conditions not covered by the partition walk: methods, headers, SNI.
fn matches_rest(entry: &Entry, req: &Request<'_>) -> bool {
    if entry.stream_only {
        return false;
    }
    if !entry.methods.is_empty() && !entry.methods.iter().any(|m| m == req.method) {
        return false;
    }
    for rule in &entry.headers {
        let found = req.headers.get_all(&rule.name).iter().any(|value| {
            let v = value.as_bytes();
            rule.values
                .iter()
                .any(|accepted| accepted.eq_ignore_ascii_case(v))
                || rule
                    .regex
                    .as_ref()
                    .is_some_and(|re| re.is_match(&v.to_ascii_lowercase()))
        });
        if !found {
            return false;
        }
    }
    if !entry.snis.is_empty() && req.https {
        let Some(sni) = req.sni else {
            return false;
        };
        if !entry.snis.iter().any(|s| s.matches(sni)) {
            return false;
        }
    }
    true
}
