//! Hybrid-mode figures with the real binaries (run through `bench/sync.sh`):
//!
//! 1. Admin API write -> data plane serving the change, with 1k routes configured (median,
//!    p99 over many writes);
//! 2. the same with 10k routes (every change is a full snapshot: build, send, compile), and
//!    a fresh data plane (no cache) starting against a control plane holding 10k routes;
//! 3. control plane memory (RSS) with 500 lightweight data plane clients connected over
//!    mTLS (one TCP+TLS connection and sync stream each, applying nothing).
//!
//! `cargo run --release -p portico-tests --example sync_bench -- BIN_DIR [WRITES] [CLIENTS]`
//! with release `portico-cp` / `portico-dp` in BIN_DIR. Needs Postgres (`DATABASE_URL`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cluster_tls::{ClusterTls, MtlsMode};
use common::convert::grpc::{DEFAULT_MAX_MESSAGE_SIZE, open_sync};
use common::convert::parts::{Assembled, Assembler};
use common::convert::{Ack, CAPABILITY_SNAPSHOT_PARTS, CpMessage, DpMessage, Hello};
use common::snapshot::SUPPORTED_FORMATS;
use control_plane::store::testing::TestDatabase;
use futures_util::StreamExt;
use http::{Method, Request};
use http_body_util::Full;
use portico_tests::client;
use portico_tests::process::{Process, free_port, loopback};
use portico_tests::upstream::Upstream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

type Error = Box<dyn std::error::Error + Send + Sync>;

struct Setup {
    bin: PathBuf,
    certs: tempfile::TempDir,
    db: TestDatabase,
    upstream: Upstream,
}

impl Setup {
    fn cert_args(&self) -> Vec<String> {
        let path = |f: &str| self.certs.path().join(f).display().to_string();
        vec![
            "--cluster-cert".into(),
            path("cluster.crt"),
            "--cluster-cert-key".into(),
            path("cluster.key"),
        ]
    }

    /// A kong.yml with `routes` routes over `routes / 10` services, all to the upstream.
    fn write_config(&self, routes: usize, dir: &Path) -> Result<PathBuf, Error> {
        let services = (routes / 10).max(1);
        let mut yaml = String::from("_format_version: \"3.0\"\nservices:\n");
        for s in 0..services {
            yaml.push_str(&format!(
                "- name: svc-{s}\n  url: http://127.0.0.1:{}/s{s}\n  routes:\n",
                self.upstream.port()
            ));
            for r in (s..routes).step_by(services) {
                yaml.push_str(&format!(
                    "  - name: route-{r}\n    paths: [\"/r{r}/\", \"/alt{r}\"]\n    hosts: [\"h{}.example.test\", \"bench.test\"]\n",
                    r % 50
                ));
            }
        }
        let file = dir.join(format!("routes-{routes}.yml"));
        std::fs::write(&file, yaml)?;
        Ok(file)
    }

    fn import(&self, file: &Path) -> Result<(), Error> {
        let out = Command::new(self.bin.join("portico-cp"))
            .args(["config", "import", "--database-url", self.db.url()])
            .arg(file)
            .output()?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned().into());
        }
        Ok(())
    }
}

struct Cp {
    _process: Process,
    admin: SocketAddr,
    cluster: SocketAddr,
    pid: u32,
}

fn start_cp(setup: &Setup, prefix: &Path) -> Cp {
    let (admin, cluster) = (loopback(free_port()), loopback(free_port()));
    let mut command = Command::new(setup.bin.join("portico-cp"));
    command
        .args([
            "serve",
            "--log-level",
            "warn",
            "--database-url",
            setup.db.url(),
        ])
        .arg("--prefix")
        .arg(prefix)
        .args(["--admin-listen", &admin.to_string()])
        .args(["--cluster-listen", &cluster.to_string()])
        .args(setup.cert_args());
    let process = Process::spawn(command, "portico-cp");
    let pid = process.pid();
    Cp {
        _process: process,
        admin,
        cluster,
        pid,
    }
}

struct Dp {
    _process: Process,
    proxy: SocketAddr,
    status: SocketAddr,
}

fn start_dp(setup: &Setup, cp: &Cp, prefix: &Path) -> Dp {
    let (proxy, status) = (loopback(free_port()), loopback(free_port()));
    let mut command = Command::new(setup.bin.join("portico-dp"));
    command
        .args(["serve", "--log-level", "warn"])
        .arg("--prefix")
        .arg(prefix)
        .args(["--cluster-control-plane", &cp.cluster.to_string()])
        .args(["--proxy-listen", &proxy.to_string()])
        .args(["--proxy-listen-tls", &loopback(free_port()).to_string()])
        .args(["--status-listen", &status.to_string()])
        .args(setup.cert_args());
    Dp {
        _process: Process::spawn(command, "portico-dp"),
        proxy,
        status,
    }
}

async fn get(addr: SocketAddr, path: &str, host: &str) -> u16 {
    let Ok(req) = client::get(path, host).body(Default::default()) else {
        return 0;
    };
    client::send(addr, req)
        .await
        .map(|r| r.status.as_u16())
        .unwrap_or(0)
}

/// Polls every `every` until `path` is routed (the upstream's 200) or `deadline` passes.
async fn until_served(
    dp: &Dp,
    path: &str,
    every: Duration,
    deadline: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < deadline {
        match get(dp.proxy, path, "bench.test").await {
            200 => return Some(started.elapsed()),
            0 | 404 => {}
            other => {
                eprintln!("GET {path}: unexpected status {other}");
                return None;
            }
        }
        tokio::time::sleep(every).await;
    }
    None
}

async fn post_route(cp: &Cp, service: &str, name: &str, path: &str) -> Result<(), Error> {
    let body = serde_json::json!({"name": name, "paths": [path], "hosts": ["bench.test"]});
    let req = Request::builder()
        .method(Method::POST)
        .uri(format!("/services/{service}/routes"))
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(body.to_string().into()))?;
    let res = client::send(cp.admin, req).await?;
    if res.status != 201 {
        return Err(format!("POST route: {} {}", res.status, res.text()).into());
    }
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Write -> serving, `writes` times; prints median / p99 / max in ms.
async fn write_latency(cp: &Cp, dp: &Dp, label: &str, writes: usize) -> Result<(), Error> {
    let mut times = Vec::with_capacity(writes);
    for i in 0..writes {
        // A trailing slash: `/probe-1` must not be a prefix of `/probe-10`.
        let path = format!("/probe-{label}-{i}/");
        let started = Instant::now();
        post_route(cp, "svc-0", &format!("probe-{label}-{i}"), &path).await?;
        until_served(
            dp,
            &path,
            Duration::from_micros(500),
            Duration::from_secs(30),
        )
        .await
        .ok_or("a write was not served within 30 s")?;
        times.push(started.elapsed());
    }
    times.sort();
    println!(
        "{label:>10} routes: write -> served  median {:7.1} ms   p99 {:7.1} ms   max {:7.1} ms   ({writes} writes)",
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        percentile(&times, 1.0),
    );
    Ok(())
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// One lightweight data plane: a connection and a sync stream; reassembles and ACKs what it
/// receives without applying it. Returns once the first snapshot is acknowledged; keeps the stream
/// open until `hold` is dropped.
async fn light_client(
    address: String,
    tls: Arc<rustls::ClientConfig>,
    n: usize,
    done: mpsc::Sender<()>,
) -> Result<(), Error> {
    let channel = data_plane::sync::connector::connect(
        &address,
        MtlsMode::Shared,
        tls,
        None,
        Duration::from_secs(30),
    )
    .await
    .map_err(|e| e.0)?;
    let (tx, rx) = mpsc::channel(4);
    tx.send(DpMessage::Hello(Hello {
        node_id: uuid::Uuid::new_v4(),
        hostname: format!("light-{n}"),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        labels: BTreeMap::new(),
        plugins: Vec::new(),
        serving: None,
        capabilities: vec![CAPABILITY_SNAPSHOT_PARTS.to_owned()],
        snapshot_formats: SUPPORTED_FORMATS.to_vec(),
    }))
    .await?;
    let mut inbound = open_sync(channel, ReceiverStream::new(rx), DEFAULT_MAX_MESSAGE_SIZE).await?;
    let mut signalled = false;
    let mut assembler = Assembler::new(u64::MAX);
    while let Some(message) = inbound.next().await {
        let step = match message? {
            CpMessage::Snapshot(s) => Assembled::Complete(s),
            CpMessage::SnapshotHead {
                snapshot,
                payload_size,
            } => assembler.head(snapshot, payload_size)?,
            CpMessage::SnapshotPart(data) => assembler.part(data)?,
            _ => Assembled::Incomplete,
        };
        if let Assembled::Complete(s) = step {
            tx.send(DpMessage::Ack(Ack {
                version: s.version,
                hash: s.hash,
                apply_time: Duration::ZERO,
            }))
            .await?;
            if !signalled {
                signalled = true;
                let _ = done.send(()).await;
            }
        }
    }
    Ok(())
}

async fn fleet_memory(setup: &Setup, cp: &Cp, label: &str, clients: usize) -> Result<(), Error> {
    let tls = ClusterTls::load(
        MtlsMode::Shared,
        &setup.certs.path().join("cluster.crt"),
        &setup.certs.path().join("cluster.key"),
        None,
    )?
    .client_config()?;
    let before = rss_kib(cp.pid);
    let (done_tx, mut done_rx) = mpsc::channel(clients);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for n in 0..clients {
        let (address, tls, done) = (cp.cluster.to_string(), tls.clone(), done_tx.clone());
        tasks.push(tokio::spawn(async move {
            if let Err(e) = light_client(address, tls, n, done).await {
                eprintln!("light client {n}: {e}");
            }
        }));
    }
    for _ in 0..clients {
        tokio::time::timeout(Duration::from_secs(120), done_rx.recv())
            .await?
            .ok_or("light clients ended")?;
    }
    let synced = started.elapsed();
    // Then steady state: connected, heartbeating, nothing to send.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let steady = rss_kib(cp.pid);
    println!(
        "{label:>10} routes: control plane RSS {:.1} MiB before, {:.1} MiB 5 s after {clients} data planes synced (in {:.2} s): {:.1} KiB per data plane",
        before as f64 / 1024.0,
        steady as f64 / 1024.0,
        synced.as_secs_f64(),
        (steady.saturating_sub(before)) as f64 / clients as f64,
    );
    for t in tasks {
        t.abort();
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let bin = PathBuf::from(
        args.next()
            .ok_or("usage: sync_bench BIN_DIR [WRITES] [CLIENTS]")?,
    );
    let writes: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(200);
    let clients: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(500);

    let certs = tempfile::tempdir()?;
    let out = Command::new(bin.join("portico-cp"))
        .args(["certs", "generate", "--out"])
        .arg(certs.path())
        .output()?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned().into());
    }
    let setup = Setup {
        bin,
        certs,
        db: TestDatabase::create().await?,
        upstream: Upstream::echo().await,
    };
    let work = tempfile::tempdir()?;
    let small = setup.write_config(1_000, work.path())?;
    let large = setup.write_config(10_000, work.path())?;

    setup.import(&small)?;
    let cp_prefix = tempfile::tempdir()?;
    let cp = start_cp(&setup, cp_prefix.path());
    let dp_prefix = tempfile::tempdir()?;
    let dp = start_dp(&setup, &cp, dp_prefix.path());
    until_served(
        &dp,
        "/r999/",
        Duration::from_millis(5),
        Duration::from_secs(60),
    )
    .await
    .ok_or("the 1k configuration was not served")?;
    write_latency(&cp, &dp, "1k", writes).await?;
    fleet_memory(&setup, &cp, "1k", clients).await?;

    let started = Instant::now();
    setup.import(&large)?;
    let imported = started.elapsed();
    until_served(
        &dp,
        "/r9999/",
        Duration::from_millis(1),
        Duration::from_secs(120),
    )
    .await
    .ok_or("the 10k configuration was not served")?;
    println!(
        "10k routes: config import {:.2} s, then served {:.0} ms after the import returned",
        imported.as_secs_f64(),
        (started.elapsed() - imported).as_secs_f64() * 1000.0
    );
    write_latency(&cp, &dp, "10k", (writes / 4).max(10)).await?;

    let fresh_prefix = tempfile::tempdir()?;
    let started = Instant::now();
    let fresh = start_dp(&setup, &cp, fresh_prefix.path());
    loop {
        if get(fresh.status, "/status/ready", "localhost").await == 200 {
            break;
        }
        if started.elapsed() > Duration::from_secs(120) {
            return Err("the fresh data plane did not become ready".into());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    println!(
        "10k routes: fresh data plane (process start, connect, full sync, compile) ready in {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    drop(fresh);

    fleet_memory(&setup, &cp, "10k", clients).await?;
    drop((dp, cp));
    setup.db.drop_database().await?;
    Ok(())
}
