package envoysim

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// failingFirst answers status for the first n requests, then echoes.
func failingFirst(n int32, status int) http.HandlerFunc {
	var seen atomic.Int32
	return func(w http.ResponseWriter, r *http.Request) {
		if seen.Add(1) <= n {
			w.WriteHeader(status)
			_, _ = io.WriteString(w, "failed")
			return
		}
		echoUpstream(w, r)
	}
}

func quickBackOff(int) time.Duration { return time.Millisecond }

func TestRetries(t *testing.T) {
	tests := []struct {
		name       string
		upstream   http.HandlerFunc
		headers    []string
		wantStatus int
		wantHits   int32
		wantRetry  uint64
		wantFlag   string
	}{
		{"5xx retried within x-envoy-max-retries", failingFirst(2, 503), []string{"x-envoy-max-retries", "2"}, 200, 3, 2, "-"},
		{"retries exhausted", failingFirst(2, 503), []string{"x-envoy-max-retries", "1"}, 503, 2, 1, "URX"},
		{"429 is a retriable status code", failingFirst(1, 429), []string{"x-envoy-max-retries", "1"}, 200, 2, 1, "-"},
		{"4xx is not retried", failingFirst(1, 400), []string{"x-envoy-max-retries", "3"}, 400, 1, 0, "-"},
		{"route num_retries 0 without the header", failingFirst(1, 503), nil, 503, 1, 0, "URX"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{script: chaosSidecar(tc.headers...), upstream: tc.upstream, backOff: quickBackOff})
			resp, _ := h.post("/v1/chat/completions", "{}")
			if resp.StatusCode != tc.wantStatus || h.hits() != tc.wantHits {
				t.Fatalf("status %d hits %d, want %d %d", resp.StatusCode, h.hits(), tc.wantStatus, tc.wantHits)
			}
			if got := h.proxy.Counter("cluster.mock.upstream_rq_retry"); got != tc.wantRetry {
				t.Errorf("upstream_rq_retry = %d, want %d", got, tc.wantRetry)
			}
			if !strings.Contains(h.access.String(), `"response_flags":"`+tc.wantFlag+`"`) {
				t.Errorf("access log lacks flag %s: %s", tc.wantFlag, h.access.String())
			}
			if got := h.ups[0].last(t).header.Get("X-Envoy-Max-Retries"); got != "" {
				t.Errorf("router forwarded x-envoy-max-retries %q", got)
			}
		})
	}
}

func TestRouteTimeoutHeader(t *testing.T) {
	slow := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}
	h := newHarness(t, harnessOpts{script: chaosSidecar("x-envoy-upstream-rq-timeout-ms", "100"), upstream: slow})
	start := time.Now()
	resp, body := h.post("/v1/chat/completions", "{}")
	if resp.StatusCode != http.StatusGatewayTimeout || body != "upstream request timeout" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("timeout took %v", d)
	}
	if got := h.proxy.Counter("cluster.mock.upstream_rq_timeout"); got != 1 {
		t.Errorf("upstream_rq_timeout = %d", got)
	}
	if got := h.ups[0].last(t).header.Get("X-Envoy-Expected-Rq-Timeout-Ms"); got != "100" {
		t.Errorf("x-envoy-expected-rq-timeout-ms = %q", got)
	}
}

func TestConnectFailure(t *testing.T) {
	h := newHarness(t, harnessOpts{script: chaosSidecar("x-envoy-max-retries", "2"), mockAddr: closedPort(t), backOff: quickBackOff})
	resp, body := h.post("/v1/chat/completions", "{}")
	if resp.StatusCode != 503 || !strings.Contains(body, "remote connection failure") {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if got := h.proxy.Counter("cluster.mock.upstream_cx_connect_fail"); got != 3 {
		t.Errorf("upstream_cx_connect_fail = %d, want 3 (one try, two retries)", got)
	}
	if !strings.Contains(h.access.String(), "UF") {
		t.Errorf("access log lacks UF: %s", h.access.String())
	}
}

func TestRetryBackOffIsJitteredExponential(t *testing.T) {
	pol := &RetryPolicy{BaseInterval: 100 * time.Millisecond, MaxInterval: 300 * time.Millisecond, NumRetries: 5}
	rs := newRetryState(pol, &headerMap{})
	// A roll of ceiling-1 yields ceiling-1: the interval doubles to the max.
	ceilings := []time.Duration{100, 200, 300, 300}
	for i, c := range ceilings {
		c *= time.Millisecond
		if d := rs.backOff(fixedRand(uint64(c-1)), nil); d != c-1 {
			t.Errorf("back-off %d = %v, want %v", i, d, c-1)
		}
	}
	if d := newRetryState(pol, &headerMap{}).backOff(fixedRand(0), nil); d != 0 {
		t.Errorf("zero roll gave %v", d)
	}
}

func TestRetryStateHeaders(t *testing.T) {
	pol := &RetryPolicy{RetryOn: []string{"connect-failure"}, NumRetries: 1, BaseInterval: time.Millisecond, MaxInterval: time.Millisecond}
	tests := []struct {
		name       string
		policy     *RetryPolicy
		hdr        []string
		wantNil    bool
		wantRemain int
		retries5xx bool
		retries418 bool
	}{
		{"no policy and no header", nil, []string{"x-envoy-max-retries", "3"}, true, 0, false, false},
		{"header retry_on without policy", nil, []string{"x-envoy-retry-on", "5xx", "x-envoy-max-retries", "3"}, false, 3, true, false},
		{"policy plus header conditions", pol, []string{"x-envoy-retry-on", "retriable-status-codes", "x-envoy-retriable-status-codes", "418"}, false, 1, false, true},
		{"bad max-retries ignored", pol, []string{"x-envoy-max-retries", "many"}, false, 1, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &headerMap{}
			for i := 0; i+1 < len(tc.hdr); i += 2 {
				h.add(tc.hdr[i], tc.hdr[i+1])
			}
			rs := newRetryState(tc.policy, h)
			if (rs == nil) != tc.wantNil {
				t.Fatalf("retry state nil = %v", rs == nil)
			}
			if rs == nil {
				return
			}
			if rs.remaining != tc.wantRemain {
				t.Errorf("remaining %d, want %d", rs.remaining, tc.wantRemain)
			}
			r503 := &attemptResult{kind: attemptResponse, resp: &http.Response{StatusCode: 503}}
			r418 := &attemptResult{kind: attemptResponse, resp: &http.Response{StatusCode: 418}}
			if rs.wouldRetry(r503) != tc.retries5xx || rs.wouldRetry(r418) != tc.retries418 {
				t.Errorf("wouldRetry 503=%v 418=%v", rs.wouldRetry(r503), rs.wouldRetry(r418))
			}
			if !rs.wouldRetry(&attemptResult{kind: attemptConnectFailure}) && tc.policy != nil {
				t.Error("connect-failure policy must retry connect failures")
			}
		})
	}
}

func TestCircuitBreakers(t *testing.T) {
	t.Run("max_requests overflow", func(t *testing.T) {
		h := newHarness(t, harnessOpts{mutate: func(c *Config) { c.Clusters["mock"].Thresholds.MaxRequests = 0 }})
		resp, body := h.post("/v1/chat/completions", "{}")
		if resp.StatusCode != 503 || !strings.Contains(body, "overflow") || h.hits() != 0 {
			t.Fatalf("got %d %q hits %d", resp.StatusCode, body, h.hits())
		}
		if h.proxy.Counter("cluster.mock.upstream_rq_pending_overflow") != 1 || !strings.Contains(h.access.String(), "UO") {
			t.Errorf("overflow not recorded: %v", h.proxy.Counters())
		}
	})
	t.Run("retry budget", func(t *testing.T) {
		c := &Cluster{Name: "c", Thresholds: Thresholds{MaxRequests: 100, MaxRetries: 1, RetryBudget: &RetryBudget{Percent: 50, MinConcurrency: 1}}}
		uc := &upstreamCluster{cfg: c}
		for range 4 {
			uc.acquireRequest()
		}
		// 50% of 4 active requests: two concurrent retries, not max_retries' one.
		if !uc.acquireRetry() || !uc.acquireRetry() || uc.acquireRetry() {
			t.Errorf("retry budget: active retries %d", uc.activeRetries)
		}
		uc.releaseRetry()
		if !uc.acquireRetry() {
			t.Error("released retry not reusable")
		}
	})
}
