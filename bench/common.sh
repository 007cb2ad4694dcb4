# Helpers shared by load.sh and profile.sh (sourced, not run).
#
# Sets WORK (a temporary directory) and PIDS (processes to stop on exit); the caller's
# `exit` runs `cleanup`.

WORK=$(mktemp -d)
PIDS=()
# The consumer key wrk sends when plugins are on (PLUGINS=auth-rate / MODE=auth-rate).
BENCH_KEY=bench-key

cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

say() { printf '%s\n' "$*" >&2; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for() { # url, what, [tries of 50 ms, default 200]
    for _ in $(seq 1 "${3:-200}"); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    say "$2 did not come up ($1)"
    exit 1
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

# nginx_proxy_conf FILE UPSTREAM_PORT LISTEN_PORT: nginx as the proxy: one worker,
# upstream keep-alive (64 idle connections, one per client connection; 10000 requests per
# connection, as Kong's upstream_keepalive_max_requests and portico-dp's default).
nginx_proxy_conf() {
    nginx_conf "$1" "
    keepalive_requests 10000;
    upstream backend {
        server 127.0.0.1:$2;
        keepalive 64;
        keepalive_requests 10000;
    }
    server {
        listen 127.0.0.1:$3;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }
    }"
}

# start_upstream PORT [TASKSET-PREFIX...]: nginx answering a 13-byte body.
start_upstream() {
    local port=$1
    shift
    mkdir -p "$WORK/tmp"
    nginx_conf "$WORK/upstream.conf" "
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    server {
        listen 127.0.0.1:$port;
        location / { return 200 \"hello, world\n\"; }
    }"
    # shellcheck disable=SC2068 # an optional command prefix, word-split on purpose
    $@ nginx -p "$WORK" -c "$WORK/upstream.conf" &
    PIDS+=($!)
}

# portico_config FILE UPSTREAM_PORT MODE: one service and one `/` route; MODE auth-rate
# adds key-auth and rate-limiting (local policy, a limit never reached) on the route and
# one consumer whose key is $BENCH_KEY.
portico_config() {
    cat >"$1" <<EOF
_format_version: "3.0"
services:
  - name: bench
    url: http://127.0.0.1:$2
    routes:
      - name: bench
        paths: ["/"]
EOF
    if [ "$3" = auth-rate ]; then
        cat >>"$1" <<EOF
        plugins:
          - name: key-auth
          - name: rate-limiting
            config:
              second: 1000000000
              policy: local
consumers:
  - username: bench
    keyauth_credentials:
      - key: $BENCH_KEY
EOF
    elif [ "$3" != off ]; then
        say "unknown plugin mode: $3 (off | auth-rate)"
        exit 1
    fi
}
