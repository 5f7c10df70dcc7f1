package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// histogram records durations in log-linear buckets, the scheme HdrHistogram
// uses: values below 2^subBits nanoseconds are exact, and every power of two
// above is split into 2^(subBits-1) equal buckets, so a bucket is never wider
// than 1/128 of its values (under 0.8% error) whatever the magnitude. Recording
// is a few shifts and one increment: cheap enough for the load tool's hot path.
//
// Buckets come in blocks, one per power of two, allocated on first use: a run's
// latencies span a handful of octaves, and every worker keeps its own
// histograms so that recording needs no lock.
type histogram struct {
	blocks [numBlocks][]uint64
	n      uint64
	sum    time.Duration
	min    time.Duration
	max    time.Duration
}

const (
	subBits = 8
	// maxBits caps recorded values at 2^maxBits ns (about 137 s); anything slower
	// lands in the last bucket, while max stays exact.
	maxBits     = 37
	halfBuckets = 1 << (subBits - 1)
	// Block 0 holds the exact values below 2^subBits; block s >= 1 the values
	// with subBits+s significant bits.
	numBlocks = maxBits - subBits + 1
)

func newHistogram() *histogram { return &histogram{} }

// bucketOf maps a value in ns to its block and index in the block.
func bucketOf(v uint64) (block, idx int) {
	if v < 1<<subBits {
		return 0, int(v)
	}
	if v >= 1<<maxBits {
		v = 1<<maxBits - 1
	}
	shift := bits.Len64(v) - subBits
	return shift, int(v>>shift) - halfBuckets
}

// blockSize is the number of buckets in a block.
func blockSize(block int) int {
	if block == 0 {
		return 1 << subBits
	}
	return halfBuckets
}

// bucketHigh is the largest value a bucket holds.
func bucketHigh(block, idx int) uint64 {
	if block == 0 {
		return uint64(idx)
	}
	return uint64(idx+halfBuckets+1)<<block - 1
}

func (h *histogram) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	b, i := bucketOf(uint64(d))
	if h.blocks[b] == nil {
		h.blocks[b] = make([]uint64, blockSize(b))
	}
	h.blocks[b][i]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	h.max = max(h.max, d)
	h.n++
	h.sum += d
}

func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	for b, counts := range o.blocks {
		if counts == nil {
			continue
		}
		if h.blocks[b] == nil {
			h.blocks[b] = make([]uint64, blockSize(b))
		}
		for i, c := range counts {
			h.blocks[b][i] += c
		}
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// quantile returns the upper bound of the bucket holding the value of rank
// ceil(q*n), clamped to the exact extremes so p0 and p100 are exact.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for b, counts := range h.blocks {
		for i, c := range counts {
			seen += c
			if seen >= rank {
				v := time.Duration(bucketHigh(b, i))
				return min(max(v, h.min), h.max)
			}
		}
	}
	return h.max
}

func (h *histogram) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}
