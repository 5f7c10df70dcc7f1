package quota

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// LeaseOptions turn on quota leases. With leases a replica reserves credit
// for many requests in one store call (a lease: one reservation that counts
// N requests, T tokens and, under a concurrency limit, S slots) and admits
// requests against that credit in memory until it runs out, ages out, its
// minute ends or the subject's limits change. Then the lease stops admitting
// and is settled: at once what its finished requests used and the credit it
// did not use (a partial settlement while some requests still run), the rest
// when its last request ends.
//
// Limits still hold across replicas: the store grants a lease only if all of
// its credit fits every limit, so replicas together never admit more than a
// limit. The price is that credit one replica holds and does not use is not
// available to the others until the lease stops admitting (at most MaxAge):
// near a limit a replica can refuse while another holds spare credit. A lease
// takes at most 1/Share of what any limit had left at the replica's last
// look, so spare credit shrinks as a limit nears, and below 2*Share units of
// headroom every request goes to the store on its own, exactly as without
// leases. Usage reports count a lease's unused credit as used until then; the
// x-ratelimit-* headers of a request admitted under a lease are the counts the
// store reported when the lease was granted plus what the lease admitted
// since.
type LeaseOptions struct {
	Enabled bool
	// Share: a lease takes at most 1/Share of any limit's headroom (default
	// 16, at least 2).
	Share int64
	// MaxAge is how long a lease admits after it was granted (default 1s, at
	// least 10ms).
	MaxAge time.Duration
	// MaxRequests caps the requests one lease counts (default 1024).
	MaxRequests int64
}

func (o *LeaseOptions) withDefaults() error {
	if o.Share == 0 {
		o.Share = 16
	}
	if o.MaxAge == 0 {
		o.MaxAge = time.Second
	}
	if o.MaxRequests == 0 {
		o.MaxRequests = 1024
	}
	switch {
	case o.Share < 2:
		return fmt.Errorf("quota: Leases.Share must be at least 2")
	case o.MaxAge < 10*time.Millisecond:
		return fmt.Errorf("quota: Leases.MaxAge must be at least 10ms")
	case o.MaxRequests < 2:
		return fmt.Errorf("quota: Leases.MaxRequests must be at least 2")
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
// Lock order: a subject's mutex, then the table's.
type leaseTable struct {
	opts   LeaseOptions
	closed atomic.Bool
	mu     sync.Mutex // guards subs
	subs   map[leaseKey]*leaseSubject
}

type leaseKey struct{ consumer, model string }

// leaseSubject is one subject's current lease and what sizes the next one.
// Its mutex also guards the fields of its leases that change.
type leaseSubject struct {
	key       leaseKey
	mu        sync.Mutex
	gone      bool          // removed from the table: look the subject up again
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
	sub                 *leaseSubject
	id                  string
	consumer, model     string
	limits, modelLimits Limits
	periods             Periods
	expires             time.Time
	requests, tokens    int64 // credit
	slots               int64 // concurrency slots held in the store
	slotLimited         bool  // in-flight requests must stay within slots
	view                ReserveResult

	admitted  int64 // requests admitted
	charged   int64 // tokens: actual of finished requests, estimates of running ones
	out       int64 // requests running
	outTokens int64 // their estimates
	settled   int64 // tokens of finished requests charged by a partial settlement
	given     int64 // unused requests a partial settlement gave back
	retired   bool  // admits no more
}

func newLeaseTable(o LeaseOptions) *leaseTable {
	return &leaseTable{opts: o, subs: make(map[leaseKey]*leaseSubject)}
}

// slotLimited says whether a concurrency limit applies to s.
func (s Subject) slotLimited() bool {
	return s.Limits.MaxConcurrent > 0 || (s.Model != "" && s.ModelLimits.MaxConcurrent > 0)
}

// lockSubject returns s's subject, locked, or nil once the table is closed.
func (t *leaseTable) lockSubject(s *Subject) *leaseSubject {
	k := leaseKey{s.Consumer, s.Model}
	for {
		if t.closed.Load() {
			return nil
		}
		t.mu.Lock()
		sub := t.subs[k]
		if sub == nil {
			sub = &leaseSubject{key: k, next: firstLeaseRequests}
			t.subs[k] = sub
		}
		t.mu.Unlock()
		sub.mu.Lock()
		if !sub.gone {
			return sub
		}
		sub.mu.Unlock() // forgotten meanwhile (idle): take the new one
	}
}

// leased tries to admit op (an AdmitAndReserve of one request) under a lease:
// from the subject's current lease, or from a new one it asks the store for.
// handled false sends the caller to the store with op alone.
func (l *Limiter) leased(ctx context.Context, s *Subject, op *ReserveOp) (r *Reservation, d Decision, handled bool, err error) {
	for waits := 0; ; waits++ {
		sub := l.leases.lockSubject(s)
		if sub == nil {
			return nil, Decision{}, false, nil
		}
		if waits == 0 {
			sub.noteRequest(op)
		}
		var done *ReconcileOp // the settlement of a lease retired here
		if ls := sub.cur; ls != nil {
			switch ls.room(s, op, sub.avgTokens) {
			case leaseAdmits:
				r, d = ls.take(op)
				sub.mu.Unlock()
				l.obs.LeasedAdmission()
				return r, d, true, nil
			case leaseBusy:
				// Every slot is taken, or the request is much bigger than
				// usual: it goes to the store alone and the lease stays.
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
			l.writeLeaseUsage(ctx, done)
			if waits == maxLeaseWaits {
				return nil, Decision{}, false, nil
			}
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, Decision{}, false, nil // reserve reports it
			}
		}
		size, ok := l.leaseSize(sub, s, op)
		if ok {
			sub.acquired = make(chan struct{})
		}
		sub.mu.Unlock()
		l.writeLeaseUsage(ctx, done)
		if !ok {
			return nil, Decision{}, false, nil
		}
		return l.acquireLease(ctx, sub, s, op, size)
	}
}

// noteRequest keeps the subject's recent demand: when it was last used and
// its average token estimate. Under sub.mu.
func (sub *leaseSubject) noteRequest(op *ReserveOp) {
	sub.lastUsed = op.Now
	if sub.avgTokens == 0 {
		sub.avgTokens = op.Tokens
	} else {
		sub.avgTokens += (op.Tokens - sub.avgTokens) / 8
	}
}

// leaseCredit is what a lease asks the store for.
type leaseCredit struct{ requests, tokens, slots int64 }

// acquireLease asks the store for a lease of the given size for s, and admits
// op under it. The caller set sub.acquired; this clears it.
func (l *Limiter) acquireLease(ctx context.Context, sub *leaseSubject, s *Subject, op *ReserveOp, size leaseCredit) (r *Reservation, d Decision, handled bool, err error) {
	expires := leaseEnd(op.Now, l.leases.opts.MaxAge)
	lop := *op
	lop.ID, lop.Requests, lop.Tokens, lop.Slots = l.opts.NewID(), size.requests, size.tokens, size.slots
	// The record outlives the last admission by the reservation TTL, as a
	// single request's outlives its admission.
	lop.Deadline = expires.Add(l.opts.ReservationTTL)
	lop.ForgetAt = lop.Deadline.Add(l.opts.ReservationTTL)
	alone := *op
	// The store gets the lease; a fallback store (FailOpen) decides op alone.
	res, err := decide(l, ctx, OpReserve, func(ctx context.Context, st Store) (ReserveResult, error) {
		if st == l.store {
			return st.Reserve(ctx, lop)
		}
		alone.ID = l.opts.NewID()
		return st.Reserve(ctx, alone)
	})
	l.releaseAmbiguous(lop, res.primaryErr)

	sub.mu.Lock()
	defer sub.mu.Unlock()
	close(sub.acquired)
	sub.acquired = nil
	if err != nil {
		// No more leases until the store answers again (observe): those
		// waiting for this one go alone rather than wait on another call.
		sub.seenAt = time.Time{}
		return nil, Decision{}, true, err
	}
	if res.local {
		d = reserveDecision(alone, res.v)
		d.Local = true
		if res.v.Allowed {
			r = &Reservation{id: alone.ID, consumer: op.Consumer, model: op.Model, tokens: op.Tokens,
				periods: PeriodsAt(op.Now), local: true}
		}
		return r, d, true, nil
	}
	sub.seen, sub.seenAt = res.v, op.Now
	l.obs.Lease(res.v.Allowed)
	if !res.v.Allowed {
		// Too much credit for what is left: the store decides op alone.
		sub.next = max(2, size.requests/4)
		return nil, Decision{}, false, nil
	}
	ls := &lease{sub: sub, id: lop.ID, consumer: op.Consumer, model: op.Model, limits: op.Limits, modelLimits: op.ModelLimits,
		periods: PeriodsAt(op.Now), expires: expires,
		requests: size.requests, tokens: size.tokens, slots: size.slots, slotLimited: s.slotLimited(), view: res.v}
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
func (l *Limiter) leaseSize(sub *leaseSubject, s *Subject, op *ReserveOp) (leaseCredit, bool) {
	o := l.leases.opts
	if sub.seenAt.IsZero() || op.Now.Sub(sub.seenAt) > 2*o.MaxAge || PeriodsAt(sub.seenAt).Minute != PeriodsAt(op.Now).Minute {
		return leaseCredit{}, false
	}
	elapsed := elapsedInMinute(op.Now)
	req := min(sub.next, o.MaxRequests)
	tok := req * max(sub.avgTokens, op.Tokens, 1)
	slots := req
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
	if req < 2 || (s.slotLimited() && slots < 2) || tok < 2*op.Tokens {
		return leaseCredit{}, false
	}
	return leaseCredit{req, tok, min(slots, req)}, true
}

// leaseRoom is what a lease can do for a request.
type leaseRoom int

const (
	leaseAdmits leaseRoom = iota // it admits the request
	leaseBusy                    // it cannot now, but stays for the next request
	leaseDone                    // it is used up or stale: retire it
)

// room says whether the lease can admit op now. A request much bigger than
// usual (avg is the subject's average estimate) that does not fit the tokens
// left goes alone rather than end a lease others can still use.
func (ls *lease) room(s *Subject, op *ReserveOp, avg int64) leaseRoom {
	switch {
	case ls.retired || !op.Now.Before(ls.expires) || s.Limits != ls.limits || s.ModelLimits != ls.modelLimits ||
		ls.admitted >= ls.requests:
		return leaseDone
	case ls.charged+op.Tokens > ls.tokens:
		if op.Tokens > 2*avg && ls.charged+2*avg <= ls.tokens {
			return leaseBusy
		}
		return leaseDone
	case ls.slotLimited && ls.out >= ls.slots:
		return leaseBusy
	}
	return leaseAdmits
}

// take admits op under the lease. The decision's header data is the counts
// the store reported at the grant plus what this lease admitted since.
func (ls *lease) take(op *ReserveOp) (*Reservation, Decision) {
	v := ls.view
	for _, c := range []*ScopeCounts{&v.Consumer, &v.Model} {
		c.Requests.Cur += ls.admitted
		c.Tokens.Cur += ls.charged
		c.Day += ls.charged
		c.Month += ls.charged
		c.InFlight += ls.out
	}
	d := allowedDecision(op, &v)
	ls.admitted++
	ls.charged += op.Tokens
	ls.out++
	ls.outTokens += op.Tokens
	return &Reservation{id: ls.id, consumer: op.Consumer, model: op.Model, tokens: op.Tokens,
		periods: ls.periods, lease: ls}, d
}

// retire stops ls admitting, sizes the subject's next lease from how ls was
// used, and returns its settlement: whole when nothing runs under it, else
// partial (what finished, the unused credit, the slots not in use); the rest
// follows when its last request ends (finishLeased). Under sub.mu.
func (l *Limiter) retire(sub *leaseSubject, ls *lease, now time.Time) *ReconcileOp {
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
		return l.queueLeaseUsage(ls.settlement(l.opts.Clock()))
	}
	keep := int64(1)
	if ls.slotLimited {
		keep = ls.out
	}
	op := &ReconcileOp{ID: ls.id, Consumer: ls.consumer, Model: ls.model, Periods: ls.periods,
		Actual: max(0, ls.charged), Now: l.opts.Clock(), UnusedRequests: ls.requests - ls.admitted,
		Partial: true, KeepSlots: keep, Remaining: ls.outTokens}
	ls.settled, ls.given = ls.charged-ls.outTokens, ls.requests-ls.admitted
	ls.requests, ls.slots = ls.admitted, keep
	return l.queueLeaseUsage(op)
}

// settlement is the final settlement of a retired lease with nothing
// running: what its requests used beyond a partial settlement, its unused
// requests, its slots, and what a partial settlement covered (so the store
// gets it right even if the partial one is late or the record expired).
func (ls *lease) settlement(now time.Time) *ReconcileOp {
	return &ReconcileOp{ID: ls.id, Consumer: ls.consumer, Model: ls.model, Periods: ls.periods,
		Actual: max(0, ls.charged-ls.settled), Now: now, UnusedRequests: ls.requests - ls.admitted,
		Settled: ls.settled, SettledUnused: ls.given}
}

// finishLeased ends a request admitted under a lease, settling the lease
// once it is retired and this was its last request running.
func (l *Limiter) finishLeased(ctx context.Context, r *Reservation, actual int64) error {
	ls := r.lease
	sub := ls.sub
	sub.mu.Lock()
	ls.charged += actual - r.tokens
	ls.out--
	ls.outTokens -= r.tokens
	var done *ReconcileOp
	if ls.retired && ls.out == 0 {
		done = l.queueLeaseUsage(ls.settlement(l.opts.Clock()))
	}
	sub.mu.Unlock()
	return l.writeLeaseUsage(ctx, done)
}

// queueLeaseUsage queues a lease settlement, whether or not usage is written
// in the background, under the subject's mutex: a lease's settlements enter
// the queue in the order they were made. (The store gets them right in any
// order; in order, each is applied as soon as it arrives.) It returns op when
// the queue cannot take it (full, or the limiter closed), for the caller to
// write with writeLeaseUsage once unlocked.
func (l *Limiter) queueLeaseUsage(op *ReconcileOp) *ReconcileOp {
	if depth, ok := l.pending.push(*op); ok {
		l.obs.PendingDepth(depth)
		return nil
	}
	return op
}

// writeLeaseUsage writes a lease settlement the queue did not take, queueing
// it for a retry if the store fails.
func (l *Limiter) writeLeaseUsage(ctx context.Context, op *ReconcileOp) error {
	if op == nil {
		return nil
	}
	return l.writeUsageOf(ctx, *op, false)
}

// observe keeps counts the store reported for a subject's request decided
// without a lease: the next lease is sized from them.
func (t *leaseTable) observe(s Subject, now time.Time, res ReserveResult) {
	sub := t.lockSubject(&s)
	if sub == nil {
		return
	}
	defer sub.mu.Unlock()
	sub.seen, sub.seenAt, sub.lastUsed = res, now, now
}

// sweepLeases retires leases that aged out, so idle subjects give their
// credit back, and forgets subjects idle for a while. all retires every
// lease (Close).
func (l *Limiter) sweepLeases(ctx context.Context, all bool) {
	now := l.opts.Clock()
	t := l.leases
	if all {
		t.closed.Store(true)
	}
	t.mu.Lock()
	subs := make([]*leaseSubject, 0, len(t.subs))
	for _, sub := range t.subs {
		subs = append(subs, sub)
	}
	t.mu.Unlock()
	for _, sub := range subs {
		sub.mu.Lock()
		var done *ReconcileOp
		if ls := sub.cur; ls != nil && (all || !now.Before(ls.expires)) {
			done = l.retire(sub, ls, now)
		}
		if !sub.gone && sub.cur == nil && sub.acquired == nil && now.Sub(sub.lastUsed) > 10*t.opts.MaxAge {
			// Decided and done under sub.mu: no request can be using it.
			// Its retired leases keep their own pointer to it.
			sub.gone = true
			t.mu.Lock()
			if t.subs[sub.key] == sub {
				delete(t.subs, sub.key)
			}
			t.mu.Unlock()
		}
		sub.mu.Unlock()
		_ = l.writeLeaseUsage(ctx, done) // a failed write is queued or counted as lost
	}
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
