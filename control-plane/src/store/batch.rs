//! Write transactions and the public write API. Every write — one entity, a batch, or
//! "replace everything" — runs in one transaction that ends by bumping the version and
//! writing the change log (`version::commit_changes`); it is all-or-nothing.

use common::model::EntityKind;
use sqlx::AnyConnection;
use uuid::Uuid;

use super::bulk::insert_many;
use super::error::plain;
use super::sql::{Backend, Sql, ident};
use super::version::{Change, ChangeOp, ChangeSet, commit_changes};
use super::write::{WriteMode, delete_entity, ids_of, write_entity};
use super::{Entity, Store, StoreError};

/// One write of a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    /// Create; fails with `PrimaryKeyViolation` if the id exists.
    Insert { kind: EntityKind, entity: Entity },
    /// Create or replace by id (PUT).
    Upsert { kind: EntityKind, entity: Entity },
    /// Replace an existing entity by id; fails with `NotFound` if it does not exist.
    Update { kind: EntityKind, entity: Entity },
    /// Delete by id with cascades; deleting a missing entity is not an error.
    Delete { kind: EntityKind, id: Uuid },
}

/// What a committed batch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    /// The new version, or `None` when the batch changed nothing (no version was used).
    pub version: Option<u64>,
    /// The change-log rows written (one net operation per entity).
    pub changes: Vec<Change>,
}

/// A committed delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    pub version: u64,
    /// Entities deleted along with it by cascades (SNIs, targets, plugins, credentials).
    pub cascaded: Vec<(EntityKind, Uuid)>,
}

async fn apply(
    conn: &mut AnyConnection,
    backend: Backend,
    op: &WriteOp,
    changes: &mut ChangeSet,
) -> Result<(), StoreError> {
    match op {
        WriteOp::Insert { kind, entity } => {
            write_entity(conn, backend, *kind, entity, WriteMode::Insert, changes).await
        }
        WriteOp::Upsert { kind, entity } => {
            write_entity(conn, backend, *kind, entity, WriteMode::Upsert, changes).await
        }
        WriteOp::Update { kind, entity } => {
            write_entity(conn, backend, *kind, entity, WriteMode::Update, changes).await
        }
        WriteOp::Delete { kind, id } => delete_entity(conn, backend, *kind, *id, changes)
            .await
            .map(|_| ()),
    }
}

/// Applies `ops` in order; runs of inserts of one kind go in a few rows per statement.
async fn apply_all(
    conn: &mut AnyConnection,
    backend: Backend,
    ops: &[WriteOp],
    changes: &mut ChangeSet,
) -> Result<(), StoreError> {
    let mut rest = ops;
    while let Some(op) = rest.first() {
        if let WriteOp::Insert { kind, .. } = op {
            let run: Vec<&Entity> = rest
                .iter()
                .map_while(|op| match op {
                    WriteOp::Insert { kind: k, entity } if k == kind => Some(entity),
                    _ => None,
                })
                .collect();
            if run.len() > 1 {
                insert_many(conn, backend, *kind, &run, changes).await?;
                rest = &rest[run.len()..];
                continue;
            }
        }
        apply(conn, backend, op, changes).await?;
        rest = &rest[1..];
    }
    Ok(())
}

/// Deletes every entity (children first), recording each deletion.
async fn wipe_all(
    conn: &mut AnyConnection,
    backend: Backend,
    changes: &mut ChangeSet,
) -> Result<(), StoreError> {
    for kind in EntityKind::ALL.into_iter().rev() {
        let mut sql = Sql::new(backend);
        sql.push("SELECT ")
            .push(&backend.as_text("id"))
            .push(" FROM ")
            .push(&ident(kind.name()));
        let ids = ids_of(sql.query().fetch_all(&mut *conn).await.map_err(plain)?)?;
        for id in ids {
            changes.record(kind, id, ChangeOp::Delete);
        }
    }
    sqlx::query("DELETE FROM tags")
        .execute(&mut *conn)
        .await
        .map_err(plain)?;
    for kind in EntityKind::ALL.into_iter().rev() {
        for array in kind.id_array_references() {
            let table = ident(&format!("{}_{}", kind.name(), array.field));
            let mut sql = Sql::new(backend);
            sql.push("DELETE FROM ").push(&table);
            sql.query().execute(&mut *conn).await.map_err(plain)?;
        }
        let mut sql = Sql::new(backend);
        sql.push("DELETE FROM ").push(&ident(kind.name()));
        sql.query().execute(&mut *conn).await.map_err(plain)?;
    }
    Ok(())
}

impl Store {
    /// Runs `ops` (after wiping everything, if `wipe`) in one write transaction.
    async fn transact(
        &self,
        wipe: bool,
        ops: &[WriteOp],
        limit: std::time::Duration,
    ) -> Result<(Option<u64>, ChangeSet), StoreError> {
        let backend = self.backend();
        let (version, changes) = self
            .deadline(limit, async {
                let mut tx = self
                    .pool()
                    .begin_with(backend.begin_write())
                    .await
                    .map_err(plain)?;
                let mut changes = ChangeSet::default();
                let result = async {
                    if wipe {
                        wipe_all(&mut tx, backend, &mut changes).await?;
                    }
                    apply_all(&mut tx, backend, ops, &mut changes).await?;
                    commit_changes(&mut tx, backend, &changes).await
                }
                .await;
                match result {
                    Ok(version) => {
                        tx.commit().await.map_err(plain)?;
                        Ok((version, changes))
                    }
                    Err(e) => {
                        // Roll back now rather than when the connection is next used, so
                        // row locks (and SQLite's write lock) go at once.
                        if let Err(rollback) = tx.rollback().await {
                            tracing::debug!(error = %rollback, "rollback after a failed write");
                        }
                        Err(e)
                    }
                }
            })
            .await?;
        if let Some(v) = version {
            self.publish(v);
        }
        Ok((version, changes))
    }

    async fn single(&self, op: WriteOp) -> Result<u64, StoreError> {
        let (version, _) = self
            .transact(false, std::slice::from_ref(&op), self.op_timeout())
            .await?;
        version.ok_or_else(|| StoreError::Database("a write recorded no change".into()))
    }

    /// Creates an entity. Returns the new configuration version.
    pub async fn insert(&self, kind: EntityKind, entity: &Entity) -> Result<u64, StoreError> {
        self.single(WriteOp::Insert {
            kind,
            entity: entity.clone(),
        })
        .await
    }

    /// Creates or replaces an entity by id (the whole entity; PUT).
    pub async fn upsert(&self, kind: EntityKind, entity: &Entity) -> Result<u64, StoreError> {
        self.single(WriteOp::Upsert {
            kind,
            entity: entity.clone(),
        })
        .await
    }

    /// Replaces an existing entity by id (PATCH after merging). `NotFound` if it is gone.
    pub async fn update(&self, kind: EntityKind, entity: &Entity) -> Result<u64, StoreError> {
        self.single(WriteOp::Update {
            kind,
            entity: entity.clone(),
        })
        .await
    }

    /// Deletes an entity and what cascades from it. `Ok(None)` when it did not exist;
    /// `ReferencedBy` when a restricting reference remains (a route on a service, a
    /// service trusting a CA certificate, a service or upstream using a client certificate).
    pub async fn delete(&self, kind: EntityKind, id: Uuid) -> Result<Option<Deleted>, StoreError> {
        let (version, changes) = self
            .transact(false, &[WriteOp::Delete { kind, id }], self.op_timeout())
            .await?;
        Ok(version.map(|version| Deleted {
            version,
            cascaded: changes
                .entries()
                .filter(|(k, i, _)| (*k, *i) != (kind, id))
                .map(|(k, i, _)| (k, i))
                .collect(),
        }))
    }

    /// Applies `ops` in order in one transaction: all or nothing, one version.
    pub async fn write_batch(&self, ops: &[WriteOp]) -> Result<BatchOutcome, StoreError> {
        let (version, changes) = self.transact(false, ops, self.bulk_timeout()).await?;
        Ok(outcome(version, &changes))
    }

    /// Replaces the whole configuration with `entities` (declarative `config import`), in
    /// one transaction and one version. Entities are inserted kind by kind in
    /// `EntityKind::ALL` order, so references resolve whatever order they are given in.
    pub async fn replace_all(
        &self,
        entities: &[(EntityKind, Entity)],
    ) -> Result<BatchOutcome, StoreError> {
        let position = |k: EntityKind| EntityKind::ALL.iter().position(|x| *x == k);
        let mut ordered: Vec<&(EntityKind, Entity)> = entities.iter().collect();
        ordered.sort_by_key(|(kind, _)| position(*kind));
        let ops: Vec<WriteOp> = ordered
            .into_iter()
            .map(|(kind, entity)| WriteOp::Insert {
                kind: *kind,
                entity: entity.clone(),
            })
            .collect();
        let (version, changes) = self.transact(true, &ops, self.bulk_timeout()).await?;
        Ok(outcome(version, &changes))
    }
}

fn outcome(version: Option<u64>, changes: &ChangeSet) -> BatchOutcome {
    BatchOutcome {
        version,
        changes: match version {
            Some(version) => changes
                .entries()
                .map(|(kind, id, op)| Change {
                    version,
                    kind,
                    id,
                    op,
                })
                .collect(),
            None => Vec::new(),
        },
    }
}
