//! The compiled indexes. Built once per configuration; read-only afterwards.
//!
//! Two kinds of structures live here:
//!
//! * **Partitions** enumerate the entries that can match a request without looking at the
//!   others. Entries with hosts live in one partition per host value (an exact-host hash map,
//!   and one partition per distinct wildcard host found through suffix/prefix maps); entries
//!   without hosts live in the host-less partition. Inside a partition, a radix tree keyed by
//!   the prefix path (or, for a regex path, by the regex's literal prefix) yields the entries
//!   whose path can match in one walk along the request path; entries without a path are kept
//!   aside. Only those candidates are checked, so the cost of a lookup depends on how many
//!   routes *could* match, not on how many there are.
//!
//! * **Kong's request-wide "hits"** (the first wildcard host, header name, regex path or
//!   longest prefix that matches anywhere in the table) and per-category counters, which Kong's
//!   traditional router uses to pick the request's starting category and to try a reduced
//!   candidate list first. They decide between several matching entries of one category (e.g.
//!   `example.com` vs `example.com:8000` for `Host: example.com:8000`), so they are reproduced
//!   exactly, but only consulted when that happens (see `select.rs`).

use std::collections::hash_map::Entry as MapEntry;

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use http::HeaderName;

use super::compile::{
    Entry, HEADER, HOST, HostValue, METHOD, PathRule, RegexTable, SNI, SniValue, URI,
};
use super::host::{WildcardHost, WildcardKind};
use super::regex::PathRegex;
use super::trie::PrefixTree;

/// Category position meaning "no such category".
pub const NO_CATEGORY: u16 = u16::MAX;

/// Entries reachable under one host key (or without host).
///
/// Most partitions hold a few entries (one host, a couple of paths): those are packed into a
/// single allocation of `[id: u32][key length: u16][key]` records scanned linearly, which
/// costs one cache miss. Larger ones keep their keyed entries in a radix tree.
#[derive(Debug, Default)]
pub struct Partition {
    packed: Box<[u8]>,
    tree: Option<Box<PrefixTree<u32>>>,
}

/// Above this many keyed entries a partition uses a tree.
const SMALL_PARTITION: usize = 8;
/// The key length marking an entry without path condition.
const NO_PATH: u16 = u16::MAX;

impl Partition {
    /// Calls `f` with every entry whose path condition can hold for `path` (prefix entries
    /// whose prefix matches, regex entries whose literal prefix matches, entries without
    /// path). An empty path satisfies no path condition.
    pub fn for_each_candidate(&self, path: &[u8], mut f: impl FnMut(u32)) {
        if let Some(tree) = &self.tree
            && !path.is_empty()
        {
            tree.for_each_prefix(path, |_, ids| ids.iter().for_each(|&id| f(id)));
        }
        let mut rest: &[u8] = &self.packed;
        while let [a, b, c, d, l0, l1, tail @ ..] = rest {
            let id = u32::from_le_bytes([*a, *b, *c, *d]);
            let len = u16::from_le_bytes([*l0, *l1]);
            if len == NO_PATH {
                f(id);
                rest = tail;
                continue;
            }
            let len = usize::from(len);
            let Some(key) = tail.get(..len) else {
                return;
            };
            if !path.is_empty() && path.starts_with(key) {
                f(id);
            }
            rest = &tail[len..];
        }
    }
}

#[derive(Debug, Default)]
struct PartitionBuilder<'e> {
    keyed: Vec<(&'e [u8], u32)>,
    pathless: Vec<u32>,
}

impl<'e> PartitionBuilder<'e> {
    fn add(&mut self, id: u32, entry: &'e Entry, regexes: &'e [PathRegex]) {
        match entry.path {
            None => self.pathless.push(id),
            Some(PathRule::Prefix) => self.keyed.push((&entry.path_value, id)),
            Some(PathRule::Regex(r)) => {
                self.keyed.push((&regexes[r as usize].literal_prefix, id));
            }
        }
    }

    fn freeze(self) -> Partition {
        let mut packed = Vec::new();
        let record = |packed: &mut Vec<u8>, id: u32, len: u16, key: &[u8]| {
            packed.extend_from_slice(&id.to_le_bytes());
            packed.extend_from_slice(&len.to_le_bytes());
            packed.extend_from_slice(key);
        };
        let small = self.keyed.len() <= SMALL_PARTITION
            && self
                .keyed
                .iter()
                .all(|(k, _)| k.len() < usize::from(NO_PATH));
        let mut tree = None;
        if small {
            for (key, id) in &self.keyed {
                record(&mut packed, *id, key.len() as u16, key);
            }
        } else {
            tree = Some(Box::new(PrefixTree::from_keys(self.keyed)));
        }
        for id in self.pathless {
            record(&mut packed, id, NO_PATH, b"");
        }
        Partition {
            packed: packed.into_boxed_slice(),
            tree,
        }
    }
}

/// A distinct wildcard host value and the entries that list it.
#[derive(Debug)]
pub struct WildcardPartition {
    pub value: String,
    pub pattern: WildcardHost,
    /// (entry rank, position in the route's hosts) of the first entry listing this wildcard:
    /// Kong checks wildcards in that order to find the request's wildcard "hit".
    pub first_seen: (u32, u32),
    pub partition: Partition,
}

/// Per-category counters: how many entries of the category list a given key, per field.
/// Kong tries the smallest of these lists first.
#[derive(Debug)]
pub struct Category {
    pub bits: u8,
    pub hosts: HashMap<String, u32>,
    pub headers: HashMap<HeaderName, u32>,
    pub uris: HashMap<Vec<u8>, u32>,
    pub methods: HashMap<String, u32>,
    pub snis: HashMap<String, u32>,
}

impl Category {
    fn new(bits: u8) -> Category {
        Category {
            bits,
            hosts: HashMap::new(),
            headers: HashMap::new(),
            uris: HashMap::new(),
            methods: HashMap::new(),
            snis: HashMap::new(),
        }
    }
}

/// Counts one more `key`, allocating the owned key only the first time.
fn bump<Q, K>(map: &mut HashMap<K, u32>, key: &Q)
where
    K: std::borrow::Borrow<Q> + std::hash::Hash + Eq,
    Q: std::hash::Hash + Eq + ToOwned<Owned = K> + ?Sized,
{
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.to_owned(), 1);
        }
    }
}

#[derive(Debug)]
pub struct Index {
    /// Entries in Kong's order: an entry's id is its rank.
    pub entries: Vec<Entry>,
    /// Position of each entry's category in the category order.
    pub entry_category: Vec<u16>,
    /// Category position by category bits.
    pub category_position: Vec<u16>,
    /// Categories in the order they are tried.
    pub categories: Vec<Category>,
    pub regexes: Vec<PathRegex>,

    pub exact_hosts: HashMap<String, Partition>,
    pub wildcards: Vec<WildcardPartition>,
    /// `*.example.com[:port]`: wildcard ids by "example.com".
    pub wildcards_leading: HashMap<String, Vec<u32>>,
    /// `example.*[:port]`: wildcard ids by "example".
    pub wildcards_trailing: HashMap<String, Vec<u32>>,
    /// The last label of every leading wildcard's literal ("com" for `*.example.com`) and the
    /// first label of every trailing one ("example" for `example.*`): a host whose last and
    /// first labels are in neither set matches no wildcard, which one lookup each tells.
    pub wildcard_last_labels: HashSet<String>,
    pub wildcard_first_labels: HashSet<String>,
    pub hostless: Partition,
    /// Plain route hosts written with port 80 (resp. 443), without it: Kong's host "hit"
    /// also looks up "host:default-port", and this answers that without building the string.
    pub hosts_on_port_80: HashSet<String>,
    pub hosts_on_port_443: HashSet<String>,

    /// Header names in order of first appearance (Kong's header "hit" is the first present).
    pub header_names: Vec<HeaderName>,
    /// Distinct regexes under their literal prefix, with the rank of their first entry.
    pub regex_hits: PrefixTree<(u32, u32)>,
    /// Every prefix path (for the longest-prefix "hit").
    pub prefix_hits: PrefixTree<()>,
    pub methods: HashSet<String>,
    pub plain_snis: HashSet<String>,
    pub wildcard_snis: Vec<WildcardHost>,

    /// Some entry has SNIs: over plain HTTP such an entry can match although the request has
    /// no SNI "hit", so the request's starting category must be computed up front.
    pub has_snis: bool,
    /// Some entry has no condition at all (only empty lists): Kong never returns it when the
    /// request has no hit, so again the category must be known up front.
    pub has_unconditional: bool,
}

/// Sorts categories the way Kong tries them: more fields first, then higher bits.
fn category_order(a: u8, b: u8) -> std::cmp::Ordering {
    b.count_ones().cmp(&a.count_ones()).then(b.cmp(&a))
}

/// Collects partitions and hits while walking the sorted entries.
struct IndexBuilder<'e> {
    regexes: &'e [PathRegex],
    exact_hosts: HashMap<&'e str, PartitionBuilder<'e>>,
    wildcards: Vec<(&'e str, &'e WildcardHost, (u32, u32), PartitionBuilder<'e>)>,
    wildcard_ids: HashMap<&'e str, u32>,
    hostless: PartitionBuilder<'e>,
    seen_headers: HashSet<HeaderName>,
    regex_first_rank: Vec<bool>,
    regex_hits: Vec<(&'e [u8], (u32, u32))>,
    prefix_hits: Vec<(&'e [u8], ())>,
}

impl<'e> IndexBuilder<'e> {
    fn add(&mut self, id: u32, entry: &'e Entry, index: &mut Index) {
        for h in &entry.headers {
            if self.seen_headers.insert(h.name.clone()) {
                index.header_names.push(h.name.clone());
            }
        }
        match entry.path {
            Some(PathRule::Prefix) => self.prefix_hits.push((&entry.path_value, ())),
            Some(PathRule::Regex(r)) if !self.regex_first_rank[r as usize] => {
                self.regex_first_rank[r as usize] = true;
                let prefix = &self.regexes[r as usize].literal_prefix;
                self.regex_hits.push((prefix, (id, r)));
            }
            Some(PathRule::Regex(_)) | None => {}
        }
        index.methods.extend(entry.methods.iter().cloned());
        for s in &entry.snis {
            index.has_snis = true;
            match s {
                SniValue::Plain(v) => {
                    index.plain_snis.insert(v.clone());
                }
                SniValue::Wildcard { pattern, .. } => index.wildcard_snis.push(pattern.clone()),
            }
        }
        if entry.rules == 0 {
            index.has_unconditional = true;
        }

        if entry.rules & HOST == 0 {
            self.hostless.add(id, entry, self.regexes);
            return;
        }
        for (pos, host) in entry.hosts.iter().enumerate() {
            match host {
                HostValue::Plain(value) => {
                    for (port, set) in [
                        (":80", &mut index.hosts_on_port_80),
                        (":443", &mut index.hosts_on_port_443),
                    ] {
                        if let Some(name) = value.strip_suffix(port) {
                            set.insert(name.to_string());
                        }
                    }
                    self.exact_hosts.entry(value.as_str()).or_default().add(
                        id,
                        entry,
                        self.regexes,
                    );
                }
                HostValue::Wildcard { value, pattern } => {
                    let wid = match self.wildcard_ids.entry(value.as_str()) {
                        MapEntry::Occupied(o) => *o.get(),
                        MapEntry::Vacant(v) => {
                            let wid = self.wildcards.len() as u32;
                            self.wildcards.push((
                                value.as_str(),
                                pattern,
                                (id, pos as u32),
                                PartitionBuilder::default(),
                            ));
                            let literal = pattern.literal.as_str();
                            let map = match pattern.kind {
                                WildcardKind::Leading => {
                                    let last = literal.rsplit('.').next().unwrap_or(literal);
                                    index.wildcard_last_labels.insert(last.to_string());
                                    &mut index.wildcards_leading
                                }
                                WildcardKind::Trailing => {
                                    let first = literal.split('.').next().unwrap_or(literal);
                                    index.wildcard_first_labels.insert(first.to_string());
                                    &mut index.wildcards_trailing
                                }
                            };
                            map.entry(pattern.literal.clone()).or_default().push(wid);
                            *v.insert(wid)
                        }
                    };
                    self.wildcards[wid as usize].3.add(id, entry, self.regexes);
                }
            }
        }
    }
}

impl Index {
    /// Builds the indexes from entries already sorted in Kong's order.
    pub fn build(entries: Vec<Entry>, regexes: RegexTable) -> Index {
        let regexes = regexes.regexes;
        let mut index = Index {
            entries: Vec::new(),
            entry_category: Vec::with_capacity(entries.len()),
            category_position: vec![NO_CATEGORY; 128],
            categories: Vec::new(),
            regexes: Vec::new(),
            exact_hosts: HashMap::new(),
            wildcards: Vec::new(),
            wildcards_leading: HashMap::new(),
            wildcards_trailing: HashMap::new(),
            wildcard_last_labels: HashSet::new(),
            wildcard_first_labels: HashSet::new(),
            hostless: Partition::default(),
            hosts_on_port_80: HashSet::new(),
            hosts_on_port_443: HashSet::new(),
            header_names: Vec::new(),
            regex_hits: PrefixTree::default(),
            prefix_hits: PrefixTree::default(),
            methods: HashSet::new(),
            plain_snis: HashSet::new(),
            wildcard_snis: Vec::new(),
            has_snis: false,
            has_unconditional: false,
        };

        // Categories and their order.
        let mut bits: Vec<u8> = entries.iter().map(|e| e.rules).collect();
        bits.sort_unstable_by(|a, b| category_order(*a, *b));
        bits.dedup();
        for (pos, b) in bits.iter().enumerate() {
            index.category_position[usize::from(*b)] = pos as u16;
            index.categories.push(Category::new(*b));
        }

        let mut builder = IndexBuilder {
            regexes: &regexes,
            exact_hosts: HashMap::new(),
            wildcards: Vec::new(),
            wildcard_ids: HashMap::new(),
            hostless: PartitionBuilder::default(),
            seen_headers: HashSet::new(),
            regex_first_rank: vec![false; regexes.len()],
            regex_hits: Vec::new(),
            prefix_hits: Vec::new(),
        };
        for (id, entry) in entries.iter().enumerate() {
            let pos = index.category_position[usize::from(entry.rules)];
            index.entry_category.push(pos);
            index.count(pos, entry);
            builder.add(id as u32, entry, &mut index);
        }

        index.exact_hosts = builder
            .exact_hosts
            .into_iter()
            .map(|(k, p)| (k.to_string(), p.freeze()))
            .collect();
        index.wildcards = builder
            .wildcards
            .into_iter()
            .map(|(value, pattern, first_seen, p)| WildcardPartition {
                value: value.to_string(),
                pattern: pattern.clone(),
                first_seen,
                partition: p.freeze(),
            })
            .collect();
        index.hostless = builder.hostless.freeze();
        index.regex_hits = PrefixTree::from_keys(builder.regex_hits);
        index.prefix_hits = PrefixTree::from_keys(builder.prefix_hits);
        index.entries = entries;
        index.regexes = regexes;
        index
    }

    fn count(&mut self, pos: u16, entry: &Entry) {
        let cat = &mut self.categories[usize::from(pos)];
        if cat.bits & HOST != 0 {
            for h in &entry.hosts {
                bump(&mut cat.hosts, h.value());
            }
        }
        if cat.bits & HEADER != 0 {
            for h in &entry.headers {
                bump(&mut cat.headers, &h.name);
            }
        }
        if cat.bits & URI != 0 {
            bump(&mut cat.uris, entry.path_value.as_slice());
        }
        if cat.bits & METHOD != 0 {
            for m in &entry.methods {
                bump(&mut cat.methods, m.as_str());
            }
        }
        if cat.bits & SNI != 0 {
            for s in &entry.snis {
                bump(&mut cat.snis, s.value());
            }
        }
    }
}
