package router

import (
	"slices"
	"testing"
	"time"
)

func TestReloadKeepsBreakerState(t *testing.T) {
	tests := []struct {
		name       string
		change     func(*Provider)
		retryAfter time.Duration // for the canary, opened 10s before the reload
	}{
		{"same settings share the breaker", func(*Provider) {}, breaker3.OpenFor - 10*time.Second},
		{"changed settings inherit the open state", func(p *Provider) {
			p.Breaker.OpenFor = time.Minute
			p.Breaker.HalfOpenProbes = 1
		}, time.Minute - 10*time.Second},
		{"other provider fields do not matter", func(p *Provider) { p.Timeout = time.Second; p.MaxConcurrent = 7 }, breaker3.OpenFor - 10*time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock, newObs := newFakeClock(), &recorder{}
			old := mustNew(t, twoProviders(clock, nil))
			fail(t, old, "gpt", "canary", breaker3.FailureThreshold, 500)
			clock.Advance(10 * time.Second)

			o := twoProviders(clock, newObs)
			tt.change(&o.Providers[1])
			o.Previous = old
			r := mustNew(t, o)
			if got := r.States()["canary"]; got != StateOpen {
				t.Fatalf("canary after reload: %v, want open", got)
			}
			expectUnavailable(t, r, Request{Model: "gpt", Pin: "canary"}, ErrNoHealthyProvider, tt.retryAfter)
			if got := newObs.Transitions(); len(got) != 0 {
				t.Fatalf("reload reported transitions %v", got)
			}
			clock.Advance(tt.retryAfter)
			for range o.Providers[1].Breaker.probes() {
				mustSelect(t, r, Request{Model: "gpt", Pin: "canary"}).Done(OutcomeSuccess)
			}
			want := []string{"canary:open->half_open", "canary:half_open->closed"}
			if got := newObs.Transitions(); !slices.Equal(got, want) {
				t.Fatalf("transitions after reload = %v, want %v", got, want)
			}
		})
	}
}

func TestReloadCarriesHalfOpenAsProbeable(t *testing.T) {
	clock := newFakeClock()
	old := mustNew(t, twoProviders(clock, nil))
	fail(t, old, "gpt", "canary", breaker3.FailureThreshold, 500)
	clock.Advance(breaker3.OpenFor)
	probe := mustSelect(t, old, Request{Model: "gpt", Pin: "canary"}) // half-opens it

	o := twoProviders(clock, nil)
	o.Providers[1].Breaker.OpenFor = time.Hour
	o.Previous = old
	r := mustNew(t, o)
	s := mustSelect(t, r, Request{Model: "gpt", Pin: "canary"})
	if !s.Probe {
		t.Fatalf("a half-open breaker must still probe after a reload")
	}
	s.Done(OutcomeSuccess)
	probe.Done(OutcomeSuccess) // belongs to the replaced breaker: no effect on r
	if got := r.States()["canary"]; got != StateHalfOpen {
		t.Fatalf("state = %v, want half_open (2 probes needed, 1 counted)", got)
	}
}

func TestReloadInFlightPermits(t *testing.T) {
	primary := Request{Model: "gpt", Pin: "primary"}
	tests := []struct {
		name        string
		newLimit    int
		sharedLimit bool
	}{
		{"same limit is shared", 1, true},
		{"new limit starts empty", 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			o := twoProviders(clock, nil)
			o.Providers[0].MaxConcurrent = 1
			o.MaxConcurrent = 10
			old := mustNew(t, o)
			inflight := mustSelect(t, old, primary)

			o2 := twoProviders(clock, nil)
			o2.Providers[0].MaxConcurrent = tt.newLimit
			o2.MaxConcurrent = 10
			o2.Previous = old
			r := mustNew(t, o2)
			var held []*Selection
			for range tt.newLimit - 1 {
				held = append(held, mustSelect(t, r, primary))
			}
			if tt.sharedLimit {
				expectUnavailable(t, r, primary, ErrSaturated, saturatedRetryAfter)
			} else {
				held = append(held, mustSelect(t, r, primary))
				expectUnavailable(t, r, primary, ErrSaturated, saturatedRetryAfter)
			}
			inflight.Done(OutcomeSuccess) // returns its permit to the limiter it came from
			inflight.Done(OutcomeSuccess)
			if tt.sharedLimit {
				held = append(held, mustSelect(t, r, primary))
			} else {
				expectUnavailable(t, r, primary, ErrSaturated, saturatedRetryAfter)
				mustSelect(t, old, primary).Done(OutcomeSuccess) // the old limiter has its permit back
			}
			for _, s := range held {
				s.Done(OutcomeSuccess)
			}
		})
	}
}

func TestReloadInFlightOutcomesCount(t *testing.T) {
	clock := newFakeClock()
	old := mustNew(t, twoProviders(clock, nil))
	var inflight []*Selection
	for range breaker3.FailureThreshold {
		inflight = append(inflight, mustSelect(t, old, Request{Model: "gpt", Pin: "canary"}))
	}
	o := twoProviders(clock, nil)
	o.Previous = old
	r := mustNew(t, o)
	for _, s := range inflight {
		s.Done(OutcomeServerError)
	}
	if got := r.States()["canary"]; got != StateOpen {
		t.Fatalf("failures of requests in flight across the reload: state %v, want open", got)
	}
}

func TestReloadDetachesRemovedProvider(t *testing.T) {
	clock, oldObs := newFakeClock(), &recorder{}
	old := mustNew(t, twoProviders(clock, oldObs))
	var inflight []*Selection
	for range breaker3.FailureThreshold {
		inflight = append(inflight, mustSelect(t, old, Request{Model: "gpt", Pin: "canary"}))
	}
	o := twoProviders(clock, nil)
	o.Providers = o.Providers[:1]
	o.Routes[0].Deployments = o.Routes[0].Deployments[:1]
	o.Previous = old
	r := mustNew(t, o)
	for _, s := range inflight {
		s.Done(OutcomeServerError)
	}
	if got := oldObs.Transitions(); len(got) != 0 {
		t.Fatalf("removed provider still reports transitions: %v", got)
	}
	if _, ok := r.States()["canary"]; ok {
		t.Fatalf("removed provider listed in States")
	}
}

func TestFailedReloadLeavesPreviousAlone(t *testing.T) {
	clock, obs := newFakeClock(), &recorder{}
	old := mustNew(t, twoProviders(clock, obs))
	bad := twoProviders(clock, nil)
	bad.Routes[0].Deployments[0].Provider = "missing"
	bad.Previous = old
	if _, err := New(bad); err == nil {
		t.Fatalf("New accepted an unknown provider")
	}
	fail(t, old, "gpt", "canary", breaker3.FailureThreshold, 500)
	if want := []string{"canary:closed->open"}; !slices.Equal(obs.Transitions(), want) {
		t.Fatalf("transitions = %v, want %v", obs.Transitions(), want)
	}
}
