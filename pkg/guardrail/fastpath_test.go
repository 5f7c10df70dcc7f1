package guardrail

import (
	"slices"
	"testing"
	"unicode/utf8"
)

// normalizeRef is normalize without the ASCII fast path: every plain ASCII
// character goes through appendRune, like any other.
func (f folder) normalizeRef(t *normText, in string) {
	s := t.stripInvisible(in)
	t.b, t.src, t.lastSeg = t.b[:0], t.src[:0], 0
	defer t.mapSpans()
	for i := 0; i < len(s); {
		if isPlainASCII(s, i) {
			t.lastSeg = len(t.b)
			f.appendRune(t, rune(s[i]), span{int32(i), int32(i + 1)})
			i++
			continue
		}
		j := i + 1
		for j < len(s) && !isPlainASCII(s, j) {
			j++
		}
		f.normalizeRun(t, s, i, j)
		i = j
	}
}

// scanRef is trie.scan without the ASCII fast path.
func (tr *trie) scanRef(t *normText, st scanState, dst []match) (ms []match, hold int) {
	prev := st.prev
	for i := 0; i < len(t.b); {
		r, size := utf8.DecodeRune(t.b[i:])
		if tr.root[t.b[i]] != 0 && (!needsBoundary(r) || !isWord(prev)) {
			end, rule, undecided := tr.walk(t, i, st.final)
			if end > 0 && (st.firstOnly || !undecided) {
				dst = append(dst, match{i, end, rule})
				if st.firstOnly {
					return dst, -1
				}
				prev, _ = utf8.DecodeLastRune(t.b[:end])
				i = end
				continue
			}
			if undecided {
				return dst, i
			}
		}
		prev = r
		i += size
	}
	return dst, -1
}

// FuzzFastPath checks that the ASCII fast paths give exactly what the
// general paths give: normalisation (bytes, spans, last segment), then the
// phrase scan of the result (matches, hold) from any previous rune.
func FuzzFastPath(f *testing.F) {
	for _, s := range []string{
		"Hello, World!\t\n  x", "h3ll0 @$5 A-Z a-z 0-9", "a\x00b\x7fc\x1f \v\f\r", "é A\u0301 ＢＡＤ b\u200ba", " ", "",
		"The Quick Brown Fox Jumps Over The Lazy Dog. [@`{~]", "ABCDEFG  HIJKLMN OPQRSTU VWXYZ", "12345678 ", " 2345678  2345678",
		"a bad word, BAD WORDS, badword, x-y, café, 禁止!", "hell no hell", "ends with ba",
	} {
		f.Add(s, false, 'x', false, false)
		f.Add(s, true, ' ', true, true)
	}
	tr := mustPolicy(f, Options{Banned: []string{"bad", "bad word", "café", "禁止", "x-y", "hell no", "a", "1"}}).trie
	f.Fuzz(func(t *testing.T, in string, leet bool, prev rune, final, firstOnly bool) {
		fo := folder{leet: leet}
		var fast, ref normText
		fo.normalize(&fast, in)
		fo.normalizeRef(&ref, in)
		if string(fast.b) != string(ref.b) || !slices.Equal(fast.src, ref.src) || fast.lastSeg != ref.lastSeg {
			t.Fatalf("normalize(%q) = %q %v last %d, general path %q %v last %d",
				in, fast.b, fast.src, fast.lastSeg, ref.b, ref.src, ref.lastSeg)
		}
		st := scanState{prev: prev, final: final, firstOnly: firstOnly}
		ms, hold := tr.scan(&fast, st, nil)
		msRef, holdRef := tr.scanRef(&fast, st, nil)
		if !slices.Equal(ms, msRef) || hold != holdRef {
			t.Fatalf("scan(%q, %+v) = %v hold %d, general path %v hold %d", fast.b, st, ms, hold, msRef, holdRef)
		}
	})
}
