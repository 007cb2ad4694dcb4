//! Prints the cost of loading and exporting declarative configurations: Kong's
//! `spec/fixtures/burst.yml` (format 1.1, 236 services) and a generated file of N services
//! with one route and one plugin each (default 5 000).
//!
//! `cargo run --release -p common --example declarative_figures -- [SERVICES]`
//!
//! Times are CPU time of this (single-threaded) process, read from `/proc/self/stat`, so
//! they hold on a busy machine; the median of several runs is printed.

use std::fmt::Write as _;
use std::time::Duration;

use common::declarative::{parse, render};

const RUNS: usize = 5;
const BURST: &str = include_str!("../src/declarative/tests/fixtures/kong-spec-fixtures-burst.yml");

/// User + system CPU time of this process (Linux; clock ticks of 10 ms).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may contain spaces) start at ") ".
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest.split(' ').collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, 11 and 12 after the name.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn median(mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = cpu_time();
            f();
            cpu_time().saturating_sub(start)
        })
        .collect();
    times.sort();
    times[RUNS / 2]
}

fn generated(services: usize) -> String {
    let mut text = String::from("_format_version: \"3.0\"\nservices:\n");
    for i in 0..services {
        let _ = write!(
            text,
            "- name: svc-{i}\n  url: http://backend-{i}.internal:8080/api\n  routes:\n  - name: route-{i}\n    hosts: [svc-{i}.example.com]\n    paths: [/v1/{i}, \"~/v2/{i}/(?<id>\\\\d+)$\"]\n    plugins:\n    - name: rate-limiting\n      config: {{minute: 100, policy: local}}\n"
        );
    }
    text
}

fn figures(label: &str, text: &str) -> Result<(), Box<dyn std::error::Error>> {
    let loaded = parse(text).map_err(|e| e.report())?;
    let parse_time = median(|| drop(parse(text)));
    let exported = render(&loaded.entities);
    let render_time = median(|| drop(render(&loaded.entities)));
    let reload_time = median(|| drop(parse(&exported)));
    println!(
        "{label}: {} bytes, {} entities; parse+validate {:.1} ms; export {:.1} ms ({} bytes); re-import {:.1} ms",
        text.len(),
        loaded.entities.len(),
        parse_time.as_secs_f64() * 1e3,
        render_time.as_secs_f64() * 1e3,
        exported.len(),
        reload_time.as_secs_f64() * 1e3,
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let services: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(5_000);
    println!("CPU time, median of {RUNS} runs");
    figures("burst.yml", BURST)?;
    figures(&format!("{services} services"), &generated(services))?;
    Ok(())
}
