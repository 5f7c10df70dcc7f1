package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLeasesAdmitLocallyAndSettleExactly: with quota leases, two sidecars
// sharing Redis admit a busy consumer's requests mostly from leased credit
// (far fewer Redis scripts than requests), and once they shut down Redis
// holds exactly the requests and tokens the clients used, nothing in flight.
func TestLeasesAdmitLocallyAndSettleExactly(t *testing.T) {
	o := stackOptions{quotaExtra: "leases: {enabled: true}"}
	a := startStack(t, o)
	o.redis, o.mock = a.redis, a.mock
	b := startStack(t, o)
	rdb := a.redis.Client()
	if err := rdb.ConfigResetStat(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}

	const perStack, workers = 30, 3
	body := []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"one two three"}],"max_tokens":4}`)
	var wg sync.WaitGroup
	for _, st := range []*stack{a, b} {
		for range workers {
			wg.Go(func() {
				for range perStack / workers {
					resp, b := st.post(bulkKey, "/v1/chat/completions", body)
					if resp.StatusCode != 200 {
						t.Errorf("status %d: %s", resp.StatusCode, b)
					}
				}
			})
		}
	}
	wg.Wait()
	const requests = 2 * perStack
	if n := a.mockCalls(); n != requests {
		t.Fatalf("provider called %d times, want %d", n, requests)
	}

	// Shutting down settles every lease: unused credit goes back.
	for _, st := range []*stack{a, b} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := st.gw.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		cancel()
	}
	scripts := scriptCalls(t, a)
	// Without leases each request runs two scripts (admission, usage).
	if scripts >= requests {
		t.Errorf("%d Redis scripts for %d requests: leases not used", scripts, requests)
	}
	t.Logf("%d Redis scripts for %d requests", scripts, requests)

	// The mock counts 3 prompt words and 4 output words: 7 tokens a request.
	keys, err := rdb.Keys(t.Context(), "*{bulk}*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var reqs, day int64
	for _, k := range keys {
		switch {
		case strings.Contains(k, ":rq:"):
			reqs += intKey(t, a, k)
		case strings.Contains(k, ":d:"):
			day += intKey(t, a, k)
		case strings.HasSuffix(k, ":live"):
			if n, _ := rdb.ZCount(t.Context(), k, "-inf", "+inf").Result(); n != 0 {
				t.Errorf("%d reservations still in flight in %s", n, k)
			}
		}
	}
	if reqs != requests || day != 7*requests {
		t.Fatalf("Redis counts %d requests and %d tokens today, want %d and %d", reqs, day, requests, 7*requests)
	}
}

func intKey(t *testing.T, s *stack, key string) int64 {
	t.Helper()
	v, err := s.redis.Client().Get(t.Context(), key).Int64()
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return v
}

// scriptCalls is how many EVALSHA and EVAL commands Redis ran since its
// stats were reset.
func scriptCalls(t *testing.T, s *stack) int {
	t.Helper()
	info, err := s.redis.Client().Info(t.Context(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, line := range strings.Split(info, "\n") {
		for _, cmd := range []string{"cmdstat_evalsha:", "cmdstat_eval:"} {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), cmd); ok {
				calls, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
				n, err := strconv.Atoi(calls)
				if err != nil {
					t.Fatal(fmt.Errorf("commandstats %q: %w", line, err))
				}
				total += n
			}
		}
	}
	return total
}
