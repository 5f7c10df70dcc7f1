package guardrail

import (
	"testing"
	"unicode/utf8"
)

func mustPolicy(t testing.TB, opts Options) *Policy {
	t.Helper()
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		in   string
		want string
	}{
		{"case", Options{}, "BaNnEd", "banned"},
		{"fullwidth via NFKC", Options{}, "ＢＡＮＮＥＤ", "banned"},
		{"ligature via NFKC", Options{}, "ﬁne", "fine"},
		{"math bold via NFKC", Options{}, "𝐛𝐚𝐝", "bad"},
		{"cyrillic look-alikes", Options{}, "bаnnеd", "banned"}, // U+0430, U+0435
		{"greek capitals", Options{}, "ΒΑΝ", "ban"},
		{"greek eta vs capital", Options{}, "Ηη", "hn"},
		{"zero-width characters", Options{}, "b\u200ba\u200cn\u200dn\u2060e\ufeffd\u00ad", "banned"},
		{"bidi controls", Options{}, "b\u202ea\u202cd", "bad"},
		{"decorative marks", Options{}, "b\u0336a\u0336d\u0336", "bad"},
		{"composed accent kept", Options{}, "bánned", "bánned"},
		{"decomposed accent composes", Options{}, "ba\u0301nned", "bánned"},
		{"composition across an invisible character", Options{}, "cafe\u200b\u0301 \u1100\u200b\u1161", "café 가"},
		{"accents folded on request", Options{FoldAccents: true}, "bánned", "banned"},
		{"sharp s", Options{}, "Straße", "strasse"},
		{"white space runs", Options{}, "a \t\n\u00a0\u3000b", "a b"},
		{"leet off", Options{}, "h3ll0", "h3ll0"},
		{"leet on", Options{Leetspeak: true}, "h3ll0 @$5", "hello ass"},
		{"cyrillic text folds letter by letter", Options{}, "Привет мир", "npиbet mиp"},
		{"indic marks kept", Options{}, "हिन्दी", "हिन्दी"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustPolicy(t, tt.opts).Normalize(tt.in); got != tt.want {
				t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNormalizeSpans(t *testing.T) {
	in := "Xﬁ\u200bｙ  z"
	var n normText
	folder{}.normalize(&n, in)
	if string(n.b) != "xfiy z" {
		t.Fatalf("normalised %q", n.b)
	}
	want := []span{{0, 1}, {1, 4}, {1, 4}, {7, 10}, {10, 12}, {12, 13}}
	for i, sp := range n.src {
		if sp != want[i] {
			t.Errorf("byte %d (%q) from %v, want %v", i, n.b[i], sp, want[i])
		}
	}
}

// checkSpans asserts the invariants redaction relies on.
func checkSpans(t *testing.T, in string, n *normText) {
	t.Helper()
	if !utf8.Valid(n.b) {
		t.Fatalf("normalised form of %q is not UTF-8: %q", in, n.b)
	}
	if len(n.src) != len(n.b) {
		t.Fatalf("%d spans for %d bytes", len(n.src), len(n.b))
	}
	prev := span{}
	for i, sp := range n.src {
		if sp.start < prev.start || sp.start >= sp.end || int(sp.end) > len(in) {
			t.Fatalf("byte %d of %q: span %v after %v (input %d bytes)", i, n.b, sp, prev, len(in))
		}
		prev = sp
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"BaNnEd", "ＢＡＮ", "ﬁ", "b\u200ba", "a\u0301\u0336", "Straße", "가\u1100\u1161", "h3ll0 @$", "x\u0345\u0301"} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, in string, leet bool) {
		if !utf8.ValidString(in) {
			return
		}
		var n normText
		folder{leet: leet}.normalize(&n, in)
		checkSpans(t, in, &n)
		again := normText{}
		folder{leet: leet}.normalize(&again, string(n.b))
		if string(again.b) != string(n.b) {
			t.Fatalf("not idempotent: %q -> %q -> %q", in, n.b, again.b)
		}
	})
}
