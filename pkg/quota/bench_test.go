package quota

import (
	"context"
	"sync/atomic"
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

// BenchmarkAdmitReserveReconcile measures the quota work of one request:
// admission at request headers, reservation at request body, reconciliation
// at the end, with every limit set and a model scope (the most keys).
func BenchmarkAdmitReserveReconcile(b *testing.B) {
	srv := testredis.Start(b)
	hook := &roundTrips{}
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1})
	client.AddHook(hook)
	b.Cleanup(func() { client.Close() })
	redisStore, err := NewRedisStore(client, RedisStoreOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		store Store
	}{{"redis", redisStore}, {"memory", NewMemoryStore()}} {
		l := newTestLimiter(b, c.store, nil, Options{Timeout: time.Second})
		ctx := context.Background()
		request := func() {
			if _, err := l.AdmitRequest(ctx, benchSubject); err != nil {
				b.Fatal(err)
			}
			r, d, err := l.Reserve(ctx, benchSubject, 1500)
			if err != nil || !d.Allowed {
				b.Fatal(err, d.Message())
			}
			if err := l.Reconcile(ctx, r, 700); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(c.name+"/serial", func(b *testing.B) {
			request() // load the scripts
			hook.n.Store(0)
			b.ReportAllocs()
			for b.Loop() {
				request()
			}
			b.ReportMetric(float64(hook.n.Load())/float64(b.N), "roundtrips/op")
		})
		b.Run(c.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					request()
				}
			})
		})
	}
}
