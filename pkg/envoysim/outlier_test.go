package envoysim

import (
	"net/http"
	"sync"
	"testing"
	"time"
)

// offsetClock is the real clock shifted by an adjustable offset, so that
// ejection periods can pass instantly.
type offsetClock struct {
	realClock
	mu     sync.Mutex
	offset time.Duration
}

func (c *offsetClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *offsetClock) advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

func alwaysStatus(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

func TestOutlierEjectsAfterConsecutive5xx(t *testing.T) {
	clock := &offsetClock{}
	h := newHarness(t, harnessOpts{
		handlers: []http.HandlerFunc{echoUpstream, echoUpstream, alwaysStatus(500)},
		clock:    clock,
		rand:     fixedRand(0),
	})
	bad := h.ups[2].srv.Listener.Addr().String()
	const ejections = "cluster.mock.outlier_detection.ejections_enforced_consecutive_5xx"
	// Round robin over three hosts: the bad one takes every third request,
	// so its fifth consecutive 5xx arrives with request 15.
	for i := 1; i <= 15; i++ {
		h.post("/v1/chat/completions", "{}")
		if i == 14 && h.proxy.Counter(ejections) != 0 {
			t.Fatal("ejected before the fifth consecutive 5xx")
		}
	}
	if h.proxy.Counter(ejections) != 1 || !h.proxy.Ejected("mock", bad) ||
		h.proxy.Gauge("cluster.mock.outlier_detection.ejections_active") != 1 {
		t.Fatalf("not ejected: %v", h.proxy.Counters())
	}
	before := h.ups[2].hits.Load()
	for range 6 {
		if resp, _ := h.post("/v1/chat/completions", "{}"); resp.StatusCode != 200 {
			t.Fatalf("status %d while the bad host is ejected", resp.StatusCode)
		}
	}
	if h.ups[2].hits.Load() != before {
		t.Error("ejected host still received traffic")
	}
	clock.advance(30 * time.Second) // base_ejection_time x 1 ejection
	if h.proxy.Ejected("mock", bad) || h.proxy.Gauge("cluster.mock.outlier_detection.ejections_active") != 0 {
		t.Error("host not returned after base_ejection_time")
	}
	for range 3 {
		h.post("/v1/chat/completions", "{}")
	}
	if h.ups[2].hits.Load() == before {
		t.Error("returned host got no traffic")
	}
}

func TestOutlierSingleHostIsNeverEjected(t *testing.T) {
	// max_ejection_percent 50 cannot eject the only host (100%); Envoy counts
	// the detection and the overflow instead.
	h := newHarness(t, harnessOpts{upstream: alwaysStatus(502), rand: fixedRand(0)})
	for range 5 {
		h.post("/v1/chat/completions", "{}")
	}
	if got := h.proxy.Counter("cluster.mock.outlier_detection.ejections_detected_consecutive_5xx"); got != 1 {
		t.Errorf("detected = %d", got)
	}
	if got := h.proxy.Counter("cluster.mock.outlier_detection.ejections_overflow"); got != 1 {
		t.Errorf("overflow = %d", got)
	}
	if h.proxy.Ejected("mock", h.ups[0].srv.Listener.Addr().String()) {
		t.Error("single host ejected")
	}
}

func TestOutlierLocalOriginFailuresCountApart(t *testing.T) {
	cfg := loadTestConfig(t)
	c := cfg.Clusters["mock"]
	c.Outlier.ConsecutiveLocalOriginFailure = 2
	st := newStats()
	uc, err := newUpstreamCluster(c, "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3", st, fixedRand(0))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	h := uc.hosts[0]
	uc.recordOutcome(h, outcome5xx, now)
	uc.recordOutcome(h, outcomeLocalError, now)
	uc.recordOutcome(h, outcome5xx, now) // resets the local-origin streak
	uc.recordOutcome(h, outcomeLocalError, now)
	if h.ejected {
		t.Fatal("ejected without two consecutive local-origin failures")
	}
	uc.recordOutcome(h, outcomeLocalError, now)
	if !h.ejected || st.counter("cluster.mock.outlier_detection.ejections_enforced_consecutive_local_origin_failure") != 1 {
		t.Errorf("ejected=%v stats=%v", h.ejected, st.counters)
	}
	if h.consecutive5xx != 2 {
		t.Errorf("5xx streak %d: local-origin failures must not count as 5xx when split", h.consecutive5xx)
	}
}

func TestPanicThresholdRoutesToEjectedHosts(t *testing.T) {
	tests := []struct {
		name      string
		threshold float64
		wantAll   bool
	}{
		{"half healthy is below 60%: panic, all hosts", 60, true},
		{"half healthy is not below 50%: healthy only", 50, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &Cluster{Name: "c", PanicThreshold: tc.threshold, Endpoints: []Endpoint{{Host: "a", Port: 1}},
				Outlier: &Outlier{BaseEjectionTime: time.Minute, MaxEjectionTime: time.Hour}}
			uc, err := newUpstreamCluster(c, "127.0.0.1:1,127.0.0.1:2", newStats(), fixedRand(0))
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			uc.hosts[0].ejected, uc.hosts[0].ejectedAt, uc.hosts[0].ejections = true, now, 1
			seen := map[string]bool{}
			for range 4 {
				seen[uc.pick(now, nil, 0).addr] = true
			}
			if seen["127.0.0.1:1"] != tc.wantAll || !seen["127.0.0.1:2"] {
				t.Errorf("picked %v", seen)
			}
		})
	}
}
