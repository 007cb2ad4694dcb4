//! The configuration store: Kong-shaped entities in Postgres (production) or an embedded
//! SQLite file (the default), behind one async API.
//!
//! - Entities arrive validated, as JSON objects with `id`, timestamps and foreign fields
//!   shaped `{"id": "<uuid>"}`; the store keeps the whole object and mirrors unique and
//!   foreign fields into real columns, so **the database enforces uniqueness and
//!   references** (two control planes writing at once cannot break them).
//! - **Every committed write bumps the configuration version in the same transaction** and
//!   records what changed in the change log; on Postgres it also `NOTIFY`s `portico_config`.
//! - [`Store::snapshot`] reads every entity and the version in one consistent transaction.
//!
//! Modules: `connect` (open, pools, migrations), `layout` (tables derived from
//! `EntityKind`), `sql` (backend differences), `write` (entity rows, cascades), `batch`
//! (transactions and the public write API), `read`, `list` (pagination and filters), `tags`,
//! `version` (counter, change log, notifications), `snapshot`, `error`.

mod batch;
mod bulk;
mod connect;
mod data_planes;
mod error;
mod layout;
mod list;
mod read;
mod rows;
mod snapshot;
mod sql;
mod tags;
pub mod testing;
mod version;
mod write;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::AnyPool;
use tokio::sync::watch;
use tokio::task::AbortHandle;

pub use batch::{BatchOutcome, Deleted, WriteOp};
pub use connect::{MigrationReport, StoreOptions, migrate_command};
pub use error::StoreError;
pub use list::{FieldFilter, ListQuery, Page, PageOffset, Scope};
pub use snapshot::Snapshot;
pub use sql::Backend;
pub use tags::{TagFilter, TagFilterError, TagPage, TagRow};
pub use version::{Change, ChangeLog, ChangeOp, NOTIFY_CHANNEL};

/// An entity as the store keeps it: the validated JSON object.
pub type Entity = serde_json::Map<String, serde_json::Value>;

/// A handle on the store. Cheap to clone; all clones share one connection pool.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    pool: AnyPool,
    backend: Backend,
    /// The Postgres URL, for the LISTEN connection.
    postgres_url: Option<String>,
    options: StoreOptions,
    /// The newest version this process knows to be committed.
    versions: watch::Sender<u64>,
    /// Background tasks feeding `versions` (LISTEN and polling), started on first subscribe.
    watchers: Mutex<Vec<AbortHandle>>,
    watchers_started: tokio::sync::OnceCell<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let handles = match self.watchers.get_mut() {
            Ok(handles) => handles,
            Err(poisoned) => poisoned.into_inner(),
        };
        for handle in handles.drain(..) {
            handle.abort();
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.inner.backend)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Which database this store runs on.
    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.inner.pool
    }

    /// Runs a store operation with a deadline, so a database that stopped answering yields
    /// `Unavailable` instead of a request that hangs.
    pub(crate) async fn deadline<T>(
        &self,
        limit: Duration,
        operation: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(limit, operation).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Unavailable(format!(
                "the database did not answer within {} ms",
                limit.as_millis()
            ))),
        }
    }

    /// Deadline for single-entity operations and page reads.
    pub(crate) fn op_timeout(&self) -> Duration {
        self.inner.options.statement_timeout
    }

    /// Deadline for batch writes and full reads.
    pub(crate) fn bulk_timeout(&self) -> Duration {
        self.inner.options.bulk_timeout
    }
}
