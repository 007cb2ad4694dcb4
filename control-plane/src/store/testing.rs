//! Test support shared by the store's, the Admin API's and the black-box tests: a fresh
//! Postgres database per test (dropped afterwards), and migrated stores on Postgres or on
//! an embedded SQLite file in a temporary directory.
//!
//! Postgres is found through `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/`);
//! the database named in it (default `postgres`) is only used to create and drop the
//! per-test databases.

use std::path::{Path, PathBuf};

use sqlx::{AssertSqlSafe, Connection, PgConnection};

use super::{Store, StoreError, StoreOptions};

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/";

/// The Postgres server URL tests use.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned())
}

/// `base` with its database name replaced by `name` (query parameters kept).
pub fn with_database(base: &str, name: &str) -> String {
    let (main, query) = match base.split_once('?') {
        Some((main, query)) => (main, format!("?{query}")),
        None => (base, String::new()),
    };
    let authority = main.find("://").map_or(0, |i| i + 3);
    let path = main[authority..]
        .find('/')
        .map_or(main.len(), |i| authority + i);
    format!("{}/{name}{query}", &main[..path])
}

fn admin_url(base: &str) -> String {
    let (main, _) = base.split_once('?').unwrap_or((base, ""));
    let authority = main.find("://").map_or(0, |i| i + 3);
    let named = main[authority..]
        .split_once('/')
        .map(|(_, db)| db)
        .filter(|db| !db.is_empty());
    match named {
        Some(_) => base.to_owned(),
        None => with_database(base, "postgres"),
    }
}

/// A Postgres database that exists for the lifetime of this value.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
    admin_url: String,
    dropped: bool,
}

impl TestDatabase {
    /// Creates a database with a random name on the `DATABASE_URL` server.
    pub async fn create() -> Result<TestDatabase, StoreError> {
        let base = database_url();
        let name = format!("portico_test_{}", uuid::Uuid::new_v4().simple());
        let admin_url = admin_url(&base);
        let mut admin = PgConnection::connect(&admin_url).await.map_err(|e| {
            StoreError::Unavailable(format!(
                "tests need Postgres at DATABASE_URL ({admin_url}): {e}"
            ))
        })?;
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await
            .map_err(|e| StoreError::Database(format!("CREATE DATABASE {name}: {e}")))?;
        let _ = admin.close().await;
        Ok(TestDatabase {
            url: with_database(&base, &name),
            name,
            admin_url,
            dropped: false,
        })
    }

    /// The URL of this database (for `--database-url`).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the database now (also done on drop; this reports failures).
    pub async fn drop_database(mut self) -> Result<(), StoreError> {
        self.dropped = true;
        drop_database(&self.admin_url, &self.name).await
    }
}

async fn drop_database(admin_url: &str, name: &str) -> Result<(), StoreError> {
    let mut admin = PgConnection::connect(admin_url)
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    // FORCE ends connections still open on it (pools of the test's stores).
    sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .map_err(|e| StoreError::Database(format!("DROP DATABASE {name}: {e}")))?;
    let _ = admin.close().await;
    Ok(())
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop may run inside a runtime; do the async work on a thread of its own.
        let result = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| StoreError::Database(e.to_string()))?;
            runtime.block_on(drop_database(&admin_url, &name))
        })
        .join();
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop test database {}: {e}", self.name),
            Err(_) => eprintln!("could not drop test database {}: panic", self.name),
        }
    }
}

enum Location {
    Postgres(TestDatabase),
    Sqlite(tempfile::TempDir),
}

/// A migrated store on a database that goes away with this value.
pub struct TestStore {
    pub store: Store,
    location: Location,
}

impl TestStore {
    /// A store on a fresh Postgres database.
    pub async fn postgres() -> Result<TestStore, StoreError> {
        let database = TestDatabase::create().await?;
        let (store, _) = Store::open_and_migrate(StoreOptions::new(
            Some(database.url().to_owned()),
            std::env::temp_dir(),
        ))
        .await?;
        Ok(TestStore {
            store,
            location: Location::Postgres(database),
        })
    }

    /// A store on an embedded SQLite file in a fresh temporary directory (the default
    /// `--prefix` layout: `<dir>/portico.db`).
    pub async fn sqlite() -> Result<TestStore, StoreError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Configuration(e.to_string()))?;
        let (store, _) = Store::open_and_migrate(StoreOptions::new(None, dir.path())).await?;
        Ok(TestStore {
            store,
            location: Location::Sqlite(dir),
        })
    }

    /// Options that reach the same database (a second control plane, a CLI run).
    pub fn options(&self) -> StoreOptions {
        match &self.location {
            Location::Postgres(db) => {
                StoreOptions::new(Some(db.url().to_owned()), std::env::temp_dir())
            }
            Location::Sqlite(dir) => StoreOptions::new(None, dir.path()),
        }
    }

    /// The Postgres URL, or `None` for SQLite.
    pub fn database_url(&self) -> Option<&str> {
        match &self.location {
            Location::Postgres(db) => Some(db.url()),
            Location::Sqlite(_) => None,
        }
    }

    /// The `--prefix` directory of the SQLite store.
    pub fn prefix(&self) -> Option<&Path> {
        match &self.location {
            Location::Postgres(_) => None,
            Location::Sqlite(dir) => Some(dir.path()),
        }
    }

    /// A second, independent store (own pool) on the same database.
    pub async fn open_another(&self) -> Result<Store, StoreError> {
        Store::open(self.options()).await
    }
}

/// Where the embedded database of a prefix lives.
pub fn sqlite_file(prefix: &Path) -> PathBuf {
    prefix.join(super::connect::SQLITE_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_swapped_into_urls() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
        assert_eq!(
            admin_url("postgres://h:5432/"),
            "postgres://h:5432/postgres"
        );
        assert_eq!(admin_url("postgres://h/test"), "postgres://h/test");
    }
}
