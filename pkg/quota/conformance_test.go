package quota

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// storeFactory prepares a fresh, empty store namespace for one test and
// returns a constructor: every call yields a Store over that same state, as
// two replicas see one Redis.
type storeFactory func(t *testing.T) func() Store

// base is 10s into a minute, mid-day, mid-month (UTC).
var base = time.Date(2025, 3, 14, 10, 0, 10, 0, time.UTC)

// env is one conformance case's world.
type env struct {
	t     *testing.T
	ctx   context.Context
	clock *fakeClock
	store func() Store
	lim   *Limiter
	ttl   time.Duration
	ids   func() string // shared: ids must be unique across replicas
}

func newEnv(t *testing.T, f storeFactory, at time.Time) *env {
	e := &env{t: t, ctx: t.Context(), clock: newClock(at), store: f(t), ttl: time.Minute, ids: seqIDs()}
	e.lim = e.limiter()
	return e
}

func (e *env) limiter() *Limiter {
	return newTestLimiter(e.t, e.store(), e.clock, Options{ReservationTTL: e.ttl, NewID: e.ids})
}

func (e *env) admit(s Subject) Decision {
	e.t.Helper()
	d, err := e.lim.AdmitRequest(e.ctx, s)
	if err != nil {
		e.t.Fatalf("AdmitRequest: %v", err)
	}
	return d
}

func (e *env) reserve(s Subject, tokens int64) (*Reservation, Decision) {
	e.t.Helper()
	r, d, err := e.lim.Reserve(e.ctx, s, tokens)
	if err != nil {
		e.t.Fatalf("Reserve(%d): %v", tokens, err)
	}
	if (r != nil) != d.Allowed {
		e.t.Fatalf("Reserve(%d): reservation %v but Allowed %v", tokens, r != nil, d.Allowed)
	}
	return r, d
}

func (e *env) mustReserve(s Subject, tokens int64) *Reservation {
	e.t.Helper()
	r, d := e.reserve(s, tokens)
	if !d.Allowed {
		e.t.Fatalf("Reserve(%d) denied: %s", tokens, d.Message())
	}
	return r
}

func (e *env) mustDeny(s Subject, tokens int64) Decision {
	e.t.Helper()
	_, d := e.reserve(s, tokens)
	if d.Allowed {
		e.t.Fatalf("Reserve(%d) allowed, want denied", tokens)
	}
	return d
}

func (e *env) reconcile(r *Reservation, actual int64) {
	e.t.Helper()
	if err := e.lim.Reconcile(context.Background(), r, actual); err != nil {
		e.t.Fatalf("Reconcile: %v", err)
	}
}

func (e *env) usage(s Subject) UsageReport {
	e.t.Helper()
	u, err := e.lim.Usage(e.ctx, s)
	if err != nil {
		e.t.Fatalf("Usage: %v", err)
	}
	return u
}

func (e *env) wantUsed(s Subject, what string, got func(UsageReport) int64, want int64) {
	e.t.Helper()
	if g := got(e.usage(s)); g != want {
		e.t.Errorf("%s = %d, want %d", what, g, want)
	}
}

func day(u UsageReport) int64      { return u.Usage.TokensPerDay.Used }
func month(u UsageReport) int64    { return u.Usage.TokensPerMonth.Used }
func inFlight(u UsageReport) int64 { return u.Usage.Concurrent.Used }

func subject(l Limits) Subject { return Subject{Consumer: "team-a", Limits: l} }

func wantDecision(t *testing.T, got, want Decision) {
	t.Helper()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decision mismatch (-want +got):\n%s", diff)
	}
}

// runConformance is the one suite every Store implementation must pass.
func runConformance(t *testing.T, f storeFactory) {
	cases := []struct {
		name string
		at   time.Time
		run  func(e *env)
	}{
		{"requests per minute admit then deny", base, testRequestsPerMinute},
		{"sliding window across the minute boundary", base, testSlidingWindow},
		{"tokens per minute", base, testTokensPerMinute},
		{"request larger than the limit", base, testTooLarge},
		{"day budget and UTC day rollover", base, testDayBudget},
		{"month budget and UTC month rollover", time.Date(2025, 1, 31, 23, 59, 30, 0, time.UTC), testMonthBudget},
		{"reconcile down and up", base, testReconcileDownUp},
		{"reconcile is idempotent", base, testReconcileIdempotent},
		{"reconcile after the day rolled over", time.Date(2025, 3, 14, 23, 59, 50, 0, time.UTC), testReconcileAfterRollover},
		{"unreconciled reservation expires", base, testExpiry},
		{"concurrency limit", base, testConcurrency},
		{"model limits add to consumer limits", base, testModelScope},
		{"limit changes keep counts", base, testLimitChange},
		{"usage report", base, testUsageReport},
		{"odd consumer and model names", base, testOddNames},
		{"exact under concurrency across limiters", base, testExactness},
		{"admit and reserve in one step", base, testAdmitAndReserve},
		{"reservation of many requests and slots", base, testBulkReservation},
		{"partial settlement of a lease", base, testPartialSettlement},
		{"lease settlements in any order", base, testSettlementOrder},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(newEnv(t, f, c.at)) })
	}
}

func testRequestsPerMinute(e *env) {
	s := subject(Limits{RequestsPerMinute: 3})
	for i := range 3 {
		d := e.admit(s)
		if !d.Allowed || d.Requests.Remaining != int64(2-i) || d.Requests.Limit != 3 {
			e.t.Fatalf("admit %d: %+v", i+1, d)
		}
	}
	d := e.admit(s)
	wantDecision(e.t, d, Decision{
		Kind: KindRequests, Period: PeriodMinute, Code: CodeRateLimitExceeded,
		Limit: 3, Used: 3, Requested: 1, RetryAfter: 50001 * time.Millisecond, ShouldRetry: true,
		Requests: RateInfo{Limit: 3, Remaining: 0, Reset: 90001 * time.Millisecond},
	})
	if got, want := d.Message(), "Rate limit reached for requests per minute: Limit 3, Used 3, Requested 1. Please try again in 50.001s."; got != want {
		e.t.Errorf("message %q, want %q", got, want)
	}
	// A consumer without a request limit is never counted nor refused.
	if d := e.admit(Subject{Consumer: "other"}); !d.Allowed || d.Requests.Limit != 0 {
		e.t.Errorf("unlimited consumer: %+v", d)
	}
}

func testSlidingWindow(e *env) {
	s := subject(Limits{RequestsPerMinute: 10})
	for range 10 {
		e.admit(s)
	}
	// 30s into the next minute the previous minute weighs half: 5 more fit.
	e.clock.Set(time.Date(2025, 3, 14, 10, 1, 30, 0, time.UTC))
	for i := range 5 {
		if d := e.admit(s); !d.Allowed {
			e.t.Fatalf("admit %d after the boundary denied: %s", i+1, d.Message())
		}
	}
	d := e.admit(s)
	if d.Allowed || d.Used != 10 || d.RetryAfter != time.Millisecond {
		e.t.Fatalf("6th admit: allowed=%v used=%d retry=%v, want denied, 10, 1ms", d.Allowed, d.Used, d.RetryAfter)
	}
	// Two minutes on, nothing counts any more.
	e.clock.Set(time.Date(2025, 3, 14, 10, 3, 0, 0, time.UTC))
	for i := range 10 {
		if d := e.admit(s); !d.Allowed {
			e.t.Fatalf("admit %d two minutes later denied", i+1)
		}
	}
}

func testTokensPerMinute(e *env) {
	s := subject(Limits{TokensPerMinute: 100})
	if d := e.mustReserve(s, 60); d == nil {
		return
	}
	d := e.mustDeny(s, 50)
	wantDecision(e.t, d, Decision{
		Kind: KindTokens, Period: PeriodMinute, Code: CodeRateLimitExceeded,
		Limit: 100, Used: 60, Requested: 50, RetryAfter: 59001 * time.Millisecond, ShouldRetry: true,
		Tokens: RateInfo{Limit: 100, Remaining: 40, Reset: 109001 * time.Millisecond},
	})
	e.mustReserve(s, 40)
	if _, d := e.reserve(s, 0); !d.Allowed || d.Tokens.Remaining != 0 {
		e.t.Errorf("zero-token reservation at the limit: %+v", d)
	}
}

func testTooLarge(e *env) {
	d := e.mustDeny(subject(Limits{TokensPerMinute: 100}), 150)
	if !d.TooLarge || d.ShouldRetry || d.RetryAfter != 0 {
		e.t.Errorf("too large: %+v", d)
	}
	want := "Request too large for tokens per minute: Limit 100, Requested 150. The input or output tokens must be reduced in order to run successfully."
	if d.Message() != want {
		e.t.Errorf("message %q, want %q", d.Message(), want)
	}
}

func testDayBudget(e *env) {
	s := subject(Limits{TokensPerDay: 100})
	e.reconcile(e.mustReserve(s, 80), 80)
	d := e.mustDeny(s, 30)
	wantDecision(e.t, d, Decision{
		Kind: KindTokens, Period: PeriodDay, Code: CodeInsufficientQuota,
		Limit: 100, Used: 80, Requested: 30, RetryAfter: 13*time.Hour + 59*time.Minute + 50*time.Second,
	})
	if d.ErrorType() != "insufficient_quota" {
		e.t.Errorf("error type %q", d.ErrorType())
	}
	e.clock.Set(time.Date(2025, 3, 15, 0, 0, 0, 0, time.UTC))
	e.mustReserve(s, 30)
	e.wantUsed(s, "tokens today", day, 30)
}

func testMonthBudget(e *env) {
	s := subject(Limits{TokensPerMonth: 100})
	e.mustReserve(s, 100)
	d := e.mustDeny(s, 1)
	if d.Period != PeriodMonth || d.Code != CodeInsufficientQuota || d.RetryAfter != 30*time.Second || d.ShouldRetry {
		e.t.Errorf("month denial: %+v", d)
	}
	e.clock.Advance(30 * time.Second) // 2025-02-01T00:00:00Z
	e.mustReserve(s, 1)
	e.wantUsed(s, "tokens this month", month, 1)
}

func testReconcileDownUp(e *env) {
	s := subject(Limits{TokensPerDay: 1000})
	r := e.mustReserve(s, 500)
	u := e.usage(s)
	if day(u) != 500 || inFlight(u) != 1 || u.Usage.TokensPerMinute.Used != 500 {
		e.t.Fatalf("after reserve: %+v", u.Usage)
	}
	e.reconcile(r, 120)
	e.reconcile(e.mustReserve(s, 100), 300)
	u = e.usage(s)
	if day(u) != 420 || month(u) != 420 || u.Usage.TokensPerMinute.Used != 420 || inFlight(u) != 0 {
		e.t.Errorf("after reconciles: day %d month %d minute %d in flight %d, want 420 420 420 0",
			day(u), month(u), u.Usage.TokensPerMinute.Used, inFlight(u))
	}
}

func testReconcileIdempotent(e *env) {
	s := subject(Limits{})
	r := e.mustReserve(s, 100)
	e.reconcile(r, 40)
	e.reconcile(r, 70)
	e.wantUsed(s, "tokens after two reconciles", day, 40)
	// A store-level retry of an applied reconciliation changes nothing.
	op := ReconcileOp{ID: r.ID(), Consumer: s.Consumer, Periods: PeriodsAt(base), Actual: 40, Now: e.clock.Now(), Retry: true}
	if err := e.store().Reconcile(e.ctx, op); err != nil {
		e.t.Fatal(err)
	}
	e.wantUsed(s, "tokens after a retried reconcile", day, 40)
}

func testReconcileAfterRollover(e *env) {
	s := subject(Limits{TokensPerDay: 100, TokensPerMonth: 1000})
	r := e.mustReserve(s, 50)
	e.clock.Advance(20 * time.Second) // next UTC day, same month
	e.reconcile(r, 70)
	u := e.usage(s)
	if day(u) != 0 || month(u) != 70 || inFlight(u) != 0 {
		e.t.Errorf("usage is charged to the admitting day: today %d, month %d, in flight %d; want 0, 70, 0",
			day(u), month(u), inFlight(u))
	}
	e.mustReserve(s, 100)
}

func testExpiry(e *env) {
	s := subject(Limits{TokensPerDay: 100, MaxConcurrent: 1})
	r := e.mustReserve(s, 60)
	if d := e.mustDeny(s, 10); d.Period != PeriodConcurrent {
		e.t.Fatalf("second reservation denied by %s/%s, want concurrency", d.Kind, d.Period)
	}
	e.clock.Advance(e.ttl + time.Second)
	if u := e.usage(s); day(u) != 0 || inFlight(u) != 0 {
		e.t.Fatalf("expired reservation still holds: day %d, in flight %d", day(u), inFlight(u))
	}
	e.mustReserve(s, 50)
	// The crashed request's usage arrives late: charged once, not refunded twice.
	e.reconcile(r, 30)
	e.wantUsed(s, "tokens after late reconcile", day, 80)
	op := ReconcileOp{ID: r.ID(), Consumer: s.Consumer, Periods: PeriodsAt(base), Actual: 30, Now: e.clock.Now(), Retry: true}
	if err := e.store().Reconcile(e.ctx, op); err != nil {
		e.t.Fatal(err)
	}
	e.wantUsed(s, "tokens after a retried late reconcile", day, 80)
}

func testConcurrency(e *env) {
	s := subject(Limits{MaxConcurrent: 2})
	r1 := e.mustReserve(s, 1)
	e.mustReserve(s, 1)
	d := e.mustDeny(s, 1)
	wantDecision(e.t, d, Decision{
		Kind: KindRequests, Period: PeriodConcurrent, Code: CodeRateLimitExceeded,
		Limit: 2, Used: 2, Requested: 1, RetryAfter: time.Second, ShouldRetry: true,
	})
	if want := "Rate limit reached for concurrent requests: Limit 2, Used 2, Requested 1. Please try again in 1s."; d.Message() != want {
		e.t.Errorf("message %q", d.Message())
	}
	e.reconcile(r1, 1)
	e.mustReserve(s, 1)
}

func testModelScope(e *env) {
	plain := subject(Limits{TokensPerMinute: 1000})
	m := plain
	m.Model, m.ModelLimits = "gpt-x", Limits{TokensPerMinute: 100, RequestsPerMinute: 2}
	e.mustReserve(m, 60)
	d := e.mustDeny(m, 60)
	if d.Model != "gpt-x" || d.Kind != KindTokens || d.Period != PeriodMinute {
		e.t.Errorf("model denial: %+v", d)
	}
	if want := "Rate limit reached for gpt-x on tokens per minute: Limit 100, Used 60, Requested 60. Please try again in 1m9.001s."; d.Message() != want {
		e.t.Errorf("message %q", d.Message())
	}
	e.mustReserve(plain, 60) // other models only see the consumer's limits
	e.mustReserve(m, 10)
	d = e.mustDeny(m, 10)
	if d.Model != "gpt-x" || d.Kind != KindRequests || d.Period != PeriodMinute || d.Used != 2 {
		e.t.Errorf("model request-rate denial: %+v", d)
	}
	u := e.usage(m)
	if u.Usage.TokensPerMinute.Used != 130 || u.ModelUsage == nil || u.ModelUsage.TokensPerMinute.Used != 70 ||
		u.ModelUsage.RequestsPerMinute.Used != 2 || u.Usage.Concurrent.Used != 3 || u.ModelUsage.Concurrent.Used != 2 {
		e.t.Errorf("usage: consumer %+v model %+v", u.Usage, u.ModelUsage)
	}
}

func testLimitChange(e *env) {
	s := subject(Limits{TokensPerDay: 100})
	e.mustReserve(s, 80)
	if d := e.mustDeny(subject(Limits{TokensPerDay: 50}), 10); d.Used != 80 {
		e.t.Errorf("lowered limit sees %d used, want 80", d.Used)
	}
	e.mustReserve(subject(Limits{TokensPerDay: 200}), 100)
	e.wantUsed(s, "tokens after limit changes", day, 180)
}

func testUsageReport(e *env) {
	s := subject(Limits{RequestsPerMinute: 10, TokensPerDay: 1000})
	e.admit(s)
	e.mustReserve(s, 100)
	u := e.usage(s)
	want := ScopeUsage{
		RequestsPerMinute: Meter{Used: 1, Limit: 10, Remaining: 9, Reset: 50001 * time.Millisecond},
		// 100 tokens this minute: floor(100*r/60s) reaches 0 when r < 600ms, 59.401s into the next minute.
		TokensPerMinute: Meter{Used: 100, Limit: 0, Remaining: -1, Reset: 109401 * time.Millisecond},
		TokensPerDay:    Meter{Used: 100, Limit: 1000, Remaining: 900, Reset: 13*time.Hour + 59*time.Minute + 50*time.Second},
		TokensPerMonth:  Meter{Used: 100, Limit: 0, Remaining: -1, Reset: 17*24*time.Hour + 13*time.Hour + 59*time.Minute + 50*time.Second},
		Concurrent:      Meter{Used: 1, Limit: 0, Remaining: -1},
	}
	if diff := cmp.Diff(want, u.Usage); diff != "" {
		e.t.Errorf("usage (-want +got):\n%s", diff)
	}
	if u.Consumer != "team-a" || !u.At.Equal(base) || u.ModelUsage != nil || u.Local {
		e.t.Errorf("report header: %+v", u)
	}
}

func testOddNames(e *env) {
	odd := Subject{Consumer: "we{ird}:x", Model: "m:1}", ModelLimits: Limits{TokensPerDay: 50}}
	near := Subject{Consumer: "we"}
	r := e.mustReserve(odd, 40)
	e.mustDeny(odd, 20)
	e.reconcile(r, 10)
	e.mustReserve(odd, 40)
	if u := e.usage(odd); u.ModelUsage.TokensPerDay.Used != 50 || day(u) != 50 {
		e.t.Errorf("odd names usage: %+v %+v", u.Usage, u.ModelUsage)
	}
	e.wantUsed(near, "tokens of a consumer sharing a prefix", day, 0)
}

func testExactness(e *env) {
	const n, limit = 200, 37
	lims := [2]*Limiter{e.lim, e.limiter()} // two replicas over one store
	run := func(name string, s Subject, try func(*Limiter, Subject) (bool, error)) {
		var allowed atomic.Int64
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				ok, err := try(lims[i%2], s)
				if err != nil {
					e.t.Errorf("%s: %v", name, err)
				}
				if ok {
					allowed.Add(1)
				}
			})
		}
		wg.Wait()
		if got := allowed.Load(); got != limit {
			e.t.Errorf("%s: %d of %d admitted, want exactly %d", name, got, n, limit)
		}
	}
	run("requests per minute", Subject{Consumer: "rpm", Limits: Limits{RequestsPerMinute: limit}},
		func(l *Limiter, s Subject) (bool, error) {
			d, err := l.AdmitRequest(e.ctx, s)
			return d.Allowed, err
		})
	reserve := func(l *Limiter, s Subject) (bool, error) {
		r, _, err := l.Reserve(e.ctx, s, 10)
		return r != nil, err
	}
	run("tokens per day", Subject{Consumer: "tpd", Limits: Limits{TokensPerDay: 10 * limit}}, reserve)
	run("concurrency", Subject{Consumer: "conc", Limits: Limits{MaxConcurrent: limit}}, reserve)
	run("model tokens per minute", Subject{Consumer: "model", Model: "m",
		ModelLimits: Limits{TokensPerMinute: 10 * limit}}, reserve)
	run("admit and reserve: requests per minute", Subject{Consumer: "both", Limits: Limits{RequestsPerMinute: limit}},
		func(l *Limiter, s Subject) (bool, error) {
			r, _, err := l.AdmitAndReserve(e.ctx, s, 10)
			return r != nil, err
		})
}

// testAdmitAndReserve: one call counts the request (consumer and model
// scopes) and reserves tokens, all or nothing, with the same decisions as
// AdmitRequest followed by Reserve.
func testAdmitAndReserve(e *env) {
	s := subject(Limits{RequestsPerMinute: 2, TokensPerMinute: 100})
	both := func(tokens int64) (*Reservation, Decision) {
		e.t.Helper()
		r, d, err := e.lim.AdmitAndReserve(e.ctx, s, tokens)
		if err != nil {
			e.t.Fatalf("AdmitAndReserve(%d): %v", tokens, err)
		}
		if (r != nil) != d.Allowed {
			e.t.Fatalf("AdmitAndReserve(%d): reservation %v but Allowed %v", tokens, r != nil, d.Allowed)
		}
		return r, d
	}
	r, d := both(30)
	if r == nil || d.Requests.Limit != 2 || d.Requests.Remaining != 1 || d.Tokens.Remaining != 70 {
		e.t.Fatalf("first: %+v", d)
	}
	// Denied on tokens: the request is not counted either.
	if _, d := both(80); d.Allowed || d.Kind != KindTokens {
		e.t.Fatalf("over tokens: %+v", d)
	}
	e.wantUsed(s, "requests after a denied reservation", func(u UsageReport) int64 { return u.Usage.RequestsPerMinute.Used }, 1)
	if r, _ := both(10); r == nil {
		e.t.Fatal("second request denied")
	}
	_, d = both(1)
	wantDecision(e.t, d, Decision{
		Kind: KindRequests, Period: PeriodMinute, Code: CodeRateLimitExceeded,
		Limit: 2, Used: 2, Requested: 1, RetryAfter: 50001 * time.Millisecond, ShouldRetry: true,
		Requests: RateInfo{Limit: 2, Remaining: 0, Reset: 80001 * time.Millisecond},
		Tokens:   RateInfo{Limit: 100, Remaining: 60, Reset: d.Tokens.Reset},
	})
	e.wantUsed(s, "tokens", func(u UsageReport) int64 { return u.Usage.TokensPerMinute.Used }, 40)
	// The model scope counts its request once, as Reserve does.
	m := subject(Limits{RequestsPerMinute: 10})
	m.Consumer, m.Model, m.ModelLimits = "team-m", "gpt-x", Limits{RequestsPerMinute: 10}
	if _, _, err := e.lim.AdmitAndReserve(e.ctx, m, 5); err != nil {
		e.t.Fatal(err)
	}
	if u := e.usage(m); u.Usage.RequestsPerMinute.Used != 1 || u.ModelUsage.RequestsPerMinute.Used != 1 {
		e.t.Errorf("requests counted: consumer %d model %d, want 1 and 1", u.Usage.RequestsPerMinute.Used, u.ModelUsage.RequestsPerMinute.Used)
	}
}
