//! rate-limiting (Kong's `kong/plugins/rate-limiting/handler.lua`, PRIORITY 910): fixed
//! windows per second ... year, counted per consumer, credential, IP, service, header or
//! path, in this node's memory (`local`) or in Redis (`redis`, shared by every node:
//! on every request with `sync_rate: -1`, else counted locally and synced every
//! `sync_rate` seconds).

mod identifier;
mod local;
mod periods;
mod redis;
mod synced;

use std::sync::Arc;

use async_trait::async_trait;
use http::{HeaderName, HeaderValue};
use serde::Deserialize;

use self::identifier::Identifier;
use self::local::{LocalCounters, ScopeCounters};
use self::periods::{Period, period_start, window_end};
use self::redis::{RedisConfig, RedisCounters};
use self::synced::{PushSettings, Slot, SyncedCounters};
use super::pdk::log::lua_number;
use super::pdk::response::PendingHeader;
use super::{Exit, Flow, InstanceCx, Kong, Plugin};

#[derive(Debug, Deserialize)]
struct Config {
    second: Option<f64>,
    minute: Option<f64>,
    hour: Option<f64>,
    day: Option<f64>,
    month: Option<f64>,
    year: Option<f64>,
    limit_by: String,
    header_name: Option<String>,
    path: Option<String>,
    policy: String,
    fault_tolerant: bool,
    redis: Option<RedisConfig>,
    hide_client_headers: bool,
    error_code: f64,
    error_message: String,
    sync_rate: f64,
}

/// Kong's `SYNC_RATE_REALTIME`: count in Redis on every request.
const SYNC_RATE_REALTIME: f64 = -1.0;

enum Store {
    Local(Arc<ScopeCounters>),
    Redis {
        counters: Arc<RedisCounters>,
        timeout: std::time::Duration,
    },
    Synced {
        counters: Arc<SyncedCounters>,
        push: PushSettings,
    },
}

pub struct RateLimiting {
    limits: Vec<(Period, f64)>,
    /// Each limit as a header value, computed once.
    limit_values: Vec<HeaderValue>,
    limit_by: String,
    header_name: Option<String>,
    path: Option<String>,
    fault_tolerant: bool,
    hide_client_headers: bool,
    error_code: u16,
    error_message: String,
    /// `route_id:service_id` of the plugin's own scope (Kong's counter key).
    scope: String,
    store: Store,
}

const EMPTY_UUID: &str = "00000000-0000-0000-0000-000000000000";

pub fn factory(cx: &InstanceCx<'_>) -> Result<Arc<dyn Plugin>, String> {
    let config: Config = cx.config()?;
    let limits: Vec<(Period, f64)> = Period::ALL
        .iter()
        .zip([
            config.second,
            config.minute,
            config.hour,
            config.day,
            config.month,
            config.year,
        ])
        .filter_map(|(p, l)| l.map(|l| (*p, l)))
        .collect();
    let route = cx
        .entity
        .route
        .map_or(EMPTY_UUID.to_string(), |r| r.id.to_string());
    let service = cx
        .entity
        .service
        .map_or(EMPTY_UUID.to_string(), |s| s.id.to_string());
    let scope = format!("{route}:{service}");
    let store = match config.policy.as_str() {
        "redis" => {
            let redis = config.redis.ok_or("redis settings are required")?;
            let url = redis.url()?;
            let client = ::redis::Client::open(url.as_str())
                .map_err(|e| format!("invalid redis settings: {e}"))?;
            let counters = cx
                .state
                .get_or_init(&format!("rate-limiting redis {url}"), || {
                    RedisCounters::new(client)
                });
            if config.sync_rate == SYNC_RATE_REALTIME {
                Store::Redis {
                    counters,
                    timeout: redis.timeout(),
                }
            } else {
                // The schema allows -1 or at least 0.02 seconds.
                let sync_rate = std::time::Duration::try_from_secs_f64(config.sync_rate)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .ok_or("sync_rate must be greater than 0.02, or -1 to disable")?;
                // Counters local to this node, one table per Redis database.
                let synced = cx
                    .state
                    .get_or_init(&format!("rate-limiting redis sync {url}"), || {
                        SyncedCounters::new(counters)
                    });
                Store::Synced {
                    counters: synced,
                    push: PushSettings {
                        plugin_id: cx.entity.id.to_string(),
                        sync_rate,
                        timeout: redis.timeout(),
                    },
                }
            }
        }
        _ => Store::Local(
            cx.state
                .get_or_init("rate-limiting local", LocalCounters::default)
                .scope(&scope, super::clock::now_secs()),
        ),
    };
    let limit_values = limits.iter().map(|(_, l)| number_value(*l)).collect();
    Ok(Arc::new(RateLimiting {
        limits,
        limit_values,
        limit_by: config.limit_by,
        header_name: config.header_name,
        path: config.path,
        fault_tolerant: config.fault_tolerant,
        hide_client_headers: config.hide_client_headers,
        error_code: config.error_code as u16,
        error_message: config.error_message,
        scope,
        store,
    }))
}

/// Usage per limit, from this node's counters or from Redis.
enum Usage {
    Local([u64; 6]),
    Shared(Vec<u64>),
}

impl Usage {
    fn as_slice(&self, limits: usize) -> &[u64] {
        match self {
            Usage::Local(usage) => &usage[..limits.min(6)],
            Usage::Shared(usage) => usage,
        }
    }
}

/// `X-RateLimit-Limit-<Period>` and `X-RateLimit-Remaining-<Period>`, indexed like
/// [`Period::ALL`] (constants: `from_static` at run time looks the name up).
const PERIOD_HEADERS: [(HeaderName, HeaderName); 6] = [
    (
        HeaderName::from_static("x-ratelimit-limit-second"),
        HeaderName::from_static("x-ratelimit-remaining-second"),
    ),
    (
        HeaderName::from_static("x-ratelimit-limit-minute"),
        HeaderName::from_static("x-ratelimit-remaining-minute"),
    ),
    (
        HeaderName::from_static("x-ratelimit-limit-hour"),
        HeaderName::from_static("x-ratelimit-remaining-hour"),
    ),
    (
        HeaderName::from_static("x-ratelimit-limit-day"),
        HeaderName::from_static("x-ratelimit-remaining-day"),
    ),
    (
        HeaderName::from_static("x-ratelimit-limit-month"),
        HeaderName::from_static("x-ratelimit-remaining-month"),
    ),
    (
        HeaderName::from_static("x-ratelimit-limit-year"),
        HeaderName::from_static("x-ratelimit-remaining-year"),
    ),
];

const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

impl RateLimiting {
    /// Kong's `get_identifier`.
    fn identifier(&self, kong: &mut Kong<'_>) -> Identifier {
        let id = match self.limit_by.as_str() {
            "service" => kong.matched_service().map(|s| Identifier::uuid(&s.id)),
            "consumer" => kong
                .client()
                .consumer()
                .map(|c| Identifier::uuid(&c.id))
                .or_else(|| kong.client().credential().map(|c| Identifier::uuid(&c.id))),
            "credential" => kong.client().credential().map(|c| Identifier::uuid(&c.id)),
            "header" => self
                .header_name
                .as_deref()
                .and_then(|h| kong.request().header(h).map(Identifier::text)),
            "path" => kong
                .request()
                .path()
                .filter(|p| Some(p.as_str()) == self.path.as_deref())
                .map(Identifier::from),
            _ => None,
        };
        id.unwrap_or_else(|| Identifier::ip(kong.client().forwarded_ip()))
    }

    /// The usage before this request of each limit, counting it.
    async fn usage(&self, identifier: &str, now: i64) -> Result<Usage, String> {
        // Kong's counter key, for the stores shared through Redis.
        let key = |p: Period| {
            format!(
                "ratelimit:{}:{identifier}:{}:{}",
                self.scope,
                period_start(p, now) * 1000,
                p.name()
            )
        };
        match &self.store {
            Store::Local(counters) => {
                Ok(Usage::Local(counters.take(now, identifier, &self.limits)))
            }
            Store::Redis { counters, timeout } => {
                let keys: Vec<(String, u64)> = self
                    .limits
                    .iter()
                    .map(|(p, _)| (key(*p), p.expiration()))
                    .collect();
                counters.take(&keys, *timeout).await.map(Usage::Shared)
            }
            Store::Synced { counters, push } => {
                let slots: Vec<Slot> = self
                    .limits
                    .iter()
                    .map(|(p, l)| Slot {
                        key: key(*p),
                        expires_at: window_end(*p, now),
                        expiration: p.expiration(),
                        limit: *l,
                    })
                    .collect();
                let usage = counters.take(&slots, now, push).await;
                if usage.is_err() && self.fault_tolerant {
                    // Kong counts a request that fault tolerance lets through (its sync
                    // then fails too while Redis is down).
                    counters.count(&slots, now, push);
                }
                usage.map(Usage::Shared)
            }
        }
    }

    /// Kong's headers for these usages, and whether a limit is exhausted.
    fn headers(&self, usage: &[u64], now: i64) -> (Vec<(HeaderName, HeaderValue)>, bool) {
        let stop = self
            .limits
            .iter()
            .zip(usage)
            .rposition(|((_, limit), used)| limit - *used as f64 <= 0.0);
        let mut headers = Vec::with_capacity(2 * self.limits.len() + 4);
        // The most restrictive limit: lowest remaining, then the longest window.
        // (index, remaining, its header value, window, reset)
        let mut best: Option<(usize, f64, HeaderValue, u64, i64)> = None;
        for (i, ((period, limit), used)) in self.limits.iter().zip(usage).enumerate() {
            let mut remaining = limit - *used as f64;
            if stop.is_none() || stop == Some(i) {
                remaining -= 1.0;
            }
            let remaining = remaining.max(0.0);
            let remaining_value = number_value(remaining);
            let window = period.expiration();
            let better = match &best {
                None => true,
                Some((_, r, _, w, _)) => remaining < *r || (remaining == *r && window > *w),
            };
            if better {
                let reset = (window as i64 - (now - period_start(*period, now))).max(1);
                best = Some((i, remaining, remaining_value.clone(), window, reset));
            }
            let (limit_name, remaining_name) = PERIOD_HEADERS[*period as usize].clone();
            headers.push((limit_name, self.limit_values[i].clone()));
            headers.push((remaining_name, remaining_value));
        }
        if let Some((i, _, remaining_value, _, reset)) = best {
            let reset = HeaderValue::from(reset);
            headers.push((RATELIMIT_LIMIT, self.limit_values[i].clone()));
            headers.push((RATELIMIT_REMAINING, remaining_value));
            if stop.is_some() {
                headers.push((RATELIMIT_RESET, reset.clone()));
                headers.push((http::header::RETRY_AFTER, reset));
            } else {
                headers.push((RATELIMIT_RESET, reset));
            }
        }
        (headers, stop.is_some())
    }
}

/// A limit as Lua prints it (integers without a fraction).
fn number_value(n: f64) -> HeaderValue {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        HeaderValue::from(n as i64)
    } else {
        HeaderValue::from_str(&lua_number(n)).unwrap_or(HeaderValue::from_static("0"))
    }
}

#[async_trait]
impl Plugin for RateLimiting {
    async fn access(&self, kong: &mut Kong<'_>) -> Flow {
        let now = super::clock::now_secs();
        let identifier = self.identifier(kong);
        let usage = match self.usage(identifier.as_str(), now).await {
            Ok(u) => u,
            Err(e) => {
                tracing::error!(error = %e, "rate-limiting: failed to get usage");
                if self.fault_tolerant {
                    return Flow::Continue;
                }
                return Flow::Exit(Exit::error(500, "An unexpected error occurred"));
            }
        };
        let (headers, stop) = self.headers(usage.as_slice(self.limits.len()), now);
        if !self.hide_client_headers {
            // Kong's `kong.response.set_header` in access: on the response to come,
            // whether the upstream's or the 429 below.
            kong.ctx.response_headers.reserve(headers.len());
            let mut response = kong.response();
            for (name, value) in headers {
                let _ = response.change_header(PendingHeader::Set(name, value));
            }
        }
        if stop {
            return Flow::Exit(Exit::error(self.error_code, self.error_message.clone()));
        }
        Flow::Continue
    }

    fn reads_request_after_access(&self) -> bool {
        false
    }
}
