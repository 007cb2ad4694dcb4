//! Black-box: `portico-dp health` and `portico-cp health`, the commands container health
//! checks and Kubernetes `exec` probes run (the images have no shell or HTTP client). They
//! read the same listen flags and `PORTICO_*` variables as `serve`.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use control_plane::store::testing::TestDatabase;
use portico_tests::admin::{ControlPlane, database_url, server_addr, url_via};
use portico_tests::forwarder::Forwarder;
use portico_tests::process::{DataPlane, binary, eventually};

/// Runs `bin health` with `args` and `env` (and no inherited `PORTICO_*` listen settings):
/// success and combined output.
async fn health(bin: &str, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut command = tokio::process::Command::new(binary(bin));
    command
        .arg("health")
        .args(args)
        .env_remove("PORTICO_STATUS_LISTEN")
        .env_remove("PORTICO_ADMIN_LISTEN")
        .env_remove("PORTICO_ADMIN_TOKEN")
        .envs(env.iter().copied())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(20), command.output())
        .await
        .expect("health exits in time")
        .expect("health runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn dp_health_follows_status_ready() {
    // No configuration source: the node runs but is never ready.
    let idle = DataPlane::start(&[]).await;
    let addr = idle.status.to_string();
    let (ok, out) = health("portico-dp", &["--status-listen", &addr], &[]).await;
    assert!(!ok, "{out}");
    assert!(out.contains("not ready (HTTP 503)"), "{out}");

    // A declarative file makes it ready; the listen address also comes from the
    // environment, as in the container image, and a wildcard bind is dialed on loopback.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "_format_version: \"3.0\"\n").unwrap();
    let port = portico_tests::process::free_port();
    let wildcard = format!("0.0.0.0:{port}");
    let path = file.path().display().to_string();
    let ready =
        DataPlane::start(&["--declarative-config", &path, "--status-listen", &wildcard]).await;
    assert_eq!(ready.ready_status().await, Some(200));
    let (ok, out) = health("portico-dp", &[], &[("PORTICO_STATUS_LISTEN", &wildcard)]).await;
    assert!(ok, "{out}");

    // Nothing listening: unhealthy, with the reason.
    drop(ready);
    let (ok, out) = health("portico-dp", &["--status-listen", &wildcard], &[]).await;
    assert!(!ok && out.contains("cannot connect"), "{out}");
}

#[tokio::test]
async fn cp_health_sends_the_admin_token() {
    let cp = ControlPlane::start(None, &["--admin-token", "s3cret"]).await;
    let admin = cp.admin.to_string();
    let (ok, out) = health("portico-cp", &["--admin-listen", &admin], &[]).await;
    assert!(!ok, "{out}");
    assert!(out.contains("HTTP 401"), "{out}");
    let env = [
        ("PORTICO_ADMIN_LISTEN", admin.as_str()),
        ("PORTICO_ADMIN_TOKEN", "s3cret"),
    ];
    let (ok, out) = health("portico-cp", &[], &env).await;
    assert!(ok, "{out}");
}

/// The control plane is unhealthy while its database is unreachable and healthy again
/// when it is back (the Admin API itself keeps answering).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cp_health_reports_the_database() {
    let db = TestDatabase::create().await.unwrap();
    let forwarder = Forwarder::start(server_addr(&database_url()).await).await;
    let url = url_via(db.url(), forwarder.addr);
    let cp = ControlPlane::start(Some(&url), &[]).await;
    let admin = cp.admin.to_string();
    let args = ["--admin-listen", admin.as_str()];
    let (ok, out) = health("portico-cp", &args, &[]).await;
    assert!(ok, "{out}");

    forwarder.cut();
    let out = eventually(Duration::from_secs(20), "an unhealthy report", || async {
        let (ok, out) = health("portico-cp", &args, &[]).await;
        (!ok).then_some(out)
    })
    .await;
    assert!(out.contains("database"), "{out}");

    forwarder.restore();
    eventually(Duration::from_secs(20), "a healthy report", || async {
        let (ok, _) = health("portico-cp", &args, &[]).await;
        ok.then_some(())
    })
    .await;
}
