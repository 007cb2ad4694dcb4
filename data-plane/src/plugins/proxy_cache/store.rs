//! The `memory` strategy: cached responses in this node's memory, shared by every
//! configuration (Kong keeps them in the `kong_db_cache` shared dictionary).

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

/// A stored response.
#[derive(Clone)]
pub struct Cached {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// When it was stored (Unix seconds).
    pub timestamp: i64,
    /// Its freshness lifetime (seconds).
    pub ttl: i64,
    /// When the entry is dropped from the store (Unix seconds).
    expires_at: i64,
}

impl Cached {
    pub fn new(
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
        timestamp: i64,
        ttl: i64,
    ) -> Cached {
        Cached {
            status,
            headers,
            body,
            timestamp,
            ttl,
            expires_at: timestamp,
        }
    }
}

/// Total body bytes one dictionary keeps (Kong's default `kong_db_cache` is 128 MiB).
const CAPACITY: usize = 128 * 1024 * 1024;

#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Cached>,
    bytes: usize,
}

impl MemoryStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(i) => i,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    pub fn fetch(&self, key: &str, now: i64) -> Option<Cached> {
        self.lock()
            .entries
            .get(key)
            .filter(|c| c.expires_at > now)
            .cloned()
    }

    /// Stores `response` for `storage_ttl` seconds; refused when the store is full even
    /// after dropping expired entries.
    pub fn store(&self, key: String, mut response: Cached, storage_ttl: i64, now: i64) -> bool {
        let mut inner = self.lock();
        response.expires_at = now + storage_ttl;
        if let Some(old) = inner.entries.remove(&key) {
            inner.bytes -= old.body.len();
        }
        if inner.bytes + response.body.len() > CAPACITY {
            let before = inner.entries.len();
            inner.entries.retain(|_, c| c.expires_at > now);
            if inner.entries.len() != before {
                inner.bytes = inner.entries.values().map(|c| c.body.len()).sum();
            }
            if inner.bytes + response.body.len() > CAPACITY {
                return false;
            }
        }
        inner.bytes += response.body.len();
        inner.entries.insert(key, response);
        true
    }

    /// Drops the entry under `key` (Kong's `purge`).
    pub fn purge(&self, key: &str) {
        let mut inner = self.lock();
        if let Some(old) = inner.entries.remove(key) {
            inner.bytes -= old.body.len();
        }
    }

    /// Drops every entry (Kong's `flush(true)`).
    pub fn flush(&self) {
        let mut inner = self.lock();
        inner.entries.clear();
        inner.bytes = 0;
    }
}
