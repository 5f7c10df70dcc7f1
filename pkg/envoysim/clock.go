package envoysim

import (
	"encoding/hex"
	"math/rand/v2"
	"sync"
	"time"
)

// Clock is the time source of the stand-in; tests inject a fake one to drive
// outlier ejection, fault delays and back-off without sleeping.
type Clock interface {
	Now() time.Time
	// After behaves like time.After.
	After(d time.Duration) <-chan time.Time
}

// Rand is the randomness source (fault percentages, retry jitter, request
// ids, outlier enforcement). Implementations need not be safe for
// concurrent use; the proxy serialises calls.
type Rand interface {
	Uint64() uint64
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

type globalRand struct{}

func (globalRand) Uint64() uint64 { return rand.Uint64() }

// lockedRand serialises an injected source, which tests often write without
// locking.
type lockedRand struct {
	mu  sync.Mutex
	src Rand
}

func (l *lockedRand) Uint64() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.src.Uint64()
}

// rollPercent reports whether a fraction numerator/denominator fires, the
// way Envoy's runtime featureEnabled does (random % denominator < numerator).
func rollPercent(r Rand, numerator, denominator uint64) bool {
	if numerator == 0 || denominator == 0 {
		return false
	}
	if numerator >= denominator {
		return true
	}
	return r.Uint64()%denominator < numerator
}

// newUUID returns a version 4 UUID from r, the form Envoy's request id
// extension generates.
func newUUID(r Rand) string {
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// sleep waits d on the clock unless done closes first; it reports whether
// the full delay elapsed.
func sleep(c Clock, d time.Duration, done <-chan struct{}) bool {
	if d <= 0 {
		return true
	}
	select {
	case <-c.After(d):
		return true
	case <-done:
		return false
	}
}
