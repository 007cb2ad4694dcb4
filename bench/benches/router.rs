//! Router benchmark: match time (hits and misses) and build time at 100, 10k and 100k routes
//! of the mix in `portico_bench::route_mix`. After criterion's own (wall-clock) report, prints
//! a summary table of medians measured directly, in wall-clock and in thread CPU time: on a
//! shared, loaded machine the CPU figure is the one that stays comparable between runs.
//! Run with `cargo bench -p portico-bench --bench router`.

use std::hint::black_box;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, Throughput};
use data_plane::router::Router;
use portico_bench::{Probe, probes, route_mix, thread_cpu_ns};

const SIZES: [usize; 3] = [100, 10_000, 100_000];
const PROBES: usize = 1_000;

#[allow(clippy::expect_used)]
fn build(n: usize) -> Router {
    Router::build(route_mix(n)).expect("the route mix builds")
}

fn bench_match(c: &mut Criterion) {
    let mut group = c.benchmark_group("router/match");
    group.throughput(Throughput::Elements(1));
    for n in SIZES {
        let router = build(n);
        let (hits, misses) = probes(n, PROBES);
        for (label, set) in [("hit", &hits), ("miss", &misses)] {
            group.bench_with_input(BenchmarkId::new(label, n), set, |b, set| {
                let mut i = 0usize;
                b.iter(|| {
                    let p = &set[i % set.len()];
                    i = i.wrapping_add(1);
                    black_box(p.find(&router).is_some())
                });
            });
        }
    }
    group.finish();
}

fn bench_build(c: &mut Criterion) {
    let mut group = c.benchmark_group("router/build");
    group.sample_size(10);
    for n in SIZES {
        let routes = route_mix(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &routes, |b, routes| {
            b.iter_batched(
                || routes.clone(),
                |routes| black_box(Router::build(routes).map(|r| r.len()).ok()),
                criterion::BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// A wall-clock and a thread-CPU measurement of one batch, in nanoseconds.
fn measure(f: impl FnOnce()) -> (f64, f64) {
    let cpu = thread_cpu_ns();
    let start = Instant::now();
    f();
    let wall = start.elapsed().as_nanos() as f64;
    (wall, thread_cpu_ns().saturating_sub(cpu) as f64)
}

/// Lookup statistics over `set`, cycled through: the median and p99 of lookups timed one by
/// one (a lookup preempted by another process lands in the tail, not in the median), and
/// the mean thread CPU time per lookup.
struct LookupStats {
    median_ns: f64,
    p99_ns: f64,
    mean_cpu_ns: f64,
}

fn lookup_stats(router: &Router, set: &[Probe]) -> LookupStats {
    let n = 200_000;
    let mut samples = Vec::with_capacity(n);
    let cpu = thread_cpu_ns();
    for k in 0..n {
        let p = &set[k % set.len()];
        let start = Instant::now();
        black_box(p.find(router).is_some());
        samples.push(start.elapsed().as_nanos() as f64);
    }
    let mean_cpu_ns = thread_cpu_ns().saturating_sub(cpu) as f64 / n as f64;
    samples.sort_by(f64::total_cmp);
    LookupStats {
        median_ns: samples[n / 2],
        p99_ns: samples[n * 99 / 100],
        mean_cpu_ns,
    }
}

/// Median (wall, CPU) time of one build, in milliseconds.
fn median_build_ms(n: usize, runs: usize) -> (f64, f64) {
    let routes = route_mix(n);
    let samples: Vec<(f64, f64)> = (0..runs)
        .map(|_| {
            let input = routes.clone();
            let mut built = None;
            let (wall, cpu) = measure(|| built = Router::build(input).ok());
            // Dropping the router is not part of building it.
            drop(built);
            (wall / 1e6, cpu / 1e6)
        })
        .collect();
    (
        median(samples.iter().map(|s| s.0).collect()),
        median(samples.iter().map(|s| s.1).collect()),
    )
}

fn print_summary() {
    println!("\nrouter summary (route mix: bench/README.md)");
    println!(
        "{:>8}  {:>19}  {:>30}  {:>30}",
        "routes", "build ms wall/cpu", "hit ns median/p99/mean-cpu", "miss ns median/p99/mean-cpu"
    );
    for n in SIZES {
        let router = build(n);
        let (hits, misses) = probes(n, PROBES);
        // One pass first: regex automata are built on first use.
        for p in hits.iter().chain(&misses) {
            black_box(p.find(&router));
        }
        let hit = lookup_stats(&router, &hits);
        let miss = lookup_stats(&router, &misses);
        let (build_wall, build_cpu) = median_build_ms(n, if n >= 100_000 { 3 } else { 11 });
        println!(
            "{n:>8}  {build_wall:>9.1}/{build_cpu:<9.1}  {:>10.0}/{:<8.0}/{:<10.0}  \
             {:>10.0}/{:<8.0}/{:<10.0}",
            hit.median_ns,
            hit.p99_ns,
            hit.mean_cpu_ns,
            miss.median_ns,
            miss.p99_ns,
            miss.mean_cpu_ns
        );
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_match(&mut c);
    bench_build(&mut c);
    c.final_summary();
    // `cargo test --benches` runs this binary in test mode: skip the timing summary there.
    if !std::env::args().any(|a| a == "--test" || a == "--list") {
        print_summary();
    }
}
