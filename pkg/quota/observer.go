package quota

import "time"

// Store operation names passed to Observer methods.
const (
	OpCountRequest = "count_request"
	OpReserve      = "reserve"
	OpReconcile    = "reconcile"
	OpUsage        = "usage"
)

// Observer receives the Limiter's operational events, for metrics. Methods
// are called synchronously on the request path and must be cheap. Embed
// NopObserver to implement only some of them.
type Observer interface {
	// StoreLatency reports one call to the shared store, including failed ones.
	StoreLatency(op string, d time.Duration)
	// StoreError reports a failed or refused (breaker open) store call.
	StoreError(op string, err error)
	// Fallback reports a decision made by the local store (FailOpen).
	Fallback(op string)
	// BreakerState reports a breaker transition: "closed", "open", "half-open".
	BreakerState(state string)
	// PendingDepth reports the number of queued usage writes after a change.
	PendingDepth(n int)
	// PendingDropped reports a usage write lost because the queue was full or
	// the limiter closed.
	PendingDropped()
	// Lease reports a lease the store granted, or refused (the request was
	// then decided alone).
	Lease(granted bool)
	// LeasedAdmission reports a request admitted from leased credit, without
	// a store call.
	LeasedAdmission()
}

// NopObserver ignores every event.
type NopObserver struct{}

var _ Observer = NopObserver{}

// StoreLatency implements Observer.
func (NopObserver) StoreLatency(string, time.Duration) {}

// StoreError implements Observer.
func (NopObserver) StoreError(string, error) {}

// Fallback implements Observer.
func (NopObserver) Fallback(string) {}

// BreakerState implements Observer.
func (NopObserver) BreakerState(string) {}

// PendingDepth implements Observer.
func (NopObserver) PendingDepth(int) {}

// Lease implements Observer.
func (NopObserver) Lease(bool) {}

// LeasedAdmission implements Observer.
func (NopObserver) LeasedAdmission() {}

// PendingDropped implements Observer.
func (NopObserver) PendingDropped() {}
