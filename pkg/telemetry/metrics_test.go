package telemetry

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestNewMetricsRegistries(t *testing.T) {
	t.Run("nil registry gets a private one", func(t *testing.T) {
		m, err := NewMetrics(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(scrape(t, m), "gateway_build_info") {
			t.Error("build info missing from a nil-registry exposition")
		}
	})
	t.Run("registerer that cannot gather is refused", func(t *testing.T) {
		reg := prometheus.WrapRegistererWith(prometheus.Labels{"a": "b"}, prometheus.NewRegistry())
		if _, err := NewMetrics(reg); err == nil {
			t.Fatal("want an error for a registerer that is not a gatherer")
		}
	})
	t.Run("two Metrics on one registry collide", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		if _, err := NewMetrics(reg); err != nil {
			t.Fatal(err)
		}
		_, err := NewMetrics(reg)
		var already prometheus.AlreadyRegisteredError
		if !errors.As(err, &already) {
			t.Fatalf("want AlreadyRegisteredError wrapped, got %v", err)
		}
	})
	t.Run("registry that already has the Go collector", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector())
		if _, err := NewMetrics(reg); err != nil {
			t.Fatal(err)
		}
	})
}

func TestLabelGuard(t *testing.T) {
	var g labelGuard
	if got := g.value("gpt-4o"); got != LabelOther {
		t.Errorf("before any config: got %q, want %q", got, LabelOther)
	}
	g.set([]string{"gpt-4o", "llama-3", ""})
	tests := []struct{ in, want string }{
		{"gpt-4o", "gpt-4o"},
		{"llama-3", "llama-3"},
		{"", LabelNone},
		{"gpt-4o-made-up", LabelOther},
		{"GPT-4O", LabelOther},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := g.value(tt.in); got != tt.want {
				t.Errorf("value(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	t.Run("returns its own copy, not the caller's string", func(t *testing.T) {
		body := []byte(`{"model":"gpt-4o"}`)
		in := string(body[10:16])
		out := g.value(in)
		if out != in || unsafe.StringData(out) == unsafe.StringData(in) {
			t.Errorf("value shares memory with its argument")
		}
	})
	t.Run("reload drops old values and reports them", func(t *testing.T) {
		removed := g.set([]string{"llama-3"})
		if len(removed) != 1 || removed[0] != "gpt-4o" {
			t.Errorf("removed = %v, want [gpt-4o]", removed)
		}
		if got := g.value("gpt-4o"); got != LabelOther {
			t.Errorf("after reload: %q, want %q", got, LabelOther)
		}
	})
}

func TestStatusClassAndErrorType(t *testing.T) {
	et := newErrorTypes()
	tests := []struct {
		code       int
		class, err string
	}{
		{0, LabelNone, "no_response"},
		{101, "1xx", ""},
		{200, "2xx", ""},
		{304, "3xx", ""},
		{429, "4xx", "429"},
		{503, "5xx", "503"},
		{599, "5xx", "599"},
		{600, LabelOther, "_OTHER"},
		{-1, LabelOther, "_OTHER"},
	}
	for _, tt := range tests {
		t.Run(statusClass(tt.code), func(t *testing.T) {
			if got := statusClass(tt.code); got != tt.class {
				t.Errorf("statusClass(%d) = %q, want %q", tt.code, got, tt.class)
			}
			if got := et.of(tt.code); got != tt.err {
				t.Errorf("errorType(%d) = %q, want %q", tt.code, got, tt.err)
			}
		})
	}
}

func TestObserveRequestLabels(t *testing.T) {
	m, reg := newTestMetrics(t)
	m.ObserveRequest(RequestRecord{Consumer: "team-a", Model: "gpt-4o", Provider: "openai",
		Endpoint: "chat_completions", Status: 200, Duration: time.Second})
	m.ObserveRequest(RequestRecord{Consumer: "sk-live-raw-key", Model: "made-up", Provider: "evil",
		Endpoint: "chat_completions", Status: 429})
	m.ObserveRequest(RequestRecord{Status: 0})
	want := `
# HELP gateway_requests_total Requests finished by the sidecar, by consumer, model, provider, endpoint and HTTP status class.
# TYPE gateway_requests_total counter
gateway_requests_total{consumer="none",endpoint="none",model="none",provider="none",status_class="none"} 1
gateway_requests_total{consumer="other",endpoint="chat_completions",model="other",provider="other",status_class="4xx"} 1
gateway_requests_total{consumer="team-a",endpoint="chat_completions",model="gpt-4o",provider="openai",status_class="2xx"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "gateway_requests_total"); err != nil {
		t.Error(err)
	}
}

func TestObserveUpstream(t *testing.T) {
	tests := []struct {
		name                       string
		rec                        UpstreamRecord
		wantDur, wantTTFC, wantTok int
		wantErrType                string
	}{
		{"streamed with usage", UpstreamRecord{Provider: "openai", Model: "gpt-4o", Status: 200,
			Duration: time.Second, TimeToFirstChunk: time.Millisecond, UsageKnown: true, InputTokens: 3, OutputTokens: 4},
			1, 1, 2, ""},
		{"buffered without usage", UpstreamRecord{Provider: "openai", Model: "gpt-4o", Status: 200, Duration: time.Second},
			1, 0, 0, ""},
		{"provider error", UpstreamRecord{Provider: "vllm", Model: "llama-3", Status: 502},
			1, 0, 0, "502"},
		{"no response", UpstreamRecord{Provider: "vllm", Model: "llama-3"},
			1, 0, 0, "no_response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := newTestMetrics(t)
			m.ObserveUpstream(tt.rec)
			if got := testutil.CollectAndCount(m.opDuration); got != tt.wantDur {
				t.Errorf("duration series = %d, want %d", got, tt.wantDur)
			}
			if got := testutil.CollectAndCount(m.ttfc); got != tt.wantTTFC {
				t.Errorf("ttfc series = %d, want %d", got, tt.wantTTFC)
			}
			if got := testutil.CollectAndCount(m.tokenUsage); got != tt.wantTok {
				t.Errorf("token usage series = %d, want %d", got, tt.wantTok)
			}
			// Resolving the expected series must not create a new one.
			provider := m.providers.value(tt.rec.Provider)
			m.opDuration.WithLabelValues("chat", provider, m.models.value(tt.rec.Model), provider, tt.wantErrType)
			if got := testutil.CollectAndCount(m.opDuration); got != tt.wantDur {
				t.Errorf("no series with error_type=%q", tt.wantErrType)
			}
		})
	}
}

func TestBreakerState(t *testing.T) {
	m, reg := newTestMetrics(t)
	m.SetBreakerState("openai", BreakerClosed)
	m.BreakerTransition("openai", BreakerOpen)
	m.BreakerTransition("openai", BreakerHalfOpen)
	want := `
# HELP gateway_provider_breaker_state Provider circuit breaker state: 1 for the current state, 0 for the others.
# TYPE gateway_provider_breaker_state gauge
gateway_provider_breaker_state{provider="openai",state="closed"} 0
gateway_provider_breaker_state{provider="openai",state="half_open"} 1
gateway_provider_breaker_state{provider="openai",state="open"} 0
# HELP gateway_provider_breaker_transitions_total Provider circuit breaker transitions, by the state entered.
# TYPE gateway_provider_breaker_transitions_total counter
gateway_provider_breaker_transitions_total{provider="openai",to="half_open"} 1
gateway_provider_breaker_transitions_total{provider="openai",to="open"} 1
`
	err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"gateway_provider_breaker_state", "gateway_provider_breaker_transitions_total")
	if err != nil {
		t.Error(err)
	}
}

func TestReloadDeletesStaleGauges(t *testing.T) {
	m, _ := newTestMetrics(t)
	m.SetBudget("team-a", PeriodDay, 1, 2)
	m.SetBudget("team-b", PeriodDay, 3, 4)
	m.SetBreakerState("vllm", BreakerOpen)
	m.SetKnownLabels(KnownLabels{Consumers: []string{"team-b"}, Providers: []string{"openai"}})
	if got := testutil.CollectAndCount(m.budgetUsed); got != 1 {
		t.Errorf("budget used series after reload = %d, want 1 (team-b)", got)
	}
	if got := testutil.CollectAndCount(m.breakerState); got != 0 {
		t.Errorf("breaker series after reload = %d, want 0", got)
	}
}

func TestPolicyAndOpsCounters(t *testing.T) {
	m, _ := newTestMetrics(t)
	m.QuotaRejected("team-a", RejectReason("made_up"))
	m.GuardrailActed(StageOutput, ActionTruncate)
	m.GuardrailActed(GuardrailStage(9), ActionBlock) // ignored, no panic
	m.ObservePhase(Phase(9), time.Second)            // ignored, no panic
	m.BackpressureRejected(BackpressureScope(9))     // ignored, no panic
	m.ConfigReloaded(nil, time.Unix(1_700_000_000, 500_000_000))
	m.ConfigReloaded(errors.New("invalid"), time.Unix(1_800_000_000, 0))
	m.QuotaPendingDropped(0)
	checks := []struct {
		name string
		got  float64
		want float64
	}{
		{"unknown reason is other", testutil.ToFloat64(m.quotaRejections.WithLabelValues("team-a", LabelOther)), 1},
		{"output truncate", testutil.ToFloat64(m.guardrails[StageOutput][ActionTruncate]), 1},
		{"reload success", testutil.ToFloat64(m.reloadOK), 1},
		{"reload failure", testutil.ToFloat64(m.reloadFailed), 1},
		{"last success time kept on failure", testutil.ToFloat64(m.lastReloadSuccess), 1_700_000_000.5},
		{"dropped zero adds nothing", testutil.ToFloat64(m.pendingDropped), 0},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Errorf("got %v, want %v", c.got, c.want)
			}
		})
	}
}

// TestConcurrentReload runs recording against config reloads under -race.
func TestConcurrentReload(t *testing.T) {
	m, _ := newTestMetrics(t)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				consumer := []string{"team-a", "team-b", "gone"}[(g+i)%3]
				m.ObserveRequest(RequestRecord{Consumer: consumer, Model: "gpt-4o", Provider: "openai", Status: 200})
				m.SetBudget(consumer, PeriodDay, int64(i), 10)
				m.BreakerTransition("vllm", BreakerState(i%3))
			}
		})
	}
	for i := range 50 {
		consumers := []string{"team-a"}
		if i%2 == 0 {
			consumers = append(consumers, "team-b")
		}
		m.SetKnownLabels(KnownLabels{Consumers: consumers, Models: []string{"gpt-4o"}, Providers: []string{"openai", "vllm"}})
	}
	wg.Wait()
	if got := testutil.ToFloat64(m.requests.WithLabelValues("team-a", "gpt-4o", "openai", LabelNone, "2xx")); got == 0 {
		t.Error("no requests recorded for team-a")
	}
}
