package router

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestEnvoyHeadersAndChaos(t *testing.T) {
	rules := []ChaosRule{
		{Name: "canary-on-gpt", Provider: "canary", Model: "gpt", AbortPercent: 50, AbortStatus: 503, DelayPercent: 10, Delay: 1500 * time.Millisecond},
		{Provider: "canary", AbortPercent: 100, AbortStatus: 500},
		{Model: "embed", DelayPercent: 25, Delay: 200 * time.Millisecond},
	}
	base := func(cluster, timeout, retries string) [][2]string {
		h := [][2]string{{"x-gateway-cluster", cluster}}
		if timeout != "" {
			h = append(h, [2]string{"x-envoy-upstream-rq-timeout-ms", timeout})
		}
		return append(h, [2]string{"x-envoy-max-retries", retries})
	}
	tests := []struct {
		name      string
		req       Request
		wantLabel string
		want      [][2]string
	}{
		{"no rule for primary on gpt", Request{Model: "gpt", Pin: "primary"}, "",
			base("primary_cluster", "30000", "2")},
		{"provider and model rule wins over provider rule", Request{Model: "gpt", Pin: "canary"}, "canary-on-gpt",
			append(base("canary_cluster", "10000", "1"),
				[2]string{"x-envoy-fault-abort-request", "503"}, [2]string{"x-envoy-fault-abort-request-percentage", "50"},
				[2]string{"x-envoy-fault-delay-request", "1500"}, [2]string{"x-envoy-fault-delay-request-percentage", "10"})},
		{"provider rule on another model", Request{Model: "embed", Pin: "canary"}, "chaos[1]",
			append(base("canary_cluster", "10000", "1"),
				[2]string{"x-envoy-fault-abort-request", "500"}, [2]string{"x-envoy-fault-abort-request-percentage", "100"})},
		{"model rule, provider without timeout", Request{Model: "embed", Pin: "local"}, "chaos[2]",
			append(base("local_cluster", "", "0"),
				[2]string{"x-envoy-fault-delay-request", "200"}, [2]string{"x-envoy-fault-delay-request-percentage", "25"})},
	}
	o := twoProviders(newFakeClock(), nil)
	o.Providers = append(o.Providers, Provider{Name: "local", Cluster: "local_cluster"})
	o.Routes = append(o.Routes, Route{Model: "embed", Deployments: []Deployment{{Provider: "canary", Weight: 1}, {Provider: "local", Weight: 1}}})
	o.Chaos = rules
	r := mustNew(t, o)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustSelect(t, r, tt.req)
			defer s.Done(OutcomeSuccess)
			if diff := cmp.Diff(tt.want, s.EnvoyHeaders()); diff != "" {
				t.Fatalf("EnvoyHeaders (-want +got):\n%s", diff)
			}
			label := ""
			if s.Chaos != nil {
				label = s.Chaos.Label
			}
			if label != tt.wantLabel {
				t.Fatalf("chaos label = %q, want %q", label, tt.wantLabel)
			}
		})
	}
}

func TestChaosOffByDefault(t *testing.T) {
	r := mustNew(t, twoProviders(newFakeClock(), nil))
	for range 100 {
		s := mustSelect(t, r, Request{Model: "gpt"})
		if s.Chaos != nil || len(s.Chaos.Headers()) != 0 {
			t.Fatalf("chaos without rules: %+v", s.Chaos)
		}
		for _, h := range s.EnvoyHeaders() {
			if h[0] == HeaderFaultAbort || h[0] == HeaderFaultDelay {
				t.Fatalf("fault header without rules: %v", h)
			}
		}
		s.Done(OutcomeSuccess)
	}
}

func TestFaultNumerator(t *testing.T) {
	tests := []struct {
		percent     float64
		denominator int
		want        int
		wantErr     bool
	}{
		{100, 100, 100, false},
		{12.4, 100, 12, false},
		{0.5, 100, 1, false}, // rounds half away from zero
		{0.4, 100, 0, true},
		{0.5, 10000, 50, false},
		{0.0001, 1000000, 1, false},
		{100.5, 100, 0, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v/%d", tt.percent, tt.denominator), func(t *testing.T) {
			got, err := faultNumerator(tt.percent, tt.denominator)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Fatalf("faultNumerator(%v, %d) = %d, %v; want %d, error %v", tt.percent, tt.denominator, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestClusterHeaderOption(t *testing.T) {
	o := twoProviders(newFakeClock(), nil)
	o.ClusterHeader = "x-route-to"
	s := mustSelect(t, mustNew(t, o), Request{Model: "gpt", Pin: "primary"})
	defer s.Done(OutcomeSuccess)
	if got := s.EnvoyHeaders()[0]; got != [2]string{"x-route-to", "primary_cluster"} {
		t.Fatalf("first header = %v", got)
	}
}
