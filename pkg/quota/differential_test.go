package quota

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/llm-gateway/gateway/internal/testredis"
)

// TestStoresAgree drives the memory store and the Redis scripts with the same
// random operations (fixed seeds) and requires identical answers, so the Lua
// and the Go implementations cannot drift apart in cases the conformance
// suite does not spell out: expiry batches, refunds into previous buckets,
// retries, limit changes, rollovers.
func TestStoresAgree(t *testing.T) {
	srv := testredis.Start(t)
	for seed := range uint64(4) {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			redisStore, err := NewRedisStore(srv.Client(), RedisStoreOptions{KeyPrefix: fmt.Sprintf("diff%d:", seed)})
			if err != nil {
				t.Fatal(err)
			}
			d := &differ{t: t, rng: rand.New(rand.NewPCG(seed, 7)), mem: NewMemoryStore(), red: redisStore,
				now: time.Date(2025, 1, 31, 23, 50, 0, 0, time.UTC)}
			for i := range 600 {
				d.step(i)
			}
		})
	}
}

type differ struct {
	t        *testing.T
	rng      *rand.Rand
	mem, red Store
	now      time.Time
	ids      int
	open     []ReconcileOp
	slots    []int64 // slots of each open reservation
}

func (d *differ) pick(xs ...int64) int64 { return xs[d.rng.IntN(len(xs))] }

func (d *differ) limits() Limits {
	return Limits{
		RequestsPerMinute: d.pick(0, 3, 10), TokensPerMinute: d.pick(0, 100, 300),
		TokensPerDay: d.pick(0, 500, 2000), TokensPerMonth: d.pick(0, 3000), MaxConcurrent: d.pick(0, 2, 5),
	}
}

func (d *differ) step(i int) {
	consumer := []string{"a", "b{x}"}[d.rng.IntN(2)]
	model := []string{"", "m1", "m2"}[d.rng.IntN(3)]
	ctx := d.t.Context()
	switch r := d.rng.IntN(100); {
	case r < 15:
		d.now = d.now.Add(time.Duration(d.rng.IntN(40_000)) * time.Millisecond)
		if d.rng.IntN(10) == 0 {
			d.now = d.now.Add(time.Duration(d.rng.IntN(15)) * time.Minute)
		}
	case r < 30:
		op := RequestOp{Consumer: consumer, Now: d.now, Limit: d.pick(0, 3, 10)}
		a, errA := d.mem.CountRequest(ctx, op)
		b, errB := d.red.CountRequest(ctx, op)
		d.same(i, "count", op, a, b, errA, errB)
	case r < 65:
		d.ids++
		ttl := time.Duration(1+d.rng.IntN(5)) * time.Minute
		op := ReserveOp{ID: fmt.Sprint("r", d.ids), Consumer: consumer, Model: model, Limits: d.limits(),
			ModelLimits: d.limits(), Tokens: d.rng.Int64N(120), Now: d.now,
			Deadline: d.now.Add(ttl), ForgetAt: d.now.Add(2 * ttl), CountRequest: d.rng.IntN(2) == 0}
		if d.rng.IntN(4) == 0 { // a lease
			op.CountRequest, op.Requests, op.Slots = true, d.pick(2, 3, 6), d.pick(1, 2, 4)
		}
		a, errA := d.mem.Reserve(ctx, op)
		b, errB := d.red.Reserve(ctx, op)
		d.same(i, "reserve", op, a, b, errA, errB)
		if a.Allowed {
			settle := ReconcileOp{ID: op.ID, Consumer: consumer, Model: model, Periods: PeriodsAt(d.now)}
			if op.Requests > 1 {
				settle.UnusedRequests = d.rng.Int64N(op.Requests)
			}
			d.open = append(d.open, settle)
			d.slots = append(d.slots, op.slots())
		}
	case r < 85 && len(d.open) > 0:
		j := d.rng.IntN(len(d.open))
		op := d.open[j]
		op.Actual, op.Now, op.Retry = d.rng.Int64N(150), d.now, d.rng.IntN(4) == 0
		switch {
		case d.slots[j] > 1 && d.rng.IntN(2) == 0: // a lease partly settled
			op.Partial, op.KeepSlots, op.Remaining = true, 1+d.rng.Int64N(d.slots[j]+1), d.rng.Int64N(60)
			op.Actual = max(op.Actual, op.Remaining)
			// The final settlement carries what this one covers.
			d.open[j].Settled, d.open[j].SettledUnused = op.Actual-op.Remaining, op.UnusedRequests
			d.open[j].UnusedRequests = 0
		case d.rng.IntN(3) > 0: // sometimes settle twice, as retries do
			d.open = append(d.open[:j], d.open[j+1:]...)
			d.slots = append(d.slots[:j], d.slots[j+1:]...)
		}
		errA := d.mem.Reconcile(ctx, op)
		errB := d.red.Reconcile(ctx, op)
		d.same(i, "reconcile", op, nil, nil, errA, errB)
	default:
		op := UsageOp{Consumer: consumer, Model: model, Now: d.now}
		a, errA := d.mem.Usage(ctx, op)
		b, errB := d.red.Usage(ctx, op)
		d.same(i, "usage", op, a, b, errA, errB)
	}
}

func (d *differ) same(i int, what string, op, mem, red any, errMem, errRed error) {
	d.t.Helper()
	if errMem != nil || errRed != nil {
		d.t.Fatalf("step %d %s: errors memory=%v redis=%v", i, what, errMem, errRed)
	}
	if diff := cmp.Diff(mem, red); diff != "" {
		d.t.Fatalf("step %d %s %+v: memory and redis disagree (-memory +redis):\n%s", i, what, op, diff)
	}
}
