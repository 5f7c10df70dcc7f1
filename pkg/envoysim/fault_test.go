package envoysim

import (
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// fixedRand returns the same value forever: rolls against a percentage
// become deterministic (value % 100 < numerator).
type fixedRand uint64

func (f fixedRand) Uint64() uint64 { return uint64(f) }

// recordingClock is the real clock that remembers requested waits.
type recordingClock struct {
	realClock
	mu    sync.Mutex
	waits []time.Duration
}

func (c *recordingClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.mu.Unlock()
	return c.realClock.After(d)
}

func (c *recordingClock) waited(d time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range c.waits {
		if w == d {
			return true
		}
	}
	return false
}

// chaosSidecar routes to mock and adds the given headers in its body answer,
// like the sidecar's chaos feature.
func chaosSidecar(kv ...string) script {
	return func(i int, req *extprocv3.ProcessingRequest) step {
		if req.GetRequestBody() != nil {
			return step{answers: []*extprocv3.ProcessingResponse{continueFor(req, &extprocv3.CommonResponse{
				HeaderMutation: setHeaders(append([]string{"x-gateway-cluster", "mock"}, kv...)...), ClearRouteCache: true})}}
		}
		return passThrough(i, req)
	}
}

func TestFaultAbortViaHeaders(t *testing.T) {
	tests := []struct {
		name       string
		headers    []string
		rand       uint64
		wantStatus int
	}{
		{"abort at 50% when the roll is 49", []string{"x-envoy-fault-abort-request", "503", "x-envoy-fault-abort-request-percentage", "50"}, 49, 503},
		{"no abort at 50% when the roll is 50", []string{"x-envoy-fault-abort-request", "503", "x-envoy-fault-abort-request-percentage", "50"}, 50, 200},
		{"no percentage header means the filter's 100%", []string{"x-envoy-fault-abort-request", "429"}, 99, 429},
		{"invalid status is ignored", []string{"x-envoy-fault-abort-request", "99"}, 0, 200},
		{"bad percentage keeps the filter's", []string{"x-envoy-fault-abort-request", "500", "x-envoy-fault-abort-request-percentage", "x"}, 99, 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{script: chaosSidecar(tc.headers...), rand: fixedRand(tc.rand)})
			resp, body := h.post("/v1/chat/completions", "{}")
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			aborted := tc.wantStatus != 200
			if (h.hits() == 0) != aborted {
				t.Errorf("upstream hits %d with abort=%v", h.hits(), aborted)
			}
			if !aborted {
				return
			}
			if body != "fault filter abort" || h.proxy.Counter("http.llm_gateway.fault.aborts_injected") != 1 {
				t.Errorf("body %q aborts_injected %d", body, h.proxy.Counter("http.llm_gateway.fault.aborts_injected"))
			}
			if !strings.Contains(h.access.String(), `"response_flags":"FI"`) {
				t.Errorf("access log lacks FI: %s", h.access.String())
			}
			// Aborts are local replies of a filter after ext_proc: the
			// processor sees them on the response path.
			reqs := h.proc.nextStream(t).requests()
			if got := kinds(reqs); len(got) != 4 || got[2] != "response_headers" {
				t.Fatalf("kinds %v", got)
			}
			if st, _ := headerOf(reqs[2].GetResponseHeaders(), ":status"); st != strconv.Itoa(tc.wantStatus) {
				t.Errorf("processor saw :status %q", st)
			}
		})
	}
}

func TestFaultDelayViaHeaders(t *testing.T) {
	tests := []struct {
		name      string
		headers   []string
		wantDelay bool
	}{
		{"delay", []string{"x-envoy-fault-delay-request", "40"}, true},
		{"delay at 0%", []string{"x-envoy-fault-delay-request", "40", "x-envoy-fault-delay-request-percentage", "0"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := &recordingClock{}
			h := newHarness(t, harnessOpts{script: chaosSidecar(tc.headers...), clock: clock, rand: fixedRand(0)})
			start := time.Now()
			resp, _ := h.post("/v1/chat/completions", "{}")
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			delayed := clock.waited(40 * time.Millisecond)
			if delayed != tc.wantDelay || (tc.wantDelay && time.Since(start) < 40*time.Millisecond) {
				t.Errorf("delayed=%v after %v, want %v", delayed, time.Since(start), tc.wantDelay)
			}
			if got := h.proxy.Counter("http.llm_gateway.fault.delays_injected"); (got == 1) != tc.wantDelay {
				t.Errorf("delays_injected = %d", got)
			}
			if tc.wantDelay && !strings.Contains(h.access.String(), `"response_flags":"DI"`) {
				t.Errorf("access log lacks DI: %s", h.access.String())
			}
		})
	}
}

func TestClientFaultHeadersReachTheFaultFilter(t *testing.T) {
	// Envoy's connection manager does not strip x-envoy-fault-* from edge
	// requests: a processor that leaves them in place lets clients inject faults.
	h := newHarness(t, harnessOpts{})
	resp, _ := h.post("/v1/chat/completions", "{}", "X-Envoy-Fault-Abort-Request", "418")
	if resp.StatusCode != 418 || h.hits() != 0 {
		t.Fatalf("status %d hits %d: client fault header was not honoured", resp.StatusCode, h.hits())
	}
}

func TestFaultDecisions(t *testing.T) {
	f := &Fault{
		Abort: &FaultAbort{Header: true, Percent: Fraction{Numerator: 20, Denominator: 100}},
		Delay: &FaultDelay{Header: true, Percent: Fraction{Numerator: 100, Denominator: 100}},
	}
	tests := []struct {
		name      string
		hdr       []string
		roll      uint64
		wantAbort int
		wantDelay time.Duration
	}{
		{"header percentage capped by the filter", []string{"x-envoy-fault-abort-request", "500", "x-envoy-fault-abort-request-percentage", "90"}, 50, 0, 0},
		{"below the cap", []string{"x-envoy-fault-abort-request", "500", "x-envoy-fault-abort-request-percentage", "90"}, 19, 500, 0},
		{"status 600 is invalid", []string{"x-envoy-fault-abort-request", "600"}, 0, 0, 0},
		{"delay in ms", []string{"x-envoy-fault-delay-request", "1500"}, 0, 0, 1500 * time.Millisecond},
		{"negative delay is invalid", []string{"x-envoy-fault-delay-request", "-5"}, 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &headerMap{}
			for i := 0; i+1 < len(tc.hdr); i += 2 {
				h.add(tc.hdr[i], tc.hdr[i+1])
			}
			if got := f.abortFor(h, fixedRand(tc.roll)); got != tc.wantAbort {
				t.Errorf("abort %d, want %d", got, tc.wantAbort)
			}
			if got := f.delayFor(h, fixedRand(tc.roll)); got != tc.wantDelay {
				t.Errorf("delay %v, want %v", got, tc.wantDelay)
			}
		})
	}
}

func TestMaxActiveFaults(t *testing.T) {
	h := newHarness(t, harnessOpts{
		script: chaosSidecar("x-envoy-fault-abort-request", "503"),
		mutate: func(c *Config) { c.Listener.Fault.MaxActiveFaults = 0 },
	})
	if resp, _ := h.post("/v1/chat/completions", "{}"); resp.StatusCode != 200 {
		t.Fatalf("status %d: a fault past max_active_faults was injected", resp.StatusCode)
	}
	if got := h.proxy.Counter("http.llm_gateway.fault.faults_overflow"); got != 1 {
		t.Errorf("faults_overflow = %d", got)
	}
}
