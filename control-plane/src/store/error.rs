//! The store's typed errors, and how database errors are recognised.
//!
//! Uniqueness and references are enforced by the database; this module turns its
//! complaints (constraint names on Postgres, messages on SQLite) back into entity terms,
//! so the Admin API can answer with Kong's error shapes.

use common::model::EntityKind;
use sqlx::error::ErrorKind;
use uuid::Uuid;

use super::Entity;
use super::layout::{self, ConstraintMeaning};

/// Everything that can go wrong in the store. The Admin API maps these to Kong's shapes:
/// `UniqueViolation` → 409 (code 5), `PrimaryKeyViolation` → 400 (code 3),
/// `ForeignKeyMissing` / `ReferencedBy` → 400 (code 4), `InvalidOffset` → 400 (code 7),
/// `NotFound` → 404, `Unavailable` → 503, the rest → 500.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An update addressed an entity that does not exist (any more).
    #[error("no '{}' entity with id {id}", kind.name())]
    NotFound { kind: EntityKind, id: Uuid },

    /// An insert reused the id of an existing entity of the same kind.
    #[error("primary key violation on '{}': id {id} already exists", kind.name())]
    PrimaryKeyViolation { kind: EntityKind, id: Uuid },

    /// The written entity `id` collides with another entity on the unique field set whose
    /// names and (written) values are in `fields` — Kong's `UNIQUE violation detected on ...`.
    #[error("unique violation on '{}' fields {}", kind.name(), serde_json::Value::Object(fields.clone()))]
    UniqueViolation {
        kind: EntityKind,
        id: Uuid,
        fields: Entity,
    },

    /// The written entity `id` references (through `field`) an entity of `references` that
    /// does not exist. `referenced_id` is the missing id when the database says which.
    #[error("'{}' field '{field}' references a missing '{}' entity", kind.name(), references.name())]
    ForeignKeyMissing {
        kind: EntityKind,
        id: Uuid,
        field: &'static str,
        references: EntityKind,
        referenced_id: Option<Uuid>,
    },

    /// Deleting entity `id` of `kind` is refused because an entity of `referenced_by`
    /// (`referencing_id`, when known) still references it through `field`.
    /// Kong: `an existing 'routes' entity references this 'services' entity`, or for CA
    /// certificates `ca certificate <id> is still referenced by services (id = <sid>)`.
    #[error("an existing '{}' entity references this '{}' entity", referenced_by.name(), kind.name())]
    ReferencedBy {
        kind: EntityKind,
        id: Uuid,
        referenced_by: EntityKind,
        field: &'static str,
        referencing_id: Option<Uuid>,
    },

    /// A pagination token that this store did not produce. `reason` is Kong's wording
    /// (`bad base64 encoding`, `bad json encoding`, ...).
    #[error("'{token}' is not a valid offset: {reason}")]
    InvalidOffset { token: String, reason: &'static str },

    /// The caller handed over an entity the store cannot store (no UUID `id`, a foreign
    /// field that is not `{"id": ...}`, ...). Entities are validated before they reach the
    /// store, so this is a bug in the caller.
    #[error("invalid '{}' entity: {message}", kind.name())]
    InvalidEntity { kind: EntityKind, message: String },

    /// The caller asked for something the store does not support (an unknown filter field).
    #[error("invalid store request: {0}")]
    InvalidRequest(String),

    /// The database cannot be reached or is not answering in time (refused, timed out,
    /// shutting down, locked). Worth retrying later; the Admin API answers 503.
    #[error("database unavailable: {0}")]
    Unavailable(String),

    /// The database URL or the embedded database location is not usable.
    #[error("invalid database configuration: {0}")]
    Configuration(String),

    /// Applying migrations failed.
    #[error("database migration failed: {0}")]
    Migration(String),

    /// Any other database failure.
    #[error("database error: {0}")]
    Database(String),
}

impl StoreError {
    /// Whether the failure means "try again later" (the Admin API's 503).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// A database error sorted into what the store needs to know to explain it.
#[derive(Debug)]
pub(crate) enum DbFailure {
    /// A unique or primary-key constraint, identified when the database says which.
    Unique(Option<ConstraintMeaning>),
    /// A foreign key constraint, identified on Postgres (SQLite does not say which).
    ForeignKey {
        meaning: Option<ConstraintMeaning>,
        /// Postgres' detail line (`Key (x)=(v) is not present in table "t".`).
        detail: Option<String>,
    },
    NotNull(String),
    Unavailable(String),
    Other(String),
}

/// Sorts a sqlx error. Connection-level failures (refused, reset, timed out, pool
/// exhausted, server shutting down, SQLite busy) are `Unavailable`.
pub(crate) fn classify(err: sqlx::Error) -> DbFailure {
    match err {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let pg = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>();
            let unavailable = match pg {
                Some(_) => is_unavailable_sqlstate(&code),
                None => is_unavailable_sqlite_code(&code),
            };
            if unavailable {
                return DbFailure::Unavailable(db.message().to_owned());
            }
            let detail = pg.and_then(|pg| pg.detail().map(str::to_owned));
            // SQLite reports a RESTRICT action with the plain constraint code, so its kind
            // is not ForeignKeyViolation; its message is the same.
            let foreign_key = db.kind() == ErrorKind::ForeignKeyViolation
                || (pg.is_none() && db.message().starts_with("FOREIGN KEY constraint failed"));
            if foreign_key {
                return DbFailure::ForeignKey {
                    meaning: meaning(db.constraint(), db.message(), false),
                    detail,
                };
            }
            match db.kind() {
                ErrorKind::UniqueViolation => {
                    DbFailure::Unique(meaning(db.constraint(), db.message(), true))
                }
                ErrorKind::NotNullViolation => DbFailure::NotNull(db.message().to_owned()),
                _ => DbFailure::Other(db.message().to_owned()),
            }
        }
        sqlx::Error::Io(e) => DbFailure::Unavailable(e.to_string()),
        sqlx::Error::Tls(e) => DbFailure::Unavailable(format!("TLS: {e}")),
        sqlx::Error::PoolTimedOut => {
            DbFailure::Unavailable("timed out waiting for a database connection".into())
        }
        sqlx::Error::PoolClosed => DbFailure::Unavailable("the connection pool is closed".into()),
        // The peer is not speaking Postgres' protocol as expected: a connection cut during
        // the handshake, a proxy in trouble, or not a database at all.
        sqlx::Error::Protocol(m) => DbFailure::Unavailable(format!("protocol error: {m}")),
        sqlx::Error::WorkerCrashed => {
            DbFailure::Unavailable("the database connection worker stopped".into())
        }
        other => DbFailure::Other(other.to_string()),
    }
}

/// Postgres: class 08 (connection exception), 57P0x (shutdown), 53300 (too many
/// connections), 57014 (statement cancelled, e.g. by a timeout).
fn is_unavailable_sqlstate(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("57P0") || code == "53300" || code == "57014"
}

/// SQLite: BUSY and LOCKED, with their extended codes (the low byte is the primary code).
fn is_unavailable_sqlite_code(code: &str) -> bool {
    code.parse::<i64>().is_ok_and(|c| matches!(c & 0xff, 5 | 6))
}

fn meaning(constraint: Option<&str>, message: &str, unique: bool) -> Option<ConstraintMeaning> {
    if let Some(name) = constraint {
        return layout::constraint_by_name(name);
    }
    // SQLite: "UNIQUE constraint failed: acls.consumer_id, acls.group".
    if !unique {
        return None;
    }
    let list = message.split_once("constraint failed: ")?.1;
    let mut table = None;
    let mut columns = Vec::new();
    for qualified in list.split(", ") {
        let (t, c) = qualified.split_once('.')?;
        if table.is_some_and(|seen| seen != t) {
            return None;
        }
        table = Some(t);
        columns.push(c);
    }
    layout::unique_by_columns(table?, &columns)
}

/// Maps a failure that has no entity context (reads, version queries).
pub(crate) fn plain(err: sqlx::Error) -> StoreError {
    match classify(err) {
        DbFailure::Unavailable(m) => StoreError::Unavailable(m),
        DbFailure::Unique(_) => StoreError::Database("unexpected unique violation".into()),
        DbFailure::ForeignKey { .. } => {
            StoreError::Database("unexpected foreign key violation".into())
        }
        DbFailure::NotNull(m) | DbFailure::Other(m) => StoreError::Database(m),
    }
}

/// The id Postgres names in a foreign-key detail line: `Key (col)=(<uuid>) is not present ...`.
pub(crate) fn id_from_detail(detail: Option<&str>) -> Option<Uuid> {
    let rest = detail?.split_once(")=(")?.1;
    let value = rest.split_once(')')?.0;
    Uuid::parse_str(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_unique_messages_resolve_to_field_sets() {
        let m = meaning(None, "UNIQUE constraint failed: consumers.custom_id", true);
        assert!(
            matches!(m, Some(ConstraintMeaning::Unique(EntityKind::Consumer, f)) if f == ["custom_id"])
        );
        let m = meaning(
            None,
            "UNIQUE constraint failed: targets.upstream_id, targets.target",
            true,
        );
        assert!(matches!(
            m,
            Some(ConstraintMeaning::Unique(EntityKind::Target, _))
        ));
    }

    #[test]
    fn unavailable_codes() {
        assert!(is_unavailable_sqlstate("08006"));
        assert!(is_unavailable_sqlstate("57P01"));
        assert!(!is_unavailable_sqlstate("42501"));
        assert!(!is_unavailable_sqlstate("23505"));
        assert!(is_unavailable_sqlite_code("5"));
        assert!(is_unavailable_sqlite_code("517"));
        assert!(!is_unavailable_sqlite_code("2067"));
    }

    #[test]
    fn detail_ids() {
        let id = Uuid::new_v4();
        let detail =
            format!("Key (referenced_id)=({id}) is not present in table \"ca_certificates\".");
        assert_eq!(id_from_detail(Some(&detail)), Some(id));
        assert_eq!(id_from_detail(Some("nonsense")), None);
    }
}
