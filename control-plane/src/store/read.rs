//! Reading single entities: by id, by a unique field, by the Admin API's endpoint key.

use common::model::EntityKind;
use sqlx::AnyConnection;
use sqlx::Row as _;
use uuid::Uuid;

use super::error::plain;
use super::layout::{self, ColumnSource};
use super::list::Scope;
use super::sql::{Backend, Sql, ident};
use super::{Entity, Store, StoreError};

/// Parses a stored entity column.
pub(crate) fn parse_entity(kind: EntityKind, text: &str) -> Result<Entity, StoreError> {
    serde_json::from_str(text).map_err(|e| {
        StoreError::Database(format!(
            "corrupt '{}' entity in the database: {e}",
            kind.name()
        ))
    })
}

pub(crate) fn entity_from_row(
    kind: EntityKind,
    row: &sqlx::any::AnyRow,
    index: usize,
) -> Result<Entity, StoreError> {
    let text: String = row.try_get(index).map_err(plain)?;
    parse_entity(kind, &text)
}

/// The SQL column a filter on `field` of `kind` uses: a mirrored unique field or a foreign
/// key. Other fields live only inside the JSON and cannot be filtered on.
pub(crate) fn filter_column(kind: EntityKind, field: &str) -> Result<(String, bool), StoreError> {
    let column = layout::layout(kind)
        .column_for_field(field)
        .ok_or_else(|| {
            StoreError::InvalidRequest(format!(
                "'{}' cannot be looked up by '{field}'",
                kind.name()
            ))
        })?;
    let is_uuid = matches!(column.source, ColumnSource::Foreign(_));
    Ok((column.name.clone(), is_uuid))
}

/// Appends ` AND <fk column> = <id>` for a scope.
pub(crate) fn push_scope(sql: &mut Sql, kind: EntityKind, scope: &Scope) -> Result<(), StoreError> {
    let (column, is_uuid) = filter_column(kind, scope.field)?;
    if !is_uuid {
        return Err(StoreError::InvalidRequest(format!(
            "'{}' is not a foreign key of '{}'",
            scope.field,
            kind.name()
        )));
    }
    sql.push(" AND ")
        .push(&ident(&column))
        .push(" = ")
        .id(scope.id);
    Ok(())
}

pub(crate) async fn get_in(
    conn: &mut AnyConnection,
    backend: Backend,
    kind: EntityKind,
    id: Uuid,
) -> Result<Option<Entity>, StoreError> {
    let mut sql = Sql::new(backend);
    sql.push("SELECT ")
        .push(&backend.as_text("entity"))
        .push(" FROM ")
        .push(&ident(kind.name()))
        .push(" WHERE \"id\" = ")
        .id(id);
    let row = sql
        .query()
        .fetch_optional(&mut *conn)
        .await
        .map_err(plain)?;
    row.map(|row| entity_from_row(kind, &row, 0)).transpose()
}

impl Store {
    /// The entity with this id, if any.
    pub async fn get(&self, kind: EntityKind, id: Uuid) -> Result<Option<Entity>, StoreError> {
        let backend = self.backend();
        self.deadline(self.op_timeout(), async move {
            let mut conn = self.pool().acquire().await.map_err(plain)?;
            get_in(&mut conn, backend, kind, id).await
        })
        .await
    }

    /// The entity whose unique `field` (e.g. `name`, `custom_id`, `username`, `key`,
    /// `target`, `group`, `instance_name`, `cert_digest`) equals `value`, within `scope`
    /// when given (targets of an upstream, ACL groups of a consumer). For fields that are
    /// unique only within a scope, pass the scope; otherwise the first by id is returned.
    pub async fn get_by_field(
        &self,
        kind: EntityKind,
        field: &str,
        value: &str,
        scope: Option<Scope>,
    ) -> Result<Option<Entity>, StoreError> {
        let backend = self.backend();
        let (column, is_uuid) = filter_column(kind, field)?;
        let mut sql = Sql::new(backend);
        sql.push("SELECT ")
            .push(&backend.as_text("entity"))
            .push(" FROM ")
            .push(&ident(kind.name()))
            .push(" WHERE ")
            .push(&ident(&column))
            .push(" = ");
        if is_uuid {
            match Uuid::parse_str(value) {
                Ok(id) => sql.id(id),
                Err(_) => return Ok(None),
            };
        } else {
            sql.str(value);
        }
        if let Some(scope) = &scope {
            push_scope(&mut sql, kind, scope)?;
        }
        sql.push(" ORDER BY \"id\" LIMIT 1");
        self.deadline(self.op_timeout(), async move {
            let row = sql
                .query()
                .fetch_optional(self.pool())
                .await
                .map_err(plain)?;
            row.map(|row| entity_from_row(kind, &row, 0)).transpose()
        })
        .await
    }

    /// The entity an Admin API path segment names when it is not a UUID: the kind's
    /// endpoint key (`EntityKind::endpoint_key`), and for certificates one of their SNI
    /// names. `None` for kinds without one (CA certificates).
    pub async fn get_by_endpoint_key(
        &self,
        kind: EntityKind,
        key: &str,
        scope: Option<Scope>,
    ) -> Result<Option<Entity>, StoreError> {
        if kind == EntityKind::Certificate {
            return self.certificate_by_sni(key).await;
        }
        match kind.endpoint_key() {
            Some(field) => self.get_by_field(kind, field, key, scope).await,
            None => Ok(None),
        }
    }

    /// The certificate that serves this SNI name (exact name, as stored).
    pub async fn certificate_by_sni(&self, name: &str) -> Result<Option<Entity>, StoreError> {
        let backend = self.backend();
        let mut sql = Sql::new(backend);
        sql.push("SELECT ")
            .push(&backend.as_text("c.entity"))
            .push(" FROM certificates c JOIN snis s ON s.certificate_id = c.id WHERE s.name = ")
            .str(name);
        self.deadline(self.op_timeout(), async move {
            let row = sql
                .query()
                .fetch_optional(self.pool())
                .await
                .map_err(plain)?;
            row.map(|row| entity_from_row(EntityKind::Certificate, &row, 0))
                .transpose()
        })
        .await
    }

    /// The SNI names of a certificate, sorted (Kong's `snis` pseudo-field).
    pub async fn sni_names(&self, certificate_id: Uuid) -> Result<Vec<String>, StoreError> {
        let mut sql = Sql::new(self.backend());
        sql.push("SELECT name FROM snis WHERE certificate_id = ")
            .id(certificate_id)
            .push(" AND name IS NOT NULL ORDER BY name");
        self.deadline(self.op_timeout(), async move {
            let rows = sql.query().fetch_all(self.pool()).await.map_err(plain)?;
            rows.iter()
                .map(|row| row.try_get::<String, _>(0).map_err(plain))
                .collect()
        })
        .await
    }
}
