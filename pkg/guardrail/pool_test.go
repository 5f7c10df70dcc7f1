package guardrail

import (
	"strings"
	"testing"
)

// TestStreamMatcherDoesNotPinLargeBuffers: after the policy checked a large
// prompt, a streamed matcher (which lives as long as its response) works on
// buffers sized to its own deltas, not on the pooled ones the prompt grew.
func TestStreamMatcherDoesNotPinLargeBuffers(t *testing.T) {
	p := mustPolicy(t, Options{Banned: []string{"zorblax"}})
	if _, bad := p.CheckPrompt([]string{strings.Repeat("a harmless sentence. ", 10_000)}); bad {
		t.Fatal("prompt flagged")
	}
	m := p.NewMatcher()
	if out, _ := m.Feed(" hello"); out == "" && m.Held() == 0 {
		t.Fatal("nothing emitted or held")
	}
	if c := cap(m.norm.src); c > 1024 {
		t.Errorf("streamed matcher holds normalisation buffers for %d bytes after a 200 KB prompt", c)
	}
}

// TestPoolDropsOversizedBuffers: buffers grown by a huge text do not go back
// to the pool.
func TestPoolDropsOversizedBuffers(t *testing.T) {
	p := mustPolicy(t, Options{Banned: []string{"zorblax"}})
	m := p.NewCheckMatcher()
	m.Feed(strings.Repeat("x", 2*maxPooledText))
	m.Release()
	if c := cap(p.text().b); c > maxPooledText {
		t.Errorf("pool handed out a %d-byte buffer; want at most %d", c, maxPooledText)
	}
}
