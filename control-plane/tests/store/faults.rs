//! Database faults surface as `Unavailable` within a few seconds, and the store recovers
//! by itself. Postgres is reached through a TCP proxy the test controls, so a connection
//! can be refused, cut or black-holed without touching the shared server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::model::EntityKind;
use control_plane::store::testing::{TestDatabase, TestStore, database_url};
use control_plane::store::{Store, StoreError, StoreOptions};
use sqlx::Connection;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::fixtures::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Forward,
    /// Accept, then close at once (like a database that is down).
    Refuse,
    /// Accept and hold the connection without a byte (like a hung server or a lost route).
    BlackHole,
}

struct Proxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (mode, _) = watch::channel(Mode::Forward);
        let modes = mode.clone();
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let mut changes = modes.subscribe();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let current = *changes.borrow_and_update();
                    match current {
                        Mode::Refuse => drop(client),
                        Mode::BlackHole => {
                            let _ = changes.changed().await;
                            drop(client);
                        }
                        Mode::Forward => {
                            let Ok(server) = TcpStream::connect(&upstream).await else {
                                return;
                            };
                            let (mut client, mut server) = (client, server);
                            // Any change of mode cuts the connections open so far.
                            tokio::select! {
                                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                                _ = changes.changed() => {}
                            }
                        }
                    }
                });
            }
        });
        Proxy { addr, mode }
    }

    fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

fn authority(url: &str) -> (usize, usize) {
    let start = url.find("://").map_or(0, |i| i + 3);
    let start = url[start..].find('@').map_or(start, |i| start + i + 1);
    let end = url[start..].find('/').map_or(url.len(), |i| start + i);
    (start, end)
}

fn through(url: &str, addr: SocketAddr) -> String {
    let (start, end) = authority(url);
    format!("{}{addr}{}", &url[..start], &url[end..])
}

fn impatient(url: String) -> StoreOptions {
    let mut options = StoreOptions::new(Some(url), std::env::temp_dir());
    options.acquire_timeout = Duration::from_secs(1);
    options.statement_timeout = Duration::from_secs(2);
    options
}

async fn assert_unavailable_quickly<T: std::fmt::Debug>(
    what: &str,
    operation: impl Future<Output = Result<T, StoreError>>,
) {
    let started = Instant::now();
    let result = operation.await;
    let took = started.elapsed();
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{what}: {result:?}"
    );
    assert!(took < Duration::from_secs(5), "{what} took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_going_away_is_unavailable_and_recovers() {
    let db = TestDatabase::create().await.unwrap();
    let (start, end) = authority(db.url());
    let proxy = Proxy::start(db.url()[start..end].to_owned()).await;
    let (store, _) = Store::open_and_migrate(impatient(through(db.url(), proxy.addr)))
        .await
        .unwrap();
    let svc = service(Some("svc"));
    store.insert(EntityKind::Service, &svc).await.unwrap();

    proxy.set(Mode::Refuse);
    assert_unavailable_quickly("get (refused)", store.get(EntityKind::Service, id_of(&svc))).await;
    assert_unavailable_quickly(
        "insert (refused)",
        store.insert(EntityKind::Service, &service(None)),
    )
    .await;
    assert_unavailable_quickly("ping (refused)", store.ping()).await;

    proxy.set(Mode::BlackHole);
    assert_unavailable_quickly(
        "get (black hole)",
        store.get(EntityKind::Service, id_of(&svc)),
    )
    .await;

    proxy.set(Mode::Forward);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match store.get(EntityKind::Service, id_of(&svc)).await {
            Ok(found) => {
                assert_eq!(found, Some(svc.clone()));
                break;
            }
            Err(StoreError::Unavailable(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("the store did not recover: {e:?}"),
        }
    }
    store
        .insert(EntityKind::Service, &service(None))
        .await
        .unwrap();
    assert_eq!(store.current_version().await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_fails_to_open_quickly() {
    // A port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/portico");
    let started = Instant::now();
    let result = Store::open(impatient(url)).await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_urls_are_configuration_errors() {
    for url in [
        "mysql://root@localhost/db",
        "postgres://host:notaport/db",
        "nonsense",
    ] {
        let result = Store::open(StoreOptions::new(Some(url.into()), std::env::temp_dir())).await;
        assert!(
            matches!(result, Err(StoreError::Configuration(_))),
            "{url}: {result:?}"
        );
    }
    // A database that does not exist is named in the error.
    let url = control_plane::store::testing::with_database(&database_url(), "portico_absent_db");
    match Store::open(impatient(url)).await {
        Err(e) => assert!(e.to_string().contains("portico_absent_db"), "{e}"),
        Ok(_) => panic!("opened a database that does not exist"),
    }
}

/// Another process holding SQLite's write lock makes writes `Unavailable` at the deadline,
/// while reads (WAL) keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_sqlite_file_is_unavailable_for_writes_only() {
    let t = TestStore::sqlite().await.unwrap();
    let mut options = t.options();
    options.statement_timeout = Duration::from_secs(1);
    let store = Arc::new(Store::open(options).await.unwrap());
    let svc = service(None);
    store.insert(EntityKind::Service, &svc).await.unwrap();

    let file = control_plane::store::testing::sqlite_file(t.prefix().unwrap());
    let mut other = sqlx::SqliteConnection::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    assert_unavailable_quickly(
        "insert (locked)",
        store.insert(EntityKind::Service, &service(None)),
    )
    .await;
    assert!(
        store
            .get(EntityKind::Service, id_of(&svc))
            .await
            .unwrap()
            .is_some()
    );
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    store
        .insert(EntityKind::Service, &service(None))
        .await
        .unwrap();
}
