#!/usr/bin/env bash
# The same small-response workload (keep-alive HTTP/1.1, wrk, 64 connections) sent, in one
# run, directly to an upstream, through nginx (proxy_pass with upstream keep-alive, one
# worker) and through portico-dp (release build, --worker-threads 1). Both proxies are pinned
# to one core, wrk and the upstream to the other. Prints requests/s, p50/p99 latency and the
# proxy process's CPU time per request (user+sys from /proc/PID/stat, and each apart), and
# portico/nginx ratios. See bench/README.md ("Proxy load").
#
# Settings (environment): DURATION (s per target, default 10), WARMUP (s, 2), CONNECTIONS
# (64), PROXY_CPU (core of both proxies, 0), LOAD_CPU (core of wrk and the upstream, 1),
# PORTICO_DP (a portico-dp binary; default: cargo build --release), PLUGINS (off, or
# auth-rate: also measure a second portico-dp whose route has key-auth and rate-limiting
# with the local policy, wrk sending the consumer's key, and print its ratios to the
# plugin-less portico-dp), ROUNDS (1: how many times the proxies are measured, in turn;
# with more, each round's ratios and their medians are printed), RELAY (on: also measure
# nginx's stream module relaying the TCP connections to the upstream without reading HTTP,
# the floor of any proxy's CPU per request on this workload; off to skip).
set -euo pipefail

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-64}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
PORTICO_DP=${PORTICO_DP:-$TARGET_DIR/release/portico-dp}
PLUGINS=${PLUGINS:-off}
ROUNDS=${ROUNDS:-1}
RELAY=${RELAY:-on}
# shellcheck source=bench/common.sh
. "$ROOT/bench/common.sh"

# user and sys clock ticks of the given processes (all their threads): "USER SYS".
cpu_ticks() {
    local user=0 sys=0 pid u s
    for pid in "$@"; do
        read -r u s < <(sed 's/^.*) //' "/proc/$pid/stat" | awk '{print $12, $13}')
        user=$((user + u))
        sys=$((sys + s))
    done
    echo "$user $sys"
}

# wrk's latency ("812.00us", "1.20ms", "1.01s") in milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n = n / 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n = n * 1000
        printf "%.3f", n
    }'
}

# Where nginx's dynamic stream module is (Debian: package libnginx-mod-stream).
stream_module() {
    local dir
    dir=$(nginx -V 2>&1 | tr ' ' '\n' | sed -n 's/^--modules-path=//p')
    echo "${dir:-/usr/lib/nginx/modules}/ngx_stream_module.so"
}

install_tools() {
    local missing=()
    command -v wrk >/dev/null || missing+=(wrk)
    command -v nginx >/dev/null || missing+=(nginx)
    command -v taskset >/dev/null || missing+=(util-linux)
    command -v curl >/dev/null || missing+=(curl)
    [ "$RELAY" = on ] && [ ! -e "$(stream_module)" ] && missing+=(libnginx-mod-stream)
    [ ${#missing[@]} -eq 0 ] && return
    say "installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

RESULTS=()

# measure NAME URL [PID...] [-- WRK-ARGS...]: one warm-up, then the measured run; CPU of
# the PIDs.
measure() {
    local name=$1 url=$2
    shift 2
    local pids=() extra=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        pids+=("$1")
        shift
    done
    [ $# -gt 0 ] && shift && extra=("$@")
    say "== $name: ${WARMUP}s warm-up, ${DURATION}s measured"
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" "${extra[@]}" "$url" >/dev/null
    local before="0 0" after="0 0"
    [ ${#pids[@]} -gt 0 ] && before=$(cpu_ticks "${pids[@]}")
    local out
    out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "${extra[@]}" "$url")
    [ ${#pids[@]} -gt 0 ] && after=$(cpu_ticks "${pids[@]}")
    say "$out"
    local requests rps p50 p99 cpu user sys
    requests=$(awk '/requests in/ {print $1}' <<<"$out")
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    p50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
    p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
    if grep -q 'Non-2xx\|Socket errors' <<<"$out"; then
        say "warning: $name had errors (see above)"
    fi
    if [ ${#pids[@]} -gt 0 ]; then
        read -r cpu user sys < <(awk -v b="$before" -v a="$after" -v hz="$(getconf CLK_TCK)" \
            -v n="$requests" 'BEGIN {
                split(b, x, " "); split(a, y, " ")
                u = (y[1] - x[1]) / hz * 1e6 / n; s = (y[2] - x[2]) / hz * 1e6 / n
                printf "%.2f %.2f %.2f\n", u + s, u, s
            }')
    else
        cpu="-" user="-" sys="-"
    fi
    RESULTS+=("$name $rps $p50 $p99 $cpu $user $sys")
}

# ratios LABEL ROW-A ROW-B: A's figures over B's.
ratios() {
    local a_rps a_p50 a_p99 a_cpu a_user a_sys b_rps b_p50 b_p99 b_cpu b_user b_sys
    read -r _ a_rps a_p50 a_p99 a_cpu a_user a_sys <<<"$2"
    read -r _ b_rps b_p50 b_p99 b_cpu b_user b_sys <<<"$3"
    awk -v l="$1" -v a="$a_rps" -v b="$b_rps" -v c="$a_p50" -v d="$b_p50" -v e="$a_p99" \
        -v f="$b_p99" -v g="$a_cpu" -v h="$b_cpu" -v i="$a_user" -v j="$b_user" \
        -v k="$a_sys" -v m="$b_sys" 'BEGIN {
        printf "%s: requests/s %.2fx, p50 %.2fx, p99 %.2fx, CPU per request %.2fx", \
            l, a / b, c / d, e / f, g / h
        # Clock ticks are coarse: a share below a tick per run has no ratio.
        if (j > 0 && m > 0) printf ", user %.2fx, sys %.2fx", i / j, k / m
        printf "\n"
    }'
}

# start_portico PORT STATUS-PORT MODE: a portico-dp on the proxy core; prints its pid.
start_portico() {
    local dir="$WORK/portico-$3"
    mkdir -p "$dir"
    portico_config "$dir/kong.yml" "$UP_PORT" "$3"
    taskset -c "$PROXY_CPU" "$PORTICO_DP" serve --declarative-config "$dir/kong.yml" \
        --worker-threads 1 --proxy-listen "127.0.0.1:$1" --proxy-listen-tls off \
        --status-listen "127.0.0.1:$2" --prefix "$dir" --log-level warn >&2 &
    echo $!
}

install_tools
if [ ! -x "$PORTICO_DP" ]; then
    say "building portico-dp (release)"
    (cd "$ROOT" && cargo build --release -p data-plane --bin portico-dp)
fi
case "$PLUGINS" in
off | auth-rate) ;;
*) say "PLUGINS must be off or auth-rate" && exit 1 ;;
esac
case "$RELAY" in
on | off) ;;
*) say "RELAY must be on or off" && exit 1 ;;
esac
mkdir -p "$WORK/tmp"

UP_PORT=$(free_port)
NGINX_PORT=$(free_port)
PORTICO_PORT=$(free_port)
STATUS_PORT=$(free_port)

# The upstream: nginx answering a 13-byte body, on the load core.
start_upstream "$UP_PORT" taskset -c "$LOAD_CPU"

nginx_proxy_conf "$WORK/proxy.conf" "$UP_PORT" "$NGINX_PORT"
taskset -c "$PROXY_CPU" nginx -p "$WORK" -c "$WORK/proxy.conf" &
NGINX_MASTER=$!
PIDS+=("$NGINX_MASTER")

# The floor: nginx's stream module relaying bytes between each client connection and an
# upstream connection of its own (no HTTP parsing, no headers): the system calls of a
# keep-alive proxy and nothing else. Same core, one worker.
if [ "$RELAY" = on ]; then
    RELAY_PORT=$(free_port)
    cat >"$WORK/relay.conf" <<EOF
load_module $(stream_module);
worker_processes 1;
daemon off;
pid $WORK/relay.conf.pid;
error_log $WORK/relay.conf.error.log warn;
events { worker_connections 4096; }
stream {
    server {
        listen 127.0.0.1:$RELAY_PORT;
        proxy_pass 127.0.0.1:$UP_PORT;
    }
}
EOF
    taskset -c "$PROXY_CPU" nginx -p "$WORK" -c "$WORK/relay.conf" &
    RELAY_MASTER=$!
    PIDS+=("$RELAY_MASTER")
fi

PORTICO_PID=$(start_portico "$PORTICO_PORT" "$STATUS_PORT" off)
PIDS+=("$PORTICO_PID")
if [ "$PLUGINS" = auth-rate ]; then
    PLUGINS_PORT=$(free_port)
    PLUGINS_STATUS_PORT=$(free_port)
    PLUGINS_PID=$(start_portico "$PLUGINS_PORT" "$PLUGINS_STATUS_PORT" auth-rate)
    PIDS+=("$PLUGINS_PID")
fi

wait_for "http://127.0.0.1:$UP_PORT/" "the upstream"
wait_for "http://127.0.0.1:$NGINX_PORT/" "nginx"
[ "$RELAY" = on ] && wait_for "http://127.0.0.1:$RELAY_PORT/" "the nginx stream relay"
wait_for "http://127.0.0.1:$STATUS_PORT/status/ready" "portico-dp"
wait_for "http://127.0.0.1:$PORTICO_PORT/" "portico-dp's proxy"
if [ "$PLUGINS" = auth-rate ]; then
    wait_for "http://127.0.0.1:$PLUGINS_STATUS_PORT/status/ready" "portico-dp (plugins)"
    curl -fsS -o /dev/null -H "apikey: $BENCH_KEY" "http://127.0.0.1:$PLUGINS_PORT/" ||
        { say "portico-dp (plugins) does not accept the consumer's key"; exit 1; }
fi
NGINX_WORKERS=$(pgrep -P "$NGINX_MASTER" | tr '\n' ' ')
[ "$RELAY" = on ] && RELAY_WORKERS=$(pgrep -P "$RELAY_MASTER" | tr '\n' ' ')

say "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), load average $(cut -d' ' -f1-3 /proc/loadavg)"
say "$(nginx -v 2>&1), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), portico-dp $("$PORTICO_DP" --version 2>/dev/null | awk '{print $2}')"

measure direct "http://127.0.0.1:$UP_PORT/"
for round in $(seq 1 "$ROUNDS"); do
    suffix=""
    [ "$ROUNDS" -gt 1 ] && suffix="#$round"
    # shellcheck disable=SC2086 # one argument per worker pid
    measure "nginx$suffix" "http://127.0.0.1:$NGINX_PORT/" "$NGINX_MASTER" $NGINX_WORKERS
    if [ "$RELAY" = on ]; then
        # shellcheck disable=SC2086 # one argument per worker pid
        measure "relay$suffix" "http://127.0.0.1:$RELAY_PORT/" "$RELAY_MASTER" $RELAY_WORKERS
    fi
    measure "portico$suffix" "http://127.0.0.1:$PORTICO_PORT/" "$PORTICO_PID"
    if [ "$PLUGINS" = auth-rate ]; then
        measure "plugins$suffix" "http://127.0.0.1:$PLUGINS_PORT/" "$PLUGINS_PID" -- \
            -H "apikey: $BENCH_KEY"
    fi
done

printf '\n%-10s %12s %10s %10s %16s %8s %8s\n' target "requests/s" "p50 ms" "p99 ms" \
    "proxy CPU us/req" user sys
for row in "${RESULTS[@]}"; do
    # shellcheck disable=SC2086 # fields
    printf '%-10s %12s %10s %10s %16s %8s %8s\n' $row
done
echo
# Rows: direct, then per round nginx, (relay,) portico (and plugins).
per_round=2
[ "$RELAY" = on ] && per_round=$((per_round + 1))
[ "$PLUGINS" = auth-rate ] && per_round=$((per_round + 1))
RATIOS=()
for round in $(seq 1 "$ROUNDS"); do
    nginx_row=$((1 + (round - 1) * per_round))
    portico_row=$((nginx_row + 1))
    [ "$RELAY" = on ] && portico_row=$((nginx_row + 2))
    label=""
    [ "$ROUNDS" -gt 1 ] && label=" (round $round)"
    RATIOS+=("$(ratios "portico / nginx$label" "${RESULTS[portico_row]}" "${RESULTS[nginx_row]}")")
    if [ "$RELAY" = on ]; then
        RATIOS+=("$(ratios "relay (the floor) / nginx$label" "${RESULTS[nginx_row + 1]}" \
            "${RESULTS[nginx_row]}")")
    fi
    if [ "$PLUGINS" = auth-rate ]; then
        RATIOS+=("$(ratios "portico with key-auth + rate-limiting / portico$label" \
            "${RESULTS[portico_row + 1]}" "${RESULTS[portico_row]}")")
    fi
done
printf '%s\n' "${RATIOS[@]}"
if [ "$ROUNDS" -gt 1 ]; then
    # The median of each ratio over the rounds: one noisy round moves it little.
    printf '%s\n' "${RATIOS[@]}" | sed 's/ (round [0-9]*)//' | awk -F': ' '
        {
            if (!($1 in label)) order[++labels] = $1
            label[$1] = 1
            n = split($2, parts, ", ")
            for (i = 1; i <= n; i++) {
                value = parts[i]; sub(/.* /, "", value); sub(/x$/, "", value)
                key = $1 SUBSEP i
                names[key] = parts[i]; sub(/ [0-9.]+x$/, "", names[key])
                count[key]++
                values[key, count[key]] = value
            }
            fields[$1] = n
        }
        END {
            for (o = 1; o <= labels; o++) {
                l = order[o]
                line = "median " l ":"
                for (i = 1; i <= fields[l]; i++) {
                    key = l SUBSEP i
                    m = count[key]
                    for (a = 1; a <= m; a++) v[a] = values[key, a]
                    for (a = 1; a <= m; a++) for (b = a + 1; b <= m; b++) if (v[b] < v[a]) { t = v[a]; v[a] = v[b]; v[b] = t }
                    med = (m % 2) ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
                    line = line (i > 1 ? "," : "") " " names[key] " " sprintf("%.2f", med) "x"
                }
                print line
            }
        }'
fi
