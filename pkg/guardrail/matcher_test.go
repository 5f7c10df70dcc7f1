package guardrail

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// streamed feeds the pieces and flushes, returning the concatenated output and
// whether the matcher stopped.
func streamed(p *Policy, pieces []string) (string, bool) {
	m := p.NewMatcher()
	var b strings.Builder
	for _, s := range pieces {
		out, stopped := m.Feed(s)
		b.WriteString(out)
		if stopped {
			return b.String(), true
		}
	}
	out, stopped := m.Flush()
	b.WriteString(out)
	return b.String(), stopped
}

var splitTexts = []string{
	"This is a bad word in a sentence, and bad again.",
	"Nothing to see here, class dismissed; assess it.",
	"b\u200ba\u200bd at the end: bad",
	"BAD   \n WORD and ＢＡＤ",
	"émoji 🎉 then bаd 🎉🎉 ünïcode",
	"caf\u0065\u0301 and café crème, bad",
	"caf\u0065\u200b\u0301, cafe\u2060",
	"ass, class, ass.",
}

var splitPolicies = []Options{
	{Banned: []string{"bad", "bad word", "ass"}},
	{Banned: []string{"bad", "bad word", "ass"}, Action: ActionStop},
	{Banned: []string{"café", "crème brûlée", "bad"}},
}

// TestMatcherSplitInvariance checks that however the text is split into
// deltas, the output is the one for the whole text: nothing slips through a
// split, and nothing is lost.
func TestMatcherSplitInvariance(t *testing.T) {
	for pi, opts := range splitPolicies {
		p := mustPolicy(t, opts)
		for _, text := range splitTexts {
			want, wantStop := streamed(p, []string{text})
			for i := 0; i <= len(text); i++ {
				for j := i; j <= len(text); j++ {
					a, b, c := text[:i], text[i:j], text[j:]
					if !utf8.ValidString(a) || !utf8.ValidString(b) {
						continue // deltas are strings of whole characters
					}
					got, stop := streamed(p, []string{a, b, c})
					if got != want || stop != wantStop {
						t.Fatalf("policy %d, %q split at %d,%d: got %q (stop %v), want %q (stop %v)",
							pi, text, i, j, got, stop, want, wantStop)
					}
				}
			}
		}
	}
}

func TestMatcherRuneByRune(t *testing.T) {
	p := mustPolicy(t, Options{Banned: []string{"bad word"}})
	text := "it is a bad  word, a bad idea, bad\tword"
	var pieces []string
	for _, r := range text {
		pieces = append(pieces, string(r))
	}
	got, _ := streamed(p, pieces)
	if want := "it is a [redacted], a bad idea, [redacted]"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestMatcherHoldsOnlyPossiblePhrases checks that only a tail that could still
// become a banned phrase is held back.
func TestMatcherHoldsOnlyPossiblePhrases(t *testing.T) {
	p := mustPolicy(t, Options{Banned: []string{"badword", "evil plan"}})
	tests := []struct {
		feed, out string
		held      int
	}{
		{"hello ", "hello ", 0},
		{"world", "world", 0},
		{" bad", " ", 3},             // could become "badword"
		{"ge and ", "badge and ", 0}, // it did not
		{"evil", "", 4},              // "evil" then " plan"?
		{" ", "", 5},                 // still possible
		{"planet", "evil planet", 0},
		{" my evil plan", " my ", 9}, // complete, but "plans" would not match
		{"s", "evil plans", 0},
	}
	m := p.NewMatcher()
	for _, tt := range tests {
		out, _ := m.Feed(tt.feed)
		if out != tt.out || m.Held() != tt.held {
			t.Fatalf("Feed(%q) = %q holding %d, want %q holding %d", tt.feed, out, m.Held(), tt.out, tt.held)
		}
	}
}

func TestMatcherStop(t *testing.T) {
	p := mustPolicy(t, Options{Banned: []string{"bad"}, Action: ActionStop})
	m := p.NewMatcher()
	for _, step := range []struct {
		feed, out string
		stopped   bool
	}{
		{"all good, b", "all good, ", false},
		{"ad things", "", true},
		{"more", "", true},
	} {
		out, stopped := m.Feed(step.feed)
		if out != step.out || stopped != step.stopped {
			t.Fatalf("Feed(%q) = %q, %v; want %q, %v", step.feed, out, stopped, step.out, step.stopped)
		}
	}
	if v, ok := m.Violation(); !ok || v.Rule != 0 || v.Message != -1 {
		t.Errorf("Violation() = %+v, %v", v, ok)
	}
}

func TestMatcherMaxHold(t *testing.T) {
	p := mustPolicy(t, Options{Banned: []string{"bad word"}, MaxHoldBytes: 16})
	m := p.NewMatcher()
	out, _ := m.Feed("bad" + strings.Repeat(" ", 10))
	if out != "" {
		t.Fatalf("released %q before the cap", out)
	}
	out, _ = m.Feed(strings.Repeat(" ", 10))
	if len(out) != 23 || m.Held() != 0 {
		t.Errorf("past the cap released %d bytes, holds %d", len(out), m.Held())
	}
}

func TestMatcherNoBannedIsPassThrough(t *testing.T) {
	m := mustPolicy(t, Options{MaxChars: 5}).NewMatcher()
	if out, _ := m.Feed("anything"); out != "anything" || m.Held() != 0 {
		t.Errorf("Feed = %q, held %d", out, m.Held())
	}
}

func TestMatcherRandomSplits(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	words := []string{"bad", "b\u200bad", "BAD", "word", "class", "ass", " ", "  ", "\n", ",", "🎉", "é", "e\u0301", "café"}
	for _, opts := range splitPolicies {
		p := mustPolicy(t, opts)
		for range 3000 {
			var text strings.Builder
			for range rng.IntN(12) {
				text.WriteString(words[rng.IntN(len(words))])
			}
			want, wantStop := streamed(p, []string{text.String()})
			pieces := randomPieces(rng, text.String())
			if got, stop := streamed(p, pieces); got != want || stop != wantStop {
				t.Fatalf("%q as %q: got %q, want %q", text.String(), pieces, got, want)
			}
		}
	}
}

func randomPieces(rng *rand.Rand, s string) []string {
	var out []string
	for s != "" {
		n := 0
		for k := rng.IntN(5); k >= 0 && n < len(s); k-- {
			_, size := utf8.DecodeRuneInString(s[n:])
			n += size
		}
		out = append(out, s[:n])
		s = s[n:]
	}
	return out
}

// FuzzMatcherSplit checks split invariance on arbitrary text.
func FuzzMatcherSplit(f *testing.F) {
	for _, s := range splitTexts {
		f.Add(s, uint16(5), uint16(9), false)
	}
	f.Fuzz(func(t *testing.T, text string, a, b uint16, stop bool) {
		if !utf8.ValidString(text) {
			return
		}
		opts := Options{Banned: []string{"bad", "bad word", "café", "禁止", "x-y"}, MaxHoldBytes: 1 << 20}
		if stop {
			opts.Action = ActionStop
		}
		p := mustPolicy(t, opts)
		want, wantStop := streamed(p, []string{text})
		i := runeStartAtOrBefore(text, min(int(a), len(text)))
		j := runeStartAtOrBefore(text, min(i+int(b), len(text)))
		got, gotStop := streamed(p, []string{text[:i], text[i:j], text[j:]})
		if got != want || gotStop != wantStop {
			t.Fatalf("split %d,%d: got %q (stop %v), want %q (stop %v)", i, j, got, gotStop, want, wantStop)
		}
		if !utf8.ValidString(got) {
			t.Fatalf("output not UTF-8: %q", got)
		}
	})
}
