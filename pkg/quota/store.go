package quota

import (
	"context"
	"errors"
	"time"
)

// Store keeps quota counters. Each method is one atomic decision: concurrent
// callers, in this process or in other replicas sharing the store, never see a
// half-applied operation. The Limiter bounds every call with a context
// deadline; a store must return promptly once its context is done (RedisStore
// needs a client with ContextTimeoutEnabled). Implementations: RedisStore
// (shared) and MemoryStore (one replica).
type Store interface {
	// CountRequest adds one request to the consumer's requests-per-minute
	// window if it stays within op.Limit (0 = unlimited).
	CountRequest(ctx context.Context, op RequestOp) (RequestResult, error)
	// Reserve applies ReserveOp all-or-nothing: it first expires overdue
	// reservations of the touched scopes, then checks every limit, then
	// writes every counter and the reservation record.
	Reserve(ctx context.Context, op ReserveOp) (ReserveResult, error)
	// Reconcile replaces a reservation by actual usage; see ReconcileOp.
	Reconcile(ctx context.Context, op ReconcileOp) error
	// Usage expires overdue reservations and reports the counters.
	Usage(ctx context.Context, op UsageOp) (UsageResult, error)
}

// ErrStoreRejected marks a store's refusal of an operation (a script error
// reply, not a lost answer): sending it again would fail the same way.
var ErrStoreRejected = errors.New("quota: store rejected the operation")

// RequestOp counts one request in the consumer's minute window.
type RequestOp struct {
	Consumer string
	Now      time.Time
	Limit    int64
}

// RequestResult is the window as seen before the request was counted.
type RequestResult struct {
	Allowed bool
	Window  Window
}

// ReserveOp reserves Tokens for reservation ID.
type ReserveOp struct {
	ID       string
	Consumer string
	// Model, when set, adds the model scope (keyed under the consumer).
	Model       string
	Limits      Limits
	ModelLimits Limits
	Tokens      int64
	Now         time.Time
	// Deadline is when an unreconciled reservation expires.
	Deadline time.Time
	// ForgetAt is when the record of an expired reservation is dropped; until
	// then a late Reconcile still charges the actual usage.
	ForgetAt time.Time
	// CountRequest also counts the request against the consumer scope's
	// requests per minute, as CountRequest would, in the same atomic step.
	// (The model scope's request is always counted by Reserve.)
	CountRequest bool
	// Requests and Slots are how many requests the reservation counts (where
	// it counts requests) and how many concurrency slots it takes; 0 means 1.
	// A lease (see LeaseOptions) reserves credit for many requests at once.
	Requests int64
	Slots    int64
}

// requests and slots are Requests and Slots with their defaults applied.
func (op ReserveOp) requests() int64 { return max(1, op.Requests) }
func (op ReserveOp) slots() int64    { return max(1, op.Slots) }

// ScopeCounts are one scope's counters as seen by a store operation, after
// expiring overdue reservations and before applying the operation.
type ScopeCounts struct {
	Requests Window
	Tokens   Window
	Day      int64
	Month    int64
	InFlight int64
}

// ReserveResult reports whether the reservation was made and the counters the
// decision was based on. Model is zero when the op had no model.
type ReserveResult struct {
	Allowed  bool
	Consumer ScopeCounts
	Model    ScopeCounts
}

// ReconcileOp settles reservation ID, made at a time within Periods, with
// Actual tokens in both scopes. A live reservation is adjusted by
// Actual-reserved; an expired one (already refunded) is charged Actual; an
// unknown one is charged Actual (the store lost it, or forgot it long after
// expiry), except when Retry is set and the scope still holds reservation
// records: then an earlier attempt whose answer was lost settled it.
//
// A lease (a reservation of Requests > 1) is settled with UnusedRequests, the
// requests it counted but did not admit, which are taken back from the
// request counters of its minute in every scope; all its slots free. Both
// apply only when the store still holds the record: a reservation it never
// made returns nothing.
//
// Partial settles a lease that stopped admitting while some of its requests
// still run: the counters get Actual (the tokens used so far, with the
// estimates of what still runs), the record keeps Remaining tokens (those
// estimates) and KeepSlots of its slots, and UnusedRequests go back. It
// applies once. The final settlement (without Partial, Actual = what the
// remaining requests used) carries what the partial one covered, Settled
// (Actual - Remaining of the partial) and SettledUnused (its UnusedRequests),
// so the two give the same result in either order, or when the record expired
// in between.
type ReconcileOp struct {
	ID             string
	Consumer       string
	Model          string
	Periods        Periods
	Actual         int64
	Now            time.Time
	Retry          bool
	UnusedRequests int64
	Partial        bool
	KeepSlots      int64
	Remaining      int64
	Settled        int64
	SettledUnused  int64
}

// UsageOp reads a consumer's (and optionally a model scope's) counters.
type UsageOp struct {
	Consumer string
	Model    string
	Now      time.Time
}

// UsageResult holds the counters of each scope read.
type UsageResult struct {
	Consumer ScopeCounts
	Model    ScopeCounts
}
