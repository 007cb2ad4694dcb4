//! `portico-cp migrate`, run as a real process.

use std::process::Command;

use control_plane::store::testing::{TestDatabase, sqlite_file};
use sqlx::Connection;

fn migrate(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_portico-cp"))
        .arg("migrate")
        .args(args)
        .env_remove("PORTICO_DATABASE_URL")
        .env_remove("PORTICO_PREFIX")
        .output()
        .expect("run portico-cp");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_applies_once_on_postgres() {
    let db = TestDatabase::create().await.unwrap();
    let (ok, out, err) = migrate(&["--database-url", db.url()]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("applied 3 migration(s)"), "{out}");
    let (ok, out, err) = migrate(&["--database-url", db.url()]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("up to date"), "{out}");
    let mut conn = sqlx::PgConnection::connect(db.url()).await.unwrap();
    let (version,): (i64,) = sqlx::query_as("SELECT version FROM config_version")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(version, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_creates_the_embedded_database_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("new/prefix");
    let (ok, out, err) = migrate(&["--prefix", prefix.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    let file = sqlite_file(&prefix);
    assert!(file.exists());
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn migrate_fails_clearly_on_bad_or_unreachable_databases() {
    let (ok, _, err) = migrate(&["--database-url", "mysql://root@localhost/x"]);
    assert!(!ok);
    assert!(err.contains("unsupported database URL"), "{err}");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://postgres:secret@127.0.0.1:{port}/x");
    let (ok, _, err) = migrate(&["--database-url", &url]);
    assert!(!ok);
    assert!(
        err.contains("database unavailable") && err.contains("cannot connect"),
        "{err}"
    );
    assert!(!err.contains("secret"), "the password leaked: {err}");
}
