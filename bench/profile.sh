#!/usr/bin/env bash
# Instructions per proxied request, counted by callgrind: the repeatable figure behind the
# CPU-per-request one of load.sh (which moves with the machine's load). portico-dp runs
# under `valgrind --tool=callgrind` with instrumentation off; after a warm-up, it is
# switched on for a wrk run of the load script's workload (keep-alive HTTP/1.1, GET /,
# 13-byte upstream body), then off, and the instruction count is divided by the requests
# portico-dp served meanwhile (`total_requests` of /status). The callgrind output is kept
# for `callgrind_annotate`. See bench/README.md ("Instructions per request").
#
# Settings (environment): DURATION (s of the measured wrk run, default 5), CONNECTIONS (64),
# PLUGINS (off | auth-rate: key-auth + rate-limiting, as load.sh's MODE), PORTICO_DP (a
# portico-dp binary; default: the release build), OUT (callgrind output file, default
# callgrind.out.portico in the current directory).
set -euo pipefail

DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-64}
PLUGINS=${PLUGINS:-off}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
PORTICO_DP=${PORTICO_DP:-$TARGET_DIR/release/portico-dp}
OUT=${OUT:-$PWD/callgrind.out.portico}
# shellcheck source=bench/common.sh
. "$ROOT/bench/common.sh"

for tool in valgrind callgrind_control wrk nginx curl; do
    command -v "$tool" >/dev/null || { say "$tool is required"; exit 1; }
done
if [ ! -x "$PORTICO_DP" ]; then
    say "building portico-dp (release)"
    (cd "$ROOT" && cargo build --release -p data-plane --bin portico-dp)
fi
mkdir -p "$WORK/tmp" "$WORK/portico"

UP_PORT=$(free_port)
PORTICO_PORT=$(free_port)
STATUS_PORT=$(free_port)
start_upstream "$UP_PORT"
portico_config "$WORK/kong.yml" "$UP_PORT" "$PLUGINS"
HEADER=()
[ "$PLUGINS" = auth-rate ] && HEADER=(-H "apikey: $BENCH_KEY")

valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT" \
    "$PORTICO_DP" serve --declarative-config "$WORK/kong.yml" \
    --worker-threads 1 --proxy-listen "127.0.0.1:$PORTICO_PORT" --proxy-listen-tls off \
    --status-listen "127.0.0.1:$STATUS_PORT" --prefix "$WORK/portico" --log-level warn \
    2>"$WORK/valgrind.log" &
PORTICO_PID=$!
PIDS+=("$PORTICO_PID")
wait_for "http://127.0.0.1:$UP_PORT/" "the upstream" 600
wait_for "http://127.0.0.1:$STATUS_PORT/status/ready" "portico-dp" 600

total_requests() {
    curl -fsS "http://127.0.0.1:$STATUS_PORT/status" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["server"]["total_requests"])'
}

say "warm-up (2 s)"
wrk -t1 -c"$CONNECTIONS" -d2s "${HEADER[@]}" "http://127.0.0.1:$PORTICO_PORT/" >/dev/null
before=$(total_requests)
callgrind_control -i on "$PORTICO_PID" >/dev/null
wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "${HEADER[@]}" "http://127.0.0.1:$PORTICO_PORT/" >"$WORK/wrk.txt"
callgrind_control -i off "$PORTICO_PID" >/dev/null
after=$(total_requests)
grep -q 'Non-2xx\|Socket errors' "$WORK/wrk.txt" && { say "warning: wrk saw errors"; cat "$WORK/wrk.txt" >&2; }
kill "$PORTICO_PID"
wait "$PORTICO_PID" 2>/dev/null || true
requests=$((after - before))
if [ "$requests" -le 0 ]; then
    say "portico-dp served no requests while measured; valgrind's log:"
    tail -20 "$WORK/valgrind.log" >&2
    exit 1
fi
instructions=$(callgrind_annotate "$OUT" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
awk -v i="$instructions" -v n="$requests" -v p="$PLUGINS" 'BEGIN {
    printf "plugins %s: %d requests, %d instructions, %.0f instructions per request\n", p, n, i, i / n
}'
say "callgrind output: $OUT (callgrind_annotate --inclusive=yes $OUT)"
