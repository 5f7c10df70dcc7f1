package router

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
)

// chiSquare returns the chi-square statistic of observed counts against
// expected proportions (weights).
func chiSquare(counts map[string]int, weights map[string]float64, n int) float64 {
	var total float64
	for _, w := range weights {
		total += w
	}
	var chi float64
	for k, w := range weights {
		e := float64(n) * w / total
		d := float64(counts[k]) - e
		chi += d * d / e
	}
	return chi
}

func TestWeightDistribution(t *testing.T) {
	tests := []struct {
		name     string
		weights  map[string]float64
		critical float64 // chi-square at p = 0.001 for len(weights)-1 degrees of freedom
	}{
		{"canary 90/10", map[string]float64{"a": 90, "b": 10}, 10.83},
		{"three way 60/30/10", map[string]float64{"a": 60, "b": 30, "c": 10}, 13.82},
		{"even", map[string]float64{"a": 1, "b": 1, "c": 1, "d": 1}, 16.27},
	}
	const n = 10000
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{Rand: seeded(42)}
			route := Route{Model: "m"}
			for _, name := range slices.Sorted(maps.Keys(tt.weights)) {
				w := tt.weights[name]
				opts.Providers = append(opts.Providers, Provider{Name: name, Cluster: name})
				route.Deployments = append(route.Deployments, Deployment{Provider: name, Weight: int(w)})
			}
			opts.Routes = []Route{route}
			r := mustNew(t, opts)
			counts := map[string]int{}
			for range n {
				s := mustSelect(t, r, Request{Model: "m", Consumer: "c"})
				counts[s.Provider.Name]++
				s.Done(OutcomeSuccess)
			}
			if chi := chiSquare(counts, tt.weights, n); chi > tt.critical {
				t.Fatalf("counts %v do not follow weights %v: chi-square %.2f > %.2f", counts, tt.weights, chi, tt.critical)
			}
		})
	}
}

func TestWeightsSkipOpenBreaker(t *testing.T) {
	clock := newFakeClock()
	r := mustNew(t, twoProviders(clock, nil))
	fail(t, r, "gpt", "primary", breaker3.FailureThreshold, 500)
	for range 200 {
		s := mustSelect(t, r, Request{Model: "gpt"})
		if s.Provider.Name != "canary" {
			t.Fatalf("selected %q while its breaker is open", s.Provider.Name)
		}
		s.Done(OutcomeSuccess)
	}
}

func pinOptions() Options {
	return Options{
		Providers: []Provider{{Name: "openai", Cluster: "openai"}, {Name: "hf", Cluster: "hf"}},
		Routes: []Route{{Model: "m", Deployments: []Deployment{
			{Provider: "openai", Model: "gpt-4o", Weight: 1},
			{Provider: "openai", Model: "gpt-4o-dark", Weight: 0},
			{Provider: "hf", Model: "meta-llama/Llama-3", Weight: 1},
			{Provider: "hf", Model: "dark-only", Weight: 0},
		}}},
		Rand: seeded(7),
	}
}

func TestPin(t *testing.T) {
	r := mustNew(t, pinOptions())
	tests := []struct {
		pin     string
		want    []string // acceptable provider/model results
		wantErr error
	}{
		{"", []string{"openai/gpt-4o", "hf/meta-llama/Llama-3"}, nil},
		{"openai", []string{"openai/gpt-4o"}, nil}, // provider pins skip dark deployments
		{"openai/gpt-4o-dark", []string{"openai/gpt-4o-dark"}, nil},
		{"hf/meta-llama/Llama-3", []string{"hf/meta-llama/Llama-3"}, nil},
		{"hf/dark-only", []string{"hf/dark-only"}, nil},
		{"openai/nope", nil, ErrPinNotFound},
		{"anthropic", nil, ErrPinNotFound},
		{"/gpt-4o", nil, ErrPinNotFound},
		{"hf/meta-llama", nil, ErrPinNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.pin, func(t *testing.T) {
			seen := map[string]bool{}
			for range 200 {
				s, err := r.Select(Request{Model: "m", Pin: tt.pin})
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if err != nil {
					return
				}
				got := s.Provider.Name + "/" + s.UpstreamModel
				seen[got] = true
				if s.Pinned != (tt.pin != "") {
					t.Fatalf("Pinned = %v for pin %q", s.Pinned, tt.pin)
				}
				s.Done(OutcomeSuccess)
			}
			if len(seen) != len(tt.want) {
				t.Fatalf("selected %v, want exactly %v", seen, tt.want)
			}
			for _, w := range tt.want {
				if !seen[w] {
					t.Fatalf("selected %v, want exactly %v", seen, tt.want)
				}
			}
		})
	}
}

func TestPinProviderWithOnlyDarkDeployments(t *testing.T) {
	o := pinOptions()
	o.Routes[0].Deployments[2].Weight = 0 // hf now has only dark deployments
	r := mustNew(t, o)
	seen := map[string]int{}
	for range 400 {
		s := mustSelect(t, r, Request{Model: "m", Pin: "hf"})
		seen[s.UpstreamModel]++
		s.Done(OutcomeSuccess)
	}
	if len(seen) != 2 || seen["meta-llama/Llama-3"] < 100 || seen["dark-only"] < 100 {
		t.Fatalf("dark deployments of a pinned provider must share evenly, got %v", seen)
	}
}

// TestPinOpenBreakerFailsFast documents the chosen pin policy: a pin never
// moves to another deployment, and an open breaker rejects pinned traffic too.
func TestPinOpenBreakerFailsFast(t *testing.T) {
	clock := newFakeClock()
	r := mustNew(t, twoProviders(clock, nil))
	fail(t, r, "gpt", "canary", breaker3.FailureThreshold, 503)
	_, err := r.Select(Request{Model: "gpt", Pin: "canary"})
	var ue *UnavailableError
	if !errors.Is(err, ErrNoHealthyProvider) || !errors.As(err, &ue) {
		t.Fatalf("err = %v, want ErrNoHealthyProvider", err)
	}
	if ue.RetryAfter != breaker3.OpenFor {
		t.Fatalf("RetryAfter = %v, want %v", ue.RetryAfter, breaker3.OpenFor)
	}
	s := mustSelect(t, r, Request{Model: "gpt"})
	defer s.Done(OutcomeSuccess)
	if s.Provider.Name != "primary" {
		t.Fatalf("unpinned request must fail over to primary, got %s", s.Provider.Name)
	}
}

func TestUnknownModel(t *testing.T) {
	r := mustNew(t, twoProviders(newFakeClock(), nil))
	if _, err := r.Select(Request{Model: "nope"}); !errors.Is(err, ErrUnknownModel) {
		t.Fatalf("err = %v, want ErrUnknownModel", err)
	}
}

func stickyOptions(clock *fakeClock) Options {
	o := Options{Now: clock.Now, Rand: seeded(3)}
	r := Route{Model: "m", Sticky: true}
	for _, name := range []string{"a", "b", "c"} {
		w := map[string]int{"a": 70, "b": 20, "c": 10}[name]
		o.Providers = append(o.Providers, Provider{Name: name, Cluster: name, Breaker: breaker3})
		r.Deployments = append(r.Deployments, Deployment{Provider: name, Weight: w})
	}
	o.Routes = []Route{r}
	return o
}

func TestStickyStaysAndFollowsWeights(t *testing.T) {
	r := mustNew(t, stickyOptions(newFakeClock()))
	const consumers = 3000
	counts := map[string]int{}
	for c := range consumers {
		consumer := fmt.Sprintf("consumer-%d", c)
		first := ""
		for range 5 {
			s := mustSelect(t, r, Request{Model: "m", Consumer: consumer})
			if first == "" {
				first = s.Provider.Name
			} else if s.Provider.Name != first {
				t.Fatalf("%s moved from %s to %s while healthy", consumer, first, s.Provider.Name)
			}
			s.Done(OutcomeSuccess)
		}
		counts[first]++
	}
	weights := map[string]float64{"a": 70, "b": 20, "c": 10}
	if chi := chiSquare(counts, weights, consumers); chi > 13.82 {
		t.Fatalf("consumers per deployment %v do not follow weights: chi-square %.2f", counts, chi)
	}
}

func TestStickyFailoverAndReturn(t *testing.T) {
	clock := newFakeClock()
	r := mustNew(t, stickyOptions(clock))
	home := map[string]string{}
	for c := range 300 {
		consumer := fmt.Sprintf("u%d", c)
		s := mustSelect(t, r, Request{Model: "m", Consumer: consumer})
		home[consumer] = s.Provider.Name
		s.Done(OutcomeSuccess)
	}
	fail(t, r, "m", "a", breaker3.FailureThreshold, 502)

	for consumer, h := range home {
		s := mustSelect(t, r, Request{Model: "m", Consumer: consumer})
		switch {
		case s.Provider.Name == "a":
			t.Fatalf("%s sent to open provider a", consumer)
		case h != "a" && s.Provider.Name != h:
			t.Fatalf("%s moved from healthy %s to %s", consumer, h, s.Provider.Name)
		}
		s.Done(OutcomeSuccess)
	}

	clock.Advance(breaker3.OpenFor)
	for range breaker3.HalfOpenProbes {
		mustSelect(t, r, Request{Model: "m", Pin: "a"}).Done(OutcomeSuccess)
	}
	for consumer, h := range home {
		s := mustSelect(t, r, Request{Model: "m", Consumer: consumer})
		if s.Provider.Name != h {
			t.Fatalf("%s did not return home to %s after recovery, got %s", consumer, h, s.Provider.Name)
		}
		s.Done(OutcomeSuccess)
	}
}
