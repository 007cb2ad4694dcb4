#!/usr/bin/env bash
# The same small-response workload (keep-alive HTTP/1.1, wrk, 64 connections) sent, in one
# run, directly to an upstream, through nginx (proxy_pass with upstream keep-alive, one
# worker) and through portico-dp (release build, --worker-threads 1). Both proxies are pinned
# to one core, wrk and the upstream to the other. Prints requests/s, p50/p99 latency and the
# proxy process's CPU time per request (user+sys from /proc/PID/stat), and portico/nginx
# ratios. See bench/README.md ("Proxy load").
#
# Settings (environment): DURATION (s per target, default 10), WARMUP (s, 2), CONNECTIONS
# (64), PROXY_CPU (core of both proxies, 0), LOAD_CPU (core of wrk and the upstream, 1),
# PORTICO_DP (a portico-dp binary; default: cargo build --release).
set -euo pipefail

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-64}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
PORTICO_DP=${PORTICO_DP:-$TARGET_DIR/release/portico-dp}
WORK=$(mktemp -d)
PIDS=()

cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

say() { printf '%s\n' "$*" >&2; }

install_tools() {
    local missing=()
    command -v wrk >/dev/null || missing+=(wrk)
    command -v nginx >/dev/null || missing+=(nginx)
    command -v taskset >/dev/null || missing+=(util-linux)
    command -v curl >/dev/null || missing+=(curl)
    [ ${#missing[@]} -eq 0 ] && return
    say "installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for() { # url, what
    for _ in $(seq 1 200); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    say "$2 did not come up ($1)"
    exit 1
}

# user+sys clock ticks of the given processes (all their threads).
cpu_ticks() {
    local total=0 pid t
    for pid in "$@"; do
        t=$(sed 's/^.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}')
        total=$((total + t))
    done
    echo "$total"
}

# wrk's latency ("812.00us", "1.20ms", "1.01s") in milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n = n / 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n = n * 1000
        printf "%.3f", n
    }'
}

nginx_conf() { # file, body
    cat >"$1" <<EOF
worker_processes 1;
daemon off;
pid $1.pid;
error_log $1.error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    default_type text/plain;
    client_body_temp_path $WORK/tmp/body;
    proxy_temp_path $WORK/tmp/proxy;
    fastcgi_temp_path $WORK/tmp/fastcgi;
    uwsgi_temp_path $WORK/tmp/uwsgi;
    scgi_temp_path $WORK/tmp/scgi;
$2
}
EOF
}

RESULTS=()

# measure NAME URL [PID...]: one warm-up, then the measured run; CPU of the PIDs.
measure() {
    local name=$1 url=$2
    shift 2
    say "== $name: ${WARMUP}s warm-up, ${DURATION}s measured"
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" "$url" >/dev/null
    local before=0 after=0
    [ $# -gt 0 ] && before=$(cpu_ticks "$@")
    local out
    out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$url")
    [ $# -gt 0 ] && after=$(cpu_ticks "$@")
    say "$out"
    local requests rps p50 p99 cpu
    requests=$(awk '/requests in/ {print $1}' <<<"$out")
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    p50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
    p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
    if grep -q 'Non-2xx\|Socket errors' <<<"$out"; then
        say "warning: $name had errors (see above)"
    fi
    if [ $# -gt 0 ]; then
        cpu=$(awk -v d=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$requests" \
            'BEGIN { printf "%.2f", d / hz * 1e6 / n }')
    else
        cpu="-"
    fi
    RESULTS+=("$name $rps $p50 $p99 $cpu")
}

install_tools
if [ ! -x "$PORTICO_DP" ]; then
    say "building portico-dp (release)"
    (cd "$ROOT" && cargo build --release -p data-plane --bin portico-dp)
fi
mkdir -p "$WORK/tmp" "$WORK/portico"

UP_PORT=$(free_port)
NGINX_PORT=$(free_port)
PORTICO_PORT=$(free_port)
STATUS_PORT=$(free_port)

# The upstream: nginx answering a 13-byte body, on the load core.
nginx_conf "$WORK/upstream.conf" "
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    server {
        listen 127.0.0.1:$UP_PORT;
        location / { return 200 \"hello, world\n\"; }
    }"
taskset -c "$LOAD_CPU" nginx -p "$WORK" -c "$WORK/upstream.conf" &
PIDS+=($!)

# nginx as the proxy: one worker, upstream keep-alive (64 idle connections, one per client
# connection; 10000 requests per connection, as Kong's upstream_keepalive_max_requests and
# portico-dp's default).
nginx_conf "$WORK/proxy.conf" "
    keepalive_requests 10000;
    upstream backend {
        server 127.0.0.1:$UP_PORT;
        keepalive 64;
        keepalive_requests 10000;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }
    }"
taskset -c "$PROXY_CPU" nginx -p "$WORK" -c "$WORK/proxy.conf" &
NGINX_MASTER=$!
PIDS+=("$NGINX_MASTER")

cat >"$WORK/kong.yml" <<EOF
_format_version: "3.0"
services:
  - name: bench
    url: http://127.0.0.1:$UP_PORT
    routes:
      - name: bench
        paths: ["/"]
EOF
taskset -c "$PROXY_CPU" "$PORTICO_DP" serve --declarative-config "$WORK/kong.yml" \
    --worker-threads 1 --proxy-listen "127.0.0.1:$PORTICO_PORT" --proxy-listen-tls off \
    --status-listen "127.0.0.1:$STATUS_PORT" --prefix "$WORK/portico" --log-level warn &
PORTICO_PID=$!
PIDS+=("$PORTICO_PID")

wait_for "http://127.0.0.1:$UP_PORT/" "the upstream"
wait_for "http://127.0.0.1:$NGINX_PORT/" "nginx"
wait_for "http://127.0.0.1:$STATUS_PORT/status/ready" "portico-dp"
wait_for "http://127.0.0.1:$PORTICO_PORT/" "portico-dp's proxy"
NGINX_WORKERS=$(pgrep -P "$NGINX_MASTER" | tr '\n' ' ')

say "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), load average $(cut -d' ' -f1-3 /proc/loadavg)"
say "$(nginx -v 2>&1), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), portico-dp $("$PORTICO_DP" --version 2>/dev/null | awk '{print $2}')"

measure direct "http://127.0.0.1:$UP_PORT/"
# shellcheck disable=SC2086 # one argument per worker pid
measure nginx "http://127.0.0.1:$NGINX_PORT/" "$NGINX_MASTER" $NGINX_WORKERS
measure portico "http://127.0.0.1:$PORTICO_PORT/" "$PORTICO_PID"

printf '\n%-8s %12s %10s %10s %16s\n' target "requests/s" "p50 ms" "p99 ms" "proxy CPU us/req"
for row in "${RESULTS[@]}"; do
    # shellcheck disable=SC2086 # fields
    printf '%-8s %12s %10s %10s %16s\n' $row
done
read -r _ n_rps n_p50 n_p99 n_cpu <<<"${RESULTS[1]}"
read -r _ p_rps p_p50 p_p99 p_cpu <<<"${RESULTS[2]}"
awk -v a="$p_rps" -v b="$n_rps" -v c="$p_p50" -v d="$n_p50" -v e="$p_p99" -v f="$n_p99" \
    -v g="$p_cpu" -v h="$n_cpu" 'BEGIN {
    printf "\nportico / nginx: requests/s %.2fx, p50 %.2fx, p99 %.2fx, CPU per request %.2fx\n",
        a / b, c / d, e / f, g / h
}'
