#!/usr/bin/env bash
# Hybrid-mode figures with the real release binaries on Postgres: Admin API write -> data
# plane serving (1k and 10k routes), a fresh data plane's full sync of 10k routes, and the
# control plane's memory with many lightweight data plane clients.
#
#   bench/sync.sh [WRITES] [CLIENTS]      (defaults: 200 writes, 500 clients)
#
# Needs Postgres (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/); a database is
# created for the run and dropped after it.
set -euo pipefail
cd "$(dirname "$0")/.."
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/}"
# Each lightweight client holds a connection on both sides of loopback.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cargo build --release --locked -p control-plane -p data-plane
cargo run --release --locked -p portico-tests --example sync_bench -- target/release "$@"
