# Sourced by the benchmark scripts. bench_config prints the gateway config the
# benchmarks use: config/gateway.local.yaml plus a consumer "bench" (key
# sk-gw-bench-local-only) whose limits of every kind are enforced but high
# enough never to reject, so each request pays the whole quota path.
# QUOTA=redis swaps the in-memory store for Redis on 127.0.0.1:$REDIS_PORT;
# LEASES=0 turns quota leases off (they are on by default: most requests
# admitted from credit leased ahead, see docs/configuration.md); PPROF=1 serves /debug/pprof/ on the admin listener. Below bench_config: the
# shell helpers the scripts share (ports, process cleanup, readiness, Redis).
# The gateway as the Makefile and the Dockerfile build it (pkg/protocodec).
case " ${GOFLAGS:-} " in
  *vtprotobuf*) ;;
  *) export GOFLAGS="-tags=vtprotobuf${GOFLAGS:+ $GOFLAGS}" ;;
esac

bench_config() {
  local pprof=false
  [ "$PPROF" = 1 ] && pprof=true
  awk -v quota="$QUOTA" -v redis_port="$REDIS_PORT" -v pprof="$pprof" -v leases="${LEASES:-1}" '
    /^  admin_listen:/ { print; print "  pprof: " pprof; next }
    /^consumers:/ {
      print
      print "  - id: bench"
      print "    key_sha256: [\"6fc55bd08f544867b00388ac60b1e14b978c8d81425155d66510912d5a6a2499\"]"
      print "    models: [\"*\"]"
      print "    limits:"
      print "      requests_per_minute: 100000000"
      print "      tokens_per_minute: 100000000000"
      print "      tokens_per_day: 1000000000000"
      print "      tokens_per_month: 10000000000000"
      print "      max_concurrent: 100000"
      next
    }
    /^  store: memory$/ && quota == "redis" {
      print "  store: redis"
      print "  redis:"
      print "    addrs: [\"127.0.0.1:" redis_port "\"]"
      print "    key_prefix: \"bench:\""
      if (leases == "0") print "  leases: {enabled: false}"
      next
    }
    { print }' config/gateway.local.yaml
}

# --- helpers shared by the benchmark scripts ---

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
picked=" "
# pick_port VAR DEFAULT: VAR keeps a port given in the environment (which
# must be free), else the first free port from DEFAULT up.
pick_port() {
  local var=$1 p=${!1:-}
  if [ -n "$p" ]; then
    if port_open "$p"; then echo "$var=$p: 127.0.0.1:$p is already in use" >&2; exit 1; fi
  else
    p=$2
    while port_open "$p" || [[ $picked == *" $p "* ]]; do p=$((p + 1)); done
  fi
  picked+="$p "
  printf -v "$var" '%s' "$p"
}

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_until() { # name log command...
  local name=$1 log=$2
  shift 2
  for _ in $(seq 1 100); do
    "$@" && return 0
    sleep 0.1
  done
  echo "$name did not become ready; see $log" >&2
  tail -n 20 "$log" >&2 || true
  exit 1
}
http_ok() { curl -fsS -o /dev/null "$1" 2>/dev/null; }

# start_redis NAME: a throwaway redis-server on $REDIS_PORT (no persistence),
# logging to $LOGS/NAME-redis.log; sets redis_pid.
start_redis() {
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --logfile "$(pwd)/$LOGS/$1-redis.log" &
  redis_pid=$!
  pids+=("$redis_pid")
  wait_until redis "$LOGS/$1-redis.log" port_open "$REDIS_PORT"
}
