//! Prints what the configuration store costs on Postgres and on embedded SQLite: a
//! declarative import (`replace_all`) of N services with one route each, a full snapshot,
//! single-entity writes and reads, and a page of 100.
//!
//! `cargo run --release -p control-plane --example store_figures -- [SERVICES]`
//! (default 5 000; Postgres from `DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/`).

use std::time::{Duration, Instant};

use common::model::EntityKind;
use control_plane::store::testing::TestStore;
use control_plane::store::{Entity, ListQuery, Store};
use serde_json::json;
use uuid::Uuid;

fn object(value: serde_json::Value) -> Entity {
    match value {
        serde_json::Value::Object(map) => map,
        _ => Entity::new(),
    }
}

fn config(services: usize) -> Vec<(EntityKind, Entity)> {
    let mut out = Vec::with_capacity(services * 2);
    for i in 0..services {
        let sid = Uuid::new_v4();
        out.push((
            EntityKind::Service,
            object(json!({
                "id": sid, "name": format!("service-{i}"), "protocol": "http",
                "host": format!("backend-{i}.internal"), "port": 80, "path": null,
                "retries": 5, "connect_timeout": 60000, "write_timeout": 60000,
                "read_timeout": 60000, "enabled": true, "tags": ["bench", "team-a"],
                "client_certificate": null, "ca_certificates": null, "tls_verify": null,
                "tls_verify_depth": null, "created_at": 1_700_000_000, "updated_at": 1_700_000_000,
            })),
        ));
        out.push((
            EntityKind::Route,
            object(json!({
                "id": Uuid::new_v4(), "name": format!("route-{i}"),
                "protocols": ["http", "https"], "methods": null, "hosts": null,
                "paths": [format!("/api/{i}")], "headers": null, "snis": null,
                "sources": null, "destinations": null, "https_redirect_status_code": 426,
                "regex_priority": 0, "strip_path": true, "path_handling": "v0",
                "preserve_host": false, "request_buffering": true, "response_buffering": true,
                "service": { "id": sid }, "tags": ["bench"],
                "created_at": 1_700_000_000, "updated_at": 1_700_000_000,
            })),
        ));
    }
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

async fn latencies<F, Fut>(runs: usize, mut f: F) -> (Duration, Duration)
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut times = Vec::with_capacity(runs);
    for i in 0..runs {
        let start = Instant::now();
        f(i).await;
        times.push(start.elapsed());
    }
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.99))
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

async fn measure(
    name: &str,
    store: &Store,
    services: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let entities = config(services);
    let start = Instant::now();
    store.replace_all(&entities).await?;
    let import = start.elapsed();

    let mut snapshot_times = Vec::new();
    let mut count = 0;
    for _ in 0..5 {
        let start = Instant::now();
        count = store.snapshot().await?.len();
        snapshot_times.push(start.elapsed());
    }
    snapshot_times.sort();

    let (insert_p50, insert_p99) = latencies(200, |i| async move {
        let entity = object(json!({
            "id": Uuid::new_v4(), "username": format!("user-{i}"), "custom_id": null,
            "tags": ["bench"], "created_at": 1,
        }));
        if let Err(e) = store.insert(EntityKind::Consumer, &entity).await {
            eprintln!("insert failed: {e}");
        }
    })
    .await;
    let some_id = entities
        .first()
        .and_then(|(_, e)| e.get("id"))
        .and_then(|v| v.as_str())
        .and_then(|s| Uuid::parse_str(s).ok())
        .unwrap_or_default();
    let (get_p50, get_p99) = latencies(200, |_| async move {
        let _ = store.get(EntityKind::Service, some_id).await;
    })
    .await;
    let (page_p50, page_p99) = latencies(50, |_| async move {
        let _ = store.list(EntityKind::Route, &ListQuery::new(100)).await;
    })
    .await;

    println!("{name}:");
    println!(
        "  replace_all of {} entities: {} ({:.0} entities/s)",
        entities.len(),
        ms(import),
        entities.len() as f64 / import.as_secs_f64()
    );
    println!(
        "  snapshot of {count} entities: median {}",
        ms(snapshot_times[snapshot_times.len() / 2])
    );
    println!(
        "  insert (one consumer, own transaction): p50 {} p99 {}",
        ms(insert_p50),
        ms(insert_p99)
    );
    println!("  get by id: p50 {} p99 {}", ms(get_p50), ms(get_p99));
    println!(
        "  list a page of 100 routes: p50 {} p99 {}",
        ms(page_p50),
        ms(page_p99)
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let services: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(5_000);
    let postgres = TestStore::postgres().await?;
    measure("postgres", &postgres.store, services).await?;
    let sqlite = TestStore::sqlite().await?;
    measure("sqlite", &sqlite.store, services).await?;
    Ok(())
}
