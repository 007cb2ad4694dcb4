#!/usr/bin/env bash
# Portico quick start: one command, a working gateway on this machine.
#
# Builds portico-cp and portico-dp (release), generates shared-mode cluster certificates
# once, and starts a control plane (embedded SQLite store) and a data plane connected to it
# over mTLS. Admin API on :8001, proxy on :8000 (TLS :8443), data plane status on :8100,
# so Kong's "Get Started" curl commands work as written. Ctrl-C stops both.
#
# Settings (environment):
#   PORTICO_QUICKSTART_DIR   state: certificates, databases, caches (default .portico/quickstart)
#   PORTICO_BIN_DIR          use the binaries in this directory instead of building
#   QUICKSTART_ADMIN, QUICKSTART_PROXY, QUICKSTART_PROXY_TLS, QUICKSTART_STATUS,
#   QUICKSTART_CLUSTER       listen addresses (defaults below)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v curl >/dev/null || { echo "quickstart: needs curl" >&2; exit 1; }

state=${PORTICO_QUICKSTART_DIR:-.portico/quickstart}
admin=${QUICKSTART_ADMIN:-127.0.0.1:8001}
proxy=${QUICKSTART_PROXY:-0.0.0.0:8000}
proxy_tls=${QUICKSTART_PROXY_TLS:-0.0.0.0:8443}
status=${QUICKSTART_STATUS:-127.0.0.1:8100}
cluster=${QUICKSTART_CLUSTER:-127.0.0.1:8005}

say() { printf 'quickstart: %s\n' "$*" >&2; }

if [[ -n "${PORTICO_BIN_DIR:-}" ]]; then
  bin=$PORTICO_BIN_DIR
else
  say "building portico-cp and portico-dp (release, whole-program LTO; the first build takes 10-15 minutes on 2 cores)"
  cargo build --release --locked -p control-plane -p data-plane
  bin=target/release
fi

mkdir -p "$state"
if [[ ! -f "$state/certs/cluster.crt" ]]; then
  "$bin/portico-cp" certs generate --out "$state/certs" >/dev/null
  say "generated cluster certificates in $state/certs"
fi
certs=(--cluster-mtls shared --cluster-cert "$state/certs/cluster.crt"
       --cluster-cert-key "$state/certs/cluster.key")

# Flags are given explicitly: PORTICO_* variables in the environment must not redirect
# the quick start to another database or control plane.
unset PORTICO_DATABASE_URL PORTICO_CLUSTER_CONTROL_PLANE PORTICO_DECLARATIVE_CONFIG

pids=()
stop() {
  trap - INT TERM EXIT
  if ((${#pids[@]})); then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$bin/portico-cp" serve --prefix "$state/cp" --admin-listen "$admin" \
  --cluster-listen "$cluster" "${certs[@]}" &
pids+=($!)
"$bin/portico-dp" serve --prefix "$state/dp" --cluster-control-plane "$cluster" "${certs[@]}" \
  --proxy-listen "$proxy" --proxy-listen-tls "$proxy_tls" --status-listen "$status" &
pids+=($!)

# Ready when the data plane serves a configuration from the control plane.
ready() { curl -fsS -m 1 -o /dev/null "http://$status/status/ready" 2>/dev/null; }
for _ in $(seq 1 300); do
  if ready; then break; fi
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || { say "a process exited during start-up; see its output above"; exit 1; }
  done
  sleep 0.1
done
ready || { say "the data plane did not become ready"; exit 1; }

say "ready: Admin API http://$admin, proxy http://$proxy (https :${proxy_tls##*:}), status http://$status"
say "try: curl -i -X POST http://${admin}/services --data name=example_service --data url=https://httpbin.konghq.com"
say "     curl -i -X POST http://${admin}/services/example_service/routes --data 'paths[]=/mock' --data name=example_route"
say "     curl -i http://localhost:${proxy##*:}/mock/anything"
say "Ctrl-C stops both."
wait -n "${pids[@]}" || true
say "a process exited; stopping"
