//! The configuration version and the change log.
//!
//! Every write transaction ends in [`commit_changes`]: it bumps the single version row,
//! records one change-log row per entity touched, and (Postgres) `NOTIFY`s
//! `portico_config` with the new version — all before the caller commits, so a version is
//! visible exactly when its changes are. The version row's lock serialises writers, so
//! versions are committed in order and a reader that sees version N sees every change up to
//! N and none after.

use std::collections::BTreeMap;
use std::time::Duration;

use common::model::EntityKind;
use sqlx::postgres::PgListener;
use sqlx::{AnyConnection, Row};
use tokio::sync::watch;
use uuid::Uuid;

use super::error::plain;
use super::sql::{Backend, Sql};
use super::{Store, StoreError};

/// The Postgres channel a commit is announced on; the payload is the new version.
pub const NOTIFY_CHANNEL: &str = "portico_config";

/// What happened to an entity in a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChangeOp {
    /// Created in this version.
    Insert,
    /// Existed before and was replaced.
    Update,
    /// Written by id without knowing whether it existed (PUT); it exists now.
    Upsert,
    /// Gone (deleted directly or by a cascade).
    Delete,
}

impl ChangeOp {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeOp::Insert => "insert",
            ChangeOp::Update => "update",
            ChangeOp::Upsert => "upsert",
            ChangeOp::Delete => "delete",
        }
    }

    pub fn parse(s: &str) -> Option<ChangeOp> {
        [
            ChangeOp::Insert,
            ChangeOp::Update,
            ChangeOp::Upsert,
            ChangeOp::Delete,
        ]
        .into_iter()
        .find(|op| op.as_str() == s)
    }
}

/// One change-log row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub version: u64,
    pub kind: EntityKind,
    pub id: Uuid,
    pub op: ChangeOp,
}

/// The change log after some version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeLog {
    /// Changes ordered by version, then kind and id.
    pub changes: Vec<Change>,
    /// The current version at the time of the read.
    pub version: u64,
    /// False when rows the caller asked for were pruned: fall back to a full snapshot.
    pub complete: bool,
}

/// The entities a transaction touched, one net operation per entity.
#[derive(Debug, Default)]
pub(crate) struct ChangeSet {
    ops: BTreeMap<(EntityKind, Uuid), ChangeOp>,
}

impl ChangeSet {
    pub fn record(&mut self, kind: EntityKind, id: Uuid, op: ChangeOp) {
        use ChangeOp::*;
        let key = (kind, id);
        let merged = match (self.ops.get(&key).copied(), op) {
            (None, op) => Some(op),
            // Created in this transaction: whatever follows, it is new — or never was.
            (Some(Insert), Delete) => None,
            (Some(Insert), _) => Some(Insert),
            (Some(Delete), Delete) => Some(Delete),
            (Some(Delete), _) => Some(Upsert),
            (Some(_), Delete) => Some(Delete),
            (Some(Upsert), _) => Some(Upsert),
            (Some(Update), op) => Some(op),
        };
        match merged {
            Some(op) => self.ops.insert(key, op),
            None => self.ops.remove(&key),
        };
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn entries(&self) -> impl Iterator<Item = (EntityKind, Uuid, ChangeOp)> + '_ {
        self.ops.iter().map(|((kind, id), op)| (*kind, *id, *op))
    }
}

/// Rows per multi-row INSERT into the change log (4 parameters each).
const CHANGE_ROWS_PER_STATEMENT: usize = 500;

/// Bumps the version and writes the change log inside the caller's transaction.
/// Returns `None` (and bumps nothing) when the transaction changed nothing.
pub(crate) async fn commit_changes(
    conn: &mut AnyConnection,
    backend: Backend,
    changes: &ChangeSet,
) -> Result<Option<u64>, StoreError> {
    if changes.is_empty() {
        return Ok(None);
    }
    let row = sqlx::query(
        "UPDATE config_version SET version = version + 1 WHERE id = 1 RETURNING version",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(plain)?;
    let version: i64 = row.try_get(0).map_err(plain)?;
    let entries: Vec<_> = changes.entries().collect();
    for chunk in entries.chunks(CHANGE_ROWS_PER_STATEMENT) {
        let mut sql = Sql::new(backend);
        sql.push("INSERT INTO config_changes (version, kind, entity_id, op) VALUES ");
        for (i, (kind, id, op)) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push("(")
                .int(version)
                .push(", ")
                .str(kind.name())
                .push(", ")
                .id(*id)
                .push(", ")
                .str(op.as_str())
                .push(")");
        }
        sql.query().execute(&mut *conn).await.map_err(plain)?;
    }
    if backend == Backend::Postgres {
        // Delivered to listeners only if and when this transaction commits.
        let mut sql = Sql::new(backend);
        sql.push("SELECT pg_notify(")
            .str(NOTIFY_CHANNEL)
            .push(", ")
            .str(&version.to_string())
            .push(")");
        sql.query().execute(&mut *conn).await.map_err(plain)?;
    }
    Ok(Some(to_version(version)))
}

pub(crate) fn to_version(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(crate) async fn read_version(conn: &mut AnyConnection) -> Result<u64, StoreError> {
    let row = sqlx::query("SELECT version FROM config_version WHERE id = 1")
        .fetch_one(&mut *conn)
        .await
        .map_err(plain)?;
    Ok(to_version(row.try_get(0).map_err(plain)?))
}

impl Store {
    /// The committed configuration version (0 before the first write).
    pub async fn current_version(&self) -> Result<u64, StoreError> {
        self.deadline(self.op_timeout(), async {
            let mut conn = self.pool().acquire().await.map_err(plain)?;
            read_version(&mut conn).await
        })
        .await
    }

    /// Changes committed after version `after`, in version order.
    pub async fn changes_since(&self, after: u64) -> Result<ChangeLog, StoreError> {
        let backend = self.backend();
        self.deadline(self.bulk_timeout(), async move {
            let mut tx = self
                .pool()
                .begin_with(backend.begin_snapshot())
                .await
                .map_err(plain)?;
            let row =
                sqlx::query("SELECT version, pruned_through FROM config_version WHERE id = 1")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(plain)?;
            let version = to_version(row.try_get(0).map_err(plain)?);
            let pruned_through = to_version(row.try_get(1).map_err(plain)?);
            let mut sql = Sql::new(backend);
            sql.push("SELECT version, kind, ")
                .push(&backend.as_text("entity_id"))
                .push(", op FROM config_changes WHERE version > ")
                .int(i64::try_from(after).unwrap_or(i64::MAX))
                .push(" ORDER BY version, kind, entity_id");
            let rows = sql.query().fetch_all(&mut *tx).await.map_err(plain)?;
            tx.rollback().await.map_err(plain)?;
            let mut changes = Vec::with_capacity(rows.len());
            for row in rows {
                let kind: String = row.try_get(1).map_err(plain)?;
                let id: String = row.try_get(2).map_err(plain)?;
                let op: String = row.try_get(3).map_err(plain)?;
                let corrupt =
                    || StoreError::Database(format!("corrupt change-log row ({kind}, {id}, {op})"));
                changes.push(Change {
                    version: to_version(row.try_get(0).map_err(plain)?),
                    kind: EntityKind::from_name(&kind).ok_or_else(corrupt)?,
                    id: Uuid::parse_str(&id).map_err(|_| corrupt())?,
                    op: ChangeOp::parse(&op).ok_or_else(corrupt)?,
                });
            }
            Ok(ChangeLog {
                changes,
                version,
                complete: after >= pruned_through,
            })
        })
        .await
    }

    /// Deletes change-log rows of versions up to `through` (keep what data planes may still
    /// ask deltas for). Later `changes_since` calls from before `through` report
    /// `complete: false`.
    pub async fn prune_changes(&self, through: u64) -> Result<(), StoreError> {
        let backend = self.backend();
        let through = i64::try_from(through).unwrap_or(i64::MAX);
        self.deadline(self.bulk_timeout(), async move {
            let mut tx = self
                .pool()
                .begin_with(backend.begin_write())
                .await
                .map_err(plain)?;
            let mut sql = Sql::new(backend);
            sql.push("DELETE FROM config_changes WHERE version <= ")
                .int(through);
            sql.query().execute(&mut *tx).await.map_err(plain)?;
            let mut sql = Sql::new(backend);
            sql.push("UPDATE config_version SET pruned_through = ")
                .int(through)
                .push(" WHERE id = 1 AND pruned_through < ")
                .int(through);
            sql.query().execute(&mut *tx).await.map_err(plain)?;
            tx.commit().await.map_err(plain)
        })
        .await
    }

    /// Records a version known to be committed and wakes subscribers (never goes back).
    pub(crate) fn publish(&self, version: u64) {
        self.inner.versions.send_if_modified(|current| {
            if version > *current {
                *current = version;
                true
            } else {
                false
            }
        });
    }

    /// A receiver of the newest committed version. It learns of commits made through this
    /// `Store` at once, of other processes' commits through Postgres `LISTEN` (a
    /// notification carries the version), and of anything else (a missed notification, a
    /// writer on the same SQLite file) by polling every `poll_interval`. Bursts coalesce:
    /// a slow reader sees the newest version, not each one.
    ///
    /// The first call starts the watchers; when it returns, the LISTEN connection is up (if
    /// Postgres is reachable) and the receiver holds the version committed at that point,
    /// so no later commit can go unnoticed.
    pub async fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner
            .watchers_started
            .get_or_init(|| self.start_watchers())
            .await;
        self.inner.versions.subscribe()
    }

    async fn start_watchers(&self) {
        let weak = std::sync::Arc::downgrade(&self.inner);
        let poll = self.inner.options.poll_interval;
        let mut handles = Vec::new();
        if let Some(url) = self.inner.postgres_url.clone() {
            let listener = tokio::time::timeout(self.inner.options.acquire_timeout, listen(&url))
                .await
                .unwrap_or_else(|_| Err("timed out".into()));
            let listener = listener
                .map_err(
                    |e| tracing::warn!(error = %e, "LISTEN {NOTIFY_CHANNEL} failed; will retry"),
                )
                .ok();
            handles.push(
                tokio::spawn(listen_versions(weak.clone(), url, listener, poll)).abort_handle(),
            );
        }
        match self.current_version().await {
            Ok(version) => self.publish(version),
            Err(e) => tracing::debug!(error = %e, "reading the configuration version failed"),
        }
        handles.push(tokio::spawn(poll_versions(weak, poll)).abort_handle());
        let mut watchers = match self.inner.watchers.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        watchers.extend(handles);
    }
}

async fn poll_versions(store: std::sync::Weak<super::Inner>, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let Some(inner) = store.upgrade() else { return };
        let store = Store { inner };
        match store.current_version().await {
            Ok(version) => store.publish(version),
            Err(e) => tracing::debug!(error = %e, "polling the configuration version failed"),
        }
    }
}

async fn listen(url: &str) -> Result<PgListener, String> {
    let mut listener = PgListener::connect(url).await.map_err(|e| e.to_string())?;
    listener
        .listen(NOTIFY_CHANNEL)
        .await
        .map_err(|e| e.to_string())?;
    Ok(listener)
}

/// Follows `NOTIFY portico_config`. `PgListener` reconnects by itself after a lost
/// connection (notifications sent meanwhile are lost; polling covers them); if it cannot
/// connect at all, retry after `retry`.
async fn listen_versions(
    store: std::sync::Weak<super::Inner>,
    url: String,
    mut listener: Option<PgListener>,
    retry: Duration,
) {
    loop {
        let mut current = match listener.take() {
            Some(listener) => listener,
            None => match listen(&url).await {
                Ok(listener) => listener,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot LISTEN {NOTIFY_CHANNEL}; retrying");
                    tokio::time::sleep(retry).await;
                    continue;
                }
            },
        };
        loop {
            match current.recv().await {
                Ok(notification) => {
                    let Some(inner) = store.upgrade() else { return };
                    match notification.payload().parse::<u64>() {
                        Ok(version) => Store { inner }.publish(version),
                        Err(_) => tracing::warn!(
                            payload = notification.payload(),
                            "ignoring a malformed {NOTIFY_CHANNEL} notification"
                        ),
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the LISTEN connection failed; reconnecting");
                    tokio::time::sleep(retry).await;
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_sets_keep_one_net_operation_per_entity() {
        let a = Uuid::new_v4();
        let b = Uuid::new_v4();
        let c = Uuid::new_v4();
        let mut set = ChangeSet::default();
        set.record(EntityKind::Service, a, ChangeOp::Insert);
        set.record(EntityKind::Service, a, ChangeOp::Update);
        set.record(EntityKind::Route, b, ChangeOp::Delete);
        set.record(EntityKind::Route, b, ChangeOp::Insert);
        set.record(EntityKind::Consumer, c, ChangeOp::Insert);
        set.record(EntityKind::Consumer, c, ChangeOp::Delete);
        let entries: Vec<_> = set.entries().collect();
        assert_eq!(
            entries,
            vec![
                (EntityKind::Service, a, ChangeOp::Insert),
                (EntityKind::Route, b, ChangeOp::Upsert),
            ]
        );
    }
}
