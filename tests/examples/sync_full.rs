//! Full sync figure: time from publishing an N-route snapshot on a control plane to a data
//! plane serving it (transfer over mTLS, decode, verify, compile, swap, persist), in one
//! process over loopback. Also prints the build (encode) time on the control plane side.
//!
//! `cargo run --release -p portico-tests --example sync_full -- [ROUTES] [RUNS]`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cluster_tls::generate::{self, Validity};
use common::cluster_tls::{ClusterTls, MtlsMode};
use common::snapshot::{ConfigSet, EncodedSnapshot, sample};
use control_plane::cluster::{
    DataPlaneRegistry, PublishedSnapshot, SyncServer, SyncServerSettings, listener,
};
use data_plane::runtime::{CompileEnv, RuntimeHandle};
use data_plane::sync::{NodeInfo, RuntimeApplier, SnapshotCache, SyncClient, SyncClientSettings};
use tokio::sync::watch;
use uuid::Uuid;

fn config(routes: u64, salt: u64) -> ConfigSet {
    let services: Vec<_> = (0..(routes / 10).max(1)).map(sample::service).collect();
    let mut routes: Vec<_> = (0..routes)
        .map(|n| sample::route(n, services[(n % services.len() as u64) as usize].id))
        .collect();
    // Different content per run, so every run is a real change.
    routes[0].regex_priority = salt as i64;
    ConfigSet {
        services,
        routes,
        ..ConfigSet::default()
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let routes: u64 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10_000);
    let runs: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(5);

    let pair = generate::shared(&[], Validity::default())?;
    let tls = ClusterTls::from_pem(
        MtlsMode::Shared,
        pair.cert_pem.as_bytes(),
        pair.key_pem.as_bytes(),
        None,
    )?;
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = tcp.local_addr()?;
    let (publisher, source) = watch::channel(None);
    let server = SyncServer::new(
        SyncServerSettings::default(),
        source,
        DataPlaneRegistry::default(),
    );
    tokio::spawn(listener::serve(
        tcp,
        tls.server_config()?,
        server,
        std::future::pending(),
    ));

    let prefix = tempfile::tempdir()?;
    let runtime = RuntimeHandle::new(CompileEnv::new(&Default::default())?)?;
    let applier = RuntimeApplier::new(runtime.clone(), Some(SnapshotCache::new(prefix.path())));
    let node = NodeInfo {
        node_id: Uuid::new_v4(),
        hostname: "bench".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        labels: BTreeMap::new(),
        plugins: Vec::new(),
    };
    let settings = SyncClientSettings::new(
        vec![addr.to_string()],
        MtlsMode::Shared,
        tls.client_config()?,
        node,
    );
    let client = SyncClient::new(settings, applier, None);
    let state = client.state();
    tokio::spawn(client.run(std::future::pending()));
    while !state.connected() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    println!("{routes} routes, {runs} runs");
    for run in 1..=runs {
        let config = config(routes, run);
        let started = Instant::now();
        let snapshot = EncodedSnapshot::encode(run, &config)?;
        let built = started.elapsed();
        let hash = snapshot.hash.to_hex();
        let bytes = snapshot.payload.len();
        publisher.send_replace(Some(Arc::new(PublishedSnapshot {
            snapshot,
            plugins: BTreeMap::new(),
        })));
        let published = Instant::now();
        while runtime.load().config_hash() != hash {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        println!(
            "run {run}: encode {:>7.1} ms ({bytes} bytes compressed), publish -> serving {:>7.1} ms",
            built.as_secs_f64() * 1000.0,
            published.elapsed().as_secs_f64() * 1000.0
        );
    }
    Ok(())
}
