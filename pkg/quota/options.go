package quota

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// FailurePolicy says what the Limiter does while the shared store is unusable.
type FailurePolicy int

const (
	// FailClosed returns ErrUnavailable; the caller answers a fast 503.
	FailClosed FailurePolicy = iota
	// FailOpen decides with a local in-memory store, so limits still hold per
	// replica (N replicas then admit up to N times the limit).
	FailOpen
)

// ParseFailurePolicy reads the configuration spelling: "closed" or "open".
func ParseFailurePolicy(s string) (FailurePolicy, error) {
	switch s {
	case "closed", "":
		return FailClosed, nil
	case "open":
		return FailOpen, nil
	}
	return FailClosed, fmt.Errorf("quota: failure policy must be closed or open, got %q", s)
}

// BreakerOptions tune the circuit breaker around the shared store.
type BreakerOptions struct {
	// FailureThreshold consecutive failures open the breaker (default 5).
	FailureThreshold uint
	// Delay is how long it stays open before letting a probe through (default 1s).
	Delay time.Duration
	// SuccessThreshold successful probes close it again (default 1).
	SuccessThreshold uint
}

// Options configure a Limiter. Only Store is required.
type Options struct {
	// Store holds the shared counters (a RedisStore, or a MemoryStore for one replica).
	Store Store
	// FailurePolicy applies while Store fails or the breaker is open.
	FailurePolicy FailurePolicy
	// Fallback decides under FailOpen; default a fresh MemoryStore.
	Fallback Store
	// Timeout bounds every store call (default 50ms), well inside Envoy's
	// ext_proc message timeout (200ms by default).
	Timeout time.Duration
	// ReservationTTL frees reservations never reconciled (default 10m). A
	// late reconciliation is still charged for one more TTL after that.
	ReservationTTL time.Duration
	// PendingLimit bounds usage writes queued while the store is away (default 10000).
	PendingLimit int
	// BackgroundUsage writes reconciliations from the background flusher,
	// batched into one round trip per batch when the store can (RedisStore),
	// instead of on the caller's goroutine: Reconcile returns at once and a
	// request costs one store round trip (its admission) on its own path.
	// Usage shows up in the store a moment later. Reservations under a
	// concurrency limit are still reconciled at once, so their slot is free
	// when the response ends.
	BackgroundUsage bool
	// FlushBackoff and FlushBackoffMax bound the queue flusher's retry delays
	// (defaults 100ms and 5s).
	FlushBackoff    time.Duration
	FlushBackoffMax time.Duration
	Breaker         BreakerOptions
	// Leases let a replica admit most requests from credit it reserved in
	// the store ahead (see LeaseOptions); off by default.
	Leases LeaseOptions
	// Clock decides periods and reservation deadlines (default time.Now).
	Clock func() time.Time
	// NewID names reservations; names must be unique across every replica
	// sharing the store and must not contain '#', which names a lease's
	// extra concurrency slots (default: 128 random bits, base32).
	NewID    func() string
	Logger   *slog.Logger
	Observer Observer
}

func (o Options) withDefaults() (Options, error) {
	if o.Store == nil {
		return o, errors.New("quota: Options.Store is required")
	}
	if o.FailurePolicy != FailClosed && o.FailurePolicy != FailOpen {
		return o, fmt.Errorf("quota: unknown failure policy %d", o.FailurePolicy)
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"Timeout", &o.Timeout, 50 * time.Millisecond},
		{"ReservationTTL", &o.ReservationTTL, 10 * time.Minute},
		{"FlushBackoff", &o.FlushBackoff, 100 * time.Millisecond},
		{"FlushBackoffMax", &o.FlushBackoffMax, 5 * time.Second},
		{"Breaker.Delay", &o.Breaker.Delay, time.Second},
	} {
		if *d.v < 0 {
			return o, fmt.Errorf("quota: Options.%s must not be negative", d.name)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if o.PendingLimit < 0 {
		return o, errors.New("quota: Options.PendingLimit must not be negative")
	}
	if o.PendingLimit == 0 {
		o.PendingLimit = 10000
	}
	if o.Breaker.FailureThreshold == 0 {
		o.Breaker.FailureThreshold = 5
	}
	if o.Breaker.SuccessThreshold == 0 {
		o.Breaker.SuccessThreshold = 1
	}
	if o.Leases.Enabled {
		if err := o.Leases.withDefaults(); err != nil {
			return o, err
		}
	}
	if o.Fallback == nil {
		o.Fallback = NewMemoryStore()
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.NewID == nil {
		o.NewID = rand.Text
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Observer == nil {
		o.Observer = NopObserver{}
	}
	return o, nil
}
