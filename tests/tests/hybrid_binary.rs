//! Black-box hybrid mode: the real `portico-cp` and `portico-dp` processes, real Postgres
//! (one database per test), real mTLS with certificates from `portico-cp certs generate`.
//!
//! Covers the sync issue's acceptance: changes through the Admin API reach every data plane;
//! killing the control plane under traffic fails no request; a data plane restarted while
//! the control plane is down serves its cache; two control planes on one Postgres (changes
//! and the fleet view cross between them); wrong
//! certificates refused; a snapshot a data plane refuses is NACKed and shown; a damaged
//! cache is ignored; Postgres going away leaves data planes serving.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::cluster_tls::generate::{CertAuthority, Validity};
use control_plane::store::testing::TestDatabase;
use http::Method;
use portico_tests::admin::{ControlPlane, database_url, server_addr, url_via};
use portico_tests::client;
use portico_tests::cluster::{
    ClusterCerts, HybridCp, cache_file, proxy_status, start_dp, until_status,
};
use portico_tests::forwarder::Forwarder;
use portico_tests::process::{DataPlane, eventually};
use portico_tests::upstream::Upstream;
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(30);

/// Creates a service pointing at `upstream` and a route `path` on it; returns the route id.
async fn add_route(cp: &ControlPlane, name: &str, path: &str, upstream: &Upstream) -> String {
    let url = format!("url=http://127.0.0.1:{}", upstream.port());
    let service = cp
        .form(Method::POST, "/services", &[&format!("name={name}"), &url])
        .await;
    assert_eq!(service.status, 201, "{}", service.text());
    let route = cp
        .form(
            Method::POST,
            &format!("/services/{name}/routes"),
            &[&format!("name={name}"), &format!("paths[]={path}")],
        )
        .await;
    assert_eq!(route.status, 201, "{}", route.text());
    route.json()["id"].as_str().unwrap().to_owned()
}

async fn dp_status(dp: &DataPlane) -> Value {
    let req = client::get("/status", "localhost")
        .body(Default::default())
        .unwrap();
    client::send(dp.status, req).await.unwrap().json()
}

async fn dp_metrics(dp: &DataPlane) -> String {
    let req = client::get("/metrics", "localhost")
        .body(Default::default())
        .unwrap();
    client::send(dp.status, req).await.unwrap().text()
}

/// Stops a data plane with SIGTERM; returns its prefix (cache and node id) for a restart.
fn stop_dp(dp: DataPlane) -> tempfile::TempDir {
    let DataPlane {
        mut process,
        prefix,
        ..
    } = dp;
    process.terminate();
    assert!(process.wait_exit(Duration::from_secs(10)).is_some());
    prefix
}

async fn until_ready(dp: &DataPlane) {
    eventually(DEADLINE, "the data plane to be ready", || async move {
        (dp.ready_status().await == Some(200)).then_some(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_created_through_the_control_plane_is_served_by_two_data_planes() {
    let db = TestDatabase::create().await.unwrap();
    let certs = ClusterCerts::shared().await;
    let cp = HybridCp::start(&certs, Some(db.url()), None, None, &[]).await;
    let up = Upstream::echo().await;
    let dp1 = start_dp(certs.dp_args("dp1", &[cp.cluster]), &[]).await;
    let dp2 = start_dp(certs.dp_args("dp2", &[cp.cluster]), &[]).await;
    // The empty configuration is a configuration: both become ready.
    until_ready(&dp1).await;
    until_ready(&dp2).await;

    let route = add_route(&cp.cp, "hybrid", "/hybrid", &up).await;
    until_status(&dp1, "/hybrid", 200, "dp1 serving the new route").await;
    until_status(&dp2, "/hybrid", 200, "dp2 serving the new route").await;

    // The fleet view: both data planes, in sync, with Kong's fields and Portico's additions.
    // (A data plane serves a snapshot a moment before its ACK reaches the control plane.)
    let (cp_ref, dps) = (&cp, [&dp1, &dp2]);
    let planes = eventually(DEADLINE, "both data planes listed in sync", || async move {
        let list = cp_ref.data_planes().await;
        let mut synced = list.len() == 2 && list.iter().all(|dp| dp["sync_status"] == "normal");
        for dp in dps {
            let status = dp_status(dp).await;
            synced &= list.iter().any(|p| {
                p["config_hash"] == status["configuration_hash"]
                    && p["config_version"] == status["cluster"]["config_version"]
            });
        }
        synced.then_some(list)
    })
    .await;
    for dp in [&dp1, &dp2] {
        let status = dp_status(dp).await;
        let hash = status["configuration_hash"].as_str().unwrap().to_owned();
        let entry = planes
            .iter()
            .find(|p| p["config_hash"] == hash.as_str())
            .unwrap_or_else(|| panic!("{hash} not in {planes:?}"));
        assert_eq!(entry["ip"], "127.0.0.1");
        assert_eq!(entry["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(entry["connected"], true);
        assert!(entry["last_seen"].as_u64().unwrap() > 1_700_000_000);
        assert!(entry["cert_details"]["expiry_timestamp"].as_i64().unwrap() > 1_700_000_000);
        assert!(entry["ttl"].as_u64().unwrap() > 0);
        assert!(entry["config_version"].as_u64().unwrap() >= 2);
        assert_eq!(status["cluster"]["connected"], true);
        assert_eq!(
            status["cluster"]["config_version"], entry["config_version"],
            "{status} {planes:?}"
        );
    }
    let mut labels: Vec<String> = planes
        .iter()
        .map(|p| p["labels"]["name"].as_str().unwrap().to_owned())
        .collect();
    labels.sort();
    assert_eq!(labels, ["dp1", "dp2"]);
    let status = cp.cp.get("/clustering/status").await;
    assert_eq!(
        status.json().as_object().unwrap().len(),
        2,
        "{}",
        status.text()
    );

    let cp_metrics = cp.cp.get("/metrics").await.text();
    assert!(
        cp_metrics.contains("portico_data_planes_connected 2"),
        "{cp_metrics}"
    );
    assert!(
        cp_metrics.contains("kong_datastore_reachable 1"),
        "{cp_metrics}"
    );
    let metrics = dp_metrics(&dp1).await;
    assert!(
        metrics.contains("kong_control_plane_connected 1"),
        "{metrics}"
    );
    assert!(metrics.contains("kong_config_age_seconds"), "{metrics}");

    let deleted = cp
        .cp
        .request(Method::DELETE, &format!("/routes/{route}"), None, "")
        .await;
    assert_eq!(deleted.status, 204);
    until_status(&dp1, "/hybrid", 404, "dp1 dropping the deleted route").await;
    until_status(&dp2, "/hybrid", 404, "dp2 dropping the deleted route").await;
}

/// Steady traffic to two data planes while the control plane is SIGKILLed: no request
/// fails. When it is back (same database, same address), new changes flow to the same data
/// plane processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_control_plane_under_traffic_fails_no_request() {
    let db = TestDatabase::create().await.unwrap();
    let certs = ClusterCerts::shared().await;
    let cp = HybridCp::start(&certs, Some(db.url()), None, None, &[]).await;
    let cluster = cp.cluster;
    let up = Upstream::echo().await;
    add_route(&cp.cp, "steady", "/steady", &up).await;
    let dp1 = Arc::new(start_dp(certs.dp_args("dp1", &[cluster]), &[]).await);
    let dp2 = Arc::new(start_dp(certs.dp_args("dp2", &[cluster]), &[]).await);
    until_status(&dp1, "/steady", 200, "dp1 serving").await;
    until_status(&dp2, "/steady", 200, "dp2 serving").await;

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut traffic = Vec::new();
    for dp in [dp1.clone(), dp2.clone()] {
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        traffic.push(tokio::spawn(async move {
            let mut sent = 0u32;
            // Bounded: at most 20,000 requests per data plane.
            while !stop.load(Ordering::Acquire) && sent < 20_000 {
                sent += 1;
                match proxy_status(&dp, "/steady").await {
                    200 => ok.fetch_add(1, Ordering::Relaxed),
                    other => {
                        eprintln!("request failed with {other}");
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }));
    }
    let ok_ref = &ok;
    eventually(DEADLINE, "traffic flowing", || async move {
        (ok_ref.load(Ordering::Relaxed) > 50).then_some(())
    })
    .await;

    let HybridCp { cp: old, .. } = cp;
    old.process.signal("KILL");
    drop(old);
    for dp in [&dp1, &dp2] {
        eventually(DEADLINE, "the data plane noticing", || async move {
            (dp_status(dp).await["cluster"]["connected"] == false).then_some(())
        })
        .await;
    }
    let before_restart = ok.load(Ordering::Relaxed);
    eventually(DEADLINE, "traffic while the control plane is away", || {
        let ok = ok.clone();
        async move { (ok.load(Ordering::Relaxed) > before_restart + 50).then_some(()) }
    })
    .await;

    let cp = HybridCp::start(&certs, Some(db.url()), None, Some(cluster), &[]).await;
    add_route(&cp.cp, "after", "/after", &up).await;
    until_status(
        &dp1,
        "/after",
        200,
        "dp1 serving a change made after the restart",
    )
    .await;
    until_status(
        &dp2,
        "/after",
        200,
        "dp2 serving a change made after the restart",
    )
    .await;

    stop.store(true, Ordering::Release);
    for t in traffic {
        t.await.unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    eprintln!("{ok} requests succeeded, {failed} failed");
    assert_eq!(failed, 0);
    assert!(ok > 100);
}

/// A data plane restarted while its control plane is down serves its cached
/// configuration; a fresh data plane without cache and control plane is not ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_plane_restarted_while_the_control_plane_is_down_serves_its_cache() {
    // The embedded store: the quick-start setup.
    let certs = ClusterCerts::shared().await;
    let cp = HybridCp::start(&certs, None, None, None, &[]).await;
    let up = Upstream::echo().await;
    add_route(&cp.cp, "cached", "/cached", &up).await;
    let args = certs.dp_args("dp", &[cp.cluster]);
    let dp = start_dp(args.clone(), &[]).await;
    until_status(&dp, "/cached", 200, "the route served").await;
    let cluster = cp.cluster;
    drop(cp);

    let prefix = stop_dp(dp);
    let prefix_arg = prefix.path().display().to_string();
    let started = Instant::now();
    let dp = start_dp(args.clone(), &["--prefix", &prefix_arg]).await;
    until_ready(&dp).await;
    until_status(&dp, "/cached", 200, "the cached route served").await;
    eprintln!("restarted data plane serving after {:?}", started.elapsed());
    let status = dp_status(&dp).await;
    assert_eq!(status["cluster"]["connected"], false);
    assert!(dp.log().contains("serving the cached configuration"));

    let fresh = start_dp(certs.dp_args("fresh", &[cluster]), &[]).await;
    assert_eq!(fresh.ready_status().await, Some(503));
    assert_eq!(proxy_status(&fresh, "/cached").await, 404);
    drop(prefix);
}

/// A truncated cache file is ignored with a clear log line; the data plane waits for the
/// control plane and then serves what it sends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_cache_is_ignored_and_the_data_plane_waits_for_the_control_plane() {
    let db = TestDatabase::create().await.unwrap();
    let certs = ClusterCerts::shared().await;
    let cp = HybridCp::start(&certs, Some(db.url()), None, None, &[]).await;
    let up = Upstream::echo().await;
    add_route(&cp.cp, "r", "/r", &up).await;
    let args = certs.dp_args("dp", &[cp.cluster]);
    let dp = start_dp(args.clone(), &[]).await;
    until_status(&dp, "/r", 200, "the route served").await;
    let HybridCp { cp, cluster } = cp;
    drop(cp);
    let prefix = stop_dp(dp);

    let cache = prefix.path().join("config.cache");
    let bytes = std::fs::read(&cache).unwrap();
    std::fs::write(&cache, &bytes[..bytes.len() / 2]).unwrap();
    let prefix_arg = prefix.path().display().to_string();
    let dp = start_dp(args, &["--prefix", &prefix_arg]).await;
    let dp_ref = &dp;
    eventually(DEADLINE, "a log line about the cache", || async move {
        dp_ref.log().contains("config.cache").then_some(())
    })
    .await;
    assert!(dp.log().contains("ignor"), "{}", dp.log());
    assert_eq!(dp.ready_status().await, Some(503));

    let _cp = HybridCp::start(&certs, Some(db.url()), None, Some(cluster), &[]).await;
    until_status(
        &dp,
        "/r",
        200,
        "the route served once the control plane is back",
    )
    .await;
    assert_eq!(dp.ready_status().await, Some(200));
}

/// Two control planes share one Postgres: a change made through the second reaches a data
/// plane connected to the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_control_plane_reaches_data_planes_of_another() {
    let db = TestDatabase::create().await.unwrap();
    let certs = ClusterCerts::shared().await;
    let cp1 = HybridCp::start(&certs, Some(db.url()), None, None, &[]).await;
    let cp2 = HybridCp::start(&certs, Some(db.url()), None, None, &[]).await;
    let up = Upstream::echo().await;
    let dp = start_dp(certs.dp_args("dp", &[cp1.cluster]), &[]).await;
    until_ready(&dp).await;
    let started = Instant::now();
    add_route(&cp2.cp, "via-cp2", "/via-cp2", &up).await;
    until_status(&dp, "/via-cp2", 200, "the change made through CP #2").await;
    eprintln!(
        "served {:?} after the write through CP #2",
        started.elapsed()
    );
    assert_eq!(cp1.data_planes().await.len(), 1);
    // The fleet view is shared through the database: CP #2 lists CP #1's data plane too.
    let hash = dp_status(&dp).await["configuration_hash"].clone();
    let cp2_ref = &cp2;
    eventually(DEADLINE, "CP #2 listing the data plane in sync", || {
        let hash = hash.clone();
        async move {
            let list = cp2_ref.data_planes().await;
            (list.len() == 1 && list[0]["config_hash"] == hash && list[0]["connected"] == true)
                .then_some(())
        }
    })
    .await;
    let metrics = cp2.cp.get("/metrics").await.text();
    assert!(
        metrics.contains("portico_data_planes_connected 0"),
        "{metrics}"
    );
}

/// Wrong certificates: another CA, an expired certificate of the right CA, another shared
/// certificate. Each is refused on both sides and the data plane learns nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_planes_with_wrong_certificates_are_refused() {
    // A pki set with one good and one expired data plane certificate from the same CA.
    let ca = CertAuthority::new(Validity::default()).unwrap();
    let certs = ClusterCerts {
        dir: tempfile::tempdir().unwrap(),
        pki: true,
    };
    let expired = Validity {
        days: 1,
        backdate_days: 3,
    };
    let pairs = [
        ("ca", ca.pem()),
        (
            "cp",
            ca.issue_control_plane(&[], Validity::default()).unwrap(),
        ),
        (
            "good",
            ca.issue_data_plane("good", Validity::default()).unwrap(),
        ),
        ("expired", ca.issue_data_plane("expired", expired).unwrap()),
    ];
    for (name, pair) in pairs {
        std::fs::write(certs.path(&format!("{name}.crt")), pair.cert_pem).unwrap();
        std::fs::write(certs.path(&format!("{name}.key")), pair.key_pem).unwrap();
    }
    let other_ca = ClusterCerts::pki(&["intruder"]).await;

    let db = TestDatabase::create().await.unwrap();
    let cp = HybridCp::start(&certs, Some(db.url()), None, None, &[]).await;
    let up = Upstream::echo().await;
    add_route(&cp.cp, "secret", "/secret", &up).await;

    let good = start_dp(certs.dp_args("good", &[cp.cluster]), &[]).await;
    until_status(&good, "/secret", 200, "the good data plane served").await;

    // The intruder trusts the CP's CA (so only the CP's check refuses it).
    let mut intruder_args = other_ca.dp_args("intruder", &[cp.cluster]);
    let ca_flag = intruder_args
        .iter()
        .position(|a| a == "--cluster-ca-cert")
        .unwrap();
    intruder_args[ca_flag + 1] = certs.path("ca.crt");
    let intruder = start_dp(intruder_args, &[]).await;
    let expired_dp = start_dp(certs.dp_args("expired", &[cp.cluster]), &[]).await;

    for (dp, what) in [(&intruder, "unknown"), (&expired_dp, "expired")] {
        eventually(
            DEADLINE,
            "the data plane's log of the refusal",
            || async move { dp.log().contains("cannot sync").then_some(()) },
        )
        .await;
        let status = dp_status(dp).await;
        assert_eq!(status["cluster"]["connected"], false);
        assert_eq!(dp.ready_status().await, Some(503), "{what}");
        assert_eq!(proxy_status(dp, "/secret").await, 404, "{what}");
        assert!(!cache_file(dp).exists(), "{what}");
    }
    let cp_ref = &cp;
    eventually(
        DEADLINE,
        "the control plane's log of the refusals",
        || async move {
            let log = cp_ref.cp.log();
            (log.matches("refused a data plane connection").count() >= 2).then_some(log)
        },
    )
    .await;
    let log = cp.cp.log();
    assert!(log.contains("expired"), "{log}");
    assert!(log.to_lowercase().contains("unknown"), "{log}");
    let planes = cp.data_planes().await;
    assert_eq!(planes.len(), 1, "{planes:?}");
    assert_eq!(planes[0]["labels"]["name"], "good");

    // Shared mode: a data plane with another shared certificate.
    let shared = ClusterCerts::shared().await;
    let other_shared = ClusterCerts::shared().await;
    let shared_cp = HybridCp::start(&shared, None, None, None, &[]).await;
    add_route(&shared_cp.cp, "secret", "/secret", &up).await;
    let stranger = start_dp(other_shared.dp_args("stranger", &[shared_cp.cluster]), &[]).await;
    let stranger_ref = &stranger;
    eventually(
        DEADLINE,
        "the stranger's log of the refusal",
        || async move { stranger_ref.log().contains("cannot sync").then_some(()) },
    )
    .await;
    assert_eq!(stranger.ready_status().await, Some(503));
    assert!(shared_cp.data_planes().await.is_empty());
}

/// A snapshot the data plane refuses (here: larger than its `--cluster-max-payload`) is
/// NACKed: the old configuration keeps being served and the reason shows in
/// `/clustering/data-planes`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_the_data_plane_refuses_is_nacked_and_shown() {
    let db = TestDatabase::create().await.unwrap();
    let certs = ClusterCerts::shared().await;
    let cp = HybridCp::start(&certs, Some(db.url()), None, None, &[]).await;
    let up = Upstream::echo().await;
    add_route(&cp.cp, "small", "/small", &up).await;
    let dp = start_dp(
        certs.dp_args("dp", &[cp.cluster]),
        &["--cluster-max-payload", "3000"],
    )
    .await;
    until_status(&dp, "/small", 200, "the small configuration served").await;

    // Ids and names of fresh services barely compress: 60 of them exceed 3000 bytes.
    for _ in 0..60 {
        let name = format!("name={}", uuid::Uuid::new_v4());
        let res = cp
            .cp
            .form(Method::POST, "/services", &[&name, "host=example.test"])
            .await;
        assert_eq!(res.status, 201);
    }
    add_route(&cp.cp, "big", "/big", &up).await;
    let cp_ref = &cp;
    let entry = eventually(
        DEADLINE,
        "the refusal in /clustering/data-planes",
        || async move {
            let list = cp_ref.data_planes().await;
            let error = list.first()?["last_error"].as_str()?.to_owned();
            error
                .contains("--cluster-max-payload")
                .then(|| list[0].clone())
        },
    )
    .await;
    // Versions before the limit was crossed were applied; the refused one was not.
    assert!(
        entry["last_error"].as_str().unwrap().contains("refused"),
        "{entry}"
    );
    assert_eq!(proxy_status(&dp, "/small").await, 200);
    assert_eq!(proxy_status(&dp, "/big").await, 404);
    let served = dp_status(&dp).await["cluster"]["config_version"].clone();
    assert_eq!(entry["config_version"], served, "{entry}");
    let newest = cp.cp.get("/metrics").await.text();
    let newest: u64 = newest
        .lines()
        .find_map(|l| l.strip_prefix("portico_config_version "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(served.as_u64().unwrap() < newest, "{served} {newest}");
    assert!(dp.log().contains("refused configuration"), "{}", dp.log());
}

/// Postgres goes away (the forwarder between the control plane and Postgres is cut): the
/// Admin API answers 503, data planes keep serving; when it is back, changes flow again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_planes_keep_serving_while_postgres_is_away() {
    let db = TestDatabase::create().await.unwrap();
    let forwarder = Forwarder::start(server_addr(&database_url()).await).await;
    let url = url_via(db.url(), forwarder.addr);
    let certs = ClusterCerts::shared().await;
    let cp = HybridCp::start(&certs, Some(&url), None, None, &[]).await;
    let up = Upstream::echo().await;
    add_route(&cp.cp, "before", "/before", &up).await;
    let dp = start_dp(certs.dp_args("dp", &[cp.cluster]), &[]).await;
    until_status(&dp, "/before", 200, "the route served").await;

    forwarder.cut();
    let cp_ref = &cp;
    eventually(DEADLINE, "a 503 from the Admin API", || async move {
        let res = cp_ref
            .cp
            .form(Method::POST, "/services", &["name=during", "host=x.test"])
            .await;
        (res.status == 503).then_some(())
    })
    .await;
    for _ in 0..20 {
        assert_eq!(proxy_status(&dp, "/before").await, 200);
    }
    assert_eq!(dp.ready_status().await, Some(200));
    assert_eq!(dp_status(&dp).await["cluster"]["connected"], true);

    forwarder.restore();
    eventually(DEADLINE, "the Admin API to recover", || async move {
        (cp_ref.cp.get("/services").await.status == 200).then_some(())
    })
    .await;
    add_route(&cp.cp, "after", "/after", &up).await;
    until_status(&dp, "/after", 200, "a change made after Postgres came back").await;
}
