//! Prints the cost of building a snapshot: canonical encoding, hashing, compression at a few
//! zstd levels, decoding and verification, for N routes (default 10 000).
//!
//! `cargo run --release -p common --example snapshot_figures -- [ROUTES]`

use std::time::{Duration, Instant};

use common::snapshot::{ConfigHash, EncodedSnapshot, canonical_json, sample};

const RUNS: usize = 7;

fn median(mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[RUNS / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let routes: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10_000);
    let config = sample::config_with_routes(routes);
    println!(
        "{} routes, {} services, {} entities in total (median of {RUNS} runs)",
        config.routes.len(),
        config.services.len(),
        config.len()
    );

    let canonical = canonical_json(&config)?;
    let t = median(|| drop(canonical_json(&config)));
    println!(
        "canonical JSON:   {:>9} bytes  {:>8.2} ms",
        canonical.len(),
        ms(t)
    );
    let t = median(|| {
        std::hint::black_box(ConfigHash::of_canonical_bytes(&canonical));
    });
    println!("hash (sha256/128):                  {:>8.2} ms", ms(t));
    for level in [1, 3, 6] {
        let compressed = zstd::bulk::compress(&canonical, level)?;
        let t = median(|| drop(zstd::bulk::compress(&canonical, level)));
        println!(
            "zstd level {level}:     {:>9} bytes  {:>8.2} ms  (ratio {:.1})",
            compressed.len(),
            ms(t),
            canonical.len() as f64 / compressed.len() as f64
        );
    }
    let snapshot = EncodedSnapshot::encode(1, &config)?;
    let t = median(|| drop(EncodedSnapshot::encode(1, &config)));
    println!(
        "encode (all):     {:>9} bytes  {:>8.2} ms  (level {})",
        snapshot.payload.len(),
        ms(t),
        common::snapshot::ZSTD_LEVEL
    );
    let t = median(|| drop(snapshot.decode()));
    println!("decode (all):                       {:>8.2} ms", ms(t));
    let decoded = snapshot.decode()?;
    let t = median(|| drop(decoded.verify()));
    println!("verify:                             {:>8.2} ms", ms(t));
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
