package telemetry

import (
	"testing"
	"time"
)

// The per-request calls the ext_proc flow makes; run with -benchmem.

func BenchmarkObserveRequest(b *testing.B) {
	m, _ := newTestMetrics(b)
	r := RequestRecord{Consumer: "team-a", Model: "gpt-4o", Provider: "openai",
		Endpoint: "chat_completions", Status: 200, Duration: time.Second}
	b.ReportAllocs()
	for b.Loop() {
		m.ObserveRequest(r)
	}
}

func BenchmarkObserveRequestParallel(b *testing.B) {
	m, _ := newTestMetrics(b)
	r := RequestRecord{Consumer: "team-a", Model: "gpt-4o", Provider: "openai",
		Endpoint: "chat_completions", Status: 200, Duration: time.Second}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObserveRequest(r)
		}
	})
}

func BenchmarkObserveUpstream(b *testing.B) {
	m, _ := newTestMetrics(b)
	r := UpstreamRecord{Provider: "openai", ProviderKind: "openai", Model: "gpt-4o", Status: 200,
		Duration: time.Second, TimeToFirstChunk: 200 * time.Millisecond,
		UsageKnown: true, InputTokens: 100, OutputTokens: 50}
	b.ReportAllocs()
	for b.Loop() {
		m.ObserveUpstream(r)
	}
}

func BenchmarkAddTokens(b *testing.B) {
	m, _ := newTestMetrics(b)
	b.ReportAllocs()
	for b.Loop() {
		m.AddTokens("team-a", "gpt-4o", 100, 50)
	}
}

func BenchmarkObservePhase(b *testing.B) {
	m, _ := newTestMetrics(b)
	b.ReportAllocs()
	for b.Loop() {
		m.ObservePhase(PhaseRequestBody, 120*time.Microsecond)
	}
}

func BenchmarkGuardrailActed(b *testing.B) {
	m, _ := newTestMetrics(b)
	b.ReportAllocs()
	for b.Loop() {
		m.GuardrailActed(StageOutput, ActionRedact)
	}
}

func BenchmarkQuotaRejected(b *testing.B) {
	m, _ := newTestMetrics(b)
	b.ReportAllocs()
	for b.Loop() {
		m.QuotaRejected("team-a", RejectTokensPerMinute)
	}
}

func BenchmarkObserveQuotaStore(b *testing.B) {
	m, _ := newTestMetrics(b)
	b.ReportAllocs()
	for b.Loop() {
		m.ObserveQuotaStore("admit", 300*time.Microsecond, nil)
	}
}

func BenchmarkInflight(b *testing.B) {
	m, _ := newTestMetrics(b)
	b.ReportAllocs()
	for b.Loop() {
		m.IncInflight()
		m.DecInflight()
	}
}
