package router

// State is a provider breaker's state.
type State int32

// Breaker states.
const (
	// StateClosed: requests flow and their outcomes are counted.
	StateClosed State = iota
	// StateOpen: the provider is skipped until OpenFor has passed.
	StateOpen
	// StateHalfOpen: a few probe requests decide whether to close or re-open.
	StateHalfOpen
)

// String returns a metric-label friendly name.
func (s State) String() string {
	switch s {
	case StateClosed:
		return "closed"
	case StateOpen:
		return "open"
	case StateHalfOpen:
		return "half_open"
	default:
		return "unknown"
	}
}

// Reason says why a deployment was passed over or a request rejected.
type Reason uint8

// Reasons.
const (
	// ReasonBreakerOpen: the provider's breaker is open, or half-open with all
	// its probe slots taken.
	ReasonBreakerOpen Reason = iota + 1
	// ReasonProviderFull: the provider's bulkhead is full.
	ReasonProviderFull
	// ReasonSidecarFull: the sidecar-wide bulkhead is full.
	ReasonSidecarFull
)

// String returns a metric-label friendly name.
func (r Reason) String() string {
	switch r {
	case ReasonBreakerOpen:
		return "breaker_open"
	case ReasonProviderFull:
		return "provider_full"
	case ReasonSidecarFull:
		return "sidecar_full"
	default:
		return "unknown"
	}
}

// Observer is told what the router decides, typically to update metrics. It is
// called synchronously on the request path, so it must be fast, must not block
// and must not call back into the Router.
type Observer interface {
	// BreakerStateChanged reports a provider breaker transition.
	BreakerStateChanged(provider string, from, to State)
	// Skipped reports a deployment passed over for one request; the request may
	// still be served by another deployment.
	Skipped(provider string, reason Reason)
	// Rejected reports a Select that failed for lack of capacity or health.
	// ReasonProviderFull means at least one candidate was full (ErrSaturated);
	// ReasonBreakerOpen means every candidate was unhealthy.
	Rejected(model string, reason Reason)
}

// NopObserver ignores everything. Embed it to implement part of Observer.
type NopObserver struct{}

// BreakerStateChanged implements Observer.
func (NopObserver) BreakerStateChanged(string, State, State) {}

// Skipped implements Observer.
func (NopObserver) Skipped(string, Reason) {}

// Rejected implements Observer.
func (NopObserver) Rejected(string, Reason) {}

var _ Observer = NopObserver{}
