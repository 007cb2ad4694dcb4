//! The control plane's sync server and the data plane's sync client against each other,
//! in one process, over real mTLS on loopback.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::cluster_tls::generate::{self, CertAuthority, PemPair, Validity};
use common::cluster_tls::{ClusterTls, MtlsMode};
use common::convert::grpc::{DEFAULT_MAX_MESSAGE_SIZE, open_sync};
use common::convert::{DpMessage, Hello, ServedConfig};
use common::model::ForeignRef;
use common::snapshot::{ConfigSet, EncodedSnapshot, sample};
use control_plane::cluster::{
    DataPlaneRegistry, DataPlaneStatus, PublishedSnapshot, SyncServer, SyncServerSettings, listener,
};
use data_plane::runtime::{CompileEnv, RuntimeHandle};
use data_plane::sync::{
    Applier, ApplyFuture, NodeInfo, RuntimeApplier, SnapshotCache, SyncClient, SyncClientSettings,
    SyncState,
};
use futures_util::StreamExt;
use tokio::sync::{Notify, oneshot, watch};
use uuid::Uuid;

const DEADLINE: Duration = Duration::from_secs(15);

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let start = tokio::time::Instant::now();
    while !check() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Routes and services only: what any data plane build compiles.
fn config(routes: u64) -> ConfigSet {
    let service = sample::service(0);
    ConfigSet {
        routes: (0..routes).map(|n| sample::route(n, service.id)).collect(),
        services: vec![service],
        ..ConfigSet::default()
    }
}

struct ControlPlane {
    addr: SocketAddr,
    publisher: watch::Sender<Option<Arc<PublishedSnapshot>>>,
    registry: DataPlaneRegistry,
    _stop: oneshot::Sender<()>,
}

impl ControlPlane {
    async fn start(tls: &ClusterTls, settings: SyncServerSettings) -> ControlPlane {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (publisher, source) = watch::channel(None);
        let registry = DataPlaneRegistry::default();
        let server = SyncServer::new(settings, source, registry.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let config = tls.server_config().unwrap();
        tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            listener::serve(listener, config, server, shutdown)
                .await
                .unwrap();
        });
        ControlPlane {
            addr,
            publisher,
            registry,
            _stop: stop,
        }
    }

    fn publish(&self, version: u64, config: &ConfigSet) -> EncodedSnapshot {
        self.publish_with_plugins(version, config, BTreeMap::new())
    }

    fn publish_with_plugins(
        &self,
        version: u64,
        config: &ConfigSet,
        plugins: BTreeMap<String, String>,
    ) -> EncodedSnapshot {
        let snapshot = EncodedSnapshot::encode(version, config).unwrap();
        self.publisher
            .send_replace(Some(Arc::new(PublishedSnapshot {
                snapshot: snapshot.clone(),
                plugins,
            })));
        snapshot
    }

    fn data_plane(&self, id: Uuid) -> Option<DataPlaneStatus> {
        self.registry.get(id)
    }
}

fn fast_settings() -> SyncServerSettings {
    SyncServerSettings {
        heartbeat_interval: Duration::from_millis(200),
        heartbeat_timeout: Duration::from_secs(2),
        ..SyncServerSettings::default()
    }
}

/// A real applier (decode, verify, compile, swap, persist) that also records and can hold
/// what it is given.
struct Recorder {
    inner: Arc<RuntimeApplier>,
    seen: Mutex<Vec<u64>>,
    gate: Mutex<Option<Arc<Notify>>>,
    entered: Notify,
}

impl Applier for Recorder {
    fn apply(&self, snapshot: EncodedSnapshot) -> ApplyFuture<'_> {
        Box::pin(async move {
            self.seen.lock().unwrap().push(snapshot.version);
            self.entered.notify_one();
            let gate = self.gate.lock().unwrap().clone();
            if let Some(gate) = gate {
                gate.notified().await;
            }
            self.inner.apply(snapshot).await
        })
    }
}

struct DataPlane {
    id: Uuid,
    runtime: RuntimeHandle,
    recorder: Arc<Recorder>,
    state: Arc<SyncState>,
    _stop: oneshot::Sender<()>,
}

struct DpOptions<'a> {
    tls: &'a ClusterTls,
    control_planes: Vec<String>,
    prefix: &'a Path,
    version: String,
    server_name: Option<String>,
    max_payload: Option<u64>,
}

impl DataPlane {
    async fn start(options: DpOptions<'_>) -> DataPlane {
        let runtime = RuntimeHandle::new(CompileEnv::new(&Default::default()).unwrap()).unwrap();
        let cache = SnapshotCache::new(options.prefix);
        let inner = RuntimeApplier::new(runtime.clone(), Some(cache));
        let serving = inner.restore_from_cache();
        let recorder = Arc::new(Recorder {
            inner,
            seen: Mutex::default(),
            gate: Mutex::default(),
            entered: Notify::new(),
        });
        let id = data_plane::sync::node_id::load_or_create(options.prefix).unwrap();
        let mut settings = SyncClientSettings::new(
            options.control_planes,
            options.tls.mode(),
            options.tls.client_config().unwrap(),
            NodeInfo {
                node_id: id,
                hostname: "dp.test".into(),
                version: options.version,
                labels: BTreeMap::from([("region".into(), "test".into())]),
                plugins: Vec::new(),
            },
        );
        settings.server_name = options.server_name;
        if let Some(limit) = options.max_payload {
            settings.max_payload = limit;
        }
        settings.backoff_initial = Duration::from_millis(20);
        settings.backoff_max = Duration::from_millis(200);
        settings.connect_timeout = Duration::from_secs(2);
        let client = SyncClient::new(settings, recorder.clone(), serving);
        let state = client.state();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(client.run(async {
            let _ = stopped.await;
        }));
        DataPlane {
            id,
            runtime,
            recorder,
            state,
            _stop: stop,
        }
    }

    fn serves(&self, snapshot: &EncodedSnapshot) -> bool {
        self.state.serving()
            == Some(ServedConfig {
                version: snapshot.version,
                hash: snapshot.hash,
            })
            && self.runtime.load().config_hash() == snapshot.hash.to_hex()
    }
}

fn shared_tls() -> ClusterTls {
    let pair = generate::shared(&[], Validity::default()).unwrap();
    tls(MtlsMode::Shared, &pair, None)
}

fn tls(mode: MtlsMode, pair: &PemPair, ca: Option<&PemPair>) -> ClusterTls {
    ClusterTls::from_pem(
        mode,
        pair.cert_pem.as_bytes(),
        pair.key_pem.as_bytes(),
        ca.map(|c| c.cert_pem.as_bytes()),
    )
    .unwrap()
}

fn dp_options<'a>(tls: &'a ClusterTls, cp: &ControlPlane, prefix: &'a Path) -> DpOptions<'a> {
    DpOptions {
        tls,
        control_planes: vec![cp.addr.to_string()],
        prefix,
        version: env!("CARGO_PKG_VERSION").into(),
        server_name: None,
        max_payload: None,
    }
}

/// `routes` routes with random ids and names: a payload that barely compresses.
fn incompressible(routes: usize) -> ConfigSet {
    let mut config = config(routes as u64);
    for route in &mut config.routes {
        route.id = Uuid::new_v4();
        route.name = Some(Uuid::new_v4().to_string());
    }
    config
}

#[tokio::test]
async fn large_snapshots_travel_in_parts_and_an_oversized_one_is_refused_at_its_first_part() {
    use common::convert::parts::PART_SIZE;
    let tls = shared_tls();
    let cp = ControlPlane::start(&tls, fast_settings()).await;
    let large = cp.publish(1, &incompressible(3000));
    assert!(
        large.payload.len() > 2 * PART_SIZE,
        "{}",
        large.payload.len()
    );
    let prefix = tempfile::tempdir().unwrap();
    let dp = DataPlane::start(dp_options(&tls, &cp, prefix.path())).await;
    eventually("the DP serves the large snapshot", || dp.serves(&large)).await;
    assert_eq!(
        SnapshotCache::new(prefix.path()).load().unwrap().unwrap(),
        large
    );

    // A data plane that accepts less: refused at the first part, the rest skipped, and
    // the next (small) snapshot still flows on the same session.
    let small_prefix = tempfile::tempdir().unwrap();
    let limited = DataPlane::start(DpOptions {
        max_payload: Some(PART_SIZE as u64),
        ..dp_options(&tls, &cp, small_prefix.path())
    })
    .await;
    eventually("the refusal shown by the CP", || {
        cp.data_plane(limited.id)
            .and_then(|s| s.last_error)
            .is_some_and(|e| e.contains("--cluster-max-payload") && e.contains("version 1"))
    })
    .await;
    assert!(limited.recorder.seen.lock().unwrap().is_empty());
    let small = cp.publish(2, &config(3));
    eventually("the small snapshot served", || limited.serves(&small)).await;
    eventually("the DP with no limit follows too", || dp.serves(&small)).await;
}

#[tokio::test]
async fn snapshots_flow_are_acked_and_a_bad_one_is_nacked_while_the_old_one_serves() {
    let tls = shared_tls();
    let cp = ControlPlane::start(&tls, fast_settings()).await;
    let v1 = cp.publish(1, &config(5));
    let prefix = tempfile::tempdir().unwrap();
    let dp = DataPlane::start(dp_options(&tls, &cp, prefix.path())).await;

    eventually("the DP serves v1", || dp.serves(&v1)).await;
    eventually("the CP registry shows v1", || {
        cp.data_plane(dp.id).is_some_and(|s| {
            s.config_hash == v1.hash.to_hex() && s.config_version == 1 && s.sync_status == "normal"
        })
    })
    .await;
    let status = cp.data_plane(dp.id).unwrap();
    assert!(status.connected);
    assert_eq!(status.hostname, "dp.test");
    assert_eq!(status.ip, Some("127.0.0.1".parse().unwrap()));
    assert_eq!(status.labels["region"], "test");
    assert!(status.cert_details.expiry_timestamp.is_some());
    assert!(dp.state.connected());

    let v2 = cp.publish(2, &config(8));
    eventually("the DP serves v2", || dp.serves(&v2)).await;
    // Persisted: a restarted DP would serve v2.
    let cached = SnapshotCache::new(prefix.path()).load().unwrap().unwrap();
    assert_eq!(cached, v2);

    // v3 references a service that does not exist: NACK, v2 keeps serving.
    let mut bad = config(3);
    bad.routes[0].service = Some(ForeignRef { id: Uuid::new_v4() });
    cp.publish(3, &bad);
    eventually("the CP shows the NACK", || {
        cp.data_plane(dp.id)
            .and_then(|s| s.last_error)
            .is_some_and(|e| e.contains("version 3") && e.contains("does not exist"))
    })
    .await;
    assert!(dp.serves(&v2));
    assert_eq!(cp.data_plane(dp.id).unwrap().config_version, 2);
    assert_eq!(
        SnapshotCache::new(prefix.path()).load().unwrap().unwrap(),
        v2
    );

    // A good version after the bad one flows again and clears the error.
    let v4 = cp.publish(4, &config(2));
    eventually("the DP serves v4", || dp.serves(&v4)).await;
    eventually("the error is cleared", || {
        cp.data_plane(dp.id).is_some_and(|s| s.last_error.is_none())
    })
    .await;
}

#[tokio::test]
async fn a_data_plane_that_already_serves_the_newest_hash_is_not_sent_it_again() {
    let tls = shared_tls();
    let cp = ControlPlane::start(&tls, fast_settings()).await;
    let prefix = tempfile::tempdir().unwrap();
    // A previous run of this DP cached the content the CP now has under a newer version.
    let content = config(4);
    SnapshotCache::new(prefix.path())
        .store(&EncodedSnapshot::encode(7, &content).unwrap())
        .unwrap();
    let newest = cp.publish(9, &content);
    let dp = DataPlane::start(dp_options(&tls, &cp, prefix.path())).await;
    assert!(
        dp.runtime.is_ready(),
        "served from the cache before contacting the CP"
    );
    eventually("the CP sees the DP in sync", || {
        cp.data_plane(dp.id).is_some_and(|s| {
            s.sync_status == "normal" && s.config_hash == newest.hash.to_hex() && s.connected
        })
    })
    .await;
    // One stream delivers in order: had v9 been sent, it would be applied before v10.
    let v10 = cp.publish(10, &config(5));
    eventually("the DP serves v10", || dp.serves(&v10)).await;
    assert_eq!(*dp.recorder.seen.lock().unwrap(), [10]);
}

#[tokio::test]
async fn versions_published_during_an_apply_coalesce_into_the_newest() {
    let tls = shared_tls();
    let cp = ControlPlane::start(&tls, fast_settings()).await;
    let prefix = tempfile::tempdir().unwrap();
    let dp = DataPlane::start(dp_options(&tls, &cp, prefix.path())).await;
    eventually("connected", || dp.state.connected()).await;
    let gate = Arc::new(Notify::new());
    *dp.recorder.gate.lock().unwrap() = Some(gate.clone());
    let entered = dp.recorder.entered.notified();
    cp.publish(2, &config(2));
    tokio::time::timeout(DEADLINE, entered).await.unwrap();
    // v2 is being applied; these arrive meanwhile.
    for version in 3..=6 {
        cp.publish(version, &config(version + 1));
        // Let the session see each version (the watch channel alone would coalesce them).
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }
    let v7 = cp.publish(7, &config(9));
    *dp.recorder.gate.lock().unwrap() = None;
    gate.notify_one();
    eventually("the DP serves v7", || dp.serves(&v7)).await;
    assert_eq!(*dp.recorder.seen.lock().unwrap(), [2, 7]);
}

#[tokio::test]
async fn a_data_plane_with_a_newer_minor_version_is_refused_and_shown_as_such() {
    let tls = shared_tls();
    let settings = SyncServerSettings {
        version: "1.4.0".into(),
        ..fast_settings()
    };
    let cp = ControlPlane::start(&tls, settings).await;
    cp.publish(1, &config(1));
    let prefix = tempfile::tempdir().unwrap();
    let dp = DataPlane::start(DpOptions {
        version: "1.5.0".into(),
        ..dp_options(&tls, &cp, prefix.path())
    })
    .await;
    eventually("the CP shows the DP as incompatible", || {
        cp.data_plane(dp.id).is_some_and(|s| {
            s.sync_status == "kong_version_incompatible"
                && s.last_error.as_deref().is_some_and(|e| {
                    e == "data plane version 1.5.0 is incompatible with older control plane version 1.4.0"
                })
                && !s.connected
        })
    })
    .await;
    eventually("the DP knows why", || {
        dp.state
            .last_error()
            .is_some_and(|e| e.contains("incompatible") && e.contains("kong_version_incompatible"))
    })
    .await;
    assert!(!dp.runtime.is_ready());
    assert!(dp.recorder.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_configuration_using_a_plugin_the_data_plane_lacks_is_not_sent() {
    let tls = shared_tls();
    let cp = ControlPlane::start(&tls, fast_settings()).await;
    let plugins = BTreeMap::from([("rate-limiting".to_string(), "0.1.0".to_string())]);
    cp.publish_with_plugins(1, &config(2), plugins);
    let prefix = tempfile::tempdir().unwrap();
    let dp = DataPlane::start(dp_options(&tls, &cp, prefix.path())).await;
    eventually("the CP shows the plugin set as incompatible", || {
        cp.data_plane(dp.id).is_some_and(|s| {
            s.sync_status == "plugin_set_incompatible"
                && s.connected
                && s.last_error.as_deref()
                    == Some("configured rate-limiting plugin 0.1.0 is missing from data plane")
        })
    })
    .await;
    // The session stays up; the next configuration without the plugin is sent.
    let v2 = cp.publish(2, &config(3));
    eventually("the DP serves v2", || dp.serves(&v2)).await;
    assert_eq!(*dp.recorder.seen.lock().unwrap(), [2]);
    eventually("back to normal", || {
        cp.data_plane(dp.id)
            .is_some_and(|s| s.sync_status == "normal" && s.last_error.is_none())
    })
    .await;
}

#[tokio::test]
async fn a_data_plane_with_another_shared_certificate_is_refused_on_both_sides() {
    let cp_tls = shared_tls();
    let cp = ControlPlane::start(&cp_tls, fast_settings()).await;
    cp.publish(1, &config(1));
    let stranger = shared_tls();
    let prefix = tempfile::tempdir().unwrap();
    let dp = DataPlane::start(dp_options(&stranger, &cp, prefix.path())).await;
    eventually("the DP reports a certificate error", || {
        dp.state
            .last_error()
            .is_some_and(|e| e.contains("certificate"))
    })
    .await;
    assert!(!dp.state.connected());
    assert!(
        cp.registry.list().is_empty(),
        "nothing reached the sync service"
    );
    assert!(!dp.runtime.is_ready());
}

#[tokio::test]
async fn pki_mode_syncs_and_refuses_a_wrong_server_name() {
    let ca = CertAuthority::new(Validity::default()).unwrap();
    let ca_pem = ca.pem();
    let cp_pair = ca.issue_control_plane(&[], Validity::default()).unwrap();
    let dp_pair = ca.issue_data_plane("dp-1", Validity::default()).unwrap();
    let cp_tls = tls(MtlsMode::Pki, &cp_pair, Some(&ca_pem));
    let dp_tls = tls(MtlsMode::Pki, &dp_pair, Some(&ca_pem));
    let cp = ControlPlane::start(&cp_tls, fast_settings()).await;
    let v1 = cp.publish(1, &config(3));

    let prefix = tempfile::tempdir().unwrap();
    let dp = DataPlane::start(DpOptions {
        control_planes: vec![format!("localhost:{}", cp.addr.port())],
        ..dp_options(&dp_tls, &cp, prefix.path())
    })
    .await;
    eventually("the DP serves v1 over pki", || dp.serves(&v1)).await;

    let other_prefix = tempfile::tempdir().unwrap();
    let misnamed = DataPlane::start(DpOptions {
        server_name: Some("cp.elsewhere.example".into()),
        ..dp_options(&dp_tls, &cp, other_prefix.path())
    })
    .await;
    eventually("the misnamed DP reports the name mismatch", || {
        misnamed
            .state
            .last_error()
            .is_some_and(|e| e.contains("not valid for name"))
    })
    .await;
    assert!(!misnamed.runtime.is_ready());
}

#[tokio::test]
async fn the_client_fails_over_to_the_next_control_plane() {
    let tls = shared_tls();
    let cp = ControlPlane::start(&tls, fast_settings()).await;
    let v1 = cp.publish(1, &config(2));
    // A port nobody listens on.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let prefix = tempfile::tempdir().unwrap();
    let dp = DataPlane::start(DpOptions {
        control_planes: vec![dead.to_string(), cp.addr.to_string()],
        ..dp_options(&tls, &cp, prefix.path())
    })
    .await;
    eventually("the DP serves v1 via the live CP", || dp.serves(&v1)).await;
    assert_eq!(dp.state.control_plane(), Some(cp.addr.to_string()));
}

/// A peer that says hello and then nothing: the control plane ends the session after the
/// heartbeat timeout and shows the data plane as disconnected.
#[tokio::test]
async fn a_silent_data_plane_is_dropped_after_the_heartbeat_timeout() {
    let tls = shared_tls();
    let settings = SyncServerSettings {
        heartbeat_interval: Duration::from_millis(100),
        heartbeat_timeout: Duration::from_millis(400),
        ..SyncServerSettings::default()
    };
    let cp = ControlPlane::start(&tls, settings).await;
    let id = Uuid::new_v4();
    let (tx, mut inbound) = raw_session(&cp, &tls, id).await;
    eventually("registered", || {
        cp.data_plane(id).is_some_and(|s| s.connected)
    })
    .await;
    // Keep reading (heartbeats arrive) but never answer.
    let reader = tokio::spawn(async move { while inbound.next().await.is_some() {} });
    eventually("dropped as silent", || {
        cp.data_plane(id).is_some_and(|s| !s.connected)
    })
    .await;
    tokio::time::timeout(DEADLINE, reader)
        .await
        .unwrap()
        .unwrap();
    drop(tx);
}

/// A bare protocol client: says hello as `id`, then does only what the test does.
async fn raw_session(
    cp: &ControlPlane,
    tls: &ClusterTls,
    id: Uuid,
) -> (
    tokio::sync::mpsc::Sender<DpMessage>,
    common::convert::grpc::CpStream,
) {
    let channel = data_plane::sync::connector::connect(
        &cp.addr.to_string(),
        MtlsMode::Shared,
        tls.client_config().unwrap(),
        None,
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(DpMessage::Hello(Hello {
        node_id: id,
        hostname: "raw".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        labels: BTreeMap::new(),
        plugins: Vec::new(),
        serving: None,
        capabilities: Vec::new(),
        snapshot_formats: vec![1],
    }))
    .await
    .unwrap();
    let inbound = open_sync(channel, tokio_stream_from(rx), DEFAULT_MAX_MESSAGE_SIZE)
        .await
        .unwrap();
    (tx, inbound)
}

/// A data plane that reconnects before its old session is over stays connected when the old
/// session ends.
#[tokio::test]
async fn an_old_session_ending_does_not_disconnect_the_new_one() {
    let tls = shared_tls();
    let cp = ControlPlane::start(&tls, fast_settings()).await;
    let id = Uuid::new_v4();
    let (old_tx, old_inbound) = raw_session(&cp, &tls, id).await;
    eventually("first session registered", || {
        cp.data_plane(id).is_some_and(|s| s.connected)
    })
    .await;
    let (new_tx, mut new_inbound) = raw_session(&cp, &tls, id).await;
    // The Welcome of the new session proves its hello was handled.
    assert!(matches!(
        new_inbound.next().await,
        Some(Ok(common::convert::CpMessage::Welcome(_)))
    ));
    let ended_before = cp.registry.sessions_ended();
    drop(old_tx);
    drop(old_inbound);
    eventually("the old session ended", || {
        cp.registry.sessions_ended() > ended_before
    })
    .await;
    assert!(
        cp.data_plane(id).unwrap().connected,
        "the new session still owns the entry"
    );
    drop(new_tx);
    drop(new_inbound);
    eventually("gone after the new session ends", || {
        cp.data_plane(id).is_some_and(|s| !s.connected)
    })
    .await;
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + 'static {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
