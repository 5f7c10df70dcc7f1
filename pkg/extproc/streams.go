package extproc

import (
	"context"
	"sync"
)

// streams counts the streams in flight and closes the door on new ones when
// the sidecar drains. Entering and draining take one lock, so a stream either
// entered before the drain (and Wait waits for it) or is refused: none can
// slip in after Wait returned and run against a closed quota store.
type streams struct {
	mu       sync.Mutex
	n        int
	draining bool
	idle     chan struct{} // closed when draining and n is 0
}

// enter counts a new stream in, unless the server drains.
func (s *streams) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return false
	}
	s.n++
	return true
}

// leave counts a stream out.
func (s *streams) leave() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n--
	if s.draining && s.n == 0 {
		close(s.idle)
	}
}

// drain refuses new streams from now on.
func (s *streams) drain() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return
	}
	s.draining = true
	s.idle = make(chan struct{})
	if s.n == 0 {
		close(s.idle)
	}
}

// wait blocks until the streams that entered have left, or ctx ends; it
// drains first.
func (s *streams) wait(ctx context.Context) error {
	s.drain()
	s.mu.Lock()
	idle := s.idle
	s.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
