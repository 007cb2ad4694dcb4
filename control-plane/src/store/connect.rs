//! Opening the store (Postgres from a URL, or the embedded SQLite file under `--prefix`),
//! connection pool settings, and schema migrations.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{ConnectOptions, Connection, SqlSafeStr};
use tokio::sync::watch;

use super::error::{DbFailure, classify, plain};
use super::{Backend, Inner, Store, StoreError};
use crate::cli::DatabaseArgs;

/// The embedded database's file name under `--prefix`.
pub const SQLITE_FILE: &str = "portico.db";

/// How to reach the database and how patient to be with it.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `postgres://...` or `sqlite://...`; `None` means `<prefix>/portico.db`.
    pub database_url: Option<String>,
    pub prefix: PathBuf,
    pub max_connections: u32,
    /// How long a request waits for a connection (including connecting) before the store
    /// reports `Unavailable`; keeps the Admin API's 503 within a few seconds.
    pub acquire_timeout: Duration,
    /// Deadline of single-entity operations and page reads (Kong's `pg_timeout` is 5 s).
    pub statement_timeout: Duration,
    /// Deadline of batch writes, `replace_all` and snapshots.
    pub bulk_timeout: Duration,
    /// How often subscribers re-read the version, so a missed NOTIFY (or a write by another
    /// process on the same SQLite file) delays a change but never loses it.
    pub poll_interval: Duration,
}

impl StoreOptions {
    pub fn new(database_url: Option<String>, prefix: impl Into<PathBuf>) -> Self {
        StoreOptions {
            database_url,
            prefix: prefix.into(),
            max_connections: 10,
            acquire_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(5),
            bulk_timeout: Duration::from_secs(120),
            poll_interval: Duration::from_secs(5),
        }
    }

    pub fn from_args(args: &DatabaseArgs) -> Self {
        StoreOptions::new(args.database_url.clone(), args.prefix.clone())
    }
}

/// What `migrate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Versions applied by this run (empty when the schema was up to date).
    pub applied: Vec<i64>,
    /// The newest migration version now applied.
    pub schema_version: i64,
}

fn migrator(backend: Backend) -> Migrator {
    let scripts: [(i64, &str, &'static str); 3] = match backend {
        Backend::Postgres => [
            (
                1,
                "initial",
                include_str!("../../migrations/postgres/0001_initial.sql"),
            ),
            (
                2,
                "clustering data planes",
                include_str!("../../migrations/postgres/0002_clustering_data_planes.sql"),
            ),
            (
                3,
                "mtls-auth credentials",
                include_str!("../../migrations/postgres/0003_mtls_auth_credentials.sql"),
            ),
        ],
        Backend::Sqlite => [
            (
                1,
                "initial",
                include_str!("../../migrations/sqlite/0001_initial.sql"),
            ),
            (
                2,
                "clustering data planes",
                include_str!("../../migrations/sqlite/0002_clustering_data_planes.sql"),
            ),
            (
                3,
                "mtls-auth credentials",
                include_str!("../../migrations/sqlite/0003_mtls_auth_credentials.sql"),
            ),
        ],
    };
    Migrator::with_migrations(
        scripts
            .into_iter()
            .map(|(version, name, sql)| {
                Migration::new(
                    version,
                    name.into(),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// The URL with any password replaced, for messages.
fn redact(url: &str) -> String {
    match AnyConnectOptions::from_str(url) {
        Ok(mut options) => {
            if options.database_url.password().is_some() {
                let _ = options.database_url.set_password(Some("***"));
            }
            options.database_url.to_string()
        }
        Err(_) => "<unparseable URL>".into(),
    }
}

enum Target {
    Postgres(String),
    Sqlite(Box<SqliteConnectOptions>),
}

fn target(options: &StoreOptions) -> Result<Target, StoreError> {
    let url = options.database_url.as_deref().map(str::trim).unwrap_or("");
    if url.is_empty() {
        std::fs::create_dir_all(&options.prefix).map_err(|e| {
            StoreError::Configuration(format!(
                "cannot create the prefix directory {}: {e}",
                options.prefix.display()
            ))
        })?;
        let file = options.prefix.join(SQLITE_FILE);
        return Ok(Target::Sqlite(Box::new(
            SqliteConnectOptions::new().filename(file),
        )));
    }
    let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
    match scheme {
        "postgres" | "postgresql" => {
            PgConnectOptions::from_str(url).map_err(|e| {
                StoreError::Configuration(format!("invalid database URL '{}': {e}", redact(url)))
            })?;
            Ok(Target::Postgres(url.to_owned()))
        }
        "sqlite" => SqliteConnectOptions::from_str(url)
            .map(|o| Target::Sqlite(Box::new(o)))
            .map_err(|e| StoreError::Configuration(format!("invalid database URL '{url}': {e}"))),
        _ => Err(StoreError::Configuration(format!(
            "unsupported database URL '{}': expected postgres://user@host:port/database \
             or sqlite://path (or no URL for the embedded database under --prefix)",
            redact(url)
        ))),
    }
}

fn connect_failure(what: &str, err: sqlx::Error) -> StoreError {
    match classify(err) {
        DbFailure::Unavailable(m) => {
            StoreError::Unavailable(format!("cannot connect to {what}: {m}"))
        }
        DbFailure::Other(m) | DbFailure::NotNull(m) => {
            StoreError::Database(format!("cannot connect to {what}: {m}"))
        }
        other => StoreError::Database(format!("cannot connect to {what}: {other:?}")),
    }
}

impl Store {
    /// Connects to the database (without migrating). Fails with `Unavailable` when it
    /// cannot be reached within `acquire_timeout`, `Configuration` on a bad URL.
    pub async fn open(options: StoreOptions) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let pool_options = AnyPoolOptions::new()
            .min_connections(0)
            .acquire_timeout(options.acquire_timeout)
            .idle_timeout(Some(Duration::from_secs(300)))
            .test_before_acquire(true);
        let (backend, pool, postgres_url) = match target(&options)? {
            Target::Postgres(url) => {
                let what = redact(&url);
                let pool = pool_options
                    .max_connections(options.max_connections)
                    .connect(&url)
                    .await
                    .map_err(|e| connect_failure(&what, e))?;
                (Backend::Postgres, pool, Some(url))
            }
            Target::Sqlite(sqlite) => {
                let sqlite = (*sqlite)
                    .create_if_missing(true)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(5));
                let what = sqlite.get_filename().display().to_string();
                // WAL is a property of the file: set it once, before the pool opens it, so
                // readers never block the writer.
                let first = sqlite.clone().journal_mode(SqliteJournalMode::Wal);
                let connection = sqlx::SqliteConnection::connect_with(&first)
                    .await
                    .map_err(|e| connect_failure(&what, e))?;
                connection
                    .close()
                    .await
                    .map_err(|e| connect_failure(&what, e))?;
                // The Any driver rebuilds SQLite options from this URL; its defaults keep
                // foreign keys on and a 5 s busy timeout.
                let any = AnyConnectOptions::from_url(&sqlite.to_url_lossy())
                    .map_err(|e| StoreError::Configuration(e.to_string()))?;
                let pool = pool_options
                    .max_connections(options.max_connections.clamp(1, 4))
                    .connect_with(any)
                    .await
                    .map_err(|e| connect_failure(&what, e))?;
                (Backend::Sqlite, pool, None)
            }
        };
        let store = Store {
            inner: Arc::new(Inner {
                pool,
                backend,
                postgres_url,
                options,
                versions: watch::Sender::new(0),
                watchers: Mutex::new(Vec::new()),
                watchers_started: tokio::sync::OnceCell::new(),
            }),
        };
        Ok(store)
    }

    /// Opens the store and applies pending migrations: what `serve` does at start.
    pub async fn open_and_migrate(
        options: StoreOptions,
    ) -> Result<(Store, MigrationReport), StoreError> {
        let store = Store::open(options).await?;
        let report = store.migrate().await?;
        // Subscribers start from the committed version, not from 0.
        let version = store.current_version().await?;
        store.publish(version);
        Ok((store, report))
    }

    /// Applies pending migrations. Several control planes may run this at once (Postgres
    /// serialises them with an advisory lock).
    pub async fn migrate(&self) -> Result<MigrationReport, StoreError> {
        let migrator = migrator(self.backend());
        let before = self.applied_migrations().await?;
        migrator.run(self.pool()).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(inner) => match plain(inner) {
                StoreError::Unavailable(m) => StoreError::Unavailable(m),
                other => StoreError::Migration(other.to_string()),
            },
            sqlx::migrate::MigrateError::VersionMissing(v) => StoreError::Migration(format!(
                "the database has migration {v}, which this portico-cp does not know; \
                 it was migrated by a newer version"
            )),
            other => StoreError::Migration(other.to_string()),
        })?;
        let after = self.applied_migrations().await?;
        Ok(MigrationReport {
            applied: after
                .iter()
                .filter(|v| !before.contains(v))
                .copied()
                .collect(),
            schema_version: after.iter().copied().max().unwrap_or(0),
        })
    }

    async fn applied_migrations(&self) -> Result<Vec<i64>, StoreError> {
        let rows: Result<Vec<(i64,)>, sqlx::Error> =
            sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(self.pool())
                .await;
        match rows {
            Ok(rows) => Ok(rows.into_iter().map(|(v,)| v).collect()),
            Err(e) => match plain(e) {
                StoreError::Unavailable(m) => Err(StoreError::Unavailable(m)),
                // No migrations table yet: nothing applied.
                _ => Ok(Vec::new()),
            },
        }
    }

    /// Checks that the database answers (`/status`'s `database.reachable`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.deadline(self.op_timeout(), async {
            sqlx::query("SELECT 1")
                .execute(self.pool())
                .await
                .map_err(plain)?;
            Ok(())
        })
        .await
    }

    /// Closes the pool; later operations fail with `Unavailable`.
    pub async fn close(&self) {
        self.pool().close().await;
    }
}

/// `portico-cp migrate`: applies pending migrations and says what it did.
pub async fn migrate_command(args: &DatabaseArgs) -> anyhow::Result<()> {
    let options = StoreOptions::from_args(args);
    let location = describe(&options);
    let store = Store::open(options).await?;
    let report = store.migrate().await?;
    store.close().await;
    if report.applied.is_empty() {
        println!(
            "{location}: schema is up to date (migration {})",
            report.schema_version
        );
    } else {
        println!(
            "{location}: applied {} migration(s); schema is at migration {}",
            report.applied.len(),
            report.schema_version
        );
    }
    Ok(())
}

fn describe(options: &StoreOptions) -> String {
    match options.database_url.as_deref().map(str::trim) {
        Some(url) if !url.is_empty() => redact(url),
        _ => format!(
            "sqlite {}",
            Path::new(&options.prefix).join(SQLITE_FILE).display()
        ),
    }
}
