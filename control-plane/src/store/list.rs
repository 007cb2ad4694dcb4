//! Listing entities a page at a time, in a stable order (by id, like Kong on Postgres),
//! filtered by tags, by a foreign key (routes of a service, ...) or by a unique field
//! (`custom_id`).
//!
//! A page's `offset` is opaque to clients: URL-safe base64 of a JSON array holding the last
//! sort key. Pages continue strictly after that key, so rows added or removed between two
//! requests never cause a duplicate, and rows present throughout are never skipped.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use common::model::EntityKind;
use sqlx::Row as _;
use uuid::Uuid;

use super::error::plain;
use super::read::{entity_from_row, filter_column, push_scope};
use super::sql::{Sql, ident};
use super::tags::TagFilter;
use super::{Entity, Store, StoreError};

/// Restricts a listing to the children of one entity: `Scope { field: "service", id }`
/// lists the routes (or plugins) of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    /// A foreign-key field of the listed kind (`service`, `route`, `consumer`, `upstream`,
    /// `certificate`, ...).
    pub field: &'static str,
    pub id: Uuid,
}

/// Equality on a mirrored unique field, e.g. `custom_id` of consumers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldFilter {
    pub field: String,
    pub value: String,
}

/// What to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// Page size (at least 1; the Admin API enforces Kong's 1..=1000).
    pub size: usize,
    /// Continue after this page token (from a previous `Page::next`).
    pub offset: Option<PageOffset>,
    pub tags: Option<TagFilter>,
    pub scope: Option<Scope>,
    pub field: Option<FieldFilter>,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            size: 100,
            offset: None,
            tags: None,
            scope: None,
            field: None,
        }
    }
}

impl ListQuery {
    pub fn new(size: usize) -> Self {
        ListQuery {
            size,
            ..ListQuery::default()
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub data: Vec<Entity>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<PageOffset>,
}

/// An opaque position in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageOffset {
    keys: Vec<String>,
}

const OFFSET_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

impl PageOffset {
    pub(crate) fn from_keys(keys: Vec<String>) -> Self {
        PageOffset { keys }
    }

    pub(crate) fn keys(&self) -> &[String] {
        &self.keys
    }

    /// Decodes a client's `offset`. Errors carry Kong's reasons
    /// (`'x' is not a valid offset: bad base64 encoding`).
    pub fn parse(token: &str) -> Result<PageOffset, StoreError> {
        let invalid = |reason| StoreError::InvalidOffset {
            token: token.to_owned(),
            reason,
        };
        let bytes = OFFSET_BASE64
            .decode(token)
            .map_err(|_| invalid("bad base64 encoding"))?;
        let keys: Vec<String> =
            serde_json::from_slice(&bytes).map_err(|_| invalid("bad json encoding"))?;
        if keys.is_empty() {
            return Err(invalid("bad offset value"));
        }
        Ok(PageOffset { keys })
    }

    /// The token to hand to clients (URL-safe, no padding).
    pub fn token(&self) -> String {
        OFFSET_BASE64.encode(serde_json::Value::from(self.keys.clone()).to_string())
    }

    pub(crate) fn bad_value(&self) -> StoreError {
        StoreError::InvalidOffset {
            token: self.token(),
            reason: "bad offset value",
        }
    }

    fn after_id(&self) -> Result<Uuid, StoreError> {
        match self.keys.as_slice() {
            [id] => Uuid::parse_str(id).map_err(|_| self.bad_value()),
            _ => Err(self.bad_value()),
        }
    }
}

impl std::fmt::Display for PageOffset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.token())
    }
}

/// Appends the tag condition on `"id"` for entities of `kind`.
pub(crate) fn push_tag_filter(sql: &mut Sql, kind: EntityKind, filter: &TagFilter) {
    let tags = filter.tags();
    sql.push(" AND \"id\" IN (SELECT entity_id FROM tags WHERE kind = ")
        .str(kind.name())
        .push(" AND tag IN (")
        .text_list(tags)
        .push(")");
    if let TagFilter::All(_) = filter {
        sql.push(" GROUP BY entity_id HAVING COUNT(*) = ")
            .int(i64::try_from(tags.len()).unwrap_or(i64::MAX));
    }
    sql.push(")");
}

impl Store {
    /// One page of entities of `kind`, ordered by id.
    pub async fn list(&self, kind: EntityKind, query: &ListQuery) -> Result<Page, StoreError> {
        if query.size == 0 {
            return Err(StoreError::InvalidRequest(
                "page size must be at least 1".into(),
            ));
        }
        let backend = self.backend();
        // The inner query picks the page on plain columns; only its rows are converted to
        // text (Postgres would otherwise render every row's JSON before sorting, when the
        // planner has no statistics yet, e.g. right after an import).
        let mut sql = Sql::new(backend);
        sql.push("SELECT ")
            .push(&backend.as_text("id"))
            .push(", ")
            .push(&backend.as_text("entity"))
            .push(" FROM (SELECT \"id\", \"entity\" FROM ")
            .push(&ident(kind.name()))
            .push(" WHERE 1 = 1");
        if let Some(offset) = &query.offset {
            sql.push(" AND \"id\" > ").id(offset.after_id()?);
        }
        if let Some(scope) = &query.scope {
            push_scope(&mut sql, kind, scope)?;
        }
        if let Some(filter) = &query.field {
            let (column, is_uuid) = filter_column(kind, &filter.field)?;
            sql.push(" AND ").push(&ident(&column)).push(" = ");
            if is_uuid {
                match Uuid::parse_str(&filter.value) {
                    Ok(id) => sql.id(id),
                    Err(_) => sql.push("NULL"),
                };
            } else {
                sql.str(&filter.value);
            }
        }
        if let Some(tags) = &query.tags {
            push_tag_filter(&mut sql, kind, tags);
        }
        // One row more than asked tells whether there is a next page.
        let limit = i64::try_from(query.size.saturating_add(1)).unwrap_or(i64::MAX);
        sql.push(" ORDER BY \"id\" LIMIT ")
            .int(limit)
            .push(") page ORDER BY \"id\"");
        self.deadline(self.op_timeout(), async move {
            let rows = sql.query().fetch_all(self.pool()).await.map_err(plain)?;
            let more = rows.len() > query.size;
            let mut data = Vec::with_capacity(rows.len().min(query.size));
            let mut last_id = None;
            for row in rows.iter().take(query.size) {
                last_id = Some(row.try_get::<String, _>(0).map_err(plain)?);
                data.push(entity_from_row(kind, row, 1)?);
            }
            let next = match (more, last_id) {
                (true, Some(id)) => Some(PageOffset::from_keys(vec![id])),
                _ => None,
            };
            Ok(Page { data, next })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_trip_and_reject_garbage() {
        let offset = PageOffset::from_keys(vec![Uuid::nil().to_string()]);
        let token = offset.token();
        assert!(!token.contains(['+', '/', '=']));
        assert_eq!(PageOffset::parse(&token).ok(), Some(offset));
        let reason = |t: &str| match PageOffset::parse(t) {
            Err(StoreError::InvalidOffset { reason, .. }) => reason,
            other => panic!("expected an invalid offset, got {other:?}"),
        };
        assert_eq!(reason("x"), "bad base64 encoding");
        assert_eq!(reason("!!!!"), "bad base64 encoding");
        assert_eq!(
            reason(&OFFSET_BASE64.encode("not json")),
            "bad json encoding"
        );
        assert_eq!(reason(&OFFSET_BASE64.encode("[]")), "bad offset value");
    }

    #[test]
    fn offset_must_hold_an_id_for_entity_listings() {
        let offset = PageOffset::from_keys(vec!["not-a-uuid".into()]);
        assert!(matches!(
            offset.after_id(),
            Err(StoreError::InvalidOffset { .. })
        ));
    }
}
