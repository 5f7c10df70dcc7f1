package telemetry

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// newTestMetrics returns Metrics on a private registry with a small config.
func newTestMetrics(t testing.TB) (*Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatalf("NewMetrics: %v", err)
	}
	m.SetKnownLabels(KnownLabels{
		Consumers: []string{"team-a", "team-b"},
		Models:    []string{"gpt-4o", "gpt-4o-2024-08-06", "llama-3"},
		Providers: []string{"openai", "vllm"},
	})
	return m, reg
}

// exerciseAll calls every recording method at least once, so every gateway
// family has samples (the promtool and dashboard tests rely on it).
func exerciseAll(m *Metrics) {
	m.IncInflight()
	m.ObserveRequest(RequestRecord{Consumer: "team-a", Model: "gpt-4o", Provider: "openai",
		Endpoint: "chat_completions", Status: 200, Duration: 1200 * time.Millisecond})
	m.ObserveRequest(RequestRecord{Endpoint: "chat_completions", Status: 401, Duration: time.Millisecond})
	for p := range numPhases {
		m.ObservePhase(p, 80*time.Microsecond)
	}
	m.ObserveUpstream(UpstreamRecord{Provider: "openai", ProviderKind: "openai", Model: "gpt-4o-2024-08-06",
		Status: 200, Duration: time.Second, TimeToFirstChunk: 300 * time.Millisecond,
		UsageKnown: true, InputTokens: 120, OutputTokens: 40})
	m.ObserveUpstream(UpstreamRecord{Provider: "vllm", ProviderKind: "vllm", Model: "llama-3",
		Status: 503, Duration: 20 * time.Millisecond})
	m.AddTokens("team-a", "gpt-4o", 120, 40)
	m.QuotaRejected("team-b", RejectTokensPerDay)
	m.SetBudget("team-a", PeriodDay, 1000, 9000)
	m.SetBudget("team-a", PeriodMonth, 5000, 95000)
	m.GuardrailActed(StagePrompt, ActionBlock)
	m.GuardrailActed(StageOutput, ActionRedact)
	m.SetBreakerState("openai", BreakerClosed)
	m.BreakerTransition("vllm", BreakerOpen)
	m.BackpressureRejected(ScopeGateway)
	m.BackpressureRejected(ScopeProvider)
	m.ObserveQuotaStore("admit", 300*time.Microsecond, nil)
	m.ObserveQuotaStore("reconcile", 50*time.Millisecond, errors.New("i/o timeout"))
	m.QuotaFallback()
	m.SetQuotaPending(3)
	m.QuotaPendingDropped(1)
	m.ConfigReloaded(nil, time.Unix(1_700_000_000, 0))
	m.ConfigReloaded(errors.New("bad yaml"), time.Unix(1_700_000_100, 0))
	m.ChaosFaultRequested("openai", FaultAbort)
	m.ChaosFaultRequested("openai", FaultDelay)
	m.DecInflight()
}

// scrape fetches the exposition through Handler, as Prometheus would.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: status %d, err %v", resp.StatusCode, err)
	}
	return string(body)
}
