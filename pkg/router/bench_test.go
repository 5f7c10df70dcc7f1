package router

import (
	"fmt"
	"testing"
	"time"
)

// benchOptions is a realistic table: 4 providers with breakers and bulkheads,
// a 3-deployment canary route and a sticky route, chaos on one provider.
func benchOptions() Options {
	o := Options{MaxConcurrent: 1 << 20}
	for _, n := range []string{"openai", "azure", "vllm", "backup"} {
		o.Providers = append(o.Providers, Provider{
			Name: n, Cluster: n + "_cluster", Timeout: 60 * time.Second, MaxRetries: 2, MaxConcurrent: 1 << 20,
			Breaker: BreakerSettings{FailureThreshold: 5, Window: 10 * time.Second, OpenFor: 30 * time.Second, HalfOpenProbes: 2},
		})
	}
	o.Routes = []Route{
		{Model: "gpt-4o", Deployments: []Deployment{{Provider: "openai", Weight: 80}, {Provider: "azure", Weight: 15}, {Provider: "vllm", Weight: 5}}},
		{Model: "llama", Sticky: true, Deployments: []Deployment{{Provider: "vllm", Weight: 3}, {Provider: "backup", Weight: 1}}},
	}
	o.Chaos = []ChaosRule{{Provider: "backup", AbortPercent: 1, AbortStatus: 503}}
	return o
}

func BenchmarkSelect(b *testing.B) {
	r := mustNew(b, benchOptions())
	for _, req := range []Request{
		{Model: "gpt-4o", Consumer: "team-a"},
		{Model: "llama", Consumer: "team-a"},
		{Model: "gpt-4o", Consumer: "team-a", Pin: "azure"},
	} {
		b.Run(fmt.Sprintf("%s/sticky=%v/pin=%q", req.Model, req.Model == "llama", req.Pin), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s, err := r.Select(req)
				if err != nil {
					b.Fatal(err)
				}
				s.Done(OutcomeSuccess)
			}
		})
	}
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				s, err := r.Select(Request{Model: "gpt-4o", Consumer: "team-a"})
				if err != nil {
					b.Error(err)
					return
				}
				s.Done(OutcomeSuccess)
			}
		})
	})
}

// BenchmarkSelectOnly measures Select without Done's breaker bookkeeping.
func BenchmarkSelectOnly(b *testing.B) {
	o := benchOptions()
	for i := range o.Providers {
		o.Providers[i].MaxConcurrent = 0
	}
	o.MaxConcurrent = 0
	r := mustNew(b, o)
	req := Request{Model: "gpt-4o", Consumer: "team-a"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Select(req); err != nil {
			b.Fatal(err)
		}
	}
}
