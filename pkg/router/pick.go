package router

import (
	"math"
	"math/bits"
)

// choose returns the index of the preferred deployment among mask (non-zero).
// Sticky routes rank deployments by weighted rendezvous hashing of the
// consumer, so removing the first choice from mask yields the consumer's
// second choice, and the first choice is back as soon as it is healthy again.
// Other routes draw by weight. Deployments of weight zero only get here
// through a pin; when nothing else is left they share evenly.
func (rt *route) choose(mask, key uint64, rnd func() uint64) int {
	var total uint64
	for m := mask; m != 0; m &= m - 1 {
		total += rt.deps[bits.TrailingZeros64(m)].weight
	}
	uniform := total == 0
	if rt.sticky {
		return rt.rendezvous(mask, key, uniform)
	}
	if uniform {
		total = uint64(bits.OnesCount64(mask))
	}
	// The high word of r*total is uniform in [0, total) without modulo bias
	// worth mentioning.
	n, _ := bits.Mul64(rnd(), total)
	for m := mask; ; m &= m - 1 {
		i := bits.TrailingZeros64(m)
		w := rt.weight(i, uniform)
		if n < w {
			return i
		}
		n -= w
	}
}

// weight is deployment i's weight, or 1 when the candidates share evenly.
func (rt *route) weight(i int, uniform bool) uint64 {
	if uniform {
		return 1
	}
	return rt.deps[i].weight
}

// rendezvous returns the deployment with the highest weighted score
// w / -ln(u), u being a hash of consumer and deployment mapped into (0, 1).
// Each deployment then wins for a share of consumers proportional to its
// weight, and adding or removing one moves only the consumers it wins or had.
func (rt *route) rendezvous(mask, key uint64, uniform bool) int {
	best, bestScore := -1, math.Inf(-1)
	for m := mask; m != 0; m &= m - 1 {
		i := bits.TrailingZeros64(m)
		u := (float64(mix(key^rt.deps[i].seed)>>11) + 0.5) / (1 << 53)
		score := float64(rt.weight(i, uniform)) / -math.Log(u)
		if score > bestScore {
			best, bestScore = i, score
		}
	}
	return best
}

// hashString is 64-bit FNV-1a, inlined to avoid the allocation of hash/fnv.
func hashString(s string) uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= prime
	}
	return h
}

// mix is the splitmix64 finalizer: FNV alone leaves the high bits, which the
// score uses, poorly mixed for short similar strings.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
