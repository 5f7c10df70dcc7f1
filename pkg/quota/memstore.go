package quota

import (
	"container/heap"
	"context"
	"sync"
)

// MemoryStore keeps counters in process memory, for a single replica, local
// development, tests, and as the per-replica fallback when Redis is down. It
// implements the semantics of RedisStore (see the Lua scripts), checked by
// the shared conformance suite and a differential test. One difference: the
// scripts refund at most 64 expired reservations per call (bounding script
// time), so after a mass crash Redis returns the tokens over a few calls.
// Consumers are never forgotten: memory grows with the number of consumers
// and models, not with traffic.
type MemoryStore struct {
	mu        sync.Mutex
	consumers map[string]*memConsumer
}

var _ Store = (*MemoryStore)(nil)

// nonBlocking lets the Limiter skip its timeout machinery for this store.
func (*MemoryStore) nonBlocking() {}

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{consumers: make(map[string]*memConsumer)}
}

// memConsumer holds a consumer's scopes under one lock, as Redis holds them in
// one hash slot: a reservation touching both scopes is atomic.
type memConsumer struct {
	mu     sync.Mutex
	scopes map[string]*memScope // "" is the consumer scope, else a model
}

func (m *MemoryStore) consumer(id string) *memConsumer {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.consumers[id]
	if c == nil {
		c = &memConsumer{scopes: make(map[string]*memScope)}
		m.consumers[id] = c
	}
	return c
}

func (c *memConsumer) scope(model string) *memScope {
	s := c.scopes[model]
	if s == nil {
		s = &memScope{
			requests: map[int64]int64{}, tokens: map[int64]int64{},
			days: map[int64]int64{}, months: map[int64]int64{},
			records: map[string]*memRecord{},
			gc:      recHeap{which: 1},
		}
		c.scopes[model] = s
	}
	return s
}

// CountRequest implements Store.
func (m *MemoryStore) CountRequest(_ context.Context, op RequestOp) (RequestResult, error) {
	c := m.consumer(op.Consumer)
	c.mu.Lock()
	defer c.mu.Unlock()
	s, p := c.scope(""), PeriodsAt(op.Now)
	w := s.window(s.requests, p.Minute)
	res := RequestResult{Window: w}
	if op.Limit > 0 && w.estimate(elapsedInMinute(op.Now))+1 > op.Limit {
		return res, nil
	}
	res.Allowed = true
	add(s.requests, p.Minute, 1, p.Minute-1)
	return res, nil
}

// Reserve implements Store.
func (m *MemoryStore) Reserve(_ context.Context, op ReserveOp) (ReserveResult, error) {
	c := m.consumer(op.Consumer)
	c.mu.Lock()
	defer c.mu.Unlock()
	now, p, elapsed := op.Now.UnixMilli(), PeriodsAt(op.Now), elapsedInMinute(op.Now)
	cs := c.scope("")
	cs.expire(now, p)
	res := ReserveResult{Consumer: cs.counts(p)}
	over := anyOver(scopeChecks(res.Consumer, op.Limits, elapsed, op, op.CountRequest))
	var ms *memScope
	if op.Model != "" {
		ms = c.scope(op.Model)
		ms.expire(now, p)
		res.Model = ms.counts(p)
		over = over || anyOver(scopeChecks(res.Model, op.ModelLimits, elapsed, op, true))
	}
	if over {
		return res, nil
	}
	res.Allowed = true
	cs.reserve(op, p, op.CountRequest)
	if ms != nil {
		ms.reserve(op, p, true)
	}
	return res, nil
}

// Reconcile implements Store.
func (m *MemoryStore) Reconcile(_ context.Context, op ReconcileOp) error {
	c := m.consumer(op.Consumer)
	c.mu.Lock()
	defer c.mu.Unlock()
	ttl := ttlsAt(op.Periods, op.Now)
	c.scope("").reconcile(op, ttl)
	if op.Model != "" {
		c.scope(op.Model).reconcile(op, ttl)
	}
	return nil
}

// Usage implements Store.
func (m *MemoryStore) Usage(_ context.Context, op UsageOp) (UsageResult, error) {
	c := m.consumer(op.Consumer)
	c.mu.Lock()
	defer c.mu.Unlock()
	now, p := op.Now.UnixMilli(), PeriodsAt(op.Now)
	cs := c.scope("")
	cs.expire(now, p)
	res := UsageResult{Consumer: cs.counts(p)}
	if op.Model != "" {
		ms := c.scope(op.Model)
		ms.expire(now, p)
		res.Model = ms.counts(p)
	}
	return res, nil
}

// memScope mirrors one scope's Redis keys: minute buckets, day and month
// counters, reservation records, the in-flight set and the expired-record set.
type memScope struct {
	requests, tokens map[int64]int64 // minute -> count
	days, months     map[int64]int64
	records          map[string]*memRecord
	live             int64
	recordsUntil     int64   // records are kept until then (field "_" in reconcile.lua)
	inflight         recHeap // live records by deadline
	gc               recHeap // expired records by forgetAt
}

type memRecord struct {
	id       string
	live     bool // false once expired and refunded
	partial  bool // partly settled (see ReconcileOp.Partial)
	tokens   int64
	slots    int64
	periods  Periods
	deadline int64
	forgetAt int64
	idx      [2]int // position in inflight (0) and gc (1) heaps, -1 when absent
}

func (s *memScope) window(b map[int64]int64, minute int64) Window {
	return Window{Prev: b[minute-1], Cur: b[minute]}
}

func (s *memScope) counts(p Periods) ScopeCounts {
	return ScopeCounts{
		Requests: s.window(s.requests, p.Minute),
		Tokens:   s.window(s.tokens, p.Minute),
		Day:      s.days[p.Day],
		Month:    s.months[p.Month],
		InFlight: s.live,
	}
}

func (s *memScope) reserve(op ReserveOp, p Periods, countRequest bool) {
	if countRequest {
		add(s.requests, p.Minute, op.requests(), p.Minute-1)
	}
	add(s.tokens, p.Minute, op.Tokens, p.Minute-1)
	add(s.days, p.Day, op.Tokens, p.Day-1)
	add(s.months, p.Month, op.Tokens, p.Month-1)
	r := &memRecord{id: op.ID, live: true, tokens: op.Tokens, slots: op.slots(), periods: p,
		deadline: op.Deadline.UnixMilli(), forgetAt: op.ForgetAt.UnixMilli(), idx: [2]int{-1, -1}}
	s.records[op.ID] = r
	s.recordsUntil = op.ForgetAt.UnixMilli() + minuteMs
	s.live += r.slots
	heap.Push(&s.inflight, r)
}

// expire refunds and retires reservations whose deadline passed, and forgets
// expired records past their retention. Refunds go only to counters of
// periods that are still current; older counters are no longer read.
func (s *memScope) expire(now int64, p Periods) {
	for len(s.inflight.recs) > 0 && s.inflight.recs[0].deadline <= now {
		r := heap.Pop(&s.inflight).(*memRecord)
		if r.periods.Minute == p.Minute || r.periods.Minute == p.Minute-1 {
			sub(s.tokens, r.periods.Minute, r.tokens)
		}
		if r.periods.Day == p.Day {
			sub(s.days, p.Day, r.tokens)
		}
		if r.periods.Month == p.Month {
			sub(s.months, p.Month, r.tokens)
		}
		r.live = false
		s.live -= r.slots
		heap.Push(&s.gc, r)
	}
	for len(s.gc.recs) > 0 && s.gc.recs[0].forgetAt <= now {
		r := heap.Pop(&s.gc).(*memRecord)
		delete(s.records, r.id)
	}
}

func (s *memScope) reconcile(op ReconcileOp, ttl keyTTLs) {
	if op.Partial {
		if r := s.records[op.ID]; r != nil && !r.partial {
			remaining := max(0, op.Remaining)
			delta := op.Actual - remaining // expired: refunded, so charge what finished
			keep := min(max(1, op.KeepSlots), r.slots)
			if r.live {
				delta = op.Actual - r.tokens
				s.live -= r.slots - keep
			}
			adjust(s.tokens, op.Periods.Minute, delta, ttl.minute)
			adjust(s.days, op.Periods.Day, delta, ttl.day)
			adjust(s.months, op.Periods.Month, delta, ttl.month)
			r.tokens, r.slots, r.partial = remaining, keep, true
			adjust(s.requests, op.Periods.Minute, -max(0, op.UnusedRequests), ttl.minute)
		}
		return
	}
	delta := op.Actual + max(0, op.Settled)
	if r := s.records[op.ID]; r != nil {
		back := max(0, op.UnusedRequests)
		switch {
		case r.partial && r.live:
			delta = op.Actual - r.tokens
		case r.partial:
			delta = op.Actual
		case r.live:
			delta -= r.tokens
		}
		if !r.partial {
			back += max(0, op.SettledUnused)
		}
		if r.live {
			s.live -= r.slots
			heap.Remove(&s.inflight, r.idx[0])
		} else {
			heap.Remove(&s.gc, r.idx[1])
		}
		delete(s.records, op.ID)
		adjust(s.requests, op.Periods.Minute, -back, ttl.minute)
	} else if op.Retry && op.Now.UnixMilli() < s.recordsUntil {
		delta = 0 // an earlier attempt settled it (see reconcile.lua)
	}
	adjust(s.tokens, op.Periods.Minute, delta, ttl.minute)
	adjust(s.days, op.Periods.Day, delta, ttl.day)
	adjust(s.months, op.Periods.Month, delta, ttl.month)
}

// add increments a period counter and drops periods older than keepFrom, the
// in-memory equivalent of key TTLs.
func add(m map[int64]int64, period, n, keepFrom int64) {
	if n == 0 {
		return
	}
	m[period] += n
	if len(m) > 2 {
		for k := range m {
			if k < keepFrom {
				delete(m, k)
			}
		}
	}
}

// adjust mirrors the script's adjust: skip dead periods, never create a
// counter to subtract from it, never go below zero.
func adjust(m map[int64]int64, period, delta, ttl int64) {
	if delta == 0 || ttl <= 0 {
		return
	}
	if _, ok := m[period]; !ok && delta < 0 {
		return
	}
	m[period] = max(0, m[period]+delta)
}

func sub(m map[int64]int64, period, n int64) {
	if v, ok := m[period]; ok {
		m[period] = max(0, v-n)
	}
}

// recHeap orders records by deadline (which 0) or forgetAt (which 1), so
// expiry costs O(log n) per reservation instead of a scan of everything in
// flight, and a settled record leaves the heap at once.
type recHeap struct {
	recs  []*memRecord
	which int
}

func (h recHeap) at(i int) int64 {
	if h.which == 0 {
		return h.recs[i].deadline
	}
	return h.recs[i].forgetAt
}

func (h recHeap) Len() int           { return len(h.recs) }
func (h recHeap) Less(i, j int) bool { return h.at(i) < h.at(j) }
func (h recHeap) Swap(i, j int) {
	h.recs[i], h.recs[j] = h.recs[j], h.recs[i]
	h.recs[i].idx[h.which], h.recs[j].idx[h.which] = i, j
}

func (h *recHeap) Push(x any) {
	r := x.(*memRecord)
	r.idx[h.which] = len(h.recs)
	h.recs = append(h.recs, r)
}

func (h *recHeap) Pop() any {
	n := len(h.recs) - 1
	r := h.recs[n]
	h.recs[n] = nil
	h.recs = h.recs[:n]
	r.idx[h.which] = -1
	return r
}
