package guardrail

import (
	"strings"
	"testing"
)

var benchBanned = []string{"damn", "hell no", "idiot", "stupid", "shut up", "moron", "crap", "bloody hell", "secret project", "internal only"}

// BenchmarkMatcherFeed measures one streamed delta of about one token.
func BenchmarkMatcherFeed(b *testing.B) {
	m := mustPolicy(b, Options{Banned: benchBanned}).NewMatcher()
	deltas := []string{" The", " quick", " brown", " fox", " said", " hell", "o", " to", " the", " dog", "."}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.Feed(deltas[i%len(deltas)])
		i++
	}
}

// BenchmarkCheckPrompt measures a 4 KiB prompt without violations.
func BenchmarkCheckPrompt(b *testing.B) {
	p := mustPolicy(b, Options{Banned: benchBanned})
	texts := []string{"You are a helpful assistant.", strings.Repeat("Summarise this paragraph about the quick brown fox. ", 80)}
	b.SetBytes(int64(len(texts[0]) + len(texts[1])))
	b.ReportAllocs()
	for b.Loop() {
		if _, found := p.CheckPrompt(texts); found {
			b.Fatal("unexpected violation")
		}
	}
}
