package router

import (
	"strings"
	"testing"
	"time"
)

func TestNewValidation(t *testing.T) {
	p := func(name string) Provider { return Provider{Name: name, Cluster: name + "_c"} }
	route := func(model string, ds ...Deployment) Route { return Route{Model: model, Deployments: ds} }
	d := func(provider string, w int) Deployment { return Deployment{Provider: provider, Weight: w} }
	tests := []struct {
		name string
		opts Options
		want []string // substrings, each must appear
	}{
		{"unknown provider", Options{Providers: []Provider{p("a")}, Routes: []Route{route("m", d("b", 1))}},
			[]string{`unknown provider "b"`}},
		{"negative and zero weights", Options{Providers: []Provider{p("a"), p("b")}, Routes: []Route{route("m", d("a", -1), d("b", 0))}},
			[]string{"weight -1 must not be negative", "at least one deployment needs a positive weight"}},
		{"duplicates", Options{
			Providers: []Provider{p("a"), p("a")},
			Routes:    []Route{route("m", d("a", 1), d("a", 2)), route("m", d("a", 1))}},
			[]string{"duplicate provider", "duplicate deployment a/m", `route[1] "m": duplicate route`}},
		{"empty names", Options{Providers: []Provider{{}}, Routes: []Route{{}}},
			[]string{"provider[0]: name is required", "cluster is required", "route[0]: model is required", "at least one deployment is required"}},
		{"slash in provider", Options{Providers: []Provider{p("a/b")}, Routes: []Route{route("m", d("a/b", 1))}},
			[]string{`must not contain "/"`}},
		{"provider numbers", Options{Providers: []Provider{{Name: "a", Cluster: "c", Timeout: time.Microsecond, MaxRetries: -1, MaxConcurrent: -2,
			Breaker: BreakerSettings{FailureThreshold: 2}}}, Routes: []Route{route("m", d("a", 1))}, MaxConcurrent: -1},
			[]string{"timeout 1µs", "max retries -1", "max concurrent -2", "breaker open duration must be positive", "max_concurrent -1"}},
		{"too many deployments", Options{Providers: []Provider{p("a")}, Routes: []Route{tooMany()}},
			[]string{"65 deployments, at most 64"}},
		{"chaos", Options{Providers: []Provider{p("a")}, Routes: []Route{route("m", d("a", 1))}, Chaos: []ChaosRule{
			{Provider: "zz", AbortPercent: 10, AbortStatus: 503},
			{Model: "nope", DelayPercent: 10, Delay: time.Second},
			{AbortPercent: 10, AbortStatus: 503},
			{Provider: "a", AbortPercent: 10, AbortStatus: 42},
			{Provider: "a", DelayPercent: 10},
			{Provider: "a"},
			{Provider: "a", AbortPercent: 0.2, AbortStatus: 503},
		}},
			[]string{`chaos[0]: unknown provider "zz"`, `chaos[1]: unknown model "nope"`, "chaos[2]: name a provider",
				"chaos[3]: abort status 42", "chaos[4]: delay 0s must be at least 1ms", "chaos[5]: set abort_percent or delay_percent",
				"chaos[6]: abort: percentage 0.2 is below the fault filter's resolution 1/100"}},
		{"denominator", Options{Providers: []Provider{p("a")}, Routes: []Route{route("m", d("a", 1))}, FaultDenominator: 1000},
			[]string{"fault denominator 1000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(tt.opts)
			if err == nil {
				t.Fatalf("New succeeded (%v), want errors %q", r, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func tooMany() Route {
	r := Route{Model: "m"}
	for i := range maxDeployments + 1 {
		r.Deployments = append(r.Deployments, Deployment{Provider: "a", Model: strings.Repeat("x", i+1), Weight: 1})
	}
	return r
}

func TestNewValid(t *testing.T) {
	r := mustNew(t, Options{
		Providers: []Provider{{Name: "a", Cluster: "a_c"}},
		Routes: []Route{{Model: "m", Deployments: []Deployment{
			{Provider: "a", Weight: 1},
			{Provider: "a", Model: "org/dark", Weight: 0},
		}}},
		FaultDenominator: 1000000,
		Chaos:            []ChaosRule{{Model: "m", AbortPercent: 0.0001, AbortStatus: 503}},
	})
	s := mustSelect(t, r, Request{Model: "m"})
	defer s.Done(OutcomeSuccess)
	if s.UpstreamModel != "m" {
		t.Fatalf("empty deployment model must default to the route model, got %q", s.UpstreamModel)
	}
}
