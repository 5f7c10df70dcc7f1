package extproc

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Wait returns once every stream that entered has left, and no stream enters
// after the drain, however the two race.
func TestStreamsDrainRacesWithEnter(t *testing.T) {
	for range 200 {
		var s streams
		var inside, admittedAfter atomic.Int64
		var drained atomic.Bool
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				wasDrained := drained.Load()
				if !s.enter() {
					return
				}
				if wasDrained {
					admittedAfter.Add(1)
				}
				inside.Add(1)
				time.Sleep(time.Microsecond)
				inside.Add(-1)
				s.leave()
			}()
		}
		s.drain()
		drained.Store(true)
		if err := s.wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := inside.Load(); n != 0 {
			t.Fatalf("Wait returned with %d streams inside", n)
		}
		wg.Wait()
		if n := admittedAfter.Load(); n != 0 {
			t.Fatalf("%d streams entered after the drain", n)
		}
		if s.enter() {
			t.Fatal("a stream entered a drained server")
		}
	}
}

func TestStreamsWaitEndsWithItsContext(t *testing.T) {
	var s streams
	if !s.enter() {
		t.Fatal("refused before any drain")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.wait(ctx); err != context.DeadlineExceeded {
		t.Fatalf("wait with a stream inside: %v, want deadline exceeded", err)
	}
	s.leave()
	if err := s.wait(context.Background()); err != nil {
		t.Fatalf("wait after the last stream left: %v", err)
	}
	var idle streams
	if err := idle.wait(context.Background()); err != nil {
		t.Fatalf("wait with no stream: %v", err)
	}
}
