package guardrail

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// countWords is a stand-in tokenizer: one token per white-space separated word.
func countWords(s string) int { return len(strings.Fields(s)) }

func TestLimiter(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		deltas  []string
		want    string
		wantHit bool
	}{
		{"chars exact across deltas", Options{MaxChars: 7}, []string{"abc", "déf", "ghi"}, "abcdéfg", true},
		{"chars ending exactly at the cap", Options{MaxChars: 6}, []string{"abc", "def"}, "abcdef", false},
		{"chars never split emoji", Options{MaxChars: 2}, []string{"🎉🎉🎉"}, "🎉🎉", true},
		{"tokens exact", Options{MaxTokens: 3, CountTokens: countWords}, []string{"one two", " three four five"}, "one two three ", true},
		{"tokens ending at the cap", Options{MaxTokens: 2, CountTokens: countWords}, []string{"one ", "two"}, "one two", false},
		{"tokens then chars", Options{MaxTokens: 10, MaxChars: 5, CountTokens: countWords}, []string{"one two"}, "one t", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := mustPolicy(t, tt.opts).NewLimiter()
			var b strings.Builder
			hit := false
			for _, d := range tt.deltas {
				out, h := l.Take(d)
				b.WriteString(out)
				hit = h
			}
			if b.String() != tt.want || hit != tt.wantHit {
				t.Errorf("got %q hit %v, want %q hit %v", b.String(), hit, tt.want, tt.wantHit)
			}
			if out, h := l.Take("x"); tt.wantHit && (out != "" || !h) {
				t.Errorf("after the cap Take = %q, %v; want nothing", out, h)
			}
		})
	}
}

func TestLimiterFitTokensIsMaximal(t *testing.T) {
	l := mustPolicy(t, Options{MaxTokens: 100, CountTokens: countWords}).NewLimiter()
	s := "a bb ccc dddd é 🎉 f"
	for budget := 0; budget <= 7; budget++ {
		got := l.fitTokens(s, budget)
		if countWords(got) > budget || !utf8.ValidString(got) {
			t.Fatalf("budget %d: %q", budget, got)
		}
		if len(got) < len(s) {
			_, n := utf8.DecodeRuneInString(s[len(got):])
			if countWords(s[:len(got)+n]) <= budget {
				t.Fatalf("budget %d: %q is not the longest prefix", budget, got)
			}
		}
	}
}
