package telemetry

import (
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// promtoolPath finds promtool (Debian's prometheus package installs it); the
// artifact checks are the point of these tests, so a missing binary fails.
func promtoolPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found (apt-get install prometheus): %v", err)
	}
	return p
}

// runCmd runs a command and returns its combined output.
func runCmd(name string, args ...string) ([]byte, error) {
	return exec.Command(name, args...).CombinedOutput()
}

// runPromtool runs promtool with args and stdin, failing the test on a
// non-zero exit with promtool's own explanation.
func runPromtool(t *testing.T, stdin string, args ...string) {
	t.Helper()
	cmd := exec.Command(promtoolPath(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
}

func TestExpositionPassesPromtool(t *testing.T) {
	m, _ := newTestMetrics(t)
	exerciseAll(m)
	runPromtool(t, scrape(t, m), "check", "metrics")
}

func TestPromtoolCatchesBadExposition(t *testing.T) {
	// Guards the guard: a counter without _total must make promtool fail, or
	// TestExpositionPassesPromtool proves nothing.
	bad := "# HELP requests Requests.\n# TYPE requests counter\nrequests 1\n"
	cmd := exec.Command(promtoolPath(t), "check", "metrics")
	cmd.Stdin = strings.NewReader(bad)
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("promtool accepted a counter without _total:\n%s", out)
	}
}

// TestEveryMetricIsExported pins the exported names: a rename breaks
// dashboards, so it must break this test first.
func TestEveryMetricIsExported(t *testing.T) {
	m, reg := newTestMetrics(t)
	exerciseAll(m)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range families {
		name := f.GetName()
		if (strings.HasPrefix(name, "gateway_") || strings.HasPrefix(name, "gen_ai_")) && len(f.GetMetric()) > 0 {
			got = append(got, name)
		}
	}
	want := []string{
		"gateway_backpressure_rejections_total",
		"gateway_budget_remaining_tokens",
		"gateway_budget_used_tokens",
		"gateway_build_info",
		"gateway_chaos_faults_total",
		"gateway_config_last_reload_success_timestamp_seconds",
		"gateway_config_reloads_total",
		"gateway_guardrail_actions_total",
		"gateway_inflight_requests",
		"gateway_phase_duration_seconds",
		"gateway_provider_breaker_state",
		"gateway_provider_breaker_transitions_total",
		"gateway_quota_fallback_total",
		"gateway_quota_leased_admissions_total",
		"gateway_quota_leases_total",
		"gateway_quota_pending_dropped_total",
		"gateway_quota_pending_usage",
		"gateway_quota_rejections_total",
		"gateway_quota_store_duration_seconds",
		"gateway_quota_store_errors_total",
		"gateway_request_duration_seconds",
		"gateway_requests_total",
		"gateway_tokens_total",
		"gen_ai_client_operation_duration_seconds",
		"gen_ai_client_operation_time_to_first_chunk_seconds",
		"gen_ai_client_token_usage",
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("exported families differ\n got: %v\nwant: %v", got, want)
	}
	for _, runtime := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if !slices.ContainsFunc(families, func(f *dto.MetricFamily) bool { return f.GetName() == runtime }) {
			t.Errorf("runtime metric %s missing", runtime)
		}
	}
}
