#!/usr/bin/env bash
# Measures what an ext_proc server costs per request, with extproc-load playing
# Envoy's side of the protocol on loopback. Two runs: JSON responses, then SSE
# responses streamed chunk by chunk; prints server CPU per request and per chunk
# (the marginal chunk cost is the SSE run minus the JSON run, over the chunks).
#
#   scripts/bench-extproc.sh            # the trivial CONTINUE server: the floor
#   scripts/bench-extproc.sh gateway    # our sidecar, config/gateway.local.yaml
#                                       # plus Redis quotas (QUOTA=redis, default)
#
# Environment: N (20000 requests a run), CONCURRENCY (32), CONNECTIONS (2),
# CHUNKS (100), PROMPT_BYTES (1024), WARMUP (1000 requests, not reported),
# DURATION (120s bound a run), KEY and MODEL (the local demo key and model),
# LATENCY_N (2000 requests at concurrency 1: latency without queueing, since
# at CONCURRENCY the cores are saturated and latencies are mostly queueing).
# QUOTA=redis (the default for the gateway) starts a throwaway redis-server on
# REDIS_PORT (6391) and adds a consumer "bench" (key sk-gw-bench-local-only)
# whose limits (every kind: requests and tokens per minute, tokens per day and
# month, concurrency) are enforced in Redis but high enough never to reject, so
# every request pays the full quota path: three Redis round trips. QUOTA=memory
# keeps config/gateway.local.yaml's in-memory store. The demo key's low limits
# (120 requests/minute) would measure the 429 path instead.
# RATE (0: closed loop) runs the JSON requests open loop at RATE per second
# instead (CONCURRENCY then caps requests in flight), for latency at a set
# load; SSE_RATE likewise for the SSE run (skipped when RATE is set without it).
# LEASES=0 turns quota leases off (on by default, as in the gateway).
# UPSTREAM_MODEL sets the model name in the provider's answers (default: the
# load tool's, MODEL plus a date, so the sidecar renames it in every answer).
# TRIVIAL_FAST_CODEC=1 gives the trivial server the sidecar's gRPC codec
# (pkg/protocodec), to see how much of the gap the codec closes.
# SERVER_GOGC (200, as in k8s/deployment.yaml) is the GOGC of the server under
# test, trivial or gateway alike; the load tool keeps Go's default.
# PPROF=1 takes a 10 s CPU profile of the gateway during the JSON and SSE runs
# (.run/cpu-gateway-json.pprof, .run/cpu-gateway-sse.pprof), or one of the
# trivial server's whole run (.run/cpu-trivial.pprof).
# The load tool and the server share this machine's cores: compare numbers
# taken on the same machine only. JSON reports are kept in .run/.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-trivial}
BIN=${BIN:-bin}
LOGS=${LOGS:-.run}
N=${N:-20000}
CONCURRENCY=${CONCURRENCY:-32}
CONNECTIONS=${CONNECTIONS:-2}
CHUNKS=${CHUNKS:-100}
PROMPT_BYTES=${PROMPT_BYTES:-1024}
WARMUP=${WARMUP:-1000}
DURATION=${DURATION:-120s}
LATENCY_N=${LATENCY_N:-2000}
QUOTA=${QUOTA:-redis}
SERVER_GOGC=${SERVER_GOGC:-200}
REDIS_PORT=${REDIS_PORT:-6391}
PPROF=${PPROF:-0}
RATE=${RATE:-0}
SSE_RATE=${SSE_RATE:-0}
UPSTREAM_MODEL=${UPSTREAM_MODEL:-}
KEY=${KEY:-sk-gw-bench-local-only}
MODEL=${MODEL:-gpt-4o-mini}
mkdir -p "$BIN" "$LOGS"

# shellcheck source=scripts/bench-config.sh
source scripts/bench-config.sh

case "$target" in
  trivial)
    port=50061
    cmd=("$BIN/extproc-trivial" -listen "127.0.0.1:$port")
    [ "$PPROF" = 1 ] && cmd+=(-cpuprofile "$LOGS/cpu-trivial.pprof")
    [ "${TRIVIAL_FAST_CODEC:-0}" = 1 ] && cmd+=(-fast-codec)
    go build -o "$BIN/" ./cmd/extproc-load ./cmd/extproc-trivial
    ;;
  gateway)
    port=50051
    go build -o "$BIN/" ./cmd/extproc-load ./cmd/gateway
    mkdir -p "$LOGS"
    config="$LOGS/gateway.bench.yaml"
    bench_config >"$config"
    cmd=("$BIN/gateway" serve -config "$config")
    ;;
  *)
    echo "usage: $0 [trivial|gateway]" >&2
    exit 2
    ;;
esac

if port_open "$port"; then
  echo "127.0.0.1:$port is already in use; stop whatever listens there first" >&2
  exit 1
fi
redis_pid=
if [ "$target" = gateway ] && [ "$QUOTA" = redis ]; then
  if port_open "$REDIS_PORT"; then
    echo "127.0.0.1:$REDIS_PORT is already in use; set REDIS_PORT to a free port" >&2
    exit 1
  fi
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --logfile "$LOGS/bench-redis.log" &
  redis_pid=$!
  for _ in $(seq 1 50); do port_open "$REDIS_PORT" && break; sleep 0.1; done
fi
log="$LOGS/bench-$target.log"
GOGC=$SERVER_GOGC "${cmd[@]}" >"$log" 2>&1 &
pid=$!
stop_server() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
}
trap stop_server EXIT
trap 'exit 130' INT TERM
for _ in $(seq 1 100); do
  port_open "$port" && break
  kill -0 "$pid" 2>/dev/null || { echo "$target exited; see $log" >&2; tail -n 20 "$log" >&2; exit 1; }
  sleep 0.1
done
port_open "$port" || { echo "$target did not listen on $port; see $log" >&2; exit 1; }

load() { # extra flags...
  local upstream=()
  [ -n "$UPSTREAM_MODEL" ] && upstream=(-upstream-model "$UPSTREAM_MODEL")
  "$BIN/extproc-load" -addr "127.0.0.1:$port" -concurrency "$CONCURRENCY" -connections "$CONNECTIONS" \
    -duration "$DURATION" -prompt-bytes "$PROMPT_BYTES" -key "$KEY" -model "$MODEL" \
    -server-pid "$pid" -json "${upstream[@]}" "$@"
}

summary() { # name report.json
  jq -r --arg name "$1" '
    def f: . * 10 | round / 10;
    "== \($name): \(.requests) requests in \(.wall_seconds | f)s = \(.requests_per_second | round) req/s; completed \(.completed), immediate \(.immediate), errors \(.errors)",
    (["request_headers", "request_body", "response_headers", "response_body", "response_chunk"][] as $p |
      .phases[$p] // empty | {key: $p, value: .} | "   \(.key): p50 \(.value.p50_us | f) µs, p99 \(.value.p99_us | f) µs, max \(.value.max_us | f) µs"),
    "   whole request: p50 \(.request.p50_us | f) µs, p99 \(.request.p99_us | f) µs",
    "   server CPU: \(.server_cpu.per_request_us | f) µs/request" +
      (if .chunks_sent > 0 then ", \(.server_cpu.per_chunk_us | f) µs/chunk (all-in)" else "" end) +
      ", \(.server_cpu.cores | f) cores; load tool \(.client_cpu.per_request_us | f) µs/request"' "$2"
}

echo "target: $target (pid $pid) on 127.0.0.1:$port; GOGC=$SERVER_GOGC; quota=$([ "$target" = gateway ] && echo "$QUOTA" || echo none); N=$N concurrency=$CONCURRENCY connections=$CONNECTIONS chunks=$CHUNKS"
if [ "$WARMUP" -gt 0 ]; then
  load -n "$WARMUP" >/dev/null
  load -n "$WARMUP" -stream -chunks "$CHUNKS" >/dev/null
fi
# profile NAME: a 10 s CPU profile of the gateway, in the background, when PPROF=1.
profile_pid=
profile() {
  if [ "$PPROF" = 1 ] && [ "$target" = gateway ]; then
    (sleep 1; curl -sf -o "$LOGS/cpu-$target-$1.pprof" "http://127.0.0.1:9090/debug/pprof/profile?seconds=10") &
    profile_pid=$!
  fi
}
profile json
load -n "$N" -rate "$RATE" >"$LOGS/bench-$target-json.json"
wait_profile() { if [ -n "$profile_pid" ]; then wait "$profile_pid" 2>/dev/null || true; profile_pid=; fi; }
wait_profile
json_load="concurrency $CONCURRENCY"
[ "$RATE" != 0 ] && json_load="$RATE/s open loop"
summary "JSON, $json_load" "$LOGS/bench-$target-json.json"
if [ "$RATE" != 0 ] && [ "$SSE_RATE" = 0 ]; then
  exit 0 # latency at a set rate: JSON only
fi
profile sse
load -n "$N" -rate "$SSE_RATE" -stream -chunks "$CHUNKS" >"$LOGS/bench-$target-sse.json"
wait_profile
sse_load="concurrency $CONCURRENCY"
[ "$SSE_RATE" != 0 ] && sse_load="$SSE_RATE/s open loop"
summary "SSE, $CHUNKS chunks, $sse_load" "$LOGS/bench-$target-sse.json"
if [ "$LATENCY_N" -gt 0 ]; then
  load -n "$LATENCY_N" -concurrency 1 -connections 1 >"$LOGS/bench-$target-json-c1.json"
  load -n "$LATENCY_N" -concurrency 1 -connections 1 -stream -chunks "$CHUNKS" >"$LOGS/bench-$target-sse-c1.json"
  summary "JSON, concurrency 1" "$LOGS/bench-$target-json-c1.json"
  summary "SSE, $CHUNKS chunks, concurrency 1" "$LOGS/bench-$target-sse-c1.json"
fi
jq -rn --slurpfile j "$LOGS/bench-$target-json.json" --slurpfile s "$LOGS/bench-$target-sse.json" '
  ($s[0].chunks_sent / $s[0].requests) as $c |
  if $c > 0 then
    "== marginal server CPU per SSE chunk: \((($s[0].server_cpu.per_request_us - $j[0].server_cpu.per_request_us) / $c) * 100 | round / 100) µs"
  else "== no chunks were streamed" end'
