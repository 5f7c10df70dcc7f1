package quota

import "time"

// testBulkReservation checks a reservation that counts several requests and
// takes several slots (a lease), and its settlement: unused requests come
// back, every slot frees, tokens settle to the actual usage. It drives the
// store directly: the Limiter makes such reservations only with leases on.
func testBulkReservation(e *env) {
	st := e.store()
	now := e.clock.Now()
	lim := Limits{RequestsPerMinute: 100, TokensPerMinute: 10000, MaxConcurrent: 20}
	modelLim := Limits{RequestsPerMinute: 50, MaxConcurrent: 8}
	op := ReserveOp{ID: "lease-1", Consumer: "team-a", Model: "m", Limits: lim, ModelLimits: modelLim,
		Tokens: 4000, Now: now, Deadline: now.Add(time.Minute), ForgetAt: now.Add(2 * time.Minute),
		CountRequest: true, Requests: 40, Slots: 6}
	res, err := st.Reserve(e.ctx, op)
	if err != nil || !res.Allowed {
		e.t.Fatalf("Reserve bulk: %+v, %v", res, err)
	}
	u, err := st.Usage(e.ctx, UsageOp{Consumer: "team-a", Model: "m", Now: now})
	if err != nil {
		e.t.Fatal(err)
	}
	for name, c := range map[string]ScopeCounts{"consumer": u.Consumer, "model": u.Model} {
		if c.Requests.Cur != 40 || c.Tokens.Cur != 4000 || c.InFlight != 6 {
			e.t.Errorf("%s after bulk reserve: %+v, want 40 requests, 4000 tokens, 6 in flight", name, c)
		}
	}

	// The model scope has 50-40 = 10 requests and 8-6 = 2 slots left: a
	// reservation of 3 slots is refused whole, one of 2 fits.
	op2 := op
	op2.ID, op2.Requests, op2.Slots, op2.Tokens = "lease-2", 3, 3, 10
	if res, err := st.Reserve(e.ctx, op2); err != nil || res.Allowed {
		e.t.Fatalf("3 slots over the model's 8: allowed %v, %v", res.Allowed, err)
	}
	op2.Slots = 2
	if res, err := st.Reserve(e.ctx, op2); err != nil || !res.Allowed {
		e.t.Fatalf("2 slots within the model's 8: allowed %v, %v", res.Allowed, err)
	}
	op2.ID, op2.Requests, op2.Slots = "r-3", 8, 0
	if res, err := st.Reserve(e.ctx, op2); err != nil || res.Allowed {
		e.t.Fatalf("8 requests over the model's 50 (43 counted): allowed %v, %v", res.Allowed, err)
	}

	// Settle the first lease: it admitted 15 requests that used 900 tokens.
	e.clock.Advance(5 * time.Second)
	settle := ReconcileOp{ID: "lease-1", Consumer: "team-a", Model: "m", Periods: PeriodsAt(now),
		Actual: 900, Now: e.clock.Now(), UnusedRequests: 25}
	if err := st.Reconcile(e.ctx, settle); err != nil {
		e.t.Fatal(err)
	}
	u, err = st.Usage(e.ctx, UsageOp{Consumer: "team-a", Model: "m", Now: e.clock.Now()})
	if err != nil {
		e.t.Fatal(err)
	}
	for name, c := range map[string]ScopeCounts{"consumer": u.Consumer, "model": u.Model} {
		if c.Requests.Cur != 15+3 || c.Tokens.Cur != 900+10 || c.InFlight != 2 {
			e.t.Errorf("%s after settling: %+v, want 18 requests, 910 tokens, 2 in flight", name, c)
		}
	}
	// Settling again, or a retry, returns nothing twice.
	settle.Retry = true
	if err := st.Reconcile(e.ctx, settle); err != nil {
		e.t.Fatal(err)
	}
	// Releasing a lease the store never made returns nothing.
	if err := st.Reconcile(e.ctx, ReconcileOp{ID: "never-made", Consumer: "team-a", Model: "m",
		Periods: PeriodsAt(now), Now: e.clock.Now(), Retry: true, UnusedRequests: 30}); err != nil {
		e.t.Fatal(err)
	}
	u2, err := st.Usage(e.ctx, UsageOp{Consumer: "team-a", Model: "m", Now: e.clock.Now()})
	if err != nil {
		e.t.Fatal(err)
	}
	if u2 != u {
		e.t.Errorf("a repeated settlement or a release of an unknown lease changed counts:\n%+v\nwant\n%+v", u2, u)
	}

	// An unsettled lease expires: its tokens come back and all its slots free.
	e.clock.Advance(2 * time.Minute)
	u, err = st.Usage(e.ctx, UsageOp{Consumer: "team-a", Model: "m", Now: e.clock.Now()})
	if err != nil {
		e.t.Fatal(err)
	}
	if u.Model.InFlight != 0 || u.Consumer.InFlight != 0 {
		e.t.Errorf("in flight after expiry: consumer %d, model %d, want 0", u.Consumer.InFlight, u.Model.InFlight)
	}
}

// testPartialSettlement checks the settlement of a lease that stopped
// admitting while some of its requests still run: once applied, repeated
// without effect, then completed; and expiry after it refunds only what was
// still running.
func testPartialSettlement(e *env) {
	st := e.store()
	now := e.clock.Now()
	usage := func() ScopeCounts {
		e.t.Helper()
		u, err := st.Usage(e.ctx, UsageOp{Consumer: "team-a", Now: e.clock.Now()})
		if err != nil {
			e.t.Fatal(err)
		}
		return u.Consumer
	}
	want := func(what string, reqs, tokens, inFlight int64) {
		e.t.Helper()
		if c := usage(); c.Requests.Cur != reqs || c.Tokens.Cur != tokens || c.Day != tokens || c.InFlight != inFlight {
			e.t.Errorf("%s: %+v, want %d requests, %d tokens, %d in flight", what, c, reqs, tokens, inFlight)
		}
	}
	lease := func(id string) {
		e.t.Helper()
		op := ReserveOp{ID: id, Consumer: "team-a", Limits: Limits{MaxConcurrent: 100}, Tokens: 4000, Now: now,
			Deadline: now.Add(time.Minute), ForgetAt: now.Add(2 * time.Minute), CountRequest: true, Requests: 40, Slots: 6}
		if res, err := st.Reserve(e.ctx, op); err != nil || !res.Allowed {
			e.t.Fatalf("Reserve %s: %+v, %v", id, res, err)
		}
	}
	settle := func(op ReconcileOp) {
		e.t.Helper()
		op.Consumer, op.Periods, op.Now = "team-a", PeriodsAt(now), e.clock.Now()
		if err := st.Reconcile(e.ctx, op); err != nil {
			e.t.Fatal(err)
		}
	}
	lease("lease-a")
	want("granted", 40, 4000, 6)
	// 20 requests admitted: 18 finished using 1000 tokens, 2 still run with
	// 500 tokens estimated.
	partial := ReconcileOp{ID: "lease-a", Actual: 1500, Remaining: 500, UnusedRequests: 20, KeepSlots: 2, Partial: true}
	settle(partial)
	want("partly settled", 20, 1500, 2)
	partial.Retry = true
	settle(partial)
	want("partial settlement repeated", 20, 1500, 2)
	// The two end, using 300 tokens.
	settle(ReconcileOp{ID: "lease-a", Actual: 300})
	want("settled", 20, 1300, 0)

	// A partial settlement of an unknown lease changes nothing.
	settle(ReconcileOp{ID: "ghost", Actual: 999, Remaining: 10, UnusedRequests: 5, KeepSlots: 1, Partial: true})
	want("unknown lease", 20, 1300, 0)

	// A partly settled lease that is never settled expires: only the
	// tokens still reserved (the running requests' estimates) come back.
	lease("lease-b")
	settle(ReconcileOp{ID: "lease-b", Actual: 1500, Remaining: 500, UnusedRequests: 20, KeepSlots: 2, Partial: true})
	want("second lease partly settled", 40, 2800, 2)
	e.clock.Advance(time.Minute + time.Second) // past the deadline
	if c := usage(); c.Day != 2300 || c.InFlight != 0 {
		e.t.Errorf("after expiry: %+v, want 2300 tokens today (1300 + 1000 finished), nothing in flight", c)
	}
}

// testSettlementOrder checks that a lease's partial and final settlements give
// the same counts whichever the store sees first, and when the record expired
// before either arrived.
func testSettlementOrder(e *env) {
	st := e.store()
	now := e.clock.Now()
	// Each lease: 40 requests and 4000 tokens granted; 20 admitted, 18 of
	// which finished using 1000 tokens before it stopped, 2 running (500
	// estimated) that then used 300. Exact usage: 20 requests, 1300 tokens.
	partial := func(id string) ReconcileOp {
		return ReconcileOp{ID: id, Actual: 1500, Remaining: 500, UnusedRequests: 20, KeepSlots: 2, Partial: true}
	}
	final := func(id string) ReconcileOp {
		return ReconcileOp{ID: id, Actual: 300, Settled: 1000, SettledUnused: 20}
	}
	cases := []struct {
		name   string
		expire bool // the record expires before the settlements arrive
		ops    func(id string) []ReconcileOp
	}{
		{"partial then final", false, func(id string) []ReconcileOp { return []ReconcileOp{partial(id), final(id)} }},
		{"final then partial", false, func(id string) []ReconcileOp { return []ReconcileOp{final(id), partial(id)} }},
		{"expired, partial then final", true, func(id string) []ReconcileOp { return []ReconcileOp{partial(id), final(id)} }},
		{"expired, final then partial", true, func(id string) []ReconcileOp { return []ReconcileOp{final(id), partial(id)} }},
		{"expired, final alone", true, func(id string) []ReconcileOp { return []ReconcileOp{final(id)} }},
	}
	for i, c := range cases {
		consumer := "order-" + string(rune('a'+i))
		e.clock.Set(now)
		op := ReserveOp{ID: "lease", Consumer: consumer, Limits: Limits{MaxConcurrent: 100}, Tokens: 4000, Now: now,
			Deadline: now.Add(time.Minute), ForgetAt: now.Add(3 * time.Minute), CountRequest: true, Requests: 40, Slots: 6}
		if res, err := st.Reserve(e.ctx, op); err != nil || !res.Allowed {
			e.t.Fatalf("%s: Reserve: %+v, %v", c.name, res, err)
		}
		at := now.Add(5 * time.Second)
		if c.expire {
			at = now.Add(time.Minute + time.Second)
			e.clock.Set(at)
			if _, err := st.Usage(e.ctx, UsageOp{Consumer: consumer, Now: at}); err != nil { // runs the expiry
				e.t.Fatal(err)
			}
		}
		for _, s := range c.ops("lease") {
			s.Consumer, s.Periods, s.Now = consumer, PeriodsAt(now), at
			if err := st.Reconcile(e.ctx, s); err != nil {
				e.t.Fatal(err)
			}
		}
		u, err := st.Usage(e.ctx, UsageOp{Consumer: consumer, Now: at})
		if err != nil {
			e.t.Fatal(err)
		}
		// Counters of the lease's minute (it may be the previous one now).
		reqs, toks := u.Consumer.Requests.Cur+u.Consumer.Requests.Prev, u.Consumer.Day
		if reqs != 20 || toks != 1300 || u.Consumer.InFlight != 0 {
			e.t.Errorf("%s: %+v, want 20 requests, 1300 tokens, nothing in flight", c.name, u.Consumer)
		}
	}
}
