package guardrail

import (
	"unicode/utf8"
)

// Limiter enforces a policy's output caps over one output stream, across all
// its deltas: it lets through exactly MaxChars code points and at most
// MaxTokens tokens. Tokens are counted per piece of text given to Take and
// summed, which is how streamed output arrives (about one token per delta);
// for a whole non-streamed text it is a single exact count. A Limiter is not
// safe for concurrent use.
type Limiter struct {
	maxChars, maxTokens int
	count               func(string) int
	chars, tokens       int
	hit                 bool
}

// NewLimiter returns a limiter for one output stream.
func (p *Policy) NewLimiter() *Limiter {
	return &Limiter{maxChars: p.maxChars, maxTokens: p.maxTokens, count: p.count}
}

// Take returns the part of s that fits. hit is true once the output was cut:
// the cap is reached and text went over it; later calls return nothing. Output
// that ends exactly at the cap does not count as hit.
func (l *Limiter) Take(s string) (out string, hit bool) {
	if l.hit {
		return "", true
	}
	if s == "" {
		return "", false
	}
	if l.maxChars > 0 {
		n := utf8.RuneCountInString(s)
		if l.chars+n > l.maxChars {
			s = firstRunes(s, l.maxChars-l.chars)
			l.hit = true
		}
	}
	if l.maxTokens > 0 {
		c := l.count(s)
		if l.tokens+c > l.maxTokens {
			s = l.fitTokens(s, l.maxTokens-l.tokens)
			c = l.count(s)
			l.hit = true
		}
		l.tokens += c
	}
	l.chars += utf8.RuneCountInString(s)
	return s, l.hit
}

// Used returns the characters and tokens let through so far (tokens only when
// a token cap is set).
func (l *Limiter) Used() (chars, tokens int) { return l.chars, l.tokens }

// fitTokens returns the longest prefix of s, cut at a character boundary,
// counting at most budget tokens. Counts grow with the prefix, so a binary
// search over byte offsets works.
func (l *Limiter) fitTokens(s string, budget int) string {
	lo, hi := 0, len(s) // s[:lo] fits; s[:hi+1...] is unknown
	for lo < hi {
		mid := runeStartAtOrBefore(s, lo+(hi-lo+1)/2)
		if mid <= lo {
			mid = nextRuneStart(s, lo)
		}
		if l.count(s[:mid]) <= budget {
			lo = mid
		} else {
			hi = prevRuneStart(s, mid)
		}
	}
	return s[:lo]
}

func firstRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

func runeStartAtOrBefore(s string, i int) int {
	for i > 0 && i < len(s) && !utf8.RuneStart(s[i]) {
		i--
	}
	return i
}

func nextRuneStart(s string, i int) int {
	_, n := utf8.DecodeRuneInString(s[i:])
	return i + n
}

func prevRuneStart(s string, i int) int {
	_, n := utf8.DecodeLastRuneInString(s[:i])
	return i - n
}
