package quota

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
)

// Limiter admits requests and reserves tokens against a shared Store, bounded
// by a timeout and a circuit breaker, with a local fallback (FailOpen) and a
// queue for usage writes that fail. It is safe for concurrent use.
type Limiter struct {
	opts    Options
	store   Store
	log     *slog.Logger
	obs     Observer
	breaker circuitbreaker.CircuitBreaker[any]
	pending *pendingQueue
	flushMu sync.Mutex // one flush at a time
	// background is set when reconciliations go through the pending queue
	// (Options.BackgroundUsage, for a store that is not in memory).
	background bool

	// leases is set when Options.Leases is on (a shared store only).
	leases *leaseTable

	stop      chan struct{}
	flushDone chan struct{}
	leaseDone chan struct{}
	closeOnce sync.Once
}

// Reservation is tokens and a concurrency slot held for one request until
// Reconcile. It is returned only when the reservation was made.
type Reservation struct {
	id       string
	consumer string
	model    string
	tokens   int64
	periods  Periods
	local    bool // made in the fallback store
	// slot is set when a concurrency limit counts this reservation: its
	// reconciliation frees the slot, so it is never deferred.
	slot bool
	// lease is set when the reservation was admitted under a lease: it is
	// settled in memory, and the lease in the store when the lease ends.
	lease   *lease
	settled atomic.Bool
}

// ID names the reservation in the store (for logs).
func (r *Reservation) ID() string { return r.id }

// Tokens is the amount reserved.
func (r *Reservation) Tokens() int64 { return r.tokens }

// NewLimiter starts a limiter and its background flusher; Close stops it.
func NewLimiter(opts Options) (*Limiter, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	l := &Limiter{
		opts:      opts,
		store:     opts.Store,
		log:       opts.Logger,
		obs:       opts.Observer,
		breaker:   newBreaker(opts.Breaker, opts.Logger, opts.Observer),
		pending:   newPendingQueue(opts.PendingLimit),
		stop:      make(chan struct{}),
		flushDone: make(chan struct{}),
	}
	_, inMemory := opts.Store.(nonBlocking)
	l.background = opts.BackgroundUsage && !inMemory
	go l.flushLoop()
	if opts.Leases.Enabled && !inMemory {
		l.leases = newLeaseTable(opts.Leases)
		l.leaseDone = make(chan struct{})
		go l.leaseLoop()
	}
	return l, nil
}

// AdmitRequest counts one request against the consumer's requests-per-minute
// limit, for a caller that must decide before the request's cost is known
// (the gateway uses AdmitAndReserve). A consumer without that limit costs no
// store call. Decision.Allowed false means 429.
func (l *Limiter) AdmitRequest(ctx context.Context, s Subject) (Decision, error) {
	if err := s.validate(); err != nil {
		return Decision{}, err
	}
	if s.Limits.RequestsPerMinute == 0 {
		return Decision{Allowed: true}, nil
	}
	if err := ctx.Err(); err != nil {
		return Decision{}, fmt.Errorf("quota: admit: %w", err)
	}
	op := RequestOp{Consumer: s.Consumer, Now: l.opts.Clock(), Limit: s.Limits.RequestsPerMinute}
	res, err := decide(l, ctx, OpCountRequest, func(ctx context.Context, st Store) (RequestResult, error) {
		return st.CountRequest(ctx, op)
	})
	if err != nil {
		return Decision{}, err
	}
	d := requestDecision(op, res.v)
	d.Local = res.local
	return d, nil
}

// Reserve atomically checks and reserves tokens (prompt estimate + max output)
// against tokens per minute, day and month (UTC periods), a concurrency slot,
// and, when s.Model is set, the model scope's limits including its requests
// per minute. It is one store round trip. The reservation is nil unless
// allowed; the caller must Reconcile it. The Decision carries the header data
// of both families (requests: the consumer's and model's request windows;
// tokens: the tightest tokens-per-minute window), so its Headers() are
// complete for the response.
func (l *Limiter) Reserve(ctx context.Context, s Subject, tokens int64) (*Reservation, Decision, error) {
	return l.reserve(ctx, s, tokens, false)
}

// AdmitAndReserve is AdmitRequest and Reserve in one atomic store round trip:
// the request counts against the consumer's requests per minute too, and
// nothing is counted or reserved unless every limit admits it. The gateway
// uses it once the body is read and the cost is known, which saves a round
// trip per request over AdmitRequest at headers plus Reserve at the body.
func (l *Limiter) AdmitAndReserve(ctx context.Context, s Subject, tokens int64) (*Reservation, Decision, error) {
	return l.reserve(ctx, s, tokens, true)
}

func (l *Limiter) reserve(ctx context.Context, s Subject, tokens int64, countRequest bool) (*Reservation, Decision, error) {
	if err := s.validate(); err != nil {
		return nil, Decision{}, err
	}
	if tokens < 0 {
		return nil, Decision{}, fmt.Errorf("%w: negative token estimate %d", ErrInvalidSubject, tokens)
	}
	if err := ctx.Err(); err != nil {
		return nil, Decision{}, fmt.Errorf("quota: reserve: %w", err)
	}
	now := l.opts.Clock()
	op := ReserveOp{
		Consumer: s.Consumer, Limits: s.Limits, Tokens: tokens, Now: now,
		Deadline: now.Add(l.opts.ReservationTTL), ForgetAt: now.Add(2 * l.opts.ReservationTTL),
		CountRequest: countRequest,
	}
	if s.Model != "" {
		op.Model, op.ModelLimits = s.Model, s.ModelLimits
	}
	if l.leases != nil && countRequest {
		if r, d, handled, err := l.leased(ctx, &s, &op); handled {
			return r, d, err
		}
		if err := ctx.Err(); err != nil { // gone while waiting for a lease
			return nil, Decision{}, fmt.Errorf("quota: reserve: %w", err)
		}
	}
	return l.reserveAlone(ctx, &s, &op)
}

// reserveAlone makes op's reservation in the store (or, under FailOpen, the
// fallback). It is apart from reserve so that a request admitted under a
// lease runs on a small stack.
func (l *Limiter) reserveAlone(ctx context.Context, s *Subject, opp *ReserveOp) (*Reservation, Decision, error) {
	op := *opp
	now := op.Now
	op.ID = l.opts.NewID()
	res, err := decide(l, ctx, OpReserve, func(ctx context.Context, st Store) (ReserveResult, error) {
		return st.Reserve(ctx, op)
	})
	l.releaseAmbiguous(op, res.primaryErr)
	if err != nil {
		return nil, Decision{}, err
	}
	if l.leases != nil && op.CountRequest && !res.local {
		l.leases.observe(*s, now, res.v)
	}
	d := reserveDecision(op, res.v)
	d.Local = res.local
	if !res.v.Allowed {
		return nil, d, nil
	}
	return &Reservation{id: op.ID, consumer: op.Consumer, model: op.Model, tokens: op.Tokens,
		periods: PeriodsAt(now), local: res.local,
		slot: op.Limits.MaxConcurrent > 0 || (op.Model != "" && op.ModelLimits.MaxConcurrent > 0)}, d, nil
}

// releaseAmbiguous queues the release of a reservation the shared store may
// have made although the call failed (a timeout after the script ran).
// Releasing a reservation that was never made is a no-op.
func (l *Limiter) releaseAmbiguous(op ReserveOp, err error) {
	if err == nil || errors.Is(err, errBreakerOpen) {
		return // made as reported, or never sent
	}
	// If the queue is full the drop is counted and the reservation, if it was
	// made, expires after the reservation TTL.
	rel := ReconcileOp{ID: op.ID, Consumer: op.Consumer, Model: op.Model, Periods: PeriodsAt(op.Now), Retry: true}
	if op.Requests > 1 { // a lease: none of its requests were admitted
		rel.UnusedRequests = op.Requests
	}
	_ = l.enqueue(rel)
}

// Reconcile replaces the reservation by actual usage and frees its slot. It is
// idempotent (later calls are no-ops) and ignores ctx cancellation, so it
// works on a fresh context after the client went away. When the store is
// unreachable the write is queued and retried in the background; an error is
// returned only if the queue is full or the limiter closed.
func (l *Limiter) Reconcile(ctx context.Context, r *Reservation, actualTokens int64) error {
	if r == nil || !r.settled.CompareAndSwap(false, true) {
		return nil
	}
	if r.lease != nil {
		return l.finishLeased(ctx, r, max(0, actualTokens))
	}
	op := ReconcileOp{ID: r.id, Consumer: r.consumer, Model: r.model, Periods: r.periods,
		Actual: max(0, actualTokens), Now: l.opts.Clock()}
	if r.local {
		return l.opts.Fallback.Reconcile(context.WithoutCancel(ctx), op)
	}
	return l.writeUsageOf(ctx, op, !r.slot)
}

// writeUsageOf writes one reconciliation: through the background queue when
// deferrable and the limiter writes usage in the background, else at once,
// queueing it for a retry when the store fails.
func (l *Limiter) writeUsageOf(ctx context.Context, op ReconcileOp, deferrable bool) error {
	if l.background && deferrable {
		if depth, ok := l.pending.push(op); ok {
			l.obs.PendingDepth(depth)
			return nil // the flusher writes it, batched with others
		}
		// Queue full or limiter closed (a stream ending during shutdown):
		// write it now rather than lose it.
	}
	err := l.reconcileShared(ctx, op)
	if err == nil {
		return nil
	}
	// A refused call wrote nothing; any other failure may have been applied.
	op.Retry = !errors.Is(err, errBreakerOpen)
	return l.enqueue(op)
}

// reconcileShared writes op to the shared store through the breaker.
func (l *Limiter) reconcileShared(ctx context.Context, op ReconcileOp) error {
	_, err := call(l, ctx, OpReconcile, func(ctx context.Context, st Store) (struct{}, error) {
		return struct{}{}, st.Reconcile(ctx, op)
	})
	return err
}

// Usage reports current-period usage and remaining budget of the subject's
// consumer scope and, when s.Model is set, its model scope.
func (l *Limiter) Usage(ctx context.Context, s Subject) (UsageReport, error) {
	if err := s.validate(); err != nil {
		return UsageReport{}, err
	}
	op := UsageOp{Consumer: s.Consumer, Model: s.Model, Now: l.opts.Clock()}
	res, err := decide(l, ctx, OpUsage, func(ctx context.Context, st Store) (UsageResult, error) {
		return st.Usage(ctx, op)
	})
	if err != nil {
		return UsageReport{}, err
	}
	return usageReport(s, op.Now, res.v, res.local), nil
}

// StoreAvailable is false while the breaker is open (for readiness reporting).
func (l *Limiter) StoreAvailable() bool { return !l.breaker.IsOpen() }
