package router

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestBreakerCounting(t *testing.T) {
	const (
		ok  = 200
		bad = 500
	)
	windowed := BreakerSettings{FailureThreshold: 3, Window: time.Hour, OpenFor: time.Minute}
	tests := []struct {
		name     string
		settings BreakerSettings
		outcomes []Outcome
		want     State
	}{
		{"below threshold", breaker3, []Outcome{OutcomeServerError, OutcomeServerError}, StateClosed},
		{"threshold opens", breaker3, []Outcome{OutcomeServerError, OutcomeTimeout, OutcomeReset}, StateOpen},
		{"429 counts", breaker3, []Outcome{OutcomeRateLimited, OutcomeRateLimited, OutcomeFromStatus(429)}, StateOpen},
		{"success breaks the streak", breaker3, []Outcome{OutcomeFromStatus(bad), OutcomeFromStatus(bad), OutcomeFromStatus(ok), OutcomeFromStatus(bad), OutcomeFromStatus(bad)}, StateClosed},
		{"4xx is not a failure", breaker3, []Outcome{OutcomeFromStatus(400), OutcomeFromStatus(401), OutcomeFromStatus(404), OutcomeFromStatus(422)}, StateClosed},
		{"4xx proves the provider alive", breaker3, []Outcome{OutcomeServerError, OutcomeServerError, OutcomeFromStatus(400), OutcomeServerError, OutcomeServerError}, StateClosed},
		{"client cancel is not counted", breaker3, []Outcome{OutcomeCanceled, OutcomeCanceled, OutcomeCanceled, OutcomeCanceled}, StateClosed},
		{"client cancel keeps the streak", breaker3, []Outcome{OutcomeServerError, OutcomeServerError, OutcomeCanceled, OutcomeServerError}, StateOpen},
		{"window counts failures not streaks", windowed, []Outcome{OutcomeServerError, OutcomeSuccess, OutcomeServerError, OutcomeSuccess, OutcomeServerError}, StateOpen},
		{"window below threshold", windowed, []Outcome{OutcomeServerError, OutcomeSuccess, OutcomeServerError, OutcomeSuccess}, StateClosed},
		{"disabled breaker never opens", BreakerSettings{}, slices.Repeat([]Outcome{OutcomeServerError}, 50), StateClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustNew(t, Options{
				Providers: []Provider{{Name: "p", Cluster: "p", Breaker: tt.settings}},
				Routes:    []Route{{Model: "m", Deployments: []Deployment{{Provider: "p", Weight: 1}}}},
				Now:       newFakeClock().Now,
			})
			for _, o := range tt.outcomes {
				mustSelect(t, r, Request{Model: "m"}).Done(o)
			}
			if got := r.States()["p"]; got != tt.want {
				t.Fatalf("state after %v = %v, want %v", tt.outcomes, got, tt.want)
			}
		})
	}
}

func TestBreakerHalfOpenRecovery(t *testing.T) {
	clock, obs := newFakeClock(), &recorder{}
	r := mustNew(t, twoProviders(clock, obs))
	pinned := Request{Model: "gpt", Pin: "canary"}
	fail(t, r, "gpt", "canary", breaker3.FailureThreshold, 500)

	clock.Advance(breaker3.OpenFor - time.Second)
	expectUnavailable(t, r, pinned, ErrNoHealthyProvider, time.Second)

	clock.Advance(time.Second)
	p1, p2 := mustSelect(t, r, pinned), mustSelect(t, r, pinned)
	if !p1.Probe || !p2.Probe {
		t.Fatalf("half-open selections must be probes: %v %v", p1.Probe, p2.Probe)
	}
	expectUnavailable(t, r, pinned, ErrNoHealthyProvider, probeRetryAfter) // both probe slots taken
	p1.Done(OutcomeSuccess)
	if got := r.States()["canary"]; got != StateHalfOpen {
		t.Fatalf("one of two probes succeeded: state %v, want half_open", got)
	}
	p2.Done(OutcomeSuccess)
	if got := r.States()["canary"]; got != StateClosed {
		t.Fatalf("after %d successful probes state = %v, want closed", breaker3.HalfOpenProbes, got)
	}
	want := []string{"canary:closed->open", "canary:open->half_open", "canary:half_open->closed"}
	if got := obs.Transitions(); !slices.Equal(got, want) {
		t.Fatalf("transitions = %v, want %v", got, want)
	}
	s := mustSelect(t, r, pinned)
	defer s.Done(OutcomeSuccess)
	if s.Probe {
		t.Fatalf("closed breaker hands out probes")
	}
}

func TestBreakerProbeFailureReopens(t *testing.T) {
	clock := newFakeClock()
	r := mustNew(t, twoProviders(clock, nil))
	pinned := Request{Model: "gpt", Pin: "canary"}
	fail(t, r, "gpt", "canary", breaker3.FailureThreshold, 500)
	clock.Advance(breaker3.OpenFor)

	ok, bad := mustSelect(t, r, pinned), mustSelect(t, r, pinned)
	bad.Done(OutcomeReset)
	ok.Done(OutcomeSuccess) // arrives after the re-open: dropped, must not close it
	if got := r.States()["canary"]; got != StateOpen {
		t.Fatalf("state = %v, want open after a failed probe", got)
	}
	expectUnavailable(t, r, pinned, ErrNoHealthyProvider, breaker3.OpenFor)

	// The next half-open period has all its probe slots again.
	clock.Advance(breaker3.OpenFor)
	p1, p2 := mustSelect(t, r, pinned), mustSelect(t, r, pinned)
	p1.Done(OutcomeSuccess)
	p2.Done(OutcomeSuccess)
	if got := r.States()["canary"]; got != StateClosed {
		t.Fatalf("state = %v, want closed", got)
	}
}

func TestBreakerCanceledProbeFreesSlot(t *testing.T) {
	clock := newFakeClock()
	r := mustNew(t, twoProviders(clock, nil))
	pinned := Request{Model: "gpt", Pin: "canary"}
	fail(t, r, "gpt", "canary", breaker3.FailureThreshold, 500)
	clock.Advance(breaker3.OpenFor)

	for range 10 { // more cancellations than probe slots
		mustSelect(t, r, pinned).Done(OutcomeCanceled)
	}
	if got := r.States()["canary"]; got != StateHalfOpen {
		t.Fatalf("canceled probes decided the breaker: %v", got)
	}
	mustSelect(t, r, pinned).Done(OutcomeSuccess)
	mustSelect(t, r, pinned).Done(OutcomeFromStatus(404))
	if got := r.States()["canary"]; got != StateClosed {
		t.Fatalf("state = %v, want closed", got)
	}
}

// TestBreakerDropsStaleOutcome: a long request admitted before the breaker
// opened must not decide the half-open probing that follows.
func TestBreakerDropsStaleOutcome(t *testing.T) {
	clock := newFakeClock()
	r := mustNew(t, twoProviders(clock, nil))
	slow := mustSelect(t, r, Request{Model: "gpt", Pin: "canary"})
	fail(t, r, "gpt", "canary", breaker3.FailureThreshold, 500)
	clock.Advance(breaker3.OpenFor)
	probe := mustSelect(t, r, Request{Model: "gpt", Pin: "canary"})
	slow.Done(OutcomeTimeout)
	if got := r.States()["canary"]; got != StateHalfOpen {
		t.Fatalf("stale failure changed the half-open breaker to %v", got)
	}
	probe.Done(OutcomeSuccess)
}

func TestAllProvidersDown(t *testing.T) {
	clock, obs := newFakeClock(), &recorder{}
	o := twoProviders(clock, obs)
	o.MaxConcurrent = 1 // a rejected Select must give its sidecar permit back
	r := mustNew(t, o)
	fail(t, r, "gpt", "primary", breaker3.FailureThreshold, 500)
	clock.Advance(10 * time.Second)
	fail(t, r, "gpt", "canary", breaker3.FailureThreshold, 503)

	// The primary opened first, so it is the first to let a probe through.
	expectUnavailable(t, r, Request{Model: "gpt"}, ErrNoHealthyProvider, breaker3.OpenFor-10*time.Second)
	obs.rejected, obs.skipped = nil, nil
	expectUnavailable(t, r, Request{Model: "gpt"}, ErrNoHealthyProvider, breaker3.OpenFor-10*time.Second)
	if want := []string{"gpt:breaker_open"}; !slices.Equal(obs.rejected, want) {
		t.Fatalf("rejected = %v, want %v", obs.rejected, want)
	}
	slices.Sort(obs.skipped)
	if want := []string{"canary:breaker_open", "primary:breaker_open"}; !slices.Equal(obs.skipped, want) {
		t.Fatalf("skipped = %v, want %v", obs.skipped, want)
	}
	if got := r.States(); got["primary"] != StateOpen || got["canary"] != StateOpen {
		t.Fatalf("States = %v", got)
	}
}

func expectUnavailable(t *testing.T, r *Router, req Request, sentinel error, retryAfter time.Duration) {
	t.Helper()
	s, err := r.Select(req)
	var ue *UnavailableError
	if !errors.Is(err, sentinel) || !errors.As(err, &ue) {
		if s != nil {
			s.Done(OutcomeCanceled)
		}
		t.Fatalf("Select(%+v) err = %v, want %v", req, err, sentinel)
	}
	if ue.RetryAfter != retryAfter {
		t.Fatalf("RetryAfter = %v, want %v", ue.RetryAfter, retryAfter)
	}
}
