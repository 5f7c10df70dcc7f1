package quota

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"
)

// LeaseOptions turn on quota leases. With leases a replica reserves credit
// for many requests in one store call (a lease: one reservation that counts
// N requests, T tokens and, under a concurrency limit, S slots) and admits
// requests against that credit in memory until it runs out, ages out or its
// minute ends; then the lease is settled in the store with what its requests
// actually used, and the credit it did not use goes back.
//
// Limits still hold across replicas: the store admits a lease only if all of
// its credit fits every limit, so replicas together never admit more than a
// limit. The price is that credit one replica holds and does not use is not
// available to the others until the lease ends (at most MaxAge, or when the
// last request admitted under it ends): near a limit a replica can refuse
// while another holds spare credit. A lease takes at most 1/Share of what
// any limit had left at the replica's last look, so spare credit shrinks as a
// limit nears, and below 2*Share units of headroom every request goes to the
// store on its own, exactly as without leases. Usage reports and the
// x-ratelimit-remaining-* headers count leased credit as used.
type LeaseOptions struct {
	Enabled bool
	// Share: a lease takes at most 1/Share of any limit's headroom (default 16).
	Share int64
	// MaxAge is how long a lease admits after it was granted (default 1s).
	MaxAge time.Duration
	// MaxRequests caps the requests one lease counts (default 1024).
	MaxRequests int64
}

func (o *LeaseOptions) withDefaults() error {
	if o.Share < 0 || o.MaxAge < 0 || o.MaxRequests < 0 {
		return fmt.Errorf("quota: lease options must not be negative")
	}
	if o.Share == 0 {
		o.Share = 16
	}
	if o.MaxAge == 0 {
		o.MaxAge = time.Second
	}
	if o.MaxRequests == 0 {
		o.MaxRequests = 1024
	}
	if o.MaxRequests < 2 {
		return fmt.Errorf("quota: a lease must be able to count at least 2 requests")
	}
	return nil
}

// maxLeaseWaits bounds how many lease calls of others a request waits for
// before it asks the store alone.
const maxLeaseWaits = 4

// firstLeaseRequests is the size of a subject's first lease; later leases
// double while they run out before MaxAge and follow the demand otherwise.
const firstLeaseRequests = 8

// leaseTable holds the lease state of every subject this replica admitted.
type leaseTable struct {
	opts   LeaseOptions
	closed atomic.Bool
	mu     sync.Mutex // guards subs; never held while taking a subject's mutex
	subs   map[leaseKey]*leaseSubject
}

type leaseKey struct{ consumer, model string }

// leaseSubject is one subject's current lease and what sizes the next one.
// Its mutex also guards the fields of its leases that change.
type leaseSubject struct {
	mu        sync.Mutex
	cur       *lease        // admitting, or nil
	acquired  chan struct{} // while a store call for a new lease is out: closed when it returns
	next      int64         // requests the next lease asks for
	avgTokens int64         // moving average of token estimates
	seen      ReserveResult
	seenAt    time.Time // when seen was read from the store; zero: never
	lastUsed  time.Time
}

// lease is credit granted by the store under one reservation id.
type lease struct {
	sub                    *leaseSubject
	id                     string
	consumer, model        string
	limits, modelLimits    Limits
	periods                Periods
	expires                time.Time
	requests, tokens       int64 // credit
	slots                  int64 // concurrency slots held in the store
	slotLimited            bool  // in-flight requests must stay within slots
	view                   ReserveResult
	admitted, charged, out int64 // requests admitted; tokens charged; requests in flight
	retired                bool
}

func newLeaseTable(o LeaseOptions) *leaseTable {
	return &leaseTable{opts: o, subs: make(map[leaseKey]*leaseSubject)}
}

// slotLimited says whether a concurrency limit applies to s.
func (s Subject) slotLimited() bool {
	return s.Limits.MaxConcurrent > 0 || (s.Model != "" && s.ModelLimits.MaxConcurrent > 0)
}

func (t *leaseTable) subject(s Subject, now time.Time) *leaseSubject {
	if t.closed.Load() {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	k := leaseKey{s.Consumer, s.Model}
	sub := t.subs[k]
	if sub == nil {
		sub = &leaseSubject{next: firstLeaseRequests}
		t.subs[k] = sub
	}
	return sub
}

// leased tries to admit op (an AdmitAndReserve of one request) under a lease:
// from the subject's current lease, or from a new one it asks the store for.
// handled false sends the caller to the store with op alone.
func (l *Limiter) leased(ctx context.Context, s Subject, op ReserveOp) (r *Reservation, d Decision, handled bool, err error) {
	sub := l.leases.subject(s, op.Now)
	if sub == nil {
		return nil, Decision{}, false, nil
	}
	sub.mu.Lock()
	sub.lastUsed = op.Now
	if sub.avgTokens == 0 {
		sub.avgTokens = op.Tokens
	} else {
		sub.avgTokens += (op.Tokens - sub.avgTokens) / 8
	}
	sub.mu.Unlock()
	var req, tok, slots int64
	for waits := 0; ; waits++ {
		sub.mu.Lock()
		var done *lease // retired and drained: to settle once unlocked
		if ls := sub.cur; ls != nil {
			switch {
			case ls.fits(s, op) && ls.slotFree():
				r, d = ls.take(op)
				sub.mu.Unlock()
				l.obs.LeasedAdmission()
				return r, d, true, nil
			case ls.fits(s, op):
				// Every slot of the lease is busy: this request goes to the
				// store alone and the lease stays for the next one.
				sub.mu.Unlock()
				return nil, Decision{}, false, nil
			}
			done = l.retire(sub, ls, op.Now)
		}
		if wait := sub.acquired; wait != nil {
			// Another request is asking for the next lease: wait for it
			// rather than make a store call of our own (a few times: under
			// heavy load a lease can run out before a waiter gets a turn).
			sub.mu.Unlock()
			_ = l.settleLease(ctx, done)
			if waits == maxLeaseWaits {
				return nil, Decision{}, false, nil
			}
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, Decision{}, false, nil // the store call will say so
			}
		}
		var ok bool
		req, tok, slots, ok = l.leaseSize(sub, s, op)
		if ok {
			sub.acquired = make(chan struct{})
		}
		sub.mu.Unlock()
		_ = l.settleLease(ctx, done)
		if !ok {
			return nil, Decision{}, false, nil
		}
		break
	}

	lop := op
	lop.ID, lop.Requests, lop.Tokens, lop.Slots = l.opts.NewID(), req, tok, slots
	// The store gets the lease; a fallback store (FailOpen) decides op alone.
	res, err := decide(l, ctx, OpReserve, func(ctx context.Context, st Store) (ReserveResult, error) {
		if st == l.store {
			return st.Reserve(ctx, lop)
		}
		op.ID = l.opts.NewID()
		return st.Reserve(ctx, op)
	})
	l.releaseAmbiguous(lop, res.primaryErr)

	sub.mu.Lock()
	defer sub.mu.Unlock()
	close(sub.acquired)
	sub.acquired = nil
	if err != nil {
		return nil, Decision{}, true, err
	}
	if res.local {
		d = reserveDecision(op, res.v)
		d.Local = true
		if res.v.Allowed {
			r = &Reservation{id: op.ID, consumer: op.Consumer, model: op.Model, tokens: op.Tokens,
				periods: PeriodsAt(op.Now), local: true}
		}
		return r, d, true, nil
	}
	sub.seen, sub.seenAt = res.v, op.Now
	l.obs.Lease(res.v.Allowed)
	if !res.v.Allowed {
		// Too much credit for what is left: the store decides op alone.
		sub.next = max(2, req/4)
		return nil, Decision{}, false, nil
	}
	ls := &lease{sub: sub, id: lop.ID, consumer: op.Consumer, model: op.Model, limits: op.Limits, modelLimits: op.ModelLimits,
		periods: PeriodsAt(op.Now), expires: leaseEnd(op.Now, l.leases.opts.MaxAge),
		requests: req, tokens: tok, slots: slots, slotLimited: s.slotLimited(), view: res.v}
	if l.leases.closed.Load() {
		// Close ran meanwhile: admit this one request and end the lease with it.
		ls.retired = true
	} else {
		sub.cur = ls
	}
	r, d = ls.take(op)
	return r, d, true, nil
}

// leaseEnd is when a lease granted at now stops admitting: after maxAge, and
// at the end of its minute at the latest (its requests count in that minute).
func leaseEnd(now time.Time, maxAge time.Duration) time.Time {
	end := now.Add(maxAge)
	if minuteEnd := time.UnixMilli(minuteEndMs(PeriodsAt(now))); minuteEnd.Before(end) {
		return minuteEnd
	}
	return end
}

// leaseSize is the credit of the subject's next lease, from the counts the
// store last reported: sub.next requests (and that many average requests'
// tokens), cut to 1/Share of every limit's headroom; under a concurrency
// limit, slots for at most 1/Share of the free slots (requests in flight under
// the lease stay within them). ok is false when the subject has no fresh
// counts yet or the cut leaves less than two requests' (or slots') worth: then
// the request goes to the store alone.
func (l *Limiter) leaseSize(sub *leaseSubject, s Subject, op ReserveOp) (req, tok, slots int64, ok bool) {
	o := l.leases.opts
	if sub.seenAt.IsZero() || op.Now.Sub(sub.seenAt) > 2*o.MaxAge || PeriodsAt(sub.seenAt).Minute != PeriodsAt(op.Now).Minute {
		return 0, 0, 0, false
	}
	elapsed := elapsedInMinute(op.Now)
	req = min(sub.next, o.MaxRequests)
	perRequest := max(sub.avgTokens, op.Tokens, 1)
	tok = req * perRequest
	slots = req
	scopes := [2]scopeView{{"", sub.seen.Consumer, s.Limits}, {s.Model, sub.seen.Model, s.ModelLimits}}
	n := 1
	if s.Model != "" {
		n = 2
	}
	for _, sc := range scopes[:n] {
		lim, c := sc.limits, sc.counts
		if lim.RequestsPerMinute > 0 {
			req = min(req, (lim.RequestsPerMinute-c.Requests.estimate(elapsed))/o.Share)
		}
		for _, t := range []struct{ limit, used int64 }{
			{lim.TokensPerMinute, c.Tokens.estimate(elapsed)}, {lim.TokensPerDay, c.Day}, {lim.TokensPerMonth, c.Month},
		} {
			if t.limit > 0 {
				tok = min(tok, (t.limit-t.used)/o.Share)
			}
		}
		if lim.MaxConcurrent > 0 {
			slots = min(slots, (lim.MaxConcurrent-c.InFlight)/o.Share)
		}
	}
	if !s.slotLimited() {
		slots = 1 // the lease's own record; nothing limits requests in flight
	}
	if req < 2 || slots < 1 || (s.slotLimited() && slots < 2) || tok < 2*op.Tokens {
		return 0, 0, 0, false
	}
	return req, tok, min(slots, req), true
}

// fits reports whether the lease has the credit to admit op now.
func (ls *lease) fits(s Subject, op ReserveOp) bool {
	return !ls.retired && op.Now.Before(ls.expires) &&
		s.Limits == ls.limits && s.ModelLimits == ls.modelLimits &&
		ls.admitted < ls.requests && ls.charged+op.Tokens <= ls.tokens
}

// slotFree reports whether one more request may be in flight under the lease.
func (ls *lease) slotFree() bool { return !ls.slotLimited || ls.out < ls.slots }

// take admits op under the lease. The decision's header data is the counts
// the store reported at the grant plus what this lease admitted since.
func (ls *lease) take(op ReserveOp) (*Reservation, Decision) {
	v := ls.view
	for _, c := range []*ScopeCounts{&v.Consumer, &v.Model} {
		c.Requests.Cur += ls.admitted
		c.Tokens.Cur += ls.charged
		c.Day += ls.charged
		c.Month += ls.charged
		c.InFlight += ls.out
	}
	v.Allowed = true
	d := reserveDecision(op, v)
	ls.admitted++
	ls.charged += op.Tokens
	ls.out++
	return &Reservation{id: ls.id, consumer: op.Consumer, model: op.Model, tokens: op.Tokens,
		periods: ls.periods, lease: ls}, d
}

// retire stops ls admitting and sizes the subject's next lease from how ls
// was used. It returns ls when it can be settled now (nothing in flight).
func (l *Limiter) retire(sub *leaseSubject, ls *lease, now time.Time) *lease {
	ls.retired = true
	if sub.cur == ls {
		sub.cur = nil
	}
	if now.Before(ls.expires) && ls.admitted > 0 {
		sub.next = min(2*ls.requests, l.leases.opts.MaxRequests) // ran out early: grow
	} else {
		sub.next = max(2, 2*ls.admitted)
	}
	if ls.out == 0 {
		return ls
	}
	return nil
}

// finishLeased ends a request admitted under a lease, settling the lease
// once it is retired and this was its last request in flight.
func (l *Limiter) finishLeased(ctx context.Context, r *Reservation, actual int64) error {
	ls := r.lease
	sub := ls.sub
	sub.mu.Lock()
	ls.charged += actual - r.tokens
	ls.out--
	var done *lease
	if ls.retired && ls.out == 0 {
		done = ls
	}
	sub.mu.Unlock()
	return l.settleLease(ctx, done)
}

// observe keeps counts the store reported for a subject's request decided
// without a lease: the next lease is sized from them.
func (t *leaseTable) observe(s Subject, now time.Time, res ReserveResult) {
	sub := t.subject(s, now)
	if sub == nil {
		return
	}
	sub.mu.Lock()
	defer sub.mu.Unlock()
	sub.seen, sub.seenAt, sub.lastUsed = res, now, now
}

// settleLease writes what a retired, drained lease used to the store: its
// tokens become the actual usage of its requests, its unused requests go
// back, its slots free. It goes through the background queue like any usage.
func (l *Limiter) settleLease(ctx context.Context, ls *lease) error {
	if ls == nil {
		return nil
	}
	op := ReconcileOp{ID: ls.id, Consumer: ls.consumer, Model: ls.model, Periods: ls.periods,
		Actual: max(0, ls.charged), Now: l.opts.Clock(), UnusedRequests: ls.requests - ls.admitted, Slots: ls.slots}
	return l.writeUsageOf(ctx, op, true)
}

// sweepLeases retires leases that aged out and settles those with nothing in
// flight, so idle subjects give their credit back; it forgets subjects idle
// for a while. all retires every lease (Close).
func (l *Limiter) sweepLeases(ctx context.Context, all bool) {
	now := l.opts.Clock()
	t := l.leases
	if all {
		t.closed.Store(true)
	}
	t.mu.Lock()
	subs := make(map[leaseKey]*leaseSubject, len(t.subs))
	maps.Copy(subs, t.subs)
	t.mu.Unlock()
	var idle []leaseKey
	for k, sub := range subs {
		sub.mu.Lock()
		var done *lease
		if ls := sub.cur; ls != nil && (all || !now.Before(ls.expires)) {
			done = l.retire(sub, ls, now)
		}
		if sub.cur == nil && sub.acquired == nil && now.Sub(sub.lastUsed) > 10*t.opts.MaxAge {
			idle = append(idle, k)
		}
		sub.mu.Unlock()
		_ = l.settleLease(ctx, done) // a failed write is queued or counted as lost
	}
	// Forget idle subjects. One that became busy meanwhile loses only its
	// sizing history; its leases keep their own pointer to it.
	t.mu.Lock()
	for _, k := range idle {
		delete(t.subs, k)
	}
	t.mu.Unlock()
}

// leaseLoop sweeps leases every half MaxAge until the limiter stops.
func (l *Limiter) leaseLoop() {
	defer close(l.leaseDone)
	tick := time.NewTicker(l.leases.opts.MaxAge / 2)
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
			l.sweepLeases(context.Background(), false)
		}
	}
}
