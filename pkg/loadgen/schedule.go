package loadgen

import (
	"context"
	"math"
	"sync/atomic"
	"time"
)

// ClosedLoop hands out request numbers 0..limit-1 as fast as workers ask for
// them (each worker starts its next request when the last one ends); it stops
// when ctx is done. Used by extproc-load and http-load.
func ClosedLoop(ctx context.Context, limit int) func() (uint64, bool) {
	var issued atomic.Uint64
	return func() (uint64, bool) {
		if ctx.Err() != nil {
			return 0, false
		}
		n := issued.Add(1) - 1
		return n, n < uint64(limit)
	}
}

// OpenLoop starts requests on a fixed schedule of rate per second, whatever
// the latency, for at most limit requests and duration d (by now). A slot
// that finds no idle worker is counted in missed rather than queued, so a
// saturated run shows up in the report instead of hiding in the latencies.
func OpenLoop(ctx context.Context, rate float64, limit int, d time.Duration, now func() time.Time, missed *atomic.Int64) func() (uint64, bool) {
	ch := make(chan uint64)
	go func() {
		defer close(ch)
		// Coarse ticks with a catch-up count: a ticker per request cannot keep
		// up with tens of thousands per second.
		period := max(time.Duration(float64(time.Second)/rate), time.Millisecond)
		tick := time.NewTicker(period)
		defer tick.Stop()
		start := now()
		// Slot k is due at k/rate; none is due at or after the duration bound,
		// even when this goroutine wakes late and catches up.
		last := uint64(math.Ceil(d.Seconds() * rate))
		var issued, slots uint64
		for issued < uint64(limit) && ctx.Err() == nil {
			due := min(uint64(now().Sub(start).Seconds()*rate)+1, last)
			for ; slots < due && issued < uint64(limit); slots++ {
				select {
				case ch <- issued:
					issued++
				default:
					missed.Add(1)
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() (uint64, bool) {
		n, ok := <-ch
		return n, ok
	}
}
