//! Kong's proxy-cache Admin API (`kong/plugins/proxy-cache/api.lua`) over this node's
//! memory stores: look up and purge cached responses by cache key, in every proxy-cache
//! instance of the configuration being served or in one of them. The status API serves
//! it (`crate::status::proxy_cache`); the stores live in this node only, so there is
//! nothing to broadcast to other nodes (Kong's `proxy-cache:purge` cluster event).

use std::sync::Arc;

use common::snapshot::ConfigSet;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::store::{Cached, MemoryStore};
use super::store_key;
use crate::plugins::clock::now_secs;
use crate::plugins::state::NodeState;

/// Kong's `CACHE_VERSION`: the format of a stored entry.
const CACHE_VERSION: u32 = 1;

/// What a lookup or a purge found.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// The cached entry (Kong answers 200 with it).
    Entry(Value),
    /// The entry was dropped (204).
    Purged,
    /// No such entry, or no such proxy-cache instance (404).
    NotFound,
}

/// The proxy-cache instances of one configuration, with their stores.
pub struct Caches {
    /// Plugin id and store; `None` when no compiled instance has made the store yet
    /// (a disabled instance), which holds nothing.
    instances: Vec<(Uuid, Option<Arc<MemoryStore>>)>,
}

impl Caches {
    /// The proxy-cache instances of `config` (disabled ones too, as Kong walks every
    /// plugin entity), in configuration order.
    pub fn of(config: &ConfigSet, state: &NodeState) -> Caches {
        let instances = config
            .plugins
            .iter()
            .filter(|p| p.name == "proxy-cache")
            .map(|p| {
                let dictionary = p.config["memory"]["dictionary_name"].as_str();
                let store = dictionary.and_then(|d| state.get::<MemoryStore>(&store_key(d)));
                (p.id, store)
            })
            .collect();
        Caches { instances }
    }

    fn stores(&self) -> impl Iterator<Item = &Arc<MemoryStore>> {
        self.instances.iter().filter_map(|(_, s)| s.as_ref())
    }

    fn store_of(&self, plugin_id: &str) -> Option<Option<&Arc<MemoryStore>>> {
        let id = Uuid::parse_str(plugin_id).ok()?;
        self.instances
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, s)| s.as_ref())
    }

    /// `DELETE /proxy-cache`: empties every instance's store.
    pub fn purge_all(&self) {
        for store in self.stores() {
            store.flush();
        }
    }

    /// `GET /proxy-cache/{cache_key}`: the entry in the first instance that has it.
    pub fn lookup(&self, key: &str) -> Outcome {
        let now = now_secs();
        self.stores()
            .find_map(|s| s.fetch(key, now))
            .map_or(Outcome::NotFound, |c| Outcome::Entry(entry_json(&c)))
    }

    /// `DELETE /proxy-cache/{cache_key}`: drops the entry from the first instance that
    /// has it.
    pub fn purge(&self, key: &str) -> Outcome {
        let now = now_secs();
        match self.stores().find(|s| s.fetch(key, now).is_some()) {
            Some(store) => {
                store.purge(key);
                Outcome::Purged
            }
            None => Outcome::NotFound,
        }
    }

    /// `GET /proxy-cache/{plugin_id}/caches/{cache_key}`.
    pub fn lookup_in(&self, plugin_id: &str, key: &str) -> Outcome {
        let Some(Some(store)) = self.store_of(plugin_id) else {
            return Outcome::NotFound;
        };
        store
            .fetch(key, now_secs())
            .map_or(Outcome::NotFound, |c| Outcome::Entry(entry_json(&c)))
    }

    /// `DELETE /proxy-cache/{plugin_id}/caches/{cache_key}`.
    pub fn purge_in(&self, plugin_id: &str, key: &str) -> Outcome {
        let Some(Some(store)) = self.store_of(plugin_id) else {
            return Outcome::NotFound;
        };
        if store.fetch(key, now_secs()).is_none() {
            return Outcome::NotFound;
        }
        store.purge(key);
        Outcome::Purged
    }
}

/// A stored entry as Kong's memory strategy keeps it: `status`, `headers` (a header sent
/// more than once is an array), `body`, `body_len`, `timestamp`, `ttl`, `version`.
/// Header names are shown in their usual capitalisation (`X-Cache-Key`), as nginx hands
/// Kong the names as sent; a body that is not UTF-8 is shown with replacement characters.
fn entry_json(cached: &Cached) -> Value {
    let mut headers = Map::new();
    for name in cached.headers.keys() {
        let values: Vec<Value> = cached
            .headers
            .get_all(name)
            .iter()
            .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let value = match <[Value; 1]>::try_from(values) {
            Ok([one]) => one,
            Err(many) => Value::Array(many),
        };
        headers.insert(capitalised(name.as_str()), value);
    }
    json!({
        "status": cached.status.as_u16(),
        "headers": headers,
        "body": String::from_utf8_lossy(&cached.body),
        "body_len": cached.body.len(),
        "timestamp": cached.timestamp,
        "ttl": cached.ttl,
        "version": CACHE_VERSION,
    })
}

/// `x-cache-key` -> `X-Cache-Key`.
fn capitalised(name: &str) -> String {
    name.split('-')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::{HeaderMap, HeaderValue, StatusCode};

    #[test]
    fn entries_show_like_kongs_memory_strategy() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        headers.append("set-cookie", HeaderValue::from_static("a=1"));
        headers.append("set-cookie", HeaderValue::from_static("b=2"));
        let cached = Cached::new(StatusCode::OK, headers, Bytes::from("hi"), 1000, 300);
        assert_eq!(
            entry_json(&cached),
            json!({
                "status": 200,
                "headers": {"Content-Type": "text/plain", "Set-Cookie": ["a=1", "b=2"]},
                "body": "hi",
                "body_len": 2,
                "timestamp": 1000,
                "ttl": 300,
                "version": 1,
            })
        );
        assert_eq!(capitalised("x-cache-key"), "X-Cache-Key");
        assert_eq!(capitalised("etag"), "Etag");
    }
}
