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
