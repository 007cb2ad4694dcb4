//! Proxy throughput with key-auth + rate-limiting (local) against no plugins, in one
//! process: an in-process `portico-dp` node, a minimal upstream, and a closed-loop load
//! generator (keep-alive HTTP/1.1 connections, one request in flight each). The two
//! configurations alternate in rounds so machine load affects both alike.
//!
//! `cargo run --release -p portico-bench --example plugin_throughput -- [SECONDS] [CONNECTIONS] [ROUNDS]`

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use data_plane::node::{Node, NodeConfig};
use data_plane::runtime::{CompileEnv, ConfigSet, RuntimeHandle};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;

fn arg(n: usize, default: u64) -> u64 {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

/// Answers every request with a small body.
async fn upstream() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = service_fn(|_req| async {
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"ok"))))
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// The configuration: one service and route, with or without key-auth + rate-limiting.
fn config(upstream: std::net::SocketAddr, plugins: bool) -> ConfigSet {
    let mut doc = json!({
        "_format_version": "3.0",
        "services": [{
            "name": "bench",
            "url": format!("http://{upstream}"),
            "routes": [{"name": "bench", "paths": ["/bench"]}],
        }],
        "consumers": [{"username": "bench", "keyauth_credentials": [{"key": "bench-key"}]}],
    });
    if plugins {
        doc["plugins"] = json!([
            {"name": "key-auth"},
            // A limit never reached: the counting is measured, not the refusals.
            {"name": "rate-limiting", "config": {"hour": 1e12, "policy": "local"}},
        ]);
    }
    common::declarative::parse(&doc.to_string())
        .unwrap_or_else(|e| panic!("{e}"))
        .config
}

/// Requests per second over `seconds` with `connections` keep-alive clients.
async fn measure(proxy: std::net::SocketAddr, connections: u64, seconds: u64) -> f64 {
    let done = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let done = done.clone();
        let count = count.clone();
        tasks.push(tokio::spawn(async move {
            let Ok(stream) = tokio::net::TcpStream::connect(proxy).await else {
                return;
            };
            let _ = stream.set_nodelay(true);
            let Ok((mut sender, conn)) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
            else {
                return;
            };
            tokio::spawn(conn);
            while !done.load(Ordering::Relaxed) {
                let Ok(req) = hyper::Request::get("/bench")
                    .header("host", "bench.test")
                    .header("apikey", "bench-key")
                    .body(Full::new(Bytes::new()))
                else {
                    return;
                };
                let Ok(resp) = sender.send_request(req).await else {
                    return;
                };
                let ok = resp.status() == 200;
                let _ = resp.into_body().collect().await;
                if ok {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    // Warm-up, then the measured window.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let start_count = count.load(Ordering::Relaxed);
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let n = count.load(Ordering::Relaxed) - start_count;
    let elapsed = start.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    n as f64 / elapsed
}

fn main() {
    let seconds = arg(1, 10);
    let connections = arg(2, 32);
    let rounds = arg(3, 3);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    runtime.block_on(async move {
        let up = upstream().await;
        let env = CompileEnv::new(&Default::default()).unwrap_or_else(|e| panic!("{e}"));
        let handle = RuntimeHandle::new(env).unwrap_or_else(|e| panic!("{e}"));
        let node = Node::start(NodeConfig::ephemeral(), handle.clone())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let proxy = node
            .proxy_addr
            .unwrap_or_else(|| panic!("no proxy listener"));
        let mut without = Vec::new();
        let mut with = Vec::new();
        for round in 1..=rounds {
            for plugins in [false, true] {
                let compiled = handle
                    .compile(config(up, plugins))
                    .unwrap_or_else(|e| panic!("{e}"));
                handle.swap(compiled);
                let rps = measure(proxy, connections, seconds).await;
                println!(
                    "round {round}: {:<28} {rps:>10.0} req/s",
                    if plugins {
                        "key-auth + rate-limiting"
                    } else {
                        "no plugins"
                    }
                );
                if plugins {
                    with.push(rps)
                } else {
                    without.push(rps)
                }
            }
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let (a, b) = (mean(&without), mean(&with));
        println!("no plugins:               {a:>10.0} req/s (mean of {rounds})");
        println!("key-auth + rate-limiting: {b:>10.0} req/s (mean of {rounds})");
        println!("ratio:                    {:>10.3}", b / a);
        node.shutdown(Duration::from_secs(5)).await;
    });
}
