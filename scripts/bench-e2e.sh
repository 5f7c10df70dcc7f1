#!/usr/bin/env bash
# End-to-end HTTP load through the whole local stack: cmd/http-load -> Envoy
# stand-in -> (ext_proc) gateway sidecar with Redis quotas -> mock provider,
# and the same load straight at the mock provider (the baseline without the
# gateway). Prints what the gateway path (stand-in + sidecar + Redis) adds to
# latency, and the CPU time of every process per request. With FLOOR=1 (the
# default) a third path runs the same load through a second stand-in whose
# ext_proc server is cmd/extproc-trivial (CONTINUE to everything; the client
# sends x-gateway-cluster itself): the stand-in and ext_proc protocol floor,
# so the comparison splits the added latency into floor and sidecar.
#
#   scripts/bench-e2e.sh            # or: make load-e2e
#
# Everything is on loopback, on free ports picked at start (override with
# REDIS_PORT, MOCK_PORT, GRPC_PORT, ADMIN_PORT, LISTEN_PORT, ENVOY_ADMIN_PORT,
# TRIVIAL_PORT, FLOOR_LISTEN_PORT);
# every process is stopped on exit. The mock answers with no artificial delay
# (-ttft 0 -token-delay 0) and CHUNKS tokens: JSON completions of CHUNKS tokens,
# SSE streams of CHUNKS content events (+ role, finish, usage through the
# gateway, which adds stream_options.include_usage; the direct baseline has no
# usage event). The sidecar runs the bench config (scripts/bench-config.sh:
# config/gateway.local.yaml plus consumer "bench", key sk-gw-bench-local-only,
# limits enforced in Redis but never reached). The stand-in reads
# envoy/envoy.local.yaml, as `make run` does, with the ext_proc_sidecar and
# mock clusters remapped to the ports above.
#
# Environment: N (10000 requests a run), CONCURRENCY (32), CHUNKS (100),
# PROMPT_BYTES (1024), WARMUP (1000 requests a path, not reported), DURATION
# (120s bound a run), LATENCY_N (2000 requests at concurrency 1, where the
# latencies are not queueing: the added-latency numbers to quote), RATE (open
# loop in req/s for the concurrency runs; 0 = closed loop). Reports (JSON, one
# per run) and logs go to .run/e2e-*. The load tool and every server share
# this machine's cores: compare numbers from the same machine only.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
LOGS=${LOGS:-.run}
N=${N:-10000}
CONCURRENCY=${CONCURRENCY:-32}
CHUNKS=${CHUNKS:-100}
PROMPT_BYTES=${PROMPT_BYTES:-1024}
WARMUP=${WARMUP:-1000}
DURATION=${DURATION:-120s}
LATENCY_N=${LATENCY_N:-2000}
RATE=${RATE:-0}
FLOOR=${FLOOR:-1}
KEY=${KEY:-sk-gw-bench-local-only}
MODEL=${MODEL:-gpt-4o-mini}
QUOTA=redis
PPROF=${PPROF:-0}
mkdir -p "$BIN" "$LOGS"

# shellcheck source=scripts/bench-config.sh
source scripts/bench-config.sh
pick_port REDIS_PORT 16391
pick_port MOCK_PORT 18091
pick_port GRPC_PORT 50071
pick_port ADMIN_PORT 19091
pick_port LISTEN_PORT 10010
pick_port ENVOY_ADMIN_PORT 19911
pick_port TRIVIAL_PORT 50081
pick_port FLOOR_LISTEN_PORT 10020

go build -o "$BIN/" ./cmd/gateway ./cmd/mock-llm ./cmd/envoy-standin ./cmd/http-load ./cmd/extproc-trivial

start_redis e2e

"$BIN/mock-llm" -listen "127.0.0.1:$MOCK_PORT" -words "$CHUNKS" -ttft 0 -token-delay 0 \
  >"$LOGS/e2e-mock.log" 2>&1 &
mock_pid=$!
pids+=("$mock_pid")

config="$LOGS/e2e-gateway.yaml"
bench_config | sed -e "s/127\.0\.0\.1:50051/127.0.0.1:$GRPC_PORT/" -e "s/127\.0\.0\.1:9090/127.0.0.1:$ADMIN_PORT/" >"$config"
grep -q "127.0.0.1:$GRPC_PORT" "$config" && grep -q "127.0.0.1:$ADMIN_PORT" "$config" ||
  { echo "could not set the gateway's ports in $config" >&2; exit 1; }
"$BIN/gateway" serve -config "$config" >"$LOGS/e2e-gateway.log" 2>&1 &
gw_pid=$!
pids+=("$gw_pid")

"$BIN/envoy-standin" -c envoy/envoy.local.yaml -l warn \
  --listen "127.0.0.1:$LISTEN_PORT" --admin "127.0.0.1:$ENVOY_ADMIN_PORT" \
  --cluster-addr "ext_proc_sidecar=127.0.0.1:$GRPC_PORT" --cluster-addr "mock=127.0.0.1:$MOCK_PORT" \
  >"$LOGS/e2e-standin-access.log" 2>"$LOGS/e2e-standin.log" &
standin_pid=$!
pids+=("$standin_pid")

if [ "$FLOOR" = 1 ]; then
  "$BIN/extproc-trivial" -listen "127.0.0.1:$TRIVIAL_PORT" 2>"$LOGS/e2e-trivial.log" &
  trivial_pid=$!
  pids+=("$trivial_pid")
  "$BIN/envoy-standin" -c envoy/envoy.local.yaml -l warn --listen "127.0.0.1:$FLOOR_LISTEN_PORT" --no-admin \
    --cluster-addr "ext_proc_sidecar=127.0.0.1:$TRIVIAL_PORT" --cluster-addr "mock=127.0.0.1:$MOCK_PORT" \
    >"$LOGS/e2e-floor-access.log" 2>"$LOGS/e2e-floor-standin.log" &
  floor_pid=$!
  pids+=("$floor_pid")
fi

wait_until mock-llm "$LOGS/e2e-mock.log" http_ok "http://127.0.0.1:$MOCK_PORT/healthz"
wait_until gateway "$LOGS/e2e-gateway.log" http_ok "http://127.0.0.1:$ADMIN_PORT/readyz"
wait_until envoy-standin "$LOGS/e2e-standin.log" http_ok "http://127.0.0.1:$ENVOY_ADMIN_PORT/ready"
paths=(gateway direct)
if [ "$FLOOR" = 1 ]; then
  wait_until extproc-trivial "$LOGS/e2e-trivial.log" port_open "$TRIVIAL_PORT"
  wait_until "floor stand-in" "$LOGS/e2e-floor-standin.log" port_open "$FLOOR_LISTEN_PORT"
  paths=(gateway floor direct)
fi

gw_url="http://127.0.0.1:$LISTEN_PORT/v1/chat/completions"
mock_url="http://127.0.0.1:$MOCK_PORT/v1/chat/completions"
floor_url="http://127.0.0.1:$FLOOR_LISTEN_PORT/v1/chat/completions"
code=$(curl -sS -o "$LOGS/e2e-check.json" -w '%{http_code}' "$gw_url" -H "Authorization: Bearer $KEY" \
  -H 'Content-Type: application/json' -d "{\"model\":\"$MODEL\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":4}")
if [ "$code" != 200 ]; then
  echo "check request through the stand-in answered $code:" >&2
  cat "$LOGS/e2e-check.json" >&2
  exit 1
fi

load() { # path label extra flags...
  local path=$1 label=$2 url
  local flags=(-pid "mock=$mock_pid")
  shift 2
  case "$path" in
    gateway)
      url=$gw_url
      flags+=(-pid "gateway=$gw_pid" -pid "standin=$standin_pid" -pid "redis=$redis_pid")
      ;;
    floor)
      url=$floor_url
      flags+=(-pid "standin=$floor_pid" -pid "trivial=$trivial_pid" -header "x-gateway-cluster: mock")
      ;;
    direct) url=$mock_url ;;
  esac
  "$BIN/http-load" -url "$url" -key "$KEY" -model "$MODEL" -duration "$DURATION" -chunks "$CHUNKS" \
    -prompt-bytes "$PROMPT_BYTES" -label "$label" "${flags[@]}" -json "$@"
}

echo "stack: redis :$REDIS_PORT (pid $redis_pid), mock :$MOCK_PORT (pid $mock_pid), gateway :$GRPC_PORT/:$ADMIN_PORT (pid $gw_pid), stand-in :$LISTEN_PORT (pid $standin_pid)"
echo "N=$N concurrency=$CONCURRENCY rate=$RATE chunks=$CHUNKS prompt=${PROMPT_BYTES}B latency_n=$LATENCY_N; $(uptime | sed 's/^ *//')"
if [ "$WARMUP" -gt 0 ]; then
  for path in "${paths[@]}"; do
    load "$path" warmup -n "$WARMUP" -concurrency "$CONCURRENCY" >/dev/null
    load "$path" warmup -n "$WARMUP" -concurrency "$CONCURRENCY" -stream >/dev/null
  done
fi

runs=()
for kind in json sse; do
  stream=()
  [ "$kind" = sse ] && stream=(-stream)
  for path in "${paths[@]}"; do
    out="$LOGS/e2e-$path-$kind.json"
    load "$path" "$path $kind c=$CONCURRENCY" -n "$N" -concurrency "$CONCURRENCY" -rate "$RATE" "${stream[@]}" >"$out"
    runs+=("$out")
    if [ "$LATENCY_N" -gt 0 ]; then
      out="$LOGS/e2e-$path-$kind-c1.json"
      load "$path" "$path $kind c=1" -n "$LATENCY_N" -concurrency 1 "${stream[@]}" >"$out"
      runs+=("$out")
    fi
  done
done

summary() { # report.json
  jq -r '
    def f: . * 10 | round / 10;
    def status: [.status | to_entries[] | "\(.key)=\(.value)"] | join(" ");
    def errs: if (.errors | length) > 0 then ", errors " + ([.errors | to_entries[] | "\(.key)=\(.value)"] | join(" ")) else "" end;
    "== \(.label): \(.requests) requests in \(.wall_seconds | f)s = \(.requests_per_second | round) req/s; completed \(.completed), status \(status)\(errs)" +
      (if .stream then ", \(.sse_events_per_request | f) events/stream" else "" end),
    "   latency p50 \(.latency.p50_us | f) µs, p90 \(.latency.p90_us | f), p99 \(.latency.p99_us | f), max \(.latency.max_us | f)" +
      (if .stream then "; first byte p50 \(.first_byte.p50_us | f) µs, p99 \(.first_byte.p99_us | f)" else "" end),
    "   CPU µs/request: " + ([.cpu[] | select(.seconds > 0) | "\(.name) \(.per_request_us | f) (\(.cores * 100 | round)% core)"] | join(", "))' "$1"
}
for r in "${runs[@]}"; do summary "$r"; done

compare() { # path base kind suffix title: what path adds over base
  local g="$LOGS/e2e-$1-$3$4.json" d="$LOGS/e2e-$2-$3$4.json"
  [ -f "$g" ] && [ -f "$d" ] || return 0
  jq -rn --slurpfile g "$g" --slurpfile d "$d" --arg title "$5" --arg p "$1" --arg b "$2" '
    def f: . * 10 | round / 10;
    $g[0] as $g | $d[0] as $d |
    def cpu($r): ([$r.cpu[] | .per_request_us] | add);
    "   \($title): added p50 \(($g.latency.p50_us - $d.latency.p50_us) | f) µs, p99 \(($g.latency.p99_us - $d.latency.p99_us) | f) µs" +
      " (\($p) \($g.latency.p50_us | f) / \($g.latency.p99_us | f), \($b) \($d.latency.p50_us | f) / \($d.latency.p99_us | f))" +
      (if $g.stream then "; first byte added p50 \(($g.first_byte.p50_us - $d.first_byte.p50_us) | f) µs, p99 \(($g.first_byte.p99_us - $d.first_byte.p99_us) | f) µs" else "" end) +
      "; req/s \($g.requests_per_second | round) vs \($d.requests_per_second | round)" +
      "; CPU of all processes \(cpu($g) | f) vs \(cpu($d) | f) µs/request"'
}
comparisons() { # path base heading
  echo "== $3"
  compare "$1" "$2" json -c1 "JSON, concurrency 1"
  compare "$1" "$2" sse -c1 "SSE $CHUNKS chunks, concurrency 1"
  compare "$1" "$2" json "" "JSON, concurrency $CONCURRENCY"
  compare "$1" "$2" sse "" "SSE $CHUNKS chunks, concurrency $CONCURRENCY"
}
comparisons gateway direct "gateway path (stand-in + sidecar + Redis) vs direct to the mock provider"
if [ "$FLOOR" = 1 ]; then
  comparisons floor direct "floor (stand-in + trivial ext_proc server) vs direct"
  comparisons gateway floor "sidecar's share: gateway path vs floor"
fi
bad=$(jq -s '[.[] | (.requests - .completed)] | add' "${runs[@]}")
if [ "$bad" != 0 ]; then
  echo "!! $bad requests did not complete with 2xx; see the status and errors above and $LOGS/e2e-*.log" >&2
  exit 1
fi
