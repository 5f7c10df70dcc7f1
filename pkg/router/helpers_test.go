package router

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// seeded returns a deterministic Rand. Not safe for concurrent use: only for
// single-goroutine tests.
func seeded(seed uint64) func() uint64 {
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)).Uint64
}

// recorder is an Observer that remembers what it was told.
type recorder struct {
	mu          sync.Mutex
	transitions []string
	skipped     []string
	rejected    []string
}

func (r *recorder) BreakerStateChanged(p string, from, to State) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.transitions = append(r.transitions, fmt.Sprintf("%s:%s->%s", p, from, to))
}

func (r *recorder) Skipped(p string, reason Reason) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.skipped = append(r.skipped, p+":"+reason.String())
}

func (r *recorder) Rejected(m string, reason Reason) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rejected = append(r.rejected, m+":"+reason.String())
}

func (r *recorder) Transitions() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.transitions...)
}

// breaker3 opens after 3 consecutive failures for 30s and closes after 2 probes.
var breaker3 = BreakerSettings{FailureThreshold: 3, OpenFor: 30 * time.Second, HalfOpenProbes: 2}

// twoProviders is a canary setup: "gpt" served 90/10 by primary and canary.
func twoProviders(clock *fakeClock, obs Observer) Options {
	return Options{
		Providers: []Provider{
			{Name: "primary", Cluster: "primary_cluster", Timeout: 30 * time.Second, MaxRetries: 2, Breaker: breaker3},
			{Name: "canary", Cluster: "canary_cluster", Timeout: 10 * time.Second, MaxRetries: 1, Breaker: breaker3},
		},
		Routes: []Route{{Model: "gpt", Deployments: []Deployment{
			{Provider: "primary", Model: "gpt-4o", Weight: 90},
			{Provider: "canary", Model: "gpt-4o-canary", Weight: 10},
		}}},
		Now:      clock.Now,
		Rand:     seeded(1),
		Observer: obs,
	}
}

func mustNew(t testing.TB, o Options) *Router {
	t.Helper()
	r, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

func mustSelect(t testing.TB, r *Router, req Request) *Selection {
	t.Helper()
	s, err := r.Select(req)
	if err != nil {
		t.Fatalf("Select(%+v): %v", req, err)
	}
	return s
}

// fail sends n requests pinned to provider, all failing with status.
func fail(t testing.TB, r *Router, model, provider string, n, status int) {
	t.Helper()
	for range n {
		mustSelect(t, r, Request{Model: model, Pin: provider}).Done(OutcomeFromStatus(status))
	}
}
