package router

import (
	"errors"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

func TestSidecarBulkhead(t *testing.T) {
	obs := &recorder{}
	o := twoProviders(newFakeClock(), obs)
	o.MaxConcurrent = 2
	r := mustNew(t, o)
	req := Request{Model: "gpt"}
	s1, s2 := mustSelect(t, r, req), mustSelect(t, r, req)
	expectUnavailable(t, r, req, ErrSaturated, saturatedRetryAfter)
	if want := []string{"gpt:sidecar_full"}; !slices.Equal(obs.rejected, want) {
		t.Fatalf("rejected = %v, want %v", obs.rejected, want)
	}

	s1.Done(OutcomeSuccess)
	s1.Done(OutcomeSuccess) // ignored: must not free a second permit
	s3 := mustSelect(t, r, req)
	expectUnavailable(t, r, req, ErrSaturated, saturatedRetryAfter)
	s2.Done(OutcomeCanceled)
	s3.Done(OutcomeServerError)
	for range 2 {
		defer mustSelect(t, r, req).Done(OutcomeSuccess)
	}
}

func TestProviderBulkheadFailover(t *testing.T) {
	obs := &recorder{}
	o := twoProviders(newFakeClock(), obs)
	o.Providers[0].MaxConcurrent = 1
	o.Providers[1].MaxConcurrent = 1
	r := mustNew(t, o)

	held := mustSelect(t, r, Request{Model: "gpt", Pin: "primary"})
	expectUnavailable(t, r, Request{Model: "gpt", Pin: "primary"}, ErrSaturated, saturatedRetryAfter)
	// Whatever the weights draw, a full primary sends the request to the canary.
	other := mustSelect(t, r, Request{Model: "gpt"})
	if other.Provider.Name != "canary" {
		t.Fatalf("full primary: selected %s, want canary", other.Provider.Name)
	}
	expectUnavailable(t, r, Request{Model: "gpt"}, ErrSaturated, saturatedRetryAfter)
	if got := obs.rejected[len(obs.rejected)-1]; got != "gpt:provider_full" {
		t.Fatalf("last rejection = %q, want gpt:provider_full", got)
	}

	held.Done(OutcomeSuccess)
	held.Done(OutcomeSuccess)
	again := mustSelect(t, r, Request{Model: "gpt", Pin: "primary"})
	expectUnavailable(t, r, Request{Model: "gpt", Pin: "primary"}, ErrSaturated, saturatedRetryAfter)
	again.Done(OutcomeSuccess)
	other.Done(OutcomeSuccess)
}

// TestSaturatedProbeReleasesSlot: a probe slot taken for a provider whose
// bulkhead turns out to be full must be given back.
func TestSaturatedProbeReleasesSlot(t *testing.T) {
	clock := newFakeClock()
	o := twoProviders(clock, nil)
	o.Providers[1].MaxConcurrent = 2
	r := mustNew(t, o)
	pinned := Request{Model: "gpt", Pin: "canary"}

	slow := mustSelect(t, r, pinned) // holds one canary permit throughout
	fail(t, r, "gpt", "canary", breaker3.FailureThreshold, 500)
	clock.Advance(breaker3.OpenFor)
	probe := mustSelect(t, r, pinned)
	expectUnavailable(t, r, pinned, ErrSaturated, saturatedRetryAfter)
	probe.Done(OutcomeCanceled)
	slow.Done(OutcomeCanceled)

	p1, p2 := mustSelect(t, r, pinned), mustSelect(t, r, pinned)
	if !p1.Probe || !p2.Probe {
		t.Fatalf("want two probes, got %v %v", p1.Probe, p2.Probe)
	}
	p1.Done(OutcomeSuccess)
	p2.Done(OutcomeSuccess)
	if got := r.States()["canary"]; got != StateClosed {
		t.Fatalf("state = %v, want closed", got)
	}
}

// TestBulkheadsUnderConcurrency checks the limits hold with many goroutines
// and every permit comes back.
func TestBulkheadsUnderConcurrency(t *testing.T) {
	const perProvider, global = 3, 5
	o := twoProviders(newFakeClock(), nil)
	o.Rand = nil // the default source is safe for concurrent use
	o.MaxConcurrent = global
	for i := range o.Providers {
		o.Providers[i].MaxConcurrent = perProvider
		o.Providers[i].Breaker = BreakerSettings{} // keep both providers in play
	}
	r := mustNew(t, o)
	var inflight sync.Map // provider -> *atomic.Int32
	for _, p := range []string{"primary", "canary"} {
		inflight.Store(p, new(atomic.Int32))
	}
	var total atomic.Int32
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				s, err := r.Select(Request{Model: "gpt"})
				if errors.Is(err, ErrSaturated) {
					continue
				}
				if err != nil {
					t.Errorf("Select: %v", err)
					return
				}
				c, _ := inflight.Load(s.Provider.Name)
				if n := c.(*atomic.Int32).Add(1); n > perProvider {
					t.Errorf("%s: %d in flight > %d", s.Provider.Name, n, perProvider)
				}
				if n := total.Add(1); n > global {
					t.Errorf("%d in flight > %d", n, global)
				}
				if i%7 == g {
					runtime.Gosched() // let others find the bulkheads full
				}
				c.(*atomic.Int32).Add(-1)
				total.Add(-1)
				s.Done(Outcome(i % 7))
				s.Done(OutcomeSuccess)
			}
		})
	}
	wg.Wait()
	var held []*Selection
	for range global {
		held = append(held, mustSelect(t, r, Request{Model: "gpt"}))
	}
	expectUnavailable(t, r, Request{Model: "gpt"}, ErrSaturated, saturatedRetryAfter)
	for _, s := range held {
		s.Done(OutcomeSuccess)
	}
}
