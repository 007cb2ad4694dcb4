//! Many inserts of one kind in few statements (declarative import, large batches).
//!
//! Each chunk of rows goes in as one multi-row INSERT (plus one for their tags and id
//! arrays) inside a savepoint. If the database refuses a chunk, the savepoint is rolled back
//! and the chunk is inserted again one entity at a time, so the error names the entity and
//! constraint exactly as a single insert would.

use common::model::EntityKind;
use sqlx::AnyConnection;

use super::error::{DbFailure, classify};
use super::rows::{
    ROWS_PER_STATEMENT, RowData, extract, id_array_inserts, push_insert_head, push_values,
    tag_inserts,
};
use super::sql::{Backend, Sql};
use super::version::{ChangeOp, ChangeSet};
use super::write::{WriteMode, exec, write_entity};
use super::{Entity, StoreError};

async fn insert_chunk(
    conn: &mut AnyConnection,
    backend: Backend,
    chunk: &[RowData<'_>],
) -> Result<(), sqlx::Error> {
    let Some(first) = chunk.first() else {
        return Ok(());
    };
    let mut sql = Sql::new(backend);
    push_insert_head(&mut sql, first.layout);
    for (i, row) in chunk.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        push_values(&mut sql, row);
    }
    sql.query().execute(&mut *conn).await?;
    let rows: Vec<&RowData<'_>> = chunk.iter().collect();
    let side = tag_inserts(|| Sql::new(backend), &rows)
        .into_iter()
        .chain(id_array_inserts(|| Sql::new(backend), &rows));
    for statement in side {
        statement.query().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Inserts `entities` (all of `kind`) in order, as `write_entity(Insert)` would one by one.
pub(crate) async fn insert_many(
    conn: &mut AnyConnection,
    backend: Backend,
    kind: EntityKind,
    entities: &[&Entity],
    changes: &mut ChangeSet,
) -> Result<(), StoreError> {
    let rows = entities
        .iter()
        .map(|entity| extract(kind, entity))
        .collect::<Result<Vec<_>, _>>()?;
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        exec(conn, "SAVEPOINT portico_bulk").await?;
        match insert_chunk(conn, backend, chunk).await {
            Ok(()) => {
                exec(conn, "RELEASE SAVEPOINT portico_bulk").await?;
                for row in chunk {
                    changes.record(kind, row.id, ChangeOp::Insert);
                }
            }
            Err(e) => {
                if let DbFailure::Unavailable(m) = classify(e) {
                    return Err(StoreError::Unavailable(m));
                }
                exec(conn, "ROLLBACK TO SAVEPOINT portico_bulk").await?;
                exec(conn, "RELEASE SAVEPOINT portico_bulk").await?;
                for row in chunk {
                    write_entity(conn, backend, kind, row.entity, WriteMode::Insert, changes)
                        .await?;
                }
            }
        }
    }
    Ok(())
}
