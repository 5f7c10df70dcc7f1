package quota

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llm-gateway/gateway/internal/testredis"
)

// backgroundLimiter is a limiter over real Redis with BackgroundUsage on,
// whose client counts round trips.
func backgroundLimiter(t *testing.T, srv *testredis.Server, timeout time.Duration) (*Limiter, *roundTrips) {
	t.Helper()
	hook := &roundTrips{}
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1, DialerRetries: 1})
	client.AddHook(hook)
	t.Cleanup(func() { client.Close() })
	store, err := NewRedisStore(client, RedisStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return newTestLimiter(t, store, nil, Options{BackgroundUsage: true, Timeout: timeout,
		Breaker: BreakerOptions{FailureThreshold: 3, Delay: 100 * time.Millisecond}}), hook
}

// TestBackgroundUsageIsExactAndBatched: reconciliations written by the
// flusher land exactly (every actual token counted once, every reservation
// settled) and share round trips.
func TestBackgroundUsageIsExactAndBatched(t *testing.T) {
	srv := testredis.Start(t)
	l, hook := backgroundLimiter(t, srv, time.Second)
	ctx := t.Context()
	s := Subject{Consumer: "bg", Limits: Limits{TokensPerDay: 1 << 40}}
	const n = 400
	res := make([]*Reservation, n)
	for i := range res {
		r, d, err := l.AdmitAndReserve(ctx, s, 1000)
		if err != nil || !d.Allowed {
			t.Fatalf("reserve %d: %v %s", i, err, d.Message())
		}
		res[i] = r
	}
	hook.n.Store(0)
	var wg sync.WaitGroup
	for i, r := range res {
		wg.Go(func() {
			if err := l.Reconcile(context.Background(), r, int64(i%7)); err != nil {
				t.Errorf("reconcile %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	var want int64
	for i := range n {
		want += int64(i % 7)
	}
	waitFor(t, 5*time.Second, "background usage to be written", func() bool {
		u, err := l.Usage(ctx, s)
		return err == nil && u.Usage.TokensPerDay.Used == want && u.Usage.Concurrent.Used == 0
	})
	// One usage read per poll plus the writes: far fewer than one per reservation.
	if trips := hook.n.Load(); trips >= n/2 {
		t.Errorf("%d round trips for %d background reconciliations; want batches", trips, n)
	}
	t.Logf("%d reconciliations in %d round trips (including usage polls)", n, hook.n.Load())
}

// TestBackgroundUsageFreesSlotsAtOnce: a reservation under a concurrency
// limit is reconciled before Reconcile returns, so a client that sends its
// next request right after a response is not refused for a slot that is
// about to be freed.
func TestBackgroundUsageFreesSlotsAtOnce(t *testing.T) {
	srv := testredis.Start(t)
	l, _ := backgroundLimiter(t, srv, time.Second)
	ctx := t.Context()
	s := Subject{Consumer: "seq", Limits: Limits{MaxConcurrent: 1}}
	for i := range 20 {
		r, d, err := l.AdmitAndReserve(ctx, s, 10)
		if err != nil || !d.Allowed {
			t.Fatalf("request %d refused right after the previous one ended: %v %s", i, err, d.Message())
		}
		if err := l.Reconcile(ctx, r, 5); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBackgroundUsageSurvivesAnOutage: usage queued while Redis hangs (its
// batches time out, may or may not have been applied, and are retried) is
// written once it is back, each exactly once.
func TestBackgroundUsageSurvivesAnOutage(t *testing.T) {
	srv := testredis.Start(t)
	l, _ := backgroundLimiter(t, srv, 50*time.Millisecond)
	ctx := t.Context()
	s := Subject{Consumer: "outage", Limits: Limits{TokensPerDay: 1 << 40}}
	var res []*Reservation
	for range 50 {
		r, _, err := l.AdmitAndReserve(ctx, s, 100)
		if err != nil {
			t.Fatal(err)
		}
		res = append(res, r)
	}
	srv.Pause()
	for _, r := range res {
		if err := l.Reconcile(context.Background(), r, 3); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond) // batches time out and are retried
	srv.Resume()
	waitFor(t, 10*time.Second, "queued usage to be written after the outage", func() bool {
		u, err := l.Usage(ctx, s)
		return err == nil && u.Usage.TokensPerDay.Used == 150 && u.Usage.Concurrent.Used == 0
	})
}
