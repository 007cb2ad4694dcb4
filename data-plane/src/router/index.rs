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
//!   candidate list first. They decide between entries of equal rank (e.g. `example.com` vs
//!   `example.com:8000` for `Host: example.com:8000`), so they are reproduced exactly.

use std::collections::{HashMap, HashSet};

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
#[derive(Debug, Default)]
pub struct Partition {
    /// Prefix-path entries under their path, regex entries under their literal prefix.
    pub tree: PrefixTree<u32>,
    /// Entries of this partition that have no path condition.
    pub pathless: Vec<u32>,
}

impl Partition {
    fn add(&mut self, id: u32, entry: &Entry, regexes: &[PathRegex]) {
        match entry.path {
            None => self.pathless.push(id),
            Some(PathRule::Prefix) => self.tree.insert(&entry.path_value, id),
            Some(PathRule::Regex(r)) => self.tree.insert(&regexes[r as usize].literal_prefix, id),
        }
    }
}

/// A distinct wildcard host value and the entries that list it.
#[derive(Debug)]
pub struct WildcardPartition {
    pub value: String,
    pub pattern: WildcardHost,
    /// Rank of the first (entry, host position) that lists this wildcard: Kong checks
    /// wildcards in that order to find the request's wildcard "hit".
    pub first_seen: (u32, u32),
    pub partition: Partition,
}

/// Per-category counters: how many entries of the category list a given key, per field.
/// Kong tries the smallest of these lists first.
#[derive(Debug, Default)]
pub struct Category {
    pub bits: u8,
    pub hosts: HashMap<String, u32>,
    pub headers: HashMap<HeaderName, u32>,
    pub uris: HashMap<Vec<u8>, u32>,
    pub methods: HashMap<String, u32>,
    pub snis: HashMap<String, u32>,
}

fn bump<K: std::hash::Hash + Eq>(map: &mut HashMap<K, u32>, key: K) {
    *map.entry(key).or_default() += 1;
}

#[derive(Debug, Default)]
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
    /// `*.example.com[:port]`: wildcard ids by "example.com[:port]".
    pub wildcards_leading: HashMap<String, Vec<u32>>,
    /// `example.*[:port]`: wildcard ids by "example".
    pub wildcards_trailing: HashMap<String, Vec<u32>>,
    pub hostless: Partition,

    /// Header names in order of first appearance (Kong's header "hit" is the first present).
    pub header_names: Vec<HeaderName>,
    /// Distinct regexes under their literal prefix, with the rank of their first entry.
    pub regex_hits: PrefixTree<(u32, u32)>,
    /// Every prefix path (for the longest-prefix "hit").
    pub prefix_hits: PrefixTree<()>,
    pub methods: HashSet<String>,
    pub plain_snis: HashSet<String>,
    pub wildcard_snis: Vec<WildcardHost>,
}

/// Sorts categories the way Kong tries them: more fields first, then higher bits.
fn category_order(a: u8, b: u8) -> std::cmp::Ordering {
    b.count_ones().cmp(&a.count_ones()).then(b.cmp(&a))
}

impl Index {
    /// Builds the indexes from entries already sorted in Kong's order.
    pub fn build(entries: Vec<Entry>, regexes: RegexTable) -> Index {
        let regexes = regexes.regexes;
        let mut index = Index {
            category_position: vec![NO_CATEGORY; 128],
            ..Index::default()
        };

        // Categories and their order.
        let mut bits: Vec<u8> = entries.iter().map(|e| e.rules).collect();
        bits.sort_unstable_by(|a, b| category_order(*a, *b));
        bits.dedup();
        for (pos, b) in bits.iter().enumerate() {
            index.category_position[usize::from(*b)] = pos as u16;
            index.categories.push(Category {
                bits: *b,
                ..Category::default()
            });
        }

        let mut seen_headers: HashSet<HeaderName> = HashSet::new();
        let mut regex_first_rank: Vec<Option<u32>> = vec![None; regexes.len()];
        let mut wildcard_ids: HashMap<String, u32> = HashMap::new();

        for (id, entry) in entries.iter().enumerate() {
            let id = id as u32;
            let pos = index.category_position[usize::from(entry.rules)];
            index.entry_category.push(pos);
            index.count(pos, entry);

            // Request-wide hits.
            for h in &entry.headers {
                if seen_headers.insert(h.name.clone()) {
                    index.header_names.push(h.name.clone());
                }
            }
            match entry.path {
                Some(PathRule::Prefix) => index.prefix_hits.insert(&entry.path_value, ()),
                Some(PathRule::Regex(r)) if regex_first_rank[r as usize].is_none() => {
                    regex_first_rank[r as usize] = Some(id);
                    let prefix = &regexes[r as usize].literal_prefix;
                    index.regex_hits.insert(prefix, (id, r));
                }
                Some(PathRule::Regex(_)) | None => {}
            }
            index.methods.extend(entry.methods.iter().cloned());
            for s in &entry.snis {
                match s {
                    SniValue::Plain(v) => {
                        index.plain_snis.insert(v.clone());
                    }
                    SniValue::Wildcard { pattern, .. } => index.wildcard_snis.push(pattern.clone()),
                }
            }

            // Partitions.
            if entry.rules & HOST == 0 {
                index.hostless.add(id, entry, &regexes);
                continue;
            }
            for (host_pos, host) in entry.hosts.iter().enumerate() {
                match host {
                    HostValue::Plain(value) => index
                        .exact_hosts
                        .entry(value.clone())
                        .or_default()
                        .add(id, entry, &regexes),
                    HostValue::Wildcard { value, pattern } => {
                        let wid = *wildcard_ids.entry(value.clone()).or_insert_with(|| {
                            let wid = index.wildcards.len() as u32;
                            index.wildcards.push(WildcardPartition {
                                value: value.clone(),
                                pattern: pattern.clone(),
                                first_seen: (id, host_pos as u32),
                                partition: Partition::default(),
                            });
                            let (map, key) = match pattern.kind {
                                WildcardKind::Leading => (
                                    &mut index.wildcards_leading,
                                    match &pattern.port {
                                        Some(port) => format!("{}:{port}", pattern.literal),
                                        None => pattern.literal.clone(),
                                    },
                                ),
                                WildcardKind::Trailing => {
                                    (&mut index.wildcards_trailing, pattern.literal.clone())
                                }
                            };
                            map.entry(key).or_default().push(wid);
                            wid
                        });
                        index.wildcards[wid as usize]
                            .partition
                            .add(id, entry, &regexes);
                    }
                }
            }
        }
        index.entries = entries;
        index.regexes = regexes;
        index
    }

    fn count(&mut self, pos: u16, entry: &Entry) {
        let cat = &mut self.categories[usize::from(pos)];
        if cat.bits & HOST != 0 {
            for h in &entry.hosts {
                bump(&mut cat.hosts, h.value().to_string());
            }
        }
        if cat.bits & HEADER != 0 {
            for h in &entry.headers {
                bump(&mut cat.headers, h.name.clone());
            }
        }
        if cat.bits & URI != 0 {
            bump(&mut cat.uris, entry.path_value.clone());
        }
        if cat.bits & METHOD != 0 {
            for m in &entry.methods {
                bump(&mut cat.methods, m.clone());
            }
        }
        if cat.bits & SNI != 0 {
            for s in &entry.snis {
                bump(&mut cat.snis, s.value().to_string());
            }
        }
    }
}
