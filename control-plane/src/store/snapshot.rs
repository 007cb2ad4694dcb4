//! A consistent read of the whole configuration, for building data-plane snapshots.

use common::model::EntityKind;

use super::error::plain;
use super::read::entity_from_row;
use super::sql::{Sql, ident};
use super::version::read_version;
use super::{Entity, Store, StoreError};

/// Every entity of every kind at one configuration version.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub version: u64,
    /// One entry per kind, in `EntityKind::ALL` order (referenced kinds first); entities
    /// ordered by id.
    pub entities: Vec<(EntityKind, Vec<Entity>)>,
}

impl Snapshot {
    /// The entities of one kind.
    pub fn of(&self, kind: EntityKind) -> &[Entity] {
        self.entities
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, entities)| entities.as_slice())
            .unwrap_or(&[])
    }

    /// How many entities the snapshot holds.
    pub fn len(&self) -> usize {
        self.entities.iter().map(|(_, e)| e.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Store {
    /// Reads the version and every entity in one read-only transaction (REPEATABLE READ on
    /// Postgres, a WAL read snapshot on SQLite): the entities are exactly those committed
    /// at `version`, whatever is written meanwhile.
    pub async fn snapshot(&self) -> Result<Snapshot, StoreError> {
        let backend = self.backend();
        self.deadline(self.bulk_timeout(), async move {
            let mut tx = self
                .pool()
                .begin_with(backend.begin_snapshot())
                .await
                .map_err(plain)?;
            let version = read_version(&mut tx).await?;
            let mut entities = Vec::with_capacity(EntityKind::ALL.len());
            for kind in EntityKind::ALL {
                let mut sql = Sql::new(backend);
                sql.push("SELECT ")
                    .push(&backend.as_text("entity"))
                    .push(" FROM ")
                    .push(&ident(kind.name()))
                    .push(" ORDER BY \"id\"");
                let rows = sql.query().fetch_all(&mut *tx).await.map_err(plain)?;
                let parsed = rows
                    .iter()
                    .map(|row| entity_from_row(kind, row, 0))
                    .collect::<Result<Vec<_>, _>>()?;
                entities.push((kind, parsed));
            }
            tx.rollback().await.map_err(plain)?;
            Ok(Snapshot { version, entities })
        })
        .await
    }
}
