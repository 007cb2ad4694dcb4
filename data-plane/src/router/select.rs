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

use http::{HeaderMap, HeaderName};

use super::compile::{Entry, HEADER, HOST, METHOD, PathRule, SNI, URI};
use super::host::SplitHost;
use super::index::{Index, NO_CATEGORY, Partition};

/// The request, prepared for matching.
pub struct Request<'a> {
    pub method: &'a str,
    /// The normalised path.
    pub path: &'a [u8],
    /// The Host header as sent, lower-cased.
    pub host: Option<&'a str>,
    pub split: Option<SplitHost<'a>>,
    pub https: bool,
    /// The TLS SNI, lower-cased and without trailing dot.
    pub sni: Option<&'a str>,
    pub headers: &'a HeaderMap,
}

/// Kong's request-wide hits.
#[derive(Debug, Default)]
struct Hits<'a> {
    category: u8,
    wildcard_host: Option<&'a str>,
    header_name: Option<&'a HeaderName>,
    uri: Option<&'a [u8]>,
}

/// Results of path regexes already run for this request (each runs at most once).
#[derive(Default)]
struct RegexMemo {
    results: Vec<(u32, bool)>,
}

impl RegexMemo {
    fn is_match(&mut self, index: &Index, id: u32, path: &[u8]) -> bool {
        if let Some(&(_, m)) = self.results.iter().find(|(r, _)| *r == id) {
            return m;
        }
        let m = index.regexes[id as usize].is_match(path);
        self.results.push((id, m));
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

/// The winner so far: the best category seen, its reduced list, and the best-ranked entries.
struct Best<'a> {
    category: u16,
    reduced: Option<Reduced<'a>>,
    any: u32,
    on_reduced: Option<u32>,
}

struct Selector<'a> {
    index: &'a Index,
    req: &'a Request<'a>,
    hits: Hits<'a>,
    memo: RegexMemo,
    start: u16,
    best: Option<Best<'a>>,
}

/// Finds the winning entry id, or `None`.
pub fn select<'a>(index: &'a Index, req: &'a Request<'a>) -> Option<u32> {
    let mut memo = RegexMemo::default();
    let hits = compute_hits(index, req, &mut memo);
    if hits.category == 0 {
        return None;
    }
    let start = match index.category_position[usize::from(hits.category)] {
        NO_CATEGORY => 0,
        pos => pos,
    };
    let mut s = Selector {
        index,
        req,
        hits,
        memo,
        start,
        best: None,
    };
    s.enumerate();
    s.best.map(|b| b.on_reduced.unwrap_or(b.any))
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
    if let Some(split) = &req.split {
        if index.exact_hosts.contains_key(split.with_port.as_ref())
            || index.exact_hosts.contains_key(split.name.as_ref())
        {
            hits.category |= HOST;
        } else if !index.wildcards.is_empty() {
            let mut first: Option<(u32, u32)> = None;
            for_each_matching_wildcard(index, &split.with_port, |wid| {
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
        && (index.plain_snis.contains(sni) || index.wildcard_snis.iter().any(|w| w.matches(sni)))
    {
        hits.category |= SNI;
    }
    hits
}

/// Calls `f` with the id of every wildcard host matching "host:port" (possibly more than once).
/// Leading wildcards are found by the part after each dot (with and without the port),
/// trailing ones by the part before each dot; each candidate is then checked.
fn for_each_matching_wildcard(index: &Index, with_port: &str, mut f: impl FnMut(u32)) {
    let stem = strip_port(with_port);
    let mut check = |ids: Option<&Vec<u32>>| {
        for &w in ids.into_iter().flatten() {
            if index.wildcards[w as usize].pattern.matches(with_port) {
                f(w);
            }
        }
    };
    for (i, b) in with_port.bytes().enumerate() {
        if b != b'.' {
            continue;
        }
        if i > 0 {
            check(index.wildcards_leading.get(&with_port[i + 1..]));
            if let Some(stem) = stem
                && i + 1 < stem.len()
            {
                check(index.wildcards_leading.get(&stem[i + 1..]));
            }
        }
        check(index.wildcards_trailing.get(&with_port[..i]));
    }
}

/// "host:123" -> "host" (only when the port is decimal).
fn strip_port(s: &str) -> Option<&str> {
    let pos = s.rfind(':')?;
    let port = &s[pos + 1..];
    (!port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())).then(|| &s[..pos])
}

impl<'a> Selector<'a> {
    fn enumerate(&mut self) {
        let index = self.index;
        if let Some(split) = &self.req.split {
            let raw = self.req.host.unwrap_or_default();
            if let Some(p) = index.exact_hosts.get(raw) {
                self.visit(p);
            }
            if split.name.as_ref() != raw
                && let Some(p) = index.exact_hosts.get(split.name.as_ref())
            {
                self.visit(p);
            }
            if !index.wildcards.is_empty() {
                let mut matched: Vec<u32> = Vec::new();
                for_each_matching_wildcard(index, &split.with_port, |w| matched.push(w));
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
        if !path.is_empty() && !partition.tree.is_empty() {
            partition
                .tree
                .for_each_prefix(path, |_, ids| ids.iter().for_each(|&id| self.offer(id)));
        }
        for &id in &partition.pathless {
            self.offer(id);
        }
    }

    /// Considers entry `id`, already known to match the host and to be a path candidate.
    fn offer(&mut self, id: u32) {
        let index = self.index;
        let category = index.entry_category[id as usize];
        if category < self.start {
            return;
        }
        if let Some(best) = &self.best
            && (category > best.category
                || (category == best.category && best.on_reduced.is_some_and(|b| b < id)))
        {
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
            Some(best) if best.category == category => {
                best.any = best.any.min(id);
                if best.reduced.as_ref().is_some_and(|r| r.contains(entry)) {
                    best.on_reduced = Some(best.on_reduced.map_or(id, |b| b.min(id)));
                }
            }
            _ => {
                let reduced = reduce(index, category, &self.hits, self.req);
                let on_reduced = reduced.as_ref().filter(|r| r.contains(entry)).map(|_| id);
                self.best = Some(Best {
                    category,
                    reduced,
                    any: id,
                    on_reduced,
                });
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
