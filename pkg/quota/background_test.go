package quota

import (
	"context"
	"fmt"
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
	start := time.Now()
	for _, r := range res {
		if err := l.Reconcile(context.Background(), r, 3); err != nil {
			t.Fatal(err)
		}
	}
	// Queued, not written on the caller's goroutine (which would wait out the
	// timeout on the hung server).
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("50 reconciliations took %v while Redis hangs; want them queued", d)
	}
	time.Sleep(300 * time.Millisecond) // batches time out and are retried
	srv.Resume()
	waitFor(t, 10*time.Second, "queued usage to be written after the outage", func() bool {
		u, err := l.Usage(ctx, s)
		return err == nil && u.Usage.TokensPerDay.Used == 150 && u.Usage.Concurrent.Used == 0
	})
}

// rejectingStore refuses the reconciliation of one reservation, as Redis
// would answer a script error, and passes everything else to a RedisStore.
type rejectingStore struct {
	*RedisStore
	bad string
}

func (s rejectingStore) ReconcileAll(ctx context.Context, ops []ReconcileOp) []error {
	var sent []ReconcileOp
	var at []int
	errs := make([]error, len(ops))
	for i, op := range ops {
		if op.ID == s.bad {
			errs[i] = fmt.Errorf("%w: ERR script failed", ErrStoreRejected)
			continue
		}
		sent, at = append(sent, op), append(at, i)
	}
	for j, err := range s.RedisStore.ReconcileAll(ctx, sent) {
		errs[at[j]] = err
	}
	return errs
}

// TestRejectedUsageWriteDoesNotBlockTheQueue: a write the store refuses for
// good is dropped (and counted), and every other write of its batch lands.
func TestRejectedUsageWriteDoesNotBlockTheQueue(t *testing.T) {
	srv := testredis.Start(t)
	rs, err := NewRedisStore(srv.Client(), RedisStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	store := &rejectingStore{RedisStore: rs}
	obs := newCountingObserver()
	l := newTestLimiter(t, store, nil, Options{BackgroundUsage: true, Timeout: time.Second, Observer: obs})
	ctx := t.Context()
	s := Subject{Consumer: "rejects", Limits: Limits{TokensPerDay: 1 << 40}}
	var res []*Reservation
	for range 30 {
		r, _, err := l.AdmitAndReserve(ctx, s, 100)
		if err != nil {
			t.Fatal(err)
		}
		res = append(res, r)
	}
	store.bad = res[7].ID()
	var wg sync.WaitGroup
	for _, r := range res {
		wg.Go(func() { l.Reconcile(context.Background(), r, 2) })
	}
	wg.Wait()
	// 29 reservations settled at 2 tokens; the refused one keeps its 100
	// reserved until it expires.
	waitFor(t, 5*time.Second, "the other writes to land", func() bool {
		u, err := l.Usage(ctx, s)
		return err == nil && u.Usage.TokensPerDay.Used == 29*2+100 && u.Usage.Concurrent.Used == 1
	})
	// The drop is counted once the batch's results are read, just after the
	// writes landed.
	waitFor(t, 5*time.Second, "the refused write to be dropped", func() bool {
		_, _, dropped := obs.snapshot()
		return dropped == 1
	})
	flush(t, l)
	if _, _, dropped := obs.snapshot(); dropped != 1 {
		t.Errorf("dropped %d writes, want the refused one", dropped)
	}
}

// TestReconcileAfterCloseStillWrites: a stream that ends during shutdown,
// after the queue closed, has its usage written directly, not dropped.
func TestReconcileAfterCloseStillWrites(t *testing.T) {
	srv := testredis.Start(t)
	l, _ := backgroundLimiter(t, srv, time.Second)
	ctx := t.Context()
	s := Subject{Consumer: "late", Limits: Limits{TokensPerDay: 1 << 40}}
	r, _, err := l.AdmitAndReserve(ctx, s, 100)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Reconcile(ctx, r, 7); err != nil {
		t.Fatalf("reconcile after close: %v", err)
	}
	if u, err := l.Usage(ctx, s); err != nil || u.Usage.TokensPerDay.Used != 7 {
		t.Errorf("usage after a reconcile following close: %+v, %v", u.Usage.TokensPerDay, err)
	}
}
