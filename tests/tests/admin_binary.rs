//! Black-box: the real `portico-cp serve` process — start and graceful stop on SQLite and
//! Postgres, startup errors, `--admin-token`, and Postgres going away and coming back
//! (through a TCP forwarder the test cuts and restores).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use control_plane::store::testing::TestDatabase;
use http::Method;
use portico_tests::admin::{ControlPlane, database_url, run_cp, server_addr, url_via};
use portico_tests::forwarder::Forwarder;
use portico_tests::process::{eventually, free_port};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_on_sqlite_and_stops_on_sigterm() {
    let mut cp = ControlPlane::start(None, &[]).await;
    let root = cp.get("/").await;
    assert_eq!(root.status, 200);
    assert_eq!(root.json()["version"], "3.10.0");
    assert_eq!(root.json()["configuration"]["database"], "sqlite");
    assert!(root.header("server").starts_with("portico/"));
    let created = cp.form(Method::POST, "/consumers", &["username=bob"]).await;
    assert_eq!(created.status, 201, "{}", created.text());
    assert!(cp.prefix.path().join("portico.db").exists());
    let node_id = root.json()["node_id"].clone();

    cp.process.terminate();
    let status = cp
        .process
        .wait_exit(Duration::from_secs(10))
        .expect("exits within 10 s of SIGTERM");
    assert!(status.success(), "{status}");

    // Restarted on the same prefix: same data, same node id.
    let again = ControlPlane::start_in(cp.prefix, None, &[]).await;
    let root = again.get("/").await;
    assert_eq!(root.json()["node_id"], node_id);
    assert_eq!(again.get("/consumers/bob").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_on_postgres() {
    let db = TestDatabase::create().await.unwrap();
    let cp = ControlPlane::start(Some(db.url()), &[]).await;
    let status = cp.get("/status").await;
    assert_eq!(status.status, 200);
    assert_eq!(status.json()["database"]["reachable"], true);
    assert!(status.json()["server"]["connections_accepted"].as_u64() >= Some(1));
    assert_eq!(
        cp.get("/").await.json()["configuration"]["database"],
        "postgres"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_errors_are_clear() {
    let prefix = tempfile::tempdir().unwrap();
    let prefix = prefix.path().to_str().unwrap();
    let deadline = Duration::from_secs(30);
    let admin = format!("127.0.0.1:{}", free_port());
    let base = ["serve", "--prefix", prefix, "--admin-listen", &admin];

    let (ok, _, err) = run_cp(
        &[&base[..], &["--database-url", "mysql://x/y"]].concat(),
        deadline,
    )
    .await;
    assert!(!ok);
    assert!(err.contains("unsupported database URL"), "{err}");

    let unreachable = format!("postgres://postgres@127.0.0.1:{}/x", free_port());
    let (ok, _, err) = run_cp(
        &[&base[..], &["--database-url", &unreachable]].concat(),
        deadline,
    )
    .await;
    assert!(!ok);
    assert!(
        err.contains("cannot open the configuration database"),
        "{err}"
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().unwrap().to_string();
    let (ok, _, err) = run_cp(
        &["serve", "--prefix", prefix, "--admin-listen", &taken],
        deadline,
    )
    .await;
    assert!(!ok);
    assert!(err.contains(&format!("cannot listen on {taken}")), "{err}");

    let (ok, _, err) = run_cp(
        &[&base[..], &["--log-level", "not=a=filter"]].concat(),
        deadline,
    )
    .await;
    assert!(!ok);
    assert!(err.contains("--log-level"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_token_is_required() {
    let mut cp = ControlPlane::start(None, &["--admin-token", "t0ken"]).await;
    let res = cp.get("/services").await;
    assert_eq!(res.status, 401);
    assert!(res.json()["message"].is_string());
    cp.token = Some("wrong".into());
    assert_eq!(cp.get("/services").await.status, 401);
    cp.token = Some("t0ken".into());
    assert_eq!(cp.get("/services").await.status, 200);
    // The token is not shown by GET /.
    let root = cp.get("/").await;
    assert!(!root.text().contains("t0ken"));
}

/// Postgres goes away (the forwarder between the control plane and Postgres is cut): requests
/// get a 503 JSON answer within a few seconds; when it is back, the API recovers by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_gives_503_and_recovers() {
    let db = TestDatabase::create().await.unwrap();
    let forwarder = Forwarder::start(server_addr(&database_url()).await).await;
    let url = url_via(db.url(), forwarder.addr);
    let cp = ControlPlane::start(Some(&url), &[]).await;
    let created = cp
        .json(
            Method::POST,
            "/services",
            &json!({"name": "s", "host": "x.test"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());

    forwarder.cut();
    let cut_at = std::time::Instant::now();
    let cp = &cp;
    let outage = eventually(
        Duration::from_secs(15),
        "a 503 from the Admin API",
        || async move {
            let res = cp.get("/services").await;
            (res.status == 503).then_some(res)
        },
    )
    .await;
    assert!(outage.json()["message"].is_string(), "{}", outage.text());
    eprintln!("first 503 {:?} after the cut", cut_at.elapsed());
    let write = cp
        .json(Method::POST, "/services", &json!({"host": "y.test"}))
        .await;
    assert_eq!(write.status, 503, "{}", write.text());
    let status = cp.get("/status").await;
    assert_eq!(status.status, 200);
    assert_eq!(status.json()["database"]["reachable"], false);

    forwarder.restore();
    let restored_at = std::time::Instant::now();
    let listed = eventually(
        Duration::from_secs(15),
        "the Admin API to recover",
        || async move {
            let res = cp.get("/services").await;
            (res.status == 200).then_some(res)
        },
    )
    .await;
    assert_eq!(listed.json()["data"][0]["name"], "s");
    eprintln!("first 200 {:?} after the restore", restored_at.elapsed());
    let created = cp
        .json(Method::POST, "/services", &json!({"host": "z.test"}))
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(
        cp.get("/status").await.json()["database"]["reachable"],
        true
    );
}

/// Postgres stops answering without closing anything (a network partition): requests get a
/// 503 once the store's deadlines pass (a few seconds), and the API recovers afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_partition_gives_503_and_recovers() {
    let db = TestDatabase::create().await.unwrap();
    let forwarder = Forwarder::start(server_addr(&database_url()).await).await;
    let url = url_via(db.url(), forwarder.addr);
    let cp = ControlPlane::start(Some(&url), &[]).await;
    let created = cp
        .json(Method::POST, "/consumers", &json!({"username": "before"}))
        .await;
    assert_eq!(created.status, 201, "{}", created.text());

    forwarder.stall();
    let stalled_at = std::time::Instant::now();
    let cp = &cp;
    let res = cp.get("/consumers/before").await;
    assert_eq!(res.status, 503, "{}", res.text());
    assert!(res.json()["message"].is_string());
    eprintln!("503 {:?} after the stall", stalled_at.elapsed());
    let write = cp
        .json(Method::POST, "/consumers", &json!({"username": "during"}))
        .await;
    assert_eq!(write.status, 503, "{}", write.text());

    forwarder.restore();
    let restored_at = std::time::Instant::now();
    eventually(
        Duration::from_secs(20),
        "the Admin API to recover",
        || async move { (cp.get("/consumers/before").await.status == 200).then_some(()) },
    )
    .await;
    eprintln!("first 200 {:?} after the restore", restored_at.elapsed());
    let created = cp
        .json(Method::POST, "/consumers", &json!({"username": "after"}))
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(cp.get("/consumers/during").await.status, 404);
}
