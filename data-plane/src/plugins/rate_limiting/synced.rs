//! The `redis` policy with a sync rate (Kong's `policies/init.lua` when `sync_rate` is not
//! -1): requests are counted in this node's memory and the counts are pushed to Redis at
//! most `sync_rate` seconds later, by a task that the first count after a push schedules
//! (one per plugin instance, as Kong's pending timer). Every push
//! also forgets the totals last read from Redis, so the next request of each counter reads
//! the cluster-wide total again (counting itself there, as realtime mode does): limits
//! hold across nodes approximately, to within what the other nodes counted since their
//! last push.
//!
//! One table per Redis server and database, shared by every plugin instance and every
//! configuration that uses it (Kong's module-level tables per `host:port;database`), so
//! counts survive configuration changes. There is no long-lived task: a push task exists
//! only while counts wait to be pushed, and ends after its push, whatever configuration
//! scheduled it.
//!
//! Unlike Kong, a request that read the total from Redis keeps it in the local view (Kong's
//! view misses that one request until the next push, letting one more request through per
//! refresh), and a refused request that read from Redis schedules the push that takes its
//! count back out of Redis (Kong leaves it there until some allowed request pushes).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use foldhash::HashMap;

use super::redis::RedisCounters;

/// One counter (one identifier's window of one period) as this node sees it.
struct Counter {
    /// The cluster-wide count last read from Redis, the reading request included; `None`
    /// once a push made it stale.
    total: Option<i64>,
    /// Counted here and not yet pushed to Redis (negative for a request that Redis counted
    /// when read but that was then refused).
    delta: i64,
    /// The end of the counter's window (Unix seconds).
    expires_at: i64,
}

#[derive(Default)]
struct Table {
    counters: HashMap<String, Counter>,
    /// Bumped by every push: a read from Redis that began before a push ended may miss the
    /// pushed counts, so its total is not kept.
    pushes: u64,
    /// Plugin instances (ids) whose push is scheduled (Kong's "pending" timers).
    pending: HashSet<String>,
}

impl Table {
    /// The usage of `key` as this node sees it, if it was read from Redis since the last
    /// push.
    fn view(&self, key: &str, now: i64) -> Option<u64> {
        match self.counters.get(key)? {
            Counter {
                total: Some(total),
                delta,
                expires_at,
            } if *expires_at > now => Some(non_negative(total.saturating_add(*delta))),
            _ => None,
        }
    }

    /// The counter of `slot`, started afresh if its window has ended.
    fn counter(&mut self, slot: &Slot, now: i64) -> &mut Counter {
        let counter = self
            .counters
            .entry(slot.key.clone())
            .or_insert_with(|| Counter::new(slot.expires_at));
        if counter.expires_at <= now {
            *counter = Counter::new(slot.expires_at);
        }
        counter
    }

    /// Counts the request in every slot if each limit still has room (`headers` in
    /// `mod.rs` refuses on the same condition).
    fn count_if_room(&mut self, slots: &[Slot], used: &[u64], now: i64) -> bool {
        let room = slots
            .iter()
            .zip(used)
            .all(|(slot, used)| slot.limit - *used as f64 > 0.0);
        if room {
            for slot in slots {
                self.counter(slot, now).delta += 1;
            }
        }
        room
    }
}

impl Counter {
    fn new(expires_at: i64) -> Counter {
        Counter {
            total: None,
            delta: 0,
            expires_at,
        }
    }
}

/// One counter a request reads and counts in.
pub struct Slot {
    pub key: String,
    /// The end of the counter's window (Unix seconds).
    pub expires_at: i64,
    /// The period's length in seconds (the expiry of a key a Redis read creates).
    pub expiration: u64,
    /// The limit of the period.
    pub limit: f64,
}

/// How a plugin instance pushes: which pending push it owns, after how long, and the Redis
/// timeout of its configuration.
pub struct PushSettings {
    pub plugin_id: String,
    pub sync_rate: Duration,
    pub timeout: Duration,
}

pub struct SyncedCounters {
    redis: Arc<RedisCounters>,
    table: Mutex<Table>,
    /// One push at a time: a push subtracts what it sent once Redis has it, so two pushes
    /// at once would send the same counts twice.
    pushing: tokio::sync::Mutex<()>,
}

impl SyncedCounters {
    pub fn new(redis: Arc<RedisCounters>) -> SyncedCounters {
        SyncedCounters {
            redis,
            table: Mutex::new(Table::default()),
            pushing: tokio::sync::Mutex::new(()),
        }
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        match self.table.lock() {
            Ok(t) => t,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The usage of each slot before this request: the local view where it is fresh, else
    /// read from Redis (which counts the request there; the local count takes it back out
    /// so that it is not counted twice). When every limit still has room the request is
    /// counted, in the same lock as the decision (concurrent requests cannot both take the
    /// last slot of this node's view).
    pub async fn take(
        self: &Arc<Self>,
        slots: &[Slot],
        now: i64,
        push: &PushSettings,
    ) -> Result<Vec<u64>, String> {
        let (seen, pushes_before) = {
            let mut table = self.table();
            let seen: Vec<Option<u64>> = slots.iter().map(|s| table.view(&s.key, now)).collect();
            if seen.iter().all(Option::is_some) {
                let used: Vec<u64> = seen.into_iter().flatten().collect();
                let counted = table.count_if_room(slots, &used, now);
                drop(table);
                if counted {
                    self.schedule_push(push);
                }
                return Ok(used);
            }
            (seen, table.pushes)
        };
        let stale: Vec<usize> = (0..slots.len()).filter(|&i| seen[i].is_none()).collect();
        let keys: Vec<(String, u64)> = stale
            .iter()
            .map(|&i| (slots[i].key.clone(), slots[i].expiration))
            .collect();
        let read = self.redis.take(&keys, push.timeout).await?;
        {
            let mut table = self.table();
            let fresh = table.pushes == pushes_before;
            let mut used: Vec<u64> = slots
                .iter()
                .zip(&seen)
                // A push during the read made the view stale: the one seen before it.
                .map(|(s, before)| table.view(&s.key, now).or(*before).unwrap_or(0))
                .collect();
            for (&i, before) in stale.iter().zip(read) {
                let counter = table.counter(&slots[i], now);
                let before = i64::try_from(before).unwrap_or(i64::MAX);
                // What this node counted and has not pushed is not in Redis yet.
                used[i] = non_negative(before.saturating_add(counter.delta));
                if fresh {
                    // Concurrent readers: the highest total read is the latest.
                    let after = before.saturating_add(1);
                    counter.total = Some(counter.total.map_or(after, |t| t.max(after)));
                }
                counter.delta -= 1;
            }
            table.count_if_room(slots, &used, now);
            // Counted here, or refused after Redis counted it: either way a push is due.
            drop(table);
            self.schedule_push(push);
            Ok(used)
        }
    }

    /// Counts a request in each slot and schedules a push (Kong counts a request that
    /// `fault_tolerant` let through when Redis could not be read).
    pub fn count(self: &Arc<Self>, slots: &[Slot], now: i64, push: &PushSettings) {
        {
            let mut table = self.table();
            for slot in slots {
                table.counter(slot, now).delta += 1;
            }
        }
        self.schedule_push(push);
    }

    /// Schedules a push by `push.plugin_id` in `push.sync_rate`, unless one is pending:
    /// the pending push will carry everything counted until it starts.
    fn schedule_push(self: &Arc<Self>, push: &PushSettings) {
        if !self.table().pending.insert(push.plugin_id.clone()) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.table().pending.remove(&push.plugin_id);
            tracing::error!("rate-limiting: no runtime to sync counters to Redis from");
            return;
        };
        let this = self.clone();
        let plugin_id = push.plugin_id.clone();
        let (after, timeout) = (push.sync_rate, push.timeout);
        runtime.spawn(async move {
            tokio::time::sleep(after).await;
            this.push(&plugin_id, timeout).await;
        });
    }

    /// Sends every count not yet in Redis, then forgets the totals read from Redis so the
    /// next requests read the cluster-wide ones. A failed push loses its counts, as Kong's
    /// does (it logs them; Redis being down, requests are then served as `fault_tolerant`
    /// says, like realtime mode).
    async fn push(&self, plugin_id: &str, timeout: Duration) {
        let _one_at_a_time = self.pushing.lock().await;
        let now = super::super::clock::now_secs();
        let deltas: Vec<(String, i64, i64)> = {
            let mut table = self.table();
            // Counts arriving from here on are carried by the next push.
            table.pending.remove(plugin_id);
            table.counters.retain(|_, c| c.expires_at > now);
            table
                .counters
                .iter()
                .filter(|(_, c)| c.delta != 0)
                .map(|(key, c)| (key.clone(), c.delta, c.expires_at))
                .collect()
        };
        let result = if deltas.is_empty() {
            Ok(())
        } else {
            self.redis.push(&deltas, timeout).await
        };
        if let Err(e) = &result {
            tracing::error!(error = %e, counters = deltas.len(), "rate-limiting: failed to sync counters to Redis; their counts are lost");
        }
        let mut table = self.table();
        table.pushes += 1;
        for (key, delta, _) in &deltas {
            if let Some(counter) = table.counters.get_mut(key) {
                counter.delta -= delta;
            }
        }
        table.counters.retain(|_, c| {
            c.total = None;
            c.delta != 0
        });
    }

    /// No push scheduled or under way (for tests).
    #[cfg(test)]
    fn idle(&self) -> bool {
        self.table().pending.is_empty() && self.pushing.try_lock().is_ok()
    }
}

fn non_negative(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::time::Instant;

    fn counters() -> Arc<SyncedCounters> {
        let client = ::redis::Client::open("redis://127.0.0.1:6379/0").unwrap();
        Arc::new(SyncedCounters::new(Arc::new(RedisCounters::new(client))))
    }

    fn slot(key: &str, now: i64, limit: u64) -> Vec<Slot> {
        vec![Slot {
            key: key.to_string(),
            expires_at: now + 60,
            expiration: 60,
            limit: limit as f64,
        }]
    }

    fn settings(plugin_id: &str) -> PushSettings {
        PushSettings {
            plugin_id: plugin_id.to_string(),
            sync_rate: Duration::from_millis(50),
            timeout: Duration::from_secs(2),
        }
    }

    async fn redis_value(key: &str) -> Option<i64> {
        let client = ::redis::Client::open("redis://127.0.0.1:6379/0").unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        ::redis::cmd("GET")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap()
    }

    async fn until<F: AsyncFn() -> bool>(what: &str, check: F) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !check().await {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn unique_key(name: &str) -> String {
        format!("ratelimit-test:{name}:{}", uuid::Uuid::new_v4())
    }

    /// One request: its usage before it (counted if under `limit`).
    async fn request(c: &Arc<SyncedCounters>, key: &str, limit: u64, push: &PushSettings) -> u64 {
        let now = crate::plugins::clock::now_secs();
        c.take(&slot(key, now, limit), now, push).await.unwrap()[0]
    }

    #[tokio::test]
    async fn counts_locally_and_pushes_them_to_redis() {
        let c = counters();
        let key = unique_key("push");
        let push = settings("p1");
        let mut seen = Vec::new();
        for _ in 0..5 {
            seen.push(request(&c, &key, 100, &push).await);
        }
        assert_eq!(seen, vec![0, 1, 2, 3, 4]);
        until("5 in Redis", async || redis_value(&key).await == Some(5)).await;
        until("the push done", async || c.idle()).await;
        // After the push the next request reads the total from Redis (and counts there).
        assert_eq!(request(&c, &key, 100, &push).await, 5);
        assert_eq!(redis_value(&key).await, Some(6));
        until("the push done", async || c.idle()).await;
        assert_eq!(redis_value(&key).await, Some(6));
    }

    #[tokio::test]
    async fn two_nodes_see_each_others_counts_after_a_push() {
        let (a, b) = (counters(), counters());
        let key = unique_key("nodes");
        let push = settings("p");
        for _ in 0..3 {
            request(&a, &key, 10, &push).await;
        }
        until("a's push", async || a.idle()).await;
        assert_eq!(redis_value(&key).await, Some(3));
        assert_eq!(request(&b, &key, 10, &push).await, 3);
        for _ in 0..6 {
            request(&b, &key, 10, &push).await;
        }
        assert_eq!(request(&b, &key, 10, &push).await, 10);
        until("b's push", async || b.idle()).await;
        // Refused requests do not stay counted in Redis.
        assert_eq!(redis_value(&key).await, Some(10));
        // a's view was refreshed by its push: it reads b's counts.
        assert_eq!(request(&a, &key, 10, &push).await, 10);
        until("a's push", async || a.idle()).await;
        assert_eq!(redis_value(&key).await, Some(10));
    }

    #[tokio::test]
    async fn push_tasks_end_after_their_push() {
        let c = counters();
        let key = unique_key("tasks");
        // The first request opens the connection (whose driver task stays).
        request(&c, &key, 1000, &settings("first")).await;
        until("the first push", async || c.idle()).await;
        let metrics = tokio::runtime::Handle::current().metrics();
        let baseline = metrics.num_alive_tasks();
        // Many plugin instances (as successive configurations compile them) push once each.
        for i in 0..20 {
            request(&c, &key, 1000, &settings(&format!("instance-{i}"))).await;
        }
        until("every push", async || c.idle()).await;
        until("the push tasks gone", async || {
            metrics.num_alive_tasks() <= baseline
        })
        .await;
        assert_eq!(redis_value(&key).await, Some(21));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_requests_do_not_overshoot_the_local_view() {
        let c = counters();
        let key = unique_key("concurrent");
        // No push during the test: every request after the first uses the local view.
        let push = PushSettings {
            sync_rate: Duration::from_secs(600),
            ..settings("slow")
        };
        assert_eq!(request(&c, &key, 10, &push).await, 0);
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (c, key) = (c.clone(), key.clone());
            let push = PushSettings {
                plugin_id: push.plugin_id.clone(),
                ..push
            };
            tasks.push(tokio::spawn(
                async move { request(&c, &key, 10, &push).await },
            ));
        }
        let mut allowed = 0;
        for task in tasks {
            if task.await.unwrap() < 10 {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 9);
    }

    #[tokio::test]
    async fn a_failed_push_drops_its_counts() {
        // Nothing listens on port 1.
        let client = ::redis::Client::open("redis://127.0.0.1:1/0").unwrap();
        let c = Arc::new(SyncedCounters::new(Arc::new(RedisCounters::new(client))));
        let now = crate::plugins::clock::now_secs();
        let slots = slot("k", now, 10);
        let push = PushSettings {
            timeout: Duration::from_millis(200),
            ..settings("down")
        };
        assert!(c.take(&slots, now, &push).await.is_err());
        // Kong counts a request let through by fault tolerance.
        c.count(&slots, now, &push);
        assert_eq!(c.table().counters.len(), 1);
        until("the failed push", async || c.idle()).await;
        assert!(c.table().counters.is_empty());
    }
}
