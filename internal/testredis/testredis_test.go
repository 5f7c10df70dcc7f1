package testredis

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestServerLifecycle(t *testing.T) {
	s := Start(t)
	ctx := t.Context()
	c := s.Client()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("set: %v", err)
	}
	for _, arg := range []string{"save", "appendonly"} {
		got, err := c.ConfigGet(ctx, arg).Result()
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]string{"save": "", "appendonly": "no"}[arg]; got[arg] != want {
			t.Errorf("config %s = %q, want %q", arg, got[arg], want)
		}
	}

	t.Run("kill makes calls fail", func(t *testing.T) {
		s.Kill()
		if err := ping(ctx, s, time.Second); err == nil {
			t.Fatal("ping succeeded on a killed server")
		}
	})
	t.Run("restart on the same port, empty", func(t *testing.T) {
		s.Restart()
		if err := ping(ctx, s, time.Second); err != nil {
			t.Fatalf("ping after restart: %v", err)
		}
		if n, _ := c.Exists(ctx, "k").Result(); n != 0 {
			t.Errorf("key survived a restart without persistence")
		}
	})
	t.Run("pause blocks until resume", func(t *testing.T) {
		s.Pause()
		start := time.Now()
		if err := ping(ctx, s, 100*time.Millisecond); err == nil {
			t.Fatal("ping answered by a paused server")
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("ping on a paused server took %v; the context deadline must bound it", d)
		}
		s.Resume()
		if err := ping(ctx, s, 2*time.Second); err != nil {
			t.Fatalf("ping after resume: %v", err)
		}
	})
}

func ping(ctx context.Context, s *Server, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return s.Client().Ping(ctx).Err()
}

func TestClusterSpreadsKeys(t *testing.T) {
	cl := StartCluster(t, 3)
	ctx := t.Context()
	c := cl.Client()
	for i := range 100 {
		if err := c.Set(ctx, fmt.Sprintf("key-%d", i), i, 0).Err(); err != nil {
			t.Fatalf("set key-%d: %v", i, err)
		}
	}
	for _, n := range cl.Nodes() {
		size, err := n.Client().DBSize(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if size == 0 {
			t.Errorf("node %s holds no keys; slots are not spread", n.Addr())
		}
	}
	// Keys sharing a hash tag must be usable together in one command.
	if err := c.MSet(ctx, "{t}a", 1, "{t}b", 2).Err(); err != nil {
		t.Errorf("mset with one hash tag: %v", err)
	}
}
