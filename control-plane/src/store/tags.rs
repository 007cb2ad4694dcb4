//! Tag filters (`?tags=a,b` = AND, `?tags=a/b` = OR) and the `/tags` listing.
//!
//! Tags live in one `tags` table (kind, entity id, tag) kept by the store alongside each
//! entity, indexed by tag, so filtering does not scan entity JSON.

use common::model::EntityKind;
use sqlx::Row as _;
use uuid::Uuid;

use super::error::plain;
use super::list::PageOffset;
use super::sql::Sql;
use super::{Store, StoreError};

/// A parsed `tags` query argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagFilter {
    /// Entities carrying every one of these tags (`a,b`; also a single tag).
    All(Vec<String>),
    /// Entities carrying at least one of these tags (`a/b`).
    Any(Vec<String>),
}

/// Why a `tags` argument was refused. `Display` is Kong's wording, which the Admin API
/// renders as `invalid option (tags: <message>)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagFilterError {
    #[error("cannot be null")]
    Empty,
    #[error("invalid filter syntax")]
    InvalidSyntax,
    #[error("cannot query more than 5 tags")]
    TooMany,
}

/// Kong accepts at most this many tags in one filter.
pub const MAX_FILTER_TAGS: usize = 5;

/// Printable ASCII except `,` and `/`, or any non-ASCII character (Kong's tag bytes).
fn is_tag_char(c: char) -> bool {
    (matches!(c, ' '..='~') && c != ',' && c != '/') || !c.is_ascii()
}

impl TagFilter {
    pub fn parse(value: &str) -> Result<TagFilter, TagFilterError> {
        if value.is_empty() {
            return Err(TagFilterError::Empty);
        }
        let (and, or) = (value.contains(','), value.contains('/'));
        let separator = match (and, or) {
            (true, true) => return Err(TagFilterError::InvalidSyntax),
            (false, true) => '/',
            _ => ',',
        };
        let mut tags: Vec<String> = Vec::new();
        for tag in value.split(separator) {
            if tag.is_empty() || !tag.chars().all(is_tag_char) {
                return Err(TagFilterError::InvalidSyntax);
            }
            if !tags.iter().any(|t| t == tag) {
                tags.push(tag.to_owned());
            }
        }
        if tags.len() > MAX_FILTER_TAGS {
            return Err(TagFilterError::TooMany);
        }
        Ok(if separator == '/' {
            TagFilter::Any(tags)
        } else {
            TagFilter::All(tags)
        })
    }

    pub fn tags(&self) -> &[String] {
        match self {
            TagFilter::All(tags) | TagFilter::Any(tags) => tags,
        }
    }
}

/// One (tag, entity) pair of `/tags`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRow {
    pub tag: String,
    /// Rendered by the Admin API as `entity_name` (`kind.name()`).
    pub kind: EntityKind,
    pub entity_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagPage {
    pub data: Vec<TagRow>,
    pub next: Option<PageOffset>,
}

impl Store {
    /// Every (tag, entity) pair, or those of one `tag`, ordered by tag, kind and id.
    pub async fn list_tags(
        &self,
        tag: Option<&str>,
        size: usize,
        offset: Option<&PageOffset>,
    ) -> Result<TagPage, StoreError> {
        if size == 0 {
            return Err(StoreError::InvalidRequest(
                "page size must be at least 1".into(),
            ));
        }
        let backend = self.backend();
        let mut sql = Sql::new(backend);
        sql.push("SELECT tag, kind, ")
            .push(&backend.as_text("entity_id"))
            .push(" FROM tags WHERE 1 = 1");
        if let Some(tag) = tag {
            sql.push(" AND tag = ").str(tag);
        }
        if let Some(offset) = offset {
            let [tag, kind, id] = offset.keys() else {
                return Err(offset.bad_value());
            };
            let id = Uuid::parse_str(id).map_err(|_| offset.bad_value())?;
            sql.push(" AND (tag, kind, entity_id) > (")
                .str(tag)
                .push(", ")
                .str(kind)
                .push(", ")
                .id(id)
                .push(")");
        }
        let limit = i64::try_from(size.saturating_add(1)).unwrap_or(i64::MAX);
        sql.push(" ORDER BY tag, kind, entity_id LIMIT ").int(limit);
        self.deadline(self.op_timeout(), async move {
            let rows = sql.query().fetch_all(self.pool()).await.map_err(plain)?;
            let more = rows.len() > size;
            let mut data = Vec::with_capacity(rows.len().min(size));
            for row in rows.iter().take(size) {
                let tag: String = row.try_get(0).map_err(plain)?;
                let kind: String = row.try_get(1).map_err(plain)?;
                let id: String = row.try_get(2).map_err(plain)?;
                let corrupt =
                    || StoreError::Database(format!("corrupt tag row ({tag}, {kind}, {id})"));
                data.push(TagRow {
                    kind: EntityKind::from_name(&kind).ok_or_else(corrupt)?,
                    entity_id: Uuid::parse_str(&id).map_err(|_| corrupt())?,
                    tag,
                });
            }
            let next = match (more, data.last()) {
                (true, Some(last)) => Some(PageOffset::from_keys(vec![
                    last.tag.clone(),
                    last.kind.name().to_owned(),
                    last.entity_id.to_string(),
                ])),
                _ => None,
            };
            Ok(TagPage { data, next })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_like_kong() {
        assert_eq!(
            TagFilter::parse("a,b"),
            Ok(TagFilter::All(vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            TagFilter::parse("a/b"),
            Ok(TagFilter::Any(vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            TagFilter::parse("corp_ a"),
            Ok(TagFilter::All(vec!["corp_ a".into()]))
        );
        assert_eq!(
            TagFilter::parse("🦍"),
            Ok(TagFilter::All(vec!["🦍".into()]))
        );
        assert_eq!(
            TagFilter::parse("''"),
            Ok(TagFilter::All(vec!["''".into()]))
        );
        assert_eq!(TagFilter::parse(""), Err(TagFilterError::Empty));
        assert_eq!(
            TagFilter::parse("a,b/c"),
            Err(TagFilterError::InvalidSyntax)
        );
        assert_eq!(TagFilter::parse("a,,b"), Err(TagFilterError::InvalidSyntax));
        assert_eq!(
            TagFilter::parse("a\u{7}"),
            Err(TagFilterError::InvalidSyntax)
        );
        assert_eq!(
            TagFilter::parse("a,b,c,d,e,f"),
            Err(TagFilterError::TooMany)
        );
    }
}
