//! Black-box: the real `portico-dp` binary on ephemeral ports.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use portico_tests::client;
use portico_tests::process::DataPlane;

#[tokio::test]
async fn serve_without_configuration_is_not_ready_and_stops_on_sigterm() {
    let mut dp = DataPlane::start(&[]).await;
    assert_eq!(dp.ready_status().await, Some(503));
    // The proxy answers (with no configuration, nothing matches).
    let resp = client::send(
        dp.proxy,
        client::get("/", "x.test").body(Default::default()).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 404);
    assert_eq!(resp.json()["message"], "no Route matched with those values");

    let started = Instant::now();
    dp.process.terminate();
    let status = dp
        .process
        .wait_exit(Duration::from_secs(10))
        .expect("exits within 10 s of SIGTERM");
    assert!(status.success(), "{status}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

use data_plane::runtime::ConfigSet;
use http_body_util::BodyExt;
use portico_tests::entities::{route_hosts, route_paths, service};
use portico_tests::process::eventually;
use portico_tests::proxy::to_kong_yml;
use portico_tests::upstream::{Chunks, Upstream, full};

fn write(path: &std::path::Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
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
async fn standalone_serves_and_reloads_a_declarative_file() {
    let up = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", up.port()));
    let first = ConfigSet {
        routes: vec![route_hosts(Some(&svc), &["first.test"])],
        services: vec![svc.clone()],
        ..Default::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kong.yml");
    write(&file, &to_kong_yml(&first));
    let file_arg = file.display().to_string();
    let mut dp = DataPlane::start(&["--declarative-config", &file_arg]).await;
    assert_eq!(dp.ready_status().await, Some(200));
    assert_eq!(status_of(&dp, "first.test").await, 200);

    // SIGHUP reloads a changed file.
    let second = ConfigSet {
        routes: vec![route_hosts(Some(&svc), &["second.test"])],
        services: vec![svc.clone()],
        ..Default::default()
    };
    write(&file, &to_kong_yml(&second));
    dp.process.signal("HUP");
    eventually(Duration::from_secs(20), "second.test served", || async {
        (status_of(&dp, "second.test").await == 200).then_some(())
    })
    .await;
    assert_eq!(status_of(&dp, "first.test").await, 404);

    // An invalid file keeps the running configuration.
    write(
        &file,
        "_format_version: \"3.0\"\nservices:\n- name: broken\n  port: nope\n",
    );
    dp.process.signal("HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(status_of(&dp, "second.test").await, 200);
    assert!(dp.process.running());

    // A content change is picked up without a signal.
    let third = ConfigSet {
        routes: vec![route_hosts(Some(&svc), &["third.test"])],
        services: vec![svc],
        ..Default::default()
    };
    write(&file, &to_kong_yml(&third));
    eventually(Duration::from_secs(20), "third.test served", || async {
        (status_of(&dp, "third.test").await == 200).then_some(())
    })
    .await;
}

/// `--worker-threads 1` runs a single-threaded runtime: proxying, the status API, reloads
/// (compiled on the blocking pool) and shutdown all work on it.
#[tokio::test]
async fn one_worker_thread_proxies_reloads_and_stops() {
    let up = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", up.port()));
    let config = |host: &str| ConfigSet {
        routes: vec![route_hosts(Some(&svc), &[host])],
        services: vec![svc.clone()],
        ..Default::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kong.yml");
    write(&file, &to_kong_yml(&config("one.test")));
    let file_arg = file.display().to_string();
    let mut dp =
        DataPlane::start(&["--declarative-config", &file_arg, "--worker-threads", "1"]).await;
    assert_eq!(dp.ready_status().await, Some(200));
    for _ in 0..3 {
        assert_eq!(status_of(&dp, "one.test").await, 200);
    }

    write(&file, &to_kong_yml(&config("two.test")));
    dp.process.signal("HUP");
    eventually(Duration::from_secs(20), "two.test served", || async {
        (status_of(&dp, "two.test").await == 200).then_some(())
    })
    .await;

    dp.process.terminate();
    let status = dp
        .process
        .wait_exit(Duration::from_secs(10))
        .expect("exits within 10 s of SIGTERM");
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn an_invalid_declarative_file_stops_startup_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kong.yml");
    write(
        &file,
        "_format_version: \"3.0\"\nroutes:\n- paths: [\"/x\"]\n  protocols: [\"nope\"]\n",
    );
    let out = std::process::Command::new(portico_tests::process::binary("portico-dp"))
        .args([
            "serve",
            "--proxy-listen",
            "off",
            "--proxy-listen-tls",
            "off",
            "--status-listen",
            "off",
            "--prefix",
        ])
        .arg(dir.path())
        .arg("--declarative-config")
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("kong.yml"), "{err}");
    assert!(err.contains("protocols"), "{err}");
}

/// Peak resident memory of a process, in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap()
}

#[tokio::test]
async fn a_gibibyte_streams_both_ways_with_bounded_memory() {
    const GIB: usize = 1024 * 1024 * 1024;
    // Counts what it receives; `/download` sends 1 GiB.
    let up = Upstream::start(
        |req: http::Request<hyper::body::Incoming>, _conn| async move {
            if req.uri().path() == "/download" {
                let body = Chunks::new(GIB, 256 * 1024)
                    .map_err(|never| match never {})
                    .boxed();
                return http::Response::new(body);
            }
            let mut body = req.into_body();
            let mut size = 0usize;
            while let Some(Ok(frame)) = body.frame().await {
                size += frame.into_data().map(|d| d.len()).unwrap_or(0);
            }
            http::Response::new(full(size.to_string()))
        },
    )
    .await;
    let svc = service(&format!("http://127.0.0.1:{}", up.port()));
    let mut streamed = route_paths(Some(&svc), &["/"]);
    streamed.request_buffering = false;
    streamed.response_buffering = false;
    let config = ConfigSet {
        routes: vec![streamed],
        services: vec![svc],
        ..Default::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kong.yml");
    write(&file, &to_kong_yml(&config));
    let file_arg = file.display().to_string();
    let dp = DataPlane::start(&["--declarative-config", &file_arg]).await;

    let stream = tokio::net::TcpStream::connect(dp.proxy).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let upload = http::Request::post("/upload")
        .header("host", "big.test")
        .body(Chunks::new(GIB, 256 * 1024))
        .unwrap();
    let resp = sender.send_request(upload).await.unwrap();
    assert_eq!(resp.status(), 200);
    let received = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(received, GIB.to_string().as_bytes());

    sender.ready().await.unwrap();
    let download = http::Request::get("/download")
        .header("host", "big.test")
        .body(Chunks::new(0, 1))
        .unwrap();
    let resp = sender.send_request(download).await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        total += frame.unwrap().into_data().map(|d| d.len()).unwrap_or(0);
    }
    assert_eq!(total, GIB);

    let peak = peak_rss(dp.process.pid());
    eprintln!(
        "portico-dp peak RSS after 1 GiB each way: {} MiB",
        peak / 1024 / 1024
    );
    assert!(
        peak < 100 * 1024 * 1024,
        "portico-dp peaked at {} MiB",
        peak / 1024 / 1024
    );
}
