package quota

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/llm-gateway/gateway/internal/testredis"
)

// outageLimiter is a limiter over a real redis-server with production-like
// bounds: a 50ms timeout and a breaker that opens after three failures.
func outageLimiter(t *testing.T, srv *testredis.Server, policy FailurePolicy, obs Observer, tweak func(*Options)) *Limiter {
	t.Helper()
	store, err := NewRedisStore(srv.Client(), RedisStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{FailurePolicy: policy, Timeout: 50 * time.Millisecond, Observer: obs,
		Breaker: BreakerOptions{FailureThreshold: 3, Delay: 200 * time.Millisecond}}
	if tweak != nil {
		tweak(&opts)
	}
	return newTestLimiter(t, store, nil, opts)
}

var rpm3 = Subject{Consumer: "team-a", Limits: Limits{RequestsPerMinute: 3, TokensPerDay: 1000}}

// TestFailClosedIsFast checks both outage shapes: a dead server (refused
// connections) and a hung one (SIGSTOP: only timeouts notice). No call may
// wait longer than the timeout, and once the breaker opens calls return at
// once. When Redis is back, half-open probes close the breaker.
func TestFailClosedIsFast(t *testing.T) {
	for _, outage := range []string{"killed", "paused"} {
		t.Run(outage, func(t *testing.T) {
			srv := testredis.Start(t)
			obs := newCountingObserver()
			l := outageLimiter(t, srv, FailClosed, obs, nil)
			ctx := t.Context()
			if _, err := l.AdmitRequest(ctx, rpm3); err != nil {
				t.Fatalf("healthy admit: %v", err)
			}
			if outage == "killed" {
				srv.Kill()
			} else {
				srv.Pause()
			}
			var slowest time.Duration
			for i := range 10 {
				start := time.Now()
				_, err := l.AdmitRequest(ctx, rpm3)
				took := time.Since(start)
				slowest = max(slowest, took)
				if !errors.Is(err, ErrUnavailable) {
					t.Fatalf("call %d: err %v, want ErrUnavailable", i, err)
				}
				if i >= 3 && took > 5*time.Millisecond {
					t.Errorf("call %d took %v with the breaker open; want immediate", i, took)
				}
			}
			// The bound is the timeout plus scheduling; the slack absorbs CPU
			// contention on shared test machines, far below go-redis's own
			// 3s read and 5s dial timeouts that an unbounded call would hit.
			t.Logf("slowest failing call: %v (timeout 50ms)", slowest)
			if slowest > 200*time.Millisecond {
				t.Errorf("a call waited %v, far beyond the 50ms timeout", slowest)
			}
			if states, _, _ := obs.snapshot(); !strings.Contains(states, "open") || l.StoreAvailable() {
				t.Errorf("breaker states %q, available %v; want open", states, l.StoreAvailable())
			}
			if outage == "killed" {
				srv.Restart()
			} else {
				srv.Resume()
			}
			waitFor(t, 10*time.Second, "breaker to close after recovery", func() bool {
				_, err := l.AdmitRequest(ctx, rpm3)
				return err == nil && l.StoreAvailable()
			})
		})
	}
}

func TestFailOpenUsesLocalLimits(t *testing.T) {
	srv := testredis.Start(t)
	obs := newCountingObserver()
	l := outageLimiter(t, srv, FailOpen, obs, nil)
	ctx := t.Context()
	srv.Kill()
	for i := range 3 {
		d, err := l.AdmitRequest(ctx, rpm3)
		if err != nil || !d.Allowed || !d.Local {
			t.Fatalf("admit %d: %+v, %v; want allowed locally", i+1, d, err)
		}
	}
	d, err := l.AdmitRequest(ctx, rpm3)
	if err != nil || d.Allowed || !d.Local || d.Period != PeriodMinute {
		t.Fatalf("4th admit: %+v, %v; want denied locally", d, err)
	}
	r, d, err := l.Reserve(ctx, rpm3, 900)
	if err != nil || r == nil || !d.Local {
		t.Fatalf("local reserve: %+v, %v", d, err)
	}
	if _, d, _ := l.Reserve(ctx, rpm3, 200); d.Allowed {
		t.Error("local day budget not enforced")
	}
	if err := l.Reconcile(ctx, r, 100); err != nil {
		t.Fatalf("local reconcile: %v", err)
	}
	if _, d, _ := l.Reserve(ctx, rpm3, 200); !d.Allowed {
		t.Errorf("local reconcile did not free tokens: %s", d.Message())
	}
	u, err := l.Usage(ctx, rpm3)
	if err != nil || !u.Local || u.Usage.TokensPerDay.Used != 300 {
		t.Errorf("local usage: %+v, %v", u, err)
	}
	if obs.fallbacks[OpCountRequest] != 4 || obs.fallbacks[OpReserve] != 3 {
		t.Errorf("fallbacks counted: %v", obs.fallbacks)
	}
	if _, depth, _ := obs.snapshot(); depth != 0 {
		t.Errorf("local reconciliations were queued for Redis: depth %d", depth)
	}
}

func usageDay(t *testing.T, l *Limiter, s Subject) (day, inFlight int64) {
	t.Helper()
	var u UsageReport
	waitFor(t, 10*time.Second, "usage to be readable", func() bool {
		var err error
		u, err = l.Usage(t.Context(), s)
		return err == nil
	})
	return u.Usage.TokensPerDay.Used, u.Usage.Concurrent.Used
}

func TestPendingUsageWrittenAfterRestart(t *testing.T) {
	srv := testredis.Start(t)
	obs := newCountingObserver()
	l := outageLimiter(t, srv, FailClosed, obs, nil)
	r, _, err := l.Reserve(t.Context(), rpm3, 500)
	if err != nil || r == nil {
		t.Fatalf("reserve: %v", err)
	}
	srv.Kill()
	if err := l.Reconcile(context.Background(), r, 123); err != nil {
		t.Fatalf("reconcile while Redis is down: %v (want queued)", err)
	}
	if _, depth, _ := obs.snapshot(); depth != 1 {
		t.Fatalf("pending depth %d, want 1", depth)
	}
	srv.Restart() // empty: the reservation is gone, the usage must still land
	waitFor(t, 10*time.Second, "queue to drain", func() bool { _, d, _ := obs.snapshot(); return d == 0 })
	if day, inFlight := usageDay(t, l, rpm3); day != 123 || inFlight != 0 {
		t.Errorf("after restart: day %d, in flight %d; want 123, 0", day, inFlight)
	}
}

// TestPausedRedisNeitherLeaksNorDoubleCounts sends a reconciliation and a
// reservation into a hung Redis. Both time out, yet Redis may run them when
// it resumes. The retried reconciliation must not count twice and the
// reservation nobody got must be released.
func TestPausedRedisNeitherLeaksNorDoubleCounts(t *testing.T) {
	srv := testredis.Start(t)
	obs := newCountingObserver()
	l := outageLimiter(t, srv, FailClosed, obs, nil)
	ctx := t.Context()
	r, _, err := l.Reserve(ctx, rpm3, 500)
	if err != nil || r == nil {
		t.Fatalf("reserve: %v", err)
	}
	srv.Pause()
	if err := l.Reconcile(ctx, r, 40); err != nil {
		t.Fatalf("reconcile into a paused Redis: %v", err)
	}
	if _, _, err := l.Reserve(ctx, rpm3, 300); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("reserve into a paused Redis: %v, want ErrUnavailable", err)
	}
	if _, depth, _ := obs.snapshot(); depth != 2 {
		t.Fatalf("pending depth %d, want 2 (reconcile + release)", depth)
	}
	srv.Resume()
	waitFor(t, 10*time.Second, "queue to drain", func() bool { _, d, _ := obs.snapshot(); return d == 0 })
	if day, inFlight := usageDay(t, l, rpm3); day != 40 || inFlight != 0 {
		t.Errorf("after resume: day %d, in flight %d; want 40, 0", day, inFlight)
	}
}

func TestCloseFlushes(t *testing.T) {
	srv := testredis.Start(t)
	obs := newCountingObserver()
	// The flusher backs off for an hour after its first failure: only Close can write.
	l := outageLimiter(t, srv, FailClosed, obs, func(o *Options) { o.FlushBackoff, o.FlushBackoffMax = time.Hour, time.Hour })
	r, _, err := l.Reserve(t.Context(), rpm3, 500)
	if err != nil || r == nil {
		t.Fatalf("reserve: %v", err)
	}
	srv.Kill()
	if err := l.Reconcile(context.Background(), r, 77); err != nil {
		t.Fatal(err)
	}
	srv.Restart()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, depth, dropped := obs.snapshot(); depth != 0 || dropped != 0 {
		t.Errorf("after Close: depth %d, dropped %d", depth, dropped)
	}
	check := outageLimiter(t, srv, FailClosed, nil, nil)
	if day, _ := usageDay(t, check, rpm3); day != 77 {
		t.Errorf("day %d after Close, want 77", day)
	}
}

func TestCloseReportsLoss(t *testing.T) {
	srv := testredis.Start(t)
	obs := newCountingObserver()
	l := outageLimiter(t, srv, FailClosed, obs, nil)
	r, _, err := l.Reserve(t.Context(), rpm3, 500)
	if err != nil || r == nil {
		t.Fatalf("reserve: %v", err)
	}
	srv.Kill()
	if err := l.Reconcile(context.Background(), r, 1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = l.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "1 pending usage writes not written") {
		t.Fatalf("Close with Redis down: %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Close took %v, past its 300ms context", took)
	}
	if _, _, dropped := obs.snapshot(); dropped != 1 {
		t.Errorf("dropped %d, want 1", dropped)
	}
}

func TestPendingLimit(t *testing.T) {
	srv := testredis.Start(t)
	obs := newCountingObserver()
	l := outageLimiter(t, srv, FailClosed, obs, func(o *Options) { o.PendingLimit = 2 })
	var rs []*Reservation
	for range 3 {
		r, _, err := l.Reserve(t.Context(), rpm3, 10)
		if err != nil || r == nil {
			t.Fatalf("reserve: %v", err)
		}
		rs = append(rs, r)
	}
	srv.Kill()
	for i, r := range rs {
		err := l.Reconcile(context.Background(), r, 5)
		if wantErr := i == 2; (err != nil) != wantErr || (wantErr && !errors.Is(err, ErrPendingFull)) {
			t.Errorf("reconcile %d: %v", i, err)
		}
	}
	if _, depth, dropped := obs.snapshot(); depth != 2 || dropped != 1 {
		t.Errorf("depth %d dropped %d, want 2 and 1", depth, dropped)
	}
}

func TestReconcileIgnoresCancelledContext(t *testing.T) {
	l := newTestLimiter(t, NewMemoryStore(), nil, Options{})
	r, _, err := l.Reserve(t.Context(), rpm3, 100)
	if err != nil {
		t.Fatal(err)
	}
	gone, cancel := context.WithCancel(context.Background())
	cancel() // the client went away
	if err := l.Reconcile(gone, r, 60); err != nil {
		t.Fatalf("reconcile on a cancelled context: %v", err)
	}
	if day, inFlight := usageDay(t, l, rpm3); day != 60 || inFlight != 0 {
		t.Errorf("day %d in flight %d, want 60 0", day, inFlight)
	}
	if _, err := l.AdmitRequest(gone, rpm3); !errors.Is(err, context.Canceled) {
		t.Errorf("admit on a cancelled context: %v", err)
	}
}

func TestInvalidInput(t *testing.T) {
	l := newTestLimiter(t, NewMemoryStore(), nil, Options{})
	ctx := t.Context()
	cases := []struct {
		name string
		call func() error
	}{
		{"empty consumer", func() error { _, err := l.AdmitRequest(ctx, Subject{}); return err }},
		{"negative limit", func() error {
			_, err := l.AdmitRequest(ctx, Subject{Consumer: "c", Limits: Limits{TokensPerDay: -1}})
			return err
		}},
		{"negative tokens", func() error { _, _, err := l.Reserve(ctx, Subject{Consumer: "c"}, -1); return err }},
		{"negative model limit", func() error {
			_, err := l.Usage(ctx, Subject{Consumer: "c", Model: "m", ModelLimits: Limits{MaxConcurrent: -2}})
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(); !errors.Is(err, ErrInvalidSubject) {
				t.Errorf("err %v, want ErrInvalidSubject", err)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	cases := []struct {
		name    string
		opts    Options
		wantErr bool
	}{
		{"defaults", Options{Store: NewMemoryStore()}, false},
		{"no store", Options{}, true},
		{"negative timeout", Options{Store: NewMemoryStore(), Timeout: -1}, true},
		{"negative pending limit", Options{Store: NewMemoryStore(), PendingLimit: -1}, true},
		{"unknown policy", Options{Store: NewMemoryStore(), FailurePolicy: 7}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, err := NewLimiter(c.opts)
			if (err != nil) != c.wantErr {
				t.Fatalf("err %v, wantErr %v", err, c.wantErr)
			}
			if l != nil {
				if l.opts.Timeout != 50*time.Millisecond || l.opts.ReservationTTL != 10*time.Minute {
					t.Errorf("defaults: %+v", l.opts)
				}
				_ = l.Close(t.Context())
			}
		})
	}
	for in, want := range map[string]FailurePolicy{"closed": FailClosed, "": FailClosed, "open": FailOpen} {
		if got, err := ParseFailurePolicy(in); err != nil || got != want {
			t.Errorf("ParseFailurePolicy(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseFailurePolicy("maybe"); err == nil {
		t.Error("ParseFailurePolicy accepted maybe")
	}
}
