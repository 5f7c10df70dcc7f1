package quota

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
)

// ErrUnavailable means the shared store could not decide in time (error,
// timeout, or open breaker) and the policy is FailClosed. Callers answer 503.
var ErrUnavailable = errors.New("quota: store unavailable")

// errBreakerOpen marks calls refused without touching the store, so the caller
// knows nothing was written.
var errBreakerOpen = errors.New("circuit breaker open")

func newBreaker(o BreakerOptions, log *slog.Logger, obs Observer) circuitbreaker.CircuitBreaker[any] {
	return circuitbreaker.NewBuilder[any]().
		WithFailureThreshold(o.FailureThreshold).
		WithDelay(o.Delay).
		WithSuccessThreshold(o.SuccessThreshold).
		OnStateChanged(func(e circuitbreaker.StateChangedEvent) {
			state := e.NewState.String()
			obs.BreakerState(state)
			if e.NewState == circuitbreaker.OpenState {
				log.Warn("quota store breaker opened; quota calls skip the store", "from", e.OldState.String())
			} else {
				log.Info("quota store breaker changed", "from", e.OldState.String(), "to", state)
			}
		}).
		Build()
}

// nonBlocking marks stores that answer from memory: the limiter calls them
// without the timeout and the breaker.
type nonBlocking interface{ nonBlocking() }

// call runs fn against the shared store, refused at once while the breaker is
// open and bounded by the timeout. The store call gets a context detached from
// the caller's cancellation (a client that goes away does not cut a
// reservation or a reconciliation off half-sent) with the timeout as its
// deadline, which the store honours (see Store). It runs on the caller's
// goroutine: a goroutine and a channel per call cost more CPU than the rest
// of the call's Go code.
func call[T any](l *Limiter, ctx context.Context, op string, fn func(context.Context, Store) (T, error)) (T, error) {
	var zero T
	if _, ok := l.store.(nonBlocking); ok {
		return fn(context.WithoutCancel(ctx), l.store)
	}
	if !l.breaker.TryAcquirePermit() {
		l.obs.StoreError(op, errBreakerOpen)
		return zero, fmt.Errorf("%w: %s: %w", ErrUnavailable, op, errBreakerOpen)
	}
	start := time.Now()
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.opts.Timeout)
	v, err := fn(cctx, l.store)
	if err != nil && cctx.Err() != nil {
		err = fmt.Errorf("no answer within %v: %w", l.opts.Timeout, err)
	}
	cancel()
	l.obs.StoreLatency(op, time.Since(start))
	if err != nil {
		l.breaker.RecordFailure()
		l.obs.StoreError(op, err)
		// Bounded: once the breaker opens, refused calls are not logged.
		l.log.Warn("quota store call failed", "op", op, "error", err.Error())
		return zero, fmt.Errorf("%w: %s: %w", ErrUnavailable, op, err)
	}
	l.breaker.RecordSuccess()
	return v, nil
}

// decided is an answer and where it came from.
type decided[T any] struct {
	v T
	// local is set when the fallback store answered.
	local bool
	// primaryErr is the shared store's failure, when there was one.
	primaryErr error
}

// decide runs fn on the shared store and, under FailOpen, on the local
// fallback when the shared store fails.
func decide[T any](l *Limiter, ctx context.Context, op string, fn func(context.Context, Store) (T, error)) (decided[T], error) {
	v, err := call(l, ctx, op, fn)
	if err == nil {
		return decided[T]{v: v}, nil
	}
	if l.opts.FailurePolicy != FailOpen {
		return decided[T]{primaryErr: err}, err
	}
	l.obs.Fallback(op)
	if l.log.Enabled(ctx, slog.LevelDebug) {
		l.log.Debug("quota decided locally", "op", op, "error", err.Error())
	}
	v, lerr := fn(context.WithoutCancel(ctx), l.opts.Fallback)
	return decided[T]{v: v, local: true, primaryErr: err}, lerr
}
