//! Black-box: the real `portico-dp` binary in hybrid mode, fed by an in-process control
//! plane sync server over shared-mode mTLS: it proxies what the control plane publishes,
//! and after a restart without any control plane it serves its cached configuration.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use common::cluster_tls::generate::{self, Validity};
use common::cluster_tls::{ClusterTls, MtlsMode};
use common::snapshot::{ConfigSet, EncodedSnapshot};
use control_plane::cluster::{
    DataPlaneRegistry, PublishedSnapshot, SyncServer, SyncServerSettings, listener,
};
use portico_tests::client;
use portico_tests::entities::{route_hosts, service};
use portico_tests::process::{DataPlane, eventually};
use portico_tests::upstream::Upstream;
use tokio::sync::{oneshot, watch};

struct ControlPlane {
    addr: std::net::SocketAddr,
    publisher: watch::Sender<Option<Arc<PublishedSnapshot>>>,
    _stop: oneshot::Sender<()>,
}

async fn control_plane(tls: &ClusterTls) -> ControlPlane {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (publisher, source) = watch::channel(None);
    let server = SyncServer::new(
        SyncServerSettings::default(),
        source,
        DataPlaneRegistry::default(),
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let config = tls.server_config().unwrap();
    tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        let _ = listener::serve(listener, config, server, shutdown).await;
    });
    ControlPlane {
        addr,
        publisher,
        _stop: stop,
    }
}

async fn status_of(dp: &DataPlane, host: &str) -> u16 {
    client::send(
        dp.proxy,
        client::get("/", host).body(Default::default()).unwrap(),
    )
    .await
    .map(|r| r.status.as_u16())
    .unwrap_or(0)
}

#[tokio::test]
async fn hybrid_mode_serves_what_the_control_plane_publishes_and_its_cache_after_restart() {
    let pair = generate::shared(&[], Validity::default()).unwrap();
    let tls = ClusterTls::from_pem(
        MtlsMode::Shared,
        pair.cert_pem.as_bytes(),
        pair.key_pem.as_bytes(),
        None,
    )
    .unwrap();
    let certs = tempfile::tempdir().unwrap();
    let cert = certs.path().join("cluster.crt");
    let key = certs.path().join("cluster.key");
    std::fs::write(&cert, &pair.cert_pem).unwrap();
    std::fs::write(&key, &pair.key_pem).unwrap();

    let cp = control_plane(&tls).await;
    let up = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", up.port()));
    let config = ConfigSet {
        routes: vec![route_hosts(Some(&svc), &["hybrid.test"])],
        services: vec![svc],
        ..Default::default()
    };
    let snapshot = EncodedSnapshot::encode(1, &config).unwrap();
    cp.publisher.send_replace(Some(Arc::new(PublishedSnapshot {
        snapshot: snapshot.clone(),
        plugins: Default::default(),
    })));

    let prefix = tempfile::tempdir().unwrap();
    let prefix_arg = prefix.path().display().to_string();
    let cp_arg = cp.addr.to_string();
    let (cert_arg, key_arg) = (cert.display().to_string(), key.display().to_string());
    let args = [
        "--cluster-control-plane",
        cp_arg.as_str(),
        "--cluster-cert",
        cert_arg.as_str(),
        "--cluster-cert-key",
        key_arg.as_str(),
        "--cluster-dp-labels",
        "region:test",
        "--prefix",
        prefix_arg.as_str(),
    ];
    let mut dp = DataPlane::start(&args).await;
    eventually(
        Duration::from_secs(20),
        "the published route served",
        || async { (status_of(&dp, "hybrid.test").await == 200).then_some(()) },
    )
    .await;
    assert_eq!(dp.ready_status().await, Some(200));
    let status = client::send(
        dp.status,
        client::get("/status", "localhost")
            .body(Default::default())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(
        status.json()["configuration_hash"],
        snapshot.hash.to_hex().as_str(),
        "the control plane's hash is reported"
    );

    // Restart with the control plane gone: the cached configuration is served.
    dp.process.terminate();
    assert!(
        dp.process
            .wait_exit_async(Duration::from_secs(10))
            .await
            .is_some()
    );
    drop(cp);
    let dp = DataPlane::start(&args).await;
    eventually(
        Duration::from_secs(20),
        "the cached route served",
        || async { (status_of(&dp, "hybrid.test").await == 200).then_some(()) },
    )
    .await;
    assert_eq!(dp.ready_status().await, Some(200));
}
