package quota

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llm-gateway/gateway/internal/testredis"
)

func TestMemoryStoreConformance(t *testing.T) {
	runConformance(t, func(*testing.T) func() Store {
		s := NewMemoryStore()
		return func() Store { return s }
	})
}

func TestRedisStoreConformance(t *testing.T) {
	srv := testredis.Start(t)
	runConformance(t, redisFactory(func(t *testing.T) redis.UniversalClient {
		c := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1, DialerRetries: 1})
		t.Cleanup(func() { c.Close() })
		return c
	}))
}

func TestRedisClusterConformance(t *testing.T) {
	cluster := testredis.StartCluster(t, 3)
	runConformance(t, redisFactory(func(t *testing.T) redis.UniversalClient {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cluster.Addrs(), ContextTimeoutEnabled: true, DialerRetries: 1})
		t.Cleanup(func() { c.Close() })
		return c
	}))
}

// redisFactory gives each test its own key prefix on a shared server, and
// each Store its own client, as separate replicas would have.
func redisFactory(newClient func(*testing.T) redis.UniversalClient) storeFactory {
	var n atomic.Int64
	return func(t *testing.T) func() Store {
		prefix := fmt.Sprintf("t%d:", n.Add(1))
		return func() Store {
			s, err := NewRedisStore(newClient(t), RedisStoreOptions{KeyPrefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	}
}

// noRetryHook records whether every command go-redis is asked to send
// forbids go-redis from sending it again.
type noRetryHook struct {
	mu       sync.Mutex
	sent     int
	retrying []string
}

func (h *noRetryHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *noRetryHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.record(cmd)
		return next(ctx, cmd)
	}
}

func (h *noRetryHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			h.record(c)
		}
		return next(ctx, cmds)
	}
}

func (h *noRetryHook) record(c redis.Cmder) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if name := c.Name(); name == "evalsha" || name == "eval" {
		h.sent++
		if !c.NoRetry() {
			h.retrying = append(h.retrying, name)
		}
	}
}

// TestScriptsAreNeverRetriedByTheClient: a script whose answer was lost may
// have run, so go-redis must not send it again on its own (a Cluster client
// retries network errors unless a command says NoRetry): every script call,
// single or pipelined, says NoRetry.
func TestScriptsAreNeverRetriedByTheClient(t *testing.T) {
	cluster := testredis.StartCluster(t, 3)
	hook := &noRetryHook{}
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cluster.Addrs(), ContextTimeoutEnabled: true, DialerRetries: 1})
	c.OnNewNode(func(n *redis.Client) { n.AddHook(hook) })
	c.AddHook(hook)
	t.Cleanup(func() { c.Close() })
	store, err := NewRedisStore(c, RedisStoreOptions{KeyPrefix: "noretry:"})
	if err != nil {
		t.Fatal(err)
	}
	l := newTestLimiter(t, store, nil, Options{BackgroundUsage: true, Timeout: time.Second})
	ctx := t.Context()
	var ops []ReconcileOp
	for i := range 20 {
		s := Subject{Consumer: fmt.Sprintf("c%d", i), Limits: Limits{RequestsPerMinute: 100}}
		r, _, err := l.AdmitAndReserve(ctx, s, 10)
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, ReconcileOp{ID: r.id, Consumer: r.consumer, Periods: r.periods, Actual: 5, Now: time.Now()})
	}
	for i, err := range store.ReconcileAll(ctx, ops) { // consumers spread over the three masters
		if err != nil {
			t.Fatalf("reconcile %d: %v", i, err)
		}
	}
	hook.mu.Lock()
	defer hook.mu.Unlock()
	if hook.sent < 40 || len(hook.retrying) > 0 {
		t.Errorf("%d script calls, %d of them retryable by go-redis: %v", hook.sent, len(hook.retrying), hook.retrying)
	}
}
