package tokens

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// maxMeanRatio caps the mean overestimate per category against o200k_base (the
// measured value plus a few percent), so a change that keeps the bound but loses
// its precision fails too. Scripts far from English are bounded by cl100k, which
// needs two to three times the tokens o200k does for them.
var maxMeanRatio = map[string]float64{
	"prose": 1.4, "english": 1.7, "code": 1.7, "json": 1.65, "numbers": 1.1, "mixed-case": 3.1,
	"whitespace": 2.9, "long-words": 2.2, "ascii-soup": 1.3, "bytes": 2.5, "emoji": 2.05,
	"european": 1.7, "chinese": 4.3, "japanese": 4.05, "korean": 4.45, "arabic": 4.4, "hindi": 5.6,
	"cyrillic": 5.05, "scripts-soup": 2.4,
}

func TestEstimateNeverBelow(t *testing.T) {
	c := corpus(rand.New(rand.NewPCG(7, 11)))
	names := make([]string, 0, len(c))
	for name := range c {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			var est, trueSum [2]float64
			for _, s := range c[name] {
				e := EstimateText(s)
				for k, n := range realCounts(t, s) {
					if e < n {
						t.Fatalf("%s: estimate %d < %d for %q", encodingNames[k], e, n, s)
					}
					est[k] += float64(e)
					trueSum[k] += float64(n)
				}
			}
			ratios := [2]float64{est[0] / trueSum[0], est[1] / trueSum[1]}
			t.Logf("%-12s samples=%3d  est/o200k=%.2f  est/cl100k=%.2f", name, len(c[name]), ratios[0], ratios[1])
			if limit, ok := maxMeanRatio[name]; !ok || ratios[0] > limit {
				t.Errorf("mean ratio against o200k %.2f above the %.2f recorded for %s", ratios[0], limit, name)
			}
		})
	}
}

// TestEstimateEdgeCases pins the piece boundaries the scanner relies on: each
// string sits on a rule of one of the two pattern strings.
func TestEstimateEdgeCases(t *testing.T) {
	cases := []string{
		"", "a", " ", "\n", "hello", " hello", "Hello", "HELLO", "helloWorld", "HTTPServer",
		"it's", "It'S", "'sorry'", " 'tis", "don't stop", "rock'n'roll", "x'Re", "you'll", "a'b",
		"(foo", " (foo", "((foo", "x(foo", "1(foo", "\t(foo", "\n(foo", "}\n/foo", "}\r\n/usr", "a/b/c",
		"foo.bar.baz()", "obj->field", "a::b", "#include", "@user", "$HOME", "_private", "__init__",
		"café", "cafe\u0301", "naïve", "Ωmega", "fooé", "éfoo", "foo\u00a0bar", "\u00a0foo", "\u3000  foo",
		"foo\u0085\nbar", "\u0085  bar", "a \u00a0 b", "x\v\vfoo", "x\ffoo", "\x00foo", "\x00(foo", "\x7ffoo",
		"  foo", "     foo", "\n    foo", "\n\tfoo", "\n\n\n\n", "\r\n\r\nfoo", "foo  \n  bar", " \t foo", "\t\t\tx",
		"foo   ", "foo\n", "foo\n\n", "x;\n\nfoo", "x;\n    foo", "1\n2", "a  1", "a  (", "a \u00e9",
		"12345", "1234567", "x1y2z3", "3.14159", "1,000,000", "١٢٣456", "456١٢٣", "²3", "3²", "½1",
		"\xff", "\xffabc", "abc\xff", "a\xc3", "\xe6\xbc", "\xf0\x9f\x98", "<|endoftext|>", "<|im_start|>user",
		strings.Repeat(" ", 79) + "x", strings.Repeat(" ", 80) + "x", strings.Repeat(" ", 200),
		strings.Repeat("\t", 80), strings.Repeat("\n", 79) + "a", strings.Repeat("\n", 200),
		strings.Repeat("ab", 10), strings.Repeat("xq", 11),
	}
	for _, s := range cases {
		t.Run(strings.ToValidUTF8(s, "?"), func(t *testing.T) {
			e := EstimateText(s)
			for k, n := range realCounts(t, s) {
				if e < n {
					t.Errorf("%s: estimate %d < %d", encodingNames[k], e, n)
				}
			}
			if limit := byteBound(s); e > limit {
				t.Errorf("estimate %d above the byte bound %d", e, limit)
			}
		})
	}
}

// byteBound is the trivial bound the estimate must never exceed: one token per
// byte, three per invalid byte.
func byteBound(s string) int {
	n := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			n += 3
		} else {
			n += size
		}
		i += size
	}
	return n
}

// TestRunTables checks the whitespace tables and the digit-group fact against the
// real tokenizers.
func TestRunTables(t *testing.T) {
	tables := []struct {
		name  string
		unit  string
		table []uint8
	}{
		{"spaces", " ", spaceRunTokens[:]},
		{"tabs", "\t", tabRunTokens[:]},
		{"newlines", "\n", newlineRunTokens[:]},
		{"crlf", "\r\n", crlfRunTokens[:]},
	}
	for _, tc := range tables {
		t.Run(tc.name, func(t *testing.T) {
			for n := 1; n < len(tc.table); n++ {
				if got := trueMax(t, strings.Repeat(tc.unit, n)); got != int(tc.table[n]) {
					t.Errorf("run of %d: table says %d, tokenizers %d", n, tc.table[n], got)
				}
			}
		})
	}
	t.Run("digit groups", func(t *testing.T) {
		vocabs := vocabularies(t)
		for n := range 1000 {
			for _, s := range []string{fmt.Sprint(n), fmt.Sprintf("%02d", n), fmt.Sprintf("%03d", n)} {
				for k, v := range vocabs {
					if _, ok := v[s]; !ok {
						t.Fatalf("%s: %q is not a single token", encodingNames[k], s)
					}
				}
			}
		}
	})
}
