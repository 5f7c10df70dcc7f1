// Package testredis starts real redis-server processes for tests: a standalone
// server on a free loopback port (Start) or a multi-master Redis Cluster
// (StartCluster). Servers keep no data on disk, are stopped when the test ends,
// and can be killed, paused and restarted to exercise outages. A missing
// redis-server binary fails the test: tests that need Redis must never pass
// silently without it.
package testredis

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// startTimeout bounds how long a fresh server may take to answer PING.
const startTimeout = 10 * time.Second

// Server is one redis-server process owned by a test.
type Server struct {
	t     testing.TB
	bin   string
	port  int
	dir   string
	extra []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	out    *syncBuffer
	client *redis.Client
}

// Start runs a standalone redis-server on a free loopback port and stops it when
// the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := newServer(t, nil)
	t.Cleanup(s.stop)
	return s
}

// newServer starts a server with extra arguments, retrying on port races with
// other processes that grab the same free port.
func newServer(t testing.TB, extra func(port int) []string) *Server {
	t.Helper()
	bin := lookPath(t)
	var lastErr error
	for range 5 {
		port, err := freePort(extra != nil)
		if err != nil {
			lastErr = err
			continue
		}
		s := &Server{t: t, bin: bin, port: port, dir: t.TempDir()}
		if extra != nil {
			s.extra = extra(port)
		}
		if lastErr = s.launch(); lastErr == nil {
			return s
		}
	}
	t.Fatalf("testredis: cannot start redis-server: %v", lastErr)
	return nil
}

func lookPath(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("testredis: redis-server is not installed or not in PATH (%v); "+
			"install it (e.g. apt-get install redis-server) — tests that need Redis do not skip", err)
	}
	return bin
}

// freePort asks the kernel for an unused loopback port. Cluster nodes also need
// port+10000 for the cluster bus, so withBus checks that one too.
func freePort(withBus bool) (int, error) {
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("listen: %w", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		if !withBus {
			ln.Close()
			return port, nil
		}
		if port+10000 > 65535 {
			ln.Close()
			continue
		}
		bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		ln.Close()
		if err != nil {
			continue
		}
		bus.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no free port pair found")
}

// launch starts the process and waits until it answers PING.
func (s *Server) launch() error {
	args := []string{
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir,
		"--daemonize", "no", "--loglevel", "warning",
	}
	args = append(args, s.extra...)
	cmd := exec.Command(s.bin, args...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited, s.out = cmd, exited, out
	s.mu.Unlock()
	if err := s.waitPing(exited); err != nil {
		s.Kill()
		return fmt.Errorf("%w; server output: %s", err, out.String())
	}
	return nil
}

func (s *Server) waitPing(exited <-chan struct{}) error {
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("redis-server on port %d exited: %w", s.port, err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server on port %d did not answer PING within %v: %w", s.port, startTimeout, err)
		}
	}
}

// Addr is the server's "127.0.0.1:port".
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Client returns a client for this server, shared by callers and closed when
// the test ends. It honours context deadlines (ContextTimeoutEnabled), so a
// caller's timeout bounds every command even while the server is paused.
func (s *Server) Client() *redis.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		s.client = redis.NewClient(&redis.Options{Addr: s.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1, DialerRetries: 1})
		c := s.client
		s.t.Cleanup(func() { c.Close() })
	}
	return s.client
}

// Kill stops the server abruptly (SIGKILL), as a crash or a network loss would.
// Data is lost: the server keeps nothing on disk.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT) // a paused process must still die
	_ = cmd.Process.Kill()
	<-exited
}

// Restart starts a killed server again on the same port, empty. It fails the
// test if the port cannot be reused.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	var err error
	for range 50 { // the port may linger briefly after the kill
		if err = s.launch(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("testredis: restart on port %d: %v", s.port, err)
}

// Pause freezes the server (SIGSTOP): connections stay open but nothing is
// answered, the hardest outage for a client because only timeouts notice it.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused server.
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(sig)
	}
}

func (s *Server) stop() { s.Kill() }

// syncBuffer collects process output for error messages; the process writes
// from its own goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
