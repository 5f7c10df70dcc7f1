package router

import (
	"github.com/failsafe-go/failsafe-go/bulkhead"
)

// limiter is a non-queueing concurrency limit. A nil limiter is unlimited. The
// size is kept so a reload can tell whether the limit changed.
type limiter struct {
	size int
	bh   bulkhead.Bulkhead[any]
}

// newLimiter returns a limiter of size permits, or nil for size 0 (unlimited).
// An existing limiter of the same size is reused so that requests in flight
// across a reload keep counting against the limit.
func newLimiter(size int, prev *limiter) *limiter {
	if size <= 0 {
		return nil
	}
	if prev != nil && prev.size == size {
		return prev
	}
	return &limiter{size: size, bh: bulkhead.New[any](uint(size))}
}

// tryAcquire takes a permit without waiting: queueing behind a saturated
// provider would only turn overload into timeouts.
func (l *limiter) tryAcquire() bool { return l == nil || l.bh.TryAcquirePermit() }

// release returns a permit taken by tryAcquire. Releasing more than was
// acquired blocks forever, which is why Selection.Done releases exactly once.
func (l *limiter) release() {
	if l != nil {
		l.bh.ReleasePermit()
	}
}
