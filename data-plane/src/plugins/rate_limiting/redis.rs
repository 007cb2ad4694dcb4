//! The `redis` policy's Redis side: counters in Redis, shared by every node. Each read
//! increments the counter of each period and returns the value before its increment,
//! atomically, so nodes never count the same slot twice (Kong's realtime mode,
//! `sync_rate = -1`, reads this way on every request; with a sync rate, `synced.rs` reads
//! this way when its local view is stale and pushes what it counted locally with
//! [`RedisCounters::push`]).

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::Deserialize;
use tokio::sync::OnceCell;

#[derive(Debug, Clone, Deserialize)]
pub struct RedisConfig {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub timeout: Option<u64>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub database: Option<i64>,
    pub ssl: Option<bool>,
}

impl RedisConfig {
    /// The connection URL (also the key of the shared connection).
    pub fn url(&self) -> Result<String, String> {
        let host = self.host.as_deref().ok_or("redis.host is required")?;
        if self.ssl == Some(true) {
            return Err("redis.ssl is not supported by this data plane".into());
        }
        let auth = match (&self.username, &self.password) {
            (Some(u), Some(p)) => format!("{}:{}@", enc(u), enc(p)),
            (None, Some(p)) if !p.is_empty() => format!(":{}@", enc(p)),
            _ => String::new(),
        };
        Ok(format!(
            "redis://{auth}{host}:{}/{}",
            self.port.unwrap_or(6379),
            self.database.unwrap_or(0)
        ))
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout.unwrap_or(2000))
    }
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// One Redis server's connection, shared by every instance and configuration using it.
pub struct RedisCounters {
    client: redis::Client,
    conn: OnceCell<ConnectionManager>,
}

/// Kong's script: increment, set the window's expiry on first use, return the previous value.
const INCR_SCRIPT: &str = r#"
local cache_key, expiration = KEYS[1], ARGV[1]
local result_incr = redis.call("incr", cache_key)
if result_incr == 1 then
  redis.call("expire", cache_key, expiration)
end
return result_incr - 1
"#;

/// Adds each key's delta; a key created by the addition expires at the end of its window
/// (a Unix time), as Kong's sync does. One script for the whole batch: one round trip.
const PUSH_SCRIPT: &str = r#"
for i, key in ipairs(KEYS) do
  local delta, expire_at = ARGV[2 * i - 1], ARGV[2 * i]
  local existed = redis.call("exists", key)
  redis.call("incrby", key, delta)
  if existed == 0 then
    redis.call("expireat", key, expire_at)
  end
end
return #KEYS
"#;

impl RedisCounters {
    pub fn new(client: redis::Client) -> RedisCounters {
        RedisCounters {
            client,
            conn: OnceCell::new(),
        }
    }

    async fn connection(&self) -> Result<ConnectionManager, String> {
        self.conn
            .get_or_try_init(|| async {
                // No reconnection retries with backoff: while Redis is away a request
                // fails at once (as Kong's connect does) instead of waiting out the
                // timeout; the next request connects again.
                let config = ConnectionManagerConfig::new().set_number_of_retries(0);
                ConnectionManager::new_with_config(self.client.clone(), config)
                    .await
                    .map_err(|e| e.to_string())
            })
            .await
            .cloned()
    }

    /// The usage before this request of each `(key, expiration seconds)`, counting it.
    pub async fn take(
        self: &Arc<Self>,
        keys: &[(String, u64)],
        timeout: Duration,
    ) -> Result<Vec<u64>, String> {
        let work = async {
            let mut conn = self.connection().await?;
            let script = redis::Script::new(INCR_SCRIPT);
            let mut out = Vec::with_capacity(keys.len());
            for (key, expiration) in keys {
                let used: i64 = script
                    .key(key)
                    .arg(*expiration)
                    .invoke_async(&mut conn)
                    .await
                    .map_err(|e| e.to_string())?;
                out.push(u64::try_from(used).unwrap_or(0));
            }
            Ok(out)
        };
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| "timeout".to_string())?
    }

    /// Adds each `(key, delta, expires_at)` to Redis.
    pub async fn push(
        &self,
        deltas: &[(String, i64, i64)],
        timeout: Duration,
    ) -> Result<(), String> {
        let work = async {
            let mut conn = self.connection().await?;
            let script = redis::Script::new(PUSH_SCRIPT);
            let mut invocation = script.prepare_invoke();
            for (key, delta, expires_at) in deltas {
                invocation.key(key).arg(*delta).arg(*expires_at);
            }
            let _: i64 = invocation
                .invoke_async(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
            Ok(())
        };
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| "timeout".to_string())?
    }
}
