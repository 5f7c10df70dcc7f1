package testredis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// slotCount is the number of hash slots in a Redis Cluster.
const slotCount = 16384

// Cluster is a Redis Cluster of masters without replicas, owned by a test.
type Cluster struct {
	t     testing.TB
	nodes []*Server

	mu     sync.Mutex
	client *redis.ClusterClient
}

// StartCluster starts masters redis-server processes in cluster mode, splits the
// hash slots evenly between them and waits until every node reports the cluster
// healthy. It uses CLUSTER ADDSLOTSRANGE and CLUSTER MEET directly, so
// redis-cli is not needed.
func StartCluster(t testing.TB, masters int) *Cluster {
	t.Helper()
	if masters < 1 {
		t.Fatalf("testredis: a cluster needs at least one master, got %d", masters)
	}
	c := &Cluster{t: t}
	for range masters {
		s := newServer(t, func(int) []string {
			return []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
				"--cluster-node-timeout", "5000", "--cluster-require-full-coverage", "yes"}
		})
		t.Cleanup(s.stop)
		c.nodes = append(c.nodes, s)
	}
	if err := c.form(); err != nil {
		t.Fatalf("testredis: forming cluster: %v", err)
	}
	return c
}

// form assigns slots, introduces the nodes to each other and waits for "ok".
func (c *Cluster) form() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	per := slotCount / len(c.nodes)
	for i, n := range c.nodes {
		first, last := i*per, (i+1)*per-1
		if i == len(c.nodes)-1 {
			last = slotCount - 1
		}
		cl := n.Client()
		// Distinct epochs avoid the epoch-collision dance on first contact.
		if err := cl.Do(ctx, "CLUSTER", "SET-CONFIG-EPOCH", i+1).Err(); err != nil {
			return fmt.Errorf("set-config-epoch on %s: %w", n.Addr(), err)
		}
		if err := cl.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", first, last).Err(); err != nil {
			return fmt.Errorf("addslotsrange on %s: %w", n.Addr(), err)
		}
	}
	for _, n := range c.nodes[1:] {
		if err := c.nodes[0].Client().ClusterMeet(ctx, "127.0.0.1", strconv.Itoa(n.port)).Err(); err != nil {
			return fmt.Errorf("meet %s: %w", n.Addr(), err)
		}
	}
	return c.waitHealthy(ctx)
}

// waitHealthy polls until every node says cluster_state:ok and knows every
// node, so clients see one consistent slot map.
func (c *Cluster) waitHealthy(ctx context.Context) error {
	for {
		err := c.healthy(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster not healthy: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *Cluster) healthy(ctx context.Context) error {
	for _, n := range c.nodes {
		info, err := n.Client().ClusterInfo(ctx).Result()
		if err != nil {
			return err
		}
		if !strings.Contains(info, "cluster_state:ok") ||
			!strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(len(c.nodes))+"\r\n") {
			return fmt.Errorf("node %s: %q", n.Addr(), firstLines(info, 3))
		}
		slots, err := n.Client().ClusterSlots(ctx).Result()
		if err != nil {
			return err
		}
		if len(slots) != len(c.nodes) {
			return fmt.Errorf("node %s sees %d slot ranges, want %d", n.Addr(), len(slots), len(c.nodes))
		}
	}
	return nil
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\r\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], " ")
}

// Addrs lists every master's address.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// Nodes returns the masters, e.g. to kill one.
func (c *Cluster) Nodes() []*Server { return c.nodes }

// Client returns a cluster client over every master, shared and closed when the
// test ends. Like Server.Client, it honours context deadlines.
func (c *Cluster) Client() *redis.ClusterClient {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client == nil {
		c.client = redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), ContextTimeoutEnabled: true, MaxRetries: -1, DialerRetries: 1})
		cl := c.client
		c.t.Cleanup(func() { cl.Close() })
	}
	return c.client
}
