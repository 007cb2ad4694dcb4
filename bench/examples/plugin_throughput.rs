//! Proxy throughput with key-auth + rate-limiting (local) against no plugins, in one
//! process: an in-process `portico-dp` node, a minimal upstream, and a closed-loop load
//! generator (keep-alive HTTP/1.1 connections, one request in flight each), the proxy on
//! its own tokio runtime whose threads' CPU time is read from `/proc`. The two
//! configurations alternate in rounds so machine load affects both alike. Besides
//! requests/s it prints the proxy's CPU time per request: on a shared machine that is the
//! stabler figure, and its inverse ratio is the throughput ratio of a CPU-bound proxy.
//!
//! `cargo run --release -p portico-bench --example plugin_throughput -- [SECONDS] [CONNECTIONS] [ROUNDS]`
//! (`PLUGINS=key-auth` or `PLUGINS=rate-limiting` measures one of them alone).

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
        let which = std::env::var("PLUGINS").unwrap_or_else(|_| "key-auth,rate-limiting".into());
        let mut list = Vec::new();
        if which.contains("key-auth") {
            list.push(json!({"name": "key-auth"}));
        }
        if which.contains("noop") {
            // A plugin that does (almost) nothing: the framework's own cost.
            list.push(json!({"name": "request-termination", "config": {"trigger": "x-never"}}));
        }
        if which.contains("rate-limiting") {
            // A limit never reached: the counting is measured, not the refusals.
            list.push(
                json!({"name": "rate-limiting", "config": {"hour": 1e12, "policy": "local"}}),
            );
        }
        doc["plugins"] = json!(list);
    }
    common::declarative::parse(&doc.to_string())
        .unwrap_or_else(|e| panic!("{e}"))
        .config
}

/// Requests per second over `seconds` with `connections` keep-alive clients, the request
/// count, and the proxy's CPU ticks over the window.
async fn measure(proxy: std::net::SocketAddr, connections: u64, seconds: u64) -> (f64, u64, u64) {
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
    let start_ticks = proxy_cpu_ticks();
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let n = count.load(Ordering::Relaxed) - start_count;
    let ticks = proxy_cpu_ticks() - start_ticks;
    let elapsed = start.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    (n as f64 / elapsed, n, ticks)
}

/// Requests counted over all measured windows.
static TOTAL_REQUESTS: AtomicU64 = AtomicU64::new(0);

/// Thread ids of the proxy runtime's workers, to read their CPU time.
static PROXY_THREADS: std::sync::Mutex<Vec<i32>> = std::sync::Mutex::new(Vec::new());

/// CPU time (user + system, in clock ticks) of the proxy's worker threads so far.
fn proxy_cpu_ticks() -> u64 {
    let tids = PROXY_THREADS.lock().map(|t| t.clone()).unwrap_or_default();
    tids.iter()
        .filter_map(|tid| std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok())
        .filter_map(|stat| {
            // Fields after the command name: utime and stime are the 12th and 13th.
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .sum()
}

fn main() {
    let seconds = arg(1, 10);
    let connections = arg(2, 32);
    let rounds = arg(3, 3);
    // The proxy runs on its own runtime (one worker per core), the upstream and the load
    // generator on another, so the proxy's CPU time per request can be read apart.
    let proxy_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_start(|| {
            // `/proc/thread-self` links to `<pid>/task/<tid>`.
            let tid = std::fs::read_link("/proc/thread-self")
                .ok()
                .and_then(|p| p.file_name()?.to_str()?.parse::<i32>().ok());
            if let (Some(tid), Ok(mut t)) = (tid, PROXY_THREADS.lock()) {
                t.push(tid);
            }
        })
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let load_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let env = CompileEnv::new(&Default::default()).unwrap_or_else(|e| panic!("{e}"));
    let handle = RuntimeHandle::new(env).unwrap_or_else(|e| panic!("{e}"));
    let node = proxy_rt
        .block_on(Node::start(NodeConfig::ephemeral(), handle.clone()))
        .unwrap_or_else(|e| panic!("{e}"));
    let proxy = node
        .proxy_addr
        .unwrap_or_else(|| panic!("no proxy listener"));
    load_rt.block_on(async move {
        let up = upstream().await;
        let mut results: [Vec<(f64, f64)>; 2] = [Vec::new(), Vec::new()];
        // `ONLY=none` or `ONLY=plugins` runs one arm (for `perf stat` per configuration).
        let only = std::env::var("ONLY").ok();
        for round in 1..=rounds {
            for plugins in [false, true] {
                match only.as_deref() {
                    Some("none") if plugins => continue,
                    Some("plugins") if !plugins => continue,
                    _ => {}
                }
                let compiled = handle
                    .compile(config(up, plugins))
                    .unwrap_or_else(|e| panic!("{e}"));
                handle.swap(compiled);
                let (rps, requests, ticks) = measure(proxy, connections, seconds).await;
                // Clock ticks are 10 ms.
                let cpu_us = ticks as f64 * 10_000.0 / requests.max(1) as f64;
                println!(
                    "round {round}: {:<26} {rps:>9.0} req/s  proxy CPU {cpu_us:>6.1} µs/request",
                    if plugins {
                        "key-auth + rate-limiting"
                    } else {
                        "no plugins"
                    }
                );
                results[usize::from(plugins)].push((rps, cpu_us));
                TOTAL_REQUESTS.fetch_add(requests, Ordering::Relaxed);
            }
        }
        if only.is_some() {
            println!(
                "requests in measured windows: {}",
                TOTAL_REQUESTS.load(Ordering::Relaxed)
            );
            return;
        }
        let mean = |v: &[(f64, f64)], f: fn(&(f64, f64)) -> f64| {
            v.iter().map(f).sum::<f64>() / v.len() as f64
        };
        let (rps0, cpu0) = (mean(&results[0], |r| r.0), mean(&results[0], |r| r.1));
        let (rps1, cpu1) = (mean(&results[1], |r| r.0), mean(&results[1], |r| r.1));
        println!("no plugins:               {rps0:>9.0} req/s, proxy CPU {cpu0:>6.1} µs/request");
        println!("key-auth + rate-limiting: {rps1:>9.0} req/s, proxy CPU {cpu1:>6.1} µs/request");
        println!("throughput ratio:         {:>9.3}", rps1 / rps0);
        println!(
            "CPU-bound ratio:          {:>9.3}  (no-plugin CPU / plugin CPU per request)",
            cpu0 / cpu1
        );
    });
    proxy_rt.block_on(node.shutdown(Duration::from_secs(5)));
}
