package quota

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llm-gateway/gateway/internal/testredis"
)

// countingStore counts the Reserve calls that reach Redis.
type countingStore struct {
	*RedisStore
	reserves atomic.Int64
}

func (c *countingStore) Reserve(ctx context.Context, op ReserveOp) (ReserveResult, error) {
	c.reserves.Add(1)
	return c.RedisStore.Reserve(ctx, op)
}

// leaseWorld is one Redis namespace shared by any number of limiters (the
// replicas), each with leases on, all on one fake clock.
type leaseWorld struct {
	t      *testing.T
	client redis.UniversalClient
	prefix string
	clock  *fakeClock
	ids    func() string
}

var leaseWorlds atomic.Int64

func newLeaseWorld(t *testing.T) *leaseWorld {
	srv := testredis.Start(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { c.Close() })
	return &leaseWorld{t: t, client: c, prefix: "lease" + time.Now().Format("150405.000000") + ":",
		clock: newClock(base), ids: seqIDs()}
}

func (w *leaseWorld) replica(opts Options) (*Limiter, *countingStore) {
	rs, err := NewRedisStore(w.client, RedisStoreOptions{KeyPrefix: w.prefix})
	if err != nil {
		w.t.Fatal(err)
	}
	st := &countingStore{RedisStore: rs}
	opts.Leases.Enabled = true
	opts.NewID = w.ids
	if opts.ReservationTTL == 0 {
		opts.ReservationTTL = time.Minute
	}
	return newTestLimiter(w.t, st, w.clock, opts), st
}

// counts reads the subject's consumer scope straight from Redis.
func (w *leaseWorld) counts(s Subject) ScopeCounts {
	w.t.Helper()
	rs, _ := NewRedisStore(w.client, RedisStoreOptions{KeyPrefix: w.prefix})
	u, err := rs.Usage(context.Background(), UsageOp{Consumer: s.Consumer, Model: s.Model, Now: w.clock.Now()})
	if err != nil {
		w.t.Fatal(err)
	}
	return u.Consumer
}

// sweep ends the limiter's leases that aged out (all: every lease) and
// writes their settlements, which go through the usage queue.
func sweep(t *testing.T, l *Limiter, all bool) {
	t.Helper()
	l.sweepLeases(context.Background(), all)
	flush(t, l)
}

// flush writes the usage queue now.
func flush(t *testing.T, l *Limiter) {
	t.Helper()
	if err := l.flush(context.Background(), true); err != nil {
		t.Fatal(err)
	}
}

func admitOK(t *testing.T, l *Limiter, s Subject, tokens int64) *Reservation {
	t.Helper()
	r, d, err := l.AdmitAndReserve(context.Background(), s, tokens)
	if err != nil || !d.Allowed || r == nil {
		t.Fatalf("AdmitAndReserve: allowed %v, %v (%s)", d.Allowed, err, d.Message())
	}
	return r
}

func TestLeaseAdmitsManyRequestsPerStoreCall(t *testing.T) {
	w := newLeaseWorld(t)
	obs := newCountingObserver()
	l, st := w.replica(Options{Observer: obs})
	s := Subject{Consumer: "bulk", Limits: Limits{RequestsPerMinute: 100000, TokensPerMinute: 10_000_000,
		TokensPerDay: 100_000_000, TokensPerMonth: 1_000_000_000, MaxConcurrent: 10000}}

	// The first request goes alone (no counts to size a lease from); the
	// second takes a lease of 8 requests, the next 7 use it.
	var rs []*Reservation
	for range 9 {
		rs = append(rs, admitOK(t, l, s, 100))
	}
	if n := st.reserves.Load(); n != 2 {
		t.Fatalf("%d store reservations for 9 requests, want 2 (one alone, one lease of 8)", n)
	}
	c := w.counts(s)
	// Concurrency 10000: 9999 free after the first, a lease takes 8 of 624 slots.
	if c.Requests.Cur != 9 || c.Tokens.Cur != 100+8*100 || c.InFlight != 1+8 {
		t.Fatalf("store counts with the lease out: %+v, want 9 requests, 900 tokens, 9 slots", c)
	}
	// The lease ran out: the next request retires it (settled once its
	// requests end) and takes a bigger one.
	rs = append(rs, admitOK(t, l, s, 100))
	if n := st.reserves.Load(); n != 3 {
		t.Fatalf("%d store reservations after the lease ran out, want 3", n)
	}
	obs.mu.Lock()
	if obs.granted != 2 || obs.refused != 0 || obs.leased != 7 {
		t.Errorf("observed %d leases granted, %d refused, %d leased admissions; want 2, 0, 7", obs.granted, obs.refused, obs.leased)
	}
	obs.mu.Unlock()
	for _, r := range rs {
		if err := l.Reconcile(context.Background(), r, 40); err != nil {
			t.Fatal(err)
		}
	}
	// The second lease (16 requests, 1 used) ends after MaxAge.
	w.clock.Advance(1100 * time.Millisecond)
	sweep(t, l, false)
	c = w.counts(s)
	if c.Requests.Cur != 10 || c.Tokens.Cur != 10*40 || c.InFlight != 0 {
		t.Fatalf("store counts after every lease settled: %+v, want exactly 10 requests, 400 tokens, 0 in flight", c)
	}
}

func TestLeaseDecisionHeadersCountLocalAdmissions(t *testing.T) {
	w := newLeaseWorld(t)
	l, _ := w.replica(Options{})
	s := Subject{Consumer: "hdr", Limits: Limits{RequestsPerMinute: 10000, TokensPerMinute: 1_000_000}}
	admitOK(t, l, s, 10)
	var last int64 = 1 << 62
	for i := range 6 {
		_, d, err := l.AdmitAndReserve(context.Background(), s, 10)
		if err != nil || !d.Allowed {
			t.Fatal(err)
		}
		if d.Requests.Limit != 10000 || d.Requests.Remaining >= last {
			t.Fatalf("request %d: requests header %+v after remaining %d", i, d.Requests, last)
		}
		last = d.Requests.Remaining
	}
	if last != 10000-7 {
		t.Errorf("remaining after 7 requests = %d, want %d", last, 10000-7)
	}
}

// Replicas with leases together never admit more than a limit, and once
// their leases end the limit is reached exactly.
func TestLeasesNeverExceedALimitAcrossReplicas(t *testing.T) {
	w := newLeaseWorld(t)
	const limit = 400
	s := Subject{Consumer: "shared", Limits: Limits{RequestsPerMinute: limit, TokensPerDay: 1_000_000}}
	var ls []*Limiter
	for range 3 {
		l, _ := w.replica(Options{})
		ls = append(ls, l)
	}
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			l := ls[i%len(ls)]
			for range 60 {
				r, d, err := l.AdmitAndReserve(context.Background(), s, 5)
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allowed {
					admitted.Add(1)
					_ = l.Reconcile(context.Background(), r, 5)
				}
			}
		})
	}
	wg.Wait()
	if n := admitted.Load(); n > limit {
		t.Fatalf("admitted %d requests against a limit of %d", n, limit)
	}
	// Leases end; the spare credit comes back and the rest of the limit is
	// admitted one request at a time, exactly.
	w.clock.Advance(1100 * time.Millisecond)
	for _, l := range ls {
		sweep(t, l, false)
	}
	for i := 0; ; i++ {
		l := ls[i%len(ls)]
		r, d, err := l.AdmitAndReserve(context.Background(), s, 5)
		if err != nil {
			t.Fatal(err)
		}
		if !d.Allowed {
			break
		}
		admitted.Add(1)
		_ = l.Reconcile(context.Background(), r, 5)
		if i > 2*limit {
			t.Fatal("never denied")
		}
	}
	// Denied with credit still leased would show as fewer than the limit.
	for _, l := range ls {
		sweep(t, l, true)
	}
	if n, c := admitted.Load(), w.counts(s); n != limit || c.Requests.Cur != limit {
		t.Fatalf("admitted %d, store counts %d requests; want exactly %d", n, c.Requests.Cur, limit)
	}
}

// Under a concurrency limit a lease holds slots: requests in flight under it
// never exceed them, and they free when the lease ends.
func TestLeaseSlotsBoundRequestsInFlight(t *testing.T) {
	w := newLeaseWorld(t)
	l, _ := w.replica(Options{})
	s := Subject{Consumer: "conc", Limits: Limits{MaxConcurrent: 65}} // 64 free after one: 4 slots per lease
	first := admitOK(t, l, s, 1)
	var out []*Reservation
	for range 4 {
		out = append(out, admitOK(t, l, s, 1))
	}
	lease := out[0].lease
	if lease == nil || lease.slots != 4 || lease.requests != 8 || !lease.slotLimited {
		t.Fatalf("lease %+v, want 8 requests in 4 slots", lease)
	}
	if c := w.counts(s); c.InFlight != 1+4 {
		t.Fatalf("in flight in the store = %d, want 5", c.InFlight)
	}
	// All 4 slots are taken: the next request cannot use the lease.
	r := admitOK(t, l, s, 1)
	if r.lease == lease {
		t.Fatal("a fifth request in flight was admitted under a lease of 4 slots")
	}
	// One ends: its slot serves the next request under the same lease.
	_ = l.Reconcile(context.Background(), out[0], 1)
	if r2 := admitOK(t, l, s, 1); r2.lease != lease {
		t.Fatal("a freed slot of the lease was not reused")
	} else {
		out = append(out, r2)
	}
	for _, r := range append(out, first, r) {
		_ = l.Reconcile(context.Background(), r, 1)
	}
	w.clock.Advance(1100 * time.Millisecond)
	sweep(t, l, false)
	if c := w.counts(s); c.InFlight != 0 {
		t.Fatalf("in flight after the leases ended = %d, want 0", c.InFlight)
	}
}

// Near a limit no lease is taken: below 2*Share units of headroom each
// request is decided by the store alone.
func TestNoLeaseNearALimit(t *testing.T) {
	w := newLeaseWorld(t)
	l, st := w.replica(Options{})
	s := Subject{Consumer: "tight", Limits: Limits{RequestsPerMinute: 20}}
	for range 20 {
		admitOK(t, l, s, 1)
	}
	if n := st.reserves.Load(); n != 20 {
		t.Errorf("%d store calls for 20 requests against a limit of 20, want 20 (no leases)", n)
	}
	if _, d, _ := l.AdmitAndReserve(context.Background(), s, 1); d.Allowed {
		t.Error("21st request admitted")
	}
}

func TestLeaseEndsWithItsMinute(t *testing.T) {
	w := newLeaseWorld(t)
	w.clock.Set(base.Truncate(time.Minute).Add(59*time.Second + 500*time.Millisecond))
	l, st := w.replica(Options{Leases: LeaseOptions{MaxAge: 10 * time.Second}})
	s := Subject{Consumer: "edge", Limits: Limits{RequestsPerMinute: 100000}}
	admitOK(t, l, s, 1)
	r := admitOK(t, l, s, 1) // takes a lease in this minute
	if r.lease == nil {
		t.Fatal("no lease")
	}
	w.clock.Advance(600 * time.Millisecond) // next minute
	r2 := admitOK(t, l, s, 1)
	if r2.lease == r.lease {
		t.Fatal("a lease of the previous minute admitted a request of this one")
	}
	if n := st.reserves.Load(); n != 3 {
		t.Errorf("%d store calls, want 3", n)
	}
}

func TestCloseSettlesLeases(t *testing.T) {
	w := newLeaseWorld(t)
	l, _ := w.replica(Options{BackgroundUsage: true})
	s := Subject{Consumer: "bye", Limits: Limits{RequestsPerMinute: 100000, TokensPerDay: 1_000_000}}
	for range 3 {
		r := admitOK(t, l, s, 50)
		_ = l.Reconcile(context.Background(), r, 20)
	}
	inFlight := admitOK(t, l, s, 50)
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The request still in flight holds the lease; its end settles it.
	if err := l.Reconcile(context.Background(), inFlight, 20); err != nil {
		t.Fatal(err)
	}
	if c := w.counts(s); c.Requests.Cur != 4 || c.Day != 4*20 || c.InFlight != 0 {
		t.Fatalf("after close: %+v, want 4 requests, 80 tokens, nothing in flight", c)
	}
	// A closed limiter takes no new leases.
	r := admitOK(t, l, s, 50)
	if r.lease != nil {
		t.Error("a closed limiter admitted under a lease")
	}
}

// Requests arriving while a lease call is out wait for it instead of each
// calling the store.
func TestConcurrentRequestsShareLeaseCalls(t *testing.T) {
	w := newLeaseWorld(t)
	l, st := w.replica(Options{BackgroundUsage: true})
	s := Subject{Consumer: "busy", Limits: Limits{RequestsPerMinute: 1 << 40, TokensPerDay: 1 << 50, MaxConcurrent: 1 << 20}}
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 100 {
				r := admitOK(t, l, s, 10)
				_ = l.Reconcile(context.Background(), r, 10)
			}
		})
	}
	wg.Wait()
	// Leases of 8, 16, ... 1024 requests cover 1,600 in about ten calls.
	if n := st.reserves.Load(); n > 100 {
		t.Errorf("%d store calls for 1600 concurrent requests", n)
	}
	t.Logf("%d store calls for 1600 concurrent requests", st.reserves.Load())
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c := w.counts(s); c.Requests.Cur != 1600 || c.Day != 16000 || c.InFlight != 0 {
		t.Fatalf("after close: %+v, want 1600 requests, 16000 tokens, nothing in flight", c)
	}
}

// A lease that stops admitting while requests still run under it gives back
// at once what it did not use (requests, tokens beyond the running requests'
// estimates, idle slots); the rest follows when the last request ends.
func TestLeaseRetiredWithRequestsRunningSettlesInTwoSteps(t *testing.T) {
	w := newLeaseWorld(t)
	l, _ := w.replica(Options{})
	s := Subject{Consumer: "long", Limits: Limits{RequestsPerMinute: 100000, TokensPerDay: 1_000_000, MaxConcurrent: 1000}}
	first := admitOK(t, l, s, 100)
	_ = l.Reconcile(context.Background(), first, 50)
	var rs []*Reservation
	for range 5 {
		rs = append(rs, admitOK(t, l, s, 100)) // one lease of 8 requests, 800 tokens, 8 slots
	}
	if rs[0].lease == nil || rs[0].lease != rs[4].lease {
		t.Fatal("not admitted under one lease")
	}
	for _, r := range rs[:3] {
		_ = l.Reconcile(context.Background(), r, 30)
	}
	// The lease ages out with two requests running.
	w.clock.Advance(1100 * time.Millisecond)
	sweep(t, l, false)
	c := w.counts(s)
	if c.Requests.Cur != 1+5 || c.Day != 50+3*30+2*100 || c.InFlight != 2 {
		t.Fatalf("partly settled: %+v, want 6 requests, 340 tokens (3 finished, 2 estimated), 2 in flight", c)
	}
	for _, r := range rs[3:] {
		_ = l.Reconcile(context.Background(), r, 30)
	}
	flush(t, l)
	if c := w.counts(s); c.Requests.Cur != 6 || c.Day != 50+5*30 || c.InFlight != 0 {
		t.Fatalf("settled: %+v, want 6 requests, 200 tokens, nothing in flight", c)
	}
}

// A lease's record lives a reservation TTL past the lease's last admission,
// however short the TTL: its slots and tokens stay counted while it admits.
func TestLeaseRecordOutlivesItsAdmissions(t *testing.T) {
	w := newLeaseWorld(t)
	l, _ := w.replica(Options{ReservationTTL: 2 * time.Second, Leases: LeaseOptions{MaxAge: 20 * time.Second}})
	s := Subject{Consumer: "ttl", Limits: Limits{MaxConcurrent: 65}}
	_ = admitOK(t, l, s, 1)
	r := admitOK(t, l, s, 1)
	if r.lease == nil {
		t.Fatal("no lease")
	}
	w.clock.Advance(3 * time.Second) // past the TTL, within MaxAge
	// The first request's own reservation expired; the lease's 4 slots hold.
	if c := w.counts(s); c.InFlight != 4 {
		t.Fatalf("in flight in the store after the TTL = %d, want the lease's 4", c.InFlight)
	}
}

// An idle subject is forgotten; the next request gets a fresh one and leases
// work as before.
func TestIdleSubjectForgotten(t *testing.T) {
	w := newLeaseWorld(t)
	l, _ := w.replica(Options{})
	s := Subject{Consumer: "idle", Limits: Limits{RequestsPerMinute: 100000}}
	for range 3 {
		r := admitOK(t, l, s, 1)
		_ = l.Reconcile(context.Background(), r, 1)
	}
	old := l.leases.lockSubject(&s)
	old.mu.Unlock()
	w.clock.Advance(5 * time.Second)
	sweep(t, l, false) // retires the lease
	w.clock.Advance(11 * time.Second)
	sweep(t, l, false) // forgets the subject
	l.leases.mu.Lock()
	n := len(l.leases.subs)
	l.leases.mu.Unlock()
	if n != 0 || !old.gone {
		t.Fatalf("%d subjects kept, gone %v; want the idle one forgotten", n, old.gone)
	}
	for range 3 {
		r := admitOK(t, l, s, 1)
		_ = l.Reconcile(context.Background(), r, 1)
	}
	if sub := l.leases.lockSubject(&s); sub == old {
		t.Error("a forgotten subject was used again")
	} else {
		sub.mu.Unlock()
	}
	sweep(t, l, true)
	if c := w.counts(s); c.Requests.Cur != 6 || c.InFlight != 0 {
		t.Fatalf("%+v, want 6 requests, nothing in flight", c)
	}
}

// Leases of a subject with a model scope count in both scopes and respect
// the tighter one.
func TestLeaseWithModelScope(t *testing.T) {
	w := newLeaseWorld(t)
	l, st := w.replica(Options{})
	s := Subject{Consumer: "team", Model: "big",
		Limits: Limits{RequestsPerMinute: 100000}, ModelLimits: Limits{RequestsPerMinute: 100, MaxConcurrent: 200}}
	var rs []*Reservation
	for range 5 {
		rs = append(rs, admitOK(t, l, s, 1))
	}
	// Model scope: 99 requests left after the first → leases of at most 6;
	// 199 slots free → 12 slots.
	ls := rs[1].lease
	if ls == nil || ls.requests != 6 || ls.slots != 6 {
		t.Fatalf("lease %+v, want 6 requests in 6 slots (1/16 of the model's headroom)", ls)
	}
	for _, r := range rs {
		_ = l.Reconcile(context.Background(), r, 1)
	}
	sweep(t, l, true)
	u, err := st.Usage(context.Background(), UsageOp{Consumer: "team", Model: "big", Now: w.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if u.Consumer.Requests.Cur != 5 || u.Model.Requests.Cur != 5 || u.Model.InFlight != 0 {
		t.Fatalf("%+v, want 5 requests in both scopes, nothing in flight", u)
	}
}

// lostAnswerStore runs a lease's Reserve in Redis and then reports a lost
// answer, as a timeout after the script ran would.
type lostAnswerStore struct {
	*RedisStore
	lose atomic.Bool
}

func (s *lostAnswerStore) Reserve(ctx context.Context, op ReserveOp) (ReserveResult, error) {
	res, err := s.RedisStore.Reserve(ctx, op)
	if err == nil && op.Requests > 1 && s.lose.Load() {
		return ReserveResult{}, context.DeadlineExceeded
	}
	return res, err
}

// A lease granted in Redis whose answer was lost is released: nothing stays
// counted for it. Under FailOpen the request itself is decided by the local
// fallback, without a lease.
func TestLeaseWithLostAnswerIsReleased(t *testing.T) {
	for _, policy := range []FailurePolicy{FailClosed, FailOpen} {
		t.Run(map[FailurePolicy]string{FailClosed: "closed", FailOpen: "open"}[policy], func(t *testing.T) {
			w := newLeaseWorld(t)
			rs, err := NewRedisStore(w.client, RedisStoreOptions{KeyPrefix: w.prefix})
			if err != nil {
				t.Fatal(err)
			}
			st := &lostAnswerStore{RedisStore: rs}
			l := newTestLimiter(t, st, w.clock, Options{FailurePolicy: policy, NewID: w.ids,
				Leases: LeaseOptions{Enabled: true}})
			s := Subject{Consumer: fmt.Sprint("lost-", policy), Limits: Limits{RequestsPerMinute: 100000, TokensPerDay: 1_000_000, MaxConcurrent: 1000}}
			first := admitOK(t, l, s, 10)
			_ = l.Reconcile(context.Background(), first, 10)
			st.lose.Store(true)
			r, d, err := l.AdmitAndReserve(context.Background(), s, 10)
			switch policy {
			case FailClosed:
				if !errors.Is(err, ErrUnavailable) || r != nil {
					t.Fatalf("lost lease answer: %v, %v; want ErrUnavailable", r, err)
				}
			case FailOpen:
				if err != nil || !d.Allowed || !d.Local || r == nil || r.lease != nil {
					t.Fatalf("lost lease answer under FailOpen: %+v, %v; want a local decision without a lease", r, err)
				}
				_ = l.Reconcile(context.Background(), r, 10)
			}
			flush(t, l)
			// Only the first request is counted in Redis: the lease's 8
			// requests, 80 tokens and slots were given back.
			if c := w.counts(s); c.Requests.Cur != 1 || c.Day != 10 || c.InFlight != 0 {
				t.Fatalf("after the release: %+v, want 1 request, 10 tokens, nothing in flight", c)
			}
		})
	}
}

// A change of the subject's limits (a config reload) ends its lease: the
// next request is decided against the new limits.
func TestLeaseEndsWhenLimitsChange(t *testing.T) {
	w := newLeaseWorld(t)
	l, st := w.replica(Options{})
	s := Subject{Consumer: "reload", Limits: Limits{RequestsPerMinute: 100000}}
	admitOK(t, l, s, 1)
	r := admitOK(t, l, s, 1)
	if r.lease == nil {
		t.Fatal("no lease")
	}
	// Under the new limit the next request is decided in Redis, not from the
	// old lease's credit. The old lease is settled at that moment (its spare
	// credit returned by the background flusher, before or after that
	// decision: both are right), so the decision itself may go either way.
	s.Limits.RequestsPerMinute = 3
	before := st.reserves.Load()
	_, d, err := l.AdmitAndReserve(context.Background(), s, 1)
	if err != nil {
		t.Fatal(err)
	}
	if st.reserves.Load() == before {
		t.Fatal("admitted from the lease of the old limits, without asking Redis")
	}
	admitted := 2 // before the change
	if d.Allowed {
		admitted++
	}
	_ = l.Reconcile(context.Background(), r, 1)
	flush(t, l) // the old lease's spare credit is back
	for range 3 {
		if _, d, err := l.AdmitAndReserve(context.Background(), s, 1); err == nil && d.Allowed {
			admitted++
		}
	}
	if admitted != 3 {
		t.Fatalf("%d requests admitted in the minute, limit 3", admitted)
	}
}
