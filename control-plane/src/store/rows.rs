//! An entity turned into what its rows hold (id, mirrored columns, tags, id arrays, JSON),
//! and the SQL that writes those rows — one entity at a time or many per statement.

use common::model::EntityKind;
use uuid::Uuid;

use super::layout::{self, ColumnValue, Layout};
use super::sql::{Sql, ident};
use super::{Entity, StoreError};

/// Everything a row write needs, extracted (and shape-checked) before touching the database.
pub(crate) struct RowData<'e> {
    pub layout: &'static Layout,
    pub kind: EntityKind,
    pub id: Uuid,
    pub created_at: i64,
    pub columns: Vec<ColumnValue>,
    pub tags: Vec<String>,
    pub id_arrays: Vec<Vec<Uuid>>,
    pub json: String,
    pub entity: &'e Entity,
}

pub(crate) fn extract(kind: EntityKind, entity: &Entity) -> Result<RowData<'_>, StoreError> {
    let layout = layout::layout(kind);
    let columns = layout
        .columns
        .iter()
        .map(|c| layout::column_value(kind, entity, c))
        .collect::<Result<_, _>>()?;
    let id_arrays = layout
        .id_arrays
        .iter()
        .map(|a| layout::id_array(kind, entity, a.reference.field))
        .collect::<Result<_, _>>()?;
    Ok(RowData {
        layout,
        kind,
        id: layout::entity_id(kind, entity)?,
        created_at: layout::created_at(entity),
        columns,
        tags: layout::entity_tags(kind, entity)?,
        id_arrays,
        json: serde_json::Value::Object(entity.clone()).to_string(),
        entity,
    })
}

pub(crate) fn bind_column(sql: &mut Sql, value: &ColumnValue) {
    match value {
        ColumnValue::Text(v) => sql.text(v.clone()),
        ColumnValue::Uuid(v) => sql.uuid(*v),
    };
}

/// `INSERT INTO "t" ("id", "created_at", <columns>, "entity") VALUES ` (rows follow).
pub(crate) fn push_insert_head(sql: &mut Sql, layout: &Layout) {
    sql.push("INSERT INTO ")
        .push(&ident(layout.table))
        .push(" (\"id\", \"created_at\"");
    for c in &layout.columns {
        sql.push(", ").push(&ident(&c.name));
    }
    sql.push(", \"entity\") VALUES ");
}

/// `(<id>, <created_at>, <columns>, <entity>)` for one row.
pub(crate) fn push_values(sql: &mut Sql, row: &RowData<'_>) {
    sql.push("(").id(row.id).push(", ").int(row.created_at);
    for v in &row.columns {
        sql.push(", ");
        bind_column(sql, v);
    }
    sql.push(", ").json(row.json.clone()).push(")");
}

/// Rows per multi-row statement: far below both backends' parameter limits.
pub(crate) const ROWS_PER_STATEMENT: usize = 200;

/// The multi-row INSERTs for the tags of `rows` (none when no row has tags).
pub(crate) fn tag_inserts(sql_for: impl Fn() -> Sql, rows: &[&RowData<'_>]) -> Vec<Sql> {
    let pairs: Vec<(&RowData<'_>, &String)> = rows
        .iter()
        .flat_map(|row| row.tags.iter().map(move |tag| (*row, tag)))
        .collect();
    pairs
        .chunks(ROWS_PER_STATEMENT)
        .map(|chunk| {
            let mut sql = sql_for();
            sql.push("INSERT INTO tags (kind, entity_id, tag) VALUES ");
            for (i, (row, tag)) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.push("(")
                    .str(row.kind.name())
                    .push(", ")
                    .id(row.id)
                    .push(", ")
                    .str(tag)
                    .push(")");
            }
            sql
        })
        .collect()
}

/// The multi-row INSERTs for the id-array tables of `rows`.
pub(crate) fn id_array_inserts(sql_for: impl Fn() -> Sql, rows: &[&RowData<'_>]) -> Vec<Sql> {
    let mut out = Vec::new();
    let Some(first) = rows.first() else {
        return out;
    };
    for (index, array) in first.layout.id_arrays.iter().enumerate() {
        let pairs: Vec<(Uuid, Uuid)> = rows
            .iter()
            .flat_map(|row| row.id_arrays[index].iter().map(move |id| (row.id, *id)))
            .collect();
        for chunk in pairs.chunks(ROWS_PER_STATEMENT) {
            let mut sql = sql_for();
            sql.push("INSERT INTO ")
                .push(&ident(&array.table))
                .push(" (owner_id, referenced_id) VALUES ");
            for (i, (owner, referenced)) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.push("(")
                    .id(*owner)
                    .push(", ")
                    .id(*referenced)
                    .push(")");
            }
            out.push(sql);
        }
    }
    out
}
