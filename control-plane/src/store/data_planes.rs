//! The `clustering_data_planes` table: what every control plane on this database knows of
//! the data planes, so `/clustering/data-planes` on any of them lists the whole fleet.
//! Status, not configuration: these writes use no configuration version.

use sqlx::Row;
use uuid::Uuid;

use super::error::plain;
use super::sql::Sql;
use super::{Store, StoreError};

impl Store {
    /// Inserts or replaces one data plane's status (`status`: its JSON view).
    pub async fn put_data_plane(
        &self,
        id: Uuid,
        last_seen: i64,
        status: String,
    ) -> Result<(), StoreError> {
        let backend = self.backend();
        self.deadline(self.op_timeout(), async move {
            let mut sql = Sql::new(backend);
            sql.push("INSERT INTO clustering_data_planes (id, last_seen, status) VALUES (")
                .id(id)
                .push(", ")
                .int(last_seen)
                .push(", ")
                .str(&status)
                .push(") ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen, status = excluded.status");
            sql.query().execute(self.pool()).await.map_err(plain)?;
            Ok(())
        })
        .await
    }

    /// The statuses of data planes seen at or after `seen_since` (epoch seconds), ordered
    /// by id.
    pub async fn data_planes(&self, seen_since: i64) -> Result<Vec<String>, StoreError> {
        let backend = self.backend();
        self.deadline(self.op_timeout(), async move {
            let mut sql = Sql::new(backend);
            sql.push("SELECT status FROM clustering_data_planes WHERE last_seen >= ")
                .int(seen_since)
                .push(" ORDER BY id");
            let rows = sql.query().fetch_all(self.pool()).await.map_err(plain)?;
            rows.iter()
                .map(|row| row.try_get::<String, _>(0).map_err(plain))
                .collect()
        })
        .await
    }

    /// Deletes data planes last seen before `seen_before` (epoch seconds); returns how many.
    pub async fn purge_data_planes(&self, seen_before: i64) -> Result<u64, StoreError> {
        let backend = self.backend();
        self.deadline(self.op_timeout(), async move {
            let mut sql = Sql::new(backend);
            sql.push("DELETE FROM clustering_data_planes WHERE last_seen < ")
                .int(seen_before);
            let done = sql.query().execute(self.pool()).await.map_err(plain)?;
            Ok(done.rows_affected())
        })
        .await
    }
}
