package quota

import (
	"fmt"
	"sync/atomic"
	"testing"

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
	for _, pipelined := range []bool{false, true} {
		t.Run(pipelineName(pipelined), func(t *testing.T) {
			runConformance(t, redisFactory(pipelined, func(t *testing.T) redis.UniversalClient {
				c := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1, DialerRetries: 1})
				t.Cleanup(func() { c.Close() })
				return c
			}))
		})
	}
}

func TestRedisClusterConformance(t *testing.T) {
	cluster := testredis.StartCluster(t, 3)
	for _, pipelined := range []bool{false, true} {
		t.Run(pipelineName(pipelined), func(t *testing.T) {
			runConformance(t, redisFactory(pipelined, func(t *testing.T) redis.UniversalClient {
				c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cluster.Addrs(), ContextTimeoutEnabled: true, MaxRetries: -1, DialerRetries: 1})
				t.Cleanup(func() { c.Close() })
				return c
			}))
		})
	}
}

func pipelineName(pipelined bool) string {
	if pipelined {
		return "autopipeline"
	}
	return "direct"
}

// redisFactory gives each test its own key prefix on a shared server, and
// each Store its own client, as separate replicas would have.
func redisFactory(pipelined bool, newClient func(*testing.T) redis.UniversalClient) storeFactory {
	var n atomic.Int64
	return func(t *testing.T) func() Store {
		prefix := fmt.Sprintf("t%d%s:", n.Add(1), pipelineName(pipelined)) // the suites share servers
		return func() Store {
			s, err := NewRedisStore(newClient(t), RedisStoreOptions{KeyPrefix: prefix, AutoPipeline: pipelined})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	}
}
