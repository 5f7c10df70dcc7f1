package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const chatBody = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello"}],"max_tokens":4}`

// TestSidecarDownFailsClosed: with the sidecar gone, Envoy answers 500 and the
// provider is never called.
func TestSidecarDownFailsClosed(t *testing.T) {
	s := startStack(t, stackOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.gw.Shutdown(ctx)
	resp, body := s.post(demoKey, "/v1/chat/completions", []byte(chatBody))
	if resp.StatusCode != 500 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if s.mockCalls() != 0 {
		t.Fatal("provider called without the sidecar")
	}
}

// TestSidecarTooSlowIs504: Redis hangs, the sidecar cannot answer within the
// message timeout, Envoy answers 504 and the provider is never called.
func TestSidecarTooSlowIs504(t *testing.T) {
	s := startStack(t, stackOptions{messageTimeout: 20 * time.Millisecond})
	s.redis.Pause()
	defer s.redis.Resume()
	resp, body := s.post(limitedKey, "/v1/chat/completions", []byte(chatBody))
	if resp.StatusCode != 504 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if s.mockCalls() != 0 {
		t.Fatal("provider called")
	}
}

// TestRedisDownFailsClosedFast: with the default message timeout, a dead Redis
// turns into a fast OpenAI-shaped 503, not a hang.
func TestRedisDownFailsClosedFast(t *testing.T) {
	s := startStack(t, stackOptions{})
	s.redis.Kill()
	start := time.Now()
	resp, body := s.post(limitedKey, "/v1/chat/completions", []byte(chatBody))
	assertOpenAIError(t, resp, body, 503, "quota_unavailable")
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
	if s.mockCalls() != 0 {
		t.Fatal("provider called")
	}
	// go-redis's own report of a failed dial (the next request needs a new
	// connection) is a JSON line like the rest.
	resp, body = s.post(limitedKey, "/v1/chat/completions", []byte(chatBody))
	assertOpenAIError(t, resp, body, 503, "quota_unavailable")
	logs := s.waitLog(`"msg":"redis client"`)
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("log line is not JSON: %q", line)
		}
	}
}

// TestRateLimitExactAcrossReplicas: two sidecars sharing Redis admit exactly the
// consumer's 5 requests per minute between them, with quota leases or without
// (so close to a limit, no lease is taken).
func TestRateLimitExactAcrossReplicas(t *testing.T) {
	for _, leases := range []bool{false, true} {
		t.Run(fmt.Sprintf("leases=%v", leases), func(t *testing.T) {
			o := stackOptions{quotaExtra: fmt.Sprintf("leases: {enabled: %v}", leases)}
			testRateLimitExactAcrossReplicas(t, o)
		})
	}
}

func testRateLimitExactAcrossReplicas(t *testing.T, o stackOptions) {
	a := startStack(t, o)
	o.redis, o.mock = a.redis, a.mock
	b := startStack(t, o)
	var ok, limited atomic.Int32
	var wg sync.WaitGroup
	var sawHeaders atomic.Bool
	for i := 0; i < 16; i++ {
		st := a
		if i%2 == 1 {
			st = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, body := st.post(limitedKey, "/v1/chat/completions", []byte(chatBody))
			switch resp.StatusCode {
			case 200:
				ok.Add(1)
				if resp.Header.Get("x-ratelimit-limit-requests") == "5" {
					sawHeaders.Store(true)
				}
			case 429:
				limited.Add(1)
				if resp.Header.Get("retry-after") == "" || resp.Header.Get("x-ratelimit-remaining-requests") != "0" ||
					!strings.Contains(string(body), "rate_limit_exceeded") {
					t.Errorf("429 without rate-limit headers/code: %v %s", resp.Header, body)
				}
			default:
				t.Errorf("status %d: %s", resp.StatusCode, body)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 5 || limited.Load() != 11 {
		t.Fatalf("admitted %d, limited %d; want 5 and 11", ok.Load(), limited.Load())
	}
	if !sawHeaders.Load() {
		t.Fatal("successful responses lack x-ratelimit-* headers")
	}
	if n := a.mockCalls(); n != 5 {
		t.Fatalf("provider called %d times", n)
	}
}

// TestNoSecretsInLogs: a marker in the prompt, the key and the provider's reply
// never appears in the sidecar's logs.
func TestNoSecretsInLogs(t *testing.T) {
	s := startStack(t, stackOptions{})
	cfg := s.mock.Config()
	cfg.ReplyText = "OUTPUT-MARKER-7731 done"
	s.mock.SetConfig(cfg)
	resp, body := s.post(demoKey, "/v1/chat/completions", []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"PROMPT-MARKER-9923"}]}`))
	if resp.StatusCode != 200 || !strings.Contains(string(body), "OUTPUT-MARKER-7731") {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	s.post("sk-wrong-KEY-MARKER", "/v1/chat/completions", []byte(chatBody))
	s.waitLog(`"status":401`)
	logs := s.waitLog(`"consumer":"demo"`)
	for _, secret := range []string{"PROMPT-MARKER-9923", "OUTPUT-MARKER-7731", demoKey, "KEY-MARKER", providerKey} {
		if strings.Contains(logs, secret) {
			t.Errorf("%q appears in logs", secret)
		}
	}
}
