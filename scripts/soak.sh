#!/usr/bin/env bash
# Soak: N (100,000) mixed requests against the sidecar with Redis quotas, then
# checks that goroutines and heap came back to where they were, and that the
# memory an open stream holds does not grow with the stream's length.
#
#   scripts/soak.sh            # or: make soak
#
# Stack, all on loopback on free ports (override with REDIS_PORT, GRPC_PORT,
# ADMIN_PORT, MOCK_PORT, LISTEN_PORT): redis-server, the gateway with the bench
# config (scripts/bench-config.sh, QUOTA=redis, key sk-gw-bench-local-only,
# pprof on its admin listener so that /debug/pprof/heap?gc=1 forces a GC before
# every sample; quota.timeout QUOTA_TIMEOUT, the 50ms default: with quota
# leases (the default) few requests wait on Redis; with LEASES=0 on a loaded
# 2-core machine Redis round trips beyond 50ms open the quota store breaker,
# whose fast 503s skip most of the path, so raise it, e.g. 250ms), and for the client-cancel and open-stream phases the mock
# provider and the Envoy stand-in (envoy/envoy.local.yaml remapped to them).
# Every process is stopped on exit.
#
# 1. Warm-up (WARMUP requests of each kind), then "before": the minimum over
#    SAMPLES scrapes of /metrics, each right after a forced GC, of
#    go_goroutines, go_memstats_heap_inuse_bytes, go_memstats_heap_alloc_bytes
#    and process_resident_memory_bytes.
# 2. N requests in ROUNDS rounds, each round a slice of every kind:
#      45% JSON (extproc-load plays Envoy),
#      40% SSE of CHUNKS (20) chunks (extproc-load),
#       5% SSE of 2000 chunks abandoned by Envoy: extproc-load's stream
#          deadline (-request-timeout CANCEL_TIMEOUT, 50ms) cancels them at
#          whatever phase they reached, mostly mid-stream (a 2000-chunk stream
#          takes ~0.5 s at concurrency 32 on 2 cores),
#      10% SSE of CHUNKS chunks over HTTP through the stand-in and the mock,
#          half of them abandoned by the client after 5 events (the stand-in
#          then resets the ext_proc stream, as Envoy does).
#    Goroutines and heap are printed after every round: a leak is a trend.
# 3. After SETTLE (2s), "after" as in 1. FAIL (exit 1) when
#      goroutines grew by more than GOROUTINE_SLACK (10: a few pool or timer
#        goroutines may come and go; a leak of one per request, or per
#        cancelled request, is thousands),
#      heap in use grew by more than HEAP_SLACK_MB (8 MiB: over 100,000
#        requests that is 84 bytes a request, less than any per-request
#        object a leak would keep (a map entry, a reservation record, a
#        goroutine stack is 2-8 KiB), while above the noise of pools and
#        caches refilled after a forced GC (well under 1 MiB here)),
#      gateway_inflight_requests is not back to 0, or
#      concurrency reservations are still open in Redis (ZSET members under
#        the bench key prefix; every request, cancelled or not, must be
#        reconciled), or
#      more than MAX_FAILED_PERCENT (5%) of the requests failed other than by
#        the cancellations asked for (then the soak did not exercise the
#        whole path; fewer are reported but not judged: on a loaded machine
#        Redis answers beyond quota.timeout open the store breaker, 503s).
#    RSS is printed but not judged: the Go runtime returns freed memory to
#    the OS lazily.
# 4. Open streams (the test-free check of memory per in-flight stream): the
#    mock is switched to STREAM_CHUNKS tokens, TOKEN_DELAY_MS apart; STREAMS
#    (64) SSE requests are opened at once through the stand-in; the heap is
#    sampled (forced GC) with none open, EARLY seconds in (all open, ~EARLY /
#    delay chunks relayed each) and LATE seconds in (all still open, ~LATE /
#    delay chunks each). FAIL when the heap grew between EARLY and LATE by
#    more than STREAM_GROWTH_KB (2048 KiB in all = 32 KiB a stream, while each
#    stream relays ~1,700 more chunks of ~230 bytes, ~390 KiB, in between:
#    keeping even 8% of what was relayed would show).
#
# Reports are kept in .run/soak-*.json, the summary in .run/soak-summary.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
LOGS=${LOGS:-.run}
N=${N:-100000}
ROUNDS=${ROUNDS:-5}
CONCURRENCY=${CONCURRENCY:-32}
CONNECTIONS=${CONNECTIONS:-2}
CHUNKS=${CHUNKS:-20}
CANCEL_TIMEOUT=${CANCEL_TIMEOUT:-50ms}
WARMUP=${WARMUP:-2000}
DURATION=${DURATION:-300s}
SETTLE=${SETTLE:-2}
SAMPLES=${SAMPLES:-3}
GOROUTINE_SLACK=${GOROUTINE_SLACK:-10}
HEAP_SLACK_MB=${HEAP_SLACK_MB:-8}
MAX_FAILED_PERCENT=${MAX_FAILED_PERCENT:-5}
QUOTA_TIMEOUT=${QUOTA_TIMEOUT:-50ms}
STREAMS=${STREAMS:-64}
STREAM_CHUNKS=${STREAM_CHUNKS:-2400}
TOKEN_DELAY_MS=${TOKEN_DELAY_MS:-5}
EARLY=${EARLY:-1.5}
LATE=${LATE:-10}
STREAM_GROWTH_KB=${STREAM_GROWTH_KB:-2048}
KEY=${KEY:-sk-gw-bench-local-only}
MODEL=${MODEL:-gpt-4o-mini}
QUOTA=redis
PPROF=1
mkdir -p "$BIN" "$LOGS"

# shellcheck source=scripts/bench-config.sh
source scripts/bench-config.sh
pick_port REDIS_PORT 16491
pick_port GRPC_PORT 50171
pick_port ADMIN_PORT 19191
pick_port MOCK_PORT 18191
pick_port LISTEN_PORT 10110

go build -o "$BIN/" ./cmd/gateway ./cmd/mock-llm ./cmd/envoy-standin ./cmd/http-load ./cmd/extproc-load

start_redis soak

config="$LOGS/soak-gateway.yaml"
bench_config | sed -e "s/127\.0\.0\.1:50051/127.0.0.1:$GRPC_PORT/" -e "s/127\.0\.0\.1:9090/127.0.0.1:$ADMIN_PORT/" \
  -e "s/^  store: redis\$/  store: redis\n  timeout: $QUOTA_TIMEOUT/" >"$config"
grep -q "127.0.0.1:$GRPC_PORT" "$config" && grep -q "127.0.0.1:$ADMIN_PORT" "$config" &&
  grep -q "^  timeout: $QUOTA_TIMEOUT\$" "$config" ||
  { echo "could not set the gateway's ports and quota timeout in $config" >&2; exit 1; }
# One JSON line per request is ~100,000 lines: kept, the logging path is part of the soak.
"$BIN/gateway" serve -config "$config" >"$LOGS/soak-gateway.log" 2>&1 &
gw_pid=$!
pids+=("$gw_pid")

"$BIN/mock-llm" -listen "127.0.0.1:$MOCK_PORT" -words "$CHUNKS" >"$LOGS/soak-mock.log" 2>&1 &
pids+=($!)
"$BIN/envoy-standin" -c envoy/envoy.local.yaml -l warn --listen "127.0.0.1:$LISTEN_PORT" --no-admin \
  --cluster-addr "ext_proc_sidecar=127.0.0.1:$GRPC_PORT" --cluster-addr "mock=127.0.0.1:$MOCK_PORT" \
  >/dev/null 2>"$LOGS/soak-standin.log" &
pids+=($!)

admin="http://127.0.0.1:$ADMIN_PORT"
wait_until gateway "$LOGS/soak-gateway.log" http_ok "$admin/readyz"
wait_until mock-llm "$LOGS/soak-mock.log" http_ok "http://127.0.0.1:$MOCK_PORT/healthz"
wait_until envoy-standin "$LOGS/soak-standin.log" port_open "$LISTEN_PORT"
http_ok "$admin/debug/pprof/heap?gc=1" || { echo "cannot force a GC: $admin/debug/pprof/ is not served" >&2; exit 1; }

summary_file="$LOGS/soak-summary.txt"
: >"$summary_file"
say() { echo "$*" | tee -a "$summary_file"; }

# metric NAME FILE: the value of an unlabelled metric, as an integer.
metric() { awk -v m="$1" '$1 == m { printf "%.0f\n", $2; found = 1 } END { if (!found) print "NaN" }' "$2"; }
# sample: minimum over SAMPLES scrapes, each right after a forced GC, into
# S_GOROUTINES, S_INUSE, S_ALLOC, S_RSS (and S_INFLIGHT, the last value).
sample() {
  local f="$LOGS/soak-metrics.txt" g i a r
  S_GOROUTINES= S_INUSE= S_ALLOC= S_RSS=
  for _ in $(seq 1 "$SAMPLES"); do
    curl -fsS -o /dev/null "$admin/debug/pprof/heap?gc=1"
    curl -fsS -o "$f" "$admin/metrics"
    g=$(metric go_goroutines "$f") i=$(metric go_memstats_heap_inuse_bytes "$f")
    a=$(metric go_memstats_heap_alloc_bytes "$f") r=$(metric process_resident_memory_bytes "$f")
    S_INFLIGHT=$(metric gateway_inflight_requests "$f")
    if [ -z "$S_GOROUTINES" ] || [ "$g" -lt "$S_GOROUTINES" ]; then S_GOROUTINES=$g; fi
    if [ -z "$S_INUSE" ] || [ "$i" -lt "$S_INUSE" ]; then S_INUSE=$i; fi
    if [ -z "$S_ALLOC" ] || [ "$a" -lt "$S_ALLOC" ]; then S_ALLOC=$a; fi
    if [ -z "$S_RSS" ] || [ "$r" -lt "$S_RSS" ]; then S_RSS=$r; fi
    sleep 0.2
  done
}
mib() { awk -v b="$1" 'BEGIN { printf "%.2f MiB", b / 1048576 }'; }
# open_reservations: members of every ZSET under the bench key prefix (the
# per-scope sets of open reservations that concurrency limits count).
open_reservations() {
  local n=0 k
  while read -r k; do
    [ -n "$k" ] || continue
    if [ "$(redis-cli -p "$REDIS_PORT" TYPE "$k")" = zset ]; then
      n=$((n + $(redis-cli -p "$REDIS_PORT" ZCARD "$k")))
    fi
  done < <(redis-cli -p "$REDIS_PORT" --scan --pattern 'bench:*')
  echo "$n"
}

extproc() { # extra flags...
  "$BIN/extproc-load" -addr "127.0.0.1:$GRPC_PORT" -key "$KEY" -model "$MODEL" -concurrency "$CONCURRENCY" \
    -connections "$CONNECTIONS" -duration "$DURATION" -json "$@"
}
httpload() { # extra flags...
  "$BIN/http-load" -url "http://127.0.0.1:$LISTEN_PORT/v1/chat/completions" -key "$KEY" -model "$MODEL" \
    -concurrency "$CONCURRENCY" -duration "$DURATION" -json "$@"
}
# check_run FILE KIND: complain about failures that are not the cancellations asked for.
failures=()
unexpected=0
check_run() {
  local bad
  case "$2" in
    extproc) bad=$(jq '(.errors // {} | to_entries | map(select(.key != "grpc_DeadlineExceeded")) | map(.value) | add // 0) + (.immediate // {} | to_entries | map(.value) | add // 0)' "$1") ;;
    # extproc-load reports some of the streams its own deadline ended as
    # closed_early (it does so against extproc-trivial too): both are the
    # cancellations asked for.
    abort) bad=$(jq '(.errors // {} | to_entries | map(select(.key != "grpc_DeadlineExceeded" and .key != "closed_early")) | map(.value) | add // 0) + (.immediate // {} | to_entries | map(.value) | add // 0) + .completed' "$1") ;;
    http) bad=$(jq '.requests - .completed - .cancelled' "$1") ;;
  esac
  if [ "$bad" != 0 ]; then
    unexpected=$((unexpected + bad))
    say "   !! $bad unexpected failures in $1: $(jq -c '{errors, immediate, status}' "$1")"
  fi
}

json_n=$((N * 45 / 100))
sse_n=$((N * 40 / 100))
abort_n=$((N * 5 / 100))
http_n=$((N - json_n - sse_n - abort_n))
say "soak: N=$N in $ROUNDS rounds (JSON $json_n, SSE x$CHUNKS $sse_n, Envoy-cancelled SSE $abort_n, HTTP SSE via stand-in $http_n, half client-cancelled); concurrency $CONCURRENCY; gateway pid $gw_pid"
say "machine: $(nproc) cores; $(uptime | sed 's/^ *//')"

extproc -n "$WARMUP" >/dev/null
extproc -n "$WARMUP" -stream -chunks "$CHUNKS" >/dev/null
extproc -n "$((WARMUP / 10))" -stream -chunks 2000 -request-timeout "$CANCEL_TIMEOUT" >/dev/null
httpload -n "$WARMUP" -stream -chunks "$CHUNKS" -cancel-fraction 0.5 -cancel-after 5 >/dev/null
sleep "$SETTLE"
sample
b_g=$S_GOROUTINES b_i=$S_INUSE b_a=$S_ALLOC b_r=$S_RSS
say "before: goroutines $b_g, heap in use $(mib "$b_i"), heap alloc $(mib "$b_a"), RSS $(mib "$b_r")"

# run_kind NAME ROUND COUNT KIND command...: one slice of the load, its
# report in .run/soak-NAME-ROUND.json.
run_kind() {
  local name=$1 round=$2 n=$3 kind=$4 out="$LOGS/soak-$1-$2.json"
  shift 4
  rm -f "$out"
  [ "$n" -gt 0 ] || return 0
  "$@" -n "$n" >"$out"
  check_run "$out" "$kind"
}
# share TOTAL ROUND: this round's part of TOTAL.
share() { echo $(($1 * $2 / ROUNDS - $1 * ($2 - 1) / ROUNDS)); }
start=$(date +%s)
total=0
for round in $(seq 1 "$ROUNDS"); do
  run_kind json "$round" "$(share "$json_n" "$round")" extproc extproc
  run_kind sse "$round" "$(share "$sse_n" "$round")" extproc extproc -stream -chunks "$CHUNKS"
  run_kind abort "$round" "$(share "$abort_n" "$round")" abort extproc -stream -chunks 2000 -request-timeout "$CANCEL_TIMEOUT"
  run_kind http "$round" "$(share "$http_n" "$round")" http httpload -stream -chunks "$CHUNKS" -cancel-fraction 0.5 -cancel-after 5
  done_n=$({ cat "$LOGS"/soak-{json,sse,abort,http}-"$round".json 2>/dev/null || true; } | jq -s 'map(.requests) | add // 0')
  total=$((total + done_n))
  cancelled=$({ cat "$LOGS"/soak-{abort,http}-"$round".json 2>/dev/null || true; } | jq -rs \
    '(map(select(has("immediate")) | .errors | (.grpc_DeadlineExceeded // 0) + (.closed_early // 0)) | add // 0) as $e |
     (map(.streamed_responses // 0) | add // 0) as $m | (map(.cancelled // 0) | add // 0) as $c |
     "\($e) by Envoy deadline (\($m) mid-stream), \($c) by clients"')
  sample
  say "round $round: $done_n requests (total $total, cancelled $cancelled): goroutines $S_GOROUTINES, heap in use $(mib "$S_INUSE"), alloc $(mib "$S_ALLOC"), RSS $(mib "$S_RSS")"
done
elapsed=$(($(date +%s) - start))
sleep "$SETTLE"
sample
a_g=$S_GOROUTINES a_i=$S_INUSE a_a=$S_ALLOC a_r=$S_RSS
reservations=$(open_reservations)
say "after $total requests in ${elapsed}s and ${SETTLE}s settle: goroutines $a_g, heap in use $(mib "$a_i"), heap alloc $(mib "$a_a"), RSS $(mib "$a_r"); inflight gauge $S_INFLIGHT; open reservations in Redis $reservations"
dg=$((a_g - b_g)) di=$((a_i - b_i)) da=$((a_a - b_a)) dr=$((a_r - b_r))
say "growth: goroutines $dg (limit $GOROUTINE_SLACK), heap in use $(mib "$di") (limit $HEAP_SLACK_MB MiB; $(awk -v d="$di" -v b="$b_i" 'BEGIN { printf "%+.1f%%", 100 * d / b }')), heap alloc $(mib "$da"), RSS $(mib "$dr") (not judged)"
[ "$dg" -le "$GOROUTINE_SLACK" ] || failures+=("goroutines grew by $dg (> $GOROUTINE_SLACK)")
[ "$di" -le $((HEAP_SLACK_MB * 1048576)) ] || failures+=("heap in use grew by $(mib "$di") (> $HEAP_SLACK_MB MiB)")
[ "$S_INFLIGHT" = 0 ] || failures+=("gateway_inflight_requests is $S_INFLIGHT after the load")
[ "$reservations" = 0 ] || failures+=("$reservations concurrency reservations still open in Redis")
if [ "$unexpected" -gt 0 ]; then
  say "unexpected failures: $unexpected of $total requests (limit $MAX_FAILED_PERCENT%; on a loaded machine mostly 503 quota_unavailable: Redis answering after quota.timeout opens the store breaker, see $LOGS/soak-gateway.log)"
  [ $((unexpected * 100)) -le $((total * MAX_FAILED_PERCENT)) ] ||
    failures+=("$unexpected of $total requests failed unexpectedly: the soak did not exercise the whole path")
fi
if [ "$dg" -gt "$GOROUTINE_SLACK" ]; then
  curl -fsS -o "$LOGS/soak-goroutines.txt" "$admin/debug/pprof/goroutine?debug=1" &&
    say "   goroutine profile: $LOGS/soak-goroutines.txt"
fi

# 4. Memory per open stream, early versus late in long streams.
curl -fsS -o /dev/null "http://127.0.0.1:$MOCK_PORT/mock/config" \
  -d "{\"words\": $STREAM_CHUNKS, \"token_delay_ms\": $TOKEN_DELAY_MS}"
stream_secs=$(awk -v c="$STREAM_CHUNKS" -v d="$TOKEN_DELAY_MS" 'BEGIN { printf "%.1f", c * d / 1000 }')
if awk -v l="$LATE" -v s="$stream_secs" 'BEGIN { exit !(l + 1 >= s) }'; then
  echo "LATE ($LATE s) must be well inside a stream's length ($stream_secs s)" >&2
  exit 1
fi
sample
o_g=$S_GOROUTINES o_a=$S_ALLOC o_i=$S_INUSE
httpload -n "$STREAMS" -concurrency "$STREAMS" -stream -chunks "$STREAM_CHUNKS" -timeout 120s -duration 10s \
  -label "open streams" >"$LOGS/soak-open-streams.json" &
load_pid=$!
t0=$(date +%s.%N)
sleep "$EARLY"
sample
e_g=$S_GOROUTINES e_a=$S_ALLOC e_i=$S_INUSE e_open=$S_INFLIGHT
t1=$(date +%s.%N)
sleep "$(awk -v a="$LATE" -v t0="$t0" -v t1="$t1" 'BEGIN { s = a - (t1 - t0); print (s > 0 ? s : 0) }')"
sample
l_g=$S_GOROUTINES l_a=$S_ALLOC l_i=$S_INUSE l_open=$S_INFLIGHT
t2=$(date +%s.%N)
wait "$load_pid"
curl -fsS -o /dev/null "http://127.0.0.1:$MOCK_PORT/mock/config" -d "{\"words\": $CHUNKS, \"token_delay_ms\": 0}"
open_done=$(jq .completed "$LOGS/soak-open-streams.json")
[ "$open_done" = "$STREAMS" ] ||
  failures+=("$open_done of $STREAMS long streams completed: $(jq -c '{status, errors}' "$LOGS/soak-open-streams.json")")
awk -v k="$STREAMS" -v d="$TOKEN_DELAY_MS" -v t0="$t0" -v t1="$t1" -v t2="$t2" \
  -v og="$o_g" -v eg="$e_g" -v lg="$l_g" -v oa="$o_a" -v ea="$e_a" -v la="$l_a" -v oi="$o_i" -v ei="$e_i" -v li="$l_i" \
  -v eo="$e_open" -v lo="$l_open" 'BEGIN {
    printf "open streams: %d SSE streams through the stand-in, a token every %d ms\n", k, d
    printf "   early (%.1fs, ~%d chunks each, %d in flight): %.1f KiB/stream in use, %.1f KiB/stream alloc, %.1f goroutines/stream\n",
      t1 - t0, (t1 - t0) * 1000 / d, eo, (ei - oi) / k / 1024, (ea - oa) / k / 1024, (eg - og) / k
    printf "   late  (%.1fs, ~%d chunks each, %d in flight): %.1f KiB/stream in use, %.1f KiB/stream alloc, %.1f goroutines/stream\n",
      t2 - t0, (t2 - t0) * 1000 / d, lo, (li - oi) / k / 1024, (la - oa) / k / 1024, (lg - og) / k
    printf "   growth early->late: %+.1f KiB/stream in use, %+.1f KiB/stream alloc\n", (li - ei) / k / 1024, (la - ea) / k / 1024
  }' | tee -a "$summary_file"
growth=$((l_i - e_i))
[ "$e_open" -ge "$STREAMS" ] && [ "$l_open" -ge "$STREAMS" ] ||
  failures+=("only $e_open / $l_open of $STREAMS streams were in flight at the samples")
[ "$growth" -le $((STREAM_GROWTH_KB * 1024)) ] ||
  failures+=("heap in use grew by $(mib "$growth") while $STREAMS streams went on (> $STREAM_GROWTH_KB KiB)")

if [ ${#failures[@]} -gt 0 ]; then
  for f in "${failures[@]}"; do say "FAIL: $f"; done
  exit 1
fi
say "PASS"
