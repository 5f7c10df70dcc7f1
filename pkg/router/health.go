package router

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
)

// env is what a health borrows from the newest Router using it.
type env struct {
	now func() time.Time
	obs Observer
}

// ticket is what admission hands a Selection so its outcome lands in the right
// breaker state: epoch changes with every transition, and outcomes of requests
// admitted under an older epoch are dropped. Without that, an LLM request that
// started before the breaker opened and fails a minute later would re-open a
// breaker that is probing a recovered provider.
type ticket struct {
	epoch uint64
	probe bool
}

// health is one provider's circuit breaker. failsafe-go counts outcomes and
// decides transitions; this wrapper owns what needs the injected clock (the
// open -> half-open delay), the half-open probe slots (so a canceled probe can
// give its slot back without recording a result) and a lock-free view of the
// state for the hot path. A health is shared by successive Routers while the
// provider's breaker settings stay the same.
type health struct {
	name     string
	settings BreakerSettings
	cb       circuitbreaker.CircuitBreaker[any] // nil: breaker disabled
	env      atomic.Pointer[env]

	// state and epoch are written under mu (from the transition listener) and
	// read without it on the hot path.
	state atomic.Int32
	epoch atomic.Uint64

	// mu serialises every call into cb, so transition listeners, which cb runs
	// on the calling goroutine, finish before the next result is recorded and
	// see mu already held.
	mu       sync.Mutex
	openedAt time.Time
	probes   int
}

// newHealth builds a provider's breaker.
func newHealth(name string, s BreakerSettings, e *env) *health {
	h := &health{name: name, settings: s}
	h.env.Store(e)
	if !s.enabled() {
		return h
	}
	b := circuitbreaker.NewBuilder[any]().
		// The delay is never consulted: this wrapper half-opens the breaker
		// itself, using the injected clock, and never asks cb for permits.
		WithDelay(s.OpenFor).
		WithSuccessThreshold(uint(s.probes())).
		OnStateChanged(h.onStateChanged)
	if s.Window > 0 {
		b = b.WithFailureThresholdPeriod(uint(s.FailureThreshold), s.Window)
	} else {
		b = b.WithFailureThreshold(uint(s.FailureThreshold))
	}
	h.cb = b.Build()
	return h
}

// onStateChanged runs inside a cb call, that is with h.mu held.
func (h *health) onStateChanged(e circuitbreaker.StateChangedEvent) {
	from, to := fromFailsafe(e.OldState), fromFailsafe(e.NewState)
	en := h.env.Load()
	if to == StateOpen {
		h.openedAt = en.now()
	}
	h.probes = 0
	h.epoch.Add(1)
	h.state.Store(int32(to))
	en.obs.BreakerStateChanged(h.name, from, to)
}

func fromFailsafe(s circuitbreaker.State) State {
	switch s {
	case circuitbreaker.OpenState:
		return StateOpen
	case circuitbreaker.HalfOpenState:
		return StateHalfOpen
	default:
		return StateClosed
	}
}

// State returns the breaker state. An open breaker whose delay has passed stays
// open until the next request half-opens it.
func (h *health) State() State { return State(h.state.Load()) }

// admit asks to send one request. When refused, retryAfter says when asking
// again may succeed.
func (h *health) admit() (t ticket, ok bool, retryAfter time.Duration) {
	if h.cb == nil {
		return ticket{}, true, 0
	}
	// Epoch before state: a transition in between leaves a stale epoch, whose
	// outcome is then dropped rather than counted in the wrong state.
	epoch := h.epoch.Load()
	if h.State() == StateClosed {
		return ticket{epoch: epoch}, true, 0
	}
	return h.admitSlow()
}

func (h *health) admitSlow() (ticket, bool, time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.State() == StateOpen {
		wait := h.settings.OpenFor - h.env.Load().now().Sub(h.openedAt)
		if wait > 0 {
			return ticket{}, false, wait
		}
		h.cb.HalfOpen()
	}
	switch h.State() {
	case StateClosed:
		return ticket{epoch: h.epoch.Load()}, true, 0
	case StateHalfOpen:
		if h.probes < h.settings.probes() {
			h.probes++
			return ticket{epoch: h.epoch.Load(), probe: true}, true, 0
		}
	}
	return ticket{}, false, probeRetryAfter
}

// done records an admitted request's outcome and frees its probe slot.
func (h *health) done(t ticket, o Outcome) {
	if h.cb == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if t.epoch != h.epoch.Load() {
		return
	}
	switch {
	case o.Failure():
		h.cb.RecordFailure()
	case o.Counted():
		h.cb.RecordSuccess()
	}
	// A transition just now reset the probe slots along with the epoch.
	if t.probe && t.epoch == h.epoch.Load() && h.probes > 0 {
		h.probes--
	}
}

// inherit copies an older breaker's open state into h, for a provider whose
// breaker settings changed on reload. A half-open breaker comes back open with
// its delay already over, so the next request probes it again. Closed-state
// failure counts are not carried: the new thresholds may not apply to them.
func (h *health) inherit(old *health) {
	if h.cb == nil {
		return
	}
	old.mu.Lock()
	st, openedAt := old.State(), old.openedAt
	old.mu.Unlock()
	if st == StateClosed {
		return
	}
	// Reported transitions would tell metrics the provider just failed.
	en := h.env.Load()
	h.env.Store(&env{now: en.now, obs: NopObserver{}})
	h.mu.Lock()
	h.cb.Open()
	if st == StateOpen {
		h.openedAt = openedAt
	} else {
		h.openedAt = en.now().Add(-h.settings.OpenFor)
	}
	h.mu.Unlock()
	h.env.Store(en)
}
