package quota

import (
	"context"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llm-gateway/gateway/internal/testredis"
)

// roundTrips counts commands and pipelines sent to Redis.
type roundTrips struct{ n atomic.Int64 }

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

var benchSubject = Subject{
	Consumer: "bench", Model: "gpt-x",
	Limits:      Limits{RequestsPerMinute: 1 << 40, TokensPerMinute: 1 << 50, TokensPerDay: 1 << 50, TokensPerMonth: 1 << 50, MaxConcurrent: 1 << 20},
	ModelLimits: Limits{RequestsPerMinute: 1 << 40, TokensPerMinute: 1 << 50},
}

// BenchmarkRequestQuota measures the quota work of one gateway request:
// AdmitAndReserve once the body is read, Reconcile at the end, with every
// limit set and a model scope (the most keys), on Redis and in memory.
// "cpu-ns/op" is this process's CPU per request; "roundtrips/op" counts
// commands and pipelines sent.
func BenchmarkRequestQuota(b *testing.B) {
	srv := testredis.Start(b)
	stores := []struct {
		name  string
		store func(*roundTrips) Store
		opts  Options
	}{
		{"redis", func(h *roundTrips) Store { return benchRedisStore(b, srv, h) }, Options{}},
		{"redis-leases", func(h *roundTrips) Store { return benchRedisStore(b, srv, h) },
			Options{Leases: LeaseOptions{Enabled: true}, BackgroundUsage: true}},
		{"memory", func(*roundTrips) Store { return NewMemoryStore() }, Options{}},
	}
	for _, c := range stores {
		hook := &roundTrips{}
		c.opts.Timeout = time.Second
		l := newTestLimiter(b, c.store(hook), nil, c.opts)
		ctx := context.Background()
		request := func() {
			r, d, err := l.AdmitAndReserve(ctx, benchSubject, 1500)
			if err != nil || !d.Allowed {
				b.Fatal(err, d.Message())
			}
			if err := l.Reconcile(ctx, r, 700); err != nil {
				b.Fatal(err)
			}
		}
		measure := func(b *testing.B, run func()) {
			request() // load the scripts
			hook.n.Store(0)
			b.ReportAllocs()
			cpu := processCPU(b)
			run()
			b.ReportMetric(float64(processCPU(b)-cpu)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(hook.n.Load())/float64(b.N), "roundtrips/op")
		}
		b.Run(c.name+"/serial", func(b *testing.B) {
			measure(b, func() {
				for b.Loop() {
					request()
				}
			})
		})
		b.Run(c.name+"/parallel", func(b *testing.B) {
			b.SetParallelism(16) // requests in flight per core, as under load
			measure(b, func() {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						request()
					}
				})
			})
		})
	}
}

// processCPU is this process's user+system CPU time in nanoseconds: what the
// sidecar pays per request, which wall time per op (shared with redis-server
// on the same cores) does not show.
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// benchRedisStore is a store over its own client, counting round trips.
func benchRedisStore(b *testing.B, srv *testredis.Server, hook *roundTrips) Store {
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1, DialerRetries: 1})
	client.AddHook(hook)
	b.Cleanup(func() { client.Close() })
	store, err := NewRedisStore(client, RedisStoreOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return store
}
