#!/usr/bin/env bash
# Starts the local stack for `make run`: mock provider (127.0.0.1:8081), the
# sidecar (gRPC 127.0.0.1:50051, admin 127.0.0.1:9090) and Envoy on
# 127.0.0.1:10000 — the real `envoy` when it is on PATH, else the Go stand-in
# (a development tool; production runs Envoy). Sends one demo request, then
# keeps running until Ctrl-C. Logs go to .run/*.log.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
LOGS=.run
mkdir -p "$LOGS"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

wait_http() { # url name
  for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "$2 did not become ready; see $LOGS/$2.log" >&2
  exit 1
}

"$BIN/mock-llm" -listen 127.0.0.1:8081 >"$LOGS/mock-llm.log" 2>&1 &
pids+=($!)
"$BIN/gateway" serve -config config/gateway.local.yaml >"$LOGS/gateway.log" 2>&1 &
pids+=($!)
if command -v envoy >/dev/null 2>&1; then
  echo "using envoy from PATH: $(command -v envoy)"
  envoy -c envoy/envoy.local.yaml --log-level warn >"$LOGS/envoy.log" 2>&1 &
else
  echo "envoy not on PATH: using the Envoy stand-in (development only)"
  "$BIN/envoy-standin" -c envoy/envoy.local.yaml >"$LOGS/envoy.log" 2>&1 &
fi
pids+=($!)

wait_http http://127.0.0.1:8081/healthz mock-llm
wait_http http://127.0.0.1:9090/readyz gateway
for _ in $(seq 1 100); do
  code=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:10000/v1/models || true)
  [ "$code" != "000" ] && break
  sleep 0.1
done

echo
echo "== POST /v1/chat/completions through Envoy (127.0.0.1:10000) =="
set -x
curl -sS http://127.0.0.1:10000/v1/chat/completions \
  -H "Authorization: Bearer sk-gw-demo-local-only" \
  -H "Content-Type: application/json" \
  -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}],"max_tokens":16}'
set +x
echo
echo
echo "Gateway is up: listener http://127.0.0.1:10000, metrics http://127.0.0.1:9090/metrics"
echo "Demo key: sk-gw-demo-local-only. Logs in $LOGS/. Ctrl-C to stop."
wait
