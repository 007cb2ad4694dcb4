#!/usr/bin/env bash
# Instructions per proxied request, counted by callgrind: the repeatable figure behind the
# CPU-per-request one of load.sh (which moves with the machine's load). portico-dp runs
# under `valgrind --tool=callgrind` with instrumentation off; after a warm-up, it is
# switched on for a wrk run of the load script's workload (keep-alive HTTP/1.1, GET /,
# 13-byte upstream body), then off, and the instruction count is divided by the requests
# portico-dp served meanwhile (`total_requests` of /status). The callgrind output is kept
# for `callgrind_annotate`. See bench/README.md ("Instructions per request").
#
# The reference: nginx as the proxy (load.sh's configuration, one process:
# `master_process off`) counted the same way, its requests taken from wrk's count, and
# the ratio printed.
#
# Settings (environment): DURATION (s of the measured wrk run, default 5), CONNECTIONS (64),
# PLUGINS (off | auth-rate: key-auth + rate-limiting, as load.sh's MODE), PORTICO_DP (a
# portico-dp binary; default: the release build), OUT (callgrind output file, default
# callgrind.out.portico in the current directory; nginx's goes beside it, with the suffix
# .nginx), REFERENCE (on | off: count nginx's instructions too).
set -euo pipefail

DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-64}
PLUGINS=${PLUGINS:-off}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
PORTICO_DP=${PORTICO_DP:-$TARGET_DIR/release/portico-dp}
OUT=${OUT:-$PWD/callgrind.out.portico}
REFERENCE=${REFERENCE:-on}
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
total_instructions() {
    callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}'
}
instructions=$(total_instructions "$OUT")
awk -v i="$instructions" -v n="$requests" -v p="$PLUGINS" 'BEGIN {
    printf "plugins %s: %d requests, %d instructions, %.0f instructions per request\n", p, n, i, i / n
}'
say "callgrind output: $OUT (callgrind_annotate --inclusive=yes $OUT)"
[ "$REFERENCE" = on ] || exit 0

# The reference: nginx proxying the same workload, counted the same way.
NGINX_PORT=$(free_port)
nginx_proxy_conf "$WORK/proxy.conf" "$UP_PORT" "$NGINX_PORT"
sed -i 's/^daemon off;/daemon off;\nmaster_process off;/' "$WORK/proxy.conf"
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT.nginx" \
    nginx -p "$WORK" -c "$WORK/proxy.conf" 2>"$WORK/valgrind-nginx.log" &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
wait_for "http://127.0.0.1:$NGINX_PORT/" "nginx (the reference)" 600
say "nginx: warm-up (2 s)"
wrk -t1 -c"$CONNECTIONS" -d2s "http://127.0.0.1:$NGINX_PORT/" >/dev/null
callgrind_control -i on "$NGINX_PID" >/dev/null
wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "http://127.0.0.1:$NGINX_PORT/" >"$WORK/wrk-nginx.txt"
callgrind_control -i off "$NGINX_PID" >/dev/null
kill "$NGINX_PID"
wait "$NGINX_PID" 2>/dev/null || true
nginx_requests=$(awk '/requests in/ {print $1}' "$WORK/wrk-nginx.txt")
nginx_instructions=$(total_instructions "$OUT.nginx")
awk -v i="$nginx_instructions" -v n="$nginx_requests" -v pi="$instructions" -v pn="$requests" 'BEGIN {
    printf "nginx (reference): %d requests, %d instructions, %.0f instructions per request\n", n, i, i / n
    printf "portico-dp / nginx: %.2fx instructions per request\n", (pi / pn) / (i / n)
}'
