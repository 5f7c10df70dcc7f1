package quota

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is an injected clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock(t time.Time) *fakeClock { return &fakeClock{now: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// seqIDs names reservations predictably.
func seqIDs() func() string {
	var n atomic.Int64
	return func() string { return fmt.Sprintf("r%d", n.Add(1)) }
}

// countingObserver records events for assertions.
type countingObserver struct {
	mu        sync.Mutex
	granted   int
	refused   int
	leased    int
	errors    map[string]int
	fallbacks map[string]int
	states    []string
	depth     int
	dropped   int
}

func newCountingObserver() *countingObserver {
	return &countingObserver{errors: map[string]int{}, fallbacks: map[string]int{}}
}

func (o *countingObserver) StoreLatency(string, time.Duration) {}
func (o *countingObserver) StoreError(op string, _ error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.errors[op]++
}
func (o *countingObserver) Fallback(op string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.fallbacks[op]++
}
func (o *countingObserver) BreakerState(s string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.states = append(o.states, s)
}
func (o *countingObserver) PendingDepth(n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.depth = n
}
func (o *countingObserver) Lease(granted bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if granted {
		o.granted++
	} else {
		o.refused++
	}
}
func (o *countingObserver) LeasedAdmission() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.leased++
}
func (o *countingObserver) PendingDropped() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.dropped++
}

func (o *countingObserver) snapshot() (states string, depth, dropped int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return strings.Join(o.states, ","), o.depth, o.dropped
}

// newTestLimiter builds a limiter over store with a generous timeout (tests
// run under -race on shared cores) unless opts say otherwise.
func newTestLimiter(t testing.TB, store Store, clock *fakeClock, opts Options) *Limiter {
	t.Helper()
	opts.Store = store
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	if clock != nil {
		opts.Clock = clock.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	l, err := NewLimiter(opts)
	if err != nil {
		t.Fatalf("NewLimiter: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := l.Close(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

// waitFor polls cond (real time) until it holds or the deadline passes; used
// only for background work (the flusher, breaker probes), never for the
// injected clock.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
