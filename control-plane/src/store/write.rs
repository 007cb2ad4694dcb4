//! Entity rows inside a write transaction: insert / upsert / update with their side
//! tables (tags, id arrays), and deletes with explicit cascades.
//!
//! The database enforces every constraint; when it refuses, the error is explained in
//! entity terms here — from the constraint name on Postgres, and on SQLite (which does not
//! name foreign keys) by looking, inside the same transaction, at which reference is
//! missing. No check runs before a write to decide whether it may happen.

use common::model::{EntityKind, OnDelete};
use sqlx::{AnyConnection, Row as _};
use uuid::Uuid;

use super::error::{DbFailure, classify, id_from_detail, plain};
use super::layout::{self, ConstraintMeaning};
use super::rows::{
    RowData, bind_column, extract, id_array_inserts, push_insert_head, push_values, tag_inserts,
};
use super::sql::{Backend, Sql, ident};
use super::version::{ChangeOp, ChangeSet};
use super::{Entity, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteMode {
    Insert,
    Upsert,
    Update,
}

/// Writes one entity. `Update` fails with `NotFound` when no row has the id.
pub(crate) async fn write_entity(
    conn: &mut AnyConnection,
    backend: Backend,
    kind: EntityKind,
    entity: &Entity,
    mode: WriteMode,
    changes: &mut ChangeSet,
) -> Result<(), StoreError> {
    let row = extract(kind, entity)?;
    let l = row.layout;
    let mut sql = Sql::new(backend);
    match mode {
        WriteMode::Insert | WriteMode::Upsert => {
            push_insert_head(&mut sql, l);
            push_values(&mut sql, &row);
            if mode == WriteMode::Upsert {
                sql.push(
                    " ON CONFLICT (\"id\") DO UPDATE SET \"created_at\" = excluded.\"created_at\"",
                );
                for c in &l.columns {
                    let name = ident(&c.name);
                    sql.push(", ").push(&name).push(" = excluded.").push(&name);
                }
                sql.push(", \"entity\" = excluded.\"entity\"");
            }
        }
        WriteMode::Update => {
            sql.push("UPDATE ")
                .push(&ident(l.table))
                .push(" SET \"created_at\" = ")
                .int(row.created_at);
            for (c, v) in l.columns.iter().zip(&row.columns) {
                sql.push(", ").push(&ident(&c.name)).push(" = ");
                bind_column(&mut sql, v);
            }
            sql.push(", \"entity\" = ")
                .json(row.json.clone())
                .push(" WHERE \"id\" = ")
                .id(row.id);
        }
    }
    let result = match sql.query().execute(&mut *conn).await {
        Ok(result) => result,
        Err(e) => return Err(explain_write_failure(conn, backend, kind, &row, e).await),
    };
    if mode == WriteMode::Update && result.rows_affected() == 0 {
        return Err(StoreError::NotFound { kind, id: row.id });
    }
    if mode != WriteMode::Insert {
        clear_side_rows(conn, backend, kind, row.id).await?;
    }
    insert_side_rows(conn, backend, kind, &row).await?;
    let op = match mode {
        WriteMode::Insert => ChangeOp::Insert,
        WriteMode::Upsert => ChangeOp::Upsert,
        WriteMode::Update => ChangeOp::Update,
    };
    changes.record(kind, row.id, op);
    Ok(())
}

async fn clear_side_rows(
    conn: &mut AnyConnection,
    backend: Backend,
    kind: EntityKind,
    id: Uuid,
) -> Result<(), StoreError> {
    let mut sql = Sql::new(backend);
    sql.push("DELETE FROM tags WHERE kind = ")
        .str(kind.name())
        .push(" AND entity_id = ")
        .id(id);
    sql.query().execute(&mut *conn).await.map_err(plain)?;
    for array in &layout::layout(kind).id_arrays {
        let mut sql = Sql::new(backend);
        sql.push("DELETE FROM ")
            .push(&ident(&array.table))
            .push(" WHERE owner_id = ")
            .id(id);
        sql.query().execute(&mut *conn).await.map_err(plain)?;
    }
    Ok(())
}

async fn insert_side_rows(
    conn: &mut AnyConnection,
    backend: Backend,
    kind: EntityKind,
    row: &RowData<'_>,
) -> Result<(), StoreError> {
    for sql in tag_inserts(|| Sql::new(backend), &[row]) {
        sql.query().execute(&mut *conn).await.map_err(plain)?;
    }
    for sql in id_array_inserts(|| Sql::new(backend), &[row]) {
        if let Err(e) = sql.query().execute(&mut *conn).await {
            return Err(explain_write_failure(conn, backend, kind, row, e).await);
        }
    }
    Ok(())
}

async fn exists(
    conn: &mut AnyConnection,
    backend: Backend,
    kind: EntityKind,
    id: Uuid,
) -> Result<bool, StoreError> {
    let mut sql = Sql::new(backend);
    sql.push("SELECT 1 FROM ")
        .push(&ident(kind.name()))
        .push(" WHERE \"id\" = ")
        .id(id);
    Ok(sql
        .query()
        .fetch_optional(&mut *conn)
        .await
        .map_err(plain)?
        .is_some())
}

pub(crate) async fn explain_write_failure(
    conn: &mut AnyConnection,
    backend: Backend,
    kind: EntityKind,
    row: &RowData<'_>,
    err: sqlx::Error,
) -> StoreError {
    let id = row.id;
    match classify(err) {
        DbFailure::Unavailable(m) => StoreError::Unavailable(m),
        DbFailure::Unique(Some(ConstraintMeaning::PrimaryKey(kind))) => {
            StoreError::PrimaryKeyViolation { kind, id }
        }
        DbFailure::Unique(Some(ConstraintMeaning::Unique(kind, fields))) => {
            StoreError::UniqueViolation {
                kind,
                id,
                fields: layout::unique_values(row.entity, fields),
            }
        }
        DbFailure::Unique(_) => {
            StoreError::Database(format!("unique violation writing '{}'", kind.name()))
        }
        DbFailure::ForeignKey {
            meaning: Some(ConstraintMeaning::Foreign(_, fk)),
            ..
        } => StoreError::ForeignKeyMissing {
            kind,
            id,
            field: fk.field,
            references: fk.references,
            referenced_id: layout::foreign_id(kind, row.entity, fk.field)
                .ok()
                .flatten(),
        },
        DbFailure::ForeignKey {
            meaning: Some(ConstraintMeaning::IdArray(_, reference)),
            detail,
        } => StoreError::ForeignKeyMissing {
            kind,
            id,
            field: reference.field,
            references: reference.references,
            referenced_id: id_from_detail(detail.as_deref()),
        },
        DbFailure::ForeignKey { .. } => find_missing_reference(conn, backend, kind, row)
            .await
            .unwrap_or_else(|e| e),
        DbFailure::NotNull(message) => StoreError::InvalidEntity { kind, message },
        DbFailure::Other(m) => StoreError::Database(m),
    }
}

/// SQLite does not say which foreign key failed: look for the missing entity inside the
/// transaction (which SQLite keeps usable after a failed statement).
async fn find_missing_reference(
    conn: &mut AnyConnection,
    backend: Backend,
    kind: EntityKind,
    row: &RowData<'_>,
) -> Result<StoreError, StoreError> {
    for fk in kind.foreign_keys() {
        if let Some(target) = layout::foreign_id(kind, row.entity, fk.field)?
            && !exists(conn, backend, fk.references, target).await?
        {
            return Ok(StoreError::ForeignKeyMissing {
                kind,
                id: row.id,
                field: fk.field,
                references: fk.references,
                referenced_id: Some(target),
            });
        }
    }
    for (array, ids) in row.layout.id_arrays.iter().zip(&row.id_arrays) {
        for target in ids {
            if !exists(conn, backend, array.reference.references, *target).await? {
                return Ok(StoreError::ForeignKeyMissing {
                    kind,
                    id: row.id,
                    field: array.reference.field,
                    references: array.reference.references,
                    referenced_id: Some(*target),
                });
            }
        }
    }
    Ok(StoreError::Database(format!(
        "foreign key violation writing '{}' {}",
        kind.name(),
        row.id
    )))
}

/// Kinds (and their foreign keys) whose rows go when an entity of `kind` goes.
fn cascading_children(kind: EntityKind) -> impl Iterator<Item = (EntityKind, &'static str)> {
    EntityKind::ALL.into_iter().flat_map(move |child| {
        child
            .foreign_keys()
            .iter()
            .filter(move |fk| fk.references == kind && fk.on_delete == OnDelete::Cascade)
            .map(move |fk| (child, fk.field))
    })
}

fn has_cascading_children(kind: EntityKind) -> bool {
    cascading_children(kind).next().is_some()
}

/// Deletes an entity and, explicitly, everything that cascades from it, recording each
/// deletion in the change log (the schema's ON DELETE CASCADE stays as a backstop).
/// Returns whether the entity existed.
pub(crate) fn delete_entity<'a>(
    conn: &'a mut AnyConnection,
    backend: Backend,
    kind: EntityKind,
    id: Uuid,
    changes: &'a mut ChangeSet,
) -> futures_util::future::BoxFuture<'a, Result<bool, StoreError>> {
    Box::pin(async move {
        let table = ident(kind.name());
        // Lock the row first (Postgres): an entity being created that references it waits
        // for us, then fails its foreign key, so no child slips in between our cascade
        // and our delete.
        let mut sql = Sql::new(backend);
        sql.push("SELECT 1 FROM ")
            .push(&table)
            .push(" WHERE \"id\" = ")
            .id(id)
            .push(backend.for_update());
        if sql
            .query()
            .fetch_optional(&mut *conn)
            .await
            .map_err(plain)?
            .is_none()
        {
            return Ok(false);
        }
        // A savepoint, so that a refused delete leaves the transaction usable for finding
        // out who still references the entity.
        exec(conn, "SAVEPOINT portico_delete").await?;
        for (child, field) in cascading_children(kind) {
            delete_children(conn, backend, child, field, id, changes).await?;
        }
        let mut sql = Sql::new(backend);
        sql.push("DELETE FROM ")
            .push(&table)
            .push(" WHERE \"id\" = ")
            .id(id);
        if let Err(e) = sql.query().execute(&mut *conn).await {
            exec(conn, "ROLLBACK TO SAVEPOINT portico_delete").await?;
            return Err(explain_delete_failure(conn, backend, kind, id, e).await);
        }
        exec(conn, "RELEASE SAVEPOINT portico_delete").await?;
        let mut sql = Sql::new(backend);
        sql.push("DELETE FROM tags WHERE kind = ")
            .str(kind.name())
            .push(" AND entity_id = ")
            .id(id);
        sql.query().execute(&mut *conn).await.map_err(plain)?;
        changes.record(kind, id, ChangeOp::Delete);
        Ok(true)
    })
}

pub(crate) async fn exec(
    conn: &mut AnyConnection,
    statement: &'static str,
) -> Result<(), StoreError> {
    sqlx::query(statement)
        .execute(&mut *conn)
        .await
        .map(|_| ())
        .map_err(plain)
}

async fn delete_children(
    conn: &mut AnyConnection,
    backend: Backend,
    child: EntityKind,
    field: &str,
    parent: Uuid,
    changes: &mut ChangeSet,
) -> Result<(), StoreError> {
    let table = ident(child.name());
    let column = ident(&format!("{field}_id"));
    let mut sql = Sql::new(backend);
    sql.push("SELECT ")
        .push(&backend.as_text("id"))
        .push(" FROM ")
        .push(&table)
        .push(" WHERE ")
        .push(&column)
        .push(" = ")
        .id(parent);
    let ids = ids_of(sql.query().fetch_all(&mut *conn).await.map_err(plain)?)?;
    if ids.is_empty() {
        return Ok(());
    }
    if has_cascading_children(child) {
        for id in ids {
            delete_entity(conn, backend, child, id, changes).await?;
        }
        return Ok(());
    }
    let mut sql = Sql::new(backend);
    sql.push("DELETE FROM tags WHERE kind = ")
        .str(child.name())
        .push(" AND entity_id IN (SELECT \"id\" FROM ")
        .push(&table)
        .push(" WHERE ")
        .push(&column)
        .push(" = ")
        .id(parent)
        .push(")");
    sql.query().execute(&mut *conn).await.map_err(plain)?;
    let mut sql = Sql::new(backend);
    sql.push("DELETE FROM ")
        .push(&table)
        .push(" WHERE ")
        .push(&column)
        .push(" = ")
        .id(parent);
    sql.query().execute(&mut *conn).await.map_err(plain)?;
    for id in ids {
        changes.record(child, id, ChangeOp::Delete);
    }
    Ok(())
}

pub(crate) fn ids_of(rows: Vec<sqlx::any::AnyRow>) -> Result<Vec<Uuid>, StoreError> {
    rows.into_iter()
        .map(|row| {
            let text: String = row.try_get(0).map_err(plain)?;
            Uuid::parse_str(&text)
                .map_err(|_| StoreError::Database(format!("corrupt id '{text}' in the database")))
        })
        .collect()
}

/// Who still references an entity whose delete was refused: the constraint says which kind
/// on Postgres; on SQLite every restricting reference is looked at.
async fn explain_delete_failure(
    conn: &mut AnyConnection,
    backend: Backend,
    kind: EntityKind,
    id: Uuid,
    err: sqlx::Error,
) -> StoreError {
    let named = match classify(err) {
        DbFailure::ForeignKey { meaning, .. } => meaning,
        DbFailure::Unavailable(m) => return StoreError::Unavailable(m),
        DbFailure::Unique(_) => return StoreError::Database("unexpected unique violation".into()),
        DbFailure::NotNull(m) | DbFailure::Other(m) => return StoreError::Database(m),
    };
    let mut candidates: Vec<Referrer> = Vec::new();
    match named {
        Some(ConstraintMeaning::Foreign(child, fk)) => {
            candidates.push(Referrer::Foreign(child, fk.field))
        }
        Some(ConstraintMeaning::IdArray(owner, reference)) => {
            candidates.push(Referrer::IdArray(owner, reference.field))
        }
        _ => candidates.extend(restricting_referrers(kind)),
    }
    for referrer in &candidates {
        match find_referrer(conn, backend, *referrer, id).await {
            Ok(Some(referencing_id)) => {
                let (referenced_by, field) = referrer.parts();
                return StoreError::ReferencedBy {
                    kind,
                    id,
                    referenced_by,
                    field,
                    referencing_id: Some(referencing_id),
                };
            }
            Ok(None) => {}
            Err(e) => return e,
        }
    }
    match candidates.first() {
        Some(referrer) if candidates.len() == 1 => {
            let (referenced_by, field) = referrer.parts();
            StoreError::ReferencedBy {
                kind,
                id,
                referenced_by,
                field,
                referencing_id: None,
            }
        }
        _ => StoreError::Database(format!(
            "foreign key violation deleting '{}' {id}",
            kind.name()
        )),
    }
}

#[derive(Debug, Clone, Copy)]
enum Referrer {
    Foreign(EntityKind, &'static str),
    IdArray(EntityKind, &'static str),
}

impl Referrer {
    fn parts(self) -> (EntityKind, &'static str) {
        match self {
            Referrer::Foreign(kind, field) | Referrer::IdArray(kind, field) => (kind, field),
        }
    }
}

fn restricting_referrers(kind: EntityKind) -> Vec<Referrer> {
    let mut out = Vec::new();
    for other in EntityKind::ALL {
        for fk in other.foreign_keys() {
            if fk.references == kind && fk.on_delete == OnDelete::Restrict {
                out.push(Referrer::Foreign(other, fk.field));
            }
        }
        for array in other.id_array_references() {
            if array.references == kind {
                out.push(Referrer::IdArray(other, array.field));
            }
        }
    }
    out
}

async fn find_referrer(
    conn: &mut AnyConnection,
    backend: Backend,
    referrer: Referrer,
    id: Uuid,
) -> Result<Option<Uuid>, StoreError> {
    let mut sql = Sql::new(backend);
    match referrer {
        Referrer::Foreign(kind, field) => {
            sql.push("SELECT ")
                .push(&backend.as_text("id"))
                .push(" FROM ")
                .push(&ident(kind.name()))
                .push(" WHERE ")
                .push(&ident(&format!("{field}_id")))
                .push(" = ")
                .id(id)
                .push(" ORDER BY \"id\" LIMIT 1");
        }
        Referrer::IdArray(kind, field) => {
            sql.push("SELECT ")
                .push(&backend.as_text("owner_id"))
                .push(" FROM ")
                .push(&ident(&format!("{}_{field}", kind.name())))
                .push(" WHERE referenced_id = ")
                .id(id)
                .push(" ORDER BY owner_id LIMIT 1");
        }
    }
    let rows = sql.query().fetch_all(&mut *conn).await.map_err(plain)?;
    Ok(ids_of(rows)?.into_iter().next())
}
