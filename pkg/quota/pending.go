package quota

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrPendingFull means a usage write could not be queued: the queue is at
// Options.PendingLimit or the limiter is closed. The usage is lost (counted
// by Observer.PendingDropped).
var ErrPendingFull = errors.New("quota: pending usage queue full or closed")

// pendingQueue holds reconciliations the shared store did not take, oldest
// first. Only the flusher (and Close, after the flusher stopped) removes items.
type pendingQueue struct {
	mu     sync.Mutex
	items  []ReconcileOp
	limit  int
	closed bool
	wake   chan struct{}
}

func newPendingQueue(limit int) *pendingQueue {
	return &pendingQueue{limit: limit, wake: make(chan struct{}, 1)}
}

func (q *pendingQueue) push(op ReconcileOp) (depth int, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || len(q.items) >= q.limit {
		return len(q.items), false
	}
	q.items = append(q.items, op)
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return len(q.items), true
}

// head copies up to n items from the head of the queue.
func (q *pendingQueue) head(n int) []ReconcileOp {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]ReconcileOp(nil), q.items[:min(n, len(q.items))]...)
}

// done replaces the first n items (the ones just attempted) by keep, those
// still to write, and returns the depth.
func (q *pendingQueue) done(n int, keep []ReconcileOp) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	rest := q.items[n:]
	if len(keep) == 0 {
		clear(q.items[:n])
		q.items = rest
	} else {
		q.items = append(keep, rest...)
	}
	if len(q.items) == 0 {
		q.items = nil // let the backing array go after an outage
	}
	return len(q.items)
}

func (q *pendingQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
}

// drain empties the queue and returns how many items it held.
func (q *pendingQueue) drain() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := len(q.items)
	q.items = nil
	return n
}

func (l *Limiter) enqueue(op ReconcileOp) error {
	depth, ok := l.pending.push(op)
	if !ok {
		l.obs.PendingDropped()
		l.log.Error("quota usage write dropped", "consumer", op.Consumer, "reservation", op.ID,
			"actual_tokens", op.Actual, "pending", depth)
		return fmt.Errorf("%w (%d pending)", ErrPendingFull, depth)
	}
	l.obs.PendingDepth(depth)
	return nil
}

// flushLoop writes queued usage whenever something is queued, backing off
// exponentially while the store keeps failing. Calls go through the breaker,
// so while it is open the loop costs nothing and its probes help close it.
func (l *Limiter) flushLoop() {
	defer close(l.flushDone)
	backoff := l.opts.FlushBackoff
	timer := time.NewTimer(0)
	defer timer.Stop()
	retrying := false
	for {
		var wake <-chan struct{}
		if !retrying {
			wake = l.pending.wake // after a failure only the timer restarts the flusher
		}
		select {
		case <-l.stop:
			return
		case <-wake:
		case <-timer.C:
		}
		if err := l.flush(context.Background(), true); err != nil {
			retrying = true
			timer.Reset(backoff)
			backoff = min(2*backoff, l.opts.FlushBackoffMax)
			continue
		}
		retrying, backoff = false, l.opts.FlushBackoff
	}
}

// usageBatch bounds the reconciliations written in one round trip.
const usageBatch = 128

// batchReconciler is a store that writes many reconciliations in one round
// trip (RedisStore); others get them one at a time.
type batchReconciler interface {
	ReconcileAll(ctx context.Context, ops []ReconcileOp) []error
}

// flush writes queued items oldest first, in batches where the store can,
// until the queue is empty or a write fails. viaBreaker false (Close)
// bypasses the breaker: at shutdown there is no later chance. One flush runs
// at a time (the flusher's, or Close's).
func (l *Limiter) flush(ctx context.Context, viaBreaker bool) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	n := 1
	if _, ok := l.store.(batchReconciler); ok {
		n = usageBatch
	}
	for {
		ops := l.pending.head(n)
		if len(ops) == 0 {
			return nil
		}
		now := l.opts.Clock()
		for i := range ops {
			ops[i].Now = now
		}
		keep, err := l.writeUsage(ctx, ops, viaBreaker)
		l.obs.PendingDepth(l.pending.done(len(ops), keep))
		if err != nil {
			return err
		}
	}
}

// writeUsage writes ops (one alone as a plain reconciliation, several as one
// batch) and returns those still to write, marked as retries when they may
// have been applied, and the error worth backing off for. A write the store
// refused outright (ErrStoreRejected: it would fail every time) is logged
// and dropped so it cannot hold up the queue.
func (l *Limiter) writeUsage(ctx context.Context, ops []ReconcileOp, viaBreaker bool) ([]ReconcileOp, error) {
	errs, err := l.sendUsage(ctx, ops, viaBreaker)
	if errors.Is(err, errBreakerOpen) {
		return ops, err // nothing was sent
	}
	var keep []ReconcileOp
	for i, op := range ops {
		e := err
		if errs != nil {
			e = errs[i]
		}
		switch {
		case e == nil:
		case errors.Is(e, ErrStoreRejected):
			l.obs.PendingDropped()
			l.log.Error("quota usage write refused by the store; dropped", "consumer", op.Consumer,
				"reservation", op.ID, "actual_tokens", op.Actual, "error", e.Error())
		default:
			op.Retry = true // it may have been applied
			keep = append(keep, op)
		}
	}
	if len(keep) > 0 && err == nil {
		err = fmt.Errorf("%d of %d usage writes failed", len(keep), len(ops))
	}
	return keep, err
}

// sendUsage sends ops: per-op results when a batch was sent (errs), or one
// error for all of them.
func (l *Limiter) sendUsage(ctx context.Context, ops []ReconcileOp, viaBreaker bool) (errs []error, err error) {
	if len(ops) == 1 {
		if viaBreaker {
			return nil, l.reconcileShared(ctx, ops[0])
		}
		return nil, l.direct(ctx, ops[0])
	}
	batch := func(ctx context.Context, st Store) (struct{}, error) {
		errs = st.(batchReconciler).ReconcileAll(ctx, ops)
		// The first failure that is not a refusal counts against the store.
		for _, e := range errs {
			if e != nil && !errors.Is(e, ErrStoreRejected) {
				return struct{}{}, e
			}
		}
		return struct{}{}, nil
	}
	if viaBreaker {
		_, err = call(l, ctx, OpReconcile, batch)
		return errs, err
	}
	cctx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
	defer cancel()
	if _, err = batch(cctx, l.store); err != nil {
		l.obs.StoreError(OpReconcile, err)
	}
	return errs, err
}

// direct writes op bounded by the timeout and ctx, without the breaker.
func (l *Limiter) direct(ctx context.Context, op ReconcileOp) error {
	cctx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
	defer cancel()
	err := l.store.Reconcile(cctx, op)
	if err != nil {
		l.obs.StoreError(OpReconcile, err)
	}
	return err
}

// Close stops the background flusher and writes what is still queued,
// retrying until ctx ends. It returns an error naming how many usage writes
// were lost. Usage writes queued after Close are dropped.
func (l *Limiter) Close(ctx context.Context) error {
	l.closeOnce.Do(func() {
		close(l.stop)
		<-l.flushDone
		if l.leases != nil {
			<-l.leaseDone
			// Leases end: unused credit goes back with the usage below.
			// Requests still in flight settle theirs when they end.
			l.sweepLeases(context.WithoutCancel(ctx), true)
		}
	})
	backoff := l.opts.FlushBackoff
	// From now on usage is written directly (streams still ending, leases
	// settling); what is queued is flushed below.
	l.pending.close()
	// The first pass ignores ctx's deadline (each write is still bounded by
	// the timeout): a drain that used up the shutdown budget must not cost
	// the usage of every request still queued.
	flushCtx := context.WithoutCancel(ctx)
	for {
		err := l.flush(flushCtx, false)
		flushCtx = ctx
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			l.pending.close()
			return l.lose(l.pending.drain(), fmt.Errorf("%w (last error: %w)", ctx.Err(), err))
		case <-time.After(backoff):
			backoff = min(2*backoff, l.opts.FlushBackoffMax)
		}
	}
}

func (l *Limiter) lose(n int, cause error) error {
	for range n {
		l.obs.PendingDropped()
	}
	l.log.Error("quota usage writes lost at close", "count", n, "error", cause.Error())
	return fmt.Errorf("quota: %d pending usage writes not written: %w", n, cause)
}
