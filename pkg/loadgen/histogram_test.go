package loadgen

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestBucketsBoundTheirValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	values := []uint64{0, 1, 255, 256, 257, 511, 512, 1000, 1 << 20, 1<<maxBits - 1}
	for range 10000 {
		values = append(values, rng.Uint64N(1<<maxBits))
	}
	for _, v := range values {
		b, i := bucketOf(v)
		if b < 0 || b >= numBlocks || i < 0 || i >= blockSize(b) {
			t.Fatalf("bucketOf(%d) = %d/%d, out of range", v, b, i)
		}
		hi := bucketHigh(b, i)
		if hi < v || (v > 0 && prevHigh(b, i) >= v) {
			t.Fatalf("value %d in bucket %d/%d whose range ends at %d (previous %d)", v, b, i, hi, prevHigh(b, i))
		}
		if float64(hi-v) > float64(v)/128 {
			t.Fatalf("value %d reported as %d: error over 1/128", v, hi)
		}
	}
	if b, i := bucketOf(1 << 62); b != numBlocks-1 || i != blockSize(b)-1 {
		t.Errorf("huge values must land in the last bucket, got %d/%d", b, i)
	}
}

// prevHigh is the upper bound of the bucket before b/i.
func prevHigh(b, i int) uint64 {
	if i > 0 {
		return bucketHigh(b, i-1)
	}
	return bucketHigh(b-1, blockSize(b-1)-1)
}

func TestQuantiles(t *testing.T) {
	tests := []struct {
		name   string
		values []time.Duration
		q      float64
		want   time.Duration
	}{
		{"single", []time.Duration{42 * time.Microsecond}, 0.5, 42 * time.Microsecond},
		{"p0 is min", []time.Duration{5, 900, 7000}, 0, 5},
		{"p100 is max", []time.Duration{5, 900, 7000}, 1, 7000},
		{"exact below 256ns", []time.Duration{10, 20, 30, 40}, 0.5, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHistogram()
			for _, v := range tt.values {
				h.record(v)
			}
			if got := h.quantile(tt.q); got != tt.want {
				t.Fatalf("quantile(%g) = %s, want %s", tt.q, got, tt.want)
			}
		})
	}
	t.Run("uniform within 1%", func(t *testing.T) {
		h := newHistogram()
		for i := 1; i <= 100000; i++ {
			h.record(time.Duration(i) * time.Microsecond)
		}
		for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
			want := q * 100000 * float64(time.Microsecond)
			if got := float64(h.quantile(q)); got < want || got > want*1.01 {
				t.Errorf("quantile(%g) = %v, want %v within 1%%", q, time.Duration(got), time.Duration(want))
			}
		}
		if h.mean() != 50000500*time.Nanosecond {
			t.Errorf("mean %s", h.mean())
		}
	})
}

func TestMergeEqualsRecordingTogether(t *testing.T) {
	a, b, all := newHistogram(), newHistogram(), newHistogram()
	for i := range 1000 {
		d := time.Duration(i*i) * time.Nanosecond
		all.record(d)
		if i%2 == 0 {
			a.record(d)
		} else {
			b.record(d)
		}
	}
	empty := newHistogram()
	a.merge(b)
	a.merge(empty)
	if a.n != all.n || a.sum != all.sum || a.min != all.min || a.max != all.max {
		t.Fatalf("merged %d/%s/%s/%s, want %d/%s/%s/%s", a.n, a.sum, a.min, a.max, all.n, all.sum, all.min, all.max)
	}
	for _, q := range []float64{0.1, 0.5, 0.99} {
		if a.quantile(q) != all.quantile(q) {
			t.Errorf("quantile(%g) %s != %s", q, a.quantile(q), all.quantile(q))
		}
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	h := newHistogram()
	for i := 0; b.Loop(); i++ {
		h.record(time.Duration(i&0xfffff) * 37)
	}
}
