package tokens

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// FuzzEstimateNeverBelow checks the bound against the real tokenizers on
// arbitrary strings, invalid UTF-8 included.
func FuzzEstimateNeverBelow(f *testing.F) {
	for _, seed := range []string{
		englishSeed[:300], goSeed[:300], pythonSeed[:200], cjkSeeds["japanese"], scriptSeeds["hindi"],
		scriptSeeds["european"], "don't it's CEO'S rock'n'roll 'sorry'", "}\n/foo (bar ((baz x.y_z",
		"\n\n    if x:\n\t\treturn\r\n", "123456 ١٢٣ 3² ½", "👨‍👩‍👧‍👦🇫🇷 ok", "\xff\xfeabc\xc3",
		"camelCase HTTPServer ALLCAPS'S", "a\u0301b cafe\u0301's \u00a0x \u3000y",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 2048 {
			// The reference tokenizer is quadratic in a piece's length.
			s = s[:2048]
		}
		e := EstimateText(s)
		for k, n := range realCounts(t, s) {
			if e < n {
				t.Fatalf("%s: estimate %d < %d for %q", encodingNames[k], e, n, s)
			}
		}
		if limit := byteBound(s); e > limit {
			t.Fatalf("estimate %d above the byte bound %d for %q", e, limit, s)
		}
	})
}

// boundaryFragments are the bytes around which the piece rules turn: leads,
// suffixes, marks, Unicode spaces and numbers, case changes, invalid bytes.
var boundaryFragments = []string{
	" ", "  ", "\t", "\n", "\r", "\v", "\f", "'", "'s", "'T", "'re", "'LL", "s", "t", "(", "((", "/", ".", "_", "-",
	"\"", "\x00", "\x7f", "1", "123", "4567", "a", "A", "the", "The", "THE", "hello", "World", "don", "n't", "é",
	"\u0301", "\u00a0", "\u0085", "\u3000", "\u2028", "١", "²", "½", "Ⅻ", "Привет", "ſ", "K", "İ", "漢字", "😀",
	"\u200d", "\xff", "\xc3", "\xe6\xbc", "€", "—", "«", "»", "’", "ǅ", "ʰ", "ा", "्", "न",
}

// TestFragmentSoup strings boundary fragments together at random: a fuzzer that
// knows where the rules are, so it reaches in seconds what byte mutation might
// not.
func TestFragmentSoup(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	for range 10000 {
		var b strings.Builder
		for range 1 + r.IntN(24) {
			b.WriteString(boundaryFragments[r.IntN(len(boundaryFragments))])
		}
		s := b.String()
		e := EstimateText(s)
		for k, n := range realCounts(t, s) {
			if e < n {
				t.Fatalf("%s: estimate %d < %d for %q", encodingNames[k], e, n, s)
			}
		}
	}
}
