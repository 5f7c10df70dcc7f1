# Sourced by the benchmark scripts. bench_config prints the gateway config the
# benchmarks use: config/gateway.local.yaml plus a consumer "bench" (key
# sk-gw-bench-local-only) whose limits of every kind are enforced but high
# enough never to reject, so each request pays the whole quota path.
# QUOTA=redis swaps the in-memory store for Redis on 127.0.0.1:$REDIS_PORT;
# AUTO_PIPELINE=1 sends the quota scripts through go-redis's autopipeliner;
# PPROF=1 serves /debug/pprof/ on the admin listener.
bench_config() {
  local pprof=false
  [ "$PPROF" = 1 ] && pprof=true
  local pipeline=false
  [ "${AUTO_PIPELINE:-0}" = 1 ] && pipeline=true
  awk -v quota="$QUOTA" -v redis_port="$REDIS_PORT" -v pprof="$pprof" -v pipeline="$pipeline" '
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
      print "    auto_pipeline: " pipeline
      next
    }
    { print }' config/gateway.local.yaml
}
