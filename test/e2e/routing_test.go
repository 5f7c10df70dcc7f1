package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestUsageReconciledOnSuccessAndStreams: the tokens a request really used (the
// provider's usage) replace the reservation, for JSON and streamed answers.
func TestUsageReconciledOnSuccessAndStreams(t *testing.T) {
	s := startStack(t, stackOptions{extraConfig: ""})
	for _, body := range []string{
		`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"one two three"}],"max_tokens":4}`,
		`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"one two three"}],"max_tokens":4}`,
	} {
		resp, b := s.post(limitedKey, "/v1/chat/completions", []byte(body))
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
	}
	// The mock counts prompt words (3) and output words (4): 7 tokens per request.
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, err := s.redis.Client().Keys(t.Context(), "*").Result()
		if err != nil {
			t.Fatal(err)
		}
		logs := s.logs.String()
		if strings.Count(logs, `"input_tokens":3,"output_tokens":4,"usage_from_provider":true`) == 2 {
			if len(out) == 0 {
				t.Fatal("nothing written to Redis")
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage not accounted from provider: %s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestChaosAbortThroughEnvoyFaultFilter: a chaos rule makes Envoy's fault filter
// abort every request for the model; the client gets an OpenAI error and the
// provider is never called.
func TestChaosAbortThroughEnvoyFaultFilter(t *testing.T) {
	s := startStack(t, stackOptions{extraConfig: `
chaos:
  - {model: gpt-4o-mini, abort_percent: 100, abort_status: 503}
`})
	resp, body := s.post(demoKey, "/v1/chat/completions", []byte(chatBody))
	assertOpenAIError(t, resp, body, 503, "provider_unavailable")
	if s.mockCalls() != 0 {
		t.Fatal("aborted request reached the provider")
	}
	s.waitLog(`"chaos"`)
}

// TestSpoofedControlHeadersIgnored: a client cannot pick the cluster, inject a
// fault or pin a deployment it was not granted.
func TestSpoofedControlHeadersIgnored(t *testing.T) {
	s := startStack(t, stackOptions{})
	req := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"max_tokens":2}`
	resp, body := s.postHeaders(demoKey, req, map[string]string{
		"x-gateway-cluster":                      "ext_proc_sidecar",
		"x-envoy-fault-abort-request":            "418",
		"x-envoy-fault-abort-request-percentage": "100",
		"x-gateway-pin":                          "nope/nope",
	})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	reqs, _ := s.mock.Requests()
	for k, v := range reqs[0].Header {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "x-envoy-fault") || lk == "x-gateway-pin" {
			t.Errorf("control header %s reached the provider", k)
		}
		// The routing header is the sidecar's own value, never the client's.
		if lk == "x-gateway-cluster" && v[0] != "mock" {
			t.Errorf("client routing header honoured: %v", v)
		}
	}
}

// TestProviderFailuresOpenBreakerThenFastFail: a provider that keeps failing
// opens its breaker; further requests fail fast with 503 + retry-after and do
// not reach it.
func TestProviderFailuresOpenBreakerThenFastFail(t *testing.T) {
	s := startStack(t, stackOptions{extraConfig: ""})
	cfg := s.mock.Config()
	cfg.ErrorStatus, cfg.ErrorRate = 500, 1
	if err := s.mock.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	body := `{"model":"flaky-model","messages":[{"role":"user","content":"x"}],"max_tokens":2}`
	for i := 0; i < 2; i++ {
		resp, b := s.post(limitedKey, "/v1/chat/completions", []byte(body))
		assertOpenAIError(t, resp, b, 500, "provider_error")
	}
	calls := s.mockCalls()
	resp, b := s.post(limitedKey, "/v1/chat/completions", []byte(body))
	assertOpenAIError(t, resp, b, 503, "no_healthy_provider")
	if resp.Header.Get("retry-after") == "" {
		t.Error("no retry-after")
	}
	if s.mockCalls() != calls {
		t.Fatal("open breaker still sent traffic upstream")
	}
}
