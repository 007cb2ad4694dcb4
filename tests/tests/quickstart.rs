//! Black-box: the README's first command, `deploy/quickstart.sh`, starts a working gateway
//! (a control plane on the embedded store and a data plane, real mTLS between them), on
//! which Kong's "Get Started" steps work as written; SIGTERM stops both processes.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use portico_tests::client::{self, Resp};
use portico_tests::process::{Process, binary, eventually, free_port, loopback};
use portico_tests::upstream::Upstream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quickstart_script_starts_a_working_gateway() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/quickstart.sh");
    let bin_dir = binary("portico-cp").parent().unwrap().to_path_buf();
    let state = tempfile::tempdir().unwrap();
    let [admin, proxy, proxy_tls, status, cluster] = [(); 5].map(|()| loopback(free_port()));
    let mut command = Command::new("bash");
    command
        .arg(&script)
        .env("PORTICO_BIN_DIR", &bin_dir)
        .env("PORTICO_QUICKSTART_DIR", state.path())
        .env("QUICKSTART_ADMIN", admin.to_string())
        .env("QUICKSTART_PROXY", proxy.to_string())
        .env("QUICKSTART_PROXY_TLS", proxy_tls.to_string())
        .env("QUICKSTART_STATUS", status.to_string())
        .env("QUICKSTART_CLUSTER", cluster.to_string());
    let log = state.path().join("quickstart.log");
    let mut script = Process::spawn_logged(command, "quickstart.sh", Some(&log));
    let log_ref = &log;
    eventually(
        Duration::from_secs(60),
        "the quick start to be ready",
        || async move {
            std::fs::read_to_string(log_ref)
                .unwrap_or_default()
                .contains("quickstart: ready")
                .then_some(())
        },
    )
    .await;
    assert!(state.path().join("certs/cluster.crt").exists());

    // Kong's Get Started, with a local upstream instead of httpbin.konghq.com.
    let up = Upstream::echo().await;
    let url = format!("url=http://127.0.0.1:{}", up.port());
    let service = form(admin, "/services", &["name=example_service", &url]).await;
    assert_eq!(service.status, 201, "{}", service.text());
    let route = form(
        admin,
        "/services/example_service/routes",
        &["paths[]=/mock", "name=example_route"],
    )
    .await;
    assert_eq!(route.status, 201, "{}", route.text());
    let proxied = eventually(
        Duration::from_secs(30),
        "/mock/anything proxied",
        || async move {
            let req = client::get("/mock/anything", "localhost")
                .body(Default::default())
                .ok()?;
            let res = client::send(proxy, req).await.ok()?;
            (res.status == 200).then_some(res)
        },
    )
    .await;
    assert_eq!(proxied.json()["path"], "/anything", "{}", proxied.text());
    let req = client::get("/clustering/data-planes", "localhost")
        .body(Default::default())
        .unwrap();
    let planes = client::send(admin, req).await.unwrap().json();
    assert_eq!(planes["data"].as_array().unwrap().len(), 1, "{planes}");

    script.terminate();
    assert!(script.wait_exit(Duration::from_secs(20)).is_some());
    for addr in [admin, proxy] {
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "{addr} still listening after the script stopped"
        );
    }
}

/// `curl --data a --data b http://admin/path`.
async fn form(admin: std::net::SocketAddr, path: &str, data: &[&str]) -> Resp {
    let req = Request::post(path)
        .header("host", "localhost")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(data.join("&"))))
        .unwrap();
    client::send(admin, req).await.unwrap()
}
